/* A conditional PUT of an object: create only (If-None-Match: *) or replace only an ETag
 * (If-Match), sent once, with the mount's SSE-C key.
 *
 * What servers answer (AWS as documented; radosgw 16.2.15, the test stack's, as tried):
 *                          AWS S3                        radosgw, unversioned bucket
 *   If-None-Match, exists  412 PreconditionFailed        412 PreconditionFailed
 *   If-Match, other ETag   412 PreconditionFailed        412 PreconditionFailed
 *   If-Match, gone         404 NoSuchKey                 412 PreconditionFailed
 *   a concurrent write     409 ConditionalRequestConflict -
 * radosgw before ceph PR 63348 (2025) checks the conditions of a PUT on a versioned bucket
 * against the new version it writes, not the current object: If-None-Match: * then always
 * writes and If-Match always fails (412). Nothing here can tell; the caller reads back. */
#include "s3/s3put.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "s3/s3.h"
#include "s3/s3_int.h"

/* etag without one pair of surrounding quotes, into out. Returns 0, or -EINVAL when it
 * does not fit. */
static int unquote(const char *etag, char *out, size_t len)
{
	size_t n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n >= len)
		return -EINVAL;
	memcpy(out, etag, n);
	out[n] = '\0';
	return 0;
}

/* Content-MD5: S3 checks the body against it, and wants it (or a checksum) on
 * conditional writes in some setups; Terraform's S3 backend sends it too. */
static int content_md5(const char *data, size_t len, char out[25])
{
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (EVP_Digest(data ? data : "", len, md5, &n, EVP_md5(), NULL) != 1 || n != 16)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, md5, 16);
	return 0;
}

int s3_put_headers(const struct store_put *p, const struct ssec_key *key,
                   struct s3_put_headers *out)
{
	memset(out, 0, sizeof(*out));
	if (p->if_none_match == (p->if_match != NULL))
		return -EINVAL;
	int rc = content_md5(p->data, p->len, out->content_md5);
	out->h[out->n++] = (struct http_header){ "Content-Type",
	                                         p->content_type ? p->content_type : "application/json" };
	out->h[out->n++] = (struct http_header){ "Content-MD5", out->content_md5 };
	if (p->if_none_match) {
		out->h[out->n++] = (struct http_header){ "If-None-Match", "*" };
	} else if (rc == 0 && (rc = unquote(p->if_match, out->if_match, sizeof(out->if_match))) == 0) {
		/* Unquoted: radosgw compares a PUT's If-Match with the stored ETag as it keeps
		 * it, without quotes, so a quoted one fails (412) even when it matches; AWS and
		 * MinIO take either form. (DELETE and GET take the quoted one everywhere.) */
		out->h[out->n++] = (struct http_header){ "If-Match", out->if_match };
	}
	if (key)
		out->n += ssec_headers(key, out->h + out->n);
	return rc;
}

int s3_put_errno(const struct store_put *p, long status, const char *code)
{
	if (status == 409)
		return -ECANCELED;
	if (status == 412)
		return p->if_none_match ? -EEXIST : -ECANCELED;
	return s3_errno(status, code);
}

/* The new ETag as the answer gives it (quoted), or "" where it gives none that fits. */
static void etag_of(const struct http_response *resp, char etag[STORE_ETAG_MAX])
{
	char *e = http_response_header(resp, "etag");
	snprintf(etag, STORE_ETAG_MAX, "%s", e && strlen(e) < STORE_ETAG_MAX ? e : "");
	free(e);
}

int s3_put_object(struct s3_client *c, const struct store_put *p, char etag[STORE_ETAG_MAX],
                  struct aws_error *err)
{
	etag[0] = '\0';
	struct s3_put_headers ph;
	int rc = s3_put_headers(p, c->has_ssec ? &c->ssec : NULL, &ph);
	if (rc < 0) {
		*err = (struct aws_error){ 0 };
		snprintf(err->message, sizeof(err->message), rc == -EINVAL ?
		         "a conditional put names exactly one condition: If-None-Match, or an "
		         "ETag that fits STORE_ETAG_MAX" : "the body's MD5 could not be computed");
		return rc;
	}
	struct http_response resp;
	rc = s3_object_write(c, "PUT", p->key, ph.h, ph.n, p->data ? p->data : "", p->len, &resp,
	                     err);
	if (rc == 0)
		etag_of(&resp, etag);
	else if (resp.status)
		rc = s3_put_errno(p, resp.status, err->code);
	http_response_free(&resp);
	return rc;
}
