/* S3 operations on one bucket (list, get), errors mapped to errno and a message.
 * This is the header the filesystem layer talks to S3 through. */
#ifndef TFS_S3_S3_H
#define TFS_S3_S3_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "s3/aws.h"
#include "s3/credprov.h"
#include "s3/ssec.h"
#include "s3/xml.h"

struct s3_config {
	const char *bucket;
	const char *endpoint;   /* URL such as "http://127.0.0.1:7480"; NULL: AWS's endpoint for region */
	const char *region;
	bool path_style;        /* bucket in the path, not in the host name */
	struct http_settings http;  /* extra CA bundle, timeouts, TLS checks */
	bool debug;             /* trace each request and its timing on stderr, secrets redacted */
	/* SSE-C: the customer key (copied) sent on every GET and PUT of an object, states and
	 * locks alike (LIST and DELETE need none), or NULL. See s3_get_object. */
	const struct ssec_key *sse_customer_key;
};

struct s3_client;

/* Creates a client. Returns 0, -EINVAL with *err saying what is wrong with the config
 * (a malloc'd message the caller frees), or -ENOMEM. Thread-safe once created. */
int s3_client_new(const struct s3_config *cfg, struct aws_cred_provider *creds,
                  struct s3_client **out, char **err);
void s3_client_free(struct s3_client *c);

/* The endpoint URL requests go to (for messages). */
const char *s3_client_endpoint(const struct s3_client *c);

/* One ListObjectsV2 page of keys starting with prefix ("" for all). delimiter may be
 * NULL (a flat listing). token is the previous page's next_token, or NULL. Keys come
 * URL-encoded on the wire and decoded in *page. Returns 0 or a negative errno (see
 * s3_errno) with *err filled. */
int s3_list_page(struct s3_client *c, const char *prefix, const char *delimiter,
                 const char *token, struct s3_list_page *page, struct aws_error *err);

/* The same from just after key start_after (S3's start-after; ignored with a token). */
int s3_list_page_after(struct s3_client *c, const char *prefix, const char *delimiter,
                       const char *start_after, const char *token, struct s3_list_page *page,
                       struct aws_error *err);

/* Takes over one page of a listing (it frees it); returns 0, S3_LIST_STOP (enough: the
 * listing ends well), or a negative errno that ends it. */
typedef int (*s3_page_fn)(void *ctx, struct s3_list_page *page);
#define S3_LIST_STOP 1

/* Hands every page of one ListObjectsV2 below prefix, in order, to on_page. Failures are
 * logged here. Returns 0, -EACCES, -ENOMEM, -EIO (also for a server that repeats its
 * continuation token), or on_page's error. */
int s3_list_each(struct s3_client *c, const char *prefix, const char *delimiter,
                 s3_page_fn on_page, void *ctx);

/* The same from just after key start_after, or from the page after the one whose
 * NextContinuationToken is from_token (either may be NULL). */
int s3_list_each_from(struct s3_client *c, const char *prefix, const char *delimiter,
                      const char *start_after, const char *from_token, s3_page_fn on_page,
                      void *ctx);

/* A flat listing of everything below prefix, as fast as S3 allows: the first page alone;
 * when there is more, S3_LIST_WORKERS threads list it by key ranges cut at the prefix's
 * subdirectories (a delimiter listing finds them). Pages reach on_page as they arrive, in
 * no particular order, one at a time; on_page returns 0 or a negative errno. About
 * ceil(N/1000) requests for N keys, plus one per range and one per 1,000 subdirectories.
 * Returns as s3_list_each. */
int s3_list_all(struct s3_client *c, const char *prefix, s3_page_fn on_page, void *ctx);

#define S3_LIST_WORKERS 4

/* Takes over one page of versions (it frees it); returns as s3_page_fn. */
typedef int (*s3_version_fn)(void *ctx, struct s3_version_page *page);

/* Hands every page of one ListObjectVersions below prefix ("" for all) to on_page, in
 * order: keys in order, each key's versions and delete markers newest first, at most
 * 1,000 to a page, keys decoded. Each page starts just after the last entry of the one
 * before. Retried as a listing is; counted as LISTVERSIONS. Failures are logged here.
 * Returns 0, -EACCES, -ENOMEM, -EIO (also for a server whose next page would not start
 * after the last one: markers repeated or gone back), or on_page's error. */
int s3_list_versions_each(struct s3_client *c, const char *prefix, s3_version_fn on_page,
                          void *ctx);

