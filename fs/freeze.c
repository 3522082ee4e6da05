/* The lock is taken when the file is created, and its Info replaced with each write: a
 * create that returns has taken it, and a write that fails has said why. */
#include "fs/freeze.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/lockmake.h"

struct freeze_writer {
	struct guard *g;
	uint64_t parent, ino;
	char *name;
	char *path;             /* the lock file's path in the mount */
	uid_t uid;
	pid_t pid;
	struct lock_made made;
	char *text;             /* what was written, as it was written */
	size_t len;
	bool gone;              /* the lock is no longer this writer's */
	bool removed;           /* a refused text removed it: the kernel is to forget the file */
};

static const char *backend_of(bool s3, bool ddb)
{
	return s3 && ddb ? "s3 dynamodb" : ddb ? "dynamodb" : "s3";
}

/* A lock made, as the audit and the events name it; strings borrowed from w. */
static void shown_of(const struct freeze_writer *w, struct lock_shown *s)
{
	const struct lock_made *m = &w->made;
	*s = (struct lock_shown){
		.key = m->key, .path = w->path, .s3_held = m->s3_held, .ddb_held = m->ddb_held,
		.ddb_info = m->json, .ddb_info_len = m->json_len, .id = m->id, .who = m->who,
		.operation = (char *)LOCKMAKE_OPERATION, .created = m->created,
		.backend = backend_of(m->s3_held, m->ddb_held),
	};
	memcpy(s->etag, m->etag, sizeof(s->etag));
}

/* One audit record for an attempt on lock s, and one event (for a lock taken or refused). */
static void tell(struct guard *g, const struct lock_shown *s, uid_t uid, pid_t pid,
                 const char *result, int error, const char *reason)
{
	struct audit_record r = { .uid = uid, .pid = pid, .lock = s, .action = "lock",
	                          .result = result, .error = error, .reason = reason };
	audit_write(g->audit, &r);
	events_guard(g->events, s, result, uid, error);
}

static int finish(struct freeze_writer *w, const char *result, int error, const char *reason)
{
	struct lock_shown s;
	shown_of(w, &s);
	tell(w->g, &s, w->uid, w->pid, result, error, reason);
	return -error;
}

/* Removes the lock w made after a failure its writer is told of, so that nothing is left
 * that the writer believes not taken: audited as failed (error, why), and told as
 * unlocked to the readers of events that were told it locked. */
static void undo(struct freeze_writer *w, int error, const char *why)
{
	struct lock_shown held;
	shown_of(w, &held);
	lock_made_undo(w->g->locks, &w->made);
	tree_lock_forget(w->g->tree, w->parent, w->name);
	w->gone = true;
	tell(w->g, &held, w->uid, w->pid, "failed", error, why);
	struct lock_shown went = held;
	went.s3_held = held.s3_held && !w->made.s3_held;
	went.ddb_held = held.ddb_held && !w->made.ddb_held;
	went.backend = backend_of(went.s3_held, went.ddb_held);
	if (went.s3_held || went.ddb_held)
		events_guard(w->g->events, &went, "unlocked", w->uid, error);
}

static void writer_free(struct freeze_writer *w)
{
	if (!w)
		return;
	lock_made_clear(&w->made);
	free(w->name);
	free(w->path);
	free(w->text);
	free(w);
}

/* Whether the policy lets caller make a lock; the errno and the reason when it does not. */
static int refusal(const struct unlock_policy *p, const struct guard_caller *c, char *why,
                   size_t len)
{
	if (p->off) {
		snprintf(why, len, "locks cannot be made on this mount (-o unlock=off or ro)");
		return EROFS;
	}
	if (!guard_caller_allowed(p, c)) {
		guard_policy_reason(p, "make a lock", why, len);
		return EPERM;
	}
	return 0;
}

/* The lock file as the tree shows it from now on, fetched as any lock is. */
static int show_in_tree(struct guard *g, uint64_t parent, const char *name,
                        struct tree_attr *attr)
{
	tree_lock_stale(g->tree, parent, name);
	return tree_lookup(g->tree, parent, name, attr);
}

