/* /.tfstatefs/history/ as files: directories mirror the mount's, a state is a directory
 * of its versions, its index and its locks. */
#include "fs/histfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/lock.h"
#include "util/clock.h"

#define HF_BUCKETS 4096

enum hkind { H_DIR, H_STATE, H_VERSION, H_INDEX, H_LOCKS };

/* One entry. Its inode is HISTFS_INO_BIT | (its index + 1). */
struct hnode {
	enum hkind kind;
	char *path;                 /* the directory's or state's path in the mount */
	char *name;                 /* a version file's name; NULL otherwise */
	uint64_t state;             /* files: the inode of their state's directory */
	/* H_STATE: the state's history, listed at listed_at (monotonic seconds) */
	struct hist_state *hist;
	double listed_at;
	size_t next;                /* the next node in its bucket, + 1 (0: none) */
};

struct histfs {
	struct tree *tree;
	struct history *history;
	const struct tfs_config *cfg;
	uint64_t root;              /* the tree's inode of /.tfstatefs/history */
	pthread_mutex_t lock;       /* guards the nodes and their histories */
	pthread_mutex_t list_lock;  /* one state's versions listed at a time */
	struct hnode *nodes;
	size_t n, cap;
	size_t buckets[HF_BUCKETS]; /* the first node of each bucket, + 1 */
};

int histfs_new(struct tree *tree, struct history *history, const struct tfs_config *cfg,
               uint64_t root, struct histfs **out)
{
	struct histfs *hf = calloc(1, sizeof(*hf));
	if (!hf)
		return -ENOMEM;
	hf->tree = tree;
	hf->history = history;
	hf->cfg = cfg;
	hf->root = root;
	pthread_mutex_init(&hf->lock, NULL);
	pthread_mutex_init(&hf->list_lock, NULL);
	*out = hf;
	return 0;
}

void histfs_free(struct histfs *hf)
{
	if (!hf)
		return;
	for (size_t i = 0; i < hf->n; i++) {
		free(hf->nodes[i].path);
		free(hf->nodes[i].name);
		hist_state_free(hf->nodes[i].hist);
	}
	free(hf->nodes);
	pthread_mutex_destroy(&hf->lock);
	pthread_mutex_destroy(&hf->list_lock);
	free(hf);
}

bool histfs_serves(const struct histfs *hf, uint64_t ino)
{
	return ino == hf->root || (ino & HISTFS_INO_BIT);
}

/* ---- nodes: found by inode, or by kind, path and name ---- */

static size_t bucket_of(enum hkind kind, const char *path, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % HF_BUCKETS);
}

static uint64_t ino_of(size_t index)
{
	return HISTFS_INO_BIT | (uint64_t)(index + 1);
}

/* The node of ino, or NULL; the root is no node (it is the tree's). Under hf->lock. */
static struct hnode *node_at(struct histfs *hf, uint64_t ino)
{
	uint64_t i = ino & ~HISTFS_INO_BIT;
	return (ino & HISTFS_INO_BIT) && i >= 1 && i <= hf->n ? &hf->nodes[i - 1] : NULL;
}

/* The node of (kind, path, name), made when new. Returns its inode, or 0 (out of
 * memory). Under hf->lock. */
static uint64_t node_get(struct histfs *hf, enum hkind kind, const char *path, const char *name,
                         uint64_t state)
{
	size_t b = bucket_of(kind, path, name);
	for (size_t i = hf->buckets[b]; i; i = hf->nodes[i - 1].next) {
		const struct hnode *n = &hf->nodes[i - 1];
		if (n->kind == kind && strcmp(n->path, path) == 0 &&
		    strcmp(n->name ? n->name : "", name ? name : "") == 0)
			return ino_of(i - 1);
	}
	if (hf->n == hf->cap) {
		size_t cap = hf->cap ? hf->cap * 2 : 64;
		struct hnode *a = realloc(hf->nodes, cap * sizeof(*a));
		if (!a)
			return 0;
		hf->nodes = a;
		hf->cap = cap;
	}
	struct hnode *n = &hf->nodes[hf->n];
	*n = (struct hnode){ .kind = kind, .path = strdup(path), .name = name ? strdup(name) : NULL,
	                     .state = state, .next = hf->buckets[b] };
	if (!n->path || (name && !n->name)) {
		free(n->path);
		free(n->name);
		return 0;
	}
	hf->buckets[b] = ++hf->n;
	return ino_of(hf->n - 1);
}

/* ---- a state's history: listed when first used, again after cache_ttl ---- */

/* The version named name in a state's history, or NULL. */
static const struct hist_version *version_named(const struct hist_state *s, const char *name)
{
	for (size_t i = 0; s && i < s->nversions; i++)
		if (s->versions[i].name && strcmp(s->versions[i].name, name) == 0)
			return &s->versions[i];
	return NULL;
}

