/* Unit tests for tests/unit/memstore.c's versions: the bucket the history tests stand on
 * must keep versions as S3 does (the story below is what radosgw answered). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "memstore.h"
#include "check.h"

#define KEY "env:/prod/terraform.tfstate"
#define T0 1795858728000    /* 2026-11-28T09:38:48.000Z */

/* Every entry of a listing, pages joined; how many pages it took. */
struct listing {
	struct store_version v[64];
	size_t n, pages;
	int stop_after;          /* pages taken before answering STORE_LIST_STOP; 0: never */
};

static int take(void *ctx, struct store_version_page *pg)
{
	struct listing *l = ctx;
	l->pages++;
	for (size_t i = 0; i < pg->nversions && l->n < 64; i++) {
		l->v[l->n++] = pg->versions[i];
		pg->versions[i] = (struct store_version){ 0 };
	}
	store_version_page_free(pg);
	return l->stop_after && (int)l->pages >= l->stop_after ? STORE_LIST_STOP : 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].version_id);
		free(l->v[i].etag);
	}
	l->n = 0;
}

static int list(struct memstore *ms, const char *prefix, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	return store_list_versions(memstore_store(ms), prefix, take, l);
}

/* Reads version vid of key (NULL: the current one) whole; *data is freed by the caller. */
static int read_version(struct memstore *ms, const char *key, const char *vid, char **data,
                        struct store_object_info *info)
{
	struct store_range r = { .key = key, .version_id = vid };
	struct store_error err;
	size_t len;
	*data = NULL;
	return store_get(memstore_store(ms), &r, data, &len, info, &err);
}

static void check_read(struct memstore *ms, const char *vid, const char *want)
{
	char *data;
	struct store_object_info info;
	CHECK_INT(read_version(ms, KEY, vid, &data, &info), 0);
	CHECK_STR(data, want);
	CHECK_STR(info.version_id, vid);
	free(data);
}

/* Never versioned: each object once, "null", and reads name no version. */
static void test_off(void)
{
	struct memstore *ms = memstore_new();
	memstore_put(ms, KEY, "one", 0);
	memstore_put(ms, KEY, "two", 0);
	memstore_put(ms, "other/terraform.tfstate", "x", 0);
	enum store_versioning v = STORE_VERSIONING_ENABLED;
	struct store_error err;
	CHECK_INT(store_versioning(memstore_store(ms), &v, &err), 0);
	CHECK_INT(v, STORE_VERSIONING_OFF);
	struct listing l;
	CHECK_INT(list(ms, "env:/", &l), 0);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.v[0].key, KEY);
	CHECK_STR(l.v[0].version_id, "null");
	CHECK(l.v[0].latest && !l.v[0].delete_marker);
	CHECK_INT(l.v[0].size, 3);
	CHECK_INT(l.v[0].mtime_ms, 1764322728000);
	CHECK_STR(l.v[0].etag, memstore_etag(ms, KEY));
	listing_free(&l);
	char *data;
	struct store_object_info info;
	CHECK_INT(read_version(ms, KEY, NULL, &data, &info), 0);
	CHECK_STR(data, "two");
	CHECK_STR(info.version_id, "");
	free(data);
	CHECK_INT(read_version(ms, KEY, "null", &data, &info), 0);
	free(data);
	CHECK_INT(read_version(ms, KEY, "v1", &data, &info), -ENOENT);
	memstore_remove(ms, KEY);   /* gone, no marker */
	CHECK_INT(list(ms, "env:/", &l), 0);
	CHECK_INT(l.n, 0);
	CHECK_INT(l.pages, 1);      /* an empty listing is one empty page, as S3's */
	memstore_free(ms);
}

