/* Terraform's DynamoDB lock table as the filesystem sees it: one lock read fresh, a
 * conditional delete, a shared snapshot of the bucket's items, and the table's health. */
#include "fs/locktable.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/clock.h"
#include "util/log.h"

#define DIGEST_SUFFIX "-md5"

struct locktable {
	struct table *table;
	const struct tfs_config *cfg;
	char *prefix;                   /* "<bucket>/": what every LockID of this bucket starts with */
	pthread_mutex_t lock;           /* guards current, refs and health */
	pthread_mutex_t scan_lock;      /* one Scan at a time */
	struct lt_snapshot *current;
	unsigned writes;                /* deletes and puts sent by this mount so far */
	unsigned current_writes;        /* ... when current's Scan began */
	bool unhealthy;
	char health[640];
};

int locktable_new(struct table *table, const char *bucket, const struct tfs_config *cfg,
                  struct locktable **out)
{
	struct locktable *lt = calloc(1, sizeof(*lt));
	if (!lt || asprintf(&lt->prefix, "%s/", bucket) < 0) {
		free(lt);
		return -ENOMEM;
	}
	lt->table = table;
	lt->cfg = cfg;
	pthread_mutex_init(&lt->lock, NULL);
	pthread_mutex_init(&lt->scan_lock, NULL);
	snprintf(lt->health, sizeof(lt->health), "ok");
	*out = lt;
	return 0;
}

static void snapshot_free(struct lt_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++) {
		free(s->entries[i].state_key);
		free(s->entries[i].info);
		free(s->entries[i].digest);
	}
	free(s->entries);
	free(s);
}

void locktable_free(struct locktable *lt)
{
	if (!lt)
		return;
	snapshot_free(lt->current);
	pthread_mutex_destroy(&lt->lock);
	pthread_mutex_destroy(&lt->scan_lock);
	free(lt->prefix);
	free(lt);
}

void locktable_stats(struct locktable *lt, struct store_stats *out)
{
	table_stats(lt->table, out);
}

/* ---- health: a failure is logged when it starts or changes, a recovery once ---- */

static void describe_failure(struct locktable *lt, int rc, const struct store_error *err,
                             char *buf, size_t len)
{
	char detail[512];
	store_error_describe(err, detail, sizeof(detail));
	const char *hint = rc == -ENXIO ? "check -o dynamodb_table, the region and dynamodb_endpoint"
	                 : rc == -EACCES ? "the credentials need dynamodb:Scan, dynamodb:GetItem and "
	                                   "dynamodb:DeleteItem on it"
	                 : "DynamoDB locks are not shown until it answers";
	snprintf(buf, len, "%s: %s; %s", table_describe(lt->table), detail, hint);
}

static void note_result(struct locktable *lt, int rc, const struct store_error *err)
{
	bool failed = rc < 0 && rc != -ENOENT && rc != -ECANCELED && rc != -ENOMEM;
	char msg[640] = "ok";
	if (failed)
		describe_failure(lt, rc, err, msg, sizeof(msg));
	pthread_mutex_lock(&lt->lock);
	bool changed = strcmp(msg, lt->health) != 0;
	bool recovered = lt->unhealthy && !failed;
	snprintf(lt->health, sizeof(lt->health), "%s", msg);
	lt->unhealthy = failed;
	pthread_mutex_unlock(&lt->lock);
	if (failed && changed)
		log_error("%s", msg);
	else if (recovered)
		log_info("%s answers again", table_describe(lt->table));
}

void locktable_health(struct locktable *lt, char *buf, size_t len)
{
	pthread_mutex_lock(&lt->lock);
	snprintf(buf, len, "%s", lt->health);
	pthread_mutex_unlock(&lt->lock);
}

/* ---- the snapshot ---- */

/* Items as scanned, before a state's lock and digest items are joined. */
struct scanned {
	const char *prefix;         /* "<bucket>/" */
	struct lt_entry *e;
	size_t n, cap;
};

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct lt_entry *)a)->state_key, ((const struct lt_entry *)b)->state_key);
}

/* Takes over what item says about a state: a lock (Info) or a digest ("-md5" + Digest). */
static int scanned_add(void *ctx, struct table_item *item)
{
	struct scanned *sc = ctx;
	const char *key = item->lock_id + strlen(sc->prefix);
	size_t klen = strlen(key), slen = strlen(DIGEST_SUFFIX);
	bool digest = item->digest && klen > slen && strcmp(key + klen - slen, DIGEST_SUFFIX) == 0;
	if (!digest && !item->info)
		return 0;  /* neither a lock nor a digest: not Terraform's */
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct lt_entry *e = realloc(sc->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		sc->e = e;
		sc->cap = cap;
	}
	struct lt_entry *e = &sc->e[sc->n];
	memset(e, 0, sizeof(*e));
	if (!(e->state_key = strndup(key, digest ? klen - slen : klen)))
		return -ENOMEM;
	if (digest) {
		e->digest = item->digest;
		item->digest = NULL;
	} else {
		e->info = item->info;
		e->info_len = item->info_len;
		item->info = NULL;
	}
	sc->n++;
	return 0;
}

/* Sorts the items by state and joins each state's lock and digest into one entry. */
static void join_entries(struct scanned *sc, struct lt_snapshot *s)
{
	if (sc->n)
		qsort(sc->e, sc->n, sizeof(*sc->e), by_key);  /* qsort(NULL, 0) is undefined */
	size_t out = 0;
	for (size_t i = 0; i < sc->n; i++) {
		struct lt_entry *e = &sc->e[i];
		struct lt_entry *prev = out ? &sc->e[out - 1] : NULL;
		if (prev && strcmp(prev->state_key, e->state_key) == 0) {
			if (e->info && !prev->info) {
				prev->info = e->info;
				prev->info_len = e->info_len;
				e->info = NULL;
			}
			if (e->digest && !prev->digest) {
				prev->digest = e->digest;
				e->digest = NULL;
			}
			free(e->state_key);
			free(e->info);
			free(e->digest);
			continue;
		}
		sc->e[out++] = *e;
	}
	s->entries = sc->e;
	s->count = out;
}

