/* An AWS setting from the environment, read the way the SDKs read it. */
#ifndef TFS_S3_AWSENV_H
#define TFS_S3_AWSENV_H
#include <stdlib.h>

/* Empty strings count as unset, as in the SDKs. */
static inline const char *awsenv_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}
#endif
