/* AWS Signature Version 4: canonical request, string to sign, Authorization header. */
#ifndef TFS_S3_SIGV4_H
#define TFS_S3_SIGV4_H
#include <stddef.h>
#include <stdbool.h>

/* One request header as it will be sent (name in any case, value untrimmed). */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* What gets signed. Strings are borrowed, never freed by sigv4_*. */
struct sigv4_request {
	const char *method;          /* "GET", "POST", ... */
	const char *path;            /* the path as sent on the wire, already percent-encoded */
	const char *query;           /* the raw query string without '?', or NULL */
	const struct sigv4_header *headers; /* every header to sign, incl. host and x-amz-date */
	size_t nheaders;
	const char *payload_hash;    /* lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	bool normalize_path;         /* true for most services: dot segments removed and the
	                              * encoded path encoded once more, as AWS requires; false for
	                              * S3, whose path is signed exactly as given */
};

struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service;         /* "s3", "dynamodb", "sts" */
};

/* Each function returns a malloc'd string the caller frees, or NULL on out-of-memory. */

/* The canonical request (method, path, query, headers, signed headers, payload hash). */
char *sigv4_canonical_request(const struct sigv4_request *req);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical request>".
 * amz_date is "YYYYMMDDTHHMMSSZ". */
char *sigv4_string_to_sign(const struct sigv4_request *req, const struct sigv4_key *key,
                           const char *amz_date);

/* Lowercase hex signature of the request. */
char *sigv4_signature(const struct sigv4_request *req, const struct sigv4_key *key,
                      const char *amz_date);

/* The full Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/scope, SignedHeaders=a;b, Signature=hex". */
char *sigv4_authorization(const struct sigv4_request *req, const struct sigv4_key *key,
                          const char *amz_date);

/* Lowercase hex SHA-256 of data into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Percent-encodes s as SigV4 and S3 want it: unreserved characters (A-Z a-z 0-9 - _ . ~)
 * stay, every other byte becomes %XX (uppercase); '/' stays when keep_slash.
 * Returns a malloc'd string or NULL. */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* The same for n bytes, NULs included (a key decoded from %00). */
char *sigv4_uri_encode_n(const char *s, size_t n, bool keep_slash);
#endif
