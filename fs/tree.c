/* The mounted tree: S3 keys as directories and files, filled from flat listings, with TTLs.
 *
 * One flat ListObjectsV2 (no delimiter) below a directory's prefix fills that whole
 * subtree. Each listing gets a generation number; entries the listing did not see are
 * swept out afterwards. Inode numbers are never reused, and an entry the kernel still
 * holds (nlookup > 0) stays addressable by inode after it is swept, until forgotten. */
#include "fs/tree.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "s3/log.h"

struct node {
	uint64_t ino;
	struct node *parent;        /* NULL for the root and for detached entries */
	char *name;
	char *key;                  /* files: the S3 key */
	bool is_dir;
	bool detached;              /* swept out of the tree; kept while the kernel holds it */
	uint64_t size;
	time_t mtime;
	char *etag;
	uint64_t gen;               /* the last listing that saw it */
	uint64_t nlookup;
	double listed_at;           /* directories: when a listing last covered it (monotonic s) */
	double locks_scanned_at;    /* directories: when its lock files were last listed */
	bool is_lock;               /* files: a "<state>.tflock" lock file */
	struct lock_view *lock;     /* lock files: what S3 held at lock_checked, NULL until fetched */
	double lock_checked;
	struct shown_lock *shown;   /* lock files: what the filesystem last showed of it */
	bool scan_seen;             /* lock files: found by the lock scan under way */
	struct node **children;
	size_t nchildren, cap;
	struct node *next_by_ino;   /* hash chains */
	struct node *next_by_name;
};

/* The lock a lock file last showed: what the guard holds an unlink to. */
struct shown_lock {
	char etag[130];
	char *id, *who, *operation, *created;
};

struct tree {
	struct s3_client *s3;
	const struct keymap *map;
	double ttl, lock_ttl;
	pthread_mutex_t lock;       /* guards every node and the tables */
	pthread_mutex_t list_lock;  /* one listing at a time: sweeps must not interleave */
	struct node *root;
	struct node **by_ino, **by_name;
	size_t nbuckets, nnodes;
	uint64_t next_ino, gen;
};

/* What one listing found that cannot be shown, for its log line. */
struct merge_counts {
	size_t hidden;      /* keys that cannot be a path (see keymap.h) */
	size_t shadowed;    /* objects hidden by a directory of the same name */
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over the parent inode and the name. */
static size_t name_hash(uint64_t parent, const char *name, size_t nbuckets)
{
	uint64_t h = 1469598103934665603ULL ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % nbuckets);
}

static size_t ino_hash(uint64_t ino, size_t nbuckets)
{
	return (size_t)((ino * 11400714819323198485ULL) % nbuckets);
}

static void table_insert(struct tree *t, struct node *n)
{
	size_t i = ino_hash(n->ino, t->nbuckets);
	n->next_by_ino = t->by_ino[i];
	t->by_ino[i] = n;
	if (n->parent) {
		size_t j = name_hash(n->parent->ino, n->name, t->nbuckets);
		n->next_by_name = t->by_name[j];
		t->by_name[j] = n;
	}
}

static int tables_grow(struct tree *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 4 : 1024;
	struct node **bi = calloc(nb, sizeof(*bi)), **bn = calloc(nb, sizeof(*bn));
	if (!bi || !bn) {
		free(bi);
		free(bn);
		return -ENOMEM;
	}
	struct node **old_ino = t->by_ino, **old_name = t->by_name;
	size_t oldn = t->nbuckets;
	t->by_ino = bi;
	t->by_name = bn;
	t->nbuckets = nb;
	for (size_t i = 0; i < oldn; i++) {
		for (struct node *n = old_ino[i], *next; n; n = next) {
			next = n->next_by_ino;
			table_insert(t, n);
		}
	}
	free(old_ino);
	free(old_name);
	return 0;
}

