/* Making a lock as Terraform would: the same JSON, the same conditional writes, in the
 * same order (the lockfile, then the table), undone when the second one fails. */
#include "fs/lockmake.h"

#include <errno.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "util/log.h"

#ifndef TFSTATEFS_VERSION
#define TFSTATEFS_VERSION "dev"
#endif

#define LOCKMAKE_VERSION "tfstatefs " TFSTATEFS_VERSION

/* An unclear answer is checked by reading, and a write found not done is sent again. */
#define LOCKMAKE_TRIES 3

/* ---- the lock's fields ---- */

/* A random (version 4) UUID, as Terraform's lock IDs are. */
static char *new_uuid(void)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return NULL;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char *s = NULL;
	if (asprintf(&s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
	             b[12], b[13], b[14], b[15]) < 0)
		return NULL;
	return s;
}

/* Now, as Go's time.RFC3339Nano writes it in UTC (Terraform's Created). */
static char *now_rfc3339_nano(void)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char date[32], *s = NULL;
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (asprintf(&s, "%s.%09ldZ", date, ts.tv_nsec) < 0)
		return NULL;
	return s;
}

char *lockmake_who(uid_t uid)
{
	char host[256] = "localhost", buf[4096], *who = NULL;
	struct passwd pw, *found = NULL;
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	int rc = getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found
	         ? asprintf(&who, "%s@%s", found->pw_name, host)
	         : asprintf(&who, "uid-%u@%s", (unsigned)uid, host);
	return rc < 0 ? NULL : who;
}

/* The lock info in Terraform's field order, with Info info. */
static int build_json(const struct lock_source *src, struct lock_made *m, const char *info,
                      size_t len)
{
	char *state = lock_state_key(m->key), *path = NULL;
	if (!state || asprintf(&path, "%s/%s", src->bucket ? src->bucket : "", state) < 0) {
		free(state);
		return -ENOMEM;
	}
	free(state);
	json_object *o = json_object_new_object();
	const char *text = NULL;
	if (o) {
		json_object_object_add(o, "ID", json_object_new_string(m->id));
		json_object_object_add(o, "Operation", json_object_new_string(LOCKMAKE_OPERATION));
		json_object_object_add(o, "Info", json_object_new_string_len(info, (int)len));
		json_object_object_add(o, "Who", json_object_new_string(m->who));
		json_object_object_add(o, "Version", json_object_new_string(LOCKMAKE_VERSION));
		json_object_object_add(o, "Created", json_object_new_string(m->created));
		json_object_object_add(o, "Path", json_object_new_string(path));
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		                                      JSON_C_TO_STRING_NOSLASHESCAPE);
	}
	char *json = text ? strdup(text) : NULL;
	json_object_put(o);
	free(path);
	if (!json)
		return -ENOMEM;
	free(m->json);
	m->json = json;
	m->json_len = strlen(json);
	return 0;
}

/* ---- the writes, each checked by reading after an unclear answer ---- */

/* One backend's conditional write of m->json, as write_checked sends it. */
struct backend_write {
	const char *name;       /* "the S3 lockfile", for the reason given */
	bool replacing;         /* a replace (its condition failing is -ECANCELED), not a create */
	/* Sends the write once. */
	int (*send)(const struct lock_source *src, struct lock_made *m, const void *ctx,
	            struct store_error *err);
	/* Does the backend hold m's lock now? 1, 0 (no lock), -EEXIST (another lock), or the
	 * read's errno. */
	int (*holds_ours)(const struct lock_source *src, struct lock_made *m);
	const void *ctx;
};

/* "<before><name><after>: <the store's error>" as the reason. */
static void say_error(char *why, size_t len, const char *before, const char *name,
                      const char *after, const struct store_error *err)
{
	char desc[384];
	store_error_describe(err, desc, sizeof(desc));
	snprintf(why, len, "%s%s%s: %s", before, name, after, desc);
}

/* Sends b's write; an unclear answer is settled by reading the backend: ours there is done,
 * nothing there is sent again, another lock there is the condition failing. */