/* Brings the history of state directory ino up to date (listing it when older than
 * cache_ttl). Returns 0, -ENOENT (it has no version), or the listing's errno. */
static int state_fresh(struct histfs *hf, uint64_t ino)
{
	pthread_mutex_lock(&hf->list_lock);
	pthread_mutex_lock(&hf->lock);
	struct hnode *n = node_at(hf, ino);
	bool due = n && n->kind == H_STATE &&
	           (!n->hist || clock_mono() - n->listed_at >= hf->cfg->cache_ttl);
	char *path = due ? strdup(n->path) : NULL;
	pthread_mutex_unlock(&hf->lock);
	int rc = !n || n->kind != H_STATE ? -ENOENT : due && !path ? -ENOMEM : 0;
	struct hist_state *s = NULL;
	if (path)
		rc = history_state(hf->history, path, &s);
	if (s) {
		pthread_mutex_lock(&hf->lock);
		n = node_at(hf, ino);
		/* Version nodes name versions, which stay: the history they point into is
		 * replaced whole, and their facts come from the shared cache. */
		hist_state_free(n->hist);
		n->hist = s;
		n->listed_at = clock_mono();
		pthread_mutex_unlock(&hf->lock);
	}
	pthread_mutex_unlock(&hf->list_lock);
	free(path);
	return rc;
}

/* ---- attributes ---- */

static void dir_attr(uint64_t ino, time_t mtime, struct tree_attr *a)
{
	*a = (struct tree_attr){ .ino = ino, .is_dir = true, .mtime = mtime };
}

/* The attributes of node ino as its state's history says. Under hf->lock. */
static int attr_of(struct histfs *hf, uint64_t ino, struct tree_attr *a)
{
	const struct hnode *n = node_at(hf, ino);
	if (!n)
		return -ENOENT;
	const struct hnode *st = n->kind == H_VERSION || n->kind == H_INDEX || n->kind == H_LOCKS
	                         ? node_at(hf, n->state) : NULL;
	const struct hist_state *s = st ? st->hist : n->hist;
	time_t newest = s && s->nversions ? (time_t)(s->versions[s->nversions - 1].mtime_ms / 1000)
	                                  : time(NULL);
	switch (n->kind) {
	case H_DIR:
	case H_STATE:
		/* The kernel reads a directory again when its mtime moved: a mirror's moves each
		 * second, a state's with its versions. */
		dir_attr(ino, n->kind == H_STATE ? newest : time(NULL), a);
		a->mtime_ns = s ? (long)(s->nversions % 1000000000) : 0;
		return 0;
	case H_INDEX:
	case H_LOCKS:
		/* Built at open: the size is what a read finds (direct I/O). */
		*a = (struct tree_attr){ .ino = ino, .mtime = newest };
		return 0;
	case H_VERSION: {
		const struct hist_version *v = version_named(s, n->name);
		if (!v)
			return -ENOENT;
		*a = (struct tree_attr){ .ino = ino, .size = v->size,
		                         .mtime = (time_t)(v->mtime_ms / 1000) };
		return 0;
	}
	}
	return -ENOENT;
}

int histfs_getattr(struct histfs *hf, uint64_t ino, struct tree_attr *attr)
{
	if (ino == hf->root) {
		dir_attr(ino, time(NULL), attr);
		return 0;
	}
	/* A state's versions listed again once older than cache_ttl: the kernel asks for a
	 * directory's attributes before it reads its entries from its own cache. */
	int rc = state_fresh(hf, ino);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&hf->lock);
	rc = attr_of(hf, ino, attr);
	pthread_mutex_unlock(&hf->lock);
	return rc;
}

/* ---- lookups ---- */

/* The mount path a directory entry of histfs stands for: "" for the root. Returns a
 * malloc'd copy, or NULL with *rc set. */
static char *dir_path(struct histfs *hf, uint64_t ino, enum hkind *kind, int *rc)
{
	*rc = 0;
	if (ino == hf->root) {
		*kind = H_DIR;
		return strdup("");
	}
	pthread_mutex_lock(&hf->lock);
	const struct hnode *n = node_at(hf, ino);
	bool dir = n && (n->kind == H_DIR || n->kind == H_STATE);
	char *path = dir ? strdup(n->path) : NULL;
	if (dir)
		*kind = n->kind;
	pthread_mutex_unlock(&hf->lock);
	*rc = !n ? -ENOENT : !dir ? -ENOTDIR : !path ? -ENOMEM : 0;
	return path;
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0 ? NULL : p;
}

/* Is the tree's entry one whose history is shown: a directory, or a state? */
static bool has_history(const struct tree_attr *a)
{
	return !a->virt && !a->is_lock;
}

