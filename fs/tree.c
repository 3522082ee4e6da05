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
	pthread_cond_init(&t->run_changed, NULL);
	t->root = node_new(t, NULL, "", 0, true);
	if (!t->root) {
		tree_free(t);
		return -ENOMEM;
	}
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
	treelist_idle(t);   /* a listing's thread works on the tree */
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
	pthread_cond_destroy(&t->run_changed);
	free(t);
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
	if (list && path)
		rc = treelist_subtree(t, path);
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
	int rc = is_virtual(t, parent, name) ? 0 : treelist_refresh(t, parent);
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
	int rc = treelist_refresh(t, ino);
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
	if (rc == -EINVAL && kernel_holds_dir(t, ino)) {
		rc = dir_fresh(t, ino);
		dir_failed = rc < 0 && rc != -ENOENT;
	} else if (rc == -EINVAL) {
		treelist_settle(t, ino);
		rc = 0;
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

/* Moves children[i], which falls on its predecessor's offset, to the first offset above it
 * that no sibling holds (and it keeps it), and to its place in the order. */
static void set_apart(struct node *dir, size_t i)
{
	struct node **c = dir->children, *moved = c[i];
	uint64_t off = c[i - 1]->off + 1;
	size_t j = i + 1;
	for (; j < dir->nchildren && c[j]->off <= off; j++)
		if (c[j]->off == off)
			off++;
	moved->off = off;
	memmove(&c[i], &c[i + 1], (j - i - 1) * sizeof(*c));
	c[j - 1] = moved;
}

/* Puts dir's children in offset order, once after each change. Of two that fall on one
 * offset the newer (the higher inode: entries are made in inode order) moves, never one
 * whose offset a readdir may have handed out. */
static void sort_children(struct node *dir)
{
	if (dir->sorted_gen == dir->entries_gen && dir->sorted_gen)
		return;
	if (dir->nchildren > 1)     /* an empty directory has no array */
		qsort(dir->children, dir->nchildren, sizeof(*dir->children), by_off);
	for (size_t i = 1; i < dir->nchildren;)
		if (dir->children[i]->off <= dir->children[i - 1]->off)
			set_apart(dir, i);  /* children[i] is another one now: look again */
		else
			i++;
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
