/* The guarded force-unlock: remove only the lock that was shown, and audit every attempt. */
#include "fs/guard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What became of one backend's lock. */
enum outcome {
	NOT_SHOWN,      /* no lock of this backend was shown or is there */
	REMOVED,        /* deleted by this attempt */
	GONE,           /* already gone when its turn came */
	CHANGED,        /* its condition failed: it changed hands */
	FAILED,         /* the delete failed; the lock is still there */
	/* only on the way to one of the above: */
	UNSURE,         /* no answer, or a 5xx: the delete may or may not have happened */
	STILL,          /* read again after UNSURE: the very lock shown is still there */
};

/* Conditional deletes sent for one backend while the lock shown stays there unchanged:
 * the condition (If-Match, Info =) makes each repeat harmless. */
#define GUARD_DELETE_TRIES 3
#define GUARD_RETRY_WAIT_US 200000

/* One unlock attempt as it goes: what was shown, who asks, what came of it. */
struct attempt {
	struct guard *g;
	struct lock_shown shown;
	uint64_t parent;        /* the lock file: name in directory parent */
	const char *name;
	uid_t uid;
	pid_t pid;
	enum outcome s3, ddb;
	int error;              /* the errno of a FAILED part */
	char reason[1024];
};

/* Appends a sentence to the reason the audit record gives. */
static void say(struct attempt *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct attempt *a, const char *fmt, ...)
{
	size_t used = strlen(a->reason);
	if (used && used + 2 < sizeof(a->reason)) {
		memcpy(a->reason + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->reason + used, sizeof(a->reason) - used, fmt, ap);
	va_end(ap);
}

const char *const guard_result_names[GUARD_RESULTS] = {
	[GUARD_UNLOCKED] = "unlocked", [GUARD_REFUSED] = "refused", [GUARD_FAILED] = "failed",
	[GUARD_PARTIAL] = "partial",
};

/* Every attempt ends here: one audit record, one count, one event. */
static int finish(struct attempt *a, enum guard_result result, int error)
{
	struct audit_record r = {
		.uid = a->uid, .pid = a->pid, .lock = &a->shown, .result = guard_result_names[result],
		.error = error, .reason = a->reason,
	};
	audit_write(a->g->audit, &r);
	atomic_fetch_add_explicit(&a->g->counts.by_result[result], 1, memory_order_relaxed);
	events_guard(a->g->events, &a->shown, guard_result_names[result], a->uid, error);
	return -error;
}

static int refuse(struct attempt *a, int error)
{
	return finish(a, GUARD_REFUSED, error);
}

static const char *or_q(const char *s)
{
	return s ? s : "?";
}

/* Has a backend's lock changed hands since it was shown? A lock where none was shown
 * counts as changed: removing the one shown would leave a state half unlocked. */
static bool s3_changed(const struct attempt *a, const struct lock_view *now)
{
	if (!now->s3.held)
		return false;
	const char *id = now->s3.info.id ? now->s3.info.id : "";
	return !a->shown.s3_held || strcmp(now->s3.etag, a->shown.etag) != 0 ||
	       strcmp(id, a->shown.id) != 0;
}

static bool ddb_changed(const struct attempt *a, const struct lock_view *now)
{
	if (!now->ddb.held)
		return false;
	return !a->shown.ddb_held || now->ddb.raw_len != a->shown.ddb_info_len ||
	       memcmp(now->ddb.raw, a->shown.ddb_info, now->ddb.raw_len) != 0;
}

static int refuse_changed(struct attempt *a, const struct lock_view *now)
{
	bool s3 = s3_changed(a, now);
	const struct lock_part *p = s3 ? &now->s3 : &now->ddb;
	const char *shown_as = s3 ? (a->shown.s3_held ? "" : " (none was shown there)")
	                          : (a->shown.ddb_held ? "" : " (none was shown there)");
	say(a, "the lock changed hands since it was shown: shown ID %s (%s), now the %s lock%s has "
	    "ID %s held by %s; read the lock file again", a->shown.id, a->shown.backend,
	    s3 ? "S3" : "DynamoDB", shown_as, or_q(p->info.id), or_q(p->info.who));
	/* The next read of the file shows the new holder, not the old one for lock_ttl. */
	tree_lock_expire(a->g->tree, a->parent, a->name);
	return refuse(a, EBUSY);
}

/* Seconds since the lock was taken: its Created, else the lockfile's time. */
static double lock_age(const struct lock_view *v)
{
	time_t created;
	if (lockinfo_created_time(lock_primary(v), &created) < 0)
		created = v->mtime;
	return difftime(time(NULL), created);
}

/* ---- deleting each backend's lock ---- */

/* Sends a backend's conditional delete; while the answer leaves it open, reads again and,
 * the very lock shown still being there, sends it again. */
static enum outcome delete_guarded(struct attempt *a, enum outcome (*send)(struct attempt *, char *, size_t),
                                   enum outcome (*recheck)(struct attempt *, const char *))
{
	char why[512];
	for (int tries = 1;; tries++) {
		enum outcome o = send(a, why, sizeof(why));
		if (o == UNSURE)
			o = recheck(a, why);
		if (o != STILL)
			return o;
		if (tries == GUARD_DELETE_TRIES) {
			say(a, "still there after %d conditional deletes: giving up", tries);
			a->error = EIO;
			return FAILED;
		}
		usleep(GUARD_RETRY_WAIT_US * (useconds_t)tries);
	}
}

/* No clear answer to a delete: whether it happened is found out by reading again. */
static enum outcome s3_recheck(struct attempt *a, const char *why)
{
	struct lock_part now;
	int rc = lock_fetch_s3(a->g->locks, a->shown.key, &now);
	enum outcome o = rc == -ENOENT ? REMOVED
	               : rc == 0 && strcmp(now.etag, a->shown.etag) != 0 ? CHANGED
	               : rc == 0 ? STILL : FAILED;
	say(a, "S3 lockfile: %s; read again, it is %s", why,
	    o == REMOVED ? "gone" : o == CHANGED ? "another lock now" : o == STILL ? "still there"
	    : "unreadable");
	if (o == FAILED)
		a->error = EIO;
	lock_part_clear(&now);
	return o;
}

static enum outcome send_s3_delete(struct attempt *a, char *detail, size_t len)
{
	struct store_error err;
	int rc = lock_delete_s3(a->g->locks, a->shown.key, a->shown.etag, &err);
	store_error_describe(&err, detail, len);
	if (rc == 0) {
		say(a, "S3 lockfile deleted with If-Match %s", a->shown.etag);
		if (a->g->policy->delete_unguarded)
			say(a, "this store ignores If-Match on DeleteObject (-o check_store found it): "
			    "the re-read just before the delete was the only guard");
		return REMOVED;
	}
	if (rc == -ECANCELED) {
		say(a, "S3 lockfile changed between the re-read and the delete (412 to If-Match %s)",
		    a->shown.etag);
		return CHANGED;
	}
	if (rc == -ENOENT) {
		say(a, "S3 lockfile went away before the delete");
		return GONE;
	}
	if (store_error_unsure(&err, rc))
		return UNSURE;
	say(a, "S3 lockfile: DeleteObject failed: %s", detail);
	a->error = rc == -EACCES ? EACCES : EIO;
	return FAILED;
}

static enum outcome delete_s3(struct attempt *a)
{
	return delete_guarded(a, send_s3_delete, s3_recheck);
}

/* The DynamoDB item after a delete that did not clearly succeed: gone, another, the same. */
static enum outcome ddb_recheck(struct attempt *a, const char *why)
{
	char *info = NULL;
	size_t len = 0;
	int rc = lock_fetch_ddb(a->g->locks, a->shown.key, &info, &len);
	bool same = rc == 0 && len == a->shown.ddb_info_len &&
	            memcmp(info, a->shown.ddb_info, len) == 0;
	enum outcome o = rc == -ENOENT ? GONE : rc == 0 && !same ? CHANGED : same ? STILL : FAILED;
	say(a, "DynamoDB lock: %s; read again, it is %s", why,
	    o == GONE ? "gone" : o == CHANGED ? "another lock now" : o == STILL ? "still there"
	    : "unreadable");
	if (o == FAILED)
		a->error = EIO;
	free(info);
	return o;
}

/* After an unsure answer, gone means this attempt's delete went through. */
static enum outcome ddb_recheck_unsure(struct attempt *a, const char *why)
{
	enum outcome o = ddb_recheck(a, why);
	return o == GONE ? REMOVED : o;
}

static enum outcome send_ddb_delete(struct attempt *a, char *detail, size_t len)
{
	struct store_error err;
	int rc = lock_delete_ddb(a->g->locks, a->shown.key, a->shown.ddb_info, a->shown.ddb_info_len,
	                         &err);
	store_error_describe(&err, detail, len);
	if (rc == 0) {
		say(a, "DynamoDB lock deleted on condition Info = the Info shown");
		return REMOVED;
	}
	if (rc == -ECANCELED) {
		/* The condition failed, so the same Info read back means the table compares
		 * otherwise than this reads: nothing to retry. */
		enum outcome o = ddb_recheck(a, "the condition Info = the Info shown failed");
		if (o == STILL) {
			a->error = EIO;
			return FAILED;
		}
		return o;
	}
	if (store_error_unsure(&err, rc))
		return UNSURE;
	say(a, "DynamoDB lock: DeleteItem failed: %s", detail);
	a->error = rc == -EACCES ? EACCES : EIO;
	return FAILED;
}

static enum outcome delete_ddb(struct attempt *a)
{
	return delete_guarded(a, send_ddb_delete, ddb_recheck_unsure);
}

/* The audit result and errno from what became of each backend's lock. */
static int conclude(struct attempt *a)
{
	bool removed = a->s3 == REMOVED || a->ddb == REMOVED;
	bool changed = a->s3 == CHANGED || a->ddb == CHANGED;
	bool failed = a->s3 == FAILED || a->ddb == FAILED;
	int error = changed ? EBUSY : failed ? a->error : 0;
	if (!error)
		tree_lock_forget(a->g->tree, a->parent, a->name);
	else if (removed)
		tree_lock_stale(a->g->tree, a->parent, a->name);  /* it shows what is left */
	if (!removed && !error)
		return refuse(a, ENOENT);   /* every lock shown was gone by its turn */
	if (removed && error)
		return finish(a, GUARD_PARTIAL, error);
	return finish(a, removed ? GUARD_UNLOCKED : changed ? GUARD_REFUSED : GUARD_FAILED, error);
}

/* Step 4: the DynamoDB item first, so that the lockfile keeps runners that take both
 * out until the end. */
static int delete_both(struct attempt *a, const struct lock_view *now)
{
	if (a->shown.s3_held && !now->s3.held)
		say(a, "S3 lockfile already gone");
	if (a->shown.ddb_held && !now->ddb.held)
		say(a, "DynamoDB lock already gone");
	if (now->ddb_error)
		say(a, "the DynamoDB table could not be read (%s): only the S3 lockfile was checked",
		    strerror(-now->ddb_error));
	a->ddb = now->ddb.held ? delete_ddb(a) : NOT_SHOWN;
	a->s3 = now->s3.held && a->ddb != FAILED && a->ddb != CHANGED ? delete_s3(a) : NOT_SHOWN;
	if (now->s3.held && a->s3 == NOT_SHOWN)
		say(a, "S3 lockfile left in place");
	return conclude(a);
}

/* Steps 2 to 4, on the lock as it is now. */
static int check_and_delete(struct attempt *a)
{
	struct guard *g = a->g;
	struct lock_view *now = NULL;
	int rc = lock_fetch(g->locks, a->shown.key, &now);
	if (rc == -ENOENT) {
		tree_lock_forget(g->tree, a->parent, a->name);
		say(a, "the lock is already gone");
		return refuse(a, ENOENT);
	}
	if (rc == 0 && now->ddb_error && a->shown.ddb_held)
		rc = now->ddb_error;
	if (rc < 0) {
		say(a, "could not read the lock again: %s", strerror(-rc));
		rc = finish(a, GUARD_FAILED, rc == -EACCES ? EACCES : EIO);
	} else if (s3_changed(a, now) || ddb_changed(a, now)) {
		rc = refuse_changed(a, now);
	} else if (g->policy->min_age_s > 0 && lock_age(now) < g->policy->min_age_s) {
		say(a, "the lock is %.0f s old, younger than unlock_min_age (%.0f s)", lock_age(now),
		    g->policy->min_age_s);
		rc = refuse(a, EPERM);
	} else {
		rc = delete_both(a, now);
	}
	lock_view_free(now);
	return rc;
}

bool guard_caller_allowed(const struct unlock_policy *p, const struct guard_caller *c)
{
	if (c->uid == p->owner)
		return true;
	if (!p->has_unlock_gid)
		return false;
	if (c->gid == p->unlock_gid)
		return true;
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == p->unlock_gid)
			return true;
	return false;
}

