/* What /.tfstatefs/events watches, looked at once, and two looks compared into events. */
#include "fs/evsnap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/locktable.h"
#include "util/memdup.h"

struct taking {
	const struct keymap *map;
	enum listing_mode mode;
	struct evsnap *s;
	size_t cap;
	struct evsnap_cost *cost;
};

static void item_clear(struct evsnap_item *it)
{
	free(it->path);
	free(it->key);
	free(it->tag);
	free(it->id);
	free(it->who);
	free(it->operation);
	memset(it, 0, sizeof(*it));
}

void evsnap_clear(struct evsnap *s)
{
	for (size_t i = 0; i < s->count; i++)
		item_clear(&s->items[i]);
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* A new item at the end (zeroed), or NULL. */
static struct evsnap_item *grow(struct taking *t)
{
	if (t->s->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct evsnap_item *a = realloc(t->s->items, cap * sizeof(*a));
		if (!a)
			return NULL;
		t->s->items = a;
		t->cap = cap;
	}
	struct evsnap_item *it = &t->s->items[t->s->count++];
	memset(it, 0, sizeof(*it));
	return it;
}

static int take_object(struct taking *t, const struct store_object *o)
{
	char *path = NULL;
	int v = keymap_key_to_path(t->map, t->mode, o->key, o->key_len, &path);
	if (v != KEY_FILE) {
		free(path);     /* a directory marker, or a key no path can name */
		return v < 0 ? v : 0;
	}
	struct evsnap_item *it = grow(t);
	if (!it) {
		free(path);
		return -ENOMEM;
	}
	bool is_lock = lock_name(path);
	it->kind = is_lock ? EVSNAP_LOCKFILE : EVSNAP_STATE;
	it->path = is_lock ? lock_state_key(path) : path;
	if (is_lock)
		free(path);
	it->key = strdup(o->key);
	it->tag = strdup(o->etag ? o->etag : "");
	it->tag_len = it->tag ? strlen(it->tag) : 0;
	it->size = o->size;
	return it->path && it->key && it->tag ? 0 : -ENOMEM;
}

static int take_page(void *ctx, struct store_page *page)
{
	struct taking *t = ctx;
	int rc = 0;
	t->cost->list_pages++;
	for (size_t i = 0; i < page->nobjects && rc == 0; i++)
		rc = take_object(t, &page->objects[i]);
	store_page_free(page);
	return rc;
}

static int list_mount(struct taking *t, struct store *store)
{
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, "", ls), rc = n < 0 ? n : 0;
	for (int i = 0; i < n; i++) {
		t->mode = ls[i].mode;
		if (rc == 0)
			rc = store_list_all(store, ls[i].s3_prefix, take_page, t);
		keymap_listing_free(&ls[i]);
	}
	return rc;
}

static int dup_or_null(const char *from, char **to)
{
	*to = NULL;
	return from && !(*to = strdup(from)) ? -ENOMEM : 0;
}

static int set_holder(struct evsnap_item *it, const struct lockinfo *li)
{
	int rc = dup_or_null(li->id, &it->id);
	if (rc == 0)
		rc = dup_or_null(li->who, &it->who);
	if (rc == 0)
		rc = dup_or_null(li->operation, &it->operation);
	return rc;
}

static int copy_item(struct taking *t, const struct evsnap_item *from)
{
	struct evsnap_item *it = grow(t);
	if (!it)
		return -ENOMEM;
	it->kind = from->kind;
	it->size = from->size;
	it->tag_len = from->tag_len;
	int rc = dup_or_null(from->path, &it->path);
	if (rc == 0)
		rc = dup_or_null(from->key, &it->key);
	if (rc == 0 && !(it->tag = memdup_nul(from->tag, from->tag_len)))
		rc = -ENOMEM;
	struct lockinfo li = { .id = from->id, .who = from->who, .operation = from->operation };
	return rc == 0 ? set_holder(it, &li) : rc;
}

/* The table's locks, or, when it does not answer, the last look's. Scanned now, not
 * taken from a snapshot lock_ttl may keep for a minute: a DynamoDB lock is seen by the
 * next look, as an S3 lockfile is. */
static int take_table(struct taking *t, const struct lock_source *src, const struct evsnap *prev)
{
	const struct lt_snapshot *snap = locktable_snapshot(src->table, LT_FRESH);
	if (!snap)
		return -ENOMEM;
	t->cost->scans++;
	int rc = 0;
	t->s->ddb_known = !snap->error;
	for (size_t i = 0; snap->error && prev && i < prev->count && rc == 0; i++)
		if (prev->items[i].kind == EVSNAP_DDB)
			rc = copy_item(t, &prev->items[i]);
	for (size_t i = 0; !snap->error && i < snap->count && rc == 0; i++) {
		const struct lt_entry *e = &snap->entries[i];
		char *path = NULL;
		int v = e->info ? keymap_any_key_to_path(t->map, e->state_key, &path) : -1;
		if (v != KEY_FILE) {
			free(path);
			rc = v == -ENOMEM ? v : 0;
			continue;
		}
		struct evsnap_item *it = grow(t);
		struct lock_part part;
		if (!it) {
			free(path);
			rc = -ENOMEM;
			break;
		}
		it->kind = EVSNAP_DDB;
		it->path = path;
		it->tag_len = e->info_len;
		if (!(it->tag = memdup_nul(e->info, e->info_len)))
			rc = -ENOMEM;
		if (rc == 0 && (rc = lock_part_from_info(e->info, e->info_len, &part)) == 0) {
			rc = set_holder(it, &part.info);
			lock_part_clear(&part);
		}
	}
	locktable_release(src->table, snap);
	return rc;
}

