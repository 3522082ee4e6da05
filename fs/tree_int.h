/* The tree's insides, shared by the files that make up the tree; nothing else includes it. */
#ifndef TFS_FS_TREE_INT_H
#define TFS_FS_TREE_INT_H
#include <pthread.h>
#include "fs/tree.h"

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
	struct node *next_by_ino;   /* hash chains */
	struct node *next_by_name;
};

struct tree {
	struct store *store;
	const struct lock_source *locks;
	const struct keymap *map;
	const struct tfs_config *cfg;   /* its TTLs */
	pthread_mutex_t lock;       /* guards every node and the tables */
	pthread_mutex_t list_lock;  /* one listing at a time: sweeps must not interleave */
	struct node *root;
	struct node **by_ino, **by_name;
	size_t nbuckets, nnodes;
	uint64_t next_ino, gen;
	struct tree_stats stats;    /* under lock */
	tree_progress_fn progress;  /* set before any listing */
	void *progress_ctx;
};
#endif
