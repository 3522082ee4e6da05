/* The guarded force-unlock: remove only the lock that was shown, and audit every attempt. */
#ifndef TFS_FS_GUARD_H
#define TFS_FS_GUARD_H
#include <stdbool.h>
#include <sys/types.h>
#include "fs/audit.h"
#include "fs/tree.h"

struct guard_policy {
	bool unlock_off;        /* -o unlock=off or -o ro: every unlock refused (EROFS) */
	double min_age_s;       /* -o unlock_min_age: younger locks refused (EPERM) */
};

struct guard {
	struct tree *tree;      /* all borrowed */
	struct s3_client *s3;
	struct audit *audit;
	struct guard_policy policy;
};

/* Removes lock file name in directory parent for caller uid/pid:
 * 1. what the filesystem showed of it (ID and ETag) is what may be removed;
 * 2. the lock is read again: gone -ENOENT; another ID or ETag -EBUSY;
 * 3. the policy: unlock off -EROFS, younger than min_age -EPERM;
 * 4. DeleteObject with If-Match on the shown ETag: 412 -EBUSY.
 * An unclear delete outcome (no answer) is checked by reading again. Each attempt is
 * one audit record. Returns 0 or the negative errno. */
int guard_unlink(struct guard *g, uint64_t parent, const char *name, uid_t uid, pid_t pid);
#endif
