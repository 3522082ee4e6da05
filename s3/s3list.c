/* S3's listings: ListObjectsV2 and ListObjectVersions, paged, guarded against repeats. */
/* A server that repeats its continuation token or markers ends the listing with -EIO. */
#include "s3/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "s3/s3_int.h"
#include "util/log.h"

#define S3_LIST_MAX_BODY (16u << 20)

/* A 200 listing that does not end its document (end: its closing tag) was cut short on
 * the way (a connection closed early by a proxy that set the length to what it had):
 * asking again is right, parsing what came would miss keys. */
static bool document_cut_short(const struct http_response *resp, const char *end)
{
	size_t n = resp->body_len, m = strlen(end);
	while (n && (resp->body[n - 1] == '\n' || resp->body[n - 1] == '\r' ||
	             resp->body[n - 1] == ' ' || resp->body[n - 1] == '\t'))
		n--;
	return resp->status == 200 && (n < m || memcmp(resp->body + n - m, end, m) != 0);
}

static bool listing_cut_short(const struct http_response *resp)
{
	return document_cut_short(resp, "</ListBucketResult>");
}

static bool versions_cut_short(const struct http_response *resp)
{
	return document_cut_short(resp, "</ListVersionsResult>");
}
static char *list_query(const struct s3_list_args *a)
{
	const char *prefix = a->prefix, *delimiter = a->delimiter, *token = a->token;
	char *q = NULL, mk[16];
	snprintf(mk, sizeof(mk), "%d", a->max_keys);
	int rc = s3_query_add(&q, "list-type", "2");
	if (rc == 0 && token)
		rc = s3_query_add(&q, "continuation-token", token);
	if (rc == 0 && delimiter)
		rc = s3_query_add(&q, "delimiter", delimiter);
	if (rc == 0)
		rc = s3_query_add(&q, "encoding-type", "url");
	if (rc == 0)
		rc = s3_query_add(&q, "max-keys", mk);
	if (rc == 0 && prefix && *prefix)
		rc = s3_query_add(&q, "prefix", prefix);
	if (rc == 0 && a->start_after && !token)
		rc = s3_query_add(&q, "start-after", a->start_after);
	if (rc < 0) {
		free(q);
		return NULL;
	}
	return q;
}
/* How one kind of listing's page is asked for and read. */
struct listing_kind {
	const char *op;             /* what it is counted as */
	bool (*cut_short)(const struct http_response *resp);
	int (*parse)(const char *body, size_t len, void *page);  /* with encoding-type=url */
	const char *invalid;        /* err->message for an answer parse refuses */
};

/* One page of a listing of the bucket: GET with query (NULL: building it failed), retried
 * as listings are, parsed into page. Returns 0, or a negative errno with *err filled. */
static int listing_page(struct s3_client *c, const struct listing_kind *k, const char *query,
                        void *page, struct aws_error *err)
{
	char *path = s3_bucket_path(c);
	struct http_response resp;
	int rc = -ENOMEM;
	if (path && query)
		rc = s3_bucket_send_checked(c, k->op, "GET", path, query, NULL, 0, S3_LIST_MAX_BODY,
		                            k->cut_short, &resp, err);
	if (rc == 0) {
		rc = k->parse(resp.body, resp.body_len, page);
		if (rc == -EBADMSG) {
			snprintf(err->message, sizeof(err->message), "%s", k->invalid);
			rc = -EIO;
		}
	}
	if (path && query)
		http_response_free(&resp);
	free(path);
	return rc;
}

static int parse_list(const char *body, size_t len, void *page)
{
	return s3_xml_parse_list(body, len, true, page);
}

static const struct listing_kind list_kind = {
	.op = "LIST", .cut_short = listing_cut_short, .parse = parse_list,
	.invalid = "the ListObjectsV2 answer is not a valid ListBucketResult",
};

