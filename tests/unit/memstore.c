/* An object store and a lock table in memory: see memstore.h. */
#include "memstore.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An object's current version, or (in the history) a noncurrent one or a delete marker. */
struct mem_object {
	char *key, *data, etag[130];
	size_t len;
	time_t mtime;
	int64_t mtime_ms;
	char version_id[32];
	bool delete_marker;     /* history only: no data, no ETag */
};

/* The time of what is written without one (2025-11-28). */
#define MEM_DEFAULT_CLOCK_MS 1764322728000

struct mem_item {
	char *lock_id, *info, *digest;
	size_t info_len;        /* Info may hold NUL bytes, as a DynamoDB string may */
};

struct fault {
	int count, rc;
	long status;
	bool applied;
};

struct hook {
	void (*fn)(struct memstore *ms, void *ctx);
	void *ctx;
};

struct memstore {
	struct store store;
	struct table table;
	struct mem_object *objects;     /* the current versions */
	size_t nobjects;
	struct mem_object *history;     /* noncurrent versions and delete markers, oldest first */
	size_t nhistory;
	enum store_versioning versioning;
	unsigned long version_seq;
	int64_t clock_ms;
	struct mem_item *items;
	size_t nitems;
	size_t page_size;
	bool names_first, reverse_pages;    /* how list_all hands its pages over */
	unsigned ignores;                   /* MS_IGNORE_*: conditions it does not honour */
	struct fault faults[MS_OPS];
	struct hook hooks[MS_OPS];
	unsigned long calls[MS_OPS];
};

static struct memstore *of_store(struct store *st)
{
	return (struct memstore *)((char *)st - offsetof(struct memstore, store));
}

