/* /.tfstatefs/metrics: locks, migration and counters in Prometheus' text format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/inventory.h"
#include "fs/reports_int.h"
#include "util/clock.h"
#include "util/prom.h"
#include "util/timeparse.h"

/* What one pass over the inventory counts for the metrics. */
struct metrics_pass {
	FILE *ages;                 /* the tfstatefs_lock_age_seconds samples, in path order */
	double now;                 /* seconds since the epoch */
	unsigned long long s3_locks, ddb_locks;
	double oldest;              /* the oldest lock's age, 0 without one */
	unsigned long long states;
	unsigned long long notes[INVENTORY_MIGRATION_VALUES], digests[INVENTORY_MIGRATION_VALUES];
};

static size_t index_of(const char *const *names, const char *s)
{
	size_t i = 0;
	while (i + 1 < INVENTORY_MIGRATION_VALUES && strcmp(names[i], s) != 0)
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
	put_label(p->ages, ",", "who", inventory_or_empty(l->info->who));
	put_label(p->ages, ",", "operation", inventory_or_empty(l->info->operation));
	put_label(p->ages, ",", "id", inventory_or_empty(l->info->id));
	fprintf(p->ages, "} %.3f\n", age);
	return 0;
}

/* The states and their migration notes and digests, as the migration report has them. */
static void count_states(struct reports *r, const struct inventory *inv, struct metrics_pass *p)
{
	for (size_t i = 0; i < inv->nrows; i++) {
		const struct inventory_row *row = &inv->rows[i];
		struct migration m;
		p->states += row->state != NULL;
		if (!inventory_migration_has(row))
			continue;
		inventory_migration_of(r, inv, row, &m);
		p->notes[index_of(inventory_migration_notes, m.note)]++;
		p->digests[index_of(inventory_migration_digests, m.digest)]++;
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
	if (inventory_table_known(inv))
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
	for (size_t i = 0; i < INVENTORY_MIGRATION_VALUES; i++)
		fprintf(out, "tfstatefs_migration_states{note=\"%s\"} %llu\n",
		        inventory_migration_notes[i], p->notes[i]);
	prom_put_family(out, "tfstatefs_migration_digests", "gauge",
	                "Lines of the migration report, by DynamoDB digest status.");
	for (size_t i = 0; i < INVENTORY_MIGRATION_VALUES; i++)
		fprintf(out, "tfstatefs_migration_digests{digest=\"%s\"} %llu\n",
		        inventory_migration_digests[i], p->digests[i]);
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
				reports_op_name(o->op, op);
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
int reports_render_metrics(struct reports *r, FILE *out)
{
	struct inventory inv;
	struct metrics_pass p = { .now = (double)clock_real_ms() / 1000 };
	char *ages = NULL;
	size_t ages_len = 0;
	int rc = inventory_take(r, &inv);
	if (rc == 0 && !(p.ages = open_memstream(&ages, &ages_len)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = inventory_each_lock(r, &inv, count_lock, &p);
	if (p.ages && fclose(p.ages) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0) {
		count_states(r, &inv, &p);
		put_lock_metrics(out, &p, ages, &inv);
		put_state_metrics(out, &p);
		if (r->cfg.locks->table) {
			prom_put_family(out, "tfstatefs_lock_table_up", "gauge",
			                "1 when the DynamoDB lock table answered its last Scan, else 0.");
			fprintf(out, "tfstatefs_lock_table_up %d\n", inventory_table_known(&inv));
		}
		put_request_metrics(r, out);
		put_unlock_metrics(r, out);
	}
	free(ages);
	inventory_free(&inv, r->cfg.locks->table);
	return rc;
}
