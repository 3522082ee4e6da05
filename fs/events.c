/* /.tfstatefs/events: changes found by polling, fanned out to each reader's bounded
 * buffer and appended to the events log as JSON lines. */
#include "fs/events.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/stateinfo.h"
#include "util/clock.h"
#include "util/jsonline.h"
#include "util/log.h"
#include "util/timeparse.h"
#include "util/tsv.h"

/* How often a waiting read looks whether the session is ending. */
#define STOP_CHECK_NS 200000000L
/* Locks the guard removed, not told again when a look finds them gone: how many, and for
 * how many looks. */
#define SUPPRESS_MAX 64
#define SUPPRESS_LOOKS 3

struct line {
	char *text;
	size_t len;
	unsigned long long lost_before;     /* lines lost just before this one */
};

struct events_reader {
	struct events *ev;
	struct events_reader *prev, *next;
	struct line *ring;
	size_t cap, head, count, bytes;
	unsigned long long lost;    /* lost since the last line kept */
	char *pending;              /* the line being read, in parts */
	size_t pending_len, pending_off;
	bool interrupted;
};

/* A lock the guard removed (path, kind, tag, and its ID when known: told "unlocked"
 * once), or one this mount made (path, kind, its ID in tag: "locked" and "changed" not
 * told while it lasts). */
struct suppress {
	char *path;
	enum evsnap_kind kind;
	char *tag;
	size_t tag_len;
	char *id;
	bool made;
	int looks_left;
};

struct events {
	struct events_config cfg;
	int log_fd;
	pthread_mutex_t lock;       /* guards everything below but base */
	pthread_cond_t readable;    /* a reader has something, or reads end */
	pthread_cond_t poke;        /* the poller: stop, or look now */
	struct events_reader *readers;
	size_t nreaders;
	bool stopping, shut, poll_now, drop_base;
	struct suppress sup[SUPPRESS_MAX];
	size_t nsup;
	unsigned long long polls, poll_failures, lines, lost;
	struct evsnap_cost cost;
	pthread_mutex_t poll_lock;  /* one look at a time; guards base */
	struct evsnap base;
	bool has_base;
	pthread_t thread;
	bool has_thread;
};

/* ---- lines ---- */

/* One change as its fields; NULL is "-". */
struct event_fields {
	const char *event, *path, *backend, *lock_id, *who, *operation, *detail;
};

static void put_field(FILE *out, const char *s, bool last)
{
	tsv_put_field(out, s && *s ? s : "-");
	fputc(last ? '\n' : '\t', out);
}

/* time event state_path backend lock_id who operation detail */
static char *tsv_line(const char *when, const struct event_fields *f, size_t *len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, len);
	if (!out)
		return NULL;
	fprintf(out, "%s\t%s\t", when, f->event);
	put_field(out, f->path, false);
	put_field(out, f->backend, false);
	put_field(out, f->lock_id, false);
	put_field(out, f->who, false);
	put_field(out, f->operation, false);
	put_field(out, f->detail, true);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The events log's line: the same fields as JSON, "-" as null. */
static void log_line(int fd, const char *when, const struct event_fields *f)
{
	json_object *o = json_object_new_object();
	if (!o) {
		log_error("events log: a line could not be built: out of memory");
		return;
	}
	jsonline_put(o, "time", when);
	jsonline_put(o, "event", f->event);
	jsonline_put(o, "state", f->path);
	jsonline_put(o, "backend", f->backend);
	jsonline_put(o, "lock_id", f->lock_id);
	jsonline_put(o, "who", f->who);
	jsonline_put(o, "operation", f->operation);
	jsonline_put(o, "detail", f->detail);
	jsonline_write(fd, o, "events log");
	json_object_put(o);
}

/* Keeps a copy of the line for r, or counts it lost when r's buffer is full. */
static void reader_push(struct events *ev, struct events_reader *r, const char *text, size_t len)
{
	char *copy = NULL;
	if (r->count == r->cap || r->bytes + len > EVENTS_READER_BYTES || !(copy = malloc(len))) {
		r->lost++;
		ev->lost++;
		return;
	}
	memcpy(copy, text, len);
	struct line *l = &r->ring[(r->head + r->count) % r->cap];
	*l = (struct line){ .text = copy, .len = len, .lost_before = r->lost };
	r->lost = 0;
	r->count++;
	r->bytes += len;
}