static struct memstore *of_table(const struct table *t)
{
	return (struct memstore *)((char *)t - offsetof(struct memstore, table));
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* len bytes of s and a NUL: what put_if writes may hold NUL bytes. */
static char *memdup_or_die(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (!d)
		abort();
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* ---- setting it up ---- */

static struct mem_object *find_object(struct memstore *ms, const char *key)
{
	for (size_t i = 0; i < ms->nobjects; i++)
		if (strcmp(ms->objects[i].key, key) == 0)
			return &ms->objects[i];
	return NULL;
}

/* The lowercase hex MD5 of data. */
static void md5_of(const char *data, size_t len, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < n && i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

static void etag_of(const char *data, size_t len, char out[130])
{
	char hex[33];
	md5_of(data, len, hex);
	snprintf(out, 130, "\"%s\"", hex);
}

/* ---- versions ---- */

/* The id of the next version: "v1", "v2"... while versioning is on, else "null". */
static void next_version_id(struct memstore *ms, char out[32])
{
	if (ms->versioning == STORE_VERSIONING_ENABLED)
		snprintf(out, 32, "v%lu", ++ms->version_seq);
	else
		snprintf(out, 32, "null");
}

static struct mem_object *history_add(struct memstore *ms, const struct mem_object *o)
{
	ms->history = realloc(ms->history, (ms->nhistory + 1) * sizeof(*o));
	if (!ms->history)
		abort();
	struct mem_object *h = &ms->history[ms->nhistory++];
	*h = *o;
	h->key = dup_or_die(o->key);
	h->data = o->data ? memdup_or_die(o->data, o->len) : NULL;
	return h;
}

/* A write while suspended replaces key's "null" version, whatever it was. */
static void history_drop_null(struct memstore *ms, const char *key)
{
	size_t kept = 0;
	for (size_t i = 0; i < ms->nhistory; i++) {
		struct mem_object *h = &ms->history[i];
		if (strcmp(h->key, key) == 0 && strcmp(h->version_id, "null") == 0) {
			free(h->key);
			free(h->data);
		} else {
			ms->history[kept++] = *h;
		}
	}
	ms->nhistory = kept;
}

/* key's current version o is about to be replaced or deleted: kept as a noncurrent
 * version while versioning is on, or suspended unless it is the "null" one (which the
 * write replaces); its bytes are then freed. */
static void retire_current(struct memstore *ms, struct mem_object *o)
{
	bool keep = ms->versioning == STORE_VERSIONING_ENABLED ||
	            (ms->versioning == STORE_VERSIONING_SUSPENDED &&
	             strcmp(o->version_id, "null") != 0);
	if (keep)
		history_add(ms, o);
	if (ms->versioning == STORE_VERSIONING_SUSPENDED)
		history_drop_null(ms, o->key);
	free(o->data);
	o->data = NULL;
}

/* Writes len bytes of data as key's new current version, its ETag their quoted MD5. */
static void object_write(struct memstore *ms, const char *key, const char *data, size_t len,
                         int64_t mtime_ms)
{
	struct mem_object *o = find_object(ms, key);
	if (o) {
		retire_current(ms, o);
	} else {
		if (ms->versioning == STORE_VERSIONING_SUSPENDED)
			history_drop_null(ms, key);
		ms->objects = realloc(ms->objects, (ms->nobjects + 1) * sizeof(*o));
		o = &ms->objects[ms->nobjects++];
		*o = (struct mem_object){ .key = dup_or_die(key) };
	}
	o->data = memdup_or_die(data, len);
	o->len = len;
	o->mtime_ms = mtime_ms;
	o->mtime = (time_t)(mtime_ms / 1000);
	next_version_id(ms, o->version_id);
	etag_of(o->data, o->len, o->etag);
}

void memstore_put_at(struct memstore *ms, const char *key, const char *data, int64_t mtime_ms)
{
	object_write(ms, key, data, strlen(data), mtime_ms);
}

void memstore_put(struct memstore *ms, const char *key, const char *data, time_t mtime)
{
	memstore_put_at(ms, key, data, mtime ? (int64_t)mtime * 1000 : ms->clock_ms);
}

/* Forgets object o altogether, as if never written (no version kept). */
static void object_drop(struct memstore *ms, struct mem_object *o)
{
	free(o->key);
	free(o->data);
	*o = ms->objects[--ms->nobjects];
}

void memstore_remove_at(struct memstore *ms, const char *key, int64_t mtime_ms)
{
	struct mem_object *o = find_object(ms, key);
	if (o) {
		retire_current(ms, o);
		object_drop(ms, o);
	} else if (ms->versioning == STORE_VERSIONING_SUSPENDED) {
		history_drop_null(ms, key);
	}
	if (ms->versioning == STORE_VERSIONING_OFF)
		return;
	/* S3 leaves a marker for a plain DeleteObject even where the key holds nothing. */
	struct mem_object marker = { .key = (char *)key, .mtime_ms = mtime_ms,
	                             .mtime = (time_t)(mtime_ms / 1000), .delete_marker = true };
	next_version_id(ms, marker.version_id);
	history_add(ms, &marker);
}

void memstore_remove(struct memstore *ms, const char *key)
{
	memstore_remove_at(ms, key, ms->clock_ms);
}

void memstore_versioning(struct memstore *ms, enum store_versioning v)
{
	ms->versioning = v;
}

void memstore_clock(struct memstore *ms, int64_t now_ms)
{
	ms->clock_ms = now_ms;
}

const char *memstore_version_id(struct memstore *ms, const char *key)
{
	static char id[32];
	struct mem_object *o = find_object(ms, key);
	snprintf(id, sizeof(id), "%s", o ? o->version_id : "");
	return id;
}

bool memstore_has(struct memstore *ms, const char *key)
{
	return find_object(ms, key) != NULL;
}

void memstore_set_etag(struct memstore *ms, const char *key, const char *etag)
{
	struct mem_object *o = find_object(ms, key);
	if (!o)
		abort();
	snprintf(o->etag, sizeof(o->etag), "%s", etag);
}

const char *memstore_etag(struct memstore *ms, const char *key)
{
	static char etag[130];
	struct mem_object *o = find_object(ms, key);
	snprintf(etag, sizeof(etag), "%s", o ? o->etag : "");
	return etag;
}

static struct mem_item *find_item(struct memstore *ms, const char *lock_id)
{
	for (size_t i = 0; i < ms->nitems; i++)
		if (strcmp(ms->items[i].lock_id, lock_id) == 0)
			return &ms->items[i];
	return NULL;
}

static struct mem_item *item_slot(struct memstore *ms, const char *lock_id)
{
	struct mem_item *it = find_item(ms, lock_id);
	if (it) {
		free(it->info);
		free(it->digest);
		it->info = it->digest = NULL;
		it->info_len = 0;
		return it;
	}
	ms->items = realloc(ms->items, (ms->nitems + 1) * sizeof(*it));
	it = &ms->items[ms->nitems++];
	*it = (struct mem_item){ .lock_id = dup_or_die(lock_id) };
	return it;
}

/* Writes item lock_id with Info alone, as a PutItem replaces the whole item. */
static void item_write(struct memstore *ms, const char *lock_id, const char *info, size_t len)
{
	struct mem_item *it = item_slot(ms, lock_id);
	it->info = memdup_or_die(info, len);
	it->info_len = len;
}

void memstore_put_lock(struct memstore *ms, const char *lock_id, const char *info)
{
	item_write(ms, lock_id, info, strlen(info));
}

void memstore_put_digest(struct memstore *ms, const char *lock_id, const char *digest)
{
	item_slot(ms, lock_id)->digest = dup_or_die(digest);
}

void memstore_remove_item(struct memstore *ms, const char *lock_id)
{
	struct mem_item *it = find_item(ms, lock_id);
	if (!it)
		return;
	free(it->lock_id);
	free(it->info);
	free(it->digest);
	*it = ms->items[--ms->nitems];
}

bool memstore_has_item(struct memstore *ms, const char *lock_id)
{
	return find_item(ms, lock_id) != NULL;
}

void memstore_fail(struct memstore *ms, enum memstore_op op, int count, int rc, long status,
                   bool applied)
{
	ms->faults[op] = (struct fault){ .count = count, .rc = rc, .status = status,
	                                 .applied = applied };
}

void memstore_before(struct memstore *ms, enum memstore_op op,
                     void (*fn)(struct memstore *ms, void *ctx), void *ctx)
{
	ms->hooks[op] = (struct hook){ fn, ctx };
}

void memstore_page_size(struct memstore *ms, size_t n)
{
	ms->page_size = n ? n : 1;
}

void memstore_ignore(struct memstore *ms, unsigned conditions)
{
	ms->ignores = conditions;
}

void memstore_list_like_s3(struct memstore *ms, bool names_first, bool reverse_pages)
{
	ms->names_first = names_first;
	ms->reverse_pages = reverse_pages;
}

unsigned long memstore_calls(struct memstore *ms, enum memstore_op op)
{
	return ms->calls[op];
}

/* ---- each call: counted, its hook run, its fault answered ---- */

/* Counts the call and runs its hook. Returns the fault to answer (rc < 0), else 0. */
static int enter(struct memstore *ms, enum memstore_op op, struct store_error *err,
                 bool *applied)
{
	ms->calls[op]++;
	struct hook h = ms->hooks[op];
	ms->hooks[op] = (struct hook){ 0 };
	if (h.fn)
		h.fn(ms, h.ctx);
	if (err)
		*err = (struct store_error){ .attempts = 1 };
	struct fault *f = &ms->faults[op];
	if (applied)
		*applied = true;
	if (f->count <= 0)
		return 0;
	f->count--;
	if (err) {
		err->status = f->status;
		snprintf(err->message, sizeof(err->message), "memstore: fault injected");
	}
	if (applied)
		*applied = f->applied;
	return f->rc;
}

/* ---- the store ---- */

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct mem_object *)a)->key, ((const struct mem_object *)b)->key);
}

