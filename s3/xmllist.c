/* ListObjectsV2 and ListObjectVersions pages from their XML, keys url-decoded when the
 * server encoded them. */
#include "s3/xml.h"
#include "s3/xml_int.h"
#include "util/memdup.h"
#include "util/hex.h"
#include "util/timeparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ---- */

/* Undoes S3's encoding-type=url: %XX is one byte (any byte, %00 included). '+' stays '+':
 * S3 writes a space as %20 and '+' as %2B, so a bare '+' can only be a literal one. */
static int percent_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			p[n++] = s[i];
			continue;
		}
		int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
		int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(p);
			return -EBADMSG;
		}
		p[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	p[n] = '\0';
	*out = p;
	*out_len = n;
	return 0;
}

int s3_xml_url_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	return percent_decode(s, len, out, out_len);
}

/* A key, at most once, kept as sent until the whole page says whether it is url-encoded
 * (decode_in_place). An empty key is as impossible in S3 as a missing one. */
static int set_key_once(char **key, size_t *key_len, const char *text, size_t len)
{
	if (*key)
		return -EBADMSG;
	if (!(*key = memdup_nul(text, len)))
		return -ENOMEM;
	*key_len = len;
	return len ? 0 : -EBADMSG;
}

/* Percent-decodes *s (NUL-terminated as sent) into a new string and its length. */
static int decode_in_place(char **s, size_t *len)
{
	char *out;
	size_t out_len;
	int rc = percent_decode(*s, strlen(*s), &out, &out_len);
	if (rc < 0)
		return rc;
	free(*s);
	*s = out;
	*len = out_len;
	return 0;
}

/* Did the server apply encoding-type=url? Only when asked and when the page says so: a
 * server that ignores the parameter sends keys as they are, and decoding those would turn
 * "50%41" into "50A". */
static bool keys_encoded(bool requested, const char *encoding)
{
	return requested && encoding && strcmp(encoding, "url") == 0;
}

/* ---- ListBucketResult ---- */

enum list_field {
	LF_NONE, LF_KEY, LF_SIZE, LF_MTIME, LF_ETAG, LF_PREFIX, LF_TRUNCATED, LF_TOKEN,
	LF_ENCODING,
};

struct list_doc {
	struct s3_list_page *page;
	bool url_requested;      /* the request asked for encoding-type=url */
	char *encoding;          /* <EncodingType>: what the server actually did */
	enum list_field field;   /* the text field open now */
	bool in_contents;        /* the depth-2 container open now is Contents (else CommonPrefixes) */
	bool have_size, have_mtime, have_prefix, have_truncated;
	size_t prefixes_cap, objects_cap;
};

