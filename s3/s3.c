/* S3 operations on one bucket: get, MD5, delete, the bucket check, versioning. */
/* Its listings are s3list.c's, its conditional put s3put.c's; errors are mapped to errno
 * and a message. */
#include "s3/s3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include "s3/s3_int.h"
#include "s3/sigv4.h"
#include "util/log.h"

#define S3_MD5_CHUNK (8u << 20)

/* A virtual host name only works where DNS and TLS certificates can carry the bucket:
 * not on an IP literal, and not with dots in the name over HTTPS. */
static bool needs_path_style(const struct aws_endpoint *e, const char *bucket)
{
	unsigned char buf[16];
	const char *name = e->hostname;
	char v6[64];
	if (name[0] == '[') {
		snprintf(v6, sizeof(v6), "%.*s", (int)strlen(name) - 2, name + 1);
		name = v6;
	}
	if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1)
		return true;
	return strcmp(e->scheme, "https") == 0 && strchr(bucket, '.');
}

static int client_fail(struct s3_client *c, char **err, int rc, const char *fmt, const char *arg)
{
	if (err && !*err && asprintf(err, fmt, arg) < 0)
		*err = NULL;
	s3_client_free(c);
	return rc;
}

int s3_client_new(const struct s3_config *cfg, struct aws_cred_provider *creds,
                  struct s3_client **out, char **err)
{
	if (err)
		*err = NULL;
	struct s3_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (!(c->bucket = strdup(cfg->bucket)))
		return client_fail(c, err, -ENOMEM, "%s", "out of memory");
	struct aws_service_config sc = {
		.name = "S3", .signing_name = "s3", .endpoint = cfg->endpoint, .region = cfg->region,
		.http = cfg->http, .debug = cfg->debug,
	};
	int rc = aws_service_init(&c->svc, &sc, creds, err);
	if (rc < 0)
		return client_fail(c, err, rc, "%s", "out of memory");
	if (cfg->sse_customer_key) {
		c->has_ssec = true;
		c->ssec = *cfg->sse_customer_key;
	}
	if (!cfg->path_style && !needs_path_style(&c->svc.endpoint, c->bucket) &&
	    asprintf(&c->vhost, "%s.%s", c->bucket, c->svc.endpoint.host) < 0)
		return client_fail(c, err, -ENOMEM, "%s", "out of memory");
	*out = c;
	return 0;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	aws_service_free(&c->svc);
	free(c->bucket);
	free(c->vhost);
	ssec_key_wipe(&c->ssec);
	free(c);
}

const char *s3_client_endpoint(const struct s3_client *c)
{
	return c->svc.endpoint_url;
}

/* "/bucket/key" (path-style) or "/key" (virtual host), percent-encoded. */
static char *object_path(const struct s3_client *c, const char *key)
{
	char *enc = sigv4_uri_encode(key, true);
	char *path = NULL;
	if (enc && asprintf(&path, "/%s%s%s", c->vhost ? "" : c->bucket, c->vhost ? "" : "/", enc) < 0)
		path = NULL;
	free(enc);
	return path;
}