/* Pages of the keys below prefix; dir: only those without a further '/'. */
static int list(struct memstore *ms, const char *prefix, bool dir, store_page_fn on_page,
                void *ctx)
{
	if (ms->nobjects)
		qsort(ms->objects, ms->nobjects, sizeof(*ms->objects), by_key);
	size_t plen = strlen(prefix), i = 0;
	do {
		int rc = enter(ms, MS_LIST, NULL, NULL);
		if (rc < 0)
			return rc;
		struct store_page page = { .objects = calloc(ms->page_size, sizeof(*page.objects)) };
		for (; i < ms->nobjects && page.nobjects < ms->page_size; i++) {
			const struct mem_object *o = &ms->objects[i];
			if (strncmp(o->key, prefix, plen) != 0 || (dir && strchr(o->key + plen, '/')))
				continue;
			page.objects[page.nobjects++] = (struct store_object){
				.key = dup_or_die(o->key), .key_len = strlen(o->key), .size = o->len,
				.mtime = o->mtime, .etag = dup_or_die(o->etag) };
		}
		rc = on_page(ctx, &page);
		if (rc != 0)
			return rc == STORE_LIST_STOP ? 0 : rc;
	} while (i < ms->nobjects);
	return 0;
}

static struct store_object object_of(const struct mem_object *o)
{
	return (struct store_object){ .key = dup_or_die(o->key), .key_len = strlen(o->key),
	                              .size = o->len, .mtime = o->mtime, .etag = dup_or_die(o->etag) };
}