static void table_unlink_name(struct tree *t, struct node *n)
{
	if (!n->parent)
		return;
	struct node **pp = &t->by_name[name_hash(n->parent->ino, n->name, t->nbuckets)];
	for (; *pp; pp = &(*pp)->next_by_name) {
		if (*pp == n) {
			*pp = n->next_by_name;
			return;
		}
	}
}

static void table_unlink_ino(struct tree *t, struct node *n)
{
	struct node **pp = &t->by_ino[ino_hash(n->ino, t->nbuckets)];
	for (; *pp; pp = &(*pp)->next_by_ino) {
		if (*pp == n) {
			*pp = n->next_by_ino;
			return;
		}
	}
}

static struct node *find_ino(const struct tree *t, uint64_t ino)
{
	for (struct node *n = t->by_ino[ino_hash(ino, t->nbuckets)]; n; n = n->next_by_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

static struct node *find_child(const struct tree *t, const struct node *dir, const char *name)
{
	size_t i = name_hash(dir->ino, name, t->nbuckets);
	for (struct node *n = t->by_name[i]; n; n = n->next_by_name)
		if (n->parent == dir && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static void shown_free(struct shown_lock *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->who);
	free(s->operation);
	free(s->created);
	free(s);
}

static void node_free(struct node *n)
{
	lock_view_free(n->lock);
	shown_free(n->shown);
	free(n->name);
	free(n->key);
	free(n->etag);
	free(n->children);
	free(n);
}

static struct node *node_new(struct tree *t, struct node *parent, const char *name, size_t len,
                             bool is_dir)
{
	if (t->nnodes >= t->nbuckets && tables_grow(t) < 0)
		return NULL;
	struct node *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strndup(name, len))) {
		free(n);
		return NULL;
	}
	if (parent && parent->nchildren == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **c = realloc(parent->children, cap * sizeof(*c));
		if (!c) {
			node_free(n);
			return NULL;
		}
		parent->children = c;
		parent->cap = cap;
	}
	n->ino = t->next_ino++;
	n->is_dir = is_dir;
	n->parent = parent;
	if (parent)
		parent->children[parent->nchildren++] = n;
	table_insert(t, n);
	t->nnodes++;
	return n;
}

/* Takes n (and its subtree) out of the tree. Whatever the kernel does not hold is freed;
 * the rest stays reachable by inode until forgotten. The caller removes n from its
 * parent's child array. */
static void node_detach(struct tree *t, struct node *n)
{
	for (size_t i = 0; i < n->nchildren; i++)
		node_detach(t, n->children[i]);
	n->nchildren = 0;
	table_unlink_name(t, n);
	n->parent = NULL;
	n->detached = true;
	if (n->nlookup == 0) {
		table_unlink_ino(t, n);
		t->nnodes--;
		node_free(n);
	}
}

static void remove_child(struct tree *t, struct node *dir, struct node *child)
{
	for (size_t i = 0; i < dir->nchildren; i++) {
		if (dir->children[i] == child) {
			dir->children[i] = dir->children[--dir->nchildren];
			break;
		}
	}
	node_detach(t, child);
}

/* The directory's path in the mount: "" for the root, "a/b" below it. */
static char *node_path(const struct node *n)
{
	size_t len = 0;
	for (const struct node *p = n; p->parent; p = p->parent)
		len += strlen(p->name) + 1;
	char *path = malloc(len + 1);
	if (!path)
		return NULL;
	path[len ? len - 1 : 0] = '\0';
	size_t end = len ? len - 1 : 0;
	for (const struct node *p = n; p->parent; p = p->parent) {
		size_t nl = strlen(p->name);
		end -= nl;
		memcpy(path + end, p->name, nl);
		if (end)
			path[--end] = '/';
	}
	return path;
}

int tree_new(struct s3_client *s3, const struct keymap *map, double ttl_s, double lock_ttl_s,
             struct tree **out)
{
	struct tree *t = calloc(1, sizeof(*t));
	if (!t || tables_grow(t) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->s3 = s3;
	t->map = map;
	t->ttl = ttl_s;
	t->lock_ttl = lock_ttl_s;
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
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->list_lock);
	free(t);
}

/* ---- listing and merging ---- */

struct listed_page {
	struct s3_list_page page;
	enum listing_mode mode;
};

struct batch {
	struct listed_page *pages;
	size_t npages, cap;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->npages; i++)
		s3_list_page_free(&b->pages[i].page);
	free(b->pages);
	memset(b, 0, sizeof(*b));
}