/* Whether the bucket keeps versions (GetBucketVersioning; counted as VERSIONING). Returns
 * 0, or a negative errno (see s3_errno; -EIO for an answer that is no
 * VersioningConfiguration) with *err filled. */
int s3_bucket_versioning(struct s3_client *c, enum store_versioning *out, struct aws_error *err);

/* What GET and HEAD say about an object. */
struct s3_object_info {
	uint64_t size;          /* the whole object's size */
	time_t mtime;
	char etag[130];         /* with its quotes */
	char version_id[256];   /* x-amz-version-id; "" when the bucket gives none */
};

/* Reads r->len bytes of r->key from r->offset (len 0: to the end) into *data (malloc'd,
 * the caller frees; *data_len may be short at the end of the object, 0 past it).
 * r->version_id: that version (GET ?versionId=), or NULL for the current one; a version
 * that does not exist or is a delete marker is -ENOENT (AWS answers 404 or 405).
 * r->if_match: an ETag the object must still have (412 otherwise: -ECANCELED), or NULL.
 * With an SSE-C key, sends it; an object that is not SSE-C, where the server refuses the
 * key for it (AWS), is fetched again without. An SSE-C object read without the key or
 * with another key is -EACCES, with err->message saying so and what to do.
 * Returns 0 or a negative errno with *err filled. */
int s3_get_object(struct s3_client *c, const struct store_range *r, char **data,
                  size_t *data_len, struct s3_object_info *info, struct aws_error *err);

/* The lowercase hex MD5 of key's bytes (what Terraform keeps as a state's DynamoDB
 * digest), read in ranges all pinned to ETag if_match when given. Returns 0, -ECANCELED
 * (the object changed while read), -ENOENT, or a negative errno with *err filled. */
int s3_object_md5(struct s3_client *c, const char *key, const char *if_match, char hex[33],
                  struct aws_error *err);

/* Deletes key only while it still has ETag if_match (DeleteObject with If-Match, never a
 * versionId: on a versioned bucket that leaves a delete marker, as Terraform does, and
 * cannot bring an older version back). Sent once, never retried: the caller re-checks
 * an unclear outcome. Returns 0, -ECANCELED (412: the object changed), -ENOENT, or
 * another negative errno with *err filled. */
int s3_delete_object(struct s3_client *c, const char *key, const char *if_match,
                     struct aws_error *err);

/* Writes p->data as p->key only on p's condition (PutObject, sent once, never retried):
 * If-None-Match: * (create only) or If-Match: p->if_match (replace only that ETag; sent
 * unquoted, see s3put.c). Sends Content-Type (p->content_type, else application/json),
 * Content-MD5, and the SSE-C key when the client has one. The new ETag, quoted as the
 * answer gives it ("" when it gives none), goes to etag. Counted as PUT. Returns 0,
 * -EEXIST (412 to If-None-Match: the key exists), -ECANCELED (412 to If-Match: another
 * ETag, or an object gone where the server answers 412 for that; 409
 * ConditionalRequestConflict: a concurrent write won), -ENOENT (404 to If-Match: gone),
 * -EINVAL (p names not exactly one condition), or another negative errno (see s3_errno),
 * always with *err filled; an unclear answer (none, a 5xx) leaves it open whether it was
 * written. Logs nothing: the caller says what failed, as for s3_delete_object. */
int s3_put_object(struct s3_client *c, const struct store_put *p, char etag[STORE_ETAG_MAX],
                  struct aws_error *err);

/* The errno for an S3 answer: 404 -ENOENT, 403 -EACCES, 412 -ECANCELED, a wrong region
 * -EREMOTE, 400 -EINVAL, anything else -EIO. */
int s3_errno(long http_status, const char *code);


/* Checks with one ListObjectsV2 that the bucket answers to these credentials. A bucket
 * in another region (a 301 or AuthorizationHeaderMalformed naming it) is followed there
 * once, with a log line. Returns 0, or a negative errno with msg holding one line that
 * says what is wrong and what to do (wrong bucket, refused credentials, a region that
 * keeps redirecting, unreachable endpoint). */
int s3_check_bucket(struct s3_client *c, const char *prefix, char *msg, size_t msglen);

/* The region requests are signed for: the configured one, or the bucket's own once
 * s3_check_bucket has found it elsewhere. */
const char *s3_client_region(const struct s3_client *c);

/* What the client's requests cost so far (by kind: LIST, GET, DELETE, PUT...). */
void s3_client_stats(struct s3_client *c, struct store_stats *out);

/* Does the client send an SSE-C key (for the status report: never the key itself)? */
bool s3_client_has_sse_key(const struct s3_client *c);
#endif
