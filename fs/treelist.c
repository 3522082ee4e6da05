/* Listing into the tree: one flat listing of a directory's subtree at a time, merged as its
 * pages come in, and what it did not see swept out at its end.
 *
 * A listing runs on a thread of its own, so that what it has already handed over can be
 * answered before it ends: a walk does not wait for the whole bucket. The store says, page
 * by page, which key ranges are complete (store_page's cover_*) and when every name
 * directly below the listed prefix is in (names_complete: a delimiter listing beside the
 * flat one). A directory below the listed one is answered once the ranges have passed its
 * whole span; the listed directory itself once its names are in. Either is swept then, as
 * the whole listing will be at its end, so an entry that is gone never shows. This holds
 * where keys and paths sort alike: one plain listing (not a prefix mount's root, which is
 * filled from two); other listings are answered at their end. */
#include "fs/tree_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/log.h"

/* What one listing found that cannot be shown, for its log line. */
struct merge_counts {
	size_t hidden;      /* keys that cannot be a path (see keymap.h) */
	size_t shadowed;    /* objects hidden by a directory of the same name */
};

/* A key range whose keys have all been handed over: (after, upto], NULL for no bound. */
struct span {
	char *after, *upto;
};

/* A listing under way: at most one at a time (t->run), as sweeps must not interleave. */
struct run {
	struct tree *t;
	uint64_t gen;
	uint64_t root;              /* the directory listed */
	char *path;                 /* its path */
	enum listing_mode mode;     /* of the listing being merged */
	bool tells;                 /* one plain listing: its spans say which directories are
	                             * whole (see the top of this file) */
	struct span *spans;         /* in key order, apart: touching ones are merged */
	size_t nspans, cap;
	bool names;                 /* every entry of the listed directory is in */
	bool done;
	int rc;                     /* when done */
	unsigned refs;              /* its thread's, and each request's that waits on it */
	struct merge_counts counts;
	double started, reported;   /* monotonic seconds */
	unsigned long long keys;
};

#define PROGRESS_AFTER_S 1.0    /* a listing shorter than this is not reported */

/* Tells the progress callback, at most once a second, and once more at the end of a
 * listing it was told about. */
static void report_progress(struct run *r, bool done)
{
	tree_progress_fn fn = r->t->progress;
	if (!fn)
		return;
	double now = clock_mono();
	if (now - r->started < PROGRESS_AFTER_S || (done && !r->reported) ||
	    (!done && now - r->reported < 1.0))
		return;
	r->reported = now;
	fn(r->t->progress_ctx, r->path, r->keys, now - r->started, done);
}

/* Walks (and with gen != 0, creates) the directories of path[0..len). A file where a
 * directory is needed gives way to it (counted as shadowed when this listing saw it).
 * Returns the directory, or NULL. */
static struct node *walk_dirs(struct tree *t, const char *path, size_t len, uint64_t gen,
                              struct merge_counts *counts)
{
	struct node *dir = t->root;
	char name[256];
	for (size_t start = 0; start < len && dir;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		snprintf(name, sizeof(name), "%.*s", (int)(end - start), path + start);
		struct node *child = node_child(t, dir, name);
		if (child && !child->is_dir && gen) {
			if (child->gen == gen) {
				counts->shadowed++;
				log_debug("object '%s' is hidden by a directory of the same name", child->key);
			}
			node_remove_child(t, dir, child);
			child = NULL;
		}
		if (!child && gen)
			child = node_new(t, dir, name, strlen(name), true);
		if (child && !child->is_dir)
			child = NULL;
		if (child && gen) {
			child->gen = gen;
			child->in_s3 = true;
		}
		dir = child;
		start = end + 1;
	}
	return dir;
}