/* To every reader and the log (one write(2) a line: see util/jsonline.h). */
static void publish(struct events *ev, const struct event_fields *f)
{
	char when[TIME_RFC3339_MS_LEN];
	time_format_rfc3339_ms(clock_real_ms(), when, sizeof(when));
	size_t len = 0;
	char *text = tsv_line(when, f, &len);
	pthread_mutex_lock(&ev->lock);
	ev->lines++;
	for (struct events_reader *r = ev->readers; r; r = r->next) {
		if (text)
			reader_push(ev, r, text, len);
		else
			r->lost++;
	}
	pthread_cond_broadcast(&ev->readable);
	pthread_mutex_unlock(&ev->lock);
	free(text);
	if (ev->log_fd >= 0)
		log_line(ev->log_fd, when, f);
}

/* ---- looks ---- */

/* The serial of a state's new version: one GET of that version. "-" when it cannot say. */
static void state_serial(struct events *ev, const struct evsnap_item *it, char *out, size_t len)
{
	snprintf(out, len, "-");
	if (it->size > STATEINFO_MAX_BYTES)
		return;
	struct store_range range = { .key = it->key, .if_match = it->tag };
	struct store_object_info info;
	struct store_error err;
	char *data = NULL;
	size_t n = 0;
	pthread_mutex_lock(&ev->lock);
	ev->cost.state_gets++;
	pthread_mutex_unlock(&ev->lock);
	int rc = store_get(ev->cfg.locks->store, &range, &data, &n, &info, &err);
	struct stateinfo si;
	char why[128];
	if (rc == 0 && stateinfo_parse(data, n, &si, why, sizeof(why)) == 0 && si.has_serial)
		snprintf(out, len, "%llu", (unsigned long long)si.serial);
	free(data);
}

static bool matches(const struct suppress *s, const char *event, const struct evsnap_item *it)
{
	if (s->kind != it->kind || strcmp(s->path, it->path) != 0)
		return false;
	if (s->made)
		return strcmp(event, "unlocked") != 0 && it->id && strcmp(it->id, s->tag) == 0;
	/* The same lock by its ID too: the last look may have seen an older version of it
	 * (a lock made here whose Info was written since), with another tag. */
	return strcmp(event, "unlocked") == 0 &&
	       ((s->tag_len == it->tag_len && memcmp(s->tag, it->tag, it->tag_len) == 0) ||
	        (s->id && it->id && strcmp(s->id, it->id) == 0));
}

/* Was this change the guard's own, already told? An unlock is then forgotten; a lock
 * made stays until it ages (its Info may be written again). */
static bool suppressed(struct events *ev, const char *event, const struct evsnap_item *it)
{
	bool found = false;
	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nsup && !found; i++) {
		struct suppress *s = &ev->sup[i];
		if (!matches(s, event, it))
			continue;
		found = true;
		if (!s->made) {
			free(s->path);
			free(s->tag);
			free(s->id);
			ev->sup[i] = ev->sup[--ev->nsup];
		}
	}
	pthread_mutex_unlock(&ev->lock);
	return found;
}

static void age_suppressions(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nsup;) {
		struct suppress *s = &ev->sup[i];
		if (--s->looks_left > 0) {
			i++;
			continue;
		}
		free(s->path);
		free(s->tag);
		free(s->id);
		ev->sup[i] = ev->sup[--ev->nsup];
	}
	pthread_mutex_unlock(&ev->lock);
}

