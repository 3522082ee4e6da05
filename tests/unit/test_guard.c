/* Unit tests for fs/guard.c: `rm` of a lock file, the guarded force-unlock. Each test
 * shows a lock through the tree (a lookup, as `ls` or `stat` would), changes the store
 * the way the outcome needs, removes the lock file, then checks the errno, what is left
 * in the bucket and the table, and the one audit record the attempt wrote. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fs/audit.h"
#include "fs/guard.h"
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/locktable.h"
#include "fs/tree.h"
#include "check.h"
#include "memstore.h"
#include "guardfx.h"

#define BUCKET      FX_BUCKET
#define STATE_KEY   FX_STATE
#define LOCK_KEY    STATE_KEY ".tflock"
#define LOCK_NAME   "terraform.tfstate.tflock"
#define ITEM_ID     BUCKET "/" STATE_KEY            /* the DynamoDB lock item's LockID */
#define DIGEST_ID   ITEM_ID "-md5"
#define OWNER       FX_OWNER                        /* who mounted */
#define OTHER       2000u                           /* someone else */
#define UNLOCKERS   3000u                           /* -o unlock_gid */

#define LOCK_JSON(id, who, created) \
	"{\"ID\":\"" id "\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\",\"Who\":\"" who "\"," \
	"\"Version\":\"1.11.4\",\"Created\":\"" created "\",\"Path\":\"" ITEM_ID "\"}"
/* Old enough for any min-age policy. */
#define ID_A   "ef9596cf-ea99-b165-44da-0a3562ab2850"
#define ID_B   "0b6b5a1e-5c1f-4f0c-9d7e-3f2a1c9e8d77"
#define LOCK_A LOCK_JSON(ID_A, "runner@ci-42", "2026-11-28T09:38:48.157714841Z")
/* Another holder, as a new apply would take it. */
#define LOCK_B LOCK_JSON(ID_B, "alice@laptop", "2026-11-28T11:02:03.000000001Z")
/* The same holder and ID, other bytes (another Info): another ETag. */
#define LOCK_A2 \
	"{\"ID\":\"" ID_A "\",\"Operation\":\"OperationTypeApply\",\"Info\":\"again\"," \
	"\"Who\":\"runner@ci-42\",\"Version\":\"1.11.4\",\"Created\":\"2026-11-28T09:38:48.157714841Z\"," \
	"\"Path\":\"" ITEM_ID "\"}"

/* ---- the fixture (guardfx.h), with the locks each test starts from ---- */

struct start {
	bool with_table;
	const char *s3, *ddb;   /* the lock each backend holds (NULL: none) */
};

static void fill(struct fx *f, const void *ctx)
{
	const struct start *st = ctx;
	memstore_put(f->ms, "team/other/terraform.tfstate", "{\"version\":4}", 0);
	if (st->s3)
		memstore_put(f->ms, LOCK_KEY, st->s3, 0);
	if (st->with_table) {
		memstore_put_digest(f->ms, DIGEST_ID, "0123456789abcdef0123456789abcdef");
		if (st->ddb)
			memstore_put_lock(f->ms, ITEM_ID, st->ddb);
	}
}

/* s3, ddb: the lock each backend holds (NULL: none). with_table: -o dynamodb_table. */
static void fx_init(struct fx *f, bool with_table, const char *s3, const char *ddb)
{
	struct start st = { .with_table = with_table, .s3 = s3, .ddb = ddb };
	fx_setup(f, with_table, fill, &st);
}

/* Shows the lock file, as `ls -l` or `stat` does: a lookup. Returns its errno. */
static int fx_show(struct fx *f)
{
	struct tree_attr a;
	int rc = tree_lookup(f->tree, f->dir, LOCK_NAME, &a);
	if (rc == 0) {
		CHECK(a.is_lock);
		f->lock_ino = a.ino;
	}
	return rc;
}

/* The current text of the lock file (a `cat`), malloc'd, or NULL when it is not there. */
static char *fx_cat(struct fx *f)
{
	struct tree_attr a;
	char *text = NULL;
	size_t len = 0;
	if (tree_lookup(f->tree, f->dir, LOCK_NAME, &a) < 0 ||
	    tree_lock_read(f->tree, a.ino, &text, &len) < 0)
		return NULL;
	return text;
}

