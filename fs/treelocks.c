/* The tree's lock files: revalidation, each directory's locks in S3 and the table, tree_lock_*. */
#include "fs/tree_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool lock_is_fresh(const struct tree *t, const struct node *n, double now)
{
	return n->lock && now - n->lock_checked < t->cfg->lock_ttl;
}

/* The lock's current view is now what the filesystem shows. */
static void mark_shown(struct node *n)
{
	struct lock_shown *s = n->lock ? malloc(sizeof(*s)) : NULL;
	if (s && lock_shown_from(n->lock, s) < 0) {
		free(s);
		s = NULL;
	}
	if (s) {
		node_shown_free(n->shown);
		n->shown = s;
	}
}

/* Installs a freshly fetched view. The first view a lock file gets is what its lookup
 * shows; later ones only change what it shows once its content is read again. */
static void install_view(struct node *n, struct lock_view *v)
{
	lock_view_free(n->lock);
	n->lock = v;
	n->lock_checked = clock_mono();
	n->mtime = v->mtime ? v->mtime : n->mtime;
	n->in_s3 = v->s3.held;
	if (!v->ddb_error)
		n->in_ddb = v->ddb.held;
	char *etag = strdup(v->s3.etag);
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
	struct node *n = node_child(t, dir, name);
	if (rc == -ENOENT) {
		if (n && n->is_lock) {
			node_remove_child(t, dir, n);
			node_prune_empty(t, dir);
		}
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
int treelock_refresh_by_name(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir && !dir->detached ? node_child(t, dir, name) : NULL;
	char *key = NULL;
	int rc = 0;
	if (!dir || !dir->is_dir || dir->detached || dir->virt)
		rc = -ENOENT;
	else if (n && (!n->is_lock || lock_is_fresh(t, n, clock_mono())))
		rc = 1;  /* a directory of that name, or a fresh lock: nothing to fetch */
	else
		key = n ? strdup(n->key) : lock_key(t, dir, name);
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return rc < 0 ? rc : 0;
	if (!key)
		return -ENOMEM;

	struct lock_view *v = NULL;
	rc = lock_fetch(t->locks, key, &v);
	pthread_mutex_lock(&t->lock);
	t->stats.lock_fetches++;
	dir = node_find_ino(t, parent);
	if (dir && dir->is_dir && !dir->detached)
		apply_fetch(t, dir, name, &key, rc, &v);
	pthread_mutex_unlock(&t->lock);
	lock_view_free(v);
	free(key);
	return rc;
}

/* The same for lock file ino. A lock found gone leaves the tree. */
int treelock_refresh_by_ino(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	/* Not a lock (a state swept while the kernel holds it included): nothing to fetch. */
	int rc = !n ? -ENOENT : !n->is_lock ? -EINVAL : n->detached ? -ENOENT : 0;
	bool fresh = rc == 0 && lock_is_fresh(t, n, clock_mono());
	char *name = rc == 0 && !fresh ? strdup(n->name) : NULL;
	uint64_t parent = rc == 0 && n->parent ? n->parent->ino : 0;
	pthread_mutex_unlock(&t->lock);
	if (rc < 0 || fresh)
		return rc;
	if (!name)
		return -ENOMEM;
	rc = parent ? treelock_refresh_by_name(t, parent, name) : -ENOENT;
	free(name);
	return rc;
}

/* A lock one backend holds in the directory scanned; version tells a changed lock (the
 * S3 object's ETag, the DynamoDB item's Info). Or, with is_dir, a subdirectory below which
 * the table holds locks. */
struct scanned_lock {
	char *name;
	char *version;
	bool is_dir;
};

/* The lock files found directly in dirpath, by an S3 delimiter listing (one page per
 * 1,000 keys of that directory alone) or in the DynamoDB snapshot (which also names the
 * subdirectories that hold its deeper locks). */
struct scan {
	const struct keymap *map;
	const char *dirpath;        /* the directory scanned */
	enum listing_mode mode;
	struct scanned_lock *found;
	size_t nfound;
};

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->nfound; i++) {
		free(sc->found[i].name);
		free(sc->found[i].version);
	}
	free(sc->found);
}

/* What of path is below dir ("" for the root), else NULL. */
static const char *path_below(const char *path, const char *dir)
{
	size_t dlen = strlen(dir);
	if (dlen && (strncmp(path, dir, dlen) != 0 || path[dlen] != '/'))
		return NULL;
	return dlen ? path + dlen + 1 : path;
}