static int grow(void **array, size_t *cap, size_t count, size_t size)
{
	if (count < *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	void *p = reallocarray(*array, n, size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

/* A new, empty object; it counts at once, so s3_list_page_free sees whatever it gets. */
static int contents_begin(struct list_doc *d)
{
	struct s3_list_page *pg = d->page;
	void *objects = pg->objects;
	int rc = grow(&objects, &d->objects_cap, pg->nobjects, sizeof(*pg->objects));
	pg->objects = objects;
	if (rc < 0)
		return rc;
	memset(&pg->objects[pg->nobjects++], 0, sizeof(*pg->objects));
	d->in_contents = true;
	d->have_size = d->have_mtime = false;
	return XML_CONTAINER;
}

static int list_open_top(struct list_doc *d, const char *name)
{
	if (strcmp(name, "Contents") == 0)
		return contents_begin(d);
	if (strcmp(name, "CommonPrefixes") == 0) {
		d->in_contents = false;
		d->have_prefix = false;
		return XML_CONTAINER;
	}
	if (strcmp(name, "IsTruncated") == 0)
		d->field = LF_TRUNCATED;
	else if (strcmp(name, "NextContinuationToken") == 0)
		d->field = LF_TOKEN;
	else if (strcmp(name, "EncodingType") == 0)
		d->field = LF_ENCODING;
	else
		return XML_SKIP;
	return XML_TEXT;
}

static int list_open(void *doc, int depth, const char *name)
{
	struct list_doc *d = doc;
	if (depth == 2)
		return list_open_top(d, name);
	static const struct { const char *name; enum list_field field; bool contents; } fields[] = {
		{ "Key", LF_KEY, true }, { "Size", LF_SIZE, true },
		{ "LastModified", LF_MTIME, true }, { "ETag", LF_ETAG, true },
		{ "Prefix", LF_PREFIX, false },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (fields[i].contents == d->in_contents && strcmp(name, fields[i].name) == 0) {
			d->field = fields[i].field;
			return XML_TEXT;
		}
	}
	return XML_SKIP;
}

static int set_mtime(struct list_doc *d, struct s3_object *o, const char *text)
{
	if (d->have_mtime)
		return -EBADMSG;
	d->have_mtime = true;
	return time_parse_rfc3339(text, &o->mtime) < 0 ? -EBADMSG : 0;
}

/* Kept as sent, like keys, until decode_page. */
static int add_prefix(struct list_doc *d, const char *text, size_t len)
{
	struct s3_list_page *pg = d->page;
	if (d->have_prefix)
		return -EBADMSG;
	d->have_prefix = true;
	char *prefix = memdup_nul(text, len);
	if (!prefix)
		return -ENOMEM;
	void *prefixes = pg->prefixes;
	int rc = grow(&prefixes, &d->prefixes_cap, pg->nprefixes, sizeof(*pg->prefixes));
	pg->prefixes = prefixes;
	if (rc < 0) {
		free(prefix);
		return rc;
	}
	pg->prefixes[pg->nprefixes++] = prefix;
	return 0;
}

/* The object of the open Contents; Contents fields are only offered inside one. */
static struct s3_object *current_object(struct list_doc *d)
{
	return &d->page->objects[d->page->nobjects - 1];
}

static int list_close_field(struct list_doc *d, const char *text, size_t len)
{
	switch (d->field) {
	case LF_KEY:       return set_key_once(&current_object(d)->key,
	                                   &current_object(d)->key_len, text, len);
	case LF_SIZE:      return xml_set_u64_once(&d->have_size, &current_object(d)->size, text, len);
	case LF_MTIME:     return set_mtime(d, current_object(d), text);
	case LF_ETAG:      return xml_set_once(&current_object(d)->etag, text, len);
	case LF_PREFIX:    return add_prefix(d, text, len);
	case LF_TRUNCATED: return xml_set_bool_once(&d->have_truncated, &d->page->truncated, text);
	case LF_TOKEN:     return xml_set_once(&d->page->next_token, text, len);
	case LF_ENCODING:  return xml_set_once(&d->encoding, text, len);
	case LF_NONE:      break;
	}
	return -EBADMSG;
}

/* A Contents needs its key, size and date; a CommonPrefixes its prefix. */
static int list_close_container(struct list_doc *d)
{
	if (!d->in_contents)
		return d->have_prefix ? 0 : -EBADMSG;
	return current_object(d)->key && d->have_size && d->have_mtime ? 0 : -EBADMSG;
}

static int list_close(void *doc, int depth, const char *text, size_t len)
{
	struct list_doc *d = doc;
	if (!text)
		return list_close_container(d);
	(void)depth;
	int rc = list_close_field(d, text, len);
	d->field = LF_NONE;
	return rc;
}

/* The page header has no length for prefixes, so one that decodes to hold a NUL cannot be
 * returned whole; cut short, it would name a different prefix. It is left out, as a key
 * with a NUL can never become a path anyway. */
static int decode_prefixes(struct s3_list_page *pg)
{
	size_t kept = 0, i;
	int rc = 0;
	for (i = 0; i < pg->nprefixes && rc == 0; i++) {
		size_t len;
		rc = decode_in_place(&pg->prefixes[i], &len);
		if (rc == 0 && strlen(pg->prefixes[i]) != len)
			free(pg->prefixes[i]);
		else
			pg->prefixes[kept++] = pg->prefixes[i];
	}
	/* On an error the rest stay as they were, so that the page frees each one once. */
	for (; i < pg->nprefixes; i++)
		pg->prefixes[kept++] = pg->prefixes[i];
	pg->nprefixes = kept;
	return rc;
}

static int decode_page(const struct list_doc *d)
{
	struct s3_list_page *pg = d->page;
	if (!keys_encoded(d->url_requested, d->encoding))
		return 0;
	for (size_t i = 0; i < pg->nobjects; i++) {
		int rc = decode_in_place(&pg->objects[i].key, &pg->objects[i].key_len);
		if (rc < 0)
			return rc;
	}
	return decode_prefixes(pg);
}

/* A truncated page without a token could only be followed by starting over (a loop) or by
 * stopping early (a silently short listing); neither is acceptable, so the page is bad. */
static int list_finish(struct s3_list_page *page)
{
	if (!page->truncated) {
		free(page->next_token);
		page->next_token = NULL;
		return 0;
	}
	return page->next_token && page->next_token[0] ? 0 : -EBADMSG;
}

static const struct xml_ops list_ops = {
	.root = "ListBucketResult", .open = list_open, .close = list_close,
};

int s3_xml_parse_list(const char *body, size_t len, bool url_encoded, struct s3_list_page *page)
{
	memset(page, 0, sizeof(*page));
	struct list_doc d = { .page = page, .url_requested = url_encoded };
	int rc = xml_read(body, len, &list_ops, &d);
	if (!rc)
		rc = decode_page(&d);
	if (!rc)
		rc = list_finish(page);
	free(d.encoding);
	if (rc)
		s3_list_page_free(page);
	return rc;
}

void s3_list_page_free(struct s3_list_page *page)
{
	for (size_t i = 0; i < page->nobjects; i++) {
		free(page->objects[i].key);
		free(page->objects[i].etag);
	}
	free(page->objects);
	for (size_t i = 0; i < page->nprefixes; i++)
		free(page->prefixes[i]);
	free(page->prefixes);
	free(page->next_token);
	free(page->cover_after);
	free(page->cover_upto);
	memset(page, 0, sizeof(*page));
}

/* ---- ListVersionsResult ---- */

enum version_field {
	VF_NONE, VF_KEY, VF_VERSION_ID, VF_LATEST, VF_MTIME, VF_ETAG, VF_SIZE, VF_TRUNCATED,
	VF_NEXT_KEY, VF_NEXT_VERSION, VF_ENCODING,
};

struct versions_doc {
	struct s3_version_page *page;
	bool url_requested;
	char *encoding;
	enum version_field field;
	bool have_latest, have_mtime, have_size, have_truncated;
	size_t cap;
};

/* A new, empty Version or DeleteMarker; it counts at once, so the page frees whatever it
 * gets. */
static int version_begin(struct versions_doc *d, bool delete_marker)
{
	struct s3_version_page *pg = d->page;
	void *versions = pg->versions;
	int rc = grow(&versions, &d->cap, pg->nversions, sizeof(*pg->versions));
	pg->versions = versions;
	if (rc < 0)
		return rc;
	pg->versions[pg->nversions++] = (struct store_version){ .delete_marker = delete_marker };
	d->have_latest = d->have_mtime = d->have_size = false;
	return XML_CONTAINER;
}

static int versions_open_top(struct versions_doc *d, const char *name)
{
	static const struct { const char *name; enum version_field field; } fields[] = {
		{ "IsTruncated", VF_TRUNCATED }, { "NextKeyMarker", VF_NEXT_KEY },
		{ "NextVersionIdMarker", VF_NEXT_VERSION }, { "EncodingType", VF_ENCODING },
	};
	if (strcmp(name, "Version") == 0 || strcmp(name, "DeleteMarker") == 0)
		return version_begin(d, strcmp(name, "DeleteMarker") == 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(name, fields[i].name) == 0) {
			d->field = fields[i].field;
			return XML_TEXT;
		}
	}
	return XML_SKIP;     /* Name, Prefix, KeyMarker, MaxKeys, CommonPrefixes... */
}

/* The Version or DeleteMarker open now; its fields are only offered inside one. */
static struct store_version *current_version(struct versions_doc *d)
{
	return &d->page->versions[d->page->nversions - 1];
}

/* A delete marker has no bytes: a Size or ETag in one (no server sends them) is ignored. */
static int versions_open(void *doc, int depth, const char *name)
{
	struct versions_doc *d = doc;
	if (depth == 2)
		return versions_open_top(d, name);
	static const struct { const char *name; enum version_field field; bool bytes; } fields[] = {
		{ "Key", VF_KEY, false }, { "VersionId", VF_VERSION_ID, false },
		{ "IsLatest", VF_LATEST, false }, { "LastModified", VF_MTIME, false },
		{ "ETag", VF_ETAG, true }, { "Size", VF_SIZE, true },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(name, fields[i].name) == 0 &&
		    !(fields[i].bytes && current_version(d)->delete_marker)) {
			d->field = fields[i].field;
			return XML_TEXT;
		}
	}
	return XML_SKIP;     /* StorageClass, Owner, Type... */
}

static int set_mtime_ms(bool *have, int64_t *out, const char *text)
{
	if (*have)
		return -EBADMSG;
	*have = true;
	return time_parse_rfc3339_ms(text, out) < 0 ? -EBADMSG : 0;
}

static int version_close_field(struct versions_doc *d, const char *text, size_t len)
{
	struct s3_version_page *pg = d->page;
	switch (d->field) {
	case VF_KEY:          return set_key_once(&current_version(d)->key,
	                                          &current_version(d)->key_len, text, len);
	case VF_VERSION_ID:   return xml_set_once(&current_version(d)->version_id, text, len);
	case VF_LATEST:       return xml_set_bool_once(&d->have_latest, &current_version(d)->latest, text);
	case VF_MTIME:        return set_mtime_ms(&d->have_mtime, &current_version(d)->mtime_ms, text);
	case VF_ETAG:         return xml_set_once(&current_version(d)->etag, text, len);
	case VF_SIZE:         return xml_set_u64_once(&d->have_size, &current_version(d)->size, text, len);
	case VF_TRUNCATED:    return xml_set_bool_once(&d->have_truncated, &pg->truncated, text);
	case VF_NEXT_KEY:     return xml_set_once(&pg->next_key_marker, text, len);
	case VF_NEXT_VERSION: return xml_set_once(&pg->next_version_marker, text, len);
	case VF_ENCODING:     return xml_set_once(&d->encoding, text, len);
	case VF_NONE:         break;
	}
	return -EBADMSG;
}

/* Every entry needs its key, a version id, IsLatest and its date; a Version also its
 * size and ETag (the interface promises one for every version that is not a marker). */
static int version_close_container(struct versions_doc *d)
{
	const struct store_version *v = current_version(d);
	bool whole = v->key && v->version_id && v->version_id[0] && d->have_latest && d->have_mtime;
	return whole && (v->delete_marker || (d->have_size && v->etag)) ? 0 : -EBADMSG;
}

static int versions_close(void *doc, int depth, const char *text, size_t len)
{
	(void)depth;
	struct versions_doc *d = doc;
	if (!text)
		return version_close_container(d);
	int rc = version_close_field(d, text, len);
	d->field = VF_NONE;
	return rc;
}

/* Keys decoded as ListObjectsV2's are. A page cut short must say where to go on: after
 * its last entry, or, with none, at its NextKeyMarker. Markers of a page that is not cut
 * short are dropped. */
static int versions_finish(const struct versions_doc *d)
{
	struct s3_version_page *pg = d->page;
	pg->key_encoded = keys_encoded(d->url_requested, d->encoding);
	for (size_t i = 0; pg->key_encoded && i < pg->nversions; i++) {
		int rc = decode_in_place(&pg->versions[i].key, &pg->versions[i].key_len);
		if (rc < 0)
			return rc;
	}
	if (pg->truncated)
		return pg->nversions || (pg->next_key_marker && pg->next_key_marker[0]) ? 0 : -EBADMSG;
	free(pg->next_key_marker);
	free(pg->next_version_marker);
	pg->next_key_marker = pg->next_version_marker = NULL;
	return 0;
}

static const struct xml_ops versions_ops = {
	.root = "ListVersionsResult", .open = versions_open, .close = versions_close,
};

int s3_xml_parse_versions(const char *body, size_t len, bool url_encoded,
                          struct s3_version_page *page)
{
	memset(page, 0, sizeof(*page));
	struct versions_doc d = { .page = page, .url_requested = url_encoded };
	int rc = xml_read(body, len, &versions_ops, &d);
	if (!rc)
		rc = versions_finish(&d);
	free(d.encoding);
	if (rc)
		s3_version_page_free(page);
	return rc;
}

void s3_version_page_free(struct s3_version_page *page)
{
	struct store_version_page versions = { page->versions, page->nversions };
	store_version_page_free(&versions);
	free(page->next_key_marker);
	free(page->next_version_marker);
	memset(page, 0, sizeof(*page));
}
