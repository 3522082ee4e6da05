/* SSE-C: key parsing and its MD5, where the key comes from, and what S3's answers mean. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "s3/ssec.h"
#include "check.h"

/* bytes 0..31, and the base64 of their MD5 (both from Python's base64 and hashlib). */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_MD5 "tP/LI3N87DFaSk0aoqYgzg=="
#define ASCII_KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define ASCII_KEY_MD5 "hRasmdxgYDKV3nvbahU1MA=="

static void check_parses(const char *text, const char *b64, const char *md5)
{
	struct ssec_key k;
	const char *why = NULL;
	CHECK_INT(ssec_key_parse(text, &k, &why), 0);
	CHECK_STR(k.key_b64, b64);
	CHECK_STR(k.md5_b64, md5);
}

static void check_refused(const char *text, const char *want_why)
{
	struct ssec_key k;
	const char *why = NULL;
	CHECK_INT(ssec_key_parse(text, &k, &why), -EINVAL);
	CHECK_STR(why, want_why);
}

static void test_parse(void)
{
	check_parses(KEY_B64, KEY_B64, KEY_MD5);
	check_parses(ASCII_KEY_B64, ASCII_KEY_B64, ASCII_KEY_MD5);
	check_parses("  " KEY_B64 "\r\n\n", KEY_B64, KEY_MD5);
	/* Unused low bits set ('9' for '8'): the same 32 bytes, sent as their canonical text. */
	check_parses("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", KEY_B64, KEY_MD5);

	check_refused("", "not 44 characters long");
	check_refused("\n", "not 44 characters long");
	check_refused("c2VjcmV0", "not 44 characters long");
	check_refused(KEY_B64 "A", "not 44 characters long");
	check_refused("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "the base64 of 31 bytes, not 32");
	check_refused("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "the base64 of 33 bytes, not 32");
	check_refused("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8 ", "not 44 characters long");
	check_refused("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=", "not base64");  /* URL-safe */
	check_refused("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd=h8=", "not base64");
	check_refused("AAECAwQFBgcICQoLDA0O xAREhMUFRYXGBkaGxwdHh8=", "not base64");
	check_refused("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8!", "not base64");
}

/* A file holding text; its path is malloc'd. */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/tfs-ssec-XXXXXX");
	int fd = path ? mkstemp(path) : -1;
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		CHECK(!"temp file");
	if (fd >= 0)
		close(fd);
	return path;
}

static void test_load(void)
{
	struct ssec_key k;
	char *err = NULL;
	CHECK_INT(ssec_key_load(NULL, NULL, &k, &err), 0);
	CHECK_INT(ssec_key_load(NULL, "", &k, &err), 0);
	CHECK(err == NULL);

	CHECK_INT(ssec_key_load(NULL, KEY_B64, &k, &err), 1);
	CHECK_STR(k.md5_b64, KEY_MD5);

	/* The option wins over the environment. */
	char *path = temp_file(ASCII_KEY_B64 "\n");
	CHECK_INT(ssec_key_load(path, KEY_B64, &k, &err), 1);
	CHECK_STR(k.key_b64, ASCII_KEY_B64);
	ssec_key_wipe(&k);
	CHECK_INT(k.key_b64[0], 0);
	unlink(path);

	/* Gone: the option and the reason, on one line. */
	CHECK_INT(ssec_key_load(path, KEY_B64, &k, &err), -ENOENT);
	CHECK(err && strstr(err, "sse_customer_key_file=") && strstr(err, path) &&
	      strstr(err, "No such file") && !strchr(err, '\n'));
	free(err);
	free(path);

	/* A bad key is named by where it came from, never quoted. */
	path = temp_file("c2VjcmV0LXNlY3JldA==\n");
	CHECK_INT(ssec_key_load(path, NULL, &k, &err), -EINVAL);
	CHECK(err && strstr(err, path) && strstr(err, "not 44 characters") &&
	      !strstr(err, "c2VjcmV0"));
	free(err);
	unlink(path);
	free(path);
	CHECK_INT(ssec_key_load(NULL, "c2VjcmV0LXNlY3JldA==", &k, &err), -EINVAL);
	CHECK(err && strncmp(err, "AWS_SSE_CUSTOMER_KEY: ", 22) == 0 && !strstr(err, "c2VjcmV0"));
	free(err);

	/* A directory is not a key file. */
	CHECK_INT(ssec_key_load("/tmp", NULL, &k, &err), -EISDIR);
	free(err);
}

static void test_headers(void)
{
	struct ssec_key k;
	const char *why;
	struct http_header h[SSEC_HEADERS];
	CHECK_INT(ssec_key_parse(KEY_B64, &k, &why), 0);
	CHECK_INT(ssec_headers(&k, h), 3);
	CHECK_STR(h[0].name, "x-amz-server-side-encryption-customer-algorithm");
	CHECK_STR(h[0].value, "AES256");
	CHECK_STR(h[1].name, "x-amz-server-side-encryption-customer-key");
	CHECK_STR(h[1].value, KEY_B64);
	CHECK_STR(h[2].name, "x-amz-server-side-encryption-customer-key-MD5");
	CHECK_STR(h[2].value, KEY_MD5);
}

/* The answers of AWS S3 and radosgw 16 (recorded from radosgw; AWS's from its
 * documentation and the SDKs' issue trackers). */
static void test_classify(void)
{
	const char *aws_needed = "The object was stored using a form of Server Side Encryption. "
	                         "The correct parameters must be provided to retrieve the object.";
	const char *rgw_needed = "Requests specifying Server Side Encryption with Customer provided "
	                         "keys must provide a valid encryption algorithm.";
	const char *rgw_wrong = "The calculated MD5 hash of the key did not match the hash that "
	                        "was provided.";
	const char *aws_plain = "The encryption parameters are not applicable to this object.";

	CHECK_INT(ssec_classify(400, "InvalidRequest", aws_needed, false), SSEC_KEY_NEEDED);
	CHECK_INT(ssec_classify(400, "InvalidArgument", rgw_needed, false), SSEC_KEY_NEEDED);
	CHECK_INT(ssec_classify(403, "AccessDenied", "Access Denied", true), SSEC_KEY_WRONG_OR_DENIED);
	CHECK_INT(ssec_classify(400, "InvalidArgument", rgw_wrong, true), SSEC_KEY_WRONG);
	CHECK_INT(ssec_classify(400, "InvalidRequest", aws_plain, true), SSEC_KEY_NOT_APPLICABLE);

	/* Everything else is not about SSE-C. */
	CHECK_INT(ssec_classify(403, "AccessDenied", "Access Denied", false), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(404, "NoSuchKey", "", true), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(400, "InvalidRequest", aws_plain, false), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(400, "InvalidArgument", "Invalid Range", true), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(400, "BadDigest", aws_needed, false), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(400, NULL, NULL, false), SSEC_UNRELATED);
	CHECK_INT(ssec_classify(500, "InternalError", rgw_wrong, true), SSEC_UNRELATED);

	CHECK(strstr(ssec_advice(SSEC_KEY_NEEDED),
	             "mount with -o sse_customer_key_file=PATH or AWS_SSE_CUSTOMER_KEY"));
	CHECK(strstr(ssec_advice(SSEC_KEY_WRONG), "does not match"));
	CHECK(strstr(ssec_advice(SSEC_KEY_WRONG_OR_DENIED), "s3:GetObject"));
	CHECK_STR(ssec_advice(SSEC_UNRELATED), "");
}

int main(void)
{
	test_parse();
	test_load();
	test_headers();
	test_classify();
	return check_report("ssec");
}