static struct listed_page *batch_next(struct batch *b)
{
	if (b->npages == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct listed_page *p = realloc(b->pages, cap * sizeof(*p));
		if (!p)
			return NULL;
		b->pages = p;
		b->cap = cap;
	}
	return &b->pages[b->npages];
}

/* Takes over one page of a listing; returns 0 or a negative errno that ends it. */
typedef int (*page_fn)(void *ctx, struct s3_list_page *page);

/* Hands every page of one ListObjectsV2 below prefix, in order, to on_page, which owns
 * each page from then on. The one place that pages: failures are logged here, and a
 * server repeating its continuation token ends the listing instead of looping forever. */
static int list_pages(struct tree *t, const char *prefix, const char *delimiter,
                      page_fn on_page, void *ctx)
{
	char *token = NULL;
	int rc;
	do {
		struct s3_list_page page;
		struct aws_error err;
		if ((rc = s3_list_page(t->s3, prefix, delimiter, token, &page, &err)) < 0) {
			char desc[512];
			aws_error_describe(&err, desc, sizeof(desc));
			log_error("listing prefix '%s' failed: %s", prefix, desc);
			rc = rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
			break;
		}
		char *next = page.truncated ? strdup(page.next_token) : NULL;
		bool repeated = next && token && strcmp(next, token) == 0;
		if (page.truncated && !next) {
			s3_list_page_free(&page);
			rc = -ENOMEM;
		} else {
			rc = on_page(ctx, &page);
		}
		free(token);
		token = next;
		if (rc == 0 && repeated) {
			log_error("listing prefix '%s': the server sent the same continuation token twice",
			          prefix);
			rc = -EIO;
		}
	} while (rc == 0 && token);
	free(token);
	return rc;
}

struct batch_fill {
	struct batch *batch;
	enum listing_mode mode;
};

static int batch_take_page(void *ctx, struct s3_list_page *page)
{
	struct batch_fill *f = ctx;
	struct listed_page *lp = batch_next(f->batch);
	if (!lp) {
		s3_list_page_free(page);
		return -ENOMEM;
	}
	lp->page = *page;
	lp->mode = f->mode;
	f->batch->npages++;
	return 0;
}

/* Fetches every page of one flat listing into b. */
static int fetch_listing(struct tree *t, const struct listing *l, struct batch *b)
{
	struct batch_fill f = { .batch = b, .mode = l->mode };
	return list_pages(t, l->s3_prefix, NULL, batch_take_page, &f);
}

static int fetch_dir(struct tree *t, const char *dirpath, struct batch *b)
{
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, dirpath, ls);
	if (n < 0)
		return n;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0)
			rc = fetch_listing(t, &ls[i], b);
		keymap_listing_free(&ls[i]);
	}
	return rc;
}

/* Walks (and with gen != 0, creates) the directories of path[0..len). An old file where a
 * directory is needed gives way to it. Returns the directory, or NULL. */
static struct node *walk_dirs(struct tree *t, const char *path, size_t len, uint64_t gen)
{
	struct node *dir = t->root;
	char name[256];
	for (size_t start = 0; start < len && dir;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		snprintf(name, sizeof(name), "%.*s", (int)(end - start), path + start);
		struct node *child = find_child(t, dir, name);
		if (child && !child->is_dir && gen) {
			remove_child(t, dir, child);
			child = NULL;
		}
		if (!child && gen)
			child = node_new(t, dir, name, strlen(name), true);
		if (child && !child->is_dir)
			child = NULL;
		if (child && gen)
			child->gen = gen;
		dir = child;
		start = end + 1;
	}
	return dir;
}

