/* The past of the mount's states from a versioned bucket: versions listed, each lock key's
 * versions turned into locks taken and released, and each state version joined to the
 * lock held when it was written. */
#include "fs/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/lock.h"
#include "util/log.h"
#include "util/timeparse.h"
#include "util/tsv.h"

struct history {
	struct store *store;
	const struct keymap *map;
	struct vread *vread;
};

int history_new(struct store *store, const struct keymap *map, struct history **out)
{
	struct history *h = calloc(1, sizeof(*h));
	if (!h || vread_new(store, &h->vread) < 0) {
		free(h);
		return -ENOMEM;
	}
	h->store = store;
	h->map = map;
	*out = h;
	return 0;
}

void history_free(struct history *h)
{
	if (!h)
		return;
	vread_free(h->vread);
	free(h);
}

void history_counts(struct history *h, unsigned long long *gets, unsigned long long *held)
{
	vread_counts(h->vread, gets, held);
}

int history_versioning(struct history *h, enum store_versioning *out)
{
	struct store_error err;
	int rc = store_versioning(h->store, out, &err);
	if (rc < 0) {
		char desc[512];
		store_error_describe(&err, desc, sizeof(desc));
		log_warn("reading the bucket's versioning failed: %s", desc);
	}
	return rc;
}

/* ---- the versions a listing gives, kept in its order ---- */

/* The versions kept of one listing (their strings taken over from the pages). */
struct vlist {
	struct store_version *v;
	size_t n, cap;
	const char *only_key;       /* keep this key and its lock key only; NULL: lock keys */
	int error;
};

static void vlist_free(struct vlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].version_id);
		free(l->v[i].etag);
	}
	free(l->v);
}

/* Is key one that l keeps: the state's own key and its ".tflock", or any lock key? */
static bool wanted(const struct vlist *l, const struct store_version *v)
{
	if (strlen(v->key) != v->key_len)
		return false;   /* a NUL inside: no path names it */
	if (!l->only_key)
		return lock_name(v->key);
	size_t n = strlen(l->only_key);
	return strncmp(v->key, l->only_key, n) == 0 &&
	       (v->key[n] == '\0' || strcmp(v->key + n, ".tflock") == 0);
}

static int take_versions(void *ctx, struct store_version_page *page)
{
	struct vlist *l = ctx;
	for (size_t i = 0; i < page->nversions; i++) {
		struct store_version *v = &page->versions[i];
		if (!wanted(l, v))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct store_version *a = realloc(l->v, cap * sizeof(*a));
			if (!a) {
				store_version_page_free(page);
				return -ENOMEM;
			}
			l->v = a;
			l->cap = cap;
		}
		l->v[l->n++] = *v;
		v->key = v->version_id = v->etag = NULL;
	}
	store_version_page_free(page);
	return 0;
}

/* ---- locks: each version of a lock key ---- */

/* The locks of one lock key's versions v[0..n) (newest first, as listed), appended to
 * *locks; a version is released when the next newer entry (a delete marker, or a lock
 * written over it) came. */
static int add_locks(const struct store_version *v, size_t n, const char *state_path,
                     struct hist_lock **locks, size_t *nlocks, struct hist_clutter *clutter)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].delete_marker) {
			if (clutter)
				clutter->lock_delete_markers++;
			continue;
		}
		if (!v[i].latest && clutter)
			clutter->noncurrent_lock_versions++;
		struct hist_lock *a = realloc(*locks, (*nlocks + 1) * sizeof(*a));
		if (!a)
			return -ENOMEM;
		*locks = a;
		struct hist_lock *l = &a[(*nlocks)++];
		*l = (struct hist_lock){ .acquired_ms = v[i].mtime_ms, .held = v[i].latest,
		                         .released_ms = i > 0 ? v[i - 1].mtime_ms : 0 };
		l->state_path = strdup(state_path);
		l->key = strdup(v[i].key);
		l->version_id = strdup(v[i].version_id);
		if (!l->state_path || !l->key || !l->version_id)
			return -ENOMEM;
	}
	return 0;
}

void hist_locks_free(struct hist_lock *locks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(locks[i].state_path);
		free(locks[i].key);
		free(locks[i].version_id);
	}
	free(locks);
}

static int by_acquired(const void *a, const void *b)
{
	const struct hist_lock *x = a, *y = b;
	if (x->acquired_ms != y->acquired_ms)
		return x->acquired_ms < y->acquired_ms ? -1 : 1;
	return strcmp(x->state_path, y->state_path);
}

