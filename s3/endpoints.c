/* Where requests go: the region and each service's endpoint, as the AWS SDKs find them. */
#include "s3/endpoints.h"
#include "s3/awsenv.h"
#include "s3/awsfiles.h"

#include <string.h>
#include <strings.h>

char *aws_region_resolve(const char *explicit_region, const struct aws_config_sources *src)
{
	const char *r = explicit_region && *explicit_region ? explicit_region : NULL;

	if (!r)
		r = awsenv_get("AWS_REGION");
	if (!r)
		r = awsenv_get("AWS_DEFAULT_REGION");
	return r ? strdup(r) : awsfiles_region(src);
}

const char *aws_endpoint_resolve(const char *explicit_url, const char *service_var)
{
	if (explicit_url && *explicit_url)
		return explicit_url;
	const char *ignore = awsenv_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	if (ignore && strcasecmp(ignore, "true") == 0)
		return NULL;
	const char *url = awsenv_get(service_var);
	return url ? url : awsenv_get("AWS_ENDPOINT_URL");
}