static void put_file(struct tree *t, const char *path, const struct store_object *obj, uint64_t gen,
                     struct merge_counts *counts)
{
	const char *slash = strrchr(path, '/');
	struct node *dir = walk_dirs(t, path, slash ? (size_t)(slash - path) : 0, gen, counts);
	const char *name = slash ? slash + 1 : path;
	if (!dir)
		return;
	struct node *n = node_child(t, dir, name);
	if (n && n->is_dir && n->gen == gen) {
		counts->shadowed++;
		log_debug("object '%s' is hidden by a directory of the same name", obj->key);
		return;
	}
	if (n && n->is_dir) {
		node_remove_child(t, dir, n);
		n = NULL;
	}
	if (!n && (n = node_new(t, dir, name, strlen(name), false))) {
		n->is_lock = lock_name(name);
		n->lock_checked = -1e18;
	}
	if (!n)
		return;
	n->in_s3 = true;
	if (!n->key || strcmp(n->key, obj->key) != 0) {
		char *key = strdup(obj->key);
		if (!key) {
			node_remove_child(t, dir, n);
			return;
		}
		free(n->key);
		n->key = key;
	}
	if (!n->etag || strcmp(n->etag, obj->etag ? obj->etag : "") != 0) {
		free(n->etag);
		n->etag = strdup(obj->etag ? obj->etag : "");
	}
	/* A lock file's size is that of its decoded text, known once it is fetched; a new
	 * ETag means that text is out of date. */
	if (n->is_lock && n->lock && strcmp(n->lock->s3.etag, n->etag) != 0)
		n->lock_checked = -1e18;
	if (!n->is_lock)
		n->size = obj->size;
	n->mtime = obj->mtime;
	n->gen = gen;
	/* A directory shows the time of the newest state below it. */
	for (struct node *p = dir; p; p = p->parent)
		if (p->mtime < obj->mtime)
			p->mtime = obj->mtime;
}

static void merge_key(struct run *r, const struct store_object *o, struct merge_counts *counts)
{
	struct tree *t = r->t;
	char *path = NULL;
	int v = keymap_key_to_path(t->map, r->mode, o->key, o->key_len, &path);
	if (v == KEY_DIR_MARKER) {
		walk_dirs(t, path, strlen(path), r->gen, counts);
	} else if (v == KEY_FILE) {
		put_file(t, path, o, r->gen, counts);
	} else if (v > KEY_OUTSIDE) {
		counts->hidden++;
		log_debug("key '%s' is not shown: %s", o->key, keymap_verdict_str((enum key_verdict)v));
	}
	free(path);
}

/* A key that is both an object and a prefix ("a/b" and "a/b/c") resolves the same way
 * whatever order the pages come in: the directory wins. The names beside the flat listing
 * come again in it, so they are not counted twice. */
static void merge_page(struct run *r, const struct store_page *pg)
{
	struct merge_counts again = { 0 };
	r->t->stats.keys_listed += pg->nobjects;
	for (size_t i = 0; i < pg->nobjects; i++)
		merge_key(r, &pg->objects[i], &r->counts);
	for (size_t i = 0; i < pg->nnames; i++)
		merge_key(r, &pg->names[i], &again);
	for (size_t i = 0; i < pg->nprefixes; i++) {
		struct store_object dir = { .key = pg->prefixes[i], .key_len = strlen(pg->prefixes[i]) };
		merge_key(r, &dir, &again);
	}
}

/* ---- how far a listing has got ---- */

/* Does the span ending at upto reach up to after, or past it? (NULL: no bound.) */
static bool reaches(const char *upto, const char *after)
{
	return !upto || !after || strcmp(after, upto) <= 0;
}

/* Is end a above end b? (NULL: no bound, past every key.) */
static bool higher_end(const char *a, const char *b)
{
	return !a || (b && strcmp(a, b) > 0);
}

/* Does a span from a start before one from b? (NULL: from the first key.) */
static bool earlier_start(const char *a, const char *b)
{
	return b && (!a || strcmp(a, b) < 0);
}

