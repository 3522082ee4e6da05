/* One audit record per unlock attempt (and per lock made): to syslog, and as a JSON line to
 * -o audit_log=FILE. */
#ifndef TFS_FS_AUDIT_H
#define TFS_FS_AUDIT_H
#include <sys/types.h>
#include "fs/lock.h"

struct audit;

/* path: the JSON-lines file (opened for append, 0600), or NULL for syslog only.
 * Returns 0 or a negative errno (the file cannot be opened). */
int audit_open(const char *path, struct audit **out);
void audit_close(struct audit *a);

struct audit_record {
	uid_t uid;
	pid_t pid;              /* the caller; its command name is read from /proc */
	const struct lock_shown *lock;  /* the lock as shown, with its key and path */
	const char *action;     /* NULL for an unlock; "lock" for a lock made (-o lock_create) */
	const char *result;     /* "unlocked", "refused", "failed" or "partial"; for a lock
	                         * made, "locked", "refused" or "failed" */
	int error;              /* positive errno, 0 when unlocked */
	const char *reason;
};

/* Writes one record; safe from any thread. */
void audit_write(struct audit *a, const struct audit_record *r);
#endif
