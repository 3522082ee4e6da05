/* What the bucket and the lock table hold under the mount, joined by state path. */
#include "fs/inventory.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "util/log.h"

const char *const inventory_migration_digests[] = { "none", "match", "mismatch", "unknown" };
const char *const inventory_migration_notes[] = { "-", "half-lock", "new", "orphan" };

void inventory_free(struct inventory *inv, struct locktable *table)
{
	for (size_t i = 0; i < inv->nobjects; i++) {
		free(inv->objects[i].path);
		free(inv->objects[i].key);
	}
	for (size_t i = 0; i < inv->nrows; i++) {
		free(inv->rows[i].path);
		free(inv->rows[i].state_key);
	}
	free(inv->objects);
	free(inv->rows);
	if (inv->snap)
		locktable_release(table, inv->snap);
}

static int take_page(void *ctx, struct store_page *page)
{
	struct inventory *inv = ctx;
	int rc = 0;
	for (size_t i = 0; i < page->nobjects && rc == 0; i++) {
		const struct store_object *o = &page->objects[i];
		char *path = NULL;
		int v = keymap_key_to_path(inv->map, inv->mode, o->key, o->key_len, &path);
		if (v != KEY_FILE) {
			free(path);     /* a directory marker's: not a state */
			rc = v < 0 ? v : 0;
			continue;
		}
		if (inv->nobjects == inv->cap) {
			size_t cap = inv->cap ? inv->cap * 2 : 256;
			struct inventory_object *a = realloc(inv->objects, cap * sizeof(*a));
			if (!a) {
				free(path);
				rc = -ENOMEM;
				break;
			}
			inv->objects = a;
			inv->cap = cap;
		}
		struct inventory_object *obj = &inv->objects[inv->nobjects++];
		obj->path = path;
		obj->key = strdup(o->key);
		snprintf(obj->etag, sizeof(obj->etag), "%s", o->etag ? o->etag : "");
		obj->is_lock = lock_name(path);
		rc = obj->key ? 0 : -ENOMEM;
	}
	store_page_free(page);
	return rc;
}

/* Every object under the mount, by one flat listing per key space (the mount prefix, and
 * a prefix mount's workspaces). */
static int list_mount(struct inventory *inv, struct store *store)
{
	struct listing ls[2];
	int n = keymap_dir_listings(inv->map, "", ls), rc = n < 0 ? n : 0;
	for (int i = 0; i < n; i++) {
		inv->mode = ls[i].mode;
		if (rc == 0)
			rc = store_list_all(store, ls[i].s3_prefix, take_page, inv);
		keymap_listing_free(&ls[i]);
	}
	return rc;
}

/* Drops a trailing ".tflock" (a lock's state), or copies. */
static char *state_of(const char *s, bool is_lock)
{
	return is_lock ? lock_state_key(s) : strdup(s);
}

static int add_row(struct inventory *inv, struct inventory_row *r)
{
	if (!r->path || !r->state_key) {
		free(r->path);
		free(r->state_key);
		return -ENOMEM;
	}
	inv->rows[inv->nrows++] = *r;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	const struct inventory_row *ra = a, *rb = b;
	return strcmp(ra->path, rb->path);
}

/* One row per fact, sorted by path, then each path's facts folded into its first row. */
static void fold_rows(struct inventory *inv)
{
	qsort(inv->rows, inv->nrows, sizeof(*inv->rows), by_path);
	size_t out = 0;
	for (size_t i = 0; i < inv->nrows; i++) {
		struct inventory_row *r = &inv->rows[i], *prev = out ? &inv->rows[out - 1] : NULL;
		if (prev && strcmp(prev->path, r->path) == 0) {
			prev->state = prev->state ? prev->state : r->state;
			prev->lockfile = prev->lockfile ? prev->lockfile : r->lockfile;
			prev->entry = prev->entry ? prev->entry : r->entry;
			free(r->path);
			free(r->state_key);
			continue;
		}
		inv->rows[out++] = *r;
	}
	inv->nrows = out;
}