/* Adds (after, upto] to r's spans (taking the strings), merging it with those it touches. */
static int add_span(struct run *r, char *after, char *upto)
{
	if (r->nspans == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct span *s = realloc(r->spans, cap * sizeof(*s));
		if (!s) {
			free(after);
			free(upto);
			return -ENOMEM;
		}
		r->spans = s;
		r->cap = cap;
	}
	size_t i = 0;
	while (i < r->nspans && earlier_start(r->spans[i].after, after))
		i++;
	memmove(&r->spans[i + 1], &r->spans[i], (r->nspans - i) * sizeof(*r->spans));
	r->spans[i] = (struct span){ after, upto };
	r->nspans++;
	/* From the one before it on, each span swallows the next while they touch. */
	for (size_t j = i ? i - 1 : 0; j + 1 < r->nspans;) {
		struct span *a = &r->spans[j], *b = &r->spans[j + 1];
		if (!reaches(a->upto, b->after)) {
			if (j >= i)
				break;
			j++;
			continue;
		}
		if (higher_end(b->upto, a->upto)) {
			free(a->upto);
			a->upto = b->upto;
		} else {
			free(b->upto);
		}
		free(b->after);
		memmove(b, b + 1, (r->nspans - j - 2) * sizeof(*b));
		r->nspans--;
	}
	return 0;
}

/* Have all keys beginning with prefix been handed over? */
static bool spans_hold(const struct run *r, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < r->nspans; i++) {
		const struct span *s = &r->spans[i];
		bool from = !s->after || strcmp(s->after, prefix) < 0;
		bool past = !s->upto || (strcmp(s->upto, prefix) > 0 && strncmp(s->upto, prefix, n) != 0);
		if (from && past)
			return true;
	}
	return false;
}

/* Takes what page says of how far the listing has got. Under t->lock. */
static int note_progress(struct run *r, struct store_page *pg)
{
	int rc = 0;
	if (r->tells && pg->covered) {
		rc = add_span(r, pg->cover_after, pg->cover_upto);
		pg->cover_after = pg->cover_upto = NULL;
	}
	if (r->tells && pg->names_complete)
		r->names = true;
	if (r->tells && (pg->covered || pg->names_complete))
		pthread_cond_broadcast(&r->t->run_changed);
	return rc;
}

static int take_page(void *ctx, struct store_page *page)
{
	struct run *r = ctx;
	pthread_mutex_lock(&r->t->lock);
	merge_page(r, page);
	int rc = note_progress(r, page);
	pthread_mutex_unlock(&r->t->lock);
	r->keys += page->nobjects;
	store_page_free(page);
	report_progress(r, false);
	return rc;
}

/* A listing did not see c (whose own subtree is swept already): a lock file stays while
 * DynamoDB holds it, a directory while something below it stays, a virtual entry always. */
static bool keep_unseen(struct node *c)
{
	/* A directory that no listing made, only DynamoDB locks below it, is the table's to
	 * remove (scan_drops), even before it is opened and its locks are in the tree. */
	bool lock_dir = c->is_dir && !c->in_s3;
	if (c->is_lock || c->is_dir)
		c->in_s3 = false;
	return c->virt || (c->is_lock && c->in_ddb) || (c->is_dir && (c->nchildren > 0 || lock_dir));
}

/* Removes what the listing of generation gen (of directory root) did not see below dir. */
static void sweep(struct tree *t, struct node *dir, uint64_t root, uint64_t gen, double now)
{
	dir->listed_at = now;
	dir->listing_gen = gen;
	dir->listing_root = root;
	for (size_t i = 0; i < dir->nchildren;) {
		struct node *c = dir->children[i];
		if (c->is_dir && !c->virt)
			sweep(t, c, root, gen, now);
		if (c->gen != gen && !keep_unseen(c)) {
			node_take_child(t, dir, i);
			continue;
		}
		i++;
	}
}

/* The whole listing's sweep, from the listed directory down. Under t->lock. */
static void sweep_all(struct run *r)
{
	struct tree *t = r->t;
	struct node *d = walk_dirs(t, r->path, strlen(r->path), 0, NULL);
	if (d)
		sweep(t, d, d->ino, r->gen, r->started);
}

