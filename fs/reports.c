/* The files of /.tfstatefs/: the table of rows, and the small reports it names. */
/* locks, migration, status, lock-history and stats are here; metrics is fs/metrics.c's,
 * history/ fs/histfs.c's, events fs/events.c's. */
#include "fs/reports.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/inventory.h"
#include "fs/reports_int.h"
#include "util/clock.h"
#include "util/tsv.h"

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

/* ---- locks ---- */

/* path, backend, ID, Who, Operation, Created. The lockinfo fields come escaped already. */
static int put_lock_line(void *ctx, const struct lock_line *l)
{
	FILE *out = ctx;
	tsv_put_field(out, l->path);
	fprintf(out, "\t%s\t", l->backend);
	tsv_put_field(out, inventory_or_empty(l->info->id));
	fputc('\t', out);
	tsv_put_field(out, inventory_or_empty(l->info->who));
	fputc('\t', out);
	tsv_put_field(out, inventory_or_empty(l->info->operation));
	fputc('\t', out);
	tsv_put_field(out, inventory_or_empty(l->info->created));
	fputc('\n', out);
	return 0;
}

static int render_locks(struct reports *r, FILE *out)
{
	struct inventory inv;
	int rc = inventory_take(r, &inv);
	if (rc == 0)
		rc = inventory_each_lock(r, &inv, put_lock_line, out);
	inventory_free(&inv, r->cfg.locks->table);
	return rc;
}

/* ---- migration ---- */

/* path, S3 lockfile, DynamoDB lock, digest, note. */
static int render_migration(struct reports *r, FILE *out)
{
	struct inventory inv;
	int rc = inventory_take(r, &inv);
	for (size_t i = 0; i < inv.nrows && rc == 0; i++) {
		const struct inventory_row *row = &inv.rows[i];
		struct migration m;
		if (!inventory_migration_has(row))
			continue;
		inventory_migration_of(r, &inv, row, &m);
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

/* Asks the bucket whether it keeps versions and counts what its lock keys leave there. */
static struct versions_seen look_at_versions(struct reports *r)
{
	struct versions_seen seen = { .at = clock_mono() };
	struct hist_lock *locks = NULL;
	size_t n = 0;
	seen.known = history_versioning(r->cfg.history, &seen.versioning) == 0;
	seen.counted = seen.known &&
	               history_all_locks(r->cfg.history, false, &locks, &n, &seen.clutter) == 0;
	hist_locks_free(locks, n);
	return seen;
}

/* Whether the bucket keeps versions, and what its lock keys leave behind there: the
 * clutter a lifecycle rule has to clean up. Looked at again once cache_ttl has passed. */
static void put_versioning(struct reports *r, FILE *out)
{
	if (!r->cfg.history)
		return;
	pthread_mutex_lock(&r->lock);
	struct versions_seen seen = r->versions;
	pthread_mutex_unlock(&r->lock);
	if (!seen.counted || clock_mono() - seen.at >= r->cfg.cfg->cache_ttl) {
		seen = look_at_versions(r);
		pthread_mutex_lock(&r->lock);
		r->versions = seen;
		pthread_mutex_unlock(&r->lock);
	}
	if (!seen.known) {
		fputs("versioning\tunknown\n", out);
		return;
	}
	fprintf(out, "versioning\t%s\n", versioning_name(seen.versioning));
	if (seen.counted)
		fprintf(out, "lock_versions_noncurrent\t%llu\nlock_delete_markers\t%llu\n",
		        seen.clutter.noncurrent_lock_versions, seen.clutter.lock_delete_markers);
}

static int render_status(struct reports *r, FILE *out)
{
	const struct tfs_config *cfg = r->cfg.cfg;
	fputs(cfg->status, out);
	if (cfg->credentials_health) {
		char health[1024];
		cfg->credentials_health(cfg->credentials_ctx, health, sizeof(health));
		fprintf(out, "credentials_status\t");
		tsv_put_field(out, health);
		fputc('\n', out);
	}
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
void reports_op_name(const char *op, char buf[32])
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
		reports_op_name(o->op, op);
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

/* ---- the files ---- */

const struct report reports_table[] = {
	{ "locks", REPORT_SNAPSHOT, render_locks },
	{ "migration", REPORT_SNAPSHOT, render_migration },
	{ "status", REPORT_SNAPSHOT, render_status },
	{ "stats", REPORT_SNAPSHOT, render_stats },
	{ "lock-history", REPORT_SNAPSHOT, render_lock_history },
	{ "metrics", REPORT_SNAPSHOT, reports_render_metrics },
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
