/* The tree's insides, shared by its three files; nothing else includes it.
 *
 * tree.c answers the kernel; treelist.c lists and sweeps; nodes.c keeps the nodes and their
 * tables; treelocks.c keeps the lock files up to date. t->lock guards every node. */
#ifndef TFS_FS_TREE_INT_H
#define TFS_FS_TREE_INT_H
#include <pthread.h>
#include "fs/tree.h"
#include "util/clock.h"

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
	uint64_t listing_gen;       /* directories: that listing's generation, */
	uint64_t listing_root;      /* and the inode of the directory it listed */
	double locks_scanned_at;    /* directories: when its lock files were last listed */
	double ddb_applied_at;      /* directories: the DynamoDB snapshot last applied to it */
	bool is_lock;               /* files: a "<state>.tflock" lock file */
	bool in_s3, in_ddb;         /* lock files: the last word of each backend on the lock;
	                             * directories: in_s3 when the last listing that covered it
	                             * saw keys below it (else only DynamoDB locks hold it up) */
	unsigned virt;              /* a virtual file's 1-based index; never listed or swept */
	struct lock_view *lock;     /* lock files: what the backends held at lock_checked, NULL
	                             * until fetched */
	double lock_checked;
	struct lock_shown *shown;   /* lock files: what the filesystem last showed of it */
	bool scan_seen;             /* lock files: found by the lock scan under way */
	struct node **children;
	size_t nchildren, cap;
	uint64_t entries_gen;       /* directories: bumped whenever a child comes or goes */
	uint64_t sorted_gen;        /* directories: the entries_gen children[] was last put in
	                             * offset order at */
	bool in_kernel;             /* directories: read from the start since their entries last
	                             * changed: the kernel may hold them */
	uint64_t off;               /* its readdir offset in its directory (tree.h) */
	struct node *next_by_ino;   /* hash chains */
	struct node *next_by_name;
};

struct tree {
	struct store *store;
	const struct lock_source *locks;
	const struct keymap *map;
	const struct tfs_config *cfg;   /* its TTLs */
	pthread_mutex_t lock;       /* guards every node and the tables */
	struct run *run;            /* the listing under way (treelist.c), or NULL */
	pthread_cond_t run_changed; /* with lock: a listing got further, or ended */
	pthread_t run_thread;       /* the last listing's thread, until joined */
	bool run_thread_started;
	struct node *root;
	struct node **by_ino, **by_name;
	size_t nbuckets, nnodes;
	uint64_t next_ino, gen;
	uint64_t walk_gen;          /* the listing whose directories are being listed again one
	                             * by one, as they expire (see relist_target) */
	unsigned walk_relists;      /* how many so far */
	uint64_t *changed;          /* directories whose entries changed after the kernel read
	                             * them (tree_changed_dirs) */
	size_t nchanged, changed_cap;
	struct tree_stats stats;    /* under lock */
	tree_progress_fn progress;  /* set before any listing */
	void *progress_ctx;
};

/* ---- nodes.c: the tables and the nodes, under t->lock once the tree is shared ---- */

/* Makes the tables (or four times bigger). Returns 0 or -ENOMEM. */
int node_tables_grow(struct tree *t);

/* A new node named name[0..len) in parent (NULL for the root), with the next inode.
 * Returns it, or NULL (out of memory). */
struct node *node_new(struct tree *t, struct node *parent, const char *name, size_t len,
                      bool is_dir);
void node_free(struct node *n);
void node_shown_free(struct lock_shown *s);

/* A child of dir came or went: its entries are new (and the kernel's copy of them old). */
void node_entries_changed(struct tree *t, struct node *dir);

/* Takes n out of the tree (see nodes.c); node_remove_child also out of dir's children. */
void node_detach(struct tree *t, struct node *n);
void node_remove_child(struct tree *t, struct node *dir, struct node *child);
/* Takes children[i] out of dir's children (the last one takes its place) and detaches it. */
void node_take_child(struct tree *t, struct node *dir, size_t i);
void node_prune_empty(struct tree *t, struct node *dir);

/* Takes a detached node out of the inode table, for its last forget (the caller frees it). */
void node_unlink_ino(struct tree *t, struct node *n);

/* The node of inode ino, or of name in directory dir; NULL when none. */
struct node *node_find_ino(const struct tree *t, uint64_t ino);
struct node *node_child(const struct tree *t, const struct node *dir, const char *name);
char *node_path(const struct node *n);

/* ---- treelist.c: listings; each takes t->lock itself ---- */

/* Lists directory ino (or the directory its last listing listed: see relist_target) when
 * its listing has expired, and returns once what ino holds is in: at the listing's end, or
 * before it where the listing can tell. Returns 0 or the listing's errno. */
int treelist_refresh(struct tree *t, uint64_t ino);

/* Waits, when a listing under way will make directory ino whole (one below the directory
 * it lists), until it has: a directory's mtime is its newest state's, known only then. */
void treelist_settle(struct tree *t, uint64_t ino);

/* Lists path's subtree into the tree, to its end (a lookup's probe). */
int treelist_subtree(struct tree *t, const char *path);

/* Waits until no listing runs (before the tree is freed). */
void treelist_idle(struct tree *t);

/* ---- treelocks.c: the lock files; each takes t->lock itself ---- */

/* Brings lock file name in directory parent (or lock file ino: -EINVAL when it is none)
 * up to date when its view is older than lock_ttl. Returns 0, -ENOENT when there is no
 * such lock, or the fetch's errno. */
int treelock_refresh_by_name(struct tree *t, uint64_t parent, const char *name);
int treelock_refresh_by_ino(struct tree *t, uint64_t ino);

/* Takes the word of S3 (when directory ino's lock files are older than lock_list_ttl), or
 * of the table's snapshot, on the lock files of directory ino. Returns 0 or an errno. */
int treelock_scan_s3(struct tree *t, uint64_t ino);
int treelock_scan_table(struct tree *t, uint64_t ino);

/* Until when (monotonic seconds) directory dir's lock files are fresh: its scans' times
 * plus lock_list_ttl. Under t->lock. */
double treelock_fresh_until(const struct tree *t, const struct node *dir);

/* Makes directory name (path) in directory parent (dirpath) when the table holds locks
 * below it. Returns 0 or an errno. */
int treelock_probe_table(struct tree *t, uint64_t parent, const char *dirpath,
                         const char *name, const char *path);
#endif