static int by_path_kind(const void *a, const void *b)
{
	const struct evsnap_item *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (int)x->kind - (int)y->kind;
}

static const struct evsnap_item *find(const struct evsnap *s, const struct evsnap_item *like)
{
	if (!s || !s->count)
		return NULL;
	return bsearch(like, s->items, s->count, sizeof(*s->items), by_path_kind);
}

static bool same_tag(const struct evsnap_item *a, const struct evsnap_item *b)
{
	return a->tag_len == b->tag_len && memcmp(a->tag, b->tag, a->tag_len) == 0;
}

/* Who holds each S3 lockfile: the last look's when its ETag is the same, else read. */
static int read_holders(struct taking *t, const struct lock_source *src, const struct evsnap *prev)
{
	for (size_t i = 0; i < t->s->count; i++) {
		struct evsnap_item *it = &t->s->items[i];
		if (it->kind != EVSNAP_LOCKFILE)
			continue;
		const struct evsnap_item *was = find(prev, it);
		int rc;
		if (was && same_tag(was, it)) {
			struct lockinfo li = { .id = was->id, .who = was->who, .operation = was->operation };
			rc = set_holder(it, &li);
		} else {
			struct lock_part part;
			t->cost->lock_gets++;
			rc = lock_fetch_s3(src, it->key, &part);
			if (rc == 0) {
				rc = set_holder(it, &part.info);
				lock_part_clear(&part);
			} else if (rc == -ENOENT) {
				item_clear(it);     /* gone since the listing: not there (dropped below) */
				rc = 0;
			} else if (rc != -ENOMEM) {
				rc = 0;     /* unreadable (logged): there, with no holder */
			}
		}
		if (rc < 0)
			return rc;
	}
	size_t kept = 0;
	for (size_t i = 0; i < t->s->count; i++)
		if (t->s->items[i].path)
			t->s->items[kept++] = t->s->items[i];
	t->s->count = kept;
	return 0;
}

int evsnap_take(const struct lock_source *src, const struct keymap *map,
                const struct evsnap *prev, struct evsnap *out, struct evsnap_cost *cost)
{
	memset(out, 0, sizeof(*out));
	struct taking t = { .map = map, .s = out, .cost = cost };
	int rc = list_mount(&t, src->store);
	if (rc == 0 && src->table)
		rc = take_table(&t, src, prev);
	if (rc == 0 && out->count)
		qsort(out->items, out->count, sizeof(*out->items), by_path_kind);
	if (rc == 0)
		rc = read_holders(&t, src, prev);
	if (rc < 0)
		evsnap_clear(out);
	return rc;
}

static void say(evsnap_change_fn fn, void *ctx, const char *event,
                const struct evsnap_item *item, const struct evsnap_item *before)
{
	struct evsnap_change c = { .event = event, .item = item, .before = before };
	fn(ctx, &c);
}

/* What became of one item: old is the last look's (or NULL), now this one's (or NULL). */
static void compare(const struct evsnap_item *old, const struct evsnap_item *now,
                    evsnap_change_fn fn, void *ctx)
{
	const struct evsnap_item *any = now ? now : old;
	if (any->kind == EVSNAP_STATE) {
		if (now && (!old || !same_tag(old, now)))
			say(fn, ctx, "written", now, NULL);
		return;
	}
	if (!old)
		say(fn, ctx, "locked", now, NULL);
	else if (!now)
		say(fn, ctx, "unlocked", old, NULL);
	else if (!same_tag(old, now))
		say(fn, ctx, "changed", now, old);
}

void evsnap_diff(const struct evsnap *old, const struct evsnap *now, evsnap_change_fn fn,
                 void *ctx)
{
	size_t i = 0, j = 0;
	while (i < old->count || j < now->count) {
		const struct evsnap_item *a = i < old->count ? &old->items[i] : NULL;
		const struct evsnap_item *b = j < now->count ? &now->items[j] : NULL;
		int c = !a ? 1 : !b ? -1 : by_path_kind(a, b);
		compare(c <= 0 ? a : NULL, c >= 0 ? b : NULL, fn, ctx);
		i += c <= 0;
		j += c >= 0;
	}
}
