/* One lock as the filesystem shows it: a state's S3 lockfile and its DynamoDB lock item,
 * fetched, decoded and merged into one view. */
#ifndef TFS_FS_LOCK_H
#define TFS_FS_LOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "fs/locktable.h"
#include "fs/lockinfo.h"
#include "s3/s3.h"

/* Lock objects larger than this are shown as a problem, not parsed. */
#define LOCK_MAX_BYTES (64u << 10)

/* Where locks are: the bucket, and the DynamoDB table when one is configured. */
struct lock_source {
	struct s3_client *s3;
	struct locktable *table;    /* NULL: no -o dynamodb_table */
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

/* Is name a lock file's name ("<state>.tflock")? */
bool lock_name(const char *name);

/* The state key of lock object key ("<state>.tflock"), malloc'd, or NULL. */
char *lock_state_key(const char *lock_key);

/* Reads the S3 lockfile key and, with a table, the DynamoDB lock of its state, and merges
 * them. Returns 0, -ENOENT when neither backend holds a lock, or -EACCES / -EIO / -ENOMEM
 * (logged) when S3 could not be read. A table that cannot be read leaves the S3 lock
 * shown alone, with a Problem line that says so. */
int lock_fetch(const struct lock_source *src, const char *key, struct lock_view **out);

/* The S3 part alone (for reports that already hold the table's snapshot). Returns 0,
 * -ENOENT or the read's errno; fills *part. */
int lock_fetch_s3(struct s3_client *s3, const char *key, struct lock_part *part);

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