/* The names directly below prefix, as the delimiter listing beside S3's flat one gives
 * them: keys in names, subdirectories in prefixes (each once: objects are in key order). */
static struct store_page names_page(struct memstore *ms, const char *prefix)
{
	size_t plen = strlen(prefix);
	struct store_page page = { .names = calloc(ms->nobjects + 1, sizeof(*page.names)),
	                           .prefixes = calloc(ms->nobjects + 1, sizeof(char *)),
	                           .names_complete = true };
	for (size_t i = 0; i < ms->nobjects; i++) {
		const char *key = ms->objects[i].key, *slash = strchr(key + plen, '/');
		if (strncmp(key, prefix, plen) != 0)
			continue;
		if (!slash) {
			page.names[page.nnames++] = object_of(&ms->objects[i]);
			continue;
		}
		char *dir = strndup(key, (size_t)(slash - key) + 1);
		if (!dir)
			abort();
		if (page.nprefixes && strcmp(page.prefixes[page.nprefixes - 1], dir) == 0)
			free(dir);
		else
			page.prefixes[page.nprefixes++] = dir;
	}
	return page;
}

/* Page k (of pages of page_size) of the matches m[0..n), with what it covers. */
static struct store_page flat_page(struct memstore *ms, const struct mem_object **m, size_t n,
                                   size_t k)
{
	size_t from = k * ms->page_size, to = from + ms->page_size < n ? from + ms->page_size : n;
	struct store_page page = { .objects = calloc(ms->page_size, sizeof(*page.objects)),
	                           .covered = true };
	for (size_t i = from; i < to; i++)
		page.objects[page.nobjects++] = object_of(m[i]);
	page.cover_after = from ? dup_or_die(m[from - 1]->key) : NULL;
	page.cover_upto = to < n ? dup_or_die(m[to - 1]->key) : NULL;
	return page;
}

/* The keys below prefix, in key order, as the store holds them now. */
static const struct mem_object **matches(struct memstore *ms, const char *prefix, size_t *n)
{
	if (ms->nobjects)
		qsort(ms->objects, ms->nobjects, sizeof(*ms->objects), by_key);
	const struct mem_object **m = calloc(ms->nobjects + 1, sizeof(*m));
	size_t plen = strlen(prefix);
	*n = 0;
	for (size_t i = 0; m && i < ms->nobjects; i++)
		if (strncmp(ms->objects[i].key, prefix, plen) == 0)
			m[(*n)++] = &ms->objects[i];
	return m;
}

/* As S3's parallel listing hands it over (memstore_list_like_s3): the names first, then
 * the flat pages in key order or the other way round, each saying what it covers (of the
 * keys as they are at its call: a hook may change them). */