static void put_file(struct tree *t, const char *path, const struct s3_object *obj, uint64_t gen,
                     struct merge_counts *counts)
{
	const char *slash = strrchr(path, '/');
	struct node *dir = walk_dirs(t, path, slash ? (size_t)(slash - path) : 0, gen);
	const char *name = slash ? slash + 1 : path;
	if (!dir)
		return;
	struct node *n = find_child(t, dir, name);
	if (n && n->is_dir && n->gen == gen) {
		counts->shadowed++;
		log_debug("object '%s' is hidden by a directory of the same name", obj->key);
		return;
	}
	if (n && n->is_dir) {
		remove_child(t, dir, n);
		n = NULL;
	}
	if (!n && (n = node_new(t, dir, name, strlen(name), false))) {
		n->is_lock = lock_name(name);
		n->lock_checked = -1e18;
	}
	if (!n)
		return;
	if (!n->key || strcmp(n->key, obj->key) != 0) {
		char *key = strdup(obj->key);
		if (!key) {
			remove_child(t, dir, n);
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
	if (n->is_lock && n->lock && strcmp(n->lock->etag, n->etag) != 0)
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

/* Two passes, so that a key that is both an object and a prefix ("a/b" and "a/b/c")
 * always resolves the same way: the directory wins, whatever the order of the keys. */
static void merge_batch(struct tree *t, const struct batch *b, uint64_t gen,
                        struct merge_counts *counts)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < b->npages; i++) {
			const struct s3_list_page *pg = &b->pages[i].page;
			for (size_t j = 0; j < pg->nobjects; j++) {
				const struct s3_object *o = &pg->objects[j];
				char *path = NULL;
				int v = keymap_key_to_path(t->map, b->pages[i].mode, o->key, o->key_len, &path);
				if (pass == 0 && v == KEY_DIR_MARKER) {
					walk_dirs(t, path, strlen(path), gen);
				} else if (pass == 0 && v == KEY_FILE) {
					const char *slash = strrchr(path, '/');
					walk_dirs(t, path, slash ? (size_t)(slash - path) : 0, gen);
				} else if (pass == 1 && v == KEY_FILE) {
					put_file(t, path, o, gen, counts);
				} else if (pass == 1 && v > KEY_OUTSIDE) {
					counts->hidden++;
					log_debug("key '%s' is not shown: %s", o->key,
					          keymap_verdict_str((enum key_verdict)v));
				}
				free(path);
			}
		}
	}
}

/* Removes what the listing of generation gen did not see below dir. */
static void sweep(struct tree *t, struct node *dir, uint64_t gen, double now)
{
	dir->listed_at = now;
	for (size_t i = 0; i < dir->nchildren;) {
		struct node *c = dir->children[i];
		if (c->gen != gen) {
			dir->children[i] = dir->children[--dir->nchildren];
			node_detach(t, c);
			continue;
		}
		if (c->is_dir)
			sweep(t, c, gen, now);
		i++;
	}
}

static bool is_fresh(const struct tree *t, const struct node *dir, double now)
{
	return now - dir->listed_at < t->ttl;
}