/* Written before versioning, three times after, then deleted: radosgw's story. */
static void test_enabled(void)
{
	struct memstore *ms = memstore_new();
	memstore_put_at(ms, KEY, "pre", T0);
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	memstore_put_at(ms, KEY, "s1", T0 + 10);
	CHECK_STR(memstore_version_id(ms, KEY), "v1");
	memstore_put_at(ms, KEY, "s2", T0 + 20);
	memstore_put_at(ms, KEY, "s3", T0 + 30);
	memstore_put_at(ms, "z.tflock", "lock", T0 + 35);
	memstore_remove_at(ms, KEY, T0 + 40);
	CHECK(!memstore_has(ms, KEY));
	CHECK_STR(memstore_version_id(ms, KEY), "");

	struct listing l;
	CHECK_INT(list(ms, "", &l), 0);
	CHECK_INT(l.n, 6);
	static const struct { const char *key, *vid; bool latest, marker; int64_t ms; } want[] = {
		{ KEY, "v5", true, true, T0 + 40 }, { KEY, "v3", false, false, T0 + 30 },
		{ KEY, "v2", false, false, T0 + 20 }, { KEY, "v1", false, false, T0 + 10 },
		{ KEY, "null", false, false, T0 }, { "z.tflock", "v4", true, false, T0 + 35 },
	};
	for (size_t i = 0; i < l.n && i < 6; i++) {
		CHECK_STR(l.v[i].key, want[i].key);
		CHECK_INT(l.v[i].key_len, strlen(want[i].key));
		CHECK_STR(l.v[i].version_id, want[i].vid);
		CHECK_INT(l.v[i].latest, want[i].latest);
		CHECK_INT(l.v[i].delete_marker, want[i].marker);
		CHECK_INT(l.v[i].mtime_ms, want[i].ms);
		CHECK(want[i].marker ? l.v[i].etag == NULL && l.v[i].size == 0
		                     : l.v[i].etag != NULL && l.v[i].size >= 2);
	}
	listing_free(&l);

	check_read(ms, "v1", "s1");
	check_read(ms, "v3", "s3");
	check_read(ms, "null", "pre");
	char *data;
	struct store_object_info info;
	CHECK_INT(read_version(ms, KEY, "v5", &data, &info), -ENOENT);   /* the marker */
	CHECK_INT(read_version(ms, KEY, "v99", &data, &info), -ENOENT);
	CHECK_INT(read_version(ms, KEY, NULL, &data, &info), -ENOENT);   /* deleted */
	CHECK_INT(read_version(ms, "z.tflock", "v1", &data, &info), -ENOENT);   /* another key's */

	/* A ranged read of an old version, pinned to its ETag. */
	CHECK_INT(list(ms, KEY, &l), 0);
	char etag_v2[130];
	snprintf(etag_v2, sizeof(etag_v2), "%s", l.v[2].etag);
	listing_free(&l);
	struct store_range r = { .key = KEY, .version_id = "v2", .if_match = etag_v2, .offset = 1,
	                         .len = 5 };
	struct store_error err;
	size_t len;
	CHECK_INT(store_get(memstore_store(ms), &r, &data, &len, &info, &err), 0);
	CHECK_INT(len, 1);
	CHECK(data && data[0] == '2');
	CHECK_INT(info.size, 2);
	CHECK_INT(info.mtime, (T0 + 20) / 1000);
	free(data);
	r.if_match = "\"other\"";
	CHECK_INT(store_get(memstore_store(ms), &r, &data, &len, &info, &err), -ECANCELED);

	/* A remove where nothing is left still leaves a marker, as DeleteObject does. */
	memstore_remove_at(ms, KEY, T0 + 50);
	CHECK_INT(list(ms, KEY, &l), 0);
	CHECK_INT(l.n, 6);
	CHECK(l.v[0].delete_marker && l.v[0].latest && l.v[0].mtime_ms == T0 + 50);
	CHECK(l.v[1].delete_marker && !l.v[1].latest);
	listing_free(&l);
	memstore_free(ms);
}

/* Suspended: a write replaces the "null" version, the others stay (as radosgw did). */
static void test_suspended(void)
{
	struct memstore *ms = memstore_new();
	memstore_put_at(ms, KEY, "pre", T0);
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	memstore_put_at(ms, KEY, "s1", T0 + 10);
	memstore_remove_at(ms, KEY, T0 + 20);
	memstore_versioning(ms, STORE_VERSIONING_SUSPENDED);
	memstore_put_at(ms, KEY, "after", T0 + 30);
	struct listing l;
	CHECK_INT(list(ms, "", &l), 0);
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK_STR(l.v[0].version_id, "null");
		CHECK(l.v[0].latest && l.v[0].size == 5);
		CHECK_STR(l.v[1].version_id, "v2");
		CHECK(l.v[1].delete_marker);
		CHECK_STR(l.v[2].version_id, "v1");
	}
	listing_free(&l);
	check_read(ms, "null", "after");
	memstore_put_at(ms, KEY, "again", T0 + 40);      /* replaces "null" once more */
	memstore_remove_at(ms, KEY, T0 + 50);            /* and now a "null" marker */
	CHECK_INT(list(ms, "", &l), 0);
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK_STR(l.v[0].version_id, "null");
		CHECK(l.v[0].delete_marker && l.v[0].latest && l.v[0].mtime_ms == T0 + 50);
		CHECK_STR(l.v[1].version_id, "v2");
	}
	listing_free(&l);
	memstore_free(ms);
}

