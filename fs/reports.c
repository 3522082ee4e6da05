/* The files of /.tfstatefs/: locks, migration, status, stats, metrics. Each is built when
 * opened; those about locks from one flat listing of the mount and one snapshot of the
 * lock table, joined by state path. */
#include "fs/reports.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "util/clock.h"
#include "util/log.h"
#include "util/prom.h"
#include "util/timeparse.h"
#include "util/tsv.h"

#define MEMO_BUCKETS 1024

/* A state's MD5 for one ETag: a state is read for its digest once per version. */
struct md5_memo {
	char *key;
	char etag[130];
	char md5[33];
	struct md5_memo *next;
};

struct reports {
	struct reports_config cfg;
	pthread_mutex_t lock;       /* guards memo */
	struct md5_memo *memo[MEMO_BUCKETS];
};

int reports_new(const struct reports_config *cfg, struct reports **out)
{
	struct reports *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void reports_free(struct reports *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < MEMO_BUCKETS; i++) {
		for (struct md5_memo *m = r->memo[i], *next; m; m = next) {
			next = m->next;
			free(m->key);
			free(m);
		}
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- what the bucket and the table hold, joined by state path ---- */

/* One object of the listing. */
struct object {
	char *path;
	char *key;
	char etag[130];
	bool is_lock;
};

/* What is known of one state path: its object, its lockfile, its table entry. */
struct row {
	char *path;                 /* the state's path (owned) */
	char *state_key;            /* owned */
	const struct object *state, *lockfile;
	const struct lt_entry *entry;
};

struct inventory {
	const struct keymap *map;
	enum listing_mode mode;
	struct object *objects;
	size_t nobjects, cap;
	struct row *rows;
	size_t nrows;
	const struct lt_snapshot *snap;     /* NULL without a table */
};

static void inventory_free(struct inventory *inv, struct locktable *table)
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
			struct object *a = realloc(inv->objects, cap * sizeof(*a));
			if (!a) {
				free(path);
				rc = -ENOMEM;
				break;
			}
			inv->objects = a;
			inv->cap = cap;
		}
		struct object *obj = &inv->objects[inv->nobjects++];
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

static int add_row(struct inventory *inv, struct row *r)
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
	return strcmp(((const struct row *)a)->path, ((const struct row *)b)->path);
}

