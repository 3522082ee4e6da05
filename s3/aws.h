/* Signed AWS requests: endpoint, credentials, SigV4 per attempt, retries with backoff. */
#ifndef TFS_S3_AWS_H
#define TFS_S3_AWS_H
#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include "s3/credprov.h"
#include "s3/http.h"
#include "store/store.h"

/* Where a service lives, split out of a URL such as "http://127.0.0.1:7480". */
struct aws_endpoint {
	char *scheme;      /* "http" or "https" */
	char *host;        /* host, with ":port" when the URL had one: the Host header */
	char *hostname;    /* host without port */
	char *base_path;   /* the URL's path without a trailing '/', usually "" */
};

/* Parses url into *out (owned, free with aws_endpoint_free). Returns 0 or -EINVAL
 * when it is not an http(s) URL with a host, -ENOMEM. */
int aws_endpoint_parse(const char *url, struct aws_endpoint *out);
void aws_endpoint_free(struct aws_endpoint *e);

/* What went wrong, for messages. Filled from the HTTP status and the service's error body. */
struct aws_error {
	long http_status;   /* 0 when no response arrived */
	char code[64];      /* service error code, "" when none */
	char message[256];  /* service message, or the transport error */
	char region[64];    /* the region the service says a bucket is in, "" when unknown */
	char request_id[96];
	int attempts;       /* how many times the request was sent */
	bool answer_refused;    /* the last answer was still one req->retry_answer refused */
};

struct aws_client;

/* One signer per service: asks creds (borrowed) for the credentials of each attempt;
 * shares the pool (not owned). */
int aws_client_new(struct http_pool *http, struct aws_cred_provider *creds,
                   const char *region, const char *service, struct aws_client **out);
void aws_client_free(struct aws_client *c);
const char *aws_client_region(const struct aws_client *c);

struct aws_request {
	const char *method;
	const struct aws_endpoint *endpoint;
	const char *host;             /* Host header when it differs from endpoint->host (virtual host) */
	const char *path;             /* percent-encoded, starting with '/' */
	const char *query;            /* percent-encoded, without '?', or NULL */
	const struct http_header *headers; /* extra headers (Range, If-Match, X-Amz-Target, ...) */
	size_t nheaders;
	const void *body;
	size_t body_len;
	size_t max_body;              /* 0: the http default */
	bool idempotent;              /* may be retried after a transport error or a 5xx */
	/* An answer the status alone does not mark as one to retry: DynamoDB's throttling
	 * (a 400), a listing cut short (a 200). NULL: the status alone decides. */
	bool (*retry_answer)(const struct http_response *resp);
	bool content_sha256_header;   /* S3 wants x-amz-content-sha256 */
};

/* Sends req signed, retrying idempotent requests on transport errors, 500, 502, 503,
 * 504, 429 and what req->retry_answer recognises, with capped exponential backoff and
 * jitter. Returns 0 when a response arrived (any status: the caller interprets it) or
 * a negative errno from the transport after the last attempt, with err->message saying why. resp is always to be freed. */
int aws_send(struct aws_client *c, const struct aws_request *req, struct http_response *resp,
             struct aws_error *err);
/* What every service client (S3, DynamoDB) stands on: its endpoint, a connection pool and
 * a signer. */
struct aws_service {
	const char *name;           /* "S3", "DynamoDB": for messages and traces */
	const char *signing_name;
	bool default_endpoint;      /* AWS's own, made from the region: it follows the region */
	char *endpoint_url;
	struct aws_endpoint endpoint;
	struct http_pool *http;
	struct aws_client *aws;
	bool debug;                 /* trace each request and its timing on stderr */
	pthread_mutex_t stats_lock;
	struct store_stats stats;   /* what requests of each kind cost */
	bool inited;
};

struct aws_service_config {
	const char *name;           /* as above */
	const char *signing_name;   /* SigV4's service: "s3", "dynamodb" */
	const char *endpoint;       /* URL, or NULL: https://<signing_name>.<region>.amazonaws.com
	                             * (.com.cn for cn- regions) */
	const char *region;
	struct http_settings http;  /* CA file, timeouts, TLS checks */
	bool debug;
};

/* Fills *s. Returns 0, -EINVAL with *err saying what is wrong (a malloc'd line the caller
 * frees), or -ENOMEM. */
int aws_service_init(struct aws_service *s, const struct aws_service_config *cfg,
                     struct aws_cred_provider *creds, char **err);
void aws_service_free(struct aws_service *s);

/* Signs for region from now on, and moves AWS's own endpoint there; a given endpoint stays.
 * Not thread-safe: for the checks made before the mount serves. Returns 0 or -ENOMEM. */
int aws_service_set_region(struct aws_service *s, const char *region);

/* A copy of the counters of s's requests so far. */
void aws_service_stats(struct aws_service *s, struct store_stats *out);

/* aws_send on s's endpoint, counted under op (a static string), with one trace line under s->debug naming op and what
 * ("S3: GET /bucket/key -> 200 in 3.1 ms (1 attempt)"), control bytes shown as '?'. */
int aws_service_send(struct aws_service *s, struct aws_request *req, const char *op,
                     const char *what, struct http_response *resp, struct aws_error *err);

/* One line describing err for a log or a message: "NoSuchKey (HTTP 404): The specified
 * key does not exist. [request 1234]", or "no answer: <transport error>". */
void aws_error_describe(const struct aws_error *err, char *buf, size_t len);

/* The same error in the store interface's words (store/store.h). */
void aws_error_to_store(const struct aws_error *err, struct store_error *out);
#endif