static int found_add(struct scan *sc, const char *name, size_t len, const char *version,
                     bool is_dir)
{
	/* Keys come sorted, so the locks below one subdirectory come together. */
	const struct scanned_lock *last = sc->nfound ? &sc->found[sc->nfound - 1] : NULL;
	if (is_dir && last && last->is_dir && last->name && strncmp(last->name, name, len) == 0 &&
	    last->name[len] == '\0')
		return 0;
	struct scanned_lock *f = realloc(sc->found, (sc->nfound + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	sc->found = f;
	f[sc->nfound].name = strndup(name, len);
	f[sc->nfound].version = strdup(version);
	f[sc->nfound++].is_dir = is_dir;
	return 0;
}

/* Keeps lock key when its lock file is directly in the directory scanned, and the
 * subdirectory it is in when it is deeper. */
static int scan_add(struct scan *sc, const char *key, size_t key_len, const char *version)
{
	char *path = NULL;
	const char *rest = NULL;
	int v = keymap_key_to_path(sc->map, sc->mode, key, key_len, &path);
	if (v == KEY_FILE)
		rest = path_below(path, sc->dirpath);
	int rc = v < 0 ? v : 0;
	const char *slash = rest ? strchr(rest, '/') : NULL;
	if (slash)
		rc = found_add(sc, rest, (size_t)(slash - rest), "", true);
	else if (rest && lock_name(rest))
		rc = found_add(sc, rest, strlen(rest), version ? version : "", false);
	free(path);
	return rc;
}

/* Keeps the lock objects of one page of a delimiter listing. */
static int scan_page(void *ctx, struct store_page *page)
{
	struct scan *sc = ctx;
	int rc = 0;
	for (size_t i = 0; i < page->nobjects && rc == 0; i++)
		rc = scan_add(sc, page->objects[i].key, page->objects[i].key_len, page->objects[i].etag);
	store_page_free(page);
	return rc;
}

/* Keeps the DynamoDB locks of the snapshot whose states are below prefix. */
static int scan_snapshot(struct scan *sc, const struct lt_snapshot *snap, const char *prefix)
{
	size_t plen = strlen(prefix);
	int rc = 0;
	for (size_t i = lt_snapshot_lower_bound(snap, prefix); i < snap->count && rc == 0; i++) {
		const struct lt_entry *e = &snap->entries[i];
		if (strncmp(e->state_key, prefix, plen) != 0)
			break;
		char *key = NULL;
		if (!e->info)
			continue;
		if (asprintf(&key, "%s.tflock", e->state_key) < 0)
			return -ENOMEM;
		rc = scan_add(sc, key, strlen(key), e->info);
		free(key);
	}
	return rc;
}

/* Has the lock one backend holds changed from the view the node has? */
static bool part_changed(const struct node *n, bool ddb, const char *version)
{
	if (!n->lock)
		return true;
	const struct lock_part *p = ddb ? &n->lock->ddb : &n->lock->s3;
	const char *was = ddb ? p->raw : p->etag;
	return !p->held || !was || strcmp(was, version) != 0;
}

/* The table holds locks below name in dir: the directory is there, made when the listings
 * have none (nothing in S3 was below it as of dir's own listing, which covered it).
 * Returns it, or NULL (a file of that name wins, or out of memory). */
static struct node *lock_dir(struct tree *t, struct node *dir, const char *name)
{
	struct node *c = node_child(t, dir, name);
	if (!c && (c = node_new(t, dir, name, strlen(name), true))) {
		c->listed_at = dir->listed_at;
		c->locks_scanned_at = dir->locks_scanned_at;
		c->mtime = dir->mtime;
	}
	return c && c->is_dir ? c : NULL;
}

/* Does anything below directory n come from S3? */
static bool holds_s3(const struct node *n)
{
	if (n->in_s3 || n->virt)
		return true;
	for (size_t i = 0; i < n->nchildren; i++)
		if (holds_s3(n->children[i]))
			return true;
	return false;
}

/* Is c one that the scan's silence removes: a lock file whose backend no longer holds it,
 * or (for the table) a directory that only its locks held up? Updates c's flags. */
static bool scan_drops(struct node *c, bool ddb)
{
	if (c->scan_seen)
		return false;
	if (c->is_dir)
		return ddb && !c->virt && !holds_s3(c);
	if (!c->is_lock)
		return false;
	bool *held = ddb ? &c->in_ddb : &c->in_s3;
	if (*held)
		c->lock_checked = -1e18;  /* its view still shows that backend's lock */
	*held = false;
	return !c->in_ddb && !c->in_s3;
}

/* Takes the word of one backend (ddb or S3) on the lock files of directory dir: new lock
 * files appear (fetched when first looked at), changed ones are due a fetch, and one
 * that backend no longer holds goes unless the other still does. The table's word also
 * makes and removes the directories that only its locks hold up. */
static void apply_scan(struct tree *t, struct node *dir, const struct scan *sc, bool ddb)
{
	for (size_t i = 0; i < dir->nchildren; i++)
		dir->children[i]->scan_seen = false;
	for (size_t i = 0; i < sc->nfound; i++) {
		const struct scanned_lock *f = &sc->found[i];
		if (!f->name || !f->version)
			continue;
		if (f->is_dir) {
			struct node *d = ddb ? lock_dir(t, dir, f->name) : NULL;
			if (d)
				d->scan_seen = true;
			continue;
		}
		struct node *n = node_child(t, dir, f->name);
		if (!n && (n = node_new(t, dir, f->name, strlen(f->name), false))) {
			n->key = lock_key(t, dir, f->name);
			n->is_lock = true;
			n->lock_checked = -1e18;
		}
		if (!n || !n->is_lock)
			continue;
		if (!n->key) {
			node_remove_child(t, dir, n);
			continue;
		}
		if (part_changed(n, ddb, f->version))
			n->lock_checked = -1e18;
		n->scan_seen = true;
		*(ddb ? &n->in_ddb : &n->in_s3) = true;
	}
	for (size_t i = 0; i < dir->nchildren;) {
		struct node *c = dir->children[i];
		if (scan_drops(c, ddb)) {
			node_take_child(t, dir, i);
			continue;
		}
		i++;
	}
}

/* When one backend's locks were last applied to dir. */
static double scanned_at(const struct node *dir, bool ddb)
{
	if (ddb)
		return dir->ddb_applied_at;
	return dir->listed_at > dir->locks_scanned_at ? dir->listed_at : dir->locks_scanned_at;
}

double treelock_fresh_until(const struct tree *t, const struct node *dir)
{
	double s3 = scanned_at(dir, false), ddb = t->locks->table ? scanned_at(dir, true) : s3;
	return (s3 < ddb ? s3 : ddb) + t->cfg->lock_list_ttl;
}

/* The path of directory ino when one backend's locks were last applied to it before
 * `before`, else NULL with *rc 0 (or -ENOMEM). */
static char *due_dir(struct tree *t, uint64_t ino, bool ddb, double before, int *rc)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, ino);
	bool due = dir && dir->is_dir && !dir->detached && !dir->virt &&
	           scanned_at(dir, ddb) < before;
	char *path = due ? node_path(dir) : NULL;
	pthread_mutex_unlock(&t->lock);
	*rc = due && !path ? -ENOMEM : 0;
	return path;
}

