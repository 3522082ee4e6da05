/* libFuzzer target: the SSO portal's GetRoleCredentials answer parsed from arbitrary bytes. */
#include <errno.h>
#include <stdlib.h>
#include "s3/sso.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct aws_credentials c;
	const char *what = NULL;
	int rc = sso_role_parse((const char *)data, size, &c, &what);
	/* Role keys parsed are whole and expire; a refusal says why and leaves nothing. */
	if (rc == 0 && (!c.access_key || !c.secret_key || !c.session_token || c.expiration <= 0))
		abort();
	if (rc < 0 && (c.access_key || (rc == -EPROTO && !what)))
		abort();
	aws_credentials_free(&c);
	return 0;
}