/* ---- running a listing ---- */

static void run_put(struct run *r)
{
	if (--r->refs)
		return;
	for (size_t i = 0; i < r->nspans; i++) {
		free(r->spans[i].after);
		free(r->spans[i].upto);
	}
	free(r->spans);
	free(r->path);
	free(r);
}

/* Lists the run's directory (one flat listing per key space) into the tree, sweeps when
 * the whole of it came, and gives up the tree's listing slot. */
static void run_listing(struct run *r)
{
	struct tree *t = r->t;
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, r->path, ls);
	int rc = n < 0 ? n : 0;
	pthread_mutex_lock(&t->lock);
	r->tells = n == 1 && ls[0].mode == LISTING_PLAIN && r->tells;
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < n; i++) {
		r->mode = ls[i].mode;
		if (rc == 0)
			rc = store_list_all(t->store, ls[i].s3_prefix, take_page, r);
		keymap_listing_free(&ls[i]);
	}
	report_progress(r, true);
	pthread_mutex_lock(&t->lock);
	t->stats.listings++;
	if (rc == 0)        /* a listing cut short added what it saw; only a whole one can say */
		sweep_all(r);   /* what is gone */
	r->done = true;
	r->rc = rc;
	t->run = NULL;
	pthread_cond_broadcast(&t->run_changed);
	if (r->counts.hidden || r->counts.shadowed)
		log_info("listing /%s: %zu keys cannot be paths and %zu objects are hidden by a "
		         "directory of the same name (-d names each)", r->path, r->counts.hidden,
		         r->counts.shadowed);
	run_put(r);
	pthread_mutex_unlock(&t->lock);
}

static void *run_thread(void *arg)
{
	run_listing(arg);
	return NULL;
}

/* Waits, under t->lock, until no listing runs. */
static void wait_idle(struct tree *t)
{
	while (t->run)
		pthread_cond_wait(&t->run_changed, &t->lock);
	if (t->run_thread_started) {    /* it let go of everything but its own exit */
		pthread_join(t->run_thread, NULL);
		t->run_thread_started = false;
	}
}

/* Starts listing path (directory root) on a thread of its own, or on this one when no
 * thread can be had (the lock let go meanwhile). Under t->lock, with no listing running.
 * Returns the run with a reference for the caller, or NULL (out of memory). */
static struct run *run_start(struct tree *t, uint64_t root, char *path, bool early)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r) {
		free(path);
		return NULL;
	}
	*r = (struct run){ .t = t, .gen = ++t->gen, .root = root, .path = path, .tells = early,
	                   .refs = 2, .started = clock_mono() };
	t->run = r;
	if (early && pthread_create(&t->run_thread, NULL, run_thread, r) == 0) {
		t->run_thread_started = true;
		return r;
	}
	pthread_mutex_unlock(&t->lock);
	run_listing(r);
	pthread_mutex_lock(&t->lock);
	return r;
}

void treelist_idle(struct tree *t)
{
	pthread_mutex_lock(&t->lock);
	wait_idle(t);
	pthread_mutex_unlock(&t->lock);
}

