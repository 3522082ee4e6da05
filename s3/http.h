/* One HTTP exchange over libcurl, with a pool of reusable handles (keep-alive). */
#ifndef TFS_S3_HTTP_H
#define TFS_S3_HTTP_H
#include <stddef.h>
#include <stdbool.h>

struct http_pool;

/* Settings shared by every request of a pool. */
struct http_settings {
	const char *ca_file;        /* extra CA bundle, or NULL for the system store */
	long connect_timeout_ms;    /* 0: 10 s */
	long stall_timeout_s;       /* abort when under 1 byte/s for this long; 0: 30 s */
	bool insecure;              /* no certificate check at all: only when the user asked */
	bool verbose;               /* curl's own trace on stderr (never with secrets: see http.c) */
};

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method;         /* "GET", "HEAD", "POST", "DELETE" */
	const char *url;
	const struct http_header *headers;
	size_t nheaders;
	const void *body;           /* NULL for none */
	size_t body_len;
	size_t max_body;            /* refuse responses larger than this (0: 64 MiB) */
};

/* A response; every string is owned by it. */
struct http_response {
	long status;                /* HTTP status, 0 when no response arrived */
	char *body;                 /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	char *headers;              /* raw response header block of the final response */
	int curl_code;              /* CURLcode of the transfer */
	char curl_error[256];       /* curl's message when curl_code != 0 */
};

/* Call once per process before any other http_* function (not thread-safe itself). */
int http_global_init(void);
void http_global_cleanup(void);

int http_pool_new(const struct http_settings *s, struct http_pool **out);
void http_pool_free(struct http_pool *p);

/* Performs one request, no retries. Returns 0 when a response arrived (any status),
 * or a negative errno for a transport failure (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH,
 * -ECONNRESET, -EFBIG for a body over max_body, -EPROTO for TLS/protocol errors, -EIO);
 * resp->curl_error then says what happened. resp must be freed with http_response_free
 * in both cases. Safe to call from many threads at once. */
int http_perform(struct http_pool *p, const struct http_request *req, struct http_response *resp);
void http_response_free(struct http_response *resp);

/* Value of a response header (case-insensitive name), malloc'd, or NULL when absent. */
char *http_response_header(const struct http_response *resp, const char *name);
#endif
