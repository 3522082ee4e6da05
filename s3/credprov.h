/* AWS credentials, and the provider that hands them to every request, renewing temporary
 * ones ahead of their expiry. Where they come from is the business of whoever makes the
 * provider (creds.c): the provider only asks. */
#ifndef TFS_S3_CREDPROV_H
#define TFS_S3_CREDPROV_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct aws_credentials {
	char *access_key;
	char *secret_key;
	char *session_token;   /* NULL for long-term keys */
	char *source;          /* where they came from, for messages: "environment", "shared credentials file (profile prod)" */
	time_t expiration;     /* when temporary credentials stop working; 0: never */
};

/* Fills *out with copies of the keys (token may be NULL) and of source; no expiration.
 * Returns 0, or -ENOMEM with *out empty. */
int aws_credentials_set(struct aws_credentials *out, const char *id, const char *secret,
                        const char *token, const char *source);
int aws_credentials_copy(const struct aws_credentials *from, struct aws_credentials *to);
/* Frees the strings, the secret ones wiped first. */
void aws_credentials_free(struct aws_credentials *c);

/* Whether c can sign a request at now: it never expires, or not within the next 10 s (a
 * request signed closer to it may reach AWS after it). The provider hands out no others. */
bool aws_credentials_usable(const struct aws_credentials *c, time_t now);

/* Credentials kept fresh for every request. Thread-safe. */
struct aws_cred_provider;

/* What a renewing provider asks, opaque to it (credsrc.h says what it is). */
struct cred_source;

/* Fresh credentials from source: 0, or a negative errno with *err (malloc'd) saying why. */
typedef int aws_cred_fetch_fn(const struct cred_source *source, struct aws_credentials *out,
                              char **err);

/* A provider that hands out first (taken over; first.source names it in messages) and
 * renews from source through fetch. It owns source and frees it with release. On failure
 * first and source are freed too. Returns 0 or -ENOMEM. */
int aws_cred_provider_renewing(struct cred_source *source, aws_cred_fetch_fn *fetch,
                               void (*release)(struct cred_source *source),
                               struct aws_credentials *first, struct aws_cred_provider **out);

/* A provider of fixed credentials (copied): nothing renews them, so once they are no
 * longer usable aws_cred_get refuses them. Returns 0 or -ENOMEM. */
int aws_cred_provider_fixed(const struct aws_credentials *c, struct aws_cred_provider **out);
void aws_cred_provider_free(struct aws_cred_provider *p);

/* Where the credentials come from, for messages ("EC2 instance metadata (role ci)"). */
const char *aws_cred_provider_source(const struct aws_cred_provider *p);

/* How renewing goes, for /.tfstatefs/status: "ok", or "renewal failing: WHY" (the last
 * failure's message, which never holds a secret) until a renewal succeeds. Thread-safe. */
void aws_cred_provider_health(struct aws_cred_provider *p, char *buf, size_t len);

/* A copy of the current credentials (free with aws_credentials_free). Temporary ones are
 * renewed ahead of their expiry by one caller while the others go on with the current
 * ones; nobody gets credentials that expire within a few seconds. Returns 0, or the
 * renewal's negative errno when no valid credentials are left (logged once), or -EACCES
 * when fixed credentials have expired. */
int aws_cred_get(struct aws_cred_provider *p, struct aws_credentials *out);
#endif
