/* A flat listing of a prefix at the speed S3 allows: after the first page, the rest of the
 * key space is listed by S3_LIST_WORKERS threads at once, each over a key range, the
 * ranges cut at the prefix's subdirectories and split again whenever a thread runs idle.
 *
 * ListObjectsV2 pages can only be had one after another (each needs the token of the one
 * before), so a large bucket costs ceil(N/1000) round trips in a row. start-after lets a
 * listing begin anywhere, and a delimiter listing names a prefix's subdirectories about
 * ten times faster than the flat one pages through their keys: its subdirectories are the
 * places where the key space can be cut. One thread lists the rest from the first page's
 * last key; the caller pages through the delimiter listing behind it, collecting the cut
 * points ("bounds"); an idle thread takes the second half of the known bounds still ahead
 * of the busiest range. A range (lo, hi] is listed from start-after lo until a key passes
 * hi; the page that crosses hi is the only one listed twice in part, so the cost is about
 * one request per range on top of the floor. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "s3/s3.h"

#define NO_BOUND SIZE_MAX   /* a range's hi: to the end of the listing */

/* A key range being listed: keys above lo up to and including bounds[hi]. */
struct range {
	struct lister *l;
	char *lo;
	size_t hi;              /* an index into bounds, or NO_BOUND; lowered by a split */
	char *pos;              /* the last key listed (lo before the first page) */
	size_t first;           /* the bounds at or below lo */
	size_t keys;            /* listed so far */
	bool busy;
};

struct lister {
	struct s3_client *c;
	const char *prefix;
	s3_page_fn on_page;
	void *ctx;
	size_t page_keys;       /* keys the server puts in a full page */
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t changed; /* new bounds, a range done, planning done, a failure */
	char **bounds;          /* the cut points, in key order, as the planner finds them */
	size_t nbounds, cap;
	bool planned;           /* every bound is in */
	size_t keys, dirs;      /* by ranges done and the first page, and the bounds they
	                         * spanned: the keys per bound, to judge a split by */
	struct range ranges[S3_LIST_WORKERS];
	int rc;                 /* the first failure */
	pthread_mutex_t deliver;/* on_page is called for one page at a time */
};

/* Is key (len bytes) above boundary? Keys are compared as bytes, as S3 sorts them. */
static bool above(const char *key, size_t key_len, const char *boundary)
{
	size_t n = strlen(boundary), m = key_len < n ? key_len : n;
	int cmp = memcmp(key, boundary, m);
	return cmp > 0 || (cmp == 0 && key_len > n);
}

/* Drops the page's keys past the range's end; says whether any were. */
static bool trim(struct s3_list_page *p, const char *until)
{
	size_t keep = p->nobjects;
	while (until && keep && above(p->objects[keep - 1].key, p->objects[keep - 1].key_len, until))
		keep--;
	for (size_t i = keep; i < p->nobjects; i++) {
		free(p->objects[i].key);
		free(p->objects[i].etag);
	}
	bool crossed = keep < p->nobjects;
	p->nobjects = keep;
	return crossed;
}