static int list_like_s3(struct memstore *ms, const char *prefix, store_page_fn fn, void *ctx)
{
	size_t n, calls = 1 + ms->names_first;
	int rc = 0;
	for (size_t call = 0; rc == 0 && call < calls; call++) {
		if ((rc = enter(ms, MS_LIST, NULL, NULL)) < 0)
			break;
		const struct mem_object **m = matches(ms, prefix, &n);
		if (!m)
			return -ENOMEM;
		size_t pages = n ? (n + ms->page_size - 1) / ms->page_size : 1;
		calls = pages + ms->names_first;
		size_t k = call - ms->names_first;
		struct store_page page = ms->names_first && call == 0 ? names_page(ms, prefix) :
		                         flat_page(ms, m, n, ms->reverse_pages ? pages - 1 - k : k);
		page.names_complete |= call + 1 == calls;
		free(m);
		rc = fn(ctx, &page);
	}
	return rc == STORE_LIST_STOP ? 0 : rc;
}

static int list_all(struct store *st, const char *prefix, store_page_fn fn, void *ctx)
{
	struct memstore *ms = of_store(st);
	if (ms->names_first || ms->reverse_pages)
		return list_like_s3(ms, prefix, fn, ctx);
	return list(ms, prefix, false, fn, ctx);
}

static int list_dir(struct store *st, const char *prefix, store_page_fn fn, void *ctx)
{
	return list(of_store(st), prefix, true, fn, ctx);
}

/* Version version_id of key (NULL: the current one), or NULL where there is none or it is
 * a delete marker. */
static const struct mem_object *find_version(struct memstore *ms, const char *key,
                                             const char *version_id)
{
	const struct mem_object *o = find_object(ms, key);
	if (!version_id || (o && strcmp(o->version_id, version_id) == 0))
		return o;
	for (size_t i = 0; i < ms->nhistory; i++) {
		const struct mem_object *h = &ms->history[i];
		if (strcmp(h->key, key) == 0 && strcmp(h->version_id, version_id) == 0)
			return h->delete_marker ? NULL : h;
	}
	return NULL;
}

static int get(struct store *st, const struct store_range *r, char **data, size_t *data_len,
               struct store_object_info *info, struct store_error *err)
{
	struct memstore *ms = of_store(st);
	int rc = enter(ms, MS_GET, err, NULL);
	const struct mem_object *o = rc ? NULL : find_version(ms, r->key, r->version_id);
	if (rc == 0 && !o)
		rc = -ENOENT;
	if (rc == 0 && r->if_match && strcmp(r->if_match, o->etag) != 0)
		rc = -ECANCELED;
	if (rc < 0)
		return rc;
	size_t from = r->offset < o->len ? (size_t)r->offset : o->len;
	size_t n = o->len - from;
	if (r->len && r->len < n)
		n = (size_t)r->len;
	*data = malloc(n + 1);
	memcpy(*data, o->data + from, n);
	(*data)[n] = '\0';
	*data_len = n;
	*info = (struct store_object_info){ .size = o->len, .mtime = o->mtime };
	snprintf(info->etag, sizeof(info->etag), "%s", o->etag);
	/* S3 names the version only where the bucket has been versioned. */
	if (ms->versioning != STORE_VERSIONING_OFF)
		snprintf(info->version_id, sizeof(info->version_id), "%s", o->version_id);
	return 0;
}

/* One entry of a version listing: rank 0 is the current version, then the history's
 * entries newest first. */
struct version_ref {
	const struct mem_object *o;
	size_t rank;
};

static int by_key_then_newest(const void *a, const void *b)
{
	const struct version_ref *x = a, *y = b;
	int c = strcmp(x->o->key, y->o->key);
	return c ? c : x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Every version and delete marker below prefix, in S3's order; *n of them (malloc'd). */
static struct version_ref *versions_below(struct memstore *ms, const char *prefix, size_t *n)
{
	size_t plen = strlen(prefix);
	struct version_ref *refs = calloc(ms->nobjects + ms->nhistory + 1, sizeof(*refs));
	if (!refs)
		abort();
	*n = 0;
	for (size_t i = 0; i < ms->nobjects; i++)
		if (strncmp(ms->objects[i].key, prefix, plen) == 0)
			refs[(*n)++] = (struct version_ref){ &ms->objects[i], 0 };
	for (size_t i = 0; i < ms->nhistory; i++)
		if (strncmp(ms->history[i].key, prefix, plen) == 0)
			refs[(*n)++] = (struct version_ref){ &ms->history[i], ms->nhistory - i };
	if (*n)
		qsort(refs, *n, sizeof(*refs), by_key_then_newest);
	return refs;
}

