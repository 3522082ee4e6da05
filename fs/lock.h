/* One lock as the filesystem shows it: a state's S3 lockfile and its DynamoDB lock item,
 * fetched, decoded and merged into one view. */
#ifndef TFS_FS_LOCK_H
#define TFS_FS_LOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "fs/locktable.h"
#include "fs/lockinfo.h"
#include "store/store.h"

/* Lock objects larger than this are shown as a problem, not parsed. */
#define LOCK_MAX_BYTES (64u << 10)

/* Where locks are: the bucket, and the DynamoDB table when one is configured. */
struct lock_source {
	struct store *store;
	struct locktable *table;    /* NULL: no -o dynamodb_table */
	const char *bucket;         /* its name, for a lock's Path */
};

/* One backend's lock. */
struct lock_part {
	bool held;
	char *raw;              /* S3: the object's bytes (at most LOCK_MAX_BYTES + 1);
	                         * DynamoDB: the item's Info string */
	size_t raw_len;
	struct lockinfo info;
	char etag[130];         /* S3 only: the object's ETag */
	time_t mtime;           /* S3 only: the object's Last-Modified */
};

struct lock_view {
	struct lock_part s3, ddb;
	int ddb_error;          /* the table could not be read (negative errno), else 0 */
	const char *backend;    /* "s3", "dynamodb" or "s3 dynamodb" (static) */
	char *text;             /* what `cat` of the .tflock file shows */
	size_t text_len;
	time_t mtime;           /* the lockfile's time, else the DynamoDB lock's Created */
};

/* A lock as the filesystem showed it: what the guard holds an unlink to, what the xattrs
 * give and what the audit names. Strings owned (lock_shown_clear frees them). */
struct lock_shown {
	char *key;              /* the lock object's key (NULL where the holder knows it) */
	char *path;             /* the lock file's path in the mount (likewise) */
	bool s3_held;           /* the S3 lockfile was shown, with this ETag */
	char etag[130];
	bool ddb_held;          /* the DynamoDB lock was shown, with this exact Info */
	char *ddb_info;
	size_t ddb_info_len;
	const char *backend;    /* "s3", "dynamodb", "s3 dynamodb" (static) */
	char *id, *who, *operation, *created;   /* of the primary part (lock_primary) */
};

/* What view shows, without key and path. Returns 0 or -ENOMEM (*out cleared). */
int lock_shown_from(const struct lock_view *v, struct lock_shown *out);

/* A deep copy of from, with key and path as given (copied; may be NULL). Returns 0 or
 * -ENOMEM (*to cleared). */
int lock_shown_copy(const struct lock_shown *from, const char *key, const char *path,
                    struct lock_shown *to);
void lock_shown_clear(struct lock_shown *s);

/* Is name a lock file's name ("<state>.tflock")? */
bool lock_name(const char *name);

/* The state key of lock object key ("<state>.tflock"), malloc'd, or NULL. */
char *lock_state_key(const char *lock_key);

/* Reads the S3 lockfile key and, with a table, the DynamoDB lock of its state, and merges
 * them. Returns 0, -ENOENT when neither backend holds a lock, or -EACCES / -EIO / -ENOMEM
 * (logged) when S3 could not be read. A table that cannot be read leaves the S3 lock
 * shown alone, with a Problem line that says so; with no S3 lock either, its errno is
 * the answer (it may hold a lock). */
int lock_fetch(const struct lock_source *src, const char *key, struct lock_view **out);

/* The S3 part alone (for reports that already hold the table's snapshot, and the
 * guard's second look). Returns 0, -ENOENT or the read's errno; fills *part. */
int lock_fetch_s3(const struct lock_source *src, const char *key, struct lock_part *part);

/* The DynamoDB lock item of lock file key's state, read consistently: its Info
 * (malloc'd, *len bytes). Returns 0, -ENOENT, or a negative errno. */
int lock_fetch_ddb(const struct lock_source *src, const char *key, char **info, size_t *len);

/* The conditional deletes of the guarded unlock, each sent once (the caller reads again
 * after an unclear answer, store_error_unsure): the S3 lockfile key only while it has
 * ETag etag, the DynamoDB item of its state only while its Info is exactly info. Return
 * 0, -ECANCELED (the lock is not the one named), -ENOENT (S3: gone), or a negative errno
 * with *err filled. */
int lock_delete_s3(const struct lock_source *src, const char *key, const char *etag,
                   struct store_error *err);
int lock_delete_ddb(const struct lock_source *src, const char *key, const char *info,
                    size_t info_len, struct store_error *err);

/* Decodes a DynamoDB Info string into *part (copying it). Returns 0 or -ENOMEM. */
int lock_part_from_info(const char *info, size_t len, struct lock_part *part);
void lock_part_clear(struct lock_part *part);

/* Fills v's backend, mtime and text from its parts (at least one held). Returns 0 or
 * -ENOMEM. */
int lock_view_finish(struct lock_view *v);

/* Do the two parts disagree on the lock's ID (both held)? */
bool lock_ids_differ(const struct lock_view *v);

/* The lock shown first: the S3 lockfile when held, else the DynamoDB lock. */
const struct lock_part *lock_primary_part(const struct lock_view *v);
const struct lockinfo *lock_primary(const struct lock_view *v);

void lock_view_free(struct lock_view *v);
#endif