int treelist_subtree(struct tree *t, const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	wait_idle(t);
	struct run *r = run_start(t, 0, copy, false);
	int rc = r ? r->rc : -ENOMEM;
	if (r)
		run_put(r);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* ---- answering from a listing ---- */

static bool is_fresh(const struct tree *t, const struct node *dir, double now)
{
	return now - dir->listed_at < t->cfg->cache_ttl;
}

/* How many directories of one listing are listed again one by one, as a walk that outlasts
 * cache_ttl meets them expired, before the walk is taken for one that goes on: from then on
 * the directory that listing listed is listed again whole, once, instead of one request per
 * directory for the rest of the walk. */
#define WALK_RELISTS 8

/* What to list for expired directory dir: itself, or the directory its listing listed. */
static struct node *relist_target(struct tree *t, struct node *dir)
{
	struct node *root = dir->listing_root != dir->ino ? node_find_ino(t, dir->listing_root) : NULL;
	if (!root || root->detached || root->listing_gen != dir->listing_gen)
		return dir;     /* listed alone, or its listing's directory was listed again since */
	if (t->walk_gen != dir->listing_gen) {
		t->walk_gen = dir->listing_gen;
		t->walk_relists = 0;
	}
	return ++t->walk_relists > WALK_RELISTS ? root : dir;
}

/* Is dir the run's directory or below it? */
static bool run_covers(const struct run *r, const struct node *dir)
{
	for (const struct node *n = dir; n; n = n->parent)
		if (n->ino == r->root)
			return true;
	return false;
}

/* The listed directory, once its names are in: what it held and no name came for is gone.
 * Its lock files were listed with the names, as a lock scan would list them. */
static void sweep_names(struct run *r, struct node *dir)
{
	for (size_t i = 0; i < dir->nchildren;) {
		struct node *c = dir->children[i];
		if (c->gen != r->gen && c->is_dir && !c->virt)
			sweep(r->t, c, r->root, r->gen, r->started);
		if (c->gen != r->gen && !keep_unseen(c)) {
			node_take_child(r->t, dir, i);
			continue;
		}
		i++;
	}
	if (dir->locks_scanned_at < r->started)
		dir->locks_scanned_at = r->started;
}

/* Does another request's run answer for what a listing made now would show? It started
 * within cache_ttl, as a finished listing is trusted for cache_ttl from its start. */
static bool run_fresh(const struct run *r)
{
	return clock_mono() - r->started < r->t->cfg->cache_ttl;
}

/* Can dir be answered from the run under way, before it ends? Sweeps it when so. */
static bool run_passed(struct run *r, struct node *dir)
{
	if (!r->tells || !run_covers(r, dir))
		return false;
	struct listing ls[2];
	char *path = node_path(dir);
	int n = path ? keymap_dir_listings(r->t->map, path, ls) : -ENOMEM;
	bool whole = n == 1 && ls[0].mode == LISTING_PLAIN && spans_hold(r, ls[0].s3_prefix);
	for (int i = 0; i < n; i++)
		keymap_listing_free(&ls[i]);
	free(path);
	if (whole)
		sweep(r->t, dir, r->root, r->gen, r->started);
	else if (dir->ino == r->root && r->names)
		sweep_names(r, dir);
	return whole || (dir->ino == r->root && r->names);
}

int treelist_refresh(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct run *mine = NULL;    /* the listing meant to cover ino, once one is */
	int rc = 0;
	for (;;) {
		struct node *dir = node_find_ino(t, ino);
		if (!dir || dir->detached || !dir->is_dir || is_fresh(t, dir, clock_mono()))
			break;
		if (mine && mine->done) {
			rc = mine->rc;
			break;
		}
		if (t->run && (t->run == mine || run_fresh(t->run)) && run_passed(t->run, dir))
			break;
		if (!t->run) {
			wait_idle(t);
			struct node *target = relist_target(t, dir);
			char *path = node_path(target);
			mine = path ? run_start(t, target->ino, path, true) : NULL;
			if (!mine) {
				rc = -ENOMEM;
				break;
			}
			continue;
		}
		if (!mine && run_covers(t->run, dir) && run_fresh(t->run)) {
			mine = t->run;
			mine->refs++;
		}
		pthread_cond_wait(&t->run_changed, &t->lock);
	}
	if (mine)
		run_put(mine);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void treelist_settle(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct node *dir = node_find_ino(t, ino);
		struct run *r = t->run;
		if (!dir || !dir->is_dir || dir->virt || !r || !r->tells || dir->ino == r->root ||
		    !run_covers(r, dir) || is_fresh(t, dir, clock_mono()) || run_passed(r, dir))
			break;
		pthread_cond_wait(&t->run_changed, &t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}