/* name below the mount directory at path: a directory's or a state's node. */
static int lookup_in_dir(struct histfs *hf, const char *path, const char *name, uint64_t *ino)
{
	char *p = join(path, name);
	struct tree_attr a;
	int rc = p ? tree_resolve(hf->tree, p, &a) : -ENOMEM;
	if (rc == 0 && !has_history(&a))
		rc = -ENOENT;
	if (rc == 0) {
		pthread_mutex_lock(&hf->lock);
		*ino = node_get(hf, a.is_dir ? H_DIR : H_STATE, p, NULL, 0);
		pthread_mutex_unlock(&hf->lock);
		rc = *ino ? 0 : -ENOMEM;
	}
	free(p);
	return rc;
}

/* name in the directory of state st (at path): index, locks, or a version. */
static int lookup_in_state(struct histfs *hf, uint64_t st, const char *path, const char *name,
                           uint64_t *ino)
{
	int rc = state_fresh(hf, st);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&hf->lock);
	enum hkind kind = strcmp(name, "index") == 0 ? H_INDEX : strcmp(name, "locks") == 0
	                  ? H_LOCKS : H_VERSION;
	if (kind != H_VERSION || version_named(node_at(hf, st)->hist, name))
		*ino = node_get(hf, kind, path, kind == H_VERSION ? name : NULL, st);
	else
		rc = -ENOENT;
	if (rc == 0 && !*ino)
		rc = -ENOMEM;
	pthread_mutex_unlock(&hf->lock);
	return rc;
}

int histfs_lookup(struct histfs *hf, uint64_t parent, const char *name, struct tree_attr *attr)
{
	enum hkind kind;
	int rc;
	char *path = dir_path(hf, parent, &kind, &rc);
	if (!path)
		return rc;
	uint64_t ino = 0;
	rc = kind == H_DIR ? lookup_in_dir(hf, path, name, &ino)
	                   : lookup_in_state(hf, parent, path, name, &ino);
	free(path);
	return rc == 0 ? histfs_getattr(hf, ino, attr) : rc;
}

/* ---- directories ---- */

static int dir_add(struct tree_dir *d, size_t *cap, const char *name, const struct tree_attr *a)
{
	if (d->count == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct tree_dirent *e = realloc(d->entries, c * sizeof(*e));
		if (!e)
			return -ENOMEM;
		d->entries = e;
		*cap = c;
	}
	if (!(d->entries[d->count].name = strdup(name)))
		return -ENOMEM;
	d->entries[d->count++].attr = *a;
	return 0;
}

/* A mirrored directory: the tree's directories and states at path. */
static int list_dir(struct histfs *hf, const char *path, struct tree_dir *d)
{
	struct tree_attr at;
	int rc = tree_resolve(hf->tree, path, &at);
	struct tree_dir *src = NULL;
	if (rc == 0)
		rc = tree_opendir(hf->tree, at.ino, &src);
	size_t cap = 0;
	for (size_t i = 0; rc == 0 && i < src->count; i++) {
		const struct tree_dirent *e = &src->entries[i];
		if (!has_history(&e->attr))
			continue;
		char *p = join(path, e->name);
		pthread_mutex_lock(&hf->lock);
		uint64_t ino = p ? node_get(hf, e->attr.is_dir ? H_DIR : H_STATE, p, NULL, 0) : 0;
		struct tree_attr a;
		if (ino)
			attr_of(hf, ino, &a);
		pthread_mutex_unlock(&hf->lock);
		free(p);
		if (!ino)
			rc = -ENOMEM;
		else
			rc = dir_add(d, &cap, e->name, &a);
	}
	tree_dir_free(src);
	return rc;
}

/* A state's directory: its versions, oldest first, then index and locks. */
static int list_state(struct histfs *hf, uint64_t st, struct tree_dir *d)
{
	int rc = state_fresh(hf, st);
	size_t cap = 0;
	pthread_mutex_lock(&hf->lock);
	const struct hnode *n = node_at(hf, st);
	char *path = rc == 0 ? strdup(n->path) : NULL;
	const struct hist_state *s = n->hist;
	for (size_t i = 0; rc == 0 && i <= s->nversions + 1; i++) {
		const char *name = i == s->nversions ? "index" : i == s->nversions + 1 ? "locks"
		                 : s->versions[i].name;
		if (!name)
			continue;   /* a delete marker: a line of the index, no file */
		enum hkind kind = i == s->nversions ? H_INDEX : i > s->nversions ? H_LOCKS : H_VERSION;
		uint64_t ino = path ? node_get(hf, kind, path, kind == H_VERSION ? name : NULL, st) : 0;
		struct tree_attr a;
		rc = ino ? attr_of(hf, ino, &a) : -ENOMEM;
		if (rc == 0)
			rc = dir_add(d, &cap, name, &a);
		n = node_at(hf, st);    /* node_get may have moved the nodes */
		s = n->hist;
	}
	pthread_mutex_unlock(&hf->lock);
	free(path);
	return rc;
}

