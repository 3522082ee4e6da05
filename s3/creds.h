/* AWS credentials and region from the environment and the shared config/credentials files. */
#ifndef TFS_S3_CREDS_H
#define TFS_S3_CREDS_H
#include <stddef.h>

struct aws_credentials {
	char *access_key;
	char *secret_key;
	char *session_token;   /* NULL for long-term keys */
	char *source;          /* where they came from, for messages: "environment", "shared credentials file (profile prod)" */
};

/* Where to look. Any field may be NULL to mean "the SDK default". */
struct aws_config_sources {
	const char *profile;          /* -o profile=; else AWS_PROFILE; else "default" */
	const char *credentials_file; /* else AWS_SHARED_CREDENTIALS_FILE; else ~/.aws/credentials */
	const char *config_file;      /* else AWS_CONFIG_FILE; else ~/.aws/config */
};

/* Resolves credentials in the SDKs' order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+AWS_SESSION_TOKEN) from the environment, then the profile in the shared credentials
 * file, then the profile in the config file ("[profile NAME]", or "[default]").
 * Returns 0, -ENOENT when no source has them (err says what was tried), -EINVAL on a
 * source that has only half a key pair (err says which), -ENOMEM.
 * err (may be NULL) receives a malloc'd message the caller frees. */
int aws_credentials_load(const struct aws_config_sources *src, struct aws_credentials *out, char **err);
void aws_credentials_free(struct aws_credentials *c);

/* Resolves the region: explicit (the -o region= value, may be NULL), then AWS_REGION,
 * AWS_DEFAULT_REGION, then "region" in the profile of the config file.
 * Returns a malloc'd string, or NULL when none is set. */
char *aws_region_resolve(const char *explicit_region, const struct aws_config_sources *src);

/* Reads key from [section] of an INI-style AWS file (comments '#' ';', whitespace
 * trimmed). Returns a malloc'd value, or NULL when absent or unreadable. */
char *aws_ini_get(const char *path, const char *section, const char *key);
#endif
