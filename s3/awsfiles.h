/* The shared AWS config and credentials files: where they are, their INI sections, profiles.
 *
 * The chain (creds.c) and the region (endpoints.c) read a profile through the second half:
 * where the files are, then the profile's section in each of them. */
#ifndef TFS_S3_AWSFILES_H
#define TFS_S3_AWSFILES_H
#include <stddef.h>
#include <sys/types.h>

/* Where to look. Any field may be NULL to mean "the SDK default". */
struct aws_config_sources {
	const char *profile;          /* -o profile=; else AWS_PROFILE; else "default" */
	const char *credentials_file; /* else AWS_SHARED_CREDENTIALS_FILE; else ~/.aws/credentials */
	const char *config_file;      /* else AWS_CONFIG_FILE; else ~/.aws/config */
};

/* Reads key from [section] of an INI-style AWS file (comments '#' ';', whitespace
 * trimmed). Returns a malloc'd value, or NULL when absent or unreadable. */
char *aws_ini_get(const char *path, const char *section, const char *key);

/* ---- a profile, for s3/ ---- */

enum { AWSFILES_CRED, AWSFILES_CONF };

struct awsfiles_kv {
	char *key;
	char *val;
};

/* The pairs of one section, gathered from every header that names it. */
struct awsfiles_section {
	struct awsfiles_kv *kv;
	size_t n, cap;
	int found;	/* a matching header was seen, even if the section is empty */
	mode_t mode;	/* the file's mode and owner, for the warnings of file_warnings() */
	uid_t owner;
};

/* One file's view of the profile, with the names messages use for it. */
struct awsfiles_file {
	struct awsfiles_section sec;
	const char *kind;
	const char *path;
};

struct awsfiles_profile {
	struct awsfiles_file f[2];	/* [AWSFILES_CRED], [AWSFILES_CONF] */
};

/* Where a lookup reads from, with every default applied. */
struct awsfiles_where {
	char *profile;
	int named;	/* asked for (src or AWS_PROFILE), not the implicit "default" */
	int from_src;	/* asked for in src: env keys are then ignored, as with the CLI's --profile */
	char *cred_path;	/* NULL when no home directory could be found */
	char *conf_path;
};

/* key's value in section s; NULL when absent or empty. */
const char *awsfiles_get(const struct awsfiles_section *s, const char *key);

/* Where src (NULL: every default) says to read: the profile, src's, else AWS_PROFILE, else
 * "default"; the files, src's, else AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, else
 * ~/.aws/. Returns 0 or -ENOMEM; awsfiles_where_free() frees *w. */
int awsfiles_where_init(const struct aws_config_sources *src, struct awsfiles_where *w);
void awsfiles_where_free(struct awsfiles_where *w);

/* Loads w->profile's section from each file into *p (.found 0 where a file or its section
 * is missing), warning of a file others can write, or read while it holds a secret.
 * Returns 0 or -ENOMEM; awsfiles_profile_free() frees *p. */
int awsfiles_profile_load(const struct awsfiles_where *w, struct awsfiles_profile *p);
void awsfiles_profile_free(struct awsfiles_profile *p);

/* [sso-session name] of the config file into *out (.found 0 when absent), with the
 * warnings of awsfiles_profile_load. Returns 0 or -ENOMEM; awsfiles_section_free() frees. */
int awsfiles_sso_session_load(const struct awsfiles_where *w, const char *name,
			      struct awsfiles_section *out);
void awsfiles_section_free(struct awsfiles_section *s);

/* Where the AWS CLI caches SSO tokens: ~/.aws/sso/cache (malloc'd; NULL when there is no
 * home directory). Returns 0 or -ENOMEM. */
int awsfiles_sso_cache_dir(char **out);

/* Warns of a file others can write, or read while it holds secret ("a secret key"; NULL:
 * none): kind and path name it, mode and owner are its stat's. */
void awsfiles_warn_mode(const char *kind, const char *path, mode_t mode, uid_t owner,
			const char *secret);

/* The profile's "region" (src as for awsfiles_where_init), the config file's first.
 * Returns a malloc'd string, or NULL when neither file sets it. */
char *awsfiles_region(const struct aws_config_sources *src);
#endif
