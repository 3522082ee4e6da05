/* Where requests go: the region and each service's endpoint, as the AWS SDKs find them. */
#ifndef TFS_S3_ENDPOINTS_H
#define TFS_S3_ENDPOINTS_H
#include "s3/awsfiles.h"

/* Resolves the region: explicit (the -o region= value, may be NULL), then AWS_REGION,
 * AWS_DEFAULT_REGION, then "region" in the profile of the config file.
 * Returns a malloc'd string, or NULL when none is set. */
char *aws_region_resolve(const char *explicit_region, const struct aws_config_sources *src);

/* A service's endpoint as the SDKs find it: explicit_url (an -o option), else the
 * service's variable (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB), else
 * AWS_ENDPOINT_URL; none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true. NULL: AWS's own. */
const char *aws_endpoint_resolve(const char *explicit_url, const char *service_var);
#endif
