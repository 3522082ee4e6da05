/* The past of the mount's states, from a versioned bucket: every version of a state, and
 * every lock ever taken (each version of a .tflock key is one lock, its delete marker or
 * the next version its release), joined so that each state version names the lock that
 * was held when it was written. On a bucket without versioning, the same calls give the
 * current version and the locks held now. */
#ifndef TFS_FS_HISTORY_H
#define TFS_FS_HISTORY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "fs/keymap.h"
#include "fs/vread.h"
#include "store/store.h"

/* One lock taken: a version of a .tflock key. */
struct hist_lock {
	char *state_path;           /* the state it guards, as a path in the mount */
	char *key;                  /* the lock object's key */
	char *version_id;
	int64_t acquired_ms;        /* the version's LastModified */
	int64_t released_ms;        /* its delete marker's (or the next version's); 0: held */
	bool held;                  /* it is the key's current version */
	const struct vfacts *facts; /* ID, Who, Operation, Version once read; NULL: unread */
};

/* One version of a state, or a delete marker of it. */
struct hist_version {
	char *version_id;
	int64_t mtime_ms;
	bool deleted;               /* a delete marker: no bytes, no file */
	uint64_t size;
	char *etag;
	char *name;                 /* its file's name: LastModified (UTC, RFC 3339, ms) and
	                             * the version id, so that names sort oldest first */
	const struct vfacts *facts; /* serial, lineage, Terraform version once read */
	const struct hist_lock *lock;   /* the lock held when it was written, or NULL */
};

/* A state's history. */
struct hist_state {
	char *path, *key;
	struct hist_version *versions;  /* oldest first */
	size_t nversions;
	struct hist_lock *locks;        /* oldest first */
	size_t nlocks;
};

struct history;

/* store and map are borrowed. Returns 0 or -ENOMEM. */
int history_new(struct store *store, const struct keymap *map, struct history **out);
void history_free(struct history *h);

/* The versions of the state at path and of its lock file: one ListObjectVersions with the
 * state's key as the prefix (its pages). What the versions hold is not read. Returns 0,
 * -ENOENT (no version of either: no such state), or the listing's errno. */
int history_state(struct history *h, const char *path, struct hist_state **out);
void hist_state_free(struct hist_state *s);

/* Reads what each version and lock of s says (once per version for the mount's life,
 * VREAD_THREADS at a time). Returns 0 or -ENOMEM; a version that cannot be read shows
 * "-" where its fields go. */
int history_read(struct history *h, struct hist_state *s);

/* What version version_id of state key says (*out NULL when it cannot be read). Returns 0
 * or -ENOMEM. */
int history_facts(struct history *h, const char *key, const char *version_id,
                  const struct vfacts **out);

/* The index of a state: one tab-separated line per version, oldest first:
 * time, version_id, size ("deleted" for a delete marker), serial, lineage,
 * terraform_version, lock_id, who, operation ("-" where unknown). */
void history_put_index(const struct hist_state *s, FILE *out);

/* Lock history lines, one per lock, in the order given: state_path, lock_id, who,
 * operation, version, acquired, released ("held" while held), held_seconds (until now_ms
 * while held). */
void history_put_locks(const struct hist_lock *locks, size_t n, int64_t now_ms, FILE *out);

/* What the lock keys leave behind: versions no longer current, and delete markers. */
struct hist_clutter {
	unsigned long long noncurrent_lock_versions;
	unsigned long long lock_delete_markers;
};

/* Every lock ever taken below the mount (one ListObjectVersions per key space), sorted by
 * the time it was taken, with what each says read when read is set; *clutter counted on
 * the way.
 * Returns 0 or the listing's errno. Free with hist_locks_free. */
int history_all_locks(struct history *h, bool read, struct hist_lock **out, size_t *n,
                      struct hist_clutter *clutter);
void hist_locks_free(struct hist_lock *locks, size_t n);

/* The bucket's versioning. Returns 0 or the request's errno. */
int history_versioning(struct history *h, enum store_versioning *out);

/* GETs sent for old versions, and versions whose contents are held. */
void history_counts(struct history *h, unsigned long long *gets, unsigned long long *held);
#endif