static int rm_as(struct fx *f, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
	struct guard_caller c = { .uid = uid, .gid = gid, .pid = getpid(), .groups = groups,
	                          .ngroups = ngroups };
	return guard_unlink(&f->g, f->dir, LOCK_NAME, &c);
}

/* `rm` by the mount's owner. */
static int fx_rm(struct fx *f)
{
	return rm_as(f, OWNER, OWNER, NULL, 0);
}

/* ---- the audit record ---- */

static const char *field(json_object *o, const char *name)
{
	json_object *v;
	return o && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

/* Checks that the attempt wrote exactly one record, and what it says. reasons: parts the
 * reason must contain, in this order, NULL-terminated. */
#define CHECK_RECORD(f, result, err, backend, lock_id, ...) \
	check_record(__LINE__, f, result, err, backend, lock_id, (const char *[]){ __VA_ARGS__, NULL })

static void check_record(int line, struct fx *f, const char *result, const char *err,
                         const char *backend, const char *lock_id, const char **reasons)
{
	int failed_before = check_failed;
	FILE *in = fopen(f->audit_path, "r");
	CHECK(in != NULL);
	char *buf = NULL, *last = NULL;
	size_t cap = 0, records = 0;
	while (in && getline(&buf, &cap, in) > 0) {
		records++;
		free(last);
		last = strdup(buf);
	}
	if (in)
		fclose(in);
	free(buf);
	CHECK_INT(records, 1);
	json_object *o = last ? json_tokener_parse(last) : NULL;
	CHECK(o != NULL);
	CHECK_STR(field(o, "result"), result);
	for (int i = 0; i < GUARD_RESULTS; i++)     /* counted once, under its result */
		CHECK_INT(atomic_load(&f->g.counts.by_result[i]), strcmp(guard_result_names[i], result) == 0);
	CHECK_STR(field(o, "errno"), err);
	CHECK_STR(field(o, "backend"), backend);
	CHECK_STR(field(o, "lock_id"), lock_id);
	CHECK_STR(field(o, "key"), LOCK_KEY);
	CHECK_STR(field(o, "path"), "team/app/" LOCK_NAME);
	CHECK_STR(field(o, "state"), "team/app/terraform.tfstate");
	const char *reason = field(o, "reason"), *at = reason;
	for (const char **r = reasons; *r; r++) {
		const char *p = at ? strstr(at, *r) : NULL;
		if (!p)
			fprintf(stderr, "  the reason lacks (after what came before it): %s\n", *r);
		CHECK(p != NULL);
		at = p ? p + strlen(*r) : at;
	}
	if (check_failed > failed_before)
		fprintf(stderr, "  ^ in the audit record checked at line %d:\n  %s", line,
		        last ? last : "(none)\n");
	json_object_put(o);
	free(last);
}

/* ---- memstore hooks: the store changes just before a call ---- */

static void put_lockfile(struct memstore *ms, void *json)
{
	memstore_put(ms, LOCK_KEY, json, 0);
}

static void put_item(struct memstore *ms, void *json)
{
	memstore_put_lock(ms, ITEM_ID, json);
}

/* Notes whether the DynamoDB lock item is still there when the S3 delete is sent. */
static void note_item(struct memstore *ms, void *held)
{
	*(int *)held = memstore_has_item(ms, ITEM_ID);
}

/* ---- unlocked ---- */

static void test_unlock_s3_lockfile(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK(memstore_has(f.ms, STATE_KEY));          /* the state itself is never touched */
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 1);
	CHECK(!tree_holds(f.tree, f.lock_ino));        /* the file is gone from the mount */
	CHECK_RECORD(&f, "unlocked", "", "s3", ID_A, "S3 lockfile deleted with If-Match");
	fx_free(&f);
}

static void test_unlock_dynamodb_lock(void)
{
	struct fx f;
	fx_init(&f, true, NULL, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has_item(f.ms, DIGEST_ID));     /* the state's digest stays */
	CHECK(memstore_has(f.ms, STATE_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 1);
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 0);
	CHECK(!tree_holds(f.tree, f.lock_ino));
	CHECK_RECORD(&f, "unlocked", "", "dynamodb", ID_A,
	             "DynamoDB lock deleted on condition Info = the Info shown");
	fx_free(&f);
}