/* One row per fact, sorted by path, then each path's facts folded into its first row. */
static void fold_rows(struct inventory *inv)
{
	qsort(inv->rows, inv->nrows, sizeof(*inv->rows), by_path);
	size_t out = 0;
	for (size_t i = 0; i < inv->nrows; i++) {
		struct row *r = &inv->rows[i], *prev = out ? &inv->rows[out - 1] : NULL;
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
		const struct object *o = &inv->objects[i];
		struct row r = { .path = state_of(o->path, o->is_lock),
		                 .state_key = state_of(o->key, o->is_lock) };
		*(o->is_lock ? &r.lockfile : &r.state) = o;
		rc = add_row(inv, &r);
	}
	for (size_t i = 0; i < nentries && rc == 0; i++) {
		const struct lt_entry *e = &inv->snap->entries[i];
		struct row r = { .entry = e, .state_key = strdup(e->state_key) };
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

static int inventory_take(struct reports *r, struct inventory *inv)
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
static bool table_known(const struct inventory *inv)
{
	return inv->snap && !inv->snap->error;
}

/* ---- output ---- */

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* One lock as the reports give it: a state's lock in one backend, or in both with one ID. */
struct lock_line {
	const char *path;           /* the state's path */
	const char *backend;        /* "s3", "dynamodb" or "s3 dynamodb" */
	bool s3, ddb;               /* the backends that hold it */
	const struct lockinfo *info;    /* fields "?" when S3 would not give the lockfile */
	const struct lock_part *part;   /* the part it comes from, NULL when unread */
};

typedef int (*lock_line_fn)(void *ctx, const struct lock_line *l);

static int lock_line(lock_line_fn fn, void *ctx, const struct row *row, const char *backend,
                     const struct lock_part *part, const struct lockinfo *info)
{
	struct lock_line l = { .path = row->path, .backend = backend, .info = info, .part = part,
	                       .s3 = strncmp(backend, "s3", 2) == 0,
	                       .ddb = strstr(backend, "dynamodb") != NULL };
	return fn(ctx, &l);
}

/* The locks of one state, one at a time to fn: one when both backends hold the same lock,
 * one per backend otherwise. */
static int each_lock_of(struct reports *r, const struct row *row, lock_line_fn fn, void *ctx)
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
static int each_lock(struct reports *r, const struct inventory *inv, lock_line_fn fn, void *ctx)
{
	int rc = 0;
	for (size_t i = 0; i < inv->nrows && rc == 0; i++)
		rc = each_lock_of(r, &inv->rows[i], fn, ctx);
	return rc;
}

/* path, backend, ID, Who, Operation, Created. The lockinfo fields come escaped already. */
static int put_lock_line(void *ctx, const struct lock_line *l)
{
	FILE *out = ctx;
	tsv_put_field(out, l->path);
	fprintf(out, "\t%s\t", l->backend);
	tsv_put_field(out, or_empty(l->info->id));
	fputc('\t', out);
	tsv_put_field(out, or_empty(l->info->who));
	fputc('\t', out);
	tsv_put_field(out, or_empty(l->info->operation));
	fputc('\t', out);
	tsv_put_field(out, or_empty(l->info->created));
	fputc('\n', out);
	return 0;
}

static int render_locks(struct reports *r, FILE *out)
{
	struct inventory inv;
	int rc = inventory_take(r, &inv);
	if (rc == 0)
		rc = each_lock(r, &inv, put_lock_line, out);
	inventory_free(&inv, r->cfg.locks->table);
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

static bool memo_get(struct reports *r, const struct object *o, char md5[33])
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
static void memo_put(struct reports *r, const struct object *o, const char md5[33])
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
                                 const struct row *row)
{
	if (!table_known(inv))
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
static bool first_write(const struct row *row)
{
	bool held = row->lockfile || (row->entry && row->entry->info);
	return held && !row->state && !(row->entry && row->entry->digest);
}

/* What the migration report says of one state. A half-lock is a state held in one backend
 * while its digest shows the other in use: held in S3 only while the last write went
 * through the table (digest match), or in DynamoDB only while a write has since gone past
 * it (mismatch). Either way, runners configured for the other backend alone are not kept
 * out. */
struct migration {
	bool s3, ddb;               /* held in each */
	const char *ddb_s;          /* "held", "free", "unknown" */
	const char *digest;         /* one of migration_digests */
	const char *note;           /* one of migration_notes */
};

/* Does the migration report have a line for row? */
static bool migration_has(const struct row *row)
{
	bool ddb_facts = row->entry && (row->entry->info || row->entry->digest);
	return row->state || row->lockfile || ddb_facts;
}

static const char *const migration_digests[] = { "none", "match", "mismatch", "unknown" };
static const char *const migration_notes[] = { "-", "half-lock", "new", "orphan" };
#define MIGRATION_VALUES 4

static void migration_of(struct reports *r, const struct inventory *inv, const struct row *row,
                         struct migration *m)
{
	m->s3 = row->lockfile != NULL;
	m->ddb = row->entry && row->entry->info;
	m->digest = digest_status(r, inv, row);
	m->ddb_s = !table_known(inv) ? "unknown" : m->ddb ? "held" : "free";
	bool half = table_known(inv) && row->state &&
	            ((m->s3 && !m->ddb && strcmp(m->digest, "match") == 0) ||
	             (m->ddb && !m->s3 && strcmp(m->digest, "mismatch") == 0));
	m->note = !row->state ? (first_write(row) ? "new" : "orphan") : half ? "half-lock" : "-";
}

/* path, S3 lockfile, DynamoDB lock, digest, note. */
static int render_migration(struct reports *r, FILE *out)
{
	struct inventory inv;
	int rc = inventory_take(r, &inv);
	for (size_t i = 0; i < inv.nrows && rc == 0; i++) {
		const struct row *row = &inv.rows[i];
		struct migration m;
		if (!migration_has(row))
			continue;
		migration_of(r, &inv, row, &m);
		tsv_put_field(out, row->path);
		fprintf(out, "\t%s\t%s\t%s\t%s\n", m.s3 ? "held" : "free", m.ddb_s, m.digest, m.note);
	}
	inventory_free(&inv, r->cfg.locks->table);
	return rc;
}

/* ---- status ---- */

static const char *versioning_name(enum store_versioning v)
{
	return v == STORE_VERSIONING_ENABLED ? "Enabled" : v == STORE_VERSIONING_SUSPENDED
	       ? "Suspended" : "off";
}

/* Whether the bucket keeps versions, and what its lock keys leave behind there: the
 * clutter a lifecycle rule has to clean up. */
static void put_versioning(struct reports *r, FILE *out)
{
	if (!r->cfg.history)
		return;
	enum store_versioning v;
	struct hist_lock *locks = NULL;
	size_t n = 0;
	struct hist_clutter c;
	if (history_versioning(r->cfg.history, &v) < 0) {
		fputs("versioning\tunknown\n", out);
		return;
	}
	fprintf(out, "versioning\t%s\n", versioning_name(v));
	if (history_all_locks(r->cfg.history, false, &locks, &n, &c) == 0)
		fprintf(out, "lock_versions_noncurrent\t%llu\nlock_delete_markers\t%llu\n",
		        c.noncurrent_lock_versions, c.lock_delete_markers);
	hist_locks_free(locks, n);
}

static int render_status(struct reports *r, FILE *out)
{
	fputs(r->cfg.cfg->status, out);
	put_versioning(r, out);
	struct locktable *table = r->cfg.locks->table;
	if (!table)
		return 0;
	const struct lt_snapshot *snap = locktable_snapshot(table, LT_FOR_LOOKUP);
	char health[640];
	locktable_health(table, health, sizeof(health));
	fprintf(out, "dynamodb_status\t");
	tsv_put_field(out, health);
	fputc('\n', out);
	if (snap && !snap->error)
		fprintf(out, "dynamodb_items\t%zu\n", snap->count);
	locktable_release(table, snap);
	return 0;
}

/* ---- lock history ---- */

static int render_lock_history(struct reports *r, FILE *out)
{
	if (!r->cfg.history)
		return 0;
	struct hist_lock *locks = NULL;
	size_t n = 0;
	struct hist_clutter c;
	int rc = history_all_locks(r->cfg.history, true, &locks, &n, &c);
	if (rc == 0) {
		history_put_locks(locks, n, clock_real_ms(), out);
	}
	hist_locks_free(locks, n);
	return rc;
}

/* ---- stats ---- */

/* A kind of request as stats and metrics name it: "LIST" -> "list", "GetItem" -> "getitem". */
static void op_name(const char *op, char buf[32])
{
	size_t n = 0;
	for (const char *p = op; *p && n + 1 < 32; p++)
		buf[n++] = (char)tolower((unsigned char)*p);
	buf[n] = '\0';
}

/* "s3_list_requests 11" and the like: one service's counters by kind of request. */
static void put_service_stats(FILE *out, const char *service, const struct store_stats *st)
{
	for (size_t i = 0; i < st->nops; i++) {
		const struct store_op_stats *o = &st->ops[i];
		char op[32];
		op_name(o->op, op);
		fprintf(out, "%s_%s_requests\t%llu\n%s_%s_retries\t%llu\n%s_%s_failures\t%llu\n"
		        "%s_%s_bytes_in\t%llu\n", service, op, o->requests, service, op,
		        o->attempts - o->requests, service, op, o->failures, service, op, o->bytes_in);
	}
}

static int render_stats(struct reports *r, FILE *out)
{
	struct store_stats st;
	struct tree_stats ts;
	store_stats(r->cfg.locks->store, &st);
	put_service_stats(out, "s3", &st);
	if (r->cfg.locks->table) {
		locktable_stats(r->cfg.locks->table, &st);
		put_service_stats(out, "dynamodb", &st);
	}
	tree_get_stats(r->cfg.tree, &ts);
	fprintf(out, "tree_lookups\t%llu\ntree_dirs_read\t%llu\ntree_listings\t%llu\n"
	        "tree_keys_listed\t%llu\ntree_lock_scans\t%llu\ntree_lock_fetches\t%llu\n"
	        "tree_probes\t%llu\ntree_entries\t%llu\n",
	        ts.lookups, ts.dirs_read, ts.listings, ts.keys_listed, ts.lock_scans, ts.lock_fetches,
	        ts.probes, ts.nodes);
	struct reader_stats rs;
	reader_budget_stats(r->cfg.budget, &rs);
	fprintf(out, "read_cache_bytes\t%llu\nread_cache_peak_bytes\t%llu\nread_cache_limit_bytes\t%llu\n"
	        "read_ahead_fetches\t%llu\nread_ahead_hits\t%llu\nread_small_fetches\t%llu\n",
	        (unsigned long long)rs.bytes, (unsigned long long)rs.peak_bytes,
	        (unsigned long long)rs.limit_bytes, (unsigned long long)rs.ahead_fetches,
	        (unsigned long long)rs.ahead_hits, (unsigned long long)rs.small_fetches);
	if (r->cfg.history) {
		unsigned long long gets, held;
		history_counts(r->cfg.history, &gets, &held);
		fprintf(out, "history_version_gets\t%llu\nhistory_versions_held\t%llu\n", gets, held);
	}
	events_put_stats(r->cfg.events, out);
	return 0;
}

/* ---- metrics ---- */

/* What one pass over the inventory counts for the metrics. */
struct metrics_pass {
	FILE *ages;                 /* the tfstatefs_lock_age_seconds samples, in path order */
	double now;                 /* seconds since the epoch */
	unsigned long long s3_locks, ddb_locks;
	double oldest;              /* the oldest lock's age, 0 without one */
	unsigned long long states;
	unsigned long long notes[MIGRATION_VALUES], digests[MIGRATION_VALUES];
};

static size_t index_of(const char *const *names, const char *s)
{
	size_t i = 0;
	while (i + 1 < MIGRATION_VALUES && strcmp(names[i], s) != 0)
		i++;
	return i;
}

/* When a lock was taken, in seconds since the epoch: its Created, else the lockfile's time
 * (as the lock file's mtime). False for a lock unread or with neither. */
static bool lock_since(const struct lock_line *l, double *since)
{
	int64_t ms;
	if (!l->part)
		return false;
	if (time_parse_rfc3339_ms(l->info->created, &ms) == 0)
		*since = (double)ms / 1000;
	else if (l->part->mtime > 0)
		*since = (double)l->part->mtime;
	else
		return false;
	return true;
}

static void put_label(FILE *out, const char *sep, const char *name, const char *value)
{
	fprintf(out, "%s%s=\"", sep, name);
	prom_put_label_value(out, value);
	fputc('"', out);
}

/* Counts a lock by backend and writes its age, labelled as the locks report's line. */
static int count_lock(void *ctx, const struct lock_line *l)
{
	struct metrics_pass *p = ctx;
	double since;
	p->s3_locks += l->s3;
	p->ddb_locks += l->ddb;
	if (!lock_since(l, &since))
		return 0;
	double age = p->now - since;
	p->oldest = age > p->oldest ? age : p->oldest;
	fputs("tfstatefs_lock_age_seconds", p->ages);
	put_label(p->ages, "{", "path", l->path);
	put_label(p->ages, ",", "backend", l->backend);
	put_label(p->ages, ",", "who", or_empty(l->info->who));
	put_label(p->ages, ",", "operation", or_empty(l->info->operation));
	put_label(p->ages, ",", "id", or_empty(l->info->id));
	fprintf(p->ages, "} %.3f\n", age);
	return 0;
}

/* The states and their migration notes and digests, as the migration report has them. */
static void count_states(struct reports *r, const struct inventory *inv, struct metrics_pass *p)
{
	for (size_t i = 0; i < inv->nrows; i++) {
		const struct row *row = &inv->rows[i];
		struct migration m;
		p->states += row->state != NULL;
		if (!migration_has(row))
			continue;
		migration_of(r, inv, row, &m);
		p->notes[index_of(migration_notes, m.note)]++;
		p->digests[index_of(migration_digests, m.digest)]++;
	}
}

static void put_lock_metrics(FILE *out, const struct metrics_pass *p, const char *ages,
                             const struct inventory *inv)
{
	prom_put_family(out, "tfstatefs_lock_age_seconds", "gauge",
	                "Seconds since each lock was taken (now - Created), as the locks report lists them.");
	fputs(ages, out);
	prom_put_family(out, "tfstatefs_locks", "gauge",
	                "Locks held, by backend; a lock held in both counts in each.");
	fprintf(out, "tfstatefs_locks{backend=\"s3\"} %llu\n", p->s3_locks);
	if (table_known(inv))
		fprintf(out, "tfstatefs_locks{backend=\"dynamodb\"} %llu\n", p->ddb_locks);
	prom_put_family(out, "tfstatefs_lock_oldest_age_seconds", "gauge",
	                "Seconds since the oldest lock was taken, 0 when none is held.");
	fprintf(out, "tfstatefs_lock_oldest_age_seconds %.3f\n", p->oldest);
}

static void put_state_metrics(FILE *out, const struct metrics_pass *p)
{
	prom_put_family(out, "tfstatefs_states", "gauge", "State objects under the mount.");
	fprintf(out, "tfstatefs_states %llu\n", p->states);
	prom_put_family(out, "tfstatefs_migration_states", "gauge",
	                "Lines of the migration report, by note.");
	for (size_t i = 0; i < MIGRATION_VALUES; i++)
		fprintf(out, "tfstatefs_migration_states{note=\"%s\"} %llu\n", migration_notes[i],
		        p->notes[i]);
	prom_put_family(out, "tfstatefs_migration_digests", "gauge",
	                "Lines of the migration report, by DynamoDB digest status.");
	for (size_t i = 0; i < MIGRATION_VALUES; i++)
		fprintf(out, "tfstatefs_migration_digests{digest=\"%s\"} %llu\n", migration_digests[i],
		        p->digests[i]);
}

/* The request counters of stats, one family per kind of count, each by service and op. */
static void put_request_metrics(struct reports *r, FILE *out)
{
	static const struct { const char *name, *help; } families[] = {
		{ "tfstatefs_requests_total", "Requests sent, by service and kind." },
		{ "tfstatefs_request_retries_total", "Requests sent again after a retryable answer." },
		{ "tfstatefs_request_failures_total", "Requests that failed after their retries." },
	};
	struct store_stats st[2];
	const char *service[2] = { "s3", "dynamodb" };
	size_t nservices = 1;
	store_stats(r->cfg.locks->store, &st[0]);
	if (r->cfg.locks->table)
		locktable_stats(r->cfg.locks->table, &st[nservices++]);
	for (size_t f = 0; f < 3; f++) {
		prom_put_family(out, families[f].name, "counter", families[f].help);
		for (size_t s = 0; s < nservices; s++) {
			for (size_t i = 0; i < st[s].nops; i++) {
				const struct store_op_stats *o = &st[s].ops[i];
				char op[32];
				op_name(o->op, op);
				fprintf(out, "%s{service=\"%s\",op=\"%s\"} %llu\n", families[f].name, service[s],
				        op, f == 0 ? o->requests : f == 1 ? o->attempts - o->requests : o->failures);
			}
		}
	}
}

static void put_unlock_metrics(struct reports *r, FILE *out)
{
	if (!r->cfg.unlocks)
		return;
	prom_put_family(out, "tfstatefs_unlocks_total", "counter",
	                "Guarded unlocks (rm of a lock file), by the audit's result.");
	for (int i = 0; i < GUARD_RESULTS; i++)
		fprintf(out, "tfstatefs_unlocks_total{result=\"%s\"} %llu\n", guard_result_names[i],
		        atomic_load(&r->cfg.unlocks->by_result[i]));
}

/* Prometheus' text format: the locks and the migration from one listing and one snapshot
 * of the table, as the locks and migration reports; the table's health; the counters of
 * stats and of the guard. Families are whole, one after another. */
static int render_metrics(struct reports *r, FILE *out)
{
	struct inventory inv;
	struct metrics_pass p = { .now = (double)clock_real_ms() / 1000 };
	char *ages = NULL;
	size_t ages_len = 0;
	int rc = inventory_take(r, &inv);
	if (rc == 0 && !(p.ages = open_memstream(&ages, &ages_len)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = each_lock(r, &inv, count_lock, &p);
	if (p.ages && fclose(p.ages) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0) {
		count_states(r, &inv, &p);
		put_lock_metrics(out, &p, ages, &inv);
		put_state_metrics(out, &p);
		if (r->cfg.locks->table) {
			prom_put_family(out, "tfstatefs_lock_table_up", "gauge",
			                "1 when the DynamoDB lock table answered its last Scan, else 0.");
			fprintf(out, "tfstatefs_lock_table_up %d\n", table_known(&inv));
		}
		put_request_metrics(r, out);
		put_unlock_metrics(r, out);
	}
	free(ages);
	inventory_free(&inv, r->cfg.locks->table);
	return rc;
}

/* ---- the files ---- */

const struct report reports_table[] = {
	{ "locks", REPORT_SNAPSHOT, render_locks },
	{ "migration", REPORT_SNAPSHOT, render_migration },
	{ "status", REPORT_SNAPSHOT, render_status },
	{ "stats", REPORT_SNAPSHOT, render_stats },
	{ "lock-history", REPORT_SNAPSHOT, render_lock_history },
	{ "metrics", REPORT_SNAPSHOT, render_metrics },
	{ "history", REPORT_DIRECTORY, NULL },
	{ "events", REPORT_STREAM, NULL },
};
#define NREPORTS (sizeof(reports_table) / sizeof(reports_table[0]))
const size_t reports_count = NREPORTS;

int reports_add_files(struct tree *t, const char *dirname)
{
	const char *names[NREPORTS];
	bool dirs[NREPORTS];
	for (size_t i = 0; i < NREPORTS; i++) {
		names[i] = reports_table[i].name;
		dirs[i] = reports_table[i].build == REPORT_DIRECTORY;
	}
	return tree_add_virtual(t, dirname, names, dirs, NREPORTS);
}

int reports_render(struct reports *r, unsigned virt, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	if (virt == 0 || virt > NREPORTS || !reports_table[virt - 1].render)
		return -EINVAL;
	FILE *out = open_memstream(text, len);
	if (!out)
		return -ENOMEM;
	int rc = reports_table[virt - 1].render(r, out);
	bool failed = fclose(out) != 0;
	if (rc == 0 && failed)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*text);
		*text = NULL;
		*len = 0;
	}
	return rc;
}

bool reports_is_stream(unsigned virt)
{
	return virt >= 1 && virt <= NREPORTS && reports_table[virt - 1].build == REPORT_STREAM;
}

struct events *reports_events(struct reports *r)
{
	return r->cfg.events;
}