static struct store_version version_copy(const struct version_ref *r, bool latest)
{
	const struct mem_object *o = r->o;
	return (struct store_version){
		.key = dup_or_die(o->key), .key_len = strlen(o->key),
		.version_id = dup_or_die(o->version_id), .latest = latest,
		.delete_marker = o->delete_marker, .mtime_ms = o->mtime_ms,
		.size = o->delete_marker ? 0 : o->len,
		.etag = o->delete_marker ? NULL : dup_or_die(o->etag) };
}

/* Where the page after one ending at (key, version_id) starts in refs, as S3's markers
 * say: just after that version, or, where it is gone, at the next key. */
static size_t versions_resume(const struct version_ref *refs, size_t n, const char *key,
                              const char *version_id)
{
	size_t i = 0;
	while (i < n && strcmp(refs[i].o->key, key) < 0)
		i++;
	for (size_t j = i; j < n && strcmp(refs[j].o->key, key) == 0; j++)
		if (strcmp(refs[j].o->version_id, version_id) == 0)
			return j + 1;
	while (i < n && strcmp(refs[i].o->key, key) == 0)
		i++;
	return i;
}

/* Pages of page_size entries, one call of MS_LISTVERSIONS each, each read afresh after
 * its call (so that a hook's change shows in the pages after it, as in S3's). */
static int list_versions(struct store *st, const char *prefix, store_version_fn on_page,
                         void *ctx)
{
	struct memstore *ms = of_store(st);
	char *key = NULL, *version_id = NULL;   /* the last entry handed over */
	bool more;
	int rc;
	do {
		if ((rc = enter(ms, MS_LISTVERSIONS, NULL, NULL)) < 0)
			break;
		size_t n;
		struct version_ref *refs = versions_below(ms, prefix, &n);
		size_t i = key ? versions_resume(refs, n, key, version_id) : 0;
		struct store_version_page page = {
			.versions = calloc(ms->page_size, sizeof(*page.versions)) };
		for (; i < n && page.nversions < ms->page_size; i++) {
			bool latest = i == 0 || strcmp(refs[i - 1].o->key, refs[i].o->key) != 0;
			page.versions[page.nversions++] = version_copy(&refs[i], latest);
		}
		more = i < n;
		free(refs);
		if (page.nversions) {
			free(key);
			free(version_id);
			key = dup_or_die(page.versions[page.nversions - 1].key);
			version_id = dup_or_die(page.versions[page.nversions - 1].version_id);
		}
		rc = on_page(ctx, &page);
	} while (rc == 0 && more);
	free(key);
	free(version_id);
	return rc == STORE_LIST_STOP ? 0 : rc;
}

static int versioning(struct store *st, enum store_versioning *out, struct store_error *err)
{
	struct memstore *ms = of_store(st);
	int rc = enter(ms, MS_VERSIONING, err, NULL);
	if (rc == 0)
		*out = ms->versioning;
	return rc;
}

static int md5(struct store *st, const char *key, const char *if_match, char hex[33],
               struct store_error *err)
{
	struct memstore *ms = of_store(st);
	int rc = enter(ms, MS_MD5, err, NULL);
	const struct mem_object *o = rc ? NULL : find_object(ms, key);
	if (rc == 0 && !o)
		rc = -ENOENT;
	if (rc == 0 && if_match && strcmp(if_match, o->etag) != 0)
		rc = -ECANCELED;
	if (rc == 0)
		md5_of(o->data, o->len, hex);
	return rc;
}

static int delete_if(struct store *st, const char *key, const char *if_match,
                     struct store_error *err)
{
	struct memstore *ms = of_store(st);
	bool applied;
	int fault = enter(ms, MS_DELETE, err, &applied);
	const struct mem_object *o = find_object(ms, key);
	/* if_match NULL: deleted whatever it holds, as a plain DeleteObject (only a broken
	 * caller sends one; tests of the guard look for it). */
	bool check = if_match && !(ms->ignores & MS_IGNORE_DELETE_IF_MATCH);
	int rc = !o ? -ENOENT : check && strcmp(if_match, o->etag) != 0 ? -ECANCELED : 0;
	if (rc == 0 && applied)
		memstore_remove(ms, key);
	if (rc == -ENOENT || rc == -ECANCELED)
		err->status = rc == -ENOENT ? 404 : 412;
	return fault ? fault : rc;
}

