/* What a conditional PUT of an object sends besides its signature, and what its answers
 * mean: pure functions, for s3put.c's s3_put_object and for unit tests. */
#ifndef TFS_S3_S3PUT_H
#define TFS_S3_S3PUT_H
#include <stddef.h>
#include "s3/http.h"
#include "s3/ssec.h"
#include "store/store.h"

/* Content-Type, Content-MD5, the condition, and the SSE-C key's headers. */
#define S3_PUT_HEADERS (3 + SSEC_HEADERS)

struct s3_put_headers {
	struct http_header h[S3_PUT_HEADERS];
	size_t n;
	char content_md5[25];           /* base64 of the body's MD5 */
	char if_match[STORE_ETAG_MAX];  /* p->if_match without its quotes */
};

/* The headers of p's PUT (valid while p, key and out are): Content-Type (p->content_type
 * or application/json), Content-MD5, If-None-Match: * or If-Match with the ETag unquoted,
 * and key's SSE-C headers when key is not NULL. Returns 0, or -EINVAL when p names not
 * exactly one condition or an ETag too long to be one. */
int s3_put_headers(const struct store_put *p, const struct ssec_key *key,
                   struct s3_put_headers *out);

/* The errno of a PUT's error answer: 412 is -EEXIST for If-None-Match and -ECANCELED for
 * If-Match; 409 (ConditionalRequestConflict: another write to the key raced this one) is
 * -ECANCELED; anything else as s3_errno (404 NoSuchKey: -ENOENT). */
int s3_put_errno(const struct store_put *p, long status, const char *code);
#endif
