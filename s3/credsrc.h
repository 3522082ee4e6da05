/* The credential sources of the AWS chain, and fetching credentials from one. Internal to
 * s3/: creds.c resolves the chain into a source, credprov.c keeps its credentials fresh. */
#ifndef TFS_S3_CREDSRC_H
#define TFS_S3_CREDSRC_H
#include <stdbool.h>
#include <stddef.h>
#include "s3/credprov.h"

enum cred_kind {
	CRED_STATIC,        /* keys from the environment or a profile */
	CRED_PROCESS,       /* credential_process: a command printing JSON */
	CRED_ASSUME_ROLE,   /* STS AssumeRole, signed with the credentials of base */
	CRED_WEB_IDENTITY,  /* STS AssumeRoleWithWebIdentity with a token file's token */
	CRED_CONTAINER,     /* the ECS / EKS Pod Identity endpoint */
	CRED_IMDS,          /* EC2 instance metadata, IMDSv2 */
	CRED_SSO,           /* IAM Identity Center: the CLI's token cache, then the portal */
};

struct sso_profile;

/* Where STS is: every source that calls it shares these. */
struct sts_target {
	char *endpoint;     /* URL */
	char *region;
	char *ca_file;      /* or NULL */
};

struct cred_source {
	enum cred_kind kind;
	char *label;                    /* for messages: "environment", "profile prod (config file ~/.aws/config)" */
	struct aws_credentials keys;    /* CRED_STATIC */
	char *command;                  /* CRED_PROCESS */
	char *role_arn;                 /* CRED_ASSUME_ROLE, CRED_WEB_IDENTITY */
	char *session_name;
	char *external_id;              /* CRED_ASSUME_ROLE, or NULL */
	int duration_s;                 /* 0: STS's default */
	struct cred_source *base;       /* CRED_ASSUME_ROLE: whose credentials sign the call */
	char *token_file;               /* CRED_WEB_IDENTITY */
	char *url;                      /* CRED_CONTAINER: the full URL; CRED_IMDS: the service's base URL */
	char *auth_token;               /* CRED_CONTAINER: Authorization value, or NULL */
	char *auth_token_file;          /* CRED_CONTAINER: read at each fetch, wins over auth_token */
	struct sts_target sts;          /* CRED_ASSUME_ROLE, CRED_WEB_IDENTITY */
	struct sso_profile *sso;        /* CRED_SSO (sso.h), owned */
	char *tried_before;             /* the chain's sources that had nothing, when this one
	                                 * was reached as the last resort (for messages) */
};

/* Puts a message for a source into *err (when err is not NULL) and returns rc: the one
 * way the chain and its sources say what went wrong. */
int cred_fail(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct cred_source *cred_source_new(enum cred_kind kind, const char *label);
void cred_source_free(struct cred_source *s);

/* Fetches credentials from s (and its base). out->expiration is 0 for keys that do not
 * expire; credentials already expired, or too close to it (aws_credentials_usable), are
 * refused with -EACCES. Returns 0, or a negative errno with *err (malloc'd) naming the
 * source, what it answered and what to do. Never logs a secret. */
int cred_source_fetch(const struct cred_source *s, struct aws_credentials *out, char **err);

/* Parses the JSON of the container endpoint, IMDS and credential_process (AccessKeyId,
 * SecretAccessKey, Token or SessionToken, Expiration; credential_process also Version 1).
 * Returns 0, or -EPROTO with *what saying which field is missing or wrong (static text). */
int cred_json_parse(const char *body, size_t len, bool process, struct aws_credentials *out,
                    const char **what);

/* o's member name when it is a string, else NULL. */
struct json_object;
const char *cred_json_str(struct json_object *o, const char *name);

/* ---- HTTP for the sources ---- */
struct http_request;
struct http_response;

/* One exchange on a pool made for it: sources are asked once an hour or so. ca_file may
 * be NULL; connect_ms bounds the connection. Returns http_perform's result, *resp filled. */
int cred_http_once(const char *ca_file, long connect_ms, const struct http_request *req,
                   struct http_response *resp);

/* What an exchange came to, for a message: the transport error or the HTTP status. */
void cred_answer_says(int rc, const struct http_response *resp, char *buf, size_t len);
#endif
