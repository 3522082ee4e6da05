/* The tree's nodes: tables by inode and by (parent, name); making, detaching, freeing nodes. */
#include "fs/tree_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int node_tables_grow(struct tree *t)
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

void node_unlink_ino(struct tree *t, struct node *n)
{
	struct node **pp = &t->by_ino[ino_hash(n->ino, t->nbuckets)];
	for (; *pp; pp = &(*pp)->next_by_ino) {
		if (*pp == n) {
			*pp = n->next_by_ino;
			return;
		}
	}
}

struct node *node_find_ino(const struct tree *t, uint64_t ino)
{
	for (struct node *n = t->by_ino[ino_hash(ino, t->nbuckets)]; n; n = n->next_by_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

struct node *node_child(const struct tree *t, const struct node *dir, const char *name)
{
	size_t i = name_hash(dir->ino, name, t->nbuckets);
	for (struct node *n = t->by_name[i]; n; n = n->next_by_name)
		if (n->parent == dir && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

void node_shown_free(struct lock_shown *s)
{
	if (!s)
		return;
	lock_shown_clear(s);
	free(s);
}

void node_free(struct node *n)
{
	lock_view_free(n->lock);
	node_shown_free(n->shown);
	free(n->name);
	free(n->key);
	free(n->etag);
	free(n->children);
	free(n);
}

void node_entries_changed(struct tree *t, struct node *dir)
{
	dir->entries_gen++;
	if (!dir->in_kernel)
		return;
	if (t->nchanged == t->changed_cap) {
		size_t cap = t->changed_cap ? t->changed_cap * 2 : 64;
		uint64_t *c = realloc(t->changed, cap * sizeof(*c));
		if (!c)
			return;     /* still in_kernel: the kernel finds out when its TTL runs out */
		t->changed = c;
		t->changed_cap = cap;
	}
	t->changed[t->nchanged++] = dir->ino;
	dir->in_kernel = false;
}

/* A name's readdir offset, above the offsets of "." and "..": its first 6 bytes, then 13
 * bits of its hash. Entries come in name order, so a walk goes through a directory in key
 * order, the order the listing passes it in: a cold find follows the listing instead of
 * waiting for its end. Two names of one directory that fall together are set apart when it
 * is sorted (tree.c). */
static uint64_t name_off(const char *name)
{
	uint64_t h = 14695981039346656037ULL, head = 0;   /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	size_t len = strlen(name);
	for (size_t i = 0; i < 6; i++)
		head = head << 8 | (i < len ? (unsigned char)name[i] : 0);
	return TREE_DIR_FIRST_OFF + (head << 13 | (h & 0x1fff));
}

struct node *node_new(struct tree *t, struct node *parent, const char *name, size_t len,
                      bool is_dir)
{
	if (t->nnodes >= t->nbuckets && node_tables_grow(t) < 0)
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
	n->off = name_off(n->name);
	n->is_dir = is_dir;
	n->listed_at = -1e18;   /* never: 0 would be the boot, within cache_ttl of a young host */
	n->parent = parent;
	if (parent) {
		parent->children[parent->nchildren++] = n;
		node_entries_changed(t, parent);
	}
	table_insert(t, n);
	t->nnodes++;
	return n;
}

/* Takes n (and its subtree) out of the tree. Whatever the kernel does not hold is freed;
 * the rest stays reachable by inode until forgotten. The caller removes n from its
 * parent's child array. */
void node_detach(struct tree *t, struct node *n)
{
	for (size_t i = 0; i < n->nchildren; i++)
		node_detach(t, n->children[i]);
	n->nchildren = 0;
	table_unlink_name(t, n);
	n->parent = NULL;
	n->detached = true;
	if (n->nlookup == 0) {
		node_unlink_ino(t, n);
		t->nnodes--;
		node_free(n);
	}
}

void node_take_child(struct tree *t, struct node *dir, size_t i)
{
	struct node *child = dir->children[i];
	dir->children[i] = dir->children[--dir->nchildren];
	node_entries_changed(t, dir);
	node_detach(t, child);
}

void node_remove_child(struct tree *t, struct node *dir, struct node *child)
{
	for (size_t i = 0; i < dir->nchildren; i++) {
		if (dir->children[i] == child) {
			node_take_child(t, dir, i);
			return;
		}
	}
	node_detach(t, child);
}

/* A lock was removed from dir: dir and the directories above it that held nothing else go
 * too, as S3 has no empty directories. The root and the virtual directory stay. */
void node_prune_empty(struct tree *t, struct node *dir)
{
	while (dir && dir->parent && !dir->virt && dir->nchildren == 0) {
		struct node *parent = dir->parent;
		node_remove_child(t, parent, dir);
		dir = parent;
	}
}

/* The directory's path in the mount: "" for the root, "a/b" below it. */
char *node_path(const struct node *n)
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