/* Applies what a scan of directory ino found, unless it went away meanwhile. */
static void apply_to(struct tree *t, uint64_t ino, const struct scan *sc, bool ddb, double at)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, ino);
	if (dir && !dir->detached) {
		apply_scan(t, dir, sc, ddb);
		*(ddb ? &dir->ddb_applied_at : &dir->locks_scanned_at) = at;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Lock files come and go faster than states: when neither a listing nor a scan has
 * covered directory ino within lock_ttl, list its own keys for locks. */
int treelock_scan_s3(struct tree *t, uint64_t ino)
{
	double now = clock_mono();
	int rc;
	char *path = due_dir(t, ino, false, now - t->cfg->lock_list_ttl, &rc);
	if (!path)
		return rc;
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, path, ls);
	rc = n < 0 ? n : 0;
	struct scan sc = { .map = t->map, .dirpath = path };
	for (int i = 0; i < n; i++) {
		sc.mode = ls[i].mode;
		if (rc == 0)
			rc = store_list_dir(t->store, ls[i].s3_prefix, scan_page, &sc);
		keymap_listing_free(&ls[i]);
	}
	if (rc == 0)
		apply_to(t, ino, &sc, false, now);
	pthread_mutex_lock(&t->lock);
	t->stats.lock_scans++;
	pthread_mutex_unlock(&t->lock);
	scan_free(&sc);
	free(path);
	return rc;
}

/* The DynamoDB locks of directory ino's states, from a snapshot of the table no older
 * than lock_ttl. A table that cannot be read changes nothing (its health says why). */
int treelock_scan_table(struct tree *t, uint64_t ino)
{
	if (!t->locks->table)
		return 0;
	const struct lt_snapshot *snap = locktable_snapshot(t->locks->table, LT_FOR_LISTING);
	if (!snap)
		return -ENOMEM;
	int rc = 0;
	char *path = snap->error ? NULL : due_dir(t, ino, true, snap->taken_at, &rc);
	if (!path) {
		locktable_release(t->locks->table, snap);
		return rc;
	}
	struct listing ls[2];
	int n = keymap_dir_listings(t->map, path, ls);
	rc = n < 0 ? n : rc;
	struct scan sc = { .map = t->map, .dirpath = path };
	for (int i = 0; i < n; i++) {
		sc.mode = ls[i].mode;
		if (rc == 0)
			rc = scan_snapshot(&sc, snap, ls[i].s3_prefix);
		keymap_listing_free(&ls[i]);
	}
	if (rc == 0 && n > 0)
		apply_to(t, ino, &sc, true, snap->taken_at);
	scan_free(&sc);
	locktable_release(t->locks->table, snap);
	free(path);
	return rc;
}