static void on_change(void *ctx, const struct evsnap_change *c)
{
	struct events *ev = ctx;
	const struct evsnap_item *it = c->item;
	if (it->kind != EVSNAP_STATE && suppressed(ev, c->event, it))
		return;
	char detail[300] = "";
	struct event_fields f = { .event = c->event, .path = it->path, .detail = detail,
	                          .backend = it->kind == EVSNAP_DDB ? "dynamodb" : "s3" };
	if (it->kind == EVSNAP_STATE) {
		state_serial(ev, it, detail, sizeof(detail));
	} else {
		f.lock_id = it->id ? it->id : "?";
		f.who = it->who;
		f.operation = it->operation;
		if (c->before)
			snprintf(detail, sizeof(detail), "replaced %s", c->before->id ? c->before->id : "?");
	}
	publish(ev, &f);
}

int events_poll(struct events *ev)
{
	pthread_mutex_lock(&ev->poll_lock);
	pthread_mutex_lock(&ev->lock);
	bool reset = ev->drop_base;
	ev->drop_base = false;
	pthread_mutex_unlock(&ev->lock);
	if (reset && ev->has_base) {
		evsnap_clear(&ev->base);
		ev->has_base = false;
	}
	struct evsnap now;
	struct evsnap_cost cost = { 0 };
	int rc = evsnap_take(ev->cfg.locks, ev->cfg.map, ev->has_base ? &ev->base : NULL, &now, &cost);
	pthread_mutex_lock(&ev->lock);
	ev->cost.list_pages += cost.list_pages;
	ev->cost.scans += cost.scans;
	ev->cost.lock_gets += cost.lock_gets;
	ev->polls++;        /* a look done: the baseline is set once this is 1 */
	ev->poll_failures += rc < 0;
	pthread_mutex_unlock(&ev->lock);
	if (rc == 0) {
		if (ev->has_base)
			evsnap_diff(&ev->base, &now, on_change, ev);
		evsnap_clear(&ev->base);
		ev->base = now;
		ev->has_base = true;
		age_suppressions(ev);
	}
	pthread_mutex_unlock(&ev->poll_lock);
	return rc;
}

static bool active(const struct events *ev)
{
	return ev->nreaders > 0 || ev->log_fd >= 0;
}

static struct timespec deadline_in(double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long long ns = ts.tv_nsec + (long long)(seconds * 1e9);
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return ts;
}

