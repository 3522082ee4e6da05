/* AWS credentials the way the SDKs find them: the default chain (environment,
 * web identity, shared config and credentials files with their profiles, assume-role and
 * credential_process, the container endpoint, EC2 instance metadata), kept fresh. */
#ifndef TFS_S3_CREDS_H
#define TFS_S3_CREDS_H
#include <stddef.h>
#include "s3/awsfiles.h"
#include "s3/credprov.h"

/* What the chain needs beyond the files. */
struct aws_chain_config {
	struct aws_config_sources files;
	const char *region;           /* STS's region (regional endpoint, signing) */
	const char *role_arn;         /* -o role_arn: assumed on top of what the chain finds, or NULL */
	const char *sts_endpoint;     /* -o sts_endpoint; else AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL;
	                               * else https://sts.REGION.amazonaws.com(.cn) */
	const char *ca_file;          /* for STS and the container endpoint over HTTPS */
};

/* Resolves the chain, in the SDKs' order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+AWS_SESSION_TOKEN); AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN; the profile (role_arn
 * with source_profile, credential_source or web_identity_token_file; static keys of the
 * credentials file; credential_process; static keys of the config file); the container
 * endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)); EC2 instance metadata (IMDSv2, unless
 * AWS_EC2_METADATA_DISABLED=true). A profile named in files.profile turns the
 * environment's keys and web identity off, as the CLI's --profile does. Then fetches the
 * first credentials. Returns 0, or a negative errno (-ENOENT: no source has credentials;
 * -EINVAL: a source is set up wrong; -EACCES: a source refused) with *err (malloc'd) saying
 * what was tried and what to do. */
int aws_cred_provider_new(const struct aws_chain_config *cfg, struct aws_cred_provider **out,
                          char **err);

/* The chain resolved (see aws_cred_provider_new) to one source, *out (credsrc.h), for
 * s3/ and its tests. Returns 0 or a negative errno with *err saying what was tried. */
struct cred_source;
int cred_chain_resolve(const struct aws_chain_config *cfg, struct cred_source **out, char **err);
#endif