/* A delete_if that deletes leaves a marker at the clock's time; one that fails, none. */
static void test_delete_if_marker(void)
{
	struct memstore *ms = memstore_new();
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	memstore_put_at(ms, "a.tflock", "lock", T0);
	memstore_clock(ms, T0 + 999);
	struct store_error err;
	CHECK_INT(store_delete_if(memstore_store(ms), "a.tflock", "\"nope\"", &err), -ECANCELED);
	CHECK_INT(store_delete_if(memstore_store(ms), "a.tflock", memstore_etag(ms, "a.tflock"),
	                          &err), 0);
	CHECK_INT(store_delete_if(memstore_store(ms), "a.tflock", NULL, &err), -ENOENT);
	memstore_put(ms, "b.tflock", "lock", 0);         /* mtime 0: the clock too */
	struct listing l;
	CHECK_INT(list(ms, "", &l), 0);
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK(l.v[0].delete_marker && l.v[0].latest && l.v[0].mtime_ms == T0 + 999);
		CHECK(!l.v[1].delete_marker && !l.v[1].latest && l.v[1].mtime_ms == T0);
		CHECK(l.v[2].mtime_ms == T0 + 999);
	}
	listing_free(&l);
	memstore_free(ms);
}

/* put_if: create only where nothing is, replace only the ETag named; each a new version. */
static void test_put_if(void)
{
	struct memstore *ms = memstore_new();
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	struct store *st = memstore_store(ms);
	struct store_error err;
	char etag[STORE_ETAG_MAX], first[STORE_ETAG_MAX];
	struct store_put create = { .key = "a.tflock", .data = "one\0two", .len = 7,
	                            .if_none_match = true };
	CHECK_INT(store_put_if(st, &create, etag, &err), 0);
	CHECK_STR(etag, memstore_etag(ms, "a.tflock"));
	CHECK_STR(etag, "\"6431db29cc5cafa293e3c9d84f411be5\"");   /* the MD5 of all 7 bytes */
	snprintf(first, sizeof(first), "%s", etag);
	create.data = "other";
	create.len = 5;
	CHECK_INT(store_put_if(st, &create, etag, &err), -EEXIST);
	CHECK_INT(err.status, 412);
	CHECK_STR(etag, "");

	struct store_put replace = { .key = "a.tflock", .data = "three", .len = 5,
	                             .if_match = "\"nope\"" };
	CHECK_INT(store_put_if(st, &replace, etag, &err), -ECANCELED);
	CHECK_INT(err.status, 412);
	replace.if_match = first;
	CHECK_INT(store_put_if(st, &replace, etag, &err), 0);
	CHECK_STR(etag, memstore_etag(ms, "a.tflock"));
	CHECK(strcmp(etag, first) != 0);
	CHECK_INT(store_put_if(st, &replace, etag, &err), -ECANCELED);  /* first is stale now */

	char *data;
	struct store_object_info info;
	CHECK_INT(read_version(ms, "a.tflock", NULL, &data, &info), 0);
	CHECK_STR(data, "three");
	CHECK_STR(info.version_id, "v2");
	free(data);
	struct store_range r = { .key = "a.tflock", .version_id = "v1" };
	size_t len = 0;
	CHECK_INT(store_get(st, &r, &data, &len, &info, &err), 0);   /* the NUL kept */
	CHECK(len == 7 && memcmp(data, "one\0two", 7) == 0);
	free(data);

	memstore_remove(ms, "a.tflock");
	replace.if_match = first;
	CHECK_INT(store_put_if(st, &replace, etag, &err), -ENOENT);
	CHECK_INT(err.status, 404);
	CHECK(!memstore_has(ms, "a.tflock"));
	struct store_put both = { .key = "a.tflock", .data = "x", .len = 1, .if_none_match = true,
	                          .if_match = first };
	CHECK_INT(store_put_if(st, &both, etag, &err), -EINVAL);
	CHECK_INT(memstore_calls(ms, MS_PUT), 7);
	memstore_free(ms);
}

/* A put_if whose answer is lost: written or not as memstore_fail says, no ETag either way;
 * counted, hooked and shown in the stats once made. */
