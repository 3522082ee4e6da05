/* The S3 client's insides, shared by s3/s3.c, s3/s3list.c and s3/s3put.c; nothing else
 * includes it. */
#ifndef TFS_S3_S3_INT_H
#define TFS_S3_S3_INT_H
#include <stdbool.h>
#include <stddef.h>
#include "s3/s3.h"

struct s3_client {
	struct aws_service svc;
	char *bucket;
	char *vhost;            /* "<bucket>.<endpoint host>" with virtual-hosted addressing, else NULL */
	bool has_ssec;
	struct ssec_key ssec;   /* SSE-C key sent on GETs when has_ssec; wiped when freed */
};

/* What one ListObjectsV2 asks for. */
struct s3_list_args {
	const char *prefix, *delimiter, *token, *start_after;
	int max_keys;
};


/* "/bucket" (path-style) or "/" (virtual host): where the bucket's own requests go. NULL:
 * out of memory. */
char *s3_bucket_path(const struct s3_client *c);

/* Sends a read (GET: retried as aws_send retries) on the bucket; returns 0 with a 2xx
 * response or a negative errno, *err filled from the answer. retry_answer (may be NULL)
 * says which 2xx answers to ask again. Writes go through s3_object_write. */
int s3_bucket_send_checked(struct s3_client *c, const char *op, const char *method,
                           const char *path, const char *query,
                           const struct http_header *headers, size_t nheaders,
                           size_t max_body, bool (*retry_answer)(const struct http_response *),
                           struct http_response *resp, struct aws_error *err);

/* Sends method (PUT, DELETE) on object key once, never retried, with the headers and the
 * body (NULL: none); counted under the method. Returns as s3_bucket_send_checked. */
int s3_object_write(struct s3_client *c, const char *method, const char *key,
                    const struct http_header *headers, size_t nheaders, const void *body,
                    size_t body_len, struct http_response *resp, struct aws_error *err);

/* Appends "&name=<encoded value>" to a query being built (*q NULL: the first); the value
 * len bytes, or up to its NUL. Returns 0 or -ENOMEM. */
int s3_query_add_n(char **q, const char *name, const char *value, size_t len);
int s3_query_add(char **q, const char *name, const char *value);

/* One page of ListObjectsV2 as a asks (s3list.c); as s3_list_page. */
int s3_list_page_n(struct s3_client *c, const struct s3_list_args *a, struct s3_list_page *page,
                   struct aws_error *err);
#endif
