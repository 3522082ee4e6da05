/* A lock made on purpose (-o lock_create): Terraform's lock info, written to the S3
 * lockfile with If-None-Match: * and, with a table, to the DynamoDB item with
 * attribute_not_exists(LockID), so that a configuration on either backend is blocked;
 * all of it or nothing. */
#ifndef TFS_FS_LOCKMAKE_H
#define TFS_FS_LOCKMAKE_H
#include <stdbool.h>
#include <stddef.h>
#include "fs/lock.h"

/* What Terraform prints as the holder's operation (and, with the version, "tfstatefs
 * 0.1.0"): these say who made the lock. */
#define LOCKMAKE_OPERATION "tfstatefs freeze"

/* The Info text a lock may carry, in bytes, after trimming. */
#define LOCKMAKE_INFO_MAX 1024

/* What this mount made: both backends hold json (the same bytes). Strings owned. */
struct lock_made {
	char *key;              /* the lock object's key */
	char *id;               /* the lock's ID (a UUID) */
	char *who;
	char *created;
	char *json;
	size_t json_len;
	bool s3_held;
	char etag[STORE_ETAG_MAX];
	bool ddb_held;
};

/* Takes the lock of lock object key for who ("alice@ops-box") with Info info (len bytes,
 * already checked with lockmake_info_check). Returns 0 (*out filled), -EEXIST (a lock
 * is there: nothing of this one is left), or another negative errno (nothing left
 * either; why says what happened, for the audit). */
int lock_make(const struct lock_source *src, const char *key, const char *who,
              const char *info, size_t len, struct lock_made *out, char *why, size_t why_len);

/* Replaces m's Info (both backends, each only while it still holds m's lock). Returns 0,
 * -EBUSY (a backend's lock is no longer m's: it changed hands), or a negative errno. */
int lock_made_set_info(const struct lock_source *src, struct lock_made *m, const char *info,
                       size_t len, char *why, size_t why_len);

/* Removes m's lock from both backends, each only while it is still m's. Returns 0 or the
 * first negative errno. */
int lock_made_undo(const struct lock_source *src, struct lock_made *m);
void lock_made_clear(struct lock_made *m);

/* The Info of text written to a lock file: trimmed of white space at both ends, into
 * *start and *len. Returns 0, -EFBIG (over LOCKMAKE_INFO_MAX) or -EILSEQ (not UTF-8, or
 * a control character other than tab and newline). */
int lockmake_info_check(const char *text, size_t text_len, const char **start, size_t *len);

/* "alice@ops-box": the user name of uid (or "uid-1000") at this host's name. Malloc'd. */
char *lockmake_who(uid_t uid);
#endif
