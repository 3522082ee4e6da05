/* One open state file, read through a few chunk slots: the chunk being read, and while a
 * file is read in order, the next READER_AHEAD chunks fetched by background threads so
 * that S3's latency overlaps the copying out. Every byte a slot holds is taken from the
 * mount's budget first; a read the budget has no room for fetches only what it needs.
 * Slots and their data are only touched under the reader's lock. */
#include "fs/reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "util/log.h"

struct reader_budget {
	pthread_mutex_t lock;
	struct reader_stats st;
};

int reader_budget_new(size_t limit_bytes, struct reader_budget **out)
{
	struct reader_budget *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->st.limit_bytes = limit_bytes;
	*out = b;
	return 0;
}

void reader_budget_free(struct reader_budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void reader_budget_stats(struct reader_budget *b, struct reader_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	pthread_mutex_unlock(&b->lock);
}

/* Takes n bytes if the budget has them, or anyway when forced (a read must be answered). */
static bool budget_take(struct reader_budget *b, size_t n, bool force)
{
	pthread_mutex_lock(&b->lock);
	bool ok = force || b->st.bytes + n <= b->st.limit_bytes;
	if (ok) {
		b->st.bytes += n;
		if (b->st.bytes > b->st.peak_bytes)
			b->st.peak_bytes = b->st.bytes;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void budget_give(struct reader_budget *b, size_t n)
{
	pthread_mutex_lock(&b->lock);
	b->st.bytes -= n;
	pthread_mutex_unlock(&b->lock);
}

static void budget_count(struct reader_budget *b, uint64_t *counter)
{
	pthread_mutex_lock(&b->lock);
	(*counter)++;
	pthread_mutex_unlock(&b->lock);
}

enum slot_state { SLOT_FREE, SLOT_FETCHING, SLOT_READY };

struct slot {
	struct reader *r;
	enum slot_state state;
	uint64_t off;
	size_t want;            /* bytes asked for */
	size_t len;             /* bytes got, once READY (short at the end of the object) */
	char *data;
	size_t held;            /* of the budget */
	bool ahead, hit;        /* fetched ahead of the reader; read from since */
};

#define READER_SLOTS (1 + READER_AHEAD)

struct reader {
	struct store *store;
	struct reader_budget *budget;
	char *key;
	char *version_id;       /* NULL: the current version */
	char etag[130];         /* set at open, then only read */
	uint64_t size;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a fetch finished */
	struct slot slots[READER_SLOTS];
	uint64_t next;          /* where a read in order goes on */
	unsigned ahead_running;
};

int reader_get_failed(const char *key, int rc, const struct store_error *err)
{
	char desc[512];
	store_error_describe(err, desc, sizeof(desc));
	if (rc == -ENOENT) {
		log_info("%s: gone from the bucket since it was listed (%s)", key, desc);
		return rc;
	}
	if (rc == -ECANCELED) {
		log_warn("%s changed while it was being read: open it again to read the new version", key);
		return -ESTALE;
	}
	log_error("reading %s failed: %s", key, desc);
	return rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
}

static void slot_free(struct slot *s)
{
	budget_give(s->r->budget, s->held);
	free(s->data);
	*s = (struct slot){ .r = s->r };
}

static size_t slot_end_len(const struct slot *s)
{
	return s->state == SLOT_READY ? s->len : s->want;
}

static struct slot *covering(struct reader *r, uint64_t pos)
{
	for (int i = 0; i < READER_SLOTS; i++) {
		struct slot *s = &r->slots[i];
		if (s->state != SLOT_FREE && pos >= s->off && pos - s->off < slot_end_len(s))
			return s;
	}
	return NULL;
}

/* A slot to fetch into: a free one, else one read past (ending at or before from), else
 * with any set the one furthest ahead. NULL while every slot is being fetched. */
static struct slot *pick(struct reader *r, uint64_t from, bool any)
{
	struct slot *victim = NULL;
	for (int i = 0; i < READER_SLOTS; i++)
		if (r->slots[i].state == SLOT_FREE)
			return &r->slots[i];
	for (int i = 0; i < READER_SLOTS && !victim; i++) {
		struct slot *s = &r->slots[i];
		if (s->state == SLOT_READY && s->off + s->len <= from)
			victim = s;
	}
	for (int i = 0; i < READER_SLOTS && !victim && any; i++) {
		struct slot *s = &r->slots[i];
		if (s->state == SLOT_READY && (!victim || s->off > victim->off))
			victim = s;
	}
	if (victim)
		slot_free(victim);
	return victim;
}

/* Marks s as fetching [off, off + want), the budget for it already taken. */
static void slot_start(struct slot *s, uint64_t off, size_t want, bool ahead)
{
	s->state = SLOT_FETCHING;
	s->off = off;
	s->want = s->held = want;
	s->ahead = ahead;
}

/* Fetches slot s, marked fetching, with the lock released meanwhile. */
static int fill(struct reader *r, struct slot *s, struct store_object_info *info,
                struct store_error *err)
{
	uint64_t off = s->off;
	size_t want = s->want;
	char *data = NULL;
	size_t len = 0;
	pthread_mutex_unlock(&r->lock);
	struct store_range range = { .key = r->key, .version_id = r->version_id,
	                             .if_match = r->etag[0] ? r->etag : NULL,
	                             .offset = off, .len = want };
	int rc = store_get(r->store, &range, &data, &len, info, err);
	pthread_mutex_lock(&r->lock);
	if (rc < 0) {
		slot_free(s);
	} else {
		s->data = data;
		s->len = len;
		s->state = SLOT_READY;
		if (len < s->held) {    /* the end of the object: give back what it did not use */
			budget_give(r->budget, s->held - len);
			s->held = len;
		}
	}
	pthread_cond_broadcast(&r->changed);
	return rc;
}

static void *fetch_ahead(void *arg)
{
	struct slot *s = arg;
	struct reader *r = s->r;
	struct store_object_info info;
	struct store_error err;
	pthread_mutex_lock(&r->lock);
	/* A failure is not the reader's yet: the read that needs the chunk fetches it again
	 * and says what went wrong. */
	if (fill(r, s, &info, &err) < 0)
		log_debug("%s: fetching ahead failed (%s); it is read when needed", r->key, err.code);
	r->ahead_running--;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Starts fetching the chunk from lies in and the READER_AHEAD after it, those not held
 * or on their way already, as far as the slots and the budget allow. */
static void start_ahead(struct reader *r, uint64_t from)
{
	uint64_t first = from - from % READER_CHUNK;
	for (uint64_t off = first; off < r->size && off <= first + READER_AHEAD * (uint64_t)READER_CHUNK;
	     off += READER_CHUNK) {
		if (covering(r, off))
			continue;
		size_t want = r->size - off < READER_CHUNK ? (size_t)(r->size - off) : READER_CHUNK;
		struct slot *s = pick(r, from, false);
		if (!s || !budget_take(r->budget, want, false))
			return;
		slot_start(s, off, want, true);
		pthread_attr_t attr;
		pthread_t th;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&th, &attr, fetch_ahead, s);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			slot_free(s);
			return;
		}
		r->ahead_running++;
		budget_count(r->budget, &r->budget->st.ahead_fetches);
	}
}

#define READ_END 1   /* the object ended before the size it was opened with */

/* Fetches the chunk pos lies in, or with no budget for it, need bytes from pos (at least
 * READER_MIN_FETCH). Returns 0, READ_END, or a negative errno (logged). */
static int fetch_now(struct reader *r, uint64_t pos, size_t need)
{
	struct slot *s = pick(r, pos, true);
	if (!s) {   /* every slot on its way: wait for one */
		pthread_cond_wait(&r->changed, &r->lock);
		return 0;
	}
	uint64_t off = pos - pos % READER_CHUNK;
	size_t want = r->size - off < READER_CHUNK ? (size_t)(r->size - off) : READER_CHUNK;
	bool room = budget_take(r->budget, want, false);
	/* Short of memory, this reader first gives back what it holds, so that one taken
	 * over the budget is never more than one read's worth. */
	for (int i = 0; i < READER_SLOTS && !room; i++)
		if (r->slots[i].state == SLOT_READY)
			slot_free(&r->slots[i]);
	if (!room && !budget_take(r->budget, want, false)) {
		off = pos;
		want = need > READER_MIN_FETCH ? need : READER_MIN_FETCH;
		if (want > r->size - pos)
			want = (size_t)(r->size - pos);
		budget_take(r->budget, want, true);
		budget_count(r->budget, &r->budget->st.small_fetches);
	}
	slot_start(s, off, want, false);
	struct store_object_info info;
	struct store_error err;
	int rc = fill(r, s, &info, &err);
	if (rc < 0)
		return reader_get_failed(r->key, rc, &err);
	return s->len == 0 ? READ_END : 0;
}

int reader_open(struct store *store, struct reader_budget *budget, const char *key,
                const char *version_id, struct reader **out, struct store_object_info *info)
{
	struct reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->key = strdup(key)) || (version_id && !(r->version_id = strdup(version_id)))) {
		if (r)
			free(r->key);
		free(r);
		return -ENOMEM;
	}
	r->store = store;
	r->budget = budget;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	for (int i = 0; i < READER_SLOTS; i++)
		r->slots[i].r = r;
	/* The size is not known yet: most states fit in the first chunk. */
	size_t want = READER_CHUNK;
	bool room = budget_take(budget, want, false);
	if (!room && budget_take(budget, (want = READER_MIN_FETCH), true))
		budget_count(budget, &budget->st.small_fetches);
	struct store_error err;
	pthread_mutex_lock(&r->lock);
	slot_start(&r->slots[0], 0, want, false);
	int rc = fill(r, &r->slots[0], info, &err);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0) {
		reader_close(r);
		return reader_get_failed(key, rc, &err);
	}
	r->size = info->size;
	memcpy(r->etag, info->etag, sizeof(r->etag));
	*out = r;
	return 0;
}

