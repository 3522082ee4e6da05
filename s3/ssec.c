/* SSE-C: the customer key S3 objects are encrypted with (Terraform's sse_customer_key),
 * its headers, and what S3 answers when the key is missing or wrong. */
#include "s3/ssec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SSEC_KEY_B64_LEN 44
#define SSEC_FILE_MAX 4096

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Strict standard base64 of exactly SSEC_KEY_BYTES: 43 digits and one '='. */
static int decode_key(const char *s, size_t len, unsigned char out[SSEC_KEY_BYTES],
                      const char **why)
{
	if (len != SSEC_KEY_B64_LEN) {
		*why = "not 44 characters long";
		return -EINVAL;
	}
	if (s[len - 2] == '=' && s[len - 1] == '=') {
		*why = "the base64 of 31 bytes, not 32";
		return -EINVAL;
	}
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len - 1; i++) {
		const char *d = s[i] ? strchr(b64_alphabet, s[i]) : NULL;
		if (!d) {
			*why = "not base64";
			return -EINVAL;
		}
		acc = ((acc << 6) | (unsigned)(d - b64_alphabet)) & 0xfff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (s[len - 1] != '=') {
		*why = strchr(b64_alphabet, s[len - 1]) ? "the base64 of 33 bytes, not 32" : "not base64";
		return -EINVAL;
	}
	return 0;
}

int ssec_key_parse(const char *text, struct ssec_key *key, const char **why)
{
	memset(key, 0, sizeof(*key));
	const char *ws = " \t\r\n\v\f";
	text += strspn(text, ws);
	size_t len = strlen(text);
	while (len && strchr(ws, text[len - 1]))
		len--;
	unsigned char raw[SSEC_KEY_BYTES], md5[16];
	unsigned md5_len = 0;
	int rc = decode_key(text, len, raw, why);
	if (rc == 0 && EVP_Digest(raw, sizeof(raw), md5, &md5_len, EVP_md5(), NULL) != 1) {
		*why = "its MD5 could not be computed";
		rc = -EINVAL;
	}
	if (rc == 0) {
		/* Sent re-encoded, so that S3 and the MD5 see the same 32 bytes. */
		EVP_EncodeBlock((unsigned char *)key->key_b64, raw, sizeof(raw));
		EVP_EncodeBlock((unsigned char *)key->md5_b64, md5, sizeof(md5));
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

void ssec_key_wipe(struct ssec_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

/* The whole of a small file, NUL-terminated in a buffer of *size bytes (malloc'd, the
 * caller wipes and frees it). Returns 0 or a negative errno. */
static int read_small_file(const char *path, char **out, size_t *size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	*size = SSEC_FILE_MAX + 1;
	char *buf = malloc(*size);
	size_t n = buf ? fread(buf, 1, *size, f) : 0;
	int rc = !buf ? -ENOMEM : ferror(f) ? -(errno ? errno : EIO) : n >= *size ? -EFBIG : 0;
	fclose(f);
	if (rc < 0 && buf) {
		OPENSSL_cleanse(buf, *size);
		free(buf);
	}
	if (rc == 0) {
		buf[n] = '\0';
		*out = buf;
	}
	return rc;
}

static int load_fail(char **err, int rc, const char *source, const char *what)
{
	if (asprintf(err, "%s: %s; expected the base64 of a 32-byte AES-256 key (44 characters, "
	             "as `openssl rand -base64 32` prints)", source, what) < 0)
		*err = NULL;
	return rc;
}

int ssec_key_load(const char *file, const char *env_value, struct ssec_key *key, char **err)
{
	*err = NULL;
	memset(key, 0, sizeof(*key));
	if (!file && (!env_value || !*env_value))
		return 0;
	char source[512], *text = NULL;
	size_t size = 0;
	const char *why = NULL;
	int rc = 0;
	if (file) {
		snprintf(source, sizeof(source), "-o sse_customer_key_file=%s", file);
		if ((rc = read_small_file(file, &text, &size)) < 0)
			return load_fail(err, rc, source, rc == -EFBIG ? "larger than 4 KiB"
			                 : strerror(-rc));
	} else {
		snprintf(source, sizeof(source), "AWS_SSE_CUSTOMER_KEY");
	}
	rc = ssec_key_parse(text ? text : env_value, key, &why);
	if (text) {
		OPENSSL_cleanse(text, size);
		free(text);
	}
	if (rc < 0) {
		char what[128];
		snprintf(what, sizeof(what), "the SSE-C key is %s", why);
		return load_fail(err, rc, source, what);
	}
	return 1;
}

size_t ssec_headers(const struct ssec_key *key, struct http_header *h)
{
	h[0] = (struct http_header){ "x-amz-server-side-encryption-customer-algorithm", "AES256" };
	h[1] = (struct http_header){ "x-amz-server-side-encryption-customer-key", key->key_b64 };
	h[2] = (struct http_header){ "x-amz-server-side-encryption-customer-key-MD5", key->md5_b64 };
	return SSEC_HEADERS;
}

static bool has(const char *message, const char *words)
{
	return message && strcasestr(message, words);
}

/* What servers answer (HTTP status, code: message):
 *
 *                        AWS S3 (and MinIO)                  Ceph radosgw 16
 *   no key, SSE-C object 400 InvalidRequest: The object was  400 InvalidArgument: Requests
 *                        stored using a form of Server Side  specifying Server Side Encryption
 *                        Encryption. The correct parameters  with Customer provided keys must
 *                        must be provided to retrieve ...    provide a valid encryption algorithm.
 *   wrong key            403 AccessDenied                    400 InvalidArgument: The calculated
 *                                                            MD5 hash of the key did not match
 *                                                            the hash that was provided.
 *   key, plain object    400 InvalidRequest: The encryption  200 (the headers are ignored)
 *                        parameters are not applicable to
 *                        this object.
 *
 * The codes are shared with unrelated errors, so the messages decide; AWS's 403 cannot
 * tell a wrong key from a missing permission. */
enum ssec_answer ssec_classify(long status, const char *code, const char *message,
                               bool key_sent)
{
	bool arg_error = code && (strcmp(code, "InvalidRequest") == 0 ||
	                          strcmp(code, "InvalidArgument") == 0);
	if (key_sent && status == 403)
		return SSEC_KEY_WRONG_OR_DENIED;
	if (status != 400 || !arg_error)
		return SSEC_UNRELATED;
	if (!key_sent)
		return has(message, "Server Side Encryption") ? SSEC_KEY_NEEDED : SSEC_UNRELATED;
	if (has(message, "not applicable"))
		return SSEC_KEY_NOT_APPLICABLE;
	return has(message, "MD5") ? SSEC_KEY_WRONG : SSEC_UNRELATED;
}

const char *ssec_advice(enum ssec_answer a)
{
	switch (a) {
	case SSEC_KEY_NEEDED:
		return "the object is encrypted with a customer key (SSE-C): mount with "
		       "-o sse_customer_key_file=PATH or AWS_SSE_CUSTOMER_KEY";
	case SSEC_KEY_WRONG:
		return "the object is encrypted with another SSE-C customer key: the key given "
		       "(sse_customer_key_file or AWS_SSE_CUSTOMER_KEY) does not match";
	case SSEC_KEY_WRONG_OR_DENIED:
		return "access denied: the SSE-C customer key given (sse_customer_key_file or "
		       "AWS_SSE_CUSTOMER_KEY) does not match the object's, or the credentials lack "
		       "s3:GetObject";
	case SSEC_KEY_NOT_APPLICABLE:
		return "the object is not SSE-C encrypted, yet a customer key was sent";
	default:
		return "";
	}
}
