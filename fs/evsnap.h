/* What /.tfstatefs/events watches, looked at once: every state's ETag, every S3 lockfile's
 * ETag and holder, every DynamoDB lock's Info; and two such looks compared into events. */
#ifndef TFS_FS_EVSNAP_H
#define TFS_FS_EVSNAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fs/keymap.h"
#include "fs/lock.h"

enum evsnap_kind { EVSNAP_STATE, EVSNAP_LOCKFILE, EVSNAP_DDB };

/* One thing seen, at one state path. Strings owned by the snapshot. */
struct evsnap_item {
	char *path;             /* the state's path in the mount (a lock's state) */
	enum evsnap_kind kind;
	char *key;              /* the S3 key (state or lockfile); NULL for a DynamoDB lock */
	char *tag;              /* the object's ETag, or the DynamoDB lock's exact Info */
	size_t tag_len;
	uint64_t size;          /* a state's size */
	char *id, *who, *operation;     /* a lock's, decoded (NULL when unknown) */
};

struct evsnap {
	struct evsnap_item *items;  /* sorted by path, then kind */
	size_t count;
	bool ddb_known;         /* the table answered (else its locks are the last look's) */
};

/* What one look cost. */
struct evsnap_cost {
	unsigned long long list_pages, scans, lock_gets, state_gets;
};

/* Looks at everything under the mount: one flat listing per key space of the mount and,
 * with a table, one Scan of it now (LT_FRESH). S3 lockfiles are read (one GET
 * each) only when prev (the last look, or NULL) did not have them with the same ETag;
 * with a table that fails, prev's DynamoDB locks are kept. Returns 0 or the listing's
 * negative errno (then *out is empty). */
int evsnap_take(const struct lock_source *src, const struct keymap *map,
                const struct evsnap *prev, struct evsnap *out, struct evsnap_cost *cost);
void evsnap_clear(struct evsnap *s);

/* One change between two looks. Strings are borrowed for the call. */
struct evsnap_change {
	const char *event;      /* "locked", "unlocked", "changed", "written" */
	const struct evsnap_item *item;     /* what is there now (unlocked: what was) */
	const struct evsnap_item *before;   /* changed: the lock it replaced; else NULL */
};

typedef void (*evsnap_change_fn)(void *ctx, const struct evsnap_change *c);

/* Calls fn for each change from old to now, in path order: a state with a new ETag (or
 * new) is written; a lock that appeared locked, went unlocked, another in its place
 * (another ETag, or another Info) changed. A state that went away says nothing. */
void evsnap_diff(const struct evsnap *old, const struct evsnap *now, evsnap_change_fn fn,
                 void *ctx);
#endif