/* Lists directory ino and its subtree when its listing has expired. */
static int refresh_dir(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, ino);
	bool fresh = dir && is_fresh(t, dir, now_mono());
	pthread_mutex_unlock(&t->lock);
	if (!dir || fresh)
		return 0;

	pthread_mutex_lock(&t->list_lock);
	pthread_mutex_lock(&t->lock);
	dir = find_ino(t, ino);
	char *path = NULL;
	int rc = 0;
	/* Another thread may have listed it while this one waited. */
	if (dir && !dir->detached && dir->is_dir && !is_fresh(t, dir, now_mono())) {
		path = node_path(dir);
		rc = path ? 0 : -ENOMEM;
	}
	uint64_t gen = ++t->gen;
	pthread_mutex_unlock(&t->lock);

	struct batch b = { 0 };
	if (path) {
		double started = now_mono();
		rc = fetch_dir(t, path, &b);
		pthread_mutex_lock(&t->lock);
		struct merge_counts counts = { 0 };
		if (rc == 0) {
			merge_batch(t, &b, gen, &counts);
			struct node *d = walk_dirs(t, path, strlen(path), 0);
			if (d)
				sweep(t, d, gen, started);
		}
		pthread_mutex_unlock(&t->lock);
		if (counts.hidden || counts.shadowed)
			log_info("listing /%s: %zu keys cannot be paths and %zu objects are hidden by a "
			         "directory of the same name (-d names each)", path, counts.hidden,
			         counts.shadowed);
	}
	pthread_mutex_unlock(&t->list_lock);
	batch_free(&b);
	free(path);
	return rc;
}

static void fill_attr(const struct node *n, struct tree_attr *a)
{
	a->ino = n->ino;
	a->is_dir = n->is_dir;
	a->is_lock = n->is_lock;
	a->size = n->is_lock ? (n->lock ? n->lock->text_len : 0) : n->size;
	a->mtime = n->mtime;
}

/* ---- lock files ---- */

static bool lock_is_fresh(const struct tree *t, const struct node *n, double now)
{
	return n->lock && now - n->lock_checked < t->lock_ttl;
}

static struct shown_lock *shown_from(const struct lock_view *v)
{
	struct shown_lock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->etag, v->etag, sizeof(s->etag));
	const struct lockinfo *li = &v->info;
	s->id = strdup(li->id ? li->id : "");
	s->who = strdup(li->who ? li->who : "");
	s->operation = strdup(li->operation ? li->operation : "");
	s->created = strdup(li->created ? li->created : "");
	if (!s->id || !s->who || !s->operation || !s->created) {
		shown_free(s);
		return NULL;
	}
	return s;
}

/* The lock's current view is now what the filesystem shows. */
static void mark_shown(struct node *n)
{
	struct shown_lock *s = n->lock ? shown_from(n->lock) : NULL;
	if (s) {
		shown_free(n->shown);
		n->shown = s;
	}
}

/* Installs a freshly fetched view. The first view a lock file gets is what its lookup
 * shows; later ones only change what it shows once its content is read again. */
static void install_view(struct node *n, struct lock_view *v)
{
	lock_view_free(n->lock);
	n->lock = v;
	n->lock_checked = now_mono();
	n->mtime = v->mtime ? v->mtime : n->mtime;
	char *etag = strdup(v->etag);
	if (etag) {
		free(n->etag);
		n->etag = etag;
	}
	if (!n->shown)
		mark_shown(n);
}

/* Records the result of a fetch of lock file name in dir: a view (taken over), or
 * -ENOENT (the file goes). Returns the node, or NULL. Called with t->lock held. */
static struct node *apply_fetch(struct tree *t, struct node *dir, const char *name, char **key,
                                int rc, struct lock_view **v)
{
	struct node *n = find_child(t, dir, name);
	if (rc == -ENOENT) {
		if (n && n->is_lock)
			remove_child(t, dir, n);
		return NULL;
	}
	if (rc < 0 || (n && !n->is_lock))
		return n;
	if (!n) {
		if (!(n = node_new(t, dir, name, strlen(name), false)))
			return NULL;
		n->is_lock = true;
		n->key = *key;
		*key = NULL;
		n->gen = t->gen;
	}
	install_view(n, *v);
	*v = NULL;
	return n;
}