static struct lt_snapshot *take_snapshot(struct locktable *lt)
{
	struct lt_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	struct scanned sc = { .prefix = lt->prefix };
	struct store_error err = { 0 };
	s->taken_at = clock_mono();
	s->error = table_scan(lt->table, lt->prefix, scanned_add, &sc, &err);
	note_result(lt, s->error, &err);
	if (s->error < 0) {
		for (size_t i = 0; i < sc.n; i++) {
			free(sc.e[i].state_key);
			free(sc.e[i].info);
			free(sc.e[i].digest);
		}
		free(sc.e);
	} else {
		join_entries(&sc, s);
	}
	s->refs = 1;  /* the table's own reference */
	return s;
}

static const struct lt_snapshot *hold_if_young(struct locktable *lt, double max_age_s)
{
	pthread_mutex_lock(&lt->lock);
	struct lt_snapshot *s = lt->current;
	/* A snapshot older than this mount's last delete may still show the lock removed. */
	if (s && lt->current_writes == lt->writes && clock_mono() - s->taken_at < max_age_s)
		s->refs++;
	else
		s = NULL;
	pthread_mutex_unlock(&lt->lock);
	return s;
}

const struct lt_snapshot *locktable_snapshot(struct locktable *lt, enum lt_use use)
{
	double max_age_s = use == LT_FOR_LISTING ? lt->cfg->lock_list_ttl :
	                   use == LT_FOR_LOOKUP ? lt->cfg->lock_ttl : 0;
	const struct lt_snapshot *s = hold_if_young(lt, max_age_s);
	if (s)
		return s;
	pthread_mutex_lock(&lt->scan_lock);
	/* Another thread may have scanned while this one waited. */
	if (!(s = hold_if_young(lt, max_age_s))) {
		pthread_mutex_lock(&lt->lock);
		unsigned writes = lt->writes;
		pthread_mutex_unlock(&lt->lock);
		struct lt_snapshot *fresh = take_snapshot(lt);
		if (fresh) {
			pthread_mutex_lock(&lt->lock);
			struct lt_snapshot *old = lt->current;
			lt->current = fresh;
			lt->current_writes = writes;
			fresh->refs++;
			bool free_old = old && --old->refs == 0;
			pthread_mutex_unlock(&lt->lock);
			if (free_old)
				snapshot_free(old);
		}
		s = fresh;
	}
	pthread_mutex_unlock(&lt->scan_lock);
	return s;
}

void locktable_release(struct locktable *lt, const struct lt_snapshot *s)
{
	if (!s)
		return;
	struct lt_snapshot *m = (struct lt_snapshot *)s;
	pthread_mutex_lock(&lt->lock);
	bool last = --m->refs == 0;
	pthread_mutex_unlock(&lt->lock);
	if (last)
		snapshot_free(m);
}

size_t lt_snapshot_lower_bound(const struct lt_snapshot *s, const char *prefix)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->entries[mid].state_key, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct lt_entry *lt_snapshot_find(const struct lt_snapshot *s, const char *state_key)
{
	size_t i = lt_snapshot_lower_bound(s, state_key);
	return i < s->count && strcmp(s->entries[i].state_key, state_key) == 0 ? &s->entries[i] : NULL;
}

/* ---- one lock ---- */

int locktable_get_lock(struct locktable *lt, const char *state_key, char **info, size_t *len)
{
	char *lock_id = NULL;
	if (asprintf(&lock_id, "%s%s", lt->prefix, state_key) < 0)
		return -ENOMEM;
	struct table_item item = { 0 };
	struct store_error err = { 0 };
	int rc = table_get(lt->table, lock_id, &item, &err);
	note_result(lt, rc, &err);
	if (rc == 0 && !item.info)
		rc = -ENOENT;
	if (rc == 0) {
		*info = item.info;
		*len = item.info_len;
		item.info = NULL;
	}
	table_item_free(&item);
	free(lock_id);
	return rc;
}

/* Whatever a write of this mount did, the snapshot no longer says what the table holds:
 * the next readdir must not bring back a lock it has just removed, nor miss one it made. */
static void wrote(struct locktable *lt)
{
	pthread_mutex_lock(&lt->lock);
	lt->writes++;
	pthread_mutex_unlock(&lt->lock);
}

int locktable_delete_lock(struct locktable *lt, const char *state_key, const char *info,
                          size_t info_len, struct store_error *err)
{
	char *lock_id = NULL;
	if (asprintf(&lock_id, "%s%s", lt->prefix, state_key) < 0)
		return -ENOMEM;
	int rc = table_delete_if_info(lt->table, lock_id, info, info_len, err);
	free(lock_id);
	wrote(lt);
	return rc;
}

int locktable_put_lock(struct locktable *lt, const char *state_key, const char *info,
                       size_t info_len, const char *if_info, size_t if_info_len,
                       struct store_error *err)
{
	char *lock_id = NULL;
	if (asprintf(&lock_id, "%s%s", lt->prefix, state_key) < 0)
		return -ENOMEM;
	int rc = table_put_if(lt->table, lock_id, info, info_len, if_info, if_info_len, err);
	free(lock_id);
	wrote(lt);
	return rc;
}
