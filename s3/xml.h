/* S3 XML documents (ListObjectsV2 and ListObjectVersions results, the versioning state,
 * error bodies) and STS's answers parsed with libxml2 into structs: the one header of
 * s3/xml.c (the reader), s3/xmllist.c (the listings) and s3/xmlanswers.c (the rest). */
#ifndef TFS_S3_XML_H
#define TFS_S3_XML_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <time.h>
#include "store/store.h"

/* One object of a listing. Strings are owned by the page. */
struct s3_object {
	char *key;          /* decoded key (URL-decoded when the page used encoding-type=url) */
	size_t key_len;     /* its length in bytes: a decoded key may hold a NUL (%00) */
	uint64_t size;
	time_t mtime;       /* LastModified, UTC seconds */
	char *etag;         /* as S3 sent it, with its quotes */
};

/* One ListObjectsV2 page. */
struct s3_list_page {
	struct s3_object *objects;
	size_t nobjects;
	char **prefixes;    /* CommonPrefixes (decoded), when a delimiter was used */
	size_t nprefixes;
	bool truncated;     /* IsTruncated */
	char *next_token;   /* NextContinuationToken, opaque; NULL when not truncated */
	/* Not from the document: where the page stands in s3_list_all's listing (plist.c),
	 * as store_page's fields of the same names say. */
	bool covered;
	char *cover_after, *cover_upto;
	bool names_only;    /* a page of the delimiter listing beside the flat one */
	bool names_complete;
};

/* One ListObjectVersions page: its Version and DeleteMarker entries in document order
 * (S3's: keys in order, each key's newest first), in the store's own type. */
struct s3_version_page {
	struct store_version *versions;  /* keys decoded as in s3_list_page */
	size_t nversions;
	bool truncated;             /* IsTruncated */
	/* NextKeyMarker and NextVersionIdMarker as sent, NULL when absent or not truncated.
	 * The key marker is NOT decoded: AWS url-encodes it under encoding-type=url, radosgw
	 * sends it raw while saying <EncodingType>url</...>. key_encoded says what the keys
	 * were; the next request is better built from the last entry (see s3.c). */
	char *next_key_marker;
	char *next_version_marker;
	bool key_encoded;           /* the page's keys came url-encoded (and are decoded here) */
};

/* An S3 error document: <Error><Code>..</Code><Message>..</Message>... */
struct s3_error {
	char *code;         /* e.g. "NoSuchBucket"; NULL when the body had none */
	char *message;
	char *region;       /* <Region> (301 PermanentRedirect, AuthorizationHeaderMalformed) */
	char *request_id;   /* <RequestId> */
};

/* Parses a ListObjectsV2 result body. url_encoded: the request had encoding-type=url;
 * keys and prefixes are then percent-decoded if the page says <EncodingType>url</...>
 * (a server that ignored the parameter sent them as they are).
 * Returns 0, or -EBADMSG when the body is not a ListBucketResult (or malformed),
 * -ENOMEM. On error *page is left zeroed. Entity expansion and network access are off. */
int s3_xml_parse_list(const char *body, size_t len, bool url_encoded, struct s3_list_page *page);
void s3_list_page_free(struct s3_list_page *page);

/* Parses a ListObjectVersions result body, url_encoded as for s3_xml_parse_list. Each
 * entry must have Key, VersionId, IsLatest and LastModified (milliseconds kept), a Version
 * also Size and ETag; a truncated page must have an entry or a NextKeyMarker. Returns 0,
 * -EBADMSG (not a ListVersionsResult, malformed, or an entry short of a field), -ENOMEM;
 * on error *page is left zeroed. Same hardening as s3_xml_parse_list. */
int s3_xml_parse_versions(const char *body, size_t len, bool url_encoded,
                          struct s3_version_page *page);
void s3_version_page_free(struct s3_version_page *page);

/* Undoes encoding-type=url as the parsers do: %XX is one byte, '+' stays '+'. *out is
 * malloc'd and NUL-terminated, *out_len its length (a %00 makes a NUL inside). Returns 0,
 * -EBADMSG (a '%' without two hex digits), -ENOMEM. */
int s3_xml_url_decode(const char *s, size_t len, char **out, size_t *out_len);

/* Parses a GetBucketVersioning answer: <VersioningConfiguration> with <Status>Enabled or
 * Suspended, or no Status (or an empty one) for a bucket never versioned. Returns 0,
 * -EBADMSG (another root, another status), -ENOMEM. */
int s3_xml_parse_versioning(const char *body, size_t len, enum store_versioning *out);

/* Parses an error body. Returns 0 (fields may be NULL), or -EBADMSG when the body is not
 * an <Error> document, -ENOMEM. */
int s3_xml_parse_error(const char *body, size_t len, struct s3_error *err);
void s3_error_free(struct s3_error *err);

/* What STS answered to AssumeRole or AssumeRoleWithWebIdentity: the credentials, or the
 * error's code and message. Absent fields are NULL. */
struct sts_answer {
	char *access_key, *secret_key, *session_token, *expiration;
	char *code, *message;
};

/* Parses an STS answer (either root). Returns 0, -EBADMSG, -ENOMEM. */
int s3_xml_parse_sts(const char *body, size_t len, struct sts_answer *out);
void sts_answer_free(struct sts_answer *a);
#endif