int s3_list_page_n(struct s3_client *c, const struct s3_list_args *a, struct s3_list_page *page,
                   struct aws_error *err)
{
	memset(page, 0, sizeof(*page));
	char *query = list_query(a);
	int rc = listing_page(c, &list_kind, query, page, err);
	free(query);
	return rc;
}

int s3_list_page(struct s3_client *c, const char *prefix, const char *delimiter,
                 const char *token, struct s3_list_page *page, struct aws_error *err)
{
	struct s3_list_args a = { .prefix = prefix, .delimiter = delimiter, .token = token,
	                       .max_keys = 1000 };
	return s3_list_page_n(c, &a, page, err);
}

int s3_list_page_after(struct s3_client *c, const char *prefix, const char *delimiter,
                       const char *start_after, const char *token, struct s3_list_page *page,
                       struct aws_error *err)
{
	struct s3_list_args a = { .prefix = prefix, .delimiter = delimiter, .token = token,
	                       .start_after = start_after, .max_keys = 1000 };
	return s3_list_page_n(c, &a, page, err);
}

/* The one place that pages: a server repeating its continuation token ends the listing
 * instead of looping forever. */
int s3_list_each(struct s3_client *c, const char *prefix, const char *delimiter,
                 s3_page_fn on_page, void *ctx)
{
	return s3_list_each_from(c, prefix, delimiter, NULL, NULL, on_page, ctx);
}

int s3_list_each_from(struct s3_client *c, const char *prefix, const char *delimiter,
                      const char *start_after, const char *from_token, s3_page_fn on_page,
                      void *ctx)
{
	char *token = from_token ? strdup(from_token) : NULL;
	int rc;
	if (from_token && !token)
		return -ENOMEM;
	do {
		struct s3_list_page page;
		struct aws_error err;
		if ((rc = s3_list_page_after(c, prefix, delimiter, start_after, token, &page,
		                             &err)) < 0) {
			char desc[512];
			aws_error_describe(&err, desc, sizeof(desc));
			log_error("listing prefix '%s' failed: %s", prefix, desc);
			rc = rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
			break;
		}
		char *next = page.truncated ? strdup(page.next_token) : NULL;
		bool repeated = next && token && strcmp(next, token) == 0;
		if (page.truncated && !next) {
			s3_list_page_free(&page);
			rc = -ENOMEM;
		} else {
			rc = on_page(ctx, &page);
		}
		free(token);
		token = next;
		if (rc == 0 && repeated) {
			log_error("listing prefix '%s': the server sent the same continuation token twice",
			          prefix);
			rc = -EIO;
		}
	} while (rc == 0 && token);
	free(token);
	return rc == S3_LIST_STOP ? 0 : rc;
}

/* ---- ListObjectVersions ---- */

/* Where a version listing goes on: just after version `version` of key `key` (key_len
 * bytes: a decoded key may hold a NUL). key NULL: from the start. */
struct version_marker {
	char *key;
	size_t key_len;
	char *version;      /* NULL: after every version of key */
};

static void version_marker_free(struct version_marker *m)
{
	free(m->key);
	free(m->version);
	*m = (struct version_marker){ 0 };
}

/* Does next lie past at? Keys come in byte order, so a listing that moves on never goes
 * back to an earlier key, nor stays at the same key and version: a server that repeats its
 * markers, or answers a marker it misread from an earlier key, would list forever. */
static bool version_marker_advances(const struct version_marker *at,
                                    const struct version_marker *next)
{
	if (!at->key)
		return true;
	size_t n = at->key_len < next->key_len ? at->key_len : next->key_len;
	int cmp = memcmp(at->key, next->key, n);
	if (cmp == 0 && at->key_len != next->key_len)
		cmp = at->key_len < next->key_len ? -1 : 1;
	if (cmp != 0)
		return cmp < 0;
	return at->version && next->version && strcmp(at->version, next->version) != 0;
}

