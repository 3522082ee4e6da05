/* The guarded force-unlock: remove only the lock that was shown, and audit every attempt. */
#include "fs/guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/lock.h"

/* One unlock attempt as it goes: what was shown, who asks, what came of it. */
struct attempt {
	struct guard *g;
	struct tree_lock_shown shown;
	uint64_t parent;        /* the lock file: name in directory parent */
	const char *name;
	uid_t uid;
	pid_t pid;
	char reason[512];
};

static int finish(struct attempt *a, const char *result, int error)
{
	struct audit_record r = {
		.uid = a->uid, .pid = a->pid, .path = a->shown.path, .key = a->shown.key,
		.lock_id = a->shown.id, .who = a->shown.who, .operation = a->shown.operation,
		.created = a->shown.created, .backend = "s3", .result = result, .error = error,
		.reason = a->reason,
	};
	audit_write(a->g->audit, &r);
	return -error;
}

static int refuse(struct attempt *a, int error)
{
	return finish(a, "refused", error);
}

/* Has the lock changed hands since it was shown? */
static bool changed(const struct attempt *a, const struct lock_view *now)
{
	const char *id = now->info.id ? now->info.id : "";
	return strcmp(now->etag, a->shown.etag) != 0 || strcmp(id, a->shown.id) != 0;
}

static int refuse_changed(struct attempt *a, const struct lock_view *now)
{
	snprintf(a->reason, sizeof(a->reason), "the lock changed hands since it was shown: shown "
	         "ID %s (ETag %s), now ID %s (ETag %s) held by %s; read the lock file again",
	         a->shown.id, a->shown.etag, now->info.id ? now->info.id : "?", now->etag,
	         now->info.who ? now->info.who : "?");
	return refuse(a, EBUSY);
}

/* Seconds since the lock was taken: its Created, else the object's time. */
static double lock_age(const struct lock_view *v)
{
	time_t created;
	if (lockinfo_created_time(&v->info, &created) < 0)
		created = v->mtime;
	return difftime(time(NULL), created);
}

/* No answer to the DELETE: whether it happened is found out, not assumed. */
static int recheck_after_delete(struct attempt *a, int delete_rc)
{
	struct lock_view *now = NULL;
	int rc = lock_fetch(a->g->s3, a->shown.key, &now);
	int out;
	if (rc == -ENOENT) {
		snprintf(a->reason, sizeof(a->reason), "the delete's answer was lost (%s); the lock is "
		         "gone", strerror(-delete_rc));
		tree_lock_forget(a->g->tree, a->parent, a->name);
		out = finish(a, "unlocked", 0);
	} else if (rc == 0 && changed(a, now)) {
		out = refuse_changed(a, now);
	} else {
		snprintf(a->reason, sizeof(a->reason), "DeleteObject failed (%s) and the lock is still "
		         "there; try again", strerror(-delete_rc));
		out = finish(a, "failed", EIO);
	}
	lock_view_free(now);
	return out;
}

static int delete_shown(struct attempt *a)
{
	struct aws_error err;
	int rc = s3_delete_object(a->g->s3, a->shown.key, a->shown.etag, &err);
	if (rc == 0) {
		tree_lock_forget(a->g->tree, a->parent, a->name);
		snprintf(a->reason, sizeof(a->reason), "deleted with If-Match %s", a->shown.etag);
		return finish(a, "unlocked", 0);
	}
	if (rc == -ECANCELED) {
		snprintf(a->reason, sizeof(a->reason), "the lock changed between the re-read and the "
		         "delete (S3 answered 412 to If-Match %s)", a->shown.etag);
		return refuse(a, EBUSY);
	}
	if (rc == -ENOENT) {
		tree_lock_forget(a->g->tree, a->parent, a->name);
		snprintf(a->reason, sizeof(a->reason), "the lock went away before the delete");
		return refuse(a, ENOENT);
	}
	if (err.http_status == 0)
		return recheck_after_delete(a, rc);
	aws_error_describe(&err, a->reason, sizeof(a->reason));
	return finish(a, "failed", rc == -EACCES ? EACCES : EIO);
}

/* Steps 2 to 4, on the lock as it is now. */
static int check_and_delete(struct attempt *a)
{
	struct guard *g = a->g;
	struct lock_view *now = NULL;
	int rc = lock_fetch(g->s3, a->shown.key, &now);
	if (rc == -ENOENT) {
		tree_lock_forget(g->tree, a->parent, a->name);
		snprintf(a->reason, sizeof(a->reason), "the lock is already gone");
		return refuse(a, ENOENT);
	}
	if (rc < 0) {
		snprintf(a->reason, sizeof(a->reason), "could not read the lock again: %s", strerror(-rc));
		return finish(a, "failed", rc == -EACCES ? EACCES : EIO);
	}
	if (changed(a, now))
		rc = refuse_changed(a, now);
	else if (lock_age(now) < g->policy.min_age_s) {
		snprintf(a->reason, sizeof(a->reason), "the lock is %.0f s old, younger than "
		         "unlock_min_age (%.0f s)", lock_age(now), g->policy.min_age_s);
		rc = refuse(a, EPERM);
	} else {
		rc = delete_shown(a);
	}
	lock_view_free(now);
	return rc;
}

int guard_unlink(struct guard *g, uint64_t parent, const char *name, uid_t uid, pid_t pid)
{
	struct attempt a = { .g = g, .parent = parent, .name = name, .uid = uid, .pid = pid };
	int rc = tree_lock_shown(g->tree, parent, name, &a.shown);
	if (rc < 0)
		return rc;
	if (g->policy.unlock_off) {
		snprintf(a.reason, sizeof(a.reason), "unlocking is turned off on this mount (-o unlock=off or ro)");
		rc = refuse(&a, EROFS);
	} else {
		rc = check_and_delete(&a);
	}
	tree_lock_shown_free(&a.shown);
	return rc;
}