/* Both backends: the item first, then the lockfile (which keeps runners that take both
 * out until the end). */
static void test_unlock_both_backends(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	int item_at_s3_delete = -1;
	memstore_before(f.ms, MS_DELETE, note_item, &item_at_s3_delete);
	CHECK_INT(fx_rm(&f), 0);
	CHECK_INT(item_at_s3_delete, 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK(!memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has_item(f.ms, DIGEST_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 1);
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 1);
	CHECK_RECORD(&f, "unlocked", "", "s3 dynamodb", ID_A,
	             "DynamoDB lock deleted", "S3 lockfile deleted with If-Match");
	fx_free(&f);
}

/* ---- changed hands ---- */

/* The lock shown was replaced before rm: a new holder (new ID and ETag), the same ID with
 * other bytes (new ETag), a new DynamoDB Info. Nothing is deleted. */
static void test_changed_since_shown(void)
{
	static const struct {
		bool table;
		const char *s3, *ddb;           /* shown */
		const char *s3_now, *ddb_now;   /* at rm (NULL: as shown) */
		const char *backend, *what;
	} cases[] = {
		{ false, LOCK_A, NULL, LOCK_B, NULL, "s3", "now the S3 lock has ID " ID_B " held by alice@laptop" },
		{ false, LOCK_A, NULL, LOCK_A2, NULL, "s3", "now the S3 lock has ID " ID_A },
		{ true, NULL, LOCK_A, NULL, LOCK_B, "dynamodb", "now the DynamoDB lock has ID " ID_B },
		{ true, NULL, LOCK_A, NULL, LOCK_A2, "dynamodb", "now the DynamoDB lock has ID " ID_A },
		{ true, LOCK_A, LOCK_A, NULL, LOCK_B, "s3 dynamodb", "now the DynamoDB lock has ID " ID_B },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct fx f;
		fx_init(&f, cases[i].table, cases[i].s3, cases[i].ddb);
		CHECK_INT(fx_show(&f), 0);
		if (cases[i].s3_now)
			memstore_put(f.ms, LOCK_KEY, cases[i].s3_now, 0);
		if (cases[i].ddb_now)
			memstore_put_lock(f.ms, ITEM_ID, cases[i].ddb_now);
		CHECK_INT(fx_rm(&f), -EBUSY);
		CHECK_INT(memstore_calls(f.ms, MS_DELETE), 0);
		CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 0);
		CHECK(!cases[i].s3 || memstore_has(f.ms, LOCK_KEY));
		CHECK(!cases[i].ddb || memstore_has_item(f.ms, ITEM_ID));
		CHECK_RECORD(&f, "refused", "EBUSY", cases[i].backend, ID_A,
		             "the lock changed hands since it was shown", cases[i].what);
		fx_free(&f);
	}
}

/* After an EBUSY, reading the file shows the new holder at once, not the old one for the
 * rest of lock_ttl (60 s here): "read the lock file again" must work. An rm that follows
 * without that read is refused again; after it, it removes the lock then shown. */
static void test_after_ebusy_the_file_shows_the_new_holder(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_put(f.ms, LOCK_KEY, LOCK_B, 0);
	CHECK_INT(fx_rm(&f), -EBUSY);
	CHECK_INT(fx_rm(&f), -EBUSY);               /* not read since: still refused */
	char *text = fx_cat(&f);
	CHECK(text && strstr(text, "ID:        " ID_B "\n"));
	free(text);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	fx_free(&f);
}

/* The S3 lockfile is replaced between the guard's re-read and its delete: If-Match fails. */
static void test_changed_before_s3_delete(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_before(f.ms, MS_DELETE, put_lockfile, LOCK_B);
	CHECK_INT(fx_rm(&f), -EBUSY);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	char etag_b[130];
	memstore_put(f.ms, "scratch", LOCK_B, 0);
	snprintf(etag_b, sizeof(etag_b), "%s", memstore_etag(f.ms, "scratch"));
	CHECK_STR(memstore_etag(f.ms, LOCK_KEY), etag_b);   /* the new holder's lock, intact */
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 1);
	CHECK_RECORD(&f, "refused", "EBUSY", "s3", ID_A,
	             "S3 lockfile changed between the re-read and the delete (412 to If-Match");
	fx_free(&f);
}

