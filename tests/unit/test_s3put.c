/* Unit tests for s3/s3put.c: what a conditional PUT sends, and what its answers mean. */
#include "s3/s3.h"
#include "s3/s3put.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

/* The value of header name in ph, or NULL. */
static const char *header(const struct s3_put_headers *ph, const char *name)
{
	for (size_t i = 0; i < ph->n; i++)
		if (strcmp(ph->h[i].name, name) == 0)
			return ph->h[i].value;
	return NULL;
}

static void test_create(void)
{
	struct store_put p = { .key = "k", .data = "{}", .len = 2, .if_none_match = true };
	struct s3_put_headers ph;
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_INT(ph.n, 3);
	CHECK_STR(header(&ph, "Content-Type"), "application/json");
	/* base64 of MD5("{}") = 99914b932bd37a50b983c5e7c90ae93b */
	CHECK_STR(header(&ph, "Content-MD5"), "mZFLkyvTelC5g8XnyQrpOw==");
	CHECK_STR(header(&ph, "If-None-Match"), "*");
	CHECK(header(&ph, "If-Match") == NULL);

	/* The MD5 is of all len bytes, a NUL included; an empty body has one too. */
	p = (struct store_put){ .key = "k", .data = "a\0b", .len = 3, .if_none_match = true,
	                        .content_type = "text/plain" };
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_STR(header(&ph, "Content-MD5"), "cDUPYCe843E/a3ZHMIQwmw==");
	CHECK_STR(header(&ph, "Content-Type"), "text/plain");
	p = (struct store_put){ .key = "k", .if_none_match = true };
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_STR(header(&ph, "Content-MD5"), "1B2M2Y8AsgTpgAmY7PhCfg==");
}

static void test_replace(void)
{
	struct store_put p = { .key = "k", .data = "{}", .len = 2,
	                       .if_match = "\"99914b932bd37a50b983c5e7c90ae93b\"" };
	struct s3_put_headers ph;
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_INT(ph.n, 3);
	/* Unquoted, for radosgw (see s3put.c). */
	CHECK_STR(header(&ph, "If-Match"), "99914b932bd37a50b983c5e7c90ae93b");
	CHECK(header(&ph, "If-None-Match") == NULL);
	/* One that came unquoted, or a multipart one, goes as it is; a lone quote stays. */
	p.if_match = "abc-2";
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_STR(header(&ph, "If-Match"), "abc-2");
	p.if_match = "\"";
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
	CHECK_STR(header(&ph, "If-Match"), "\"");
	/* Too long to be an ETag the store gave. */
	char long_etag[STORE_ETAG_MAX + 2];
	memset(long_etag, 'a', sizeof(long_etag) - 1);
	long_etag[sizeof(long_etag) - 1] = '\0';
	p.if_match = long_etag;
	CHECK_INT(s3_put_headers(&p, NULL, &ph), -EINVAL);
	long_etag[STORE_ETAG_MAX - 1] = '\0';      /* 129 characters fit */
	CHECK_INT(s3_put_headers(&p, NULL, &ph), 0);
}

static void test_conditions(void)
{
	struct s3_put_headers ph;
	struct store_put none = { .key = "k", .data = "", .len = 0 };
	CHECK_INT(s3_put_headers(&none, NULL, &ph), -EINVAL);
	struct store_put both = { .key = "k", .if_none_match = true, .if_match = "\"x\"" };
	CHECK_INT(s3_put_headers(&both, NULL, &ph), -EINVAL);
}

static void test_ssec(void)
{
	struct ssec_key key;
	const char *why = NULL;
	CHECK_INT(ssec_key_parse("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", &key, &why), 0);
	struct store_put p = { .key = "k", .data = "{}", .len = 2, .if_match = "\"e\"" };
	struct s3_put_headers ph;
	CHECK_INT(s3_put_headers(&p, &key, &ph), 0);
	CHECK_INT(ph.n, S3_PUT_HEADERS);
	CHECK_STR(header(&ph, "x-amz-server-side-encryption-customer-algorithm"), "AES256");
	CHECK_STR(header(&ph, "x-amz-server-side-encryption-customer-key"), key.key_b64);
	CHECK_STR(header(&ph, "x-amz-server-side-encryption-customer-key-MD5"), key.md5_b64);
	CHECK_STR(header(&ph, "If-Match"), "e");
	ssec_key_wipe(&key);
}

static void test_errno(void)
{
	struct store_put create = { .key = "k", .if_none_match = true };
	struct store_put replace = { .key = "k", .if_match = "\"e\"" };
	CHECK_INT(s3_put_errno(&create, 412, "PreconditionFailed"), -EEXIST);
	CHECK_INT(s3_put_errno(&replace, 412, "PreconditionFailed"), -ECANCELED);
	CHECK_INT(s3_put_errno(&create, 409, "ConditionalRequestConflict"), -ECANCELED);
	CHECK_INT(s3_put_errno(&replace, 409, "ConditionalRequestConflict"), -ECANCELED);
	CHECK_INT(s3_put_errno(&replace, 404, "NoSuchKey"), -ENOENT);
	CHECK_INT(s3_put_errno(&replace, 403, "AccessDenied"), -EACCES);
	CHECK_INT(s3_put_errno(&create, 400, "BadDigest"), -EINVAL);
	CHECK_INT(s3_put_errno(&create, 503, "SlowDown"), -EIO);
}

int main(void)
{
	test_create();
	test_replace();
	test_conditions();
	test_ssec();
	test_errno();
	return check_report("s3put");
}