/* Does the table hold locks below path (the directory dirpath's entry name)? Then that
 * directory is made in directory parent. */
int treelock_probe_table(struct tree *t, uint64_t parent, const char *dirpath,
                         const char *name, const char *path)
{
	const struct lt_snapshot *snap = locktable_snapshot(t->locks->table, LT_FOR_LOOKUP);
	if (!snap)
		return -ENOMEM;
	struct listing ls[2];
	int n = snap->error ? 0 : keymap_dir_listings(t->map, path, ls);
	int rc = n < 0 ? n : 0;
	struct scan sc = { .map = t->map, .dirpath = dirpath };
	for (int i = 0; i < n; i++) {
		sc.mode = ls[i].mode;
		if (rc == 0)
			rc = scan_snapshot(&sc, snap, ls[i].s3_prefix);
		keymap_listing_free(&ls[i]);
	}
	if (rc == 0 && sc.nfound) {
		pthread_mutex_lock(&t->lock);
		struct node *dir = node_find_ino(t, parent);
		if (dir && dir->is_dir && !dir->detached)
			lock_dir(t, dir, name);
		pthread_mutex_unlock(&t->lock);
	}
	scan_free(&sc);
	locktable_release(t->locks->table, snap);
	return rc;
}

/* ---- what the guard and the file operations ask of lock files ---- */

/* Copies the current text (or raw bytes) of lock file ino, which now counts as shown. */
static int lock_copy(struct tree *t, uint64_t ino, bool raw, char **out, size_t *len)
{
	int rc = treelock_refresh_by_ino(t, ino);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	const struct lock_view *v = n && !n->detached ? n->lock : NULL;
	const char *src = v ? (raw ? lock_primary_part(v)->raw : v->text) : NULL;
	*len = v ? (raw ? lock_primary_part(v)->raw_len : v->text_len) : 0;
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

int tree_lock_shown(struct tree *t, uint64_t parent, const char *name, struct lock_shown *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? node_child(t, dir, name) : NULL;
	int rc = !n ? -ENOENT : !n->is_lock ? -EINVAL : !n->shown ? -ENOENT : 0;
	char *path = rc == 0 ? node_path(n) : NULL;
	if (rc == 0)
		rc = path ? lock_shown_copy(n->shown, n->key, path, out) : -ENOMEM;
	pthread_mutex_unlock(&t->lock);
	free(path);
	return rc;
}

int tree_lock_fields(struct tree *t, uint64_t ino, struct lock_shown *out)
{
	int rc = treelock_refresh_by_ino(t, ino);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	struct node *n = node_find_ino(t, ino);
	bool held = n && !n->detached && n->lock && n->parent;
	if (held)
		mark_shown(n);
	uint64_t parent = held ? n->parent->ino : 0;
	char *name = held ? strdup(n->name) : NULL;
	pthread_mutex_unlock(&t->lock);
	if (!held)
		return -ENOENT;
	/* Shown just now: unless another read showed a newer view since, this is that one. */
	rc = name ? tree_lock_shown(t, parent, name, out) : -ENOMEM;
	free(name);
	return rc;
}

int tree_lock_key(struct tree *t, uint64_t parent, const char *name, char **key, char **path)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	int rc = !dir || !dir->is_dir || dir->detached ? -ENOENT : dir->virt ? -EROFS : 0;
	char *dirpath = rc == 0 ? node_path(dir) : NULL;
	pthread_mutex_unlock(&t->lock);
	*key = *path = NULL;
	if (rc < 0)
		return rc;
	if (!dirpath || asprintf(path, "%s%s%s", dirpath, *dirpath ? "/" : "", name) < 0) {
		free(dirpath);
		*path = NULL;
		return -ENOMEM;
	}
	free(dirpath);
	if (!(*key = keymap_path_to_key(t->map, *path))) {
		free(*path);
		*path = NULL;
		return -EROFS;
	}
	return 0;
}

void tree_lock_forget(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? node_child(t, dir, name) : NULL;
	if (n && n->is_lock) {
		node_remove_child(t, dir, n);
		node_prune_empty(t, dir);
	}
	pthread_mutex_unlock(&t->lock);
}

void tree_lock_expire(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? node_child(t, dir, name) : NULL;
	if (n && n->is_lock)
		n->lock_checked = -1e18;
	pthread_mutex_unlock(&t->lock);
}

void tree_lock_stale(struct tree *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct node *dir = node_find_ino(t, parent);
	struct node *n = dir && dir->is_dir ? node_child(t, dir, name) : NULL;
	if (n && n->is_lock) {
		n->lock_checked = -1e18;
		node_shown_free(n->shown);
		n->shown = NULL;
	}
	pthread_mutex_unlock(&t->lock);
}