/* The DynamoDB item is replaced between the re-read and its delete: the condition fails,
 * and the S3 lockfile (its turn comes after) is left in place. */
static void test_changed_before_ddb_delete(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_before(f.ms, MS_DELETEITEM, put_item, LOCK_B);
	CHECK_INT(fx_rm(&f), -EBUSY);
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 1);
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 0);
	CHECK_RECORD(&f, "refused", "EBUSY", "s3 dynamodb", ID_A,
	             "the condition Info = the Info shown failed", "another lock now",
	             "S3 lockfile left in place");
	fx_free(&f);
}

/* A lock appears in the backend where none was shown: removing only the one shown would
 * leave the state half locked. */
static void test_lock_where_none_was_shown(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_put_lock(f.ms, ITEM_ID, LOCK_A);
	CHECK_INT(fx_rm(&f), -EBUSY);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE) + memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK_RECORD(&f, "refused", "EBUSY", "s3", ID_A, "the DynamoDB lock (none was shown there)");
	fx_free(&f);

	fx_init(&f, true, NULL, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_put(f.ms, LOCK_KEY, LOCK_A, 0);
	CHECK_INT(fx_rm(&f), -EBUSY);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE) + memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK_RECORD(&f, "refused", "EBUSY", "dynamodb", ID_A, "the S3 lock (none was shown there)");
	fx_free(&f);
}

/* ---- gone ---- */

static void test_already_gone(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_remove(f.ms, LOCK_KEY);
	memstore_remove_item(f.ms, ITEM_ID);
	CHECK_INT(fx_rm(&f), -ENOENT);
	CHECK_INT(memstore_calls(f.ms, MS_DELETE) + memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK(memstore_has_item(f.ms, DIGEST_ID));
	CHECK(!tree_holds(f.tree, f.lock_ino));
	CHECK_RECORD(&f, "refused", "ENOENT", "s3 dynamodb", ID_A, "the lock is already gone");
	fx_free(&f);
}

/* ---- partial ---- */

/* The DynamoDB item is deleted, then S3 refuses the lockfile's delete: the errno is S3's,
 * and the lock file shows what is left (the lockfile alone), which a second rm removes. */
static void test_partial(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETE, 1, -EACCES, 403, false);
	CHECK_INT(fx_rm(&f), -EACCES);
	CHECK(!memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 1);
	CHECK_RECORD(&f, "partial", "EACCES", "s3 dynamodb", ID_A, "DynamoDB lock deleted",
	             "S3 lockfile: DeleteObject failed", "403");
	char *text = fx_cat(&f);
	CHECK(text && strstr(text, "ID:        " ID_A "\n"));
	CHECK(text && strstr(text, "Backend:   s3\n"));
	free(text);
	/* What is shown now is the lockfile alone: rm removes it. */
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	fx_free(&f);
}

/* ---- unsure answers: read again ---- */

/* No answer to the S3 delete, which happened: read again, gone, so this attempt removed it. */
static void test_s3_no_answer_applied(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETE, 1, -EIO, 0, true);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 1);
	CHECK_RECORD(&f, "unlocked", "", "s3", ID_A, "S3 lockfile: no answer", "read again, it is gone");
	fx_free(&f);
}

/* No answer, and the delete did not happen: the lock shown is still there, so the
 * conditional delete is sent again. */
static void test_s3_no_answer_not_applied(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETE, 1, -EIO, 0, false);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 2);
	CHECK_RECORD(&f, "unlocked", "", "s3", ID_A, "read again, it is still there",
	             "S3 lockfile deleted with If-Match");
	fx_free(&f);
}

/* 5xx after 5xx while the lock stays: GUARD_DELETE_TRIES deletes, then EIO. */
static void test_s3_server_errors(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETE, 5, -EIO, 503, false);
	CHECK_INT(fx_rm(&f), -EIO);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 3);
	CHECK_RECORD(&f, "failed", "EIO", "s3", ID_A, "HTTP 503", "still there",
	             "still there after 3 conditional deletes: giving up");
	/* Still shown: the lock is there. */
	CHECK(tree_holds(f.tree, f.lock_ino));
	fx_free(&f);
}

