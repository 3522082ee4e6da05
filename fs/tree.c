/* The mounted tree: S3 keys as directories and files, filled from flat listings, with TTLs.
 *
 * One flat ListObjectsV2 (no delimiter) below a directory's prefix fills that whole
 * subtree. Each listing gets a generation number; entries the listing did not see are
 * swept out afterwards. Inode numbers are never reused, and an entry the kernel still
 * holds (nlookup > 0) stays addressable by inode after it is swept, until forgotten. */
#include "fs/tree.h"
#include "fs/tree_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/log.h"

/* What one listing found that cannot be shown, for its log line. */
struct merge_counts {
	size_t hidden;      /* keys that cannot be a path (see keymap.h) */
	size_t shadowed;    /* objects hidden by a directory of the same name */
};

int tree_new(const struct lock_source *locks, const struct keymap *map,
             const struct tfs_config *cfg, struct tree **out)
{
	struct tree *t = calloc(1, sizeof(*t));
	if (!t || node_tables_grow(t) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->store = locks->store;
	t->locks = locks;
	t->map = map;
	t->cfg = cfg;
	t->next_ino = TREE_ROOT_INO;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->list_lock, NULL);
	t->root = node_new(t, NULL, "", 0, true);
	if (!t->root) {
		tree_free(t);
		return -ENOMEM;
	}
	t->root->listed_at = -1e18;
	t->root->mtime = time(NULL);  /* until a listing finds something newer */
	*out = t;
	return 0;
}

int tree_add_virtual(struct tree *t, const char *dirname, const char *const *names,
                     const bool *is_dir, size_t n)
{
	int rc = 0;
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_new(t, t->root, dirname, strlen(dirname), true);
	if (dir) {
		dir->virt = UINT_MAX;
		dir->listed_at = dir->locks_scanned_at = 1e300;  /* never listed from S3 */
		dir->mtime = time(NULL);
	}
	for (size_t i = 0; dir && i < n; i++) {
		struct node *f = node_new(t, dir, names[i], strlen(names[i]), is_dir && is_dir[i]);
		if (!f)
			break;
		f->virt = (unsigned)i + 1;
		f->listed_at = f->locks_scanned_at = 1e300;
		f->mtime = dir->mtime;
		f->key = strdup("");
	}
	if (!dir || dir->nchildren != n)
		rc = -ENOMEM;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

uint64_t tree_virtual_ino(struct tree *t, const char *dirname, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_child(t, t->root, dirname);
	struct node *n = dir && dir->virt ? node_child(t, dir, name) : NULL;
	uint64_t ino = n ? n->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

void tree_set_progress(struct tree *t, tree_progress_fn fn, void *ctx)
{
	t->progress = fn;
	t->progress_ctx = ctx;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct node *n = t->by_ino[i], *next; n; n = next) {
			next = n->next_by_ino;
			node_free(n);
		}
	}
	free(t->by_ino);
	free(t->by_name);
	free(t->changed);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->list_lock);
	free(t);
}

/* ---- listing and merging ---- */

/* One listing being merged into the tree as its pages come in. */
struct merge {
	struct tree *t;
	enum listing_mode mode;
	uint64_t gen;
	struct merge_counts counts;
	const char *path;           /* the directory listed */
	double started, reported;   /* monotonic seconds */
	unsigned long long keys;
};

#define PROGRESS_AFTER_S 1.0    /* a listing shorter than this is not reported */

/* Tells the progress callback, at most once a second, and once more at the end of a
 * listing it was told about. */
static void report_progress(struct merge *m, bool done)
{
	tree_progress_fn fn = m->t->progress;
	if (!fn)
		return;
	double now = clock_mono();
	if (now - m->started < PROGRESS_AFTER_S || (done && !m->reported) ||
	    (!done && now - m->reported < 1.0))
		return;
	m->reported = now;
	fn(m->t->progress_ctx, m->path, m->keys, now - m->started, done);
}

static void merge_page(struct merge *m, const struct store_page *pg);

static int take_page(void *ctx, struct store_page *page)
{
	struct merge *m = ctx;
	pthread_mutex_lock(&m->t->lock);
	merge_page(m, page);
	pthread_mutex_unlock(&m->t->lock);
	m->keys += page->nobjects;
	store_page_free(page);
	report_progress(m, false);
	return 0;
}

/* Lists dirpath's subtree (one flat listing per key space) into the tree. */
static int fetch_dir(struct tree *t, const char *dirpath, struct merge *m)
{
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, dirpath, ls);
	if (n < 0)
		return n;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		m->mode = ls[i].mode;
		if (rc == 0)
			rc = store_list_all(t->store, ls[i].s3_prefix, take_page, m);
		keymap_listing_free(&ls[i]);
	}
	return rc;
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

