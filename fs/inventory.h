/* The inventory the locks, migration and metrics reports are built from. */
/* What the bucket and the lock table hold under the mount, joined by state path, and the
 * facts of each state the reports share. Only fs/reports.c and fs/metrics.c include it. */
#ifndef TFS_FS_INVENTORY_H
#define TFS_FS_INVENTORY_H
#include <stdbool.h>
#include <stddef.h>
#include "fs/reports_int.h"

/* One object of the listing. */
struct inventory_object {
	char *path;
	char *key;
	char etag[130];
	bool is_lock;
};

/* What is known of one state path: its object, its lockfile, its table entry. */
struct inventory_row {
	char *path;                 /* the state's path (owned) */
	char *state_key;            /* owned */
	const struct inventory_object *state, *lockfile;
	const struct lt_entry *entry;
};

struct inventory {
	const struct keymap *map;
	enum listing_mode mode;
	struct inventory_object *objects;
	size_t nobjects, cap;
	struct inventory_row *rows;
	size_t nrows;
	const struct lt_snapshot *snap;     /* NULL without a table */
};

/* One lock as the reports give it: a state's lock in one backend, or in both with one ID. */
struct lock_line {
	const char *path;           /* the state's path */
	const char *backend;        /* "s3", "dynamodb" or "s3 dynamodb" */
	bool s3, ddb;               /* the backends that hold it */
	const struct lockinfo *info;    /* fields "?" when S3 would not give the lockfile */
	const struct lock_part *part;   /* the part it comes from, NULL when unread */
};

typedef int (*lock_line_fn)(void *ctx, const struct lock_line *l);

/* What the migration report says of one state. A half-lock is a state held in one backend
 * while its digest shows the other in use: held in S3 only while the last write went
 * through the table (digest match), or in DynamoDB only while a write has since gone past
 * it (mismatch). Either way, runners configured for the other backend alone are not kept
 * out. */
struct migration {
	bool s3, ddb;               /* held in each */
	const char *ddb_s;          /* "held", "free", "unknown" */
	const char *digest;         /* one of inventory_migration_digests */
	const char *note;           /* one of inventory_migration_notes */
};

/* The values of struct migration's digest and note, in the order metrics count them. */
extern const char *const inventory_migration_digests[];
extern const char *const inventory_migration_notes[];
#define INVENTORY_MIGRATION_VALUES 4

/* Lists the mount and snapshots the table into *inv, sorted by path. Returns 0 or a
 * negative errno; *inv is to be freed with inventory_free either way. */
int inventory_take(struct reports *r, struct inventory *inv);
void inventory_free(struct inventory *inv, struct locktable *table);

/* Is the table's word on locks known? */
bool inventory_table_known(const struct inventory *inv);

/* Every lock under the mount, in path order, to fn. */
int inventory_each_lock(struct reports *r, const struct inventory *inv, lock_line_fn fn, void *ctx);

/* Does the migration report have a line for row? */
bool inventory_migration_has(const struct inventory_row *row);
/* What the migration report says of row (its digest may read the state, once per version). */
void inventory_migration_of(struct reports *r, const struct inventory *inv,
                            const struct inventory_row *row, struct migration *m);

/* s, or "" for NULL. */
const char *inventory_or_empty(const char *s);
#endif
