/* Unit tests for fs/lockmake.c and fs/freeze.c: a lock made by creating its file (-o
 * lock_create) is Terraform's JSON in the S3 lockfile and the DynamoDB item, taken only
 * where none is, undone when the second backend refuses, its Info replaced by each write
 * only while it is still the one made; unclear answers are read back; the policy refuses;
 * every attempt is audited. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/freeze.h"
#include "fs/keymap.h"
#include "fs/lockmake.h"
#include "fs/locktable.h"
#include "check.h"
#include "guardfx.h"
#include "memstore.h"

#define BUCKET   FX_BUCKET
#define STATE    FX_STATE
#define LOCK     STATE ".tflock"
#define NAME     "terraform.tfstate.tflock"
#define ITEM     BUCKET "/" STATE
#define OWNER    FX_OWNER
#define FOREIGN  "{\"ID\":\"ffff\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\"," \
                 "\"Who\":\"ci@runner\",\"Version\":\"1.11.4\"," \
                 "\"Created\":\"2026-12-01T10:00:00Z\",\"Path\":\"" ITEM "\"}"

static void fx_init(struct fx *f, bool with_table)
{
	fx_setup(f, with_table, NULL, NULL);
	f->cfg.unlock.create = true;
}

static int create_as(struct fx *f, uid_t uid, struct freeze_writer **w)
{
	struct guard_caller c = { .uid = uid, .gid = uid, .pid = getpid() };
	struct tree_attr a;
	*w = NULL;
	int rc = freeze_create(&f->g, f->dir, NAME, &c, &a, w);
	if (rc == 0)
		CHECK(a.is_lock);
	return rc;
}

/* The lock object's bytes, or NULL. */
static char *object(struct fx *f)
{
	struct store_range r = { .key = LOCK };
	struct store_object_info info;
	struct store_error err;
	char *data = NULL;
	size_t n = 0;
	if (store_get(memstore_store(f->ms), &r, &data, &n, &info, &err) < 0)
		return NULL;
	char *s = strndup(data, n);
	free(data);
	return s;
}

/* The table's Info for the state, or NULL. */
static char *item(struct fx *f)
{
	struct table_item it = { 0 };
	struct store_error err;
	if (table_get(memstore_table(f->ms), ITEM, &it, &err) < 0)
		return NULL;
	char *s = it.info ? strndup(it.info, it.info_len) : NULL;
	table_item_free(&it);
	return s;
}