static void put_first(struct memstore *ms, void *ctx)
{
	memstore_put(ms, ctx, "theirs", 0);
}

static void test_put_if_faults(void)
{
	struct memstore *ms = memstore_new();
	struct store *st = memstore_store(ms);
	struct store_stats stats;
	store_stats(st, &stats);
	CHECK_INT(stats.nops, 3);
	struct store_error err;
	char etag[STORE_ETAG_MAX];
	struct store_put p = { .key = "k", .data = "mine", .len = 4, .if_none_match = true };
	memstore_fail(ms, MS_PUT, 1, -EIO, 0, false);
	CHECK_INT(store_put_if(st, &p, etag, &err), -EIO);
	CHECK_INT(err.status, 0);
	CHECK_STR(etag, "");
	CHECK(!memstore_has(ms, "k"));
	memstore_fail(ms, MS_PUT, 1, -EIO, 503, true);
	CHECK_INT(store_put_if(st, &p, etag, &err), -EIO);
	CHECK(store_error_unsure(&err, -EIO));
	CHECK_STR(etag, "");
	CHECK_STR(memstore_etag(ms, "k"), "\"918b81db5e91d031548b963c93845e5b\"");
	memstore_remove(ms, "k");
	memstore_before(ms, MS_PUT, put_first, "k");
	CHECK_INT(store_put_if(st, &p, etag, &err), -EEXIST);
	CHECK_INT(memstore_calls(ms, MS_PUT), 3);
	store_stats(st, &stats);
	CHECK_INT(stats.nops, 4);
	if (stats.nops == 4) {
		CHECK_STR(stats.ops[3].op, "PUT");
		CHECK_INT(stats.ops[3].requests, 3);
	}
	memstore_free(ms);
}

/* The table's put_if: create where no item is, replace only on the very Info. */
static void test_put_item_if(void)
{
	struct memstore *ms = memstore_new();
	struct table *t = memstore_table(ms);
	struct store_error err;
	static const char info_a[] = "{\"ID\":\"a\"}\0after a NUL", info_b[] = "{\"ID\":\"b\"}";
	CHECK_INT(table_put_if(t, "b/k", info_a, sizeof(info_a) - 1, NULL, 0, &err), 0);
	struct table_item item = { 0 };
	CHECK_INT(table_get(t, "b/k", &item, &err), 0);
	CHECK(item.info_len == sizeof(info_a) - 1 && memcmp(item.info, info_a, item.info_len) == 0);
	table_item_free(&item);
	CHECK_INT(table_put_if(t, "b/k", info_b, 10, NULL, 0, &err), -EEXIST);
	CHECK_INT(err.status, 400);
	/* The Info compared whole: the part before the NUL alone is another Info. */
	CHECK_INT(table_put_if(t, "b/k", info_b, 10, info_a, 10, &err), -ECANCELED);
	CHECK_INT(table_put_if(t, "b/k", info_b, 10, info_a, sizeof(info_a) - 1, &err), 0);
	CHECK_INT(table_get(t, "b/k", &item, &err), 0);
	CHECK(item.info_len == 10 && memcmp(item.info, info_b, 10) == 0);
	table_item_free(&item);
	CHECK_INT(table_put_if(t, "b/k", info_a, 5, info_a, sizeof(info_a) - 1, &err), -ECANCELED);
	/* Gone: the condition fails as for another Info. */
	memstore_remove_item(ms, "b/k");
	CHECK_INT(table_put_if(t, "b/k", info_a, 5, info_b, 10, &err), -ECANCELED);
	CHECK(!memstore_has_item(ms, "b/k"));
	/* Any item with that LockID is there, a digest item too; one without Info is not
	 * the Info named. */
	memstore_put_digest(ms, "b/k", "0123");
	CHECK_INT(table_put_if(t, "b/k", info_b, 10, NULL, 0, &err), -EEXIST);
	CHECK_INT(table_put_if(t, "b/k", info_b, 10, "", 0, &err), -ECANCELED);

	memstore_fail(ms, MS_PUTITEM, 1, -EIO, 0, true);
	CHECK_INT(table_put_if(t, "b/new", info_b, 10, NULL, 0, &err), -EIO);
	CHECK(memstore_has_item(ms, "b/new"));
	CHECK_INT(memstore_calls(ms, MS_PUTITEM), 9);
	struct store_stats stats;
	table_stats(t, &stats);
	CHECK_INT(stats.nops, 4);
	if (stats.nops == 4)
		CHECK_STR(stats.ops[3].op, "PutItem");
	memstore_free(ms);
}