int histfs_opendir(struct histfs *hf, uint64_t ino, struct tree_dir **out)
{
	enum hkind kind;
	int rc;
	char *path = dir_path(hf, ino, &kind, &rc);
	if (!path)
		return rc;
	struct tree_dir *d = calloc(1, sizeof(*d));
	rc = !d ? -ENOMEM : kind == H_DIR ? list_dir(hf, path, d) : list_state(hf, ino, d);
	free(path);
	if (rc < 0) {
		tree_dir_free(d);
		return rc;
	}
	d->parent_ino = ino;    /* ".." is looked up by the kernel, which knows it */
	*out = d;
	return 0;
}

/* ---- files ---- */

/* The text of index or locks of state st: the versions and locks read, then written. */
static int build_text(struct histfs *hf, uint64_t st, bool index, char **text, size_t *len)
{
	int rc = state_fresh(hf, st);
	if (rc < 0)
		return rc;
	/* Read outside the lock: the history stays while list_lock is held. */
	pthread_mutex_lock(&hf->list_lock);
	pthread_mutex_lock(&hf->lock);
	struct hist_state *s = node_at(hf, st)->hist;
	pthread_mutex_unlock(&hf->lock);
	rc = history_read(hf->history, s);
	FILE *out = rc == 0 ? open_memstream(text, len) : NULL;
	if (rc == 0 && !out)
		rc = -ENOMEM;
	if (out) {
		if (index)
			history_put_index(s, out);
		else
			history_put_locks(s->locks, s->nlocks, clock_real_ms(), out);
		if (fclose(out) != 0)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&hf->list_lock);
	return rc;
}

/* A version file's key and version id (malloc'd). Under hf->lock. */
static int version_ids(struct histfs *hf, uint64_t ino, char **key, char **version_id,
                       struct histfs_version *out)
{
	const struct hnode *n = node_at(hf, ino);
	if (!n || n->kind != H_VERSION)
		return n ? -EINVAL : -ENOENT;
	const struct hist_state *s = node_at(hf, n->state)->hist;
	const struct hist_version *v = version_named(s, n->name);
	if (!v)
		return -ENOENT;
	*key = strdup(s->key);
	*version_id = strdup(v->version_id);
	if (out) {
		*out = (struct histfs_version){ .mtime_ms = v->mtime_ms };
		snprintf(out->etag, sizeof(out->etag), "%s", v->etag ? v->etag : "");
		snprintf(out->version_id, sizeof(out->version_id), "%s", v->version_id);
	}
	return *key && *version_id ? 0 : -ENOMEM;
}

int histfs_open(struct histfs *hf, uint64_t ino, struct store *store,
                struct reader_budget *budget, struct reader **reader, char **text,
                size_t *len)
{
	pthread_mutex_lock(&hf->lock);
	const struct hnode *n = node_at(hf, ino);
	int rc = !n ? -ENOENT : n->kind == H_DIR || n->kind == H_STATE ? -EISDIR : 0;
	enum hkind kind = n ? n->kind : H_DIR;
	uint64_t st = n ? n->state : 0;
	char *key = NULL, *version_id = NULL;
	if (rc == 0 && kind == H_VERSION)
		rc = version_ids(hf, ino, &key, &version_id, NULL);
	pthread_mutex_unlock(&hf->lock);
	if (rc == 0 && kind == H_VERSION) {
		struct store_object_info info;
		rc = reader_open(store, budget, key, version_id, reader, &info);
	} else if (rc == 0) {
		rc = build_text(hf, st, kind == H_INDEX, text, len);
	}
	free(key);
	free(version_id);
	return rc;
}

bool histfs_is_version(struct histfs *hf, uint64_t ino)
{
	pthread_mutex_lock(&hf->lock);
	const struct hnode *n = node_at(hf, ino);
	bool version = n && n->kind == H_VERSION;
	pthread_mutex_unlock(&hf->lock);
	return version;
}

int histfs_version_of(struct histfs *hf, uint64_t ino, struct histfs_version *out)
{
	char *key = NULL, *version_id = NULL;
	pthread_mutex_lock(&hf->lock);
	int rc = version_ids(hf, ino, &key, &version_id, out);
	pthread_mutex_unlock(&hf->lock);
	if (rc == 0)
		rc = history_facts(hf->history, key, version_id, &out->facts);
	free(key);
	free(version_id);
	return rc;
}
