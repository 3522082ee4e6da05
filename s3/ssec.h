/* SSE-C: the customer key S3 objects are encrypted with (Terraform's sse_customer_key),
 * its headers, and what S3 answers when the key is missing or wrong. */
#ifndef TFS_S3_SSEC_H
#define TFS_S3_SSEC_H
#include <stdbool.h>
#include <stddef.h>
#include "s3/http.h"

#define SSEC_KEY_BYTES 32

/* A key as S3 wants it on every GET. Secret: wipe it with ssec_key_wipe. */
struct ssec_key {
	char key_b64[45];       /* base64 of the 32 raw bytes, canonical, NUL-terminated */
	char md5_b64[25];       /* base64 of the MD5 of those bytes */
};

/* Parses text, the base64 of exactly 32 bytes (44 characters with one '='), surrounding
 * whitespace ignored. Returns 0, or -EINVAL with *why (static) saying what is wrong
 * without quoting the text. */
int ssec_key_parse(const char *text, struct ssec_key *key, const char **why);

/* The mount's key as Terraform's S3 backend finds it: the base64 text in file
 * (-o sse_customer_key_file), else env_value (AWS_SSE_CUSTOMER_KEY; NULL or "" for
 * none). Returns 1 with *key filled, 0 when neither gives a key, or a negative errno
 * with *err (malloc'd) one line naming the option or the variable and what is wrong. */
int ssec_key_load(const char *file, const char *env_value, struct ssec_key *key, char **err);

void ssec_key_wipe(struct ssec_key *key);

/* Fills h with the SSEC_HEADERS headers that send key (valid while key is), signed like
 * the others: algorithm AES256, the key, its MD5. Returns SSEC_HEADERS. */
#define SSEC_HEADERS 3
size_t ssec_headers(const struct ssec_key *key, struct http_header *h);

/* What a GET's error answer says about SSE-C. */
enum ssec_answer {
	SSEC_UNRELATED,         /* nothing to do with SSE-C */
	SSEC_KEY_NEEDED,        /* sent without a key, the object is SSE-C */
	SSEC_KEY_WRONG,         /* sent with a key the object was not written with */
	SSEC_KEY_WRONG_OR_DENIED, /* sent with a key, 403: AWS's wrong key, or no permission */
	SSEC_KEY_NOT_APPLICABLE,/* sent with a key, the object is not SSE-C (AWS, MinIO) */
};

/* Reads an error answer (status, code and message from S3's error document) to a GET
 * sent with or without the key. See ssec.c for the answers of AWS and radosgw. */
enum ssec_answer ssec_classify(long status, const char *code, const char *message,
                               bool key_sent);

/* One sentence for a message: what the answer means and what to do; "" for
 * SSEC_UNRELATED. */
const char *ssec_advice(enum ssec_answer a);
#endif