static int write_checked(const struct lock_source *src, struct lock_made *m,
                         const struct backend_write *b, char *why, size_t why_len)
{
	int rc = -EIO;
	for (int i = 0; i < LOCKMAKE_TRIES; i++) {
		struct store_error err = { 0 };
		rc = b->send(src, m, b->ctx, &err);
		if (rc == 0 || !store_error_unsure(&err, rc)) {
			if (rc < 0 && rc != -EEXIST && rc != -ECANCELED)
				say_error(why, why_len, "", b->name, " could not be written", &err);
			return rc;
		}
		int held = b->holds_ours(src, m);
		if (held == 1)
			return 0;
		if (held < 0 && held != -EIO)
			return held == -EEXIST && b->replacing ? -ECANCELED : held;
		say_error(why, why_len, "no clear answer writing ", b->name, "", &err);
	}
	return rc;
}

static int s3_send(const struct lock_source *src, struct lock_made *m, const void *ctx,
                   struct store_error *err)
{
	const char *if_match = ctx;
	struct store_put p = { .key = m->key, .data = m->json, .len = m->json_len,
	                       .if_none_match = !if_match, .if_match = if_match };
	return store_put_if(src->store, &p, m->etag, err);
}

/* (The ETag of the lock found ours is noted.) */
static int s3_holds_ours(const struct lock_source *src, struct lock_made *m)
{
	struct lock_part part;
	int rc = lock_fetch_s3(src, m->key, &part);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	bool ours = part.raw_len == m->json_len && memcmp(part.raw, m->json, m->json_len) == 0;
	if (ours)
		memcpy(m->etag, part.etag, sizeof(m->etag));
	lock_part_clear(&part);
	return ours ? 1 : -EEXIST;
}

/* Writes m->json to the lockfile: created (if_match NULL) or replacing if_match. */
static int put_s3(const struct lock_source *src, struct lock_made *m, const char *if_match,
                  char *why, size_t why_len)
{
	struct backend_write b = { .name = "the S3 lockfile", .replacing = if_match != NULL,
	                           .send = s3_send, .holds_ours = s3_holds_ours, .ctx = if_match };
	return write_checked(src, m, &b, why, why_len);
}

/* The item's state key and the Info it must still have (NULL: none, a create). */
struct ddb_condition {
	const char *state;
	const char *old;
	size_t old_len;
};

static int ddb_send(const struct lock_source *src, struct lock_made *m, const void *ctx,
                    struct store_error *err)
{
	const struct ddb_condition *c = ctx;
	return locktable_put_lock(src->table, c->state, m->json, m->json_len, c->old, c->old_len,
	                          err);
}

static int ddb_holds_ours(const struct lock_source *src, struct lock_made *m)
{
	char *info = NULL;
	size_t len = 0;
	int rc = lock_fetch_ddb(src, m->key, &info, &len);
	if (rc == 0)
		rc = len == m->json_len && memcmp(info, m->json, len) == 0 ? 1 : -EEXIST;
	free(info);
	return rc == -ENOENT ? 0 : rc;
}

/* Writes m->json to the table: created (old NULL) or replacing Info old. */
static int put_ddb(const struct lock_source *src, struct lock_made *m, const char *old,
                   size_t old_len, char *why, size_t why_len)
{
	struct ddb_condition c = { .state = lock_state_key(m->key), .old = old, .old_len = old_len };
	if (!c.state)
		return -ENOMEM;
	struct backend_write b = { .name = "the DynamoDB lock", .replacing = old != NULL,
	                           .send = ddb_send, .holds_ours = ddb_holds_ours, .ctx = &c };
	int rc = write_checked(src, m, &b, why, why_len);
	free((char *)c.state);
	return rc;
}

/* ---- the lock ---- */

void lock_made_clear(struct lock_made *m)
{
	free(m->key);
	free(m->id);
	free(m->who);
	free(m->created);
	free(m->json);
	memset(m, 0, sizeof(*m));
}