/* What put_if's condition says of o, key's current object (NULL: none): 0 (write it),
 * -EEXIST, -ECANCELED (another ETag), -ENOENT (gone), as S3 does. */
static int put_condition(const struct memstore *ms, const struct store_put *p,
                         const struct mem_object *o)
{
	if (p->if_none_match == (p->if_match != NULL))
		return -EINVAL;
	if (p->if_none_match)
		return o && !(ms->ignores & MS_IGNORE_PUT_IF_NONE_MATCH) ? -EEXIST : 0;
	if (ms->ignores & MS_IGNORE_PUT_IF_MATCH)
		return 0;
	return !o ? -ENOENT : strcmp(p->if_match, o->etag) != 0 ? -ECANCELED : 0;
}

static int put_if(struct store *st, const struct store_put *p, char etag[STORE_ETAG_MAX],
                  struct store_error *err)
{
	struct memstore *ms = of_store(st);
	bool applied;
	int fault = enter(ms, MS_PUT, err, &applied);
	etag[0] = '\0';
	int rc = put_condition(ms, p, find_object(ms, p->key));
	if (rc == 0 && applied)
		object_write(ms, p->key, p->data, p->len, ms->clock_ms);
	if (fault)
		return fault;   /* the answer lost: no ETag, whether written or not */
	if (rc == 0)
		snprintf(etag, STORE_ETAG_MAX, "%s", find_object(ms, p->key)->etag);
	else if (rc != -EINVAL)
		err->status = rc == -ENOENT ? 404 : 412;
	return rc;
}

/* The counters of ops[0..n): the first `always` of them always, the others once called,
 * as S3 and DynamoDB count a kind of request from its first. */
static void op_stats(struct memstore *ms, struct store_stats *out, const enum memstore_op *ops,
                     const char *const *names, size_t n, size_t always)
{
	*out = (struct store_stats){ 0 };
	for (size_t i = 0; i < n; i++)
		if (i < always || ms->calls[ops[i]])
			out->ops[out->nops++] = (struct store_op_stats){
				.op = names[i], .requests = ms->calls[ops[i]],
				.attempts = ms->calls[ops[i]] };
}

/* LIST, GET and DELETE always; the version calls and PUT once made. */
static void store_counts(struct store *st, struct store_stats *out)
{
	static const enum memstore_op ops[] = { MS_LIST, MS_GET, MS_DELETE, MS_LISTVERSIONS,
	                                        MS_VERSIONING, MS_PUT };
	static const char *const names[] = { "LIST", "GET", "DELETE", "LISTVERSIONS",
	                                     "VERSIONING", "PUT" };
	op_stats(of_store(st), out, ops, names, 6, 3);
}

static void store_keep(struct store *st)
{
	(void)st;
}

static const struct store_ops mem_store_ops = {
	.list_all = list_all, .list_dir = list_dir, .get = get, .list_versions = list_versions,
	.versioning = versioning, .md5 = md5, .delete_if = delete_if, .put_if = put_if,
	.stats = store_counts, .free = store_keep,
};

/* ---- the table ---- */

static char *dup_opt(const char *s)
{
	return s ? dup_or_die(s) : NULL;
}

static void item_copy(const struct mem_item *it, struct table_item *out)
{
	*out = (struct table_item){ .lock_id = dup_or_die(it->lock_id),
	                            .info = it->info ? memdup_or_die(it->info, it->info_len) : NULL,
	                            .info_len = it->info_len,
	                            .digest = dup_opt(it->digest) };
}

static int scan(struct table *t, const char *prefix, table_item_fn on_item, void *ctx,
                struct store_error *err)
{
	struct memstore *ms = of_table(t);
	int rc = enter(ms, MS_SCAN, err, NULL);
	for (size_t i = 0; i < ms->nitems && rc == 0; i++) {
		if (strncmp(ms->items[i].lock_id, prefix, strlen(prefix)) != 0)
			continue;
		struct table_item item;
		item_copy(&ms->items[i], &item);
		rc = on_item(ctx, &item);
		table_item_free(&item);
	}
	return rc;
}

