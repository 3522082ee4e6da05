/* libFuzzer target: the AWS CLI's SSO token cache file, and SSO OIDC CreateToken's answer
 * applied to a cached token, parsed from arbitrary bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "s3/sso.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char cached[] =
	"{\"startUrl\":\"https://d-123.awsapps.com/start\",\"region\":\"eu-central-1\","
	"\"accessToken\":\"a\",\"expiresAt\":\"2026-12-04T13:00:00Z\",\"clientId\":\"c\","
	"\"clientSecret\":\"s\",\"refreshToken\":\"r\"}";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct sso_token t;
	const char *what = NULL;
	int rc = sso_token_parse((const char *)data, size, &t, &what);
	/* A parsed cache has a token; a refusal says why and leaves nothing. */
	if (rc == 0 && !t.access_token)
		abort();
	if (rc < 0 && (t.doc || (rc == -EPROTO && !what)))
		abort();
	if (rc == 0)
		(void)sso_token_refresh_due(&t, 1796389000);
	sso_token_free(&t);

	if (sso_token_parse(cached, strlen(cached), &t, &what) != 0)
		abort();
	rc = sso_token_refreshed(&t, (const char *)data, size, 1796389000, &what);
	/* A refreshed token is one, and expires later than now; a refusal keeps the old one. */
	if (rc == 0 && (!t.access_token || t.expires_at <= 1796389000))
		abort();
	if (rc == -EPROTO && !what)
		abort();
	sso_token_free(&t);
	return 0;
}