int freeze_create(struct guard *g, uint64_t parent, const char *name,
                  const struct guard_caller *caller, struct tree_attr *attr,
                  struct freeze_writer **out)
{
	if (!g->policy->create || !lock_name(name))
		return -EROFS;
	struct freeze_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct freeze_writer){ .g = g, .parent = parent, .name = strdup(name),
	                             .uid = caller->uid, .pid = caller->pid };
	char why[512] = "";
	char *who = NULL;
	int rc = w->name ? tree_lock_key(g->tree, parent, name, &w->made.key, &w->path) : -ENOMEM;
	int error = rc < 0 ? 0 : refusal(g->policy, caller, why, sizeof(why));
	if (rc == 0 && error) {
		rc = finish(w, "refused", error, why);
	} else if (rc == 0) {
		char *key = w->made.key;
		w->made.key = NULL;
		who = lockmake_who(caller->uid);
		rc = who ? lock_make(g->locks, key, who, "", 0, &w->made, why, sizeof(why)) : -ENOMEM;
		if (!w->made.key) {     /* not made: the audit still names the lock object */
			w->made.key = key;
			key = NULL;
		}
		free(key);
		if (rc == 0)
			finish(w, "locked", 0, "made with If-None-Match: * (and attribute_not_exists)");
		else
			finish(w, rc == -EEXIST ? "refused" : "failed", -rc, why);
		if (rc == 0 && (rc = show_in_tree(g, parent, name, attr)) < 0) {
			/* The create fails: the lock made must not stay. */
			snprintf(why, sizeof(why), "the lock made could not be read back to be shown "
			         "(%s): it is removed again", strerror(-rc));
			undo(w, -rc, why);
		}
	}
	free(who);
	if (rc == 0) {
		w->ino = attr->ino;
		*out = w;
		return 0;
	}
	writer_free(w);
	return rc == -EEXIST || rc == -EROFS || rc == -EPERM || rc == -ENOMEM ? rc : -EIO;
}

int freeze_open(struct guard *g, uint64_t ino, const struct guard_caller *caller)
{
	if (!g->policy->create)
		return -EROFS;
	char why[512] = "";
	int error = refusal(g->policy, caller, why, sizeof(why));
	struct lock_shown s;
	int rc = tree_lock_fields(g->tree, ino, &s);
	if (rc < 0)
		return error ? -error : rc == -ENOMEM ? rc : -ENOENT;
	if (!error) {
		error = EEXIST;
		snprintf(why, sizeof(why), "a lock is there (%s, by %s): it is never written over",
		         s.id ? s.id : "?", s.who ? s.who : "?");
	}
	tell(g, &s, caller->uid, caller->pid, "refused", error, why);
	lock_shown_clear(&s);
	return -error;
}

/* The text so far with buf at off, into w->text. */
static int take_bytes(struct freeze_writer *w, const char *buf, size_t size, off_t off)
{
	if (off < 0 || (size_t)off > w->len || (size_t)off + size > 2 * LOCKMAKE_INFO_MAX + 4096)
		return off < 0 || (size_t)off > w->len ? -EINVAL : -EFBIG;
	char *text = realloc(w->text, (size_t)off + size + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text + off, buf, size);
	w->text = text;
	w->len = (size_t)off + size;
	return 0;
}

ssize_t freeze_write(struct freeze_writer *w, const char *buf, size_t size, off_t off)
{
	if (w->gone)
		return -EBUSY;
	const char *info = NULL;
	size_t len = 0;
	char why[512] = "";
	int rc = take_bytes(w, buf, size, off);
	if (rc == 0)
		rc = lockmake_info_check(w->text, w->len, &info, &len);
	if (rc == -EFBIG || rc == -EILSEQ || rc == -EINVAL) {
		/* The writer is told it failed: the lock it would believe not taken goes. */
		snprintf(why, sizeof(why), "%s: the lock made at the create is removed again",
		         rc == -EFBIG ? "the text is over 1024 bytes" : rc == -EILSEQ
		         ? "the text is not UTF-8 text" : "a write not at the end of the text");
		undo(w, -rc, why);
		w->removed = true;
		return rc;
	}
	if (rc == 0)
		rc = lock_made_set_info(w->g->locks, &w->made, info, len, why, sizeof(why));
	if (rc == 0) {
		/* What the file shows, and what its rm will remove, is the lock as written now. */
		struct tree_attr a;
		tree_lock_stale(w->g->tree, w->parent, w->name);
		tree_resolve(w->g->tree, w->path, &a);
	}
	if (rc == -EBUSY) {
		w->gone = true;
		finish(w, "failed", EBUSY, why);
	}
	return rc < 0 ? (rc == -ENOMEM || rc == -EBUSY ? rc : -EIO) : (ssize_t)size;
}

uint64_t freeze_writer_ino(const struct freeze_writer *w)
{
	return w->ino;
}

bool freeze_writer_removed(struct freeze_writer *w, uint64_t *parent, const char **name)
{
	if (!w->removed)
		return false;
	w->removed = false;
	*parent = w->parent;
	*name = w->name;
	return true;
}

void freeze_close(struct freeze_writer *w)
{
	writer_free(w);
}
