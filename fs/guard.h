/* The guarded force-unlock: remove only the lock that was shown, and audit every attempt. */
#ifndef TFS_FS_GUARD_H
#define TFS_FS_GUARD_H
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include "fs/audit.h"
#include "fs/config.h"
#include "fs/events.h"
#include "fs/lock.h"
#include "fs/tree.h"

/* Who asks for an unlock (from the kernel's request). */
struct guard_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups;    /* supplementary groups, as far as known */
	size_t ngroups;
};

/* How an unlock attempt ended: its audit record's result. */
enum guard_result { GUARD_UNLOCKED, GUARD_REFUSED, GUARD_FAILED, GUARD_PARTIAL, GUARD_RESULTS };

/* The audit's word for each result: "unlocked", "refused", "failed", "partial". */
extern const char *const guard_result_names[GUARD_RESULTS];

/* Attempts since the mount, by result, counted where each is audited; read them with
 * atomic_load from any thread (/.tfstatefs/metrics does). */
struct guard_counts {
	atomic_ullong by_result[GUARD_RESULTS];
};

struct guard {
	struct tree *tree;      /* all borrowed */
	const struct lock_source *locks;
	struct audit *audit;
	const struct unlock_policy *policy;
	struct guard_counts counts;     /* kept by guard_unlink; zero to start */
	struct events *events;  /* told each unlock and refusal (may be NULL) */
};

/* Removes lock file name in directory parent for caller:
 * 1. what the filesystem showed of it is what may be removed: the S3 lockfile's ID and
 *    ETag, the DynamoDB item's exact Info;
 * 2. both backends are read again: nothing left -ENOENT; a lock shown that changed, or a
 *    lock in a backend where none was shown, -EBUSY (nothing is deleted);
 * 3. the policy: unlock off -EROFS; a caller neither the mount's owner nor in
 *    unlock_gid -EPERM (others may see the mount with -o allow_other); younger than
 *    min_age -EPERM;
 * 4. the DynamoDB item is deleted with ConditionExpression Info = the Info shown, then the
 *    lockfile with If-Match on the ETag shown; a condition that fails is -EBUSY.
 * An unclear outcome (no answer) is checked by reading again. When one backend's lock is
 * removed and the other's is not, the result is "partial" and the errno is the other's.
 * Each attempt is one audit record. Returns 0 or the negative errno. */
int guard_unlink(struct guard *g, uint64_t parent, const char *name,
                 const struct guard_caller *caller);

/* May caller unlock (or make a lock): the mount's owner, or a member of unlock_gid? */
bool guard_caller_allowed(const struct unlock_policy *p, const struct guard_caller *c);

/* "only the mount's owner (uid 0) may unlock; ..." for an audit reason. */
void guard_policy_reason(const struct unlock_policy *p, const char *verb, char *buf, size_t len);
#endif