ssize_t reader_read(struct reader *r, char *buf, size_t size, uint64_t offset)
{
	if (offset >= r->size)
		return 0;
	if (size > r->size - offset)
		size = (size_t)(r->size - offset);
	size_t done = 0;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	while (done < size && rc == 0) {
		uint64_t pos = offset + done;
		struct slot *s = covering(r, pos);
		if (s && s->state == SLOT_FETCHING) {
			pthread_cond_wait(&r->changed, &r->lock);
			continue;
		}
		if (!s) {
			rc = fetch_now(r, pos, size - done);
			continue;
		}
		size_t n = s->len - (size_t)(pos - s->off);
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, s->data + (pos - s->off), n);
		done += n;
		if (s->ahead && !s->hit) {
			s->hit = true;
			budget_count(r->budget, &r->budget->st.ahead_hits);
		}
	}
	/* Only a file read in order is fetched ahead: a reader that jumps about would have
	 * chunks fetched for nothing. */
	if (done && offset == r->next)
		start_ahead(r, offset + done);
	r->next = offset + done;
	pthread_mutex_unlock(&r->lock);
	return done ? (ssize_t)done : rc < 0 ? rc : 0;
}

void reader_close(struct reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	while (r->ahead_running)
		pthread_cond_wait(&r->changed, &r->lock);
	for (int i = 0; i < READER_SLOTS; i++)
		slot_free(&r->slots[i]);
	pthread_mutex_unlock(&r->lock);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
	free(r->key);
	free(r->version_id);
	free(r);
}
