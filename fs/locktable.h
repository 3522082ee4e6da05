/* Terraform's DynamoDB lock table as the filesystem sees it: a consistent read of one
 * state's lock, a conditional delete, and a snapshot of every lock and digest item of
 * this bucket (one Scan, shared and reused while young enough). Also keeps the table's
 * health, so that a missing table or a refused permission is said once, not per call. */
#ifndef TFS_FS_LOCKTABLE_H
#define TFS_FS_LOCKTABLE_H
#include <stdbool.h>
#include <stddef.h>
#include "fs/config.h"
#include "store/table.h"

/* What the table holds for one state. */
struct lt_entry {
	char *state_key;        /* the state's S3 key (LockID without "<bucket>/") */
	char *info;             /* the lock item's Info, or NULL when the state is not locked */
	size_t info_len;
	char *digest;           /* the "-md5" item's Digest, or NULL when there is none */
};

struct lt_snapshot {
	struct lt_entry *entries;   /* sorted by state_key (strcmp) */
	size_t count;
	double taken_at;            /* CLOCK_MONOTONIC seconds */
	int error;                  /* 0, or the Scan's negative errno (then count is 0) */
	int refs;                   /* private */
};

struct locktable;

/* table and cfg (the ages below) are borrowed and must outlive the locktable. */
int locktable_new(struct table *table, const char *bucket, const struct tfs_config *cfg,
                  struct locktable **out);
void locktable_free(struct locktable *lt);

/* What the table's requests cost so far. */
void locktable_stats(struct locktable *lt, struct store_stats *out);

/* What a snapshot is for, which says how old it may be: listing a directory's lock files
 * (lock_list_ttl, so that a warm find asks nothing), answering for a name and the
 * reports (lock_ttl), or a look of /.tfstatefs/events (none: a Scan now, which the other
 * uses then share while it is young enough for them). */
enum lt_use { LT_FOR_LISTING, LT_FOR_LOOKUP, LT_FRESH };

/* A snapshot young enough for use (scanning the table when the last one is older).
 * Never NULL unless out of memory; a failed Scan gives an empty snapshot whose error says
 * so. Release it with locktable_release. */
const struct lt_snapshot *locktable_snapshot(struct locktable *lt, enum lt_use use);
void locktable_release(struct locktable *lt, const struct lt_snapshot *s);

/* The entry for state_key in s, or NULL. */
const struct lt_entry *lt_snapshot_find(const struct lt_snapshot *s, const char *state_key);

/* The index of the first entry whose state_key is not below prefix (entries starting with
 * prefix follow it). */
size_t lt_snapshot_lower_bound(const struct lt_snapshot *s, const char *prefix);

/* The lock item of state_key, read consistently: its Info (malloc'd, *len bytes) when
 * there is one. Returns 0, -ENOENT (no lock, or an item without a string Info), or a
 * negative errno (said in the log when the table's health changes). */
int locktable_get_lock(struct locktable *lt, const char *state_key, char **info, size_t *len);

/* Deletes the lock item of state_key only while its Info is exactly info. Returns 0,
 * -ECANCELED (the item is gone or changed), or a negative errno with *err filled. */
int locktable_delete_lock(struct locktable *lt, const char *state_key, const char *info,
                          size_t info_len, struct store_error *err);

/* Writes the lock item of state_key with this Info: only when there is none (if_info
 * NULL; -EEXIST otherwise), or only while its Info is exactly if_info (-ECANCELED
 * otherwise). Returns 0 or a negative errno with *err filled. */
int locktable_put_lock(struct locktable *lt, const char *state_key, const char *info,
                       size_t info_len, const char *if_info, size_t if_info_len,
                       struct store_error *err);

/* One line on the table's health: "ok" or what went wrong last and what to do. */
void locktable_health(struct locktable *lt, char *buf, size_t len);
#endif