int s3_errno(long http_status, const char *code)
{
	if (code && (strcmp(code, "PermanentRedirect") == 0 ||
	             strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
	             strcmp(code, "IllegalLocationConstraintException") == 0))
		return -EREMOTE;
	switch (http_status) {
	case 301:
	case 307:
		return -EREMOTE;
	case 400:
		return -EINVAL;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 412:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* Fills err from a non-2xx answer and returns its errno. */
static int answer_error(const struct http_response *resp, struct aws_error *err)
{
	struct s3_error doc = { 0 };
	if (resp->body_len && s3_xml_parse_error(resp->body, resp->body_len, &doc) == 0) {
		snprintf(err->code, sizeof(err->code), "%s", doc.code ? doc.code : "");
		snprintf(err->message, sizeof(err->message), "%s", doc.message ? doc.message : "");
		snprintf(err->region, sizeof(err->region), "%s", doc.region ? doc.region : "");
		snprintf(err->request_id, sizeof(err->request_id), "%s",
		         doc.request_id ? doc.request_id : "");
	}
	s3_error_free(&doc);
	char *region = http_response_header(resp, "x-amz-bucket-region");
	if (region && !err->region[0])
		snprintf(err->region, sizeof(err->region), "%s", region);
	free(region);
	char *rid = http_response_header(resp, "x-amz-request-id");
	if (rid && !err->request_id[0])
		snprintf(err->request_id, sizeof(err->request_id), "%s", rid);
	free(rid);
	return s3_errno(resp->status, err->code);
}

/* Sends req on the bucket, counted under op; returns 0 with a 2xx response or a negative
 * errno, *err filled from the answer. */
static int bucket_request(struct s3_client *c, const char *op, struct aws_request *req,
                          struct http_response *resp, struct aws_error *err)
{
	req->host = c->vhost;
	req->content_sha256_header = true;
	int rc = aws_service_send(&c->svc, req, op, req->path, resp, err);
	if (rc == 0 && (resp->status < 200 || resp->status > 299))
		rc = answer_error(resp, err);
	return rc;
}

/* Sends a request on the bucket; returns 0 with a 2xx response or a negative errno. */
int s3_bucket_send_checked(struct s3_client *c, const char *op, const char *method,
                           const char *path, const char *query,
                           const struct http_header *headers, size_t nheaders,
                           size_t max_body, bool (*retry_answer)(const struct http_response *),
                           struct http_response *resp, struct aws_error *err)
{
	/* Only reads come this way (writes go through s3_object_write): they are retried. */
	struct aws_request req = {
		.method = method, .path = path, .query = query, .headers = headers,
		.nheaders = nheaders, .max_body = max_body,
		.idempotent = strcmp(method, "GET") == 0,
		.retry_answer = retry_answer,
	};
	return bucket_request(c, op, &req, resp, err);
}

/* A write of key, sent once: a conditional write or delete whose answer was lost may
 * have happened, and sent again it would fail its own condition; the caller reads the
 * object again instead. Counted under its method ("PUT", "DELETE"). */
int s3_object_write(struct s3_client *c, const char *method, const char *key,
                    const struct http_header *headers, size_t nheaders, const void *body,
                    size_t body_len, struct http_response *resp, struct aws_error *err)
{
	char *path = object_path(c, key);
	if (!path) {
		memset(resp, 0, sizeof(*resp));
		*err = (struct aws_error){ .message = "out of memory" };
		return -ENOMEM;
	}
	struct aws_request req = {
		.method = method, .path = path, .headers = headers, .nheaders = nheaders,
		.body = body, .body_len = body_len, .idempotent = false,
	};
	int rc = bucket_request(c, method, &req, resp, err);
	free(path);
	return rc;
}

static int bucket_send(struct s3_client *c, const char *op, const char *method, const char *path,
                       const char *query, const struct http_header *headers, size_t nheaders,
                       size_t max_body, struct http_response *resp, struct aws_error *err)
{
	return s3_bucket_send_checked(c, op, method, path, query, headers, nheaders, max_body,
	                              NULL, resp, err);
}

/* Appends "&name=<encoded value>" to a query being built, the value len bytes. */
int s3_query_add_n(char **q, const char *name, const char *value, size_t len)
{
	char *enc = sigv4_uri_encode_n(value, len, false);
	char *next = NULL;
	int n = enc ? asprintf(&next, "%s%s%s=%s", *q ? *q : "", *q ? "&" : "", name, enc) : -1;
	free(enc);
	if (n < 0)
		return -ENOMEM;
	free(*q);
	*q = next;
	return 0;
}

int s3_query_add(char **q, const char *name, const char *value)
{
	return s3_query_add_n(q, name, value, strlen(value));
}

/* "/bucket" (path-style) or "/" (virtual host): where the bucket's own requests go. */
char *s3_bucket_path(const struct s3_client *c)
{
	char *path = NULL;
	if (c->vhost)
		return strdup("/");
	return asprintf(&path, "/%s", c->bucket) < 0 ? NULL : path;
}

int s3_bucket_versioning(struct s3_client *c, enum store_versioning *out, struct aws_error *err)
{
	char *path = s3_bucket_path(c);
	if (!path)
		return -ENOMEM;
	struct http_response resp;
	int rc = bucket_send(c, "VERSIONING", "GET", path, "versioning", NULL, 0, 0, &resp, err);
	if (rc == 0 && s3_xml_parse_versioning(resp.body, resp.body_len, out) < 0) {
		snprintf(err->message, sizeof(err->message),
		         "the GetBucketVersioning answer is not a valid VersioningConfiguration");
		rc = -EIO;
	}
	http_response_free(&resp);
	free(path);
	return rc;
}

static void object_info_from(const struct http_response *resp, struct s3_object_info *info)
{
	memset(info, 0, sizeof(*info));
	char *etag = http_response_header(resp, "etag");
	char *lm = http_response_header(resp, "last-modified");
	char *cr = http_response_header(resp, "content-range");
	char *cl = http_response_header(resp, "content-length");
	char *vid = http_response_header(resp, "x-amz-version-id");
	snprintf(info->etag, sizeof(info->etag), "%s", etag ? etag : "");
	/* Cut short, it would name another version or none: then none is said. */
	if (vid && strlen(vid) < sizeof(info->version_id))
		strcpy(info->version_id, vid);
	struct tm tm = { 0 };
	if (lm && strptime(lm, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		info->mtime = timegm(&tm);
	/* "bytes 0-99/1234": the total is after the slash. */
	const char *slash = cr ? strchr(cr, '/') : NULL;
	if (slash && slash[1] != '*')
		info->size = strtoull(slash + 1, NULL, 10);
	else if (cl)
		info->size = strtoull(cl, NULL, 10);
	free(etag);
	free(lm);
	free(cr);
	free(cl);
	free(vid);
}

/* One GET of path with the caller's headers h[0..nh), and the SSE-C key when with_key. */
/* Does a 206 carry fewer bytes than its Content-Range says? */
static bool range_cut_short(const struct http_response *resp)
{
	char *cr = http_response_header(resp, "content-range");
	uint64_t first, last;
	bool cut = cr && sscanf(cr, "bytes %" SCNu64 "-%" SCNu64, &first, &last) == 2 &&
	           last >= first && resp->body_len != last - first + 1;
	free(cr);
	return cut;
}

/* Does a whole object differ from its ETag, where the ETag is its MD5 (one part, not
 * encrypted with a key of KMS or of the customer)? */
static bool whole_cut_short(const struct http_response *resp)
{
	char *etag = http_response_header(resp, "etag");
	char *sse = http_response_header(resp, "x-amz-server-side-encryption");
	char *ssec = http_response_header(resp, "x-amz-server-side-encryption-customer-algorithm");
	const char *hex = etag ? etag + (etag[0] == '"') : NULL;
	bool md5_etag = hex && strspn(hex, "0123456789abcdef") == 32 && (!hex[32] || hex[32] == '"') &&
	                !ssec && !(sse && strcmp(sse, "aws:kms") == 0);
	bool cut = false;
	if (md5_etag) {
		unsigned char sum[16];
		char got[33];
		unsigned int n = 0;
		if (EVP_Digest(resp->body ? resp->body : "", resp->body_len, sum, &n, EVP_md5(), NULL) == 1 &&
		    n == 16) {
			for (int i = 0; i < 16; i++)
				snprintf(got + 2 * i, 3, "%02x", sum[i]);
			cut = memcmp(got, hex, 32) != 0;
		}
	}
	free(etag);
	free(sse);
	free(ssec);
	return cut;
}

/* An object's bytes that did not all arrive although the HTTP exchange ended well (a
 * proxy that cut the body and its length): asked again rather than shown. */
static bool object_cut_short(const struct http_response *resp)
{
	return (resp->status == 206 && range_cut_short(resp)) ||
	       (resp->status == 200 && whole_cut_short(resp));
}

/* What one GET sends besides the SSE-C key: the object's path, its query (the version)
 * and the caller's headers (Range, If-Match). */
struct get_req {
	const char *path, *query;
	const struct http_header *h;
	size_t nh;
	size_t max;
};

static int get_send(struct s3_client *c, const struct get_req *g, bool with_key,
                    struct http_response *resp, struct aws_error *err)
{
	struct http_header all[2 + SSEC_HEADERS];
	size_t nh = g->nh;
	memcpy(all, g->h, nh * sizeof(*g->h));
	if (with_key)
		nh += ssec_headers(&c->ssec, all + nh);
	int rc = s3_bucket_send_checked(c, "GET", "GET", g->path, g->query, nh ? all : NULL, nh,
	                                g->max, object_cut_short, resp, err);
	if (rc == 0 && err->answer_refused) {
		snprintf(err->message, sizeof(err->message), "the object's bytes came cut short or "
		         "differing from its ETag, %d times", err->attempts);
		rc = -EIO;
	}
	return rc;
}

static enum ssec_answer ssec_answer_of(int rc, const struct http_response *resp,
                                       const struct aws_error *err, bool key_sent)
{
	if (rc == 0 || !resp->status)
		return SSEC_UNRELATED;
	return ssec_classify(resp->status, err->code, err->message, key_sent);
}

/* A GET with the mount's SSE-C key, if it has one. A bucket can mix SSE-C objects with
 * plain ones (states written before the key was set): AWS refuses the key for a plain
 * object (400 "not applicable"), so that one is asked again without it. That costs one
 * request more per GET of a plain object on AWS and none for an SSE-C one, which is what
 * a mount given a key mostly reads; radosgw ignores the key on a plain object. No listing
 * says which objects are SSE-C, and finding out first would cost a HEAD every time. An
 * SSE-C refusal (key missing or wrong) becomes -EACCES with advice in err->message. */
static int get_ssec(struct s3_client *c, const struct get_req *g, struct http_response *resp,
                    struct aws_error *err)
{
	int rc = get_send(c, g, c->has_ssec, resp, err);
	enum ssec_answer a = ssec_answer_of(rc, resp, err, c->has_ssec);
	if (a == SSEC_KEY_NOT_APPLICABLE) {
		http_response_free(resp);
		rc = get_send(c, g, false, resp, err);
		a = ssec_answer_of(rc, resp, err, false);
	}
	if (a != SSEC_UNRELATED) {
		snprintf(err->message, sizeof(err->message), "%s", ssec_advice(a));
		rc = -EACCES;
	}
	return rc;
}

/* AWS answers a GET of a delete marker's version 405 MethodNotAllowed (radosgw 404): for
 * the caller, that version holds no object. */
static int version_gone(int rc, const struct http_response *resp, const struct store_range *r)
{
	return rc < 0 && r->version_id && resp->status == 405 ? -ENOENT : rc;
}

int s3_get_object(struct s3_client *c, const struct store_range *r, char **data,
                  size_t *data_len, struct s3_object_info *info, struct aws_error *err)
{
	*data = NULL;
	*data_len = 0;
	uint64_t offset = r->offset, len = r->len;
	char range[64];
	struct http_header h[2];
	struct get_req g = { .h = h, .max = len ? (size_t)len + 1 : SIZE_MAX };
	if (offset || len) {
		if (len)
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset, offset + len - 1);
		else
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", offset);
		h[g.nh++] = (struct http_header){ "Range", range };
	}
	if (r->if_match)
		h[g.nh++] = (struct http_header){ "If-Match", r->if_match };
	char *path = object_path(c, r->key), *query = NULL;
	if (path && r->version_id && s3_query_add(&query, "versionId", r->version_id) < 0)
		query = NULL;
	if (!path || (r->version_id && !query)) {
		free(path);
		return -ENOMEM;
	}
	g.path = path;
	g.query = query;
	struct http_response resp;
	int rc = get_ssec(c, &g, &resp, err);
	rc = version_gone(rc, &resp, r);
	/* The whole object from byte 0 where bytes from offset were asked for: taking it
	 * would show the wrong bytes as the right ones. Bigger than the range, it is cut off
	 * on the way in, so a 200 that failed says the same. */
	long status = rc == 0 ? resp.status : err->http_status;
	if (offset && (rc == 0 ? status != 206 : status == 200)) {
		snprintf(err->message, sizeof(err->message),
		         "the server ignored Range: bytes=%" PRIu64 "- (HTTP %ld)", offset, status);
		rc = -EIO;
	} else if (rc == 0) {
		object_info_from(&resp, info);
		*data = resp.body;
		*data_len = resp.body_len;
		resp.body = NULL;
	} else if (resp.status == 416) {
		rc = 0;  /* a range past the end: no bytes */
		memset(info, 0, sizeof(*info));
	}
	http_response_free(&resp);
	free(path);
	free(query);
	return rc;
}

int s3_object_md5(struct s3_client *c, const char *key, const char *if_match, char hex[33],
                  struct aws_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	int rc = 0;
	for (uint64_t off = 0;;) {
		char *data = NULL;
		size_t n = 0;
		struct s3_object_info info;
		struct store_range r = { .key = key, .if_match = if_match, .offset = off,
		                         .len = S3_MD5_CHUNK };
		rc = s3_get_object(c, &r, &data, &n, &info, err);
		if (rc == 0 && n)
			EVP_DigestUpdate(md, data, n);
		free(data);
		off += n;
		if (rc < 0 || n < S3_MD5_CHUNK || off >= info.size)
			break;
	}
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (rc == 0 && EVP_DigestFinal_ex(md, sum, &len) == 1 && len == 16) {
		for (unsigned i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	} else if (rc == 0) {
		rc = -EIO;
	}
	EVP_MD_CTX_free(md);
	return rc;
}

int s3_delete_object(struct s3_client *c, const char *key, const char *if_match,
                     struct aws_error *err)
{
	struct http_header h = { "If-Match", if_match };
	struct http_response resp;
	int rc = s3_object_write(c, "DELETE", key, &h, 1, NULL, 0, &resp, err);
	http_response_free(&resp);
	return rc;
}

static void describe_check_failure(struct s3_client *c, int rc, const struct aws_error *err,
                                   char *msg, size_t msglen)
{
	const char *b = c->bucket, *ep = c->svc.endpoint_url;
	char detail[512];
	aws_error_describe(err, detail, sizeof(detail));
	if (!err->http_status && rc == -EPROTO)
		snprintf(msg, msglen, "cannot reach S3 endpoint %s securely: %s; for a private CA "
		         "use -o ca_file=PATH", ep, err->message);
	else if (!err->http_status)
		snprintf(msg, msglen, "cannot reach S3 endpoint %s: %s; check the endpoint and the network",
		         ep, err->message);
	else if (rc == -EREMOTE && strcmp(err->region, aws_client_region(c->svc.aws)) == 0)
		snprintf(msg, msglen, "bucket %s: %s still redirects to region %s after tfstatefs "
		         "followed it there; check -o endpoint (%s)", b, ep, err->region, detail);
	else if (rc == -EREMOTE && err->region[0])
		snprintf(msg, msglen, "bucket %s is in region %s, not %s: mount with -o region=%s",
		         b, err->region, aws_client_region(c->svc.aws), err->region);
	else if (rc == -EREMOTE)
		snprintf(msg, msglen, "bucket %s is not in region %s (%s): set -o region= to the bucket's region",
		         b, aws_client_region(c->svc.aws), detail);
	else if (strcmp(err->code, "NoSuchBucket") == 0)
		snprintf(msg, msglen, "bucket %s does not exist at %s: check the bucket name", b, ep);
	else if (strcmp(err->code, "InvalidAccessKeyId") == 0)
		snprintf(msg, msglen, "S3 does not know this access key (%s): check AWS_ACCESS_KEY_ID "
		         "or the profile", detail);
	else if (strcmp(err->code, "SignatureDoesNotMatch") == 0)
		snprintf(msg, msglen, "S3 refused the signature: the secret key is wrong for this access key "
		         "(%s); check AWS_SECRET_ACCESS_KEY or the profile", detail);
	else if (rc == -EACCES)
		snprintf(msg, msglen, "access denied listing bucket %s: the credentials need s3:ListBucket (%s)",
		         b, detail);
	else
		snprintf(msg, msglen, "listing bucket %s at %s failed: %s", b, ep, detail);
}

/* The bucket is in another region than the one signed for: sign for that one (and go to
 * its endpoint when the endpoint is AWS's own), with a log line. */
static int follow_region(struct s3_client *c, const char *region)
{
	char was[64];
	snprintf(was, sizeof(was), "%s", aws_client_region(c->svc.aws));
	int rc = aws_service_set_region(&c->svc, region);
	if (rc == 0 && c->vhost) {
		free(c->vhost);
		if (asprintf(&c->vhost, "%s.%s", c->bucket, c->svc.endpoint.host) < 0) {
			c->vhost = NULL;
			rc = -ENOMEM;
		}
	}
	if (rc == 0)
		log_warn("bucket %s is in region %s, not %s: using %s (say -o region=%s to skip this "
		         "detour)", c->bucket, region, was, region, region);
	return rc;
}

int s3_check_bucket(struct s3_client *c, const char *prefix, char *msg, size_t msglen)
{
	struct s3_list_page page;
	struct aws_error err;
	struct s3_list_args a = { .prefix = prefix, .delimiter = "/", .max_keys = 1 };
	int rc = s3_list_page_n(c, &a, &page, &err);
	/* A 301 or AuthorizationHeaderMalformed naming the bucket's region: follow it once. */
	if (rc == -EREMOTE && err.region[0] && strcmp(err.region, aws_client_region(c->svc.aws)) != 0 &&
	    (rc = follow_region(c, err.region)) == 0)
		rc = s3_list_page_n(c, &a, &page, &err);
	if (rc == 0) {
		s3_list_page_free(&page);
		msg[0] = '\0';
		return 0;
	}
	describe_check_failure(c, rc, &err, msg, msglen);
	return rc;
}

void s3_client_stats(struct s3_client *c, struct store_stats *out)
{
	aws_service_stats(&c->svc, out);
}

bool s3_client_has_sse_key(const struct s3_client *c)
{
	return c->has_ssec;
}

const char *s3_client_region(const struct s3_client *c)
{
	return aws_client_region(c->svc.aws);
}

