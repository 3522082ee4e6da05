/* Know your store: whether it honours the conditional requests Terraform's S3 lockfile
 * and tfstatefs's guard rely on, found out by writing a few canary objects (and, with a
 * lock table, a canary item) and seeing what the store does with each condition.
 *
 * Canaries live below the mount prefix's ".tfstatefs/check/<random>/", which no mount
 * shows (keymap.h: the reserved directory), and are removed whatever happens; on a
 * versioned bucket what removal leaves (noncurrent versions, delete markers) is said. */
#ifndef TFS_STORE_CHECK_H
#define TFS_STORE_CHECK_H
#include <stdbool.h>
#include <stdio.h>
#include "store/store.h"
#include "store/table.h"

#define CHECK_PREFIX ".tfstatefs/check/"

enum check_verdict {
	CHECK_OK,           /* holds */
	CHECK_FAILED,       /* does not hold (the text says what that means) */
	CHECK_INFO,         /* neither: something to know (versioning) */
	CHECK_SKIPPED,      /* not asked (no lock table, no SSE-C key) */
};

/* One probe's outcome. */
struct check_result {
	const char *name;       /* for /.tfstatefs/status: "check_put_if_none_match"... */
	enum check_verdict verdict;
	bool required;          /* Terraform or the guard rely on it: a failure fails the check */
	char text[640];         /* what the store did and what it means, one line */
};

#define CHECK_MAX_RESULTS 14

struct store_check {
	struct check_result results[CHECK_MAX_RESULTS];
	size_t n;
	char prefix[128];       /* the canaries' prefix (with the mount prefix) */
	bool delete_if_match_ignored;   /* the guard's delete is not atomic on this store */
	bool table_probed;      /* the lock table was in the check */
	bool canaries_left;     /* some could not be deleted (a failure of the check) */
	char leftovers[1600];   /* what removing the canaries left behind, "" when nothing */
};

/* What to check: the store, and optionally the lock table, as a mount would use them. */
struct check_target {
	struct store *store;
	struct table *table;    /* NULL: no lock table */
	const char *bucket;     /* for the table's canary LockID */
	const char *prefix;     /* the mount prefix ("" or "teams/a/") */
	bool sse_c;             /* the store writes and reads with an SSE-C key */
};

/* Runs every probe. Returns 0 (the results say what held), or -ENOMEM. */
int store_check_run(const struct check_target *t, struct store_check *out);

/* Did everything Terraform and the guard rely on hold? */
bool store_check_passed(const struct store_check *c);

/* The report for a terminal: a line a result, then the canaries' fate. */
void store_check_print(const struct store_check *c, FILE *out);

/* The same as "name\tok: text" lines for /.tfstatefs/status (malloc'd), or NULL. */
char *store_check_status(const struct store_check *c);

/* The IAM permissions the check used, one line. */
const char *store_check_permissions(const struct store_check *c);
#endif