/* A key that is both an object and a prefix ("a/b" and "a/b/c") resolves the same way
 * whatever order the pages come in: the directory wins. */
static void merge_page(struct merge *m, const struct store_page *pg)
{
	struct tree *t = m->t;
	t->stats.keys_listed += pg->nobjects;
	for (size_t j = 0; j < pg->nobjects; j++) {
		const struct store_object *o = &pg->objects[j];
		char *path = NULL;
		int v = keymap_key_to_path(t->map, m->mode, o->key, o->key_len, &path);
		if (v == KEY_DIR_MARKER) {
			walk_dirs(t, path, strlen(path), m->gen, &m->counts);
		} else if (v == KEY_FILE) {
			put_file(t, path, o, m->gen, &m->counts);
		} else if (v > KEY_OUTSIDE) {
			m->counts.hidden++;
			log_debug("key '%s' is not shown: %s", o->key, keymap_verdict_str((enum key_verdict)v));
		}
		free(path);
	}
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

/* Is ino a directory the listings fill whose entries the kernel may hold? Only then does
 * its getattr list it: one the kernel has not read lists at its readdir, so a stat of the
 * mount point, or of a directory on the way to a state, lists nothing. */
static bool kernel_holds_dir(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	bool held = n && n->is_dir && !n->virt && n->in_kernel;
	pthread_mutex_unlock(&t->lock);
	return held;
}

static bool is_fresh(const struct tree *t, const struct node *dir, double now)
{
	return now - dir->listed_at < t->cfg->cache_ttl;
}

/* Lists path's subtree into the tree (making the directory when S3 has keys below it) and
 * sweeps out what the listing no longer holds. Called with list_lock held. */
static int list_subtree(struct tree *t, const char *path)
{
	pthread_mutex_lock(&t->lock);
	uint64_t gen = ++t->gen;
	pthread_mutex_unlock(&t->lock);
	double started = clock_mono();
	struct merge m = { .t = t, .gen = gen, .path = path, .started = started };
	int rc = fetch_dir(t, path, &m);
	report_progress(&m, true);
	pthread_mutex_lock(&t->lock);
	t->stats.listings++;
	/* A listing cut short added what it saw; only a whole one can say what is gone. */
	struct node *d = rc == 0 ? walk_dirs(t, path, strlen(path), 0, NULL) : NULL;
	if (d)
		sweep(t, d, d->ino, gen, started);
	pthread_mutex_unlock(&t->lock);
	if (m.counts.hidden || m.counts.shadowed)
		log_info("listing /%s: %zu keys cannot be paths and %zu objects are hidden by a "
		         "directory of the same name (-d names each)", path, m.counts.hidden,
		         m.counts.shadowed);
	return rc;
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

/* Lists directory ino and its subtree when its listing has expired. */
static int refresh_dir(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, ino);
	bool fresh = dir && is_fresh(t, dir, clock_mono());
	pthread_mutex_unlock(&t->lock);
	if (!dir || fresh)
		return 0;

	pthread_mutex_lock(&t->list_lock);
	pthread_mutex_lock(&t->lock);
	dir = node_find_ino(t, ino);
	char *path = NULL;
	int rc = 0;
	/* Another thread may have listed it while this one waited. */
	if (dir && !dir->detached && dir->is_dir && !is_fresh(t, dir, clock_mono())) {
		path = node_path(relist_target(t, dir));
		rc = path ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	if (path)
		rc = list_subtree(t, path);
	pthread_mutex_unlock(&t->list_lock);
	free(path);
	return rc;
}

/* How long the kernel may keep what it knows of directory dir: until its listing or one of
 * its lock scans runs out. */
static double dir_ttl(const struct tree *t, const struct node *dir, double now)
{
	double until = dir->listed_at + t->cfg->cache_ttl, locks = treelock_fresh_until(t, dir);
	double left = (locks < until ? locks : until) - now;
	return left > 0 ? left : 0;
}

static void fill_attr(const struct tree *t, const struct node *n, struct tree_attr *a, double now)
{
	*a = (struct tree_attr){ .ino = n->ino, .is_dir = n->is_dir, .is_lock = n->is_lock,
	                         .mtime = n->mtime };
	a->lock_dir = n->is_dir && n->parent && !n->virt && !n->in_s3;
	a->virt = n->is_dir ? 0 : n->virt;
	a->size = n->is_lock ? (n->lock ? n->lock->text_len : 0) : n->size;
	if (n->is_dir && !n->virt) {
		a->mtime_ns = (long)(n->entries_gen % 1000000000);
		a->own_ttl = !a->lock_dir;
		a->ttl = a->own_ttl ? dir_ttl(t, n, now) : 0;
	}
}

/* A name that directory parent does not hold may be a directory made since its listing:
 * states or lockfiles in S3, or locks that only the table holds (which no listing shows).
 * Such a lookup asks with the cheapest requests that answer it: once the listing is older
 * than lock_ttl, a listing of the name's own subtree (one LIST when there is nothing); and
 * the table's snapshot no older than lock_ttl (one Scan per lock_ttl at most, whatever
 * the names). Whatever it finds is made; an absence is left to the kernel's negative
 * entry, which lasts lock_ttl. */
static int probe_name(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	bool absent = dir && dir->is_dir && !dir->detached && !dir->virt && !node_child(t, dir, name);
	bool list = absent && clock_mono() - dir->listed_at >= t->cfg->lock_ttl;
	char *dirpath = absent ? node_path(dir) : NULL, *path = NULL;
	if (dirpath && asprintf(&path, "%s%s%s", dirpath, *dirpath ? "/" : "", name) < 0)
		path = NULL;
	if (list)
		t->stats.probes++;
	pthread_mutex_unlock(&t->lock);
	int rc = absent && !path ? -ENOMEM : 0;
	if (list && path) {
		pthread_mutex_lock(&t->list_lock);
		rc = list_subtree(t, path);
		pthread_mutex_unlock(&t->list_lock);
	}
	if (rc == 0 && path && t->locks->table)
		rc = treelock_probe_table(t, parent, dirpath, name, path);
	free(dirpath);
	free(path);
	return rc;
}

/* name in directory parent, as the kernel's lookup (count: one lookup more on it) or the
 * tree's own walk finds it. */
/* Whether name in parent is a virtual entry (/.tfstatefs and its reports). */
static bool is_virtual(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? node_child(t, dir, name) : NULL;
	bool virt = n && n->virt;
	pthread_mutex_unlock(&t->lock);
	return virt;
}

static int lookup_entry(struct tree *t, uint64_t parent, const char *name,
                        struct tree_attr *attr, bool count)
{
	/* The reports are there whatever the bucket says, and must be reachable when S3 is
	 * not (expired credentials: /.tfstatefs/status says why), so no listing first. */
	int rc = is_virtual(t, parent, name) ? 0 : refresh_dir(t, parent);
	if (rc == 0 && lock_name(name))
		rc = treelock_refresh_by_name(t, parent, name);
	else if (rc == 0 && !is_virtual(t, parent, name))
		rc = probe_name(t, parent, name);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent), *n = NULL;
	if (!dir)
		rc = -ENOENT;
	else if (!dir->is_dir)
		rc = -ENOTDIR;
	else if (!(n = node_child(t, dir, name)))
		rc = -ENOENT;
	if (n) {
		n->nlookup += count;
		fill_attr(t, n, attr, clock_mono());
	}
	t->stats.lookups++;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name, struct tree_attr *attr)
{
	return lookup_entry(t, parent, name, attr, true);
}

int tree_resolve(struct tree *t, const char *path, struct tree_attr *attr)
{
	int rc = tree_getattr(t, TREE_ROOT_INO, attr);
	char name[256];
	for (const char *p = path; rc == 0 && *p;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= sizeof(name))
			return -ENOENT;
		memcpy(name, p, len);
		name[len] = '\0';
		rc = lookup_entry(t, attr->ino, name, attr, false);
		p += len + (p[len] == '/');
	}
	return rc;
}

