/* Unit tests for fs/lock.c: one view of a state's S3 lockfile and DynamoDB lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/lock.h"
#include "check.h"

#define LOCK_A "{\"ID\":\"aaaa\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\",\"Who\":\"a@ci\"," \
               "\"Version\":\"1.11.4\",\"Created\":\"2026-11-28T09:38:48.157714841Z\",\"Path\":\"b/k\"}"
#define LOCK_B "{\"ID\":\"bbbb\",\"Operation\":\"OperationTypePlan\",\"Info\":\"\",\"Who\":\"b@ci\"," \
               "\"Version\":\"1.11.4\",\"Created\":\"2026-11-28T10:00:00Z\",\"Path\":\"b/k\"}"

/* A view from the given parts (NULL: that backend holds nothing). */
static struct lock_view *view(const char *s3, const char *ddb, int ddb_error)
{
	struct lock_view *v = calloc(1, sizeof(*v));
	if (s3) {
		CHECK_INT(lock_part_from_info(s3, strlen(s3), &v->s3), 0);
		strcpy(v->s3.etag, "\"e1\"");
		v->s3.mtime = 1000;
	}
	if (ddb)
		CHECK_INT(lock_part_from_info(ddb, strlen(ddb), &v->ddb), 0);
	v->ddb_error = ddb_error;
	CHECK_INT(lock_view_finish(v), 0);
	return v;
}

static const char *line(const struct lock_view *v, const char *name)
{
	static char buf[512];
	const char *p = strstr(v->text, name);
	if (!p)
		return NULL;
	size_t n = strcspn(p, "\n");
	snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
	return buf;
}

static void test_one_backend(void)
{
	struct lock_view *v = view(NULL, LOCK_A, 0);
	CHECK_STR(v->backend, "dynamodb");
	CHECK_STR(line(v, "Backend:"), "Backend:   dynamodb");
	CHECK_STR(line(v, "ID:"), "ID:        aaaa");
	CHECK(line(v, "Problem:") == NULL);
	CHECK_INT(v->mtime, 1795858728);  /* Created, for a lock without an object */
	CHECK(lock_primary_part(v) == &v->ddb);
	CHECK(!lock_ids_differ(v));
	lock_view_free(v);
	v = view(LOCK_A, NULL, 0);
	CHECK_STR(v->backend, "s3");
	CHECK_INT(v->mtime, 1000);
	lock_view_free(v);
}

static void test_both_backends(void)
{
	struct lock_view *v = view(LOCK_A, LOCK_A, 0);
	CHECK_STR(line(v, "Backend:"), "Backend:   s3 dynamodb");
	CHECK(line(v, "Problem:") == NULL);
	CHECK(lock_primary_part(v) == &v->s3);
	lock_view_free(v);
	v = view(LOCK_A, LOCK_B, 0);
	CHECK(lock_ids_differ(v));
	CHECK_STR(line(v, "ID:"), "ID:        aaaa");
	CHECK_STR(line(v, "Problem:"), "Problem:   the S3 lockfile and the DynamoDB lock disagree: "
	          "DynamoDB holds ID bbbb (Who b@ci, Created 2026-11-28T10:00:00Z)");
	lock_view_free(v);
}

static void test_problems_are_joined(void)
{
	struct lock_view *v = view("{\"ID\":1}", "not json", 0);
	const char *p = line(v, "Problem:");
	CHECK(p && strstr(p, "ID is a number"));
	CHECK(p && strstr(p, "; the DynamoDB lock: not JSON"));
	lock_view_free(v);
	v = view(LOCK_A, NULL, -EACCES);
	p = line(v, "Problem:");
	CHECK(p && strstr(p, "the DynamoDB table could not be read (Permission denied)"));
	lock_view_free(v);
}

static void test_state_key(void)
{
	char *k = lock_state_key("env:/dev/app/terraform.tfstate.tflock");
	CHECK_STR(k, "env:/dev/app/terraform.tfstate");
	free(k);
	CHECK(lock_state_key("app/terraform.tfstate") == NULL);
	CHECK(lock_state_key(".tflock") == NULL);
}

int main(void)
{
	test_one_backend();
	test_both_backends();
	test_problems_are_joined();
	test_state_key();
	return check_report("lock");
}
