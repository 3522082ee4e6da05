/* AWS IAM Identity Center (SSO) profiles: the AWS CLI's token cache, the SSO OIDC refresh
 * of its access token, and the role credentials the SSO portal gives for it. Internal to
 * s3/: creds.c reads a profile into a struct sso_profile, credsrc.c fetches through
 * sso_fetch(). */
#ifndef TFS_S3_SSO_H
#define TFS_S3_SSO_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "s3/credprov.h"

/* An SSO profile, resolved as the AWS CLI v2 resolves it. */
struct sso_profile {
	char *profile;       /* its name: messages say "aws sso login --profile NAME" */
	char *session;       /* the sso_session's name; NULL in the legacy form */
	char *start_url;
	char *region;        /* sso_region: the portal's and SSO OIDC's */
	char *account_id;
	char *role_name;
	char *cache_path;    /* ~/.aws/sso/cache/<sha1 of session, else start_url>.json */
	char *portal_url;    /* AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL, else AWS's */
	char *oidc_url;      /* AWS_ENDPOINT_URL_SSO_OIDC, AWS_ENDPOINT_URL, else AWS's */
	char *ca_file;       /* or NULL */
};

/* The cache file's name: the SHA-1 hex of key (the session name, or the legacy form's start
 * URL), then ".json", as the CLI names it. */
#define SSO_CACHE_NAME_LEN 46
void sso_cache_name(const char *key, char out[SSO_CACHE_NAME_LEN]);

/* Sets p's cache_path, portal_url and oidc_url from its session, start_url and region, and
 * copies ca_file. Returns 0, -ENOENT (no home directory for the cache) or -ENOMEM. */
int sso_profile_complete(struct sso_profile *p, const char *ca_file);
void sso_profile_free(struct sso_profile *p);

/* A token cache file as the CLI writes it. The strings point into doc, which keeps every
 * field (the CLI's own too), so that a refreshed token is written back with them. */
struct sso_token {
	struct json_object *doc;
	const char *access_token;
	time_t expires_at;
	const char *refresh_token;          /* these three NULL when it cannot be refreshed */
	const char *client_id;
	const char *client_secret;
	time_t registration_expires_at;     /* 0 when absent */
};

/* Parses a cache file (accessToken and expiresAt required). Returns 0, -ENOMEM, or -EPROTO
 * with *what (static text) saying what is missing or wrong. */
int sso_token_parse(const char *body, size_t len, struct sso_token *out, const char **what);
void sso_token_free(struct sso_token *t);

/* The token can still be sent at now: it does not expire within a few seconds. */
bool sso_token_valid(const struct sso_token *t, time_t now);
/* The token is within botocore's refresh window (15 min) and can be refreshed: a refresh
 * token and a client registration that has not expired. */
bool sso_token_refresh_due(const struct sso_token *t, time_t now);

/* Applies SSO OIDC CreateToken's answer to t: accessToken, expiresAt (now + expiresIn) and,
 * when given, a new refreshToken. Returns 0, -ENOMEM or -EPROTO with *what. */
int sso_token_refreshed(struct sso_token *t, const char *body, size_t len, time_t now,
                        const char **what);

/* GetRoleCredentials' answer: roleCredentials with accessKeyId, secretAccessKey,
 * sessionToken, expiration (ms since the epoch). Returns 0, -ENOMEM or -EPROTO with *what. */
int sso_role_parse(const char *body, size_t len, struct aws_credentials *out, const char **what);

/* The role credentials of p: reads the cache file (each time, so that a later `aws sso
 * login` is seen), refreshes the token when due and possible (writing the file back),
 * then asks the portal. label names the source in messages. Returns 0, or a negative errno
 * (-EACCES: a login is needed) with *err one line that names the profile and, when a login
 * would help, says "aws sso login --profile NAME". Never puts a token or key in *err. */
int sso_fetch(const struct sso_profile *p, const char *label, struct aws_credentials *out,
              char **err);
#endif