void guard_policy_reason(const struct unlock_policy *p, const char *verb, char *buf, size_t len)
{
	if (p->has_unlock_gid)
		snprintf(buf, len, "only the mount's owner (uid %u) and group %u (-o unlock_gid) may %s",
		         (unsigned)p->owner, (unsigned)p->unlock_gid, verb);
	else
		snprintf(buf, len, "only the mount's owner (uid %u) may %s; -o unlock_gid=GROUP lets a "
		         "group %s too", (unsigned)p->owner, verb, verb);
}

int guard_unlink(struct guard *g, uint64_t parent, const char *name,
                 const struct guard_caller *caller)
{
	struct attempt a = { .g = g, .parent = parent, .name = name, .uid = caller->uid,
	                     .pid = caller->pid };
	int rc = tree_lock_shown(g->tree, parent, name, &a.shown);
	if (rc < 0)
		return rc;
	if (g->policy->off) {
		say(&a, "unlocking is turned off on this mount (-o unlock=off or ro)");
		rc = refuse(&a, EROFS);
	} else if (!guard_caller_allowed(g->policy, caller)) {
		guard_policy_reason(g->policy, "unlock", a.reason, sizeof(a.reason));
		rc = refuse(&a, EPERM);
	} else {
		rc = check_and_delete(&a);
	}
	lock_shown_clear(&a.shown);
	return rc;
}