/* Looks every interval while someone reads or the log is set; sleeps otherwise. */
static void *poller(void *arg)
{
	struct events *ev = arg;
	pthread_mutex_lock(&ev->lock);
	while (!ev->stopping) {
		if (!active(ev)) {
			pthread_cond_wait(&ev->poke, &ev->lock);
			continue;
		}
		ev->poll_now = false;
		pthread_mutex_unlock(&ev->lock);
		events_poll(ev);
		pthread_mutex_lock(&ev->lock);
		struct timespec until = deadline_in(ev->cfg.interval);
		while (!ev->stopping && !ev->poll_now && active(ev) &&
		       pthread_cond_timedwait(&ev->poke, &ev->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* ---- setup ---- */

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}

int events_new(const struct events_config *cfg, struct events **out)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->cfg = *cfg;
	if (ev->cfg.reader_lines == 0)
		ev->cfg.reader_lines = EVENTS_READER_LINES;
	if (ev->cfg.interval <= 0)
		ev->cfg.interval = 5;
	ev->log_fd = cfg->log_path ? jsonline_open(cfg->log_path) : -1;
	if (cfg->log_path && ev->log_fd < 0) {
		int rc = ev->log_fd;
		free(ev);
		return rc;
	}
	pthread_mutex_init(&ev->lock, NULL);
	pthread_mutex_init(&ev->poll_lock, NULL);
	cond_init_monotonic(&ev->readable);
	cond_init_monotonic(&ev->poke);
	*out = ev;
	return 0;
}

int events_start(struct events *ev)
{
	int rc = pthread_create(&ev->thread, NULL, poller, ev);
	if (rc != 0)
		return -rc;
	ev->has_thread = true;
	return 0;
}

void events_shutdown(struct events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->shut = true;
	pthread_cond_broadcast(&ev->readable);
	pthread_mutex_unlock(&ev->lock);
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stopping = ev->shut = true;
	pthread_cond_broadcast(&ev->poke);
	pthread_cond_broadcast(&ev->readable);
	pthread_mutex_unlock(&ev->lock);
	if (ev->has_thread)
		pthread_join(ev->thread, NULL);
	while (ev->readers)
		events_close(ev->readers);  /* none should be left: the handles are freed first */
	for (size_t i = 0; i < ev->nsup; i++) {
		free(ev->sup[i].path);
		free(ev->sup[i].tag);
		free(ev->sup[i].id);
	}
	evsnap_clear(&ev->base);
	if (ev->log_fd >= 0)
		close(ev->log_fd);
	pthread_cond_destroy(&ev->readable);
	pthread_cond_destroy(&ev->poke);
	pthread_mutex_destroy(&ev->poll_lock);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

/* ---- readers ---- */

int events_open(struct events *ev, struct events_reader **out)
{
	struct events_reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->ring = calloc(ev->cfg.reader_lines, sizeof(*r->ring)))) {
		free(r);
		return -ENOMEM;
	}
	r->ev = ev;
	r->cap = ev->cfg.reader_lines;
	pthread_mutex_lock(&ev->lock);
	if (ev->nreaders >= EVENTS_MAX_READERS) {
		pthread_mutex_unlock(&ev->lock);
		free(r->ring);
		free(r);
		log_warn("/.tfstatefs/events: already %d readers", EVENTS_MAX_READERS);
		return -EBUSY;
	}
	if (!active(ev)) {
		/* Polling starts: a new baseline, now. */
		ev->drop_base = true;
		ev->poll_now = true;
	}
	r->next = ev->readers;
	if (ev->readers)
		ev->readers->prev = r;
	ev->readers = r;
	ev->nreaders++;
	pthread_cond_broadcast(&ev->poke);
	pthread_mutex_unlock(&ev->lock);
	*out = r;
	return 0;
}

void events_close(struct events_reader *r)
{
	if (!r)
		return;
	struct events *ev = r->ev;
	pthread_mutex_lock(&ev->lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		ev->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	ev->nreaders--;
	pthread_mutex_unlock(&ev->lock);
	for (size_t i = 0; i < r->count; i++)
		free(r->ring[(r->head + i) % r->cap].text);
	free(r->ring);
	free(r->pending);
	free(r);
}

static bool has_something(const struct events_reader *r)
{
	return r->pending || r->count || r->lost;
}

/* The next line to hand out becomes pending: a "lost N events" line first when lines
 * were lost before it. Returns false when there is none. Under ev->lock. */
static bool next_pending(struct events_reader *r)
{
	unsigned long long lost = r->count ? r->ring[r->head].lost_before : r->lost;
	if (lost) {
		if (asprintf(&r->pending, "lost %llu events\n", lost) < 0) {
			r->pending = NULL;
			return false;
		}
		r->pending_len = strlen(r->pending);
		*(r->count ? &r->ring[r->head].lost_before : &r->lost) = 0;
	} else if (r->count) {
		struct line *l = &r->ring[r->head];
		r->pending = l->text;
		r->pending_len = l->len;
		r->bytes -= l->len;
		r->head = (r->head + 1) % r->cap;
		r->count--;
	} else {
		return false;
	}
	r->pending_off = 0;
	return true;
}

static size_t fill(struct events_reader *r, char *buf, size_t size)
{
	size_t used = 0;
	while (used < size && (r->pending || next_pending(r))) {
		size_t n = r->pending_len - r->pending_off;
		if (n > size - used)
			n = size - used;
		memcpy(buf + used, r->pending + r->pending_off, n);
		used += n;
		r->pending_off += n;
		if (r->pending_off < r->pending_len)
			break;
		free(r->pending);
		r->pending = NULL;
	}
	return used;
}

ssize_t events_read(struct events_reader *r, char *buf, size_t size, bool nonblock,
                    bool (*stop)(void *), void *stop_ctx)
{
	struct events *ev = r->ev;
	ssize_t rc = 0;
	pthread_mutex_lock(&ev->lock);
	while (!has_something(r)) {
		if (ev->shut || (stop && stop(stop_ctx)))
			goto out;
		if (r->interrupted) {
			r->interrupted = false;
			rc = -EINTR;
			goto out;
		}
		if (nonblock) {
			rc = -EAGAIN;
			goto out;
		}
		struct timespec until = deadline_in(STOP_CHECK_NS / 1e9);
		pthread_cond_timedwait(&ev->readable, &ev->lock, &until);
	}
	rc = (ssize_t)fill(r, buf, size);
out:
	pthread_mutex_unlock(&ev->lock);
	return rc;
}

void events_interrupt(struct events_reader *r)
{
	pthread_mutex_lock(&r->ev->lock);
	r->interrupted = true;
	pthread_cond_broadcast(&r->ev->readable);
	pthread_mutex_unlock(&r->ev->lock);
}

void events_interrupt_clear(struct events_reader *r)
{
	pthread_mutex_lock(&r->ev->lock);
	r->interrupted = false;
	pthread_mutex_unlock(&r->ev->lock);
}

/* ---- the guard ---- */

static void suppress_add(struct events *ev, const char *path, enum evsnap_kind kind,
                         const char *tag, size_t tag_len, const char *id, bool made)
{
	struct suppress s = { .kind = kind, .tag_len = tag_len, .looks_left = SUPPRESS_LOOKS,
	                      .made = made, .id = id ? strdup(id) : NULL,
	                      .path = strdup(path), .tag = malloc(tag_len + 1) };
	pthread_mutex_lock(&ev->lock);
	if (s.path && s.tag && (s.id || !id) && ev->nsup < SUPPRESS_MAX) {
		memcpy(s.tag, tag, tag_len);
		s.tag[tag_len] = '\0';
		ev->sup[ev->nsup++] = s;
		s.path = s.tag = s.id = NULL;
	}
	pthread_mutex_unlock(&ev->lock);
	free(s.path);
	free(s.tag);
	free(s.id);
}

void events_guard(struct events *ev, const struct lock_shown *shown, const char *result,
                  uid_t uid, int error)
{
	bool unlocked = strcmp(result, "unlocked") == 0, partial = strcmp(result, "partial") == 0;
	bool locked = strcmp(result, "locked") == 0;
	if (!ev || (!unlocked && !partial && !locked && strcmp(result, "refused") != 0) ||
	    !shown->path)
		return;
	char *path = lock_state_key(shown->path);
	if (!path)
		return;
	if (unlocked && shown->s3_held)
		suppress_add(ev, path, EVSNAP_LOCKFILE, shown->etag, strlen(shown->etag), shown->id,
		             false);
	if (unlocked && shown->ddb_held)
		suppress_add(ev, path, EVSNAP_DDB, shown->ddb_info, shown->ddb_info_len, shown->id,
		             false);
	for (int i = 0; locked && shown->id && i < 2; i++)
		if (i == 0 ? shown->s3_held : shown->ddb_held)
			suppress_add(ev, path, i == 0 ? EVSNAP_LOCKFILE : EVSNAP_DDB, shown->id,
			             strlen(shown->id), NULL, true);
	char detail[96];
	const char *name = error ? strerrorname_np(error) : NULL;
	snprintf(detail, sizeof(detail), "uid=%u%s%s%s", (unsigned)uid, partial ? " partial" : "",
	         name ? " " : "", name ? name : "");
	struct event_fields f = {
		.event = unlocked || partial ? "unlocked" : locked ? "locked" : "refused", .path = path,
		.backend = shown->backend, .lock_id = shown->id, .who = shown->who,
		.operation = shown->operation, .detail = detail,
	};
	publish(ev, &f);
	free(path);
}

void events_put_stats(struct events *ev, FILE *out)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	fprintf(out, "events_readers\t%zu\nevents_polls\t%llu\nevents_poll_failures\t%llu\n"
	        "events_list_requests\t%llu\nevents_scans\t%llu\nevents_lock_gets\t%llu\n"
	        "events_state_gets\t%llu\nevents_lines\t%llu\nevents_lines_lost\t%llu\n",
	        ev->nreaders, ev->polls, ev->poll_failures, ev->cost.list_pages, ev->cost.scans,
	        ev->cost.lock_gets, ev->cost.state_gets, ev->lines, ev->lost);
	pthread_mutex_unlock(&ev->lock);
}
