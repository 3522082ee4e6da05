/* What old versions say, read once each and kept: a version never changes. */
#include "fs/vread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fs/lock.h"
#include "fs/lockinfo.h"
#include "util/log.h"

#define VREAD_BUCKETS 4096

/* One version read (or being read): its key and version id, and what it said. */
struct ventry {
	char *key, *version_id;
	struct vfacts facts;
	struct lockinfo lock;       /* owns the strings facts points at */
	struct ventry *next;
};

struct vread {
	struct store *store;
	pthread_mutex_t lock;       /* guards the table and the counts */
	/* json-c builds a whole state in memory (stateinfo bounds one such tree): one parse
	 * at a time keeps that the peak, not one per thread. */
	pthread_mutex_t parse_lock;
	struct ventry *table[VREAD_BUCKETS];
	unsigned long long gets, held;
};

int vread_new(struct store *store, struct vread **out)
{
	struct vread *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return -ENOMEM;
	vr->store = store;
	pthread_mutex_init(&vr->lock, NULL);
	pthread_mutex_init(&vr->parse_lock, NULL);
	*out = vr;
	return 0;
}

void vread_free(struct vread *vr)
{
	if (!vr)
		return;
	for (size_t i = 0; i < VREAD_BUCKETS; i++) {
		for (struct ventry *e = vr->table[i], *next; e; e = next) {
			next = e->next;
			lockinfo_free(&e->lock);
			free(e->key);
			free(e->version_id);
			free(e);
		}
	}
	pthread_mutex_destroy(&vr->lock);
	pthread_mutex_destroy(&vr->parse_lock);
	free(vr);
}

void vread_counts(struct vread *vr, unsigned long long *gets, unsigned long long *held)
{
	pthread_mutex_lock(&vr->lock);
	*gets = vr->gets;
	*held = vr->held;
	pthread_mutex_unlock(&vr->lock);
}

static size_t slot_of(const char *key, const char *version_id)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)version_id; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % VREAD_BUCKETS);
}

/* The facts kept for key's version, or NULL. Called with vr->lock held. */
static const struct vfacts *lookup(struct vread *vr, const char *key, const char *version_id)
{
	for (const struct ventry *e = vr->table[slot_of(key, version_id)]; e; e = e->next)
		if (strcmp(e->key, key) == 0 && strcmp(e->version_id, version_id) == 0)
			return &e->facts;
	return NULL;
}

/* What a version's bytes say, into e (its lock fields owned by e->lock). */
static void understand(struct vread *vr, struct ventry *e, bool is_lock, const char *data,
                       size_t len)
{
	if (is_lock) {
		if (lockinfo_parse(data, len, &e->lock) < 0)
			return;
		e->facts.id = e->lock.id;
		e->facts.who = e->lock.who;
		e->facts.operation = e->lock.operation;
		e->facts.version = e->lock.version;
		e->facts.read = true;
		return;
	}
	char why[160];
	pthread_mutex_lock(&vr->parse_lock);
	int rc = stateinfo_parse(data, len, &e->facts.state, why, sizeof(why));
	pthread_mutex_unlock(&vr->parse_lock);
	if (rc == 0)
		e->facts.read = true;
	else
		log_debug("%s (version %s): %s", e->key, e->version_id, why);
}

/* Reads one version with a GET and keeps what it says. Returns the facts, or NULL. */
static const struct vfacts *read_one(struct vread *vr, const struct vread_job *job)
{
	struct ventry *e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(job->key)) || !(e->version_id = strdup(job->version_id))) {
		if (e)
			free(e->key);
		free(e);
		return NULL;
	}
	struct store_range r = { .key = job->key, .version_id = job->version_id,
	                         .len = job->is_lock ? LOCK_MAX_BYTES + 1
	                                             : (uint64_t)STATEINFO_MAX_BYTES + 1 };
	char *data = NULL;
	size_t len = 0;
	struct store_object_info info;
	struct store_error err;
	int rc = store_get(vr->store, &r, &data, &len, &info, &err);
	if (rc == 0) {
		understand(vr, e, job->is_lock, data, len);
	} else {
		char desc[512];
		store_error_describe(&err, desc, sizeof(desc));
		log_warn("reading version %s of %s failed: %s", job->version_id, job->key, desc);
	}
	free(data);
	pthread_mutex_lock(&vr->lock);
	vr->gets++;
	const struct vfacts *have = lookup(vr, job->key, job->version_id);
	if (!have && rc == 0) {
		size_t i = slot_of(job->key, job->version_id);
		e->next = vr->table[i];
		vr->table[i] = e;
		vr->held++;
		have = &e->facts;
		e = NULL;
	}
	pthread_mutex_unlock(&vr->lock);
	if (e) {
		lockinfo_free(&e->lock);
		free(e->key);
		free(e->version_id);
		free(e);
	}
	return have;
}

/* The jobs a pool of threads shares: each takes the next one not yet done. */
struct pool {
	struct vread *vr;
	struct vread_job *jobs;
	size_t n, next;
	pthread_mutex_t lock;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		size_t i = p->next < p->n ? p->next++ : p->n;
		pthread_mutex_unlock(&p->lock);
		if (i == p->n)
			return NULL;
		if (!p->jobs[i].facts)
			p->jobs[i].facts = read_one(p->vr, &p->jobs[i]);
	}
}

int vread_all(struct vread *vr, struct vread_job *jobs, size_t n)
{
	size_t missing = 0;
	pthread_mutex_lock(&vr->lock);
	for (size_t i = 0; i < n; i++)
		if (!(jobs[i].facts = lookup(vr, jobs[i].key, jobs[i].version_id)))
			missing++;
	pthread_mutex_unlock(&vr->lock);
	if (!missing)
		return 0;
	struct pool p = { .vr = vr, .jobs = jobs, .n = n };
	pthread_mutex_init(&p.lock, NULL);
	pthread_t threads[VREAD_THREADS];
	size_t started = 0;
	/* The calling thread works too, so that a thread that cannot start costs nothing. */
	for (; started + 1 < VREAD_THREADS && started + 1 < missing; started++)
		if (pthread_create(&threads[started], NULL, worker, &p) != 0)
			break;
	worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&p.lock);
	return 0;
}