/* The S3 key of lock file name in directory dir, which may have no node yet (a lock
 * without a state beside it). Malloc'd, or NULL. */
static char *lock_key(const struct tree *t, const struct node *dir, const char *name)
{
	char *dirpath = node_path(dir), *rel = NULL, *key = NULL;
	if (dirpath && asprintf(&rel, "%s%s%s", dirpath, *dirpath ? "/" : "", name) >= 0)
		key = keymap_path_to_key(t->map, rel);
	free(dirpath);
	free(rel);
	return key;
}

/* Brings lock file name in directory parent up to date when its view is older than
 * lock_ttl. Returns 0, -ENOENT when there is no such lock, or the fetch's errno. */
static int lock_refresh_by_name(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, parent);
	struct node *n = dir && dir->is_dir && !dir->detached ? find_child(t, dir, name) : NULL;
	char *key = NULL;
	int rc = 0;
	if (!dir || !dir->is_dir || dir->detached)
		rc = -ENOENT;
	else if (n && (!n->is_lock || lock_is_fresh(t, n, now_mono())))
		rc = 1;  /* a directory of that name, or a fresh lock: nothing to fetch */
	else
		key = n ? strdup(n->key) : lock_key(t, dir, name);
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return rc < 0 ? rc : 0;
	if (!key)
		return -ENOMEM;

	struct lock_view *v = NULL;
	rc = lock_fetch(t->s3, key, &v);
	pthread_mutex_lock(&t->lock);
	dir = find_ino(t, parent);
	if (dir && dir->is_dir && !dir->detached)
		apply_fetch(t, dir, name, &key, rc, &v);
	pthread_mutex_unlock(&t->lock);
	lock_view_free(v);
	free(key);
	return rc;
}

/* The same for lock file ino. A lock found gone leaves the tree. */
static int lock_refresh_by_ino(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	int rc = !n || n->detached ? -ENOENT : !n->is_lock ? -EINVAL : 0;
	bool fresh = rc == 0 && lock_is_fresh(t, n, now_mono());
	char *name = rc == 0 && !fresh ? strdup(n->name) : NULL;
	uint64_t parent = rc == 0 && n->parent ? n->parent->ino : 0;
	pthread_mutex_unlock(&t->lock);
	if (rc < 0 || fresh)
		return rc;
	if (!name)
		return -ENOMEM;
	rc = parent ? lock_refresh_by_name(t, parent, name) : -ENOENT;
	free(name);
	return rc;
}

struct scanned_lock {
	char *name;
	char *etag;
};

/* Lists the lock objects directly in dirpath (a delimiter listing, one page per 1,000
 * keys of that directory alone). */
struct scan {
	const struct keymap *map;
	const char *dirpath;        /* the directory scanned */
	enum listing_mode mode;
	struct scanned_lock *found;
	size_t nfound;
};

/* The name of path if it is directly in dir ("" for the root), else NULL. */
static const char *name_in(const char *path, const char *dir)
{
	size_t dlen = strlen(dir);
	if (dlen && (strncmp(path, dir, dlen) != 0 || path[dlen] != '/'))
		return NULL;
	const char *name = dlen ? path + dlen + 1 : path;
	return strchr(name, '/') ? NULL : name;
}

