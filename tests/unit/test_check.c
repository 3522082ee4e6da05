/* Unit tests for store/check.c: what the store check says of stores that honour each
 * condition and of stores that ignore one, over the in-memory store and lock table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "store/check.h"
#include "check.h"
#include "memstore.h"

/* The result named name, or NULL. */
static const struct check_result *result(const struct store_check *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->results[i].name, name) == 0)
			return &c->results[i];
	return NULL;
}

static enum check_verdict verdict(const struct store_check *c, const char *name)
{
	const struct check_result *r = result(c, name);
	return r ? r->verdict : (enum check_verdict)-1;
}

/* Runs the check on ms (with its table when with_table) under prefix "teams/a/". */
static void run(struct memstore *ms, bool with_table, struct store_check *c)
{
	struct check_target t = { .store = memstore_store(ms), .bucket = "tfb",
	                          .table = with_table ? memstore_table(ms) : NULL,
	                          .prefix = "teams/a/" };
	CHECK_INT(store_check_run(&t, c), 0);
}

/* A store that honours every condition: every probe holds, the canaries are gone, and
 * they were under the reserved directory no mount shows. */
static void test_a_store_that_honours_all_passes(void)
{
	struct memstore *ms = memstore_new();
	memstore_put(ms, "teams/a/app/terraform.tfstate", "{}", 0);
	struct store_check c;
	run(ms, true, &c);
	const char *names[] = { "check_put_if_none_match", "check_put_if_match",
	                        "check_put_if_match_right",
	                        "check_delete_if_match", "check_delete_if_match_right",
	                        "check_ranged_get", "check_encoding_type_url",
	                        "check_dynamodb_put_if_absent", "check_dynamodb_delete_if_info" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		CHECK_INT(verdict(&c, names[i]), CHECK_OK);
	CHECK_INT(verdict(&c, "check_versioning"), CHECK_INFO);
	CHECK_INT(verdict(&c, "check_sse_c"), CHECK_SKIPPED);
	CHECK(store_check_passed(&c));
	CHECK(!c.delete_if_match_ignored);
	CHECK(strncmp(c.prefix, "teams/a/" CHECK_PREFIX, strlen("teams/a/" CHECK_PREFIX)) == 0);
	CHECK_STR(c.leftovers, "");
	CHECK_HAS(store_check_permissions(&c), "dynamodb:PutItem");
	CHECK(memstore_has(ms, "teams/a/app/terraform.tfstate"));
	CHECK_INT(memstore_calls(ms, MS_DELETEITEM) > 0, 1);
	char *status = store_check_status(&c);
	CHECK_HAS(status, "check_put_if_none_match\tok: PutObject If-None-Match");
	CHECK_HAS(status, "check_store\tpassed\n");
	free(status);
	memstore_free(ms);
}

/* Each ignored condition is the one failure, says what it means, and fails the check;
 * nothing is left behind whichever it is. */
static void test_each_ignored_condition_fails_the_check(void)
{
	static const struct {
		unsigned ignore;
		const char *name, *says;
	} cases[] = {
		{ MS_IGNORE_PUT_IF_NONE_MATCH, "check_put_if_none_match", "does NOT lock" },
		{ MS_IGNORE_PUT_IF_MATCH, "check_put_if_match", "could replace a lock" },
		{ MS_IGNORE_DELETE_IF_MATCH, "check_delete_if_match", "re-read is the only guard" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct memstore *ms = memstore_new();
		memstore_ignore(ms, cases[i].ignore);
		struct store_check c;
		run(ms, false, &c);
		size_t failed = 0;
		for (size_t j = 0; j < c.n; j++)
			failed += c.results[j].verdict == CHECK_FAILED;
		CHECK_INT(failed, 1);
		CHECK_INT(verdict(&c, cases[i].name), CHECK_FAILED);
		const struct check_result *r = result(&c, cases[i].name);
		CHECK_HAS(r ? r->text : NULL, cases[i].says);
		CHECK(!store_check_passed(&c));
		CHECK(c.delete_if_match_ignored == (cases[i].ignore == MS_IGNORE_DELETE_IF_MATCH));
		CHECK_STR(c.leftovers, "");
		CHECK_INT(verdict(&c, "check_delete_if_match_right"), CHECK_OK);
		memstore_free(ms);
	}
}

/* On a versioned bucket the canaries are deleted (gone from the listing), and the check
 * says which of their versions and delete markers remain, and what removes them. */
static void test_a_versioned_bucket_keeps_versions_and_says_so(void)
{
	struct memstore *ms = memstore_new();
	memstore_versioning(ms, STORE_VERSIONING_ENABLED);
	struct store_check c;
	run(ms, false, &c);
	CHECK(store_check_passed(&c));
	CHECK_HAS(result(&c, "check_versioning")->text, "enabled");
	CHECK_HAS(c.leftovers, "delete markers");
	CHECK_HAS(c.leftovers, "canary v1, ");          /* which: each key and version id */
	CHECK_HAS(c.leftovers, "(delete marker)");
	CHECK_HAS(c.leftovers, "s3:DeleteObjectVersion");
	memstore_free(ms);
}

/* A store that refuses the canary: one failure that names the permission; no probe runs
 * on a canary that is not there. */
static void test_a_refused_canary_says_which_permission(void)
{
	struct memstore *ms = memstore_new();
	memstore_fail(ms, MS_PUT, 1, -EACCES, 403, false);
	struct store_check c;
	run(ms, false, &c);
	CHECK_INT(verdict(&c, "check_canary"), CHECK_FAILED);
	CHECK_HAS(result(&c, "check_canary")->text, "s3:PutObject");
	CHECK_INT(verdict(&c, "check_delete_if_match"), (enum check_verdict)-1);
	CHECK(!store_check_passed(&c));
	CHECK(!strstr(store_check_permissions(&c), "dynamodb"));
	memstore_free(ms);

	ms = memstore_new();            /* a store that refuses the condition itself (501) */
	memstore_fail(ms, MS_PUT, 1, -EIO, 501, false);
	run(ms, false, &c);
	CHECK_HAS(result(&c, "check_canary")->text, "use_lockfile) makes: it cannot lock here");
	CHECK(!store_check_passed(&c));
	memstore_free(ms);
}

int main(void)
{
	test_a_store_that_honours_all_passes();
	test_each_ignored_condition_fails_the_check();
	test_a_versioned_bucket_keeps_versions_and_says_so();
	test_a_refused_canary_says_which_permission();
	return check_report("check");
}