static void test_ddb_no_answer_applied(void)
{
	struct fx f;
	fx_init(&f, true, NULL, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETEITEM, 1, -EIO, 0, true);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has_item(f.ms, DIGEST_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 1);
	CHECK_RECORD(&f, "unlocked", "", "dynamodb", ID_A, "DynamoDB lock: no answer",
	             "read again, it is gone");
	fx_free(&f);
}

static void test_ddb_no_answer_not_applied(void)
{
	struct fx f;
	fx_init(&f, true, NULL, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETEITEM, 1, -EIO, 0, false);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 2);
	CHECK_RECORD(&f, "unlocked", "", "dynamodb", ID_A, "read again, it is still there",
	             "DynamoDB lock deleted on condition");
	fx_free(&f);
}

/* DynamoDB answers 5xx while the item stays: EIO, and the S3 lockfile (after it) is kept. */
static void test_ddb_server_errors(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_DELETEITEM, 5, -EIO, 500, false);
	CHECK_INT(fx_rm(&f), -EIO);
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 3);
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 0);
	CHECK_RECORD(&f, "failed", "EIO", "s3 dynamodb", ID_A, "HTTP 500",
	             "still there after 3 conditional deletes: giving up", "S3 lockfile left in place");
	fx_free(&f);
}

/* ---- policies: refused before anything is read or deleted ---- */

static void test_unlock_off(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	f.cfg.unlock.off = true;
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), -EROFS);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE) + memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK(tree_holds(f.tree, f.lock_ino));
	CHECK_RECORD(&f, "refused", "EROFS", "s3 dynamodb", ID_A, "unlocking is turned off");
	fx_free(&f);
}

/* Only the owner may unlock, whatever the modes let others see. */
static void test_not_the_owner(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	CHECK_INT(fx_show(&f), 0);
	gid_t groups[] = { UNLOCKERS };     /* no unlock_gid: a group is no help */
	CHECK_INT(rm_as(&f, OTHER, OTHER, groups, 1), -EPERM);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE), 0);
	CHECK_RECORD(&f, "refused", "EPERM", "s3", ID_A, "only the mount's owner (uid 1000) may unlock");
	fx_free(&f);
}

/* With -o unlock_gid: a member (by a supplementary group, or by the primary one) may, a
 * non-member may not. */
static void test_unlock_gid(void)
{
	struct fx f;
	fx_init(&f, false, LOCK_A, NULL);
	f.cfg.unlock.has_unlock_gid = true;
	f.cfg.unlock.unlock_gid = UNLOCKERS;
	CHECK_INT(fx_show(&f), 0);
	gid_t others[] = { 10, 20 };
	CHECK_INT(rm_as(&f, OTHER, OTHER, others, 2), -EPERM);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK_RECORD(&f, "refused", "EPERM", "s3", ID_A, "group 3000 (-o unlock_gid) may unlock");
	fx_free(&f);

	fx_init(&f, false, LOCK_A, NULL);
	f.cfg.unlock.has_unlock_gid = true;
	f.cfg.unlock.unlock_gid = UNLOCKERS;
	CHECK_INT(fx_show(&f), 0);
	gid_t member[] = { 10, UNLOCKERS, 20 };
	CHECK_INT(rm_as(&f, OTHER, OTHER, member, 3), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK_RECORD(&f, "unlocked", "", "s3", ID_A, "S3 lockfile deleted");
	fx_free(&f);

	fx_init(&f, false, LOCK_A, NULL);
	f.cfg.unlock.has_unlock_gid = true;
	f.cfg.unlock.unlock_gid = UNLOCKERS;
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(rm_as(&f, OTHER, UNLOCKERS, NULL, 0), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	fx_free(&f);
}

/* Created in RFC 3339, seconds from now. */
static void created_in(long seconds, char out[32])
{
	time_t when = time(NULL) + seconds;
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000000001Z", &tm);
}

static char *lock_created(const char *created)
{
	char *json = NULL;
	if (asprintf(&json, "{\"ID\":\"%s\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\","
	             "\"Who\":\"runner@ci-42\",\"Version\":\"1.11.4\",\"Created\":\"%s\","
	             "\"Path\":\"%s\"}", ID_A, created, ITEM_ID) < 0)
		abort();
	return json;
}

/* -o unlock_min_age=15m: a lock taken a minute ago is refused; one taken an hour ago
 * (and the older fixture lock) is not. */
static void test_min_age(void)
{
	char created[32];
	created_in(-60, created);
	char *young = lock_created(created);
	struct fx f;
	fx_init(&f, true, NULL, young);
	f.cfg.unlock.min_age_s = 900;
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), -EPERM);
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK_RECORD(&f, "refused", "EPERM", "dynamodb", ID_A,
	             "younger than unlock_min_age (900 s)");
	fx_free(&f);
	free(young);

	created_in(-3600, created);
	char *old = lock_created(created);
	fx_init(&f, false, old, NULL);
	f.cfg.unlock.min_age_s = 900;
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	fx_free(&f);
	free(old);
}