/* Reads what each lock says. */
static int read_locks(struct history *h, struct hist_lock *locks, size_t n)
{
	struct vread_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct vread_job){ .key = locks[i].key, .version_id = locks[i].version_id,
		                              .is_lock = true };
	int rc = vread_all(h->vread, jobs, n);
	for (size_t i = 0; i < n && rc == 0; i++)
		locks[i].facts = jobs[i].facts;
	free(jobs);
	return rc;
}

/* The locks of every lock key in l (its entries grouped by key, newest first). */
static int locks_of_list(const struct history *h, enum listing_mode mode, const struct vlist *l,
                         struct hist_lock **locks, size_t *n, struct hist_clutter *clutter)
{
	int rc = 0;
	for (size_t i = 0; i < l->n && rc == 0;) {
		size_t j = i;
		while (j < l->n && strcmp(l->v[j].key, l->v[i].key) == 0)
			j++;
		char *path = NULL, *state = NULL;
		int v = keymap_key_to_path(h->map, mode, l->v[i].key, l->v[i].key_len, &path);
		if (v == KEY_FILE && (state = lock_state_key(path)))
			rc = add_locks(&l->v[i], j - i, state, locks, n, clutter);
		else
			rc = v < 0 ? v : 0;
		free(path);
		free(state);
		i = j;
	}
	return rc;
}