static char *versions_query(const char *prefix, const struct version_marker *m)
{
	char *q = strdup("versions");
	int rc = q ? s3_query_add(&q, "encoding-type", "url") : -ENOMEM;
	if (rc == 0 && m->key)
		rc = s3_query_add_n(&q, "key-marker", m->key, m->key_len);
	if (rc == 0)
		rc = s3_query_add(&q, "max-keys", "1000");
	if (rc == 0 && prefix && *prefix)
		rc = s3_query_add(&q, "prefix", prefix);
	if (rc == 0 && m->key && m->version)
		rc = s3_query_add(&q, "version-id-marker", m->version);
	if (rc < 0) {
		free(q);
		return NULL;
	}
	return q;
}

static int parse_versions(const char *body, size_t len, void *page)
{
	return s3_xml_parse_versions(body, len, true, page);
}

static const struct listing_kind versions_kind = {
	.op = "LISTVERSIONS", .cut_short = versions_cut_short, .parse = parse_versions,
	.invalid = "the ListObjectVersions answer is not a valid ListVersionsResult",
};

static int versions_page(struct s3_client *c, const char *prefix, const struct version_marker *m,
                         struct s3_version_page *page, struct aws_error *err)
{
	memset(page, 0, sizeof(*page));
	char *query = versions_query(prefix, m);
	int rc = listing_page(c, &versions_kind, query, page, err);
	free(query);
	return rc;
}

/* Where the page after this one starts: just after its last entry. Not from the
 * NextKeyMarker, which radosgw sends unencoded under encoding-type=url (AWS encodes it),
 * so that no decoding could be right for both; the last entry's key is decoded like
 * every key. Only a page cut short with no entry at all leaves the markers to go by. */
static int version_marker_next(const struct s3_version_page *pg, struct version_marker *m)
{
	*m = (struct version_marker){ 0 };
	const char *version;
	int rc = 0;
	if (pg->nversions) {
		const struct store_version *last = &pg->versions[pg->nversions - 1];
		if ((m->key = malloc(last->key_len + 1)))
			memcpy(m->key, last->key, last->key_len + 1);
		m->key_len = last->key_len;
		version = last->version_id;
	} else {
		const char *k = pg->next_key_marker;
		if (pg->key_encoded)
			rc = s3_xml_url_decode(k, strlen(k), &m->key, &m->key_len);
		else if ((m->key = strdup(k)))
			m->key_len = strlen(k);
		version = pg->next_version_marker;
	}
	if (rc == 0 && (!m->key || (version && !(m->version = strdup(version)))))
		rc = -ENOMEM;
	if (rc < 0)
		version_marker_free(m);
	return rc == -EBADMSG ? -EIO : rc;
}

int s3_list_versions_each(struct s3_client *c, const char *prefix, s3_version_fn on_page,
                          void *ctx)
{
	struct version_marker at = { 0 };
	int rc;
	bool more;
	do {
		struct s3_version_page page;
		struct aws_error err;
		if ((rc = versions_page(c, prefix, &at, &page, &err)) < 0) {
			char desc[512];
			aws_error_describe(&err, desc, sizeof(desc));
			log_error("listing the versions below '%s' failed: %s", prefix, desc);
			rc = rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
			break;
		}
		struct version_marker next = { 0 };
		more = page.truncated;
		if (more && (rc = version_marker_next(&page, &next)) < 0) {
			s3_version_page_free(&page);
			if (rc == -EIO)
				log_error("listing the versions below '%s': the NextKeyMarker is not "
				          "url-encoded as the page says", prefix);
			break;
		}
		bool repeated = more && !version_marker_advances(&at, &next);
		rc = on_page(ctx, &page);
		version_marker_free(&at);
		at = next;
		if (rc == 0 && repeated) {
			log_error("listing the versions below '%s': the server's next page does not start "
			          "after its last one (markers repeated or gone back)", prefix);
			rc = -EIO;
		}
	} while (rc == 0 && more);
	version_marker_free(&at);
	return rc == S3_LIST_STOP ? 0 : rc;
}