/* ---- the table cannot be read during rm ---- */

/* A DynamoDB lock was shown (with the S3 lockfile) and the table cannot be read again:
 * nothing is deleted, the S3 lockfile neither; the attempt failed. (The DynamoDB lock
 * alone: bug_ddb_lock_table_unreadable.) */
static void test_table_unreadable(void)
{
	struct fx f;
	fx_init(&f, true, LOCK_A, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_GETITEM, 5, -EIO, 500, false);
	memstore_fail(f.ms, MS_SCAN, 5, -EIO, 500, false);
	CHECK_INT(fx_rm(&f), -EIO);
	CHECK(memstore_has(f.ms, LOCK_KEY));
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETE) + memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK_RECORD(&f, "failed", "EIO", "s3 dynamodb", ID_A, "could not read the lock again");
	fx_free(&f);
}

/* A DynamoDB lock shown alone, and the table cannot be read during rm: failed (EIO), the
 * file kept, as when the S3 lockfile is there too. Before, lock_fetch answered -ENOENT when
 * S3 held nothing and the table failed, so the guard said "the lock is already gone" and
 * dropped the file while the lock was still in the table. */
static void test_ddb_lock_table_unreadable(void)
{
	struct fx f;
	fx_init(&f, true, NULL, LOCK_A);
	CHECK_INT(fx_show(&f), 0);
	memstore_fail(f.ms, MS_GETITEM, 5, -EIO, 500, false);
	memstore_fail(f.ms, MS_SCAN, 5, -EIO, 500, false);
	CHECK_INT(fx_rm(&f), -EIO);
	CHECK(memstore_has_item(f.ms, ITEM_ID));
	CHECK_INT(memstore_calls(f.ms, MS_DELETEITEM), 0);
	CHECK(tree_holds(f.tree, f.lock_ino));
	CHECK_RECORD(&f, "failed", "EIO", "dynamodb", ID_A, "could not read the lock again");
	fx_free(&f);
}

/* Without -o unlock_min_age (the default, "none") no lock is refused for its age, not even
 * one whose Created is ahead of this host's clock (a runner whose clock is two minutes
 * fast). Before, it was refused EPERM: "the lock is -120 s old, younger than
 * unlock_min_age (0 s)". */
static void test_no_min_age_clock_ahead(void)
{
	char created[32];
	created_in(120, created);
	char *ahead = lock_created(created);
	struct fx f;
	fx_init(&f, false, ahead, NULL);
	CHECK_INT(fx_show(&f), 0);
	CHECK_INT(fx_rm(&f), 0);
	CHECK(!memstore_has(f.ms, LOCK_KEY));
	CHECK_RECORD(&f, "unlocked", "", "s3", ID_A, "S3 lockfile deleted");
	fx_free(&f);
	free(ahead);
}

int main(void)
{
	test_unlock_s3_lockfile();
	test_unlock_dynamodb_lock();
	test_unlock_both_backends();
	test_changed_since_shown();
	test_after_ebusy_the_file_shows_the_new_holder();
	test_changed_before_s3_delete();
	test_changed_before_ddb_delete();
	test_lock_where_none_was_shown();
	test_already_gone();
	test_partial();
	test_s3_no_answer_applied();
	test_s3_no_answer_not_applied();
	test_s3_server_errors();
	test_ddb_no_answer_applied();
	test_ddb_no_answer_not_applied();
	test_ddb_server_errors();
	test_unlock_off();
	test_not_the_owner();
	test_unlock_gid();
	test_min_age();
	test_table_unreadable();
	test_ddb_lock_table_unreadable();
	test_no_min_age_clock_ahead();
	return check_report("guard");
}