static int build_rows(struct inventory *inv)
{
	size_t nentries = inv->snap ? inv->snap->count : 0;
	if (!(inv->rows = calloc(inv->nobjects + nentries + 1, sizeof(*inv->rows))))
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < inv->nobjects && rc == 0; i++) {
		const struct inventory_object *o = &inv->objects[i];
		struct inventory_row r = { .path = state_of(o->path, o->is_lock),
		                 .state_key = state_of(o->key, o->is_lock) };
		*(o->is_lock ? &r.lockfile : &r.state) = o;
		rc = add_row(inv, &r);
	}
	for (size_t i = 0; i < nentries && rc == 0; i++) {
		const struct lt_entry *e = &inv->snap->entries[i];
		struct inventory_row r = { .entry = e, .state_key = strdup(e->state_key) };
		int v = keymap_any_key_to_path(inv->map, e->state_key, &r.path);
		if (v == KEY_FILE) {
			rc = add_row(inv, &r);
		} else {
			free(r.path);
			free(r.state_key);
		}
		rc = v < 0 ? v : rc;
	}
	if (rc == 0)
		fold_rows(inv);
	return rc;
}

int inventory_take(struct reports *r, struct inventory *inv)
{
	memset(inv, 0, sizeof(*inv));
	inv->map = r->cfg.map;
	struct locktable *table = r->cfg.locks->table;
	int rc = list_mount(inv, r->cfg.locks->store);
	if (rc == 0 && table && !(inv->snap = locktable_snapshot(table, LT_FOR_LOOKUP)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = build_rows(inv);
	return rc;
}

/* Is the table's word on locks known? */
bool inventory_table_known(const struct inventory *inv)
{
	return inv->snap && !inv->snap->error;
}

const char *inventory_or_empty(const char *s)
{
	return s ? s : "";
}

static int lock_line(lock_line_fn fn, void *ctx, const struct inventory_row *row,
                     const char *backend, const struct lock_part *part, const struct lockinfo *info)
{
	struct lock_line l = { .path = row->path, .backend = backend, .info = info, .part = part,
	                       .s3 = strncmp(backend, "s3", 2) == 0,
	                       .ddb = strstr(backend, "dynamodb") != NULL };
	return fn(ctx, &l);
}

/* The locks of one state, one at a time to fn: one when both backends hold the same lock,
 * one per backend otherwise. */
static int each_lock_of(struct reports *r, const struct inventory_row *row, lock_line_fn fn,
                        void *ctx)
{
	struct lock_view v = { 0 };
	int rc = row->lockfile ? lock_fetch_s3(r->cfg.locks, row->lockfile->key, &v.s3) : 0;
	if (rc == -ENOENT)
		rc = 0;  /* removed since the listing */
	if (rc < 0 && rc != -ENOMEM) {
		/* One lock S3 would not give (logged) is shown as unread, not the whole file lost. */
		static const struct lockinfo unread = { .id = "?", .who = "?", .operation = "?",
		                                        .created = "?" };
		rc = lock_line(fn, ctx, row, "s3", NULL, &unread);
	}
	if (rc == 0 && row->entry && row->entry->info)
		rc = lock_part_from_info(row->entry->info, row->entry->info_len, &v.ddb);
	if (rc == 0 && v.s3.held && v.ddb.held && !lock_ids_differ(&v)) {
		rc = lock_line(fn, ctx, row, "s3 dynamodb", &v.s3, &v.s3.info);
	} else if (rc == 0) {
		if (v.s3.held)
			rc = lock_line(fn, ctx, row, "s3", &v.s3, &v.s3.info);
		if (rc == 0 && v.ddb.held)
			rc = lock_line(fn, ctx, row, "dynamodb", &v.ddb, &v.ddb.info);
	}
	lock_part_clear(&v.s3);
	lock_part_clear(&v.ddb);
	return rc;
}

/* Every lock under the mount, in path order, to fn. */
int inventory_each_lock(struct reports *r, const struct inventory *inv, lock_line_fn fn, void *ctx)
{
	int rc = 0;
	for (size_t i = 0; i < inv->nrows && rc == 0; i++)
		rc = each_lock_of(r, &inv->rows[i], fn, ctx);
	return rc;
}

/* ---- migration ---- */

static size_t memo_slot(const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % MEMO_BUCKETS);
}

static bool memo_get(struct reports *r, const struct inventory_object *o, char md5[33])
{
	bool found = false;
	pthread_mutex_lock(&r->lock);
	for (struct md5_memo *m = r->memo[memo_slot(o->key)]; m && !found; m = m->next) {
		if (strcmp(m->key, o->key) == 0 && strcmp(m->etag, o->etag) == 0) {
			memcpy(md5, m->md5, 33);
			found = true;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

/* Keeps the MD5 of a state's version, replacing that of an older version. */
static void memo_put(struct reports *r, const struct inventory_object *o, const char md5[33])
{
	pthread_mutex_lock(&r->lock);
	struct md5_memo **slot = &r->memo[memo_slot(o->key)], *m = *slot;
	while (m && strcmp(m->key, o->key) != 0)
		m = m->next;
	if (!m && (m = calloc(1, sizeof(*m)))) {
		if ((m->key = strdup(o->key))) {
			m->next = *slot;
			*slot = m;
		} else {
			free(m);
			m = NULL;
		}
	}
	if (m) {
		snprintf(m->etag, sizeof(m->etag), "%s", o->etag);
		memcpy(m->md5, md5, 33);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Is the ETag the digest itself? It is the MD5 of a single-part upload without KMS; no
 * other ETag can equal an MD5 by chance, so equality proves a match without reading. */
static bool etag_is(const char *etag, const char *digest)
{
	size_t n = strlen(digest);
	const char *e = etag[0] == '"' ? etag + 1 : etag;
	return n == 32 && strncasecmp(e, digest, n) == 0 && (e[n] == '"' || e[n] == '\0');
}

/* "none", "match", "mismatch" (also for a digest whose state is gone: Terraform compares
 * it with nothing and refuses), or "unknown" when the table or the state cannot be read. */
static const char *digest_status(struct reports *r, const struct inventory *inv,
                                 const struct inventory_row *row)
{
	if (!inventory_table_known(inv))
		return "unknown";
	if (!row->entry || !row->entry->digest)
		return "none";
	if (!row->state)
		return "mismatch";
	if (etag_is(row->state->etag, row->entry->digest))
		return "match";
	char md5[33];
	if (!memo_get(r, row->state, md5)) {
		struct store_error err;
		int rc = store_md5(r->cfg.locks->store, row->state->key, row->state->etag, md5, &err);
		if (rc < 0) {
			char desc[512];
			store_error_describe(&err, desc, sizeof(desc));
			log_warn("reading state %s for its digest failed: %s", row->state->key, desc);
			return "unknown";
		}
		memo_put(r, row->state, md5);
	}
	return strcasecmp(md5, row->entry->digest) == 0 ? "match" : "mismatch";
}

/* A lock on a state that has no object, and no digest that says it ever had one:
 * Terraform writes the digest after each state write, and the first apply of a new state
 * writes its object only at the end. Without a table nothing tells the two apart. */
static bool first_write(const struct inventory_row *row)
{
	bool held = row->lockfile || (row->entry && row->entry->info);
	return held && !row->state && !(row->entry && row->entry->digest);
}

/* Does the migration report have a line for row? */
bool inventory_migration_has(const struct inventory_row *row)
{
	bool ddb_facts = row->entry && (row->entry->info || row->entry->digest);
	return row->state || row->lockfile || ddb_facts;
}

void inventory_migration_of(struct reports *r, const struct inventory *inv,
                            const struct inventory_row *row, struct migration *m)
{
	m->s3 = row->lockfile != NULL;
	m->ddb = row->entry && row->entry->info;
	m->digest = digest_status(r, inv, row);
	m->ddb_s = !inventory_table_known(inv) ? "unknown" : m->ddb ? "held" : "free";
	bool half = inventory_table_known(inv) && row->state &&
	            ((m->s3 && !m->ddb && strcmp(m->digest, "match") == 0) ||
	             (m->ddb && !m->s3 && strcmp(m->digest, "mismatch") == 0));
	m->note = !row->state ? (first_write(row) ? "new" : "orphan") : half ? "half-lock" : "-";
}