static int scan_add(struct scan *sc, const char *name, const char *etag)
{
	struct scanned_lock *f = realloc(sc->found, (sc->nfound + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	sc->found = f;
	f[sc->nfound].name = strdup(name);
	f[sc->nfound++].etag = strdup(etag ? etag : "");
	return 0;
}

/* Keeps the lock objects of one page of a delimiter listing. */
static int scan_page(void *ctx, struct s3_list_page *page)
{
	struct scan *sc = ctx;
	int rc = 0;
	for (size_t i = 0; i < page->nobjects && rc == 0; i++) {
		const struct s3_object *o = &page->objects[i];
		char *path = NULL;
		const char *name = NULL;
		if (keymap_key_to_path(sc->map, sc->mode, o->key, o->key_len, &path) == KEY_FILE)
			name = name_in(path, sc->dirpath);
		if (name && lock_name(name))
			rc = scan_add(sc, name, o->etag);
		free(path);
	}
	s3_list_page_free(page);
	return rc;
}

/* Puts what a scan found into directory dir: new lock files appear (fetched when first
 * looked at), changed ones are due a fetch, vanished ones go. */
static void apply_scan(struct tree *t, struct node *dir, const struct scanned_lock *found,
                       size_t nfound)
{
	for (size_t i = 0; i < dir->nchildren; i++)
		dir->children[i]->scan_seen = false;
	for (size_t i = 0; i < nfound; i++) {
		if (!found[i].name || !found[i].etag)
			continue;
		struct node *n = find_child(t, dir, found[i].name);
		if (!n && (n = node_new(t, dir, found[i].name, strlen(found[i].name), false))) {
			n->key = lock_key(t, dir, found[i].name);
			n->is_lock = true;
			n->lock_checked = -1e18;
		}
		if (!n || !n->is_lock)
			continue;
		if (!n->key) {
			remove_child(t, dir, n);
			continue;
		}
		if (!n->lock || strcmp(n->lock->etag, found[i].etag) != 0)
			n->lock_checked = -1e18;
		n->scan_seen = true;
	}
	for (size_t i = 0; i < dir->nchildren;) {
		struct node *c = dir->children[i];
		if (c->is_lock && !c->scan_seen) {
			dir->children[i] = dir->children[--dir->nchildren];
			node_detach(t, c);
			continue;
		}
		i++;
	}
}

/* Lock files come and go faster than states: when neither a listing nor a scan has
 * covered directory ino within lock_ttl, list its own keys for locks. */
static int scan_locks(struct tree *t, uint64_t ino)
{
	double now = now_mono();
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, ino);
	bool due = dir && dir->is_dir && !dir->detached &&
	           now - (dir->listed_at > dir->locks_scanned_at ? dir->listed_at : dir->locks_scanned_at) >= t->lock_ttl;
	char *path = due ? node_path(dir) : NULL;
	pthread_mutex_unlock(&t->lock);
	if (!due)
		return 0;
	if (!path)
		return -ENOMEM;
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, path, ls), rc = n < 0 ? n : 0;
	struct scan sc = { .map = t->map, .dirpath = path };
	for (int i = 0; i < n; i++) {
		sc.mode = ls[i].mode;
		if (rc == 0)
			rc = list_pages(t, ls[i].s3_prefix, "/", scan_page, &sc);
		keymap_listing_free(&ls[i]);
	}
	pthread_mutex_lock(&t->lock);
	dir = find_ino(t, ino);
	if (rc == 0 && dir && !dir->detached) {
		apply_scan(t, dir, sc.found, sc.nfound);
		dir->locks_scanned_at = now;
	}
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; i < sc.nfound; i++) {
		free(sc.found[i].name);
		free(sc.found[i].etag);
	}
	free(sc.found);
	free(path);
	return rc;
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name, struct tree_attr *attr)
{
	int rc = refresh_dir(t, parent);
	if (rc == 0 && lock_name(name))
		rc = lock_refresh_by_name(t, parent, name);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, parent), *n = NULL;
	if (!dir)
		rc = -ENOENT;
	else if (!dir->is_dir)
		rc = -ENOTDIR;
	else if (!(n = find_child(t, dir, name)))
		rc = -ENOENT;
	if (n) {
		n->nlookup++;
		fill_attr(n, attr);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_forget(struct tree *t, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	struct node *node = find_ino(t, ino);
	if (node) {
		node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
		if (node->detached && node->nlookup == 0) {
			table_unlink_ino(t, node);
			t->nnodes--;
			node_free(node);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *attr)
{
	int rc = lock_refresh_by_ino(t, ino);
	if (rc < 0 && rc != -EINVAL)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	if (n)
		fill_attr(n, attr);
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

static int snapshot_dir(const struct node *dir, struct tree_dir *d)
{
	d->entries = calloc(dir->nchildren ? dir->nchildren : 1, sizeof(*d->entries));
	if (!d->entries)
		return -ENOMEM;
	for (size_t i = 0; i < dir->nchildren; i++, d->count++) {
		if (!(d->entries[i].name = strdup(dir->children[i]->name)))
			return -ENOMEM;
		fill_attr(dir->children[i], &d->entries[i].attr);
	}
	return 0;
}

int tree_opendir(struct tree *t, uint64_t ino, struct tree_dir **out)
{
	int rc = refresh_dir(t, ino);
	if (rc == 0)
		rc = scan_locks(t, ino);
	if (rc < 0)
		return rc;
	struct tree_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, ino);
	if (!dir)
		rc = -ENOENT;
	else if (!dir->is_dir)
		rc = -ENOTDIR;
	else
		rc = snapshot_dir(dir, d);
	pthread_mutex_unlock(&t->lock);
	if (rc < 0) {
		tree_dir_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int tree_file_key(struct tree *t, uint64_t ino, char **key)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	int rc = !n ? -ENOENT : n->is_dir ? -EISDIR : 0;
	if (rc == 0 && !(*key = strdup(n->key)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_file_update(struct tree *t, uint64_t ino, uint64_t size, time_t mtime, const char *etag)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
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


/* ---- what the guard and the file operations ask of lock files ---- */

/* Copies the current text (or raw bytes) of lock file ino, which now counts as shown. */
static int lock_copy(struct tree *t, uint64_t ino, bool raw, char **out, size_t *len)
{
	int rc = lock_refresh_by_ino(t, ino);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	const struct lock_view *v = n && !n->detached ? n->lock : NULL;
	const char *src = v ? (raw ? v->raw : v->text) : NULL;
	*len = v ? (raw ? v->raw_len : v->text_len) : 0;
	*out = v ? malloc(*len + 1) : NULL;
	rc = !v ? -ENOENT : !*out ? -ENOMEM : 0;
	if (rc == 0) {
		memcpy(*out, src ? src : "", *len);
		(*out)[*len] = '\0';
		mark_shown(n);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int tree_lock_read(struct tree *t, uint64_t ino, char **text, size_t *len)
{
	return lock_copy(t, ino, false, text, len);
}

int tree_lock_raw(struct tree *t, uint64_t ino, char **raw, size_t *len)
{
	return lock_copy(t, ino, true, raw, len);
}

void tree_lock_shown_free(struct tree_lock_shown *s)
{
	free(s->key);
	free(s->path);
	free(s->id);
	free(s->who);
	free(s->operation);
	free(s->created);
	memset(s, 0, sizeof(*s));
}

int tree_lock_shown(struct tree *t, uint64_t parent, const char *name, struct tree_lock_shown *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? find_child(t, dir, name) : NULL;
	int rc = !n ? -ENOENT : !n->is_lock ? -EINVAL : !n->shown ? -ENOENT : 0;
	if (rc == 0) {
		const struct shown_lock *s = n->shown;
		memcpy(out->etag, s->etag, sizeof(out->etag));
		out->key = strdup(n->key);
		out->path = node_path(n);
		out->id = strdup(s->id);
		out->who = strdup(s->who);
		out->operation = strdup(s->operation);
		out->created = strdup(s->created);
		if (!out->key || !out->path || !out->id || !out->who || !out->operation || !out->created)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	if (rc < 0)
		tree_lock_shown_free(out);
	return rc;
}

void tree_lock_forget(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? find_child(t, dir, name) : NULL;
	if (n && n->is_lock)
		remove_child(t, dir, n);
	pthread_mutex_unlock(&t->lock);
}