int lock_made_undo(const struct lock_source *src, struct lock_made *m)
{
	int first = 0;
	struct store_error err;
	if (m->ddb_held) {
		int rc = lock_delete_ddb(src, m->key, m->json, m->json_len, &err);
		m->ddb_held = rc < 0 && rc != -ECANCELED;
		first = rc == -ECANCELED ? 0 : rc;
	}
	if (m->s3_held) {
		int rc = lock_delete_s3(src, m->key, m->etag, &err);
		m->s3_held = rc < 0 && rc != -ECANCELED && rc != -ENOENT;
		if (!first && m->s3_held)
			first = rc;
	}
	if (first)
		log_error("the lock %s made on %s could not be removed again: %s", m->id, m->key,
		          strerror(-first));
	return first;
}

int lock_make(const struct lock_source *src, const char *key, const char *who,
              const char *info, size_t len, struct lock_made *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof(*out));
	snprintf(why, why_len, "%s", "");
	out->key = strdup(key);
	out->id = new_uuid();
	out->who = strdup(who);
	out->created = now_rfc3339_nano();
	int rc = out->key && out->id && out->who && out->created ? build_json(src, out, info, len)
	                                                       : -ENOMEM;
	if (rc == 0 && (rc = put_s3(src, out, NULL, why, why_len)) == 0)
		out->s3_held = true;
	if (rc == 0 && src->table && (rc = put_ddb(src, out, NULL, 0, why, why_len)) == 0)
		out->ddb_held = true;
	if (rc == -EEXIST && !*why)
		snprintf(why, why_len, "%s already holds a lock", out->s3_held ? "the DynamoDB table"
		                                                               : "S3");
	if (rc < 0) {
		lock_made_undo(src, out);
		lock_made_clear(out);
	}
	return rc;
}

int lock_made_set_info(const struct lock_source *src, struct lock_made *m, const char *info,
                       size_t len, char *why, size_t why_len)
{
	snprintf(why, why_len, "%s", "");
	char *old = m->json;
	size_t old_len = m->json_len;
	char old_etag[STORE_ETAG_MAX];
	memcpy(old_etag, m->etag, sizeof(old_etag));
	m->json = NULL;
	int rc = build_json(src, m, info, len);
	if (rc < 0) {
		m->json = old;
		m->json_len = old_len;
		return rc;
	}
	if (m->s3_held && (rc = put_s3(src, m, old_etag, why, why_len)) == -ECANCELED)
		m->s3_held = false;
	if (rc == 0 && m->ddb_held && (rc = put_ddb(src, m, old, old_len, why, why_len)) == -ECANCELED)
		m->ddb_held = false;
	free(old);
	if (rc == -ECANCELED || rc == -ENOENT) {
		snprintf(why, why_len, "the lock is no longer the one made here: it changed hands");
		return -EBUSY;
	}
	return rc;
}

/* ---- the text written ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The length of the UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	uint32_t cp = len == 2 ? (uint32_t)(s[0] & 0x1f) : len == 3 ? (uint32_t)(s[0] & 0x0f)
	                                                            : (uint32_t)(s[0] & 0x07);
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
	bool bad = overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff);
	return bad ? 0 : len;
}

int lockmake_info_check(const char *text, size_t text_len, const char **start, size_t *len)
{
	size_t a = 0, b = text_len;
	while (a < b && is_space(text[a]))
		a++;
	while (b > a && is_space(text[b - 1]))
		b--;
	*start = text + a;
	*len = b - a;
	if (*len > LOCKMAKE_INFO_MAX)
		return -EFBIG;
	const unsigned char *s = (const unsigned char *)*start;
	for (size_t i = 0; i < *len;) {
		if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n')
			return -EILSEQ;
		if (s[i] == 0x7f)
			return -EILSEQ;
		size_t n = utf8_len(s + i, *len - i);
		if (n == 0)
			return -EILSEQ;
		i += n;
	}
	return 0;
}