static int get_item(struct table *t, const char *lock_id, struct table_item *item,
                    struct store_error *err)
{
	struct memstore *ms = of_table(t);
	int rc = enter(ms, MS_GETITEM, err, NULL);
	const struct mem_item *it = rc ? NULL : find_item(ms, lock_id);
	if (rc == 0 && !it)
		rc = -ENOENT;
	if (rc == 0)
		item_copy(it, item);
	return rc;
}

/* Does item it exist with exactly this Info? */
static bool info_is(const struct mem_item *it, const char *info, size_t info_len)
{
	return it && it->info && it->info_len == info_len && memcmp(it->info, info, info_len) == 0;
}

static int delete_if_info(struct table *t, const char *lock_id, const char *info,
                          size_t info_len, struct store_error *err)
{
	struct memstore *ms = of_table(t);
	bool applied;
	int fault = enter(ms, MS_DELETEITEM, err, &applied);
	bool same = info_is(find_item(ms, lock_id), info, info_len);
	if (same && applied)
		memstore_remove_item(ms, lock_id);
	if (!same)
		err->status = 400;
	return fault ? fault : same ? 0 : -ECANCELED;
}

/* As DynamoDB: if_info NULL, only where no item has that LockID (-EEXIST); else only while
 * its Info is if_info (-ECANCELED, the item gone included: one condition cannot tell). */
static int put_item_if(struct table *t, const char *lock_id, const char *info, size_t info_len,
                       const char *if_info, size_t if_info_len, struct store_error *err)
{
	struct memstore *ms = of_table(t);
	bool applied;
	int fault = enter(ms, MS_PUTITEM, err, &applied);
	const struct mem_item *it = find_item(ms, lock_id);
	int rc = !if_info ? (it ? -EEXIST : 0) : info_is(it, if_info, if_info_len) ? 0 : -ECANCELED;
	if (rc == 0 && applied)
		item_write(ms, lock_id, info, info_len);
	if (fault)
		return fault;
	if (rc < 0)
		err->status = 400;   /* DynamoDB's ConditionalCheckFailedException */
	return rc;
}

static const char *describe(const struct table *t)
{
	(void)t;
	return "memory table";
}

static void table_counts(struct table *t, struct store_stats *out)
{
	static const enum memstore_op ops[] = { MS_SCAN, MS_GETITEM, MS_DELETEITEM, MS_PUTITEM };
	static const char *const names[] = { "Scan", "GetItem", "DeleteItem", "PutItem" };
	op_stats(of_table(t), out, ops, names, 4, 3);
}

static void table_keep(struct table *t)
{
	(void)t;
}

static const struct table_ops mem_table_ops = {
	.scan = scan, .get = get_item, .delete_if_info = delete_if_info, .put_if = put_item_if,
	.describe = describe, .stats = table_counts, .free = table_keep,
};

/* ---- the whole ---- */

struct memstore *memstore_new(void)
{
	struct memstore *ms = calloc(1, sizeof(*ms));
	if (!ms)
		abort();
	ms->store.ops = &mem_store_ops;
	ms->table.ops = &mem_table_ops;
	ms->page_size = 1000;
	ms->clock_ms = MEM_DEFAULT_CLOCK_MS;
	return ms;
}

struct store *memstore_store(struct memstore *ms)
{
	return &ms->store;
}

struct table *memstore_table(struct memstore *ms)
{
	return &ms->table;
}

void memstore_free(struct memstore *ms)
{
	if (!ms)
		return;
	while (ms->nobjects)
		object_drop(ms, &ms->objects[0]);
	for (size_t i = 0; i < ms->nhistory; i++) {
		free(ms->history[i].key);
		free(ms->history[i].data);
	}
	free(ms->history);
	while (ms->nitems)
		memstore_remove_item(ms, ms->items[0].lock_id);
	free(ms->objects);
	free(ms->items);
	free(ms);
}