static const char *field(json_object *o, const char *name)
{
	json_object *v;
	return o && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

/* The last audit record's field name (malloc'd), and how many records there are. */
static char *audited(struct fx *f, const char *name, int *records)
{
	FILE *in = fopen(f->audit_path, "r");
	char *buf = NULL, *last = NULL;
	size_t cap = 0;
	*records = 0;
	while (in && getline(&buf, &cap, in) > 0) {
		(*records)++;
		free(last);
		last = strdup(buf);
	}
	if (in)
		fclose(in);
	free(buf);
	json_object *o = last ? json_tokener_parse(last) : NULL;
	const char *v = field(o, name);
	char *out = v ? strdup(v) : NULL;
	json_object_put(o);
	free(last);
	return out;
}

static void check_audit(struct fx *f, int records, const char *result, const char *err)
{
	int n;
	char *r = audited(f, "result", &n), *e = audited(f, "errno", &n);
	char *cmd = audited(f, "command", &n);
	CHECK_INT(n, records);
	CHECK_STR(r, result);
	CHECK_STR(e, err);
	CHECK_STR(cmd, "lock");
	free(r);
	free(e);
	free(cmd);
}

/* The lock made is Terraform's JSON, in both backends, shown by the tree at once. */
static void test_create_takes_both(void)
{
	struct fx f;
	fx_init(&f, true);
	struct freeze_writer *w;
	CHECK_INT(create_as(&f, OWNER, &w), 0);
	char *s3 = object(&f), *ddb = item(&f);
	CHECK(s3 && ddb && strcmp(s3, ddb) == 0);
	json_object *o = s3 ? json_tokener_parse(s3) : NULL;
	char *who = lockmake_who(OWNER);
	CHECK_STR(field(o, "Path"), ITEM);
	CHECK_STR(field(o, "Operation"), "tfstatefs freeze");
	CHECK_STR(field(o, "Info"), "");
	CHECK_STR(field(o, "Who"), who);
	CHECK(field(o, "ID") && strlen(field(o, "ID")) == 36 && field(o, "ID")[14] == '4');
	CHECK(field(o, "Created") && strlen(field(o, "Created")) == 30);
	CHECK(s3 && strncmp(s3, "{\"ID\":", 6) == 0);      /* Terraform's field order */
	char *text = NULL;
	size_t len = 0;
	CHECK_INT(tree_lock_read(f.tree, freeze_writer_ino(w), &text, &len), 0);
	CHECK(text && strstr(text, "Operation: tfstatefs freeze\n") && strstr(text, "s3 dynamodb"));
	check_audit(&f, 1, "locked", "");
	free(text);
	free(who);
	json_object_put(o);
	free(s3);
	free(ddb);
	freeze_close(w);
	fx_free(&f);
}

/* A lock in either backend: EEXIST, and nothing of the new one is left. */
static void test_create_refused_where_a_lock_is(void)
{
	struct fx f;
	fx_init(&f, true);
	memstore_put(f.ms, LOCK, FOREIGN, 0);
	char etag[STORE_ETAG_MAX];
	snprintf(etag, sizeof(etag), "%s", memstore_etag(f.ms, LOCK));
	struct freeze_writer *w;
	CHECK_INT(create_as(&f, OWNER, &w), -EEXIST);
	CHECK_STR(memstore_etag(f.ms, LOCK), etag);
	CHECK(!memstore_has_item(f.ms, ITEM));
	check_audit(&f, 1, "refused", "EEXIST");
	int n;
	char *key = audited(&f, "key", &n);
	CHECK_STR(key, LOCK);       /* the lock object tried, though none was made */
	free(key);
	fx_free(&f);

	fx_init(&f, true);          /* the table alone holds one: the lockfile is undone */
	memstore_put_lock(f.ms, ITEM, FOREIGN);
	CHECK_INT(create_as(&f, OWNER, &w), -EEXIST);
	CHECK(!memstore_has(f.ms, LOCK));
	char *ddb = item(&f);
	CHECK_STR(ddb, FOREIGN);
	free(ddb);
	check_audit(&f, 1, "refused", "EEXIST");
	fx_free(&f);
}

/* The open for writing of a lock file shown: never an overwrite; refused as a create is
 * (the policy first, then EEXIST), and audited with the lock that is there. */
static void test_open_of_a_lock_shown_is_refused(void)
{
	struct fx f;
	fx_init(&f, false);
	memstore_put(f.ms, LOCK, FOREIGN, 0);
	char etag[STORE_ETAG_MAX];
	snprintf(etag, sizeof(etag), "%s", memstore_etag(f.ms, LOCK));
	struct tree_attr a;
	CHECK_INT(tree_lookup(f.tree, f.dir, NAME, &a), 0);
	struct guard_caller owner = { .uid = OWNER, .gid = OWNER, .pid = getpid() };
	struct guard_caller other = { .uid = 4242, .gid = 4242, .pid = getpid() };
	CHECK_INT(freeze_open(&f.g, a.ino, &owner), -EEXIST);
	check_audit(&f, 1, "refused", "EEXIST");
	int n;
	char *id = audited(&f, "lock_id", &n), *key = audited(&f, "key", &n);
	CHECK_STR(id, "ffff");
	CHECK_STR(key, LOCK);
	free(id);
	free(key);
	CHECK_INT(freeze_open(&f.g, a.ino, &other), -EPERM);
	check_audit(&f, 2, "refused", "EPERM");
	f.cfg.unlock.off = true;
	CHECK_INT(freeze_open(&f.g, a.ino, &owner), -EROFS);
	check_audit(&f, 3, "refused", "EROFS");
	f.cfg.unlock.off = false;
	f.cfg.unlock.create = false;
	CHECK_INT(freeze_open(&f.g, a.ino, &owner), -EROFS);
	free(audited(&f, "result", &n));
	CHECK_INT(n, 3);
	CHECK_STR(memstore_etag(f.ms, LOCK), etag);
	CHECK_INT(memstore_calls(f.ms, MS_PUT), 0);
	fx_free(&f);
}

/* A lock made that cannot be read back to be shown fails the create: it is removed again
 * (a create that fails leaves nothing), and audited as failed after it was locked. */
static void test_create_not_shown_is_undone(void)
{
	struct fx f;
	fx_init(&f, true);
	memstore_fail(f.ms, MS_GET, 20, -EIO, 500, false);
	struct freeze_writer *w;
	CHECK_INT(create_as(&f, OWNER, &w), -EIO);
	CHECK(w == NULL);
	CHECK(!memstore_has(f.ms, LOCK));
	CHECK(!memstore_has_item(f.ms, ITEM));
	check_audit(&f, 2, "failed", "EIO");
	fx_free(&f);
}

/* Each write replaces the Info in both backends: the text so far, trimmed. */
static void test_writes_set_the_info(void)
{
	struct fx f;
	fx_init(&f, true);
	struct freeze_writer *w;
	CHECK_INT(create_as(&f, OWNER, &w), 0);
	CHECK_INT(freeze_write(w, "state surgery\n", 14, 0), 14);
	CHECK_INT(freeze_write(w, "ask alice (INC-4711) \xc3\xa9\n", 24, 14), 24);
	char *s3 = object(&f), *ddb = item(&f);
	json_object *o = s3 ? json_tokener_parse(s3) : NULL;
	CHECK_STR(field(o, "Info"), "state surgery\nask alice (INC-4711) \xc3\xa9");
	CHECK(s3 && ddb && strcmp(s3, ddb) == 0);
	CHECK_INT(freeze_write(w, "x", 1, 99), -EINVAL);   /* past the end */
	json_object_put(o);
	free(s3);
	free(ddb);
	freeze_close(w);
	fx_free(&f);
}

/* What the events log at path told: "event backend detail" a line. */
static char *told(const char *path)
{
	char *all = NULL, line[4096];
	size_t len = 0;
	FILE *out = open_memstream(&all, &len), *in = fopen(path, "r");
	while (in && out && fgets(line, sizeof(line), in)) {
		json_object *o = json_tokener_parse(line);
		fprintf(out, "%s %s %s\n", field(o, "event"), field(o, "backend"), field(o, "detail"));
		json_object_put(o);
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return all;
}

/* Text refused: the write fails and the lock made goes, in both backends; the readers of
 * events, told it locked, are told it unlocked, and why. */
static void test_refused_text_removes_the_lock(void)
{
	static const struct { const char *text; size_t len; int rc; } cases[] = {
		{ "\xff\xfe", 2, -EILSEQ }, { "bell\a", 5, -EILSEQ }, { NULL, 1100, -EFBIG },
	};
	char big[1100];
	memset(big, 'x', sizeof(big));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx f;
		fx_init(&f, true);
		char log[] = "/tmp/test_freeze_events.XXXXXX";
		int fd = mkstemp(log);
		if (fd >= 0)
			close(fd);
		struct events_config ec = { .locks = &f.locks, .map = &f.map, .interval = 1,
		                            .log_path = log };
		CHECK_INT(events_new(&ec, &f.g.events), 0);
		struct freeze_writer *w;
		CHECK_INT(create_as(&f, OWNER, &w), 0);
		const char *t = cases[i].text ? cases[i].text : big;
		CHECK_INT(freeze_write(w, t, cases[i].len, 0), cases[i].rc);
		CHECK(!memstore_has(f.ms, LOCK));
		CHECK(!memstore_has_item(f.ms, ITEM));
		uint64_t parent;
		const char *name;
		CHECK(freeze_writer_removed(w, &parent, &name));   /* the kernel is to forget it */
		CHECK(parent == f.dir && strcmp(name, NAME) == 0);
		CHECK(!freeze_writer_removed(w, &parent, &name));  /* once */
		CHECK_INT(freeze_write(w, "ok", 2, 0), -EBUSY);  /* nothing is this writer's now */
		const char *err = cases[i].rc == -EFBIG ? "EFBIG" : "EILSEQ";
		check_audit(&f, 2, "failed", err);
		events_free(f.g.events);
		char want[128], *got = told(log);
		snprintf(want, sizeof(want), "locked s3 dynamodb uid=%u\nunlocked s3 dynamodb uid=%u %s\n",
		         OWNER, OWNER, err);
		CHECK_STR(got, want);
		free(got);
		unlink(log);
		freeze_close(w);
		fx_free(&f);
	}
}

/* A lock that changed hands after it was made is never overwritten: EBUSY. */
static void test_changed_hands_is_ebusy(void)
{
	struct fx f;
	fx_init(&f, false);
	struct freeze_writer *w;
	CHECK_INT(create_as(&f, OWNER, &w), 0);
	memstore_put(f.ms, LOCK, FOREIGN, 0);         /* force-unlocked and taken by another */
	CHECK_INT(freeze_write(w, "mine", 4, 0), -EBUSY);
	char *s3 = object(&f);
	CHECK_STR(s3, FOREIGN);
	free(s3);
	check_audit(&f, 2, "failed", "EBUSY");
	freeze_close(w);
	fx_free(&f);
}

/* No answer to the create: read back, it is ours (taken) or nothing (sent again). */
static void test_unclear_create_is_read_back(void)
{
	for (int applied = 0; applied < 2; applied++) {
		struct fx f;
		fx_init(&f, true);
		memstore_fail(f.ms, MS_PUT, 1, -EIO, 0, applied);
		memstore_fail(f.ms, MS_PUTITEM, 1, -EIO, 0, applied);
		struct freeze_writer *w;
		CHECK_INT(create_as(&f, OWNER, &w), 0);
		CHECK_INT(memstore_calls(f.ms, MS_PUT), applied ? 1 : 2);
		CHECK_INT(memstore_calls(f.ms, MS_PUTITEM), applied ? 1 : 2);
		char *s3 = object(&f), *ddb = item(&f);
		CHECK(s3 && ddb && strcmp(s3, ddb) == 0);
		free(s3);
		free(ddb);
		freeze_close(w);
		fx_free(&f);
	}
}

/* The policy of unlocking: off (EROFS), not the owner (EPERM), each audited; without
 * lock_create nothing is tried or audited. */
static void test_policy(void)
{
	struct fx f;
	struct freeze_writer *w;
	fx_init(&f, false);
	f.cfg.unlock.off = true;
	CHECK_INT(create_as(&f, OWNER, &w), -EROFS);
	check_audit(&f, 1, "refused", "EROFS");
	f.cfg.unlock.off = false;
	CHECK_INT(create_as(&f, 4242, &w), -EPERM);
	check_audit(&f, 2, "refused", "EPERM");
	f.cfg.unlock.create = false;
	CHECK_INT(create_as(&f, OWNER, &w), -EROFS);
	int n;
	free(audited(&f, "result", &n));
	CHECK_INT(n, 2);
	CHECK(!memstore_has(f.ms, LOCK));
	CHECK_INT(memstore_calls(f.ms, MS_PUT), 0);
	fx_free(&f);
}

static void test_info_check(void)
{
	const char *start;
	size_t len;
	CHECK_INT(lockmake_info_check("  hi there \n", 12, &start, &len), 0);
	CHECK_INT(len, 8);
	CHECK(strncmp(start, "hi there", 8) == 0);
	CHECK_INT(lockmake_info_check("\n\n", 2, &start, &len), 0);
	CHECK_INT(len, 0);
	CHECK_INT(lockmake_info_check("a\tb\nc", 5, &start, &len), 0);
	const char *utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92";
	CHECK_INT(lockmake_info_check(utf8, strlen(utf8), &start, &len), 0);
	static const char *const bad[] = { "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	                                   "\xc3", "a\x01", "del\x7f" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(lockmake_info_check(bad[i], strlen(bad[i]), &start, &len), -EILSEQ);
	char big[LOCKMAKE_INFO_MAX + 3];
	memset(big, 'x', sizeof(big));
	big[0] = big[sizeof(big) - 1] = ' ';
	CHECK_INT(lockmake_info_check(big, sizeof(big), &start, &len), -EFBIG);
	CHECK_INT(lockmake_info_check(big + 1, LOCKMAKE_INFO_MAX, &start, &len), 0);
}

int main(void)
{
	test_create_takes_both();
	test_create_refused_where_a_lock_is();
	test_open_of_a_lock_shown_is_refused();
	test_create_not_shown_is_undone();
	test_writes_set_the_info();
	test_refused_text_removes_the_lock();
	test_changed_hands_is_ebusy();
	test_unclear_create_is_read_back();
	test_policy();
	test_info_check();
	return check_report("freeze");
}