void tree_get_stats(struct tree *t, struct tree_stats *out)
{
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	out->nodes = t->nnodes;
	pthread_mutex_unlock(&t->lock);
}

int tree_ref(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

void tree_forget(struct tree *t, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	struct node *node = node_find_ino(t, ino);
	if (node) {
		node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
		if (node->detached && node->nlookup == 0) {
			node_unlink_ino(t, node);
			t->nnodes--;
			node_free(node);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/* Directory ino listed again when its listing is older than cache_ttl, and its lock files
 * scanned again when their scans are older than lock_list_ttl. */
static int dir_fresh(struct tree *t, uint64_t ino)
{
	int rc = refresh_dir(t, ino);
	if (rc == 0)
		rc = treelock_scan_s3(t, ino);
	if (rc == 0)
		rc = treelock_scan_table(t, ino);
	return rc;
}

int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *attr)
{
	int rc = treelock_refresh_by_ino(t, ino);
	bool dir_failed = false;
	if (rc == -EINVAL) {
		rc = kernel_holds_dir(t, ino) ? dir_fresh(t, ino) : 0;
		dir_failed = rc < 0 && rc != -ENOENT;
	}
	if (rc < 0 && !dir_failed)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	if (n && dir_failed)
		node_entries_changed(t, n);     /* so that the kernel reads it: the error, not
		                                 * what it kept, is what a readdir gets */
	if (n)
		fill_attr(t, n, attr, clock_mono());
	if (n && dir_failed)
		attr->ttl = 0;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

void tree_dir_free(struct tree_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++)
		free(d->entries[i].name);
	free(d->entries);
	free(d);
}

static int by_off(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Puts dir's children in offset order, once after each change; of two that fall on one
 * offset the later moves up by one (and keeps it). */
static void sort_children(struct node *dir)
{
	if (dir->sorted_gen == dir->entries_gen && dir->sorted_gen)
		return;
	if (dir->nchildren > 1)     /* an empty directory has no array */
		qsort(dir->children, dir->nchildren, sizeof(*dir->children), by_off);
	for (size_t i = 1; i < dir->nchildren; i++)
		if (dir->children[i]->off <= dir->children[i - 1]->off)
			dir->children[i]->off = dir->children[i - 1]->off + 1;
	dir->sorted_gen = dir->entries_gen;
}

/* The first child of dir (sorted) whose offset is above off. */
static size_t first_after(const struct node *dir, uint64_t off)
{
	size_t lo = 0, hi = dir->nchildren;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (dir->children[mid]->off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Copies at most max entries of dir after offset off into d. */
static int copy_entries(const struct tree *t, struct node *dir, uint64_t off, size_t max,
                        struct tree_dir *d)
{
	sort_children(dir);
	size_t from = first_after(dir, off), n = dir->nchildren - from;
	n = n < max ? n : max;
	d->entries = calloc(n ? n : 1, sizeof(*d->entries));
	if (!d->entries)
		return -ENOMEM;
	d->parent_ino = dir->parent ? dir->parent->ino : dir->ino;
	double now = clock_mono();
	for (size_t i = from; i < from + n; i++) {
		const struct node *c = dir->children[i];
		/* The virtual directory is reached by name only, like ZFS's hidden .zfs, so that
		 * find, grep -r and backups do not build its reports. */
		if (c->virt == UINT_MAX)
			continue;
		struct tree_dirent *e = &d->entries[d->count];
		if (!(e->name = strdup(c->name)))
			return -ENOMEM;
		fill_attr(t, c, &e->attr, now);
		e->off = c->off;
		d->count++;
	}
	return 0;
}

int tree_readdir(struct tree *t, uint64_t ino, uint64_t off, size_t max, struct tree_dir **out)
{
	int rc = off == 0 ? dir_fresh(t, ino) : 0;
	if (rc < 0)
		return rc;
	struct tree_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, ino);
	if (!dir)
		rc = -ENOENT;
	else if (!dir->is_dir)
		rc = -ENOTDIR;
	else
		rc = copy_entries(t, dir, off, max, d);
	if (off == 0 && rc == 0)
		dir->in_kernel = true;
	if (off == 0)
		t->stats.dirs_read++;
	pthread_mutex_unlock(&t->lock);
	if (rc < 0) {
		tree_dir_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

size_t tree_changed_dirs(struct tree *t, uint64_t *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&t->lock);
	while (t->nchanged && n < max) {
		uint64_t ino = t->changed[--t->nchanged];
		struct node *dir = node_find_ino(t, ino);
		if (dir && !dir->in_kernel)     /* not read again since */
			out[n++] = ino;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

int tree_opendir(struct tree *t, uint64_t ino, struct tree_dir **out)
{
	return tree_readdir(t, ino, 0, SIZE_MAX, out);
}

int tree_file_key(struct tree *t, uint64_t ino, char **key)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	int rc = !n ? -ENOENT : n->is_dir ? -EISDIR : 0;
	if (rc == 0 && !(*key = strdup(n->key)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_file_update(struct tree *t, uint64_t ino, uint64_t size, time_t mtime, const char *etag)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	if (n && !n->is_dir) {
		n->size = size;
		if (mtime)
			n->mtime = mtime;
		if (etag && *etag && (!n->etag || strcmp(n->etag, etag) != 0)) {
			free(n->etag);
			n->etag = strdup(etag);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int tree_file_etag(struct tree *t, uint64_t ino, char *etag)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	int rc = !n ? -ENOENT : n->is_dir ? -EISDIR : 0;
	if (rc == 0)
		snprintf(etag, 130, "%s", n->etag ? n->etag : "");
	pthread_mutex_unlock(&t->lock);
	return rc;
}

size_t tree_places(struct tree *t, uint64_t ino, struct tree_place *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&t->lock);
	for (struct node *d = node_find_ino(t, ino); d && d->parent && !d->detached && n < max; d = d->parent) {
		out[n].ino = d->ino;
		out[n].parent = d->parent->ino;
		snprintf(out[n++].name, sizeof(out->name), "%s", d->name);
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

bool tree_holds(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	bool held = n && !n->detached;
	pthread_mutex_unlock(&t->lock);
	return held;
}
