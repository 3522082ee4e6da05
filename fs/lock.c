/* One lock as the filesystem shows it: the S3 lockfile and the DynamoDB lock of a state,
 * fetched, decoded and merged into one view. */
#include "fs/lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/log.h"
#include "util/memdup.h"

#define LOCK_SUFFIX ".tflock"

bool lock_name(const char *name)
{
	size_t n = strlen(name), s = strlen(LOCK_SUFFIX);
	return n > s && strcmp(name + n - s, LOCK_SUFFIX) == 0;
}

char *lock_state_key(const char *lock_key)
{
	if (!lock_name(lock_key))
		return NULL;
	return strndup(lock_key, strlen(lock_key) - strlen(LOCK_SUFFIX));
}

void lock_part_clear(struct lock_part *part)
{
	free(part->raw);
	lockinfo_free(&part->info);
	memset(part, 0, sizeof(*part));
}

void lock_shown_clear(struct lock_shown *s)
{
	free(s->key);
	free(s->path);
	free(s->ddb_info);
	free(s->id);
	free(s->who);
	free(s->operation);
	free(s->created);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* The strings of *s, which holds borrowed pointers to them, made its own. */
static int shown_own(struct lock_shown *s, const char *key, const char *path,
                     const char *ddb_info, const char *id, const char *who,
                     const char *operation, const char *created)
{
	s->key = key ? strdup(key) : NULL;
	s->path = path ? strdup(path) : NULL;
	s->ddb_info = s->ddb_held ? memdup_nul(ddb_info, s->ddb_info_len) : NULL;
	s->id = dup_or_empty(id);
	s->who = dup_or_empty(who);
	s->operation = dup_or_empty(operation);
	s->created = dup_or_empty(created);
	if ((key && !s->key) || (path && !s->path) || (s->ddb_held && !s->ddb_info) || !s->id ||
	    !s->who || !s->operation || !s->created) {
		lock_shown_clear(s);
		return -ENOMEM;
	}
	return 0;
}

int lock_shown_from(const struct lock_view *v, struct lock_shown *out)
{
	const struct lockinfo *li = lock_primary(v);
	*out = (struct lock_shown){ .s3_held = v->s3.held, .ddb_held = v->ddb.held,
	                            .ddb_info_len = v->ddb.raw_len, .backend = v->backend };
	memcpy(out->etag, v->s3.etag, sizeof(out->etag));
	return shown_own(out, NULL, NULL, v->ddb.raw, li->id, li->who, li->operation, li->created);
}

int lock_shown_copy(const struct lock_shown *from, const char *key, const char *path,
                    struct lock_shown *to)
{
	*to = (struct lock_shown){ .s3_held = from->s3_held, .ddb_held = from->ddb_held,
	                           .ddb_info_len = from->ddb_info_len, .backend = from->backend };
	memcpy(to->etag, from->etag, sizeof(to->etag));
	return shown_own(to, key, path, from->ddb_info, from->id, from->who, from->operation,
	                 from->created);
}

void lock_view_free(struct lock_view *v)
{
	if (!v)
		return;
	lock_part_clear(&v->s3);
	lock_part_clear(&v->ddb);
	free(v->text);
	free(v);
}

/* The decoder sees at most LOCK_MAX_BYTES + 1 bytes; the problem names the real size. */
static int note_oversize(struct lock_part *p, uint64_t size)
{
	if (size <= LOCK_MAX_BYTES)
		return 0;
	free(p->info.problem);
	if (asprintf(&p->info.problem, "larger than %u KiB (%" PRIu64 " bytes): not read",
	             LOCK_MAX_BYTES >> 10, size) < 0) {
		p->info.problem = NULL;
		return -ENOMEM;
	}
	return 0;
}

int lock_fetch_s3(const struct lock_source *src, const char *key, struct lock_part *part)
{
	memset(part, 0, sizeof(*part));
	struct store_object_info info;
	struct store_error err;
	struct store_range range = { .key = key, .len = LOCK_MAX_BYTES + 1 };
	int rc = store_get(src->store, &range, &part->raw, &part->raw_len, &info, &err);
	if (rc < 0) {
		if (rc != -ENOENT) {
			char desc[512];
			store_error_describe(&err, desc, sizeof(desc));
			log_error("reading lock %s failed: %s", key, desc);
		}
		lock_part_clear(part);
		return rc == -ENOENT || rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
	}
	memcpy(part->etag, info.etag, sizeof(part->etag));
	part->mtime = info.mtime;
	part->held = true;
	rc = lockinfo_parse(part->raw ? part->raw : "", part->raw_len, &part->info);
	if (rc == 0)
		rc = note_oversize(part, info.size);
	if (rc < 0)
		lock_part_clear(part);
	return rc;
}

int lock_part_from_info(const char *info, size_t len, struct lock_part *part)
{
	memset(part, 0, sizeof(*part));
	if (!(part->raw = memdup_nul(info, len)))
		return -ENOMEM;
	part->raw_len = len;
	part->held = true;
	int rc = lockinfo_parse(info, len, &part->info);
	if (rc < 0)
		lock_part_clear(part);
	return rc;
}

const struct lock_part *lock_primary_part(const struct lock_view *v)
{
	return v->s3.held ? &v->s3 : &v->ddb;
}

const struct lockinfo *lock_primary(const struct lock_view *v)
{
	return &lock_primary_part(v)->info;
}

bool lock_ids_differ(const struct lock_view *v)
{
	if (!v->s3.held || !v->ddb.held)
		return false;
	const char *a = v->s3.info.id ? v->s3.info.id : "", *b = v->ddb.info.id ? v->ddb.info.id : "";
	return strcmp(a, b) != 0;
}

/* Appends "; <fmt...>" (or the first) to the problem line being built. */
static int problem_add(char **problem, const char *fmt, const char *a, const char *b,
                       const char *c)
{
	char *part = NULL, *joined = NULL;
	if (asprintf(&part, fmt, a, b, c) < 0)
		return -ENOMEM;
	int n = *problem ? asprintf(&joined, "%s; %s", *problem, part) : asprintf(&joined, "%s", part);
	free(part);
	if (n < 0)
		return -ENOMEM;
	free(*problem);
	*problem = joined;
	return 0;
}

static const char *or_q(const char *s)
{
	return s ? s : "?";
}

/* The Problem line: the primary lock's own, then what merging the two found. */
static int merged_problem(const struct lock_view *v, char **problem)
{
	const struct lockinfo *li = lock_primary(v);
	int rc = li->problem ? problem_add(problem, "%s", li->problem, NULL, NULL) : 0;
	if (rc == 0 && v->s3.held && v->ddb.held && v->ddb.info.problem)
		rc = problem_add(problem, "the DynamoDB lock: %s", v->ddb.info.problem, NULL, NULL);
	if (rc == 0 && lock_ids_differ(v))
		rc = problem_add(problem, "the S3 lockfile and the DynamoDB lock disagree: DynamoDB "
		                 "holds ID %s (Who %s, Created %s)", or_q(v->ddb.info.id),
		                 or_q(v->ddb.info.who), or_q(v->ddb.info.created));
	if (rc == 0 && v->ddb_error)
		rc = problem_add(problem, "the DynamoDB table could not be read (%s), so a DynamoDB "
		                 "lock would not show here; see /.tfstatefs/status",
		                 strerror(-v->ddb_error), NULL, NULL);
	return rc;
}

int lock_view_finish(struct lock_view *v)
{
	v->backend = v->s3.held && v->ddb.held ? "s3 dynamodb" : v->s3.held ? "s3" : "dynamodb";
	time_t created;
	if (v->s3.held)
		v->mtime = v->s3.mtime;
	else if (lockinfo_created_time(&v->ddb.info, &created) == 0)
		v->mtime = created;
	else
		v->mtime = time(NULL);
	struct lockinfo shown = *lock_primary(v);
	shown.problem = NULL;
	int rc = merged_problem(v, &shown.problem);
	free(v->text);
	v->text = rc == 0 ? lockinfo_format(&shown, v->backend) : NULL;
	free(shown.problem);
	if (!v->text)
		return -ENOMEM;
	v->text_len = strlen(v->text);
	return 0;
}

int lock_fetch_ddb(const struct lock_source *src, const char *key, char **info, size_t *len)
{
	char *state = lock_state_key(key);
	int rc = state ? locktable_get_lock(src->table, state, info, len) : -ENOMEM;
	free(state);
	return rc;
}

int lock_delete_s3(const struct lock_source *src, const char *key, const char *etag,
                   struct store_error *err)
{
	*err = (struct store_error){ 0 };
	return store_delete_if(src->store, key, etag, err);
}

int lock_delete_ddb(const struct lock_source *src, const char *key, const char *info,
                    size_t info_len, struct store_error *err)
{
	*err = (struct store_error){ 0 };
	char *state = lock_state_key(key);
	int rc = state ? locktable_delete_lock(src->table, state, info, info_len, err) : -ENOMEM;
	free(state);
	return rc;
}

/* The DynamoDB half of lock_fetch: a table that cannot be read is noted, not fatal. */
static int fetch_ddb(const struct lock_source *src, const char *key, struct lock_view *v)
{
	char *info = NULL;
	size_t len = 0;
	int rc = lock_fetch_ddb(src, key, &info, &len);
	if (rc == 0)
		rc = lock_part_from_info(info, len, &v->ddb);
	free(info);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0 && rc != -ENOMEM) {
		v->ddb_error = rc;
		return 0;
	}
	return rc;
}

int lock_fetch(const struct lock_source *src, const char *key, struct lock_view **out)
{
	struct lock_view *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int rc = lock_fetch_s3(src, key, &v->s3);
	if (rc == -ENOENT || rc == 0)
		rc = src->table ? fetch_ddb(src, key, v) : 0;
	/* Nothing in S3 and a table that did not answer is not "no lock": it may hold one. */
	if (rc == 0 && !v->s3.held && !v->ddb.held)
		rc = v->ddb_error ? v->ddb_error : -ENOENT;
	if (rc == 0)
		rc = lock_view_finish(v);
	if (rc < 0) {
		lock_view_free(v);
		return rc;
	}
	*out = v;
	return 0;
}