/* Pages of memstore_page_size, each one call: counted, hooked, failed, stopped. */
static void add_version(struct memstore *ms, void *ctx)
{
	memstore_put_at(ms, ctx, "hooked", T0 + 100);
}

struct between {
	struct memstore *ms;
	struct listing l;
};

static void write_a_and_z(struct memstore *ms, void *ctx)
{
	(void)ctx;
	memstore_put_at(ms, "a", "before the listing's place", T0 + 200);
	memstore_put_at(ms, "z", "after it", T0 + 200);
}

static int take_then_write(void *ctx, struct store_version_page *pg)
{
	struct between *b = ctx;
	if (b->l.pages == 0)
		memstore_before(b->ms, MS_LISTVERSIONS, write_a_and_z, NULL);
	return take(&b->l, pg);
}

static void test_pages_and_faults(void)
{
	struct memstore *ms = memstore_new();
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	for (int i = 0; i < 5; i++)
		memstore_put_at(ms, "k", "x", T0 + i);
	memstore_page_size(ms, 2);
	memstore_before(ms, MS_LISTVERSIONS, add_version, "m");
	struct listing l;
	CHECK_INT(list(ms, "", &l), 0);
	/* The hook ran before the first page: its version is in the listing. */
	CHECK_INT(l.n, 6);
	CHECK_INT(l.pages, 3);
	CHECK_INT(memstore_calls(ms, MS_LISTVERSIONS), 3);
	for (size_t i = 0; i < l.n; i++) {
		CHECK_STR(l.v[i].key, i < 5 ? "k" : "m");
		CHECK_INT(l.v[i].latest, i == 0 || i == 5);
		if (i && i < 5)
			CHECK(l.v[i].mtime_ms < l.v[i - 1].mtime_ms);    /* newest first */
	}
	listing_free(&l);

	/* Versions written between two pages: one after where the listing is shows in the
	 * next page, one before it does not (S3's markers). */
	struct between b = { .ms = ms };
	memset(&b.l, 0, sizeof(b.l));
	CHECK_INT(store_list_versions(memstore_store(ms), "", take_then_write, &b), 0);
	CHECK_INT(b.l.n, 7);
	for (size_t i = 0; i < b.l.n; i++)
		CHECK(strcmp(b.l.v[i].key, "a") != 0);
	if (b.l.n == 7)
		CHECK(strcmp(b.l.v[6].key, "z") == 0 && b.l.v[6].latest);
	listing_free(&b.l);

	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	CHECK_INT(store_list_versions(memstore_store(ms), "", take, &l), 0);
	CHECK_INT(l.pages, 1);
	listing_free(&l);

	memstore_fail(ms, MS_LISTVERSIONS, 1, -EACCES, 403, false);
	CHECK_INT(list(ms, "", &l), -EACCES);
	CHECK_INT(l.n, 0);
	memstore_fail(ms, MS_VERSIONING, 1, -EIO, 500, false);
	enum store_versioning v = STORE_VERSIONING_OFF;
	struct store_error err;
	CHECK_INT(store_versioning(memstore_store(ms), &v, &err), -EIO);
	CHECK_INT(err.status, 500);
	CHECK_INT(store_versioning(memstore_store(ms), &v, &err), 0);
	CHECK_INT(v, STORE_VERSIONING_ENABLED);
	CHECK_INT(memstore_calls(ms, MS_VERSIONING), 2);

	struct store_stats st;
	store_stats(memstore_store(ms), &st);
	CHECK_INT(st.nops, 5);
	if (st.nops == 5) {
		CHECK_STR(st.ops[3].op, "LISTVERSIONS");
		CHECK_INT(st.ops[3].requests, memstore_calls(ms, MS_LISTVERSIONS));
		CHECK_STR(st.ops[4].op, "VERSIONING");
	}
	memstore_free(ms);

	ms = memstore_new();        /* never asked: only LIST, GET and DELETE */
	store_stats(memstore_store(ms), &st);
	CHECK_INT(st.nops, 3);
	memstore_free(ms);
}

int main(void)
{
	test_off();
	test_enabled();
	test_suspended();
	test_delete_if_marker();
	test_put_if();
	test_put_if_faults();
	test_put_item_if();
	test_pages_and_faults();
	return check_report("memstore");
}