/* How many bounds lie at or below key: the first index whose bound is above it. */
static size_t bounds_below(const struct lister *l, const char *key, size_t key_len)
{
	size_t lo = 0, hi = l->nbounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (above(key, key_len, l->bounds[mid]))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void fail(struct lister *l, int rc)
{
	pthread_mutex_lock(&l->lock);
	if (!l->rc)
		l->rc = rc;
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
}

static int deliver(struct lister *l, struct s3_list_page *p)
{
	pthread_mutex_lock(&l->deliver);
	int rc = l->on_page(l->ctx, p);
	pthread_mutex_unlock(&l->deliver);
	if (rc < 0)
		fail(l, rc);
	return rc;
}

/* What a page of a range that was at key `from` has handed over: everything after from up
 * to its last key; up to the range's end (until; NULL: past the last key) once it has
 * passed that end or the listing has none left. Returns 0 or -ENOMEM. */
static int cover(struct s3_list_page *p, const char *from, const char *until, bool crossed)
{
	bool to_end = crossed || !p->truncated;
	if (!to_end && !p->nobjects)
		return 0;   /* a truncated page with nothing in it says nothing */
	if (from && !(p->cover_after = strdup(from)))
		return -ENOMEM;
	if (!to_end) {
		const struct s3_object *last = &p->objects[p->nobjects - 1];
		p->cover_upto = strndup(last->key, last->key_len);
	} else if (until) {
		p->cover_upto = strdup(until);
	}
	p->covered = p->cover_upto || (to_end && !until);
	return p->covered ? 0 : -ENOMEM;
}

/* One page of range r: cut at its end as it is now (a split may have lowered it while the
 * page was on its way), handed over; enough once a page has passed the end. */
static int range_take(void *ctx, struct s3_list_page *p)
{
	struct range *r = ctx;
	struct lister *l = r->l;
	pthread_mutex_lock(&l->lock);
	const char *until = r->hi == NO_BOUND ? NULL : l->bounds[r->hi];
	bool crossed = trim(p, until);
	int failed = l->rc ? l->rc : cover(p, r->pos, until, crossed);
	if (p->nobjects) {
		const struct s3_object *last = &p->objects[p->nobjects - 1];
		char *pos = strndup(last->key, last->key_len);
		failed = failed ? failed : pos ? 0 : -ENOMEM;
		free(r->pos);
		r->pos = pos;
		r->keys += p->nobjects;
	}
	pthread_mutex_unlock(&l->lock);
	if (failed) {
		s3_list_page_free(p);
		return failed;
	}
	int rc = deliver(l, p);
	return rc ? rc : crossed ? S3_LIST_STOP : 0;
}

static size_t passed(const struct lister *l, const struct range *r)
{
	return bounds_below(l, r->pos, strlen(r->pos));
}

/* The range whose unlisted part spans the most bounds, if halving it leaves each half
 * about a page of keys or more, judged by the keys per bound listed so far (counted
 * afresh: bounds may come in after a range has listed past them). */
static struct range *busiest(struct lister *l)
{
	struct range *best = NULL;
	size_t most = 0, keys = l->keys, dirs = l->dirs;
	for (int i = 0; i < S3_LIST_WORKERS; i++) {
		struct range *r = &l->ranges[i];
		if (!r->busy)
			continue;
		size_t at = passed(l, r), end = r->hi == NO_BOUND ? l->nbounds : r->hi;
		keys += r->keys;
		dirs += at - r->first;
		if (end > at && end - at > most) {
			most = end - at;
			best = r;
		}
	}
	double per_bound = dirs ? (double)keys / (double)dirs : (double)l->page_keys;
	return best && most >= 2 && (double)most * per_bound >= 2.0 * (double)l->page_keys ? best : NULL;
}

/* Gives the upper half of victim's unlisted bounds to r. Called with l->lock held. */
static int split(struct lister *l, struct range *victim, struct range *r)
{
	size_t at = passed(l, victim), end = victim->hi == NO_BOUND ? l->nbounds : victim->hi;
	size_t mid = at + (end - at) / 2;
	char *lo = strdup(l->bounds[mid]), *pos = strdup(l->bounds[mid]);
	if (!lo || !pos) {
		free(lo);
		free(pos);
		return -ENOMEM;
	}
	free(r->lo);
	free(r->pos);
	*r = (struct range){ .l = l, .lo = lo, .pos = pos, .hi = victim->hi, .first = mid + 1,
	                     .busy = true };
	victim->hi = mid;
	return 0;
}

static void list_range(struct range *r)
{
	struct lister *l = r->l;
	int rc = s3_list_each_from(l->c, l->prefix, NULL, r->lo, NULL, range_take, r);
	if (rc < 0)
		fail(l, rc);
	pthread_mutex_lock(&l->lock);
	l->keys += r->keys;
	l->dirs += passed(l, r) - r->first;
	r->busy = false;
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
}

/* A worker: its first range if it has one, then halves of others while any are worth
 * splitting, until everything is listed or something failed. */
static void *work(void *arg)
{
	struct range *r = arg;
	struct lister *l = r->l;
	if (r->busy)
		list_range(r);
	pthread_mutex_lock(&l->lock);
	for (;;) {
		bool any_busy = false;
		for (int i = 0; i < S3_LIST_WORKERS; i++)
			any_busy |= l->ranges[i].busy;
		if (l->rc || (l->planned && !any_busy))
			break;
		struct range *victim = busiest(l);
		if (!victim) {
			pthread_cond_wait(&l->changed, &l->lock);
			continue;
		}
		int rc = split(l, victim, r);
		if (rc < 0) {
			l->rc = l->rc ? l->rc : rc;
			pthread_cond_broadcast(&l->changed);
			break;
		}
		pthread_mutex_unlock(&l->lock);
		list_range(r);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* "team0250/" -> "team0250.": every key below the subdirectory sorts above it, every key
 * of the subdirectories before it below ('.' is '/' - 1). */
static char *boundary(const char *subdir)
{
	char *b = strdup(subdir);
	if (b && *b)
		b[strlen(b) - 1] = '.';
	return b;
}

/* A page of the delimiter listing: its subdirectories become bounds, and it is handed over
 * as the prefix's names. */
static int plan_page(void *ctx, struct s3_list_page *p)
{
	struct lister *l = ctx;
	pthread_mutex_lock(&l->lock);
	int rc = l->rc;
	if (!rc && l->nbounds + p->nprefixes > l->cap) {
		size_t cap = (l->nbounds + p->nprefixes) * 2;
		char **b = realloc(l->bounds, cap * sizeof(*b));
		if (b) {
			l->bounds = b;
			l->cap = cap;
		}
		rc = b ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !rc && i < p->nprefixes; i++) {
		if (!(l->bounds[l->nbounds] = boundary(p->prefixes[i])))
			rc = -ENOMEM;
		else
			l->nbounds++;
	}
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	if (rc) {
		s3_list_page_free(p);
		return rc;
	}
	p->names_only = true;
	return deliver(l, p);
}

/* How many subdirectories of prefix the page's keys fall in (keys come sorted). */
static size_t dirs_of(const struct s3_list_page *p, size_t plen)
{
	size_t n = 0;
	const char *prev = NULL;
	size_t prev_len = 0;
	for (size_t i = 0; i < p->nobjects; i++) {
		const char *rel = p->objects[i].key + plen;
		const char *slash = p->objects[i].key_len > plen ? strchr(rel, '/') : NULL;
		size_t len = slash ? (size_t)(slash - rel) : 0;
		if (len && (!prev || len != prev_len || memcmp(rel, prev, len) != 0))
			n++;
		if (len) {
			prev = rel;
			prev_len = len;
		}
	}
	return n;
}

/* Lists everything after key `after`: workers over ranges, the caller finding the bounds. */
static int list_rest(struct lister *l, const char *after)
{
	pthread_t th[S3_LIST_WORKERS];
	bool started[S3_LIST_WORKERS] = { false };
	l->ranges[0] = (struct range){ .l = l, .lo = strdup(after), .pos = strdup(after),
	                               .hi = NO_BOUND, .busy = true };
	for (int i = 1; i < S3_LIST_WORKERS; i++)
		l->ranges[i] = (struct range){ .l = l };
	if (!l->ranges[0].lo || !l->ranges[0].pos) {
		free(l->ranges[0].lo);
		free(l->ranges[0].pos);
		return -ENOMEM;
	}
	for (int i = 0; i < S3_LIST_WORKERS; i++)
		started[i] = pthread_create(&th[i], NULL, work, &l->ranges[i]) == 0;
	/* Without the bounds the workers still list everything, only one after another; a
	 * failed delimiter listing (logged) costs speed, not keys. */
	if (s3_list_each_from(l->c, l->prefix, "/", after, NULL, plan_page, l) == 0) {
		struct s3_list_page names = { .names_only = true, .names_complete = true };
		deliver(l, &names);
	}
	pthread_mutex_lock(&l->lock);
	l->planned = true;
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	if (!started[0])   /* no thread to be had: the caller lists it, with the bounds known */
		work(&l->ranges[0]);
	for (int i = 0; i < S3_LIST_WORKERS; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		free(l->ranges[i].lo);
		free(l->ranges[i].pos);
	}
	return l->rc;
}

int s3_list_all(struct s3_client *c, const char *prefix, s3_page_fn on_page, void *ctx)
{
	struct s3_list_page first;
	struct aws_error err;
	if (s3_list_page(c, prefix, NULL, NULL, &first, &err) < 0)
		return s3_list_each(c, prefix, NULL, on_page, ctx);   /* it says why, with retries */
	int rc = cover(&first, NULL, NULL, false);
	if (rc < 0) {
		s3_list_page_free(&first);
		return rc;
	}
	if (!first.truncated || !first.nobjects) {
		first.names_complete = !first.truncated;
		rc = on_page(ctx, &first);
		return rc == S3_LIST_STOP ? 0 : rc;
	}
	struct lister l = { .c = c, .prefix = prefix, .on_page = on_page, .ctx = ctx,
	                    .page_keys = first.nobjects, .keys = first.nobjects,
	                    .dirs = dirs_of(&first, strlen(prefix)) };
	const struct s3_object *last = &first.objects[first.nobjects - 1];
	char *after = strndup(last->key, last->key_len);
	pthread_mutex_init(&l.lock, NULL);
	pthread_mutex_init(&l.deliver, NULL);
	pthread_cond_init(&l.changed, NULL);
	rc = after ? deliver(&l, &first) : -ENOMEM;
	if (!after)
		s3_list_page_free(&first);
	if (rc == 0)
		rc = list_rest(&l, after);
	for (size_t i = 0; i < l.nbounds; i++)
		free(l.bounds[i]);
	free(l.bounds);
	free(after);
	pthread_cond_destroy(&l.changed);
	pthread_mutex_destroy(&l.deliver);
	pthread_mutex_destroy(&l.lock);
	return rc == S3_LIST_STOP ? 0 : rc;
}