int history_all_locks(struct history *h, bool read, struct hist_lock **out, size_t *n,
                      struct hist_clutter *clutter)
{
	*out = NULL;
	*n = 0;
	*clutter = (struct hist_clutter){ 0 };
	struct listing ls[2];
	int nl = keymap_dir_listings(h->map, "", ls), rc = nl < 0 ? nl : 0;
	for (int i = 0; i < nl; i++) {
		struct vlist l = { 0 };
		if (rc == 0)
			rc = store_list_versions(h->store, ls[i].s3_prefix, take_versions, &l);
		if (rc == 0)
			rc = locks_of_list(h, ls[i].mode, &l, out, n, clutter);
		vlist_free(&l);
		keymap_listing_free(&ls[i]);
	}
	if (rc == 0 && *n)
		qsort(*out, *n, sizeof(**out), by_acquired);
	if (rc == 0 && read)
		rc = read_locks(h, *out, *n);
	if (rc < 0) {
		hist_locks_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* ---- one state ---- */

void hist_state_free(struct hist_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nversions; i++) {
		free(s->versions[i].version_id);
		free(s->versions[i].etag);
		free(s->versions[i].name);
	}
	free(s->versions);
	hist_locks_free(s->locks, s->nlocks);
	free(s->path);
	free(s->key);
	free(s);
}

/* A version's file name: its time, then its id with any '/' made '_' (no path holds one). */
static char *version_name(const struct store_version *v)
{
	char when[TIME_RFC3339_MS_LEN], *name = NULL;
	time_format_rfc3339_ms(v->mtime_ms, when, sizeof(when));
	if (asprintf(&name, "%s_%s", when, v->version_id) < 0)
		return NULL;
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '_';
	return name;
}

/* The state's own entries (newest first in v[0..n)) as versions, oldest first. */
static int add_versions(struct hist_state *s, const struct store_version *v, size_t n)
{
	if (!(s->versions = calloc(n ? n : 1, sizeof(*s->versions))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct store_version *e = &v[n - 1 - i];
		struct hist_version *o = &s->versions[s->nversions++];
		*o = (struct hist_version){ .mtime_ms = e->mtime_ms, .deleted = e->delete_marker,
		                            .size = e->size };
		o->version_id = strdup(e->version_id);
		o->etag = e->etag ? strdup(e->etag) : NULL;
		o->name = e->delete_marker ? NULL : version_name(e);
		if (!o->version_id || (e->etag && !o->etag) || (!e->delete_marker && !o->name))
			return -ENOMEM;
	}
	return 0;
}

/* The lock held when a version was written at ms: taken at or before it and released at
 * or after it; of several, the last taken. */
static const struct hist_lock *held_at(const struct hist_state *s, int64_t ms)
{
	const struct hist_lock *found = NULL;
	for (size_t i = 0; i < s->nlocks; i++) {
		const struct hist_lock *l = &s->locks[i];
		if (l->acquired_ms <= ms && (l->held || ms <= l->released_ms))
			found = l;
	}
	return found;
}

static int fill_state(struct hist_state *s, const struct vlist *l)
{
	size_t key_len = strlen(s->key), nstate = 0;
	while (nstate < l->n && l->v[nstate].key_len == key_len)
		nstate++;   /* the state's key sorts before its ".tflock" */
	int rc = add_versions(s, l->v, nstate);
	if (rc == 0 && nstate < l->n)
		rc = add_locks(&l->v[nstate], l->n - nstate, s->path, &s->locks, &s->nlocks, NULL);
	if (rc == 0 && s->nlocks)
		qsort(s->locks, s->nlocks, sizeof(*s->locks), by_acquired);
	for (size_t i = 0; rc == 0 && i < s->nversions; i++)
		if (!s->versions[i].deleted)
			s->versions[i].lock = held_at(s, s->versions[i].mtime_ms);
	return rc;
}

int history_state(struct history *h, const char *path, struct hist_state **out)
{
	struct hist_state *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path)) || !(s->key = keymap_path_to_key(h->map, path))) {
		hist_state_free(s);
		return -ENOMEM;
	}
	struct vlist l = { .only_key = s->key };
	int rc = store_list_versions(h->store, s->key, take_versions, &l);
	if (rc == 0 && l.n == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = fill_state(s, &l);
	vlist_free(&l);
	if (rc < 0) {
		hist_state_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int history_facts(struct history *h, const char *key, const char *version_id,
                  const struct vfacts **out)
{
	struct vread_job job = { .key = key, .version_id = version_id };
	int rc = vread_all(h->vread, &job, 1);
	*out = job.facts;
	return rc;
}

int history_read(struct history *h, struct hist_state *s)
{
	struct vread_job *jobs = calloc(s->nversions ? s->nversions : 1, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < s->nversions; i++)
		if (!s->versions[i].deleted)
			jobs[n++] = (struct vread_job){ .key = s->key,
			                                .version_id = s->versions[i].version_id };
	int rc = vread_all(h->vread, jobs, n);
	for (size_t i = 0, j = 0; rc == 0 && i < s->nversions; i++)
		if (!s->versions[i].deleted)
			s->versions[i].facts = jobs[j++].facts;
	free(jobs);
	return rc == 0 ? read_locks(h, s->locks, s->nlocks) : rc;
}

/* ---- the lines ---- */

/* A field of a line, "-" when unknown or empty. */
static void put_field(FILE *out, const char *s)
{
	if (s && *s)
		tsv_put_field(out, s);
	else
		fputc('-', out);
}

static void put_lock_fields(FILE *out, const struct hist_lock *l)
{
	const struct vfacts *f = l ? l->facts : NULL;
	put_field(out, f ? f->id : NULL);
	fputc('\t', out);
	put_field(out, f ? f->who : NULL);
	fputc('\t', out);
	put_field(out, f ? f->operation : NULL);
}

void history_put_index(const struct hist_state *s, FILE *out)
{
	for (size_t i = 0; i < s->nversions; i++) {
		const struct hist_version *v = &s->versions[i];
		const struct stateinfo *si = v->facts && v->facts->read ? &v->facts->state : NULL;
		char when[TIME_RFC3339_MS_LEN];
		time_format_rfc3339_ms(v->mtime_ms, when, sizeof(when));
		fprintf(out, "%s\t", when);
		put_field(out, v->version_id);
		if (v->deleted) {
			fputs("\tdeleted\t-\t-\t-\t-\t-\t-\n", out);
			continue;
		}
		fprintf(out, "\t%" PRIu64 "\t", v->size);
		if (si && si->has_serial)
			fprintf(out, "%" PRIu64, si->serial);
		else
			fputc('-', out);
		fputc('\t', out);
		put_field(out, si ? si->lineage : NULL);
		fputc('\t', out);
		put_field(out, si ? si->terraform_version : NULL);
		fputc('\t', out);
		put_lock_fields(out, v->lock);
		fputc('\n', out);
	}
}

void history_put_locks(const struct hist_lock *locks, size_t n, int64_t now_ms, FILE *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct hist_lock *l = &locks[i];
		char taken[TIME_RFC3339_MS_LEN], released[TIME_RFC3339_MS_LEN];
		time_format_rfc3339_ms(l->acquired_ms, taken, sizeof(taken));
		if (l->held)
			snprintf(released, sizeof(released), "held");
		else
			time_format_rfc3339_ms(l->released_ms, released, sizeof(released));
		int64_t until = l->held ? now_ms : l->released_ms;
		put_field(out, l->state_path);
		fputc('\t', out);
		put_lock_fields(out, l);
		fputc('\t', out);
		put_field(out, l->facts ? l->facts->version : NULL);
		fprintf(out, "\t%s\t%s\t%" PRId64 "\n", taken, released,
		        until > l->acquired_ms ? (until - l->acquired_ms) / 1000 : 0);
	}
}
