/* Unit tests for fs/reports.c: the table of /.tfstatefs/ files, and from a file to its row;
 * then what each file says, against the in-memory store and lock table (memstore.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/locktable.h"
#include "fs/reader.h"
#include "fs/reports.h"
#include "fs/tree.h"
#include "check.h"
#include "memstore.h"

/* Every row has its own name, a way to be built and a render function. */
static void test_every_row_is_whole(void)
{
	CHECK(reports_count > 0);
	for (size_t i = 0; i < reports_count; i++) {
		const struct report *row = &reports_table[i];
		CHECK(row->name && row->name[0] && !strchr(row->name, '/'));
		CHECK(row->render != NULL);
		CHECK_INT(row->build, REPORT_SNAPSHOT);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(reports_table[j].name, row->name) != 0);
	}
}

/* The files users and scripts know, in their order. */
static void test_names_and_order(void)
{
	static const char *const want[] = { "locks", "migration", "status", "stats" };
	CHECK_INT(reports_count, 4);
	for (size_t i = 0; i < reports_count && i < 4; i++)
		CHECK_STR(reports_table[i].name, want[i]);
}

/* The one directory a fresh tree has besides the root: the virtual one. */
static uint64_t virtual_dir(struct tree *t)
{
	struct tree_attr a;
	for (uint64_t ino = TREE_ROOT_INO + 1; ino < 64; ino++)
		if (tree_getattr(t, ino, &a) == 0 && a.is_dir)
			return ino;
	return 0;
}

/* Each file of the directory leads to the row of its own name. Its listing never asks S3. */
static void test_files_lead_to_their_rows(void)
{
	struct lock_source locks = { 0 };
	struct keymap map;
	struct tfs_config cfg = { .cache_ttl = 60, .lock_ttl = 5, .lock_list_ttl = 5 };
	struct tree *t = NULL;
	CHECK_INT(keymap_init(&map, NULL, NULL), 0);
	CHECK_INT(tree_new(&locks, &map, &cfg, &t), 0);
	CHECK_INT(reports_add_files(t, ".tfstatefs"), 0);
	struct tree_dir *d = NULL;
	CHECK_INT(tree_opendir(t, virtual_dir(t), &d), 0);
	size_t files = 0;
	for (size_t i = 0; d && i < d->count; i++) {
		const struct tree_dirent *e = &d->entries[i];
		if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
			continue;
		files++;
		CHECK(!e->attr.is_dir);
		CHECK(e->attr.virt >= 1 && e->attr.virt <= reports_count);
		if (e->attr.virt >= 1 && e->attr.virt <= reports_count)
			CHECK_STR(reports_table[e->attr.virt - 1].name, e->name);
	}
	CHECK_INT(files, reports_count);
	tree_dir_free(d);
	tree_free(t);
	keymap_free(&map);
}

/* The number a file carries picks its report; a number no row has is refused. */
static void test_render_by_virt(void)
{
	static const char status[] = "bucket\ttfstate\nprefix\t\n";
	struct lock_source locks = { 0 };   /* no table: status is the settings alone */
	struct tfs_config settings = { .status = status };
	struct reports_config cfg = { .locks = &locks, .cfg = &settings };
	struct reports *r = NULL;
	CHECK_INT(reports_new(&cfg, &r), 0);
	unsigned virt = 0;
	for (size_t i = 0; i < reports_count; i++)
		if (strcmp(reports_table[i].name, "status") == 0)
			virt = (unsigned)i + 1;
	char *text = NULL;
	size_t len = 0;
	CHECK_INT(reports_render(r, virt, &text, &len), 0);
	CHECK_STR(text, status);
	CHECK_INT(len, strlen(status));
	free(text);
	CHECK_INT(reports_render(r, 0, &text, &len), -EINVAL);
	CHECK(text == NULL && len == 0);
	CHECK_INT(reports_render(r, (unsigned)reports_count + 1, &text, &len), -EINVAL);
	CHECK(text == NULL && len == 0);
	reports_free(r);
}


/* ---- what each file says, against the in-memory bucket and lock table ---- */

#define BUCKET "tfstate"
#define SETTINGS "bucket\ttfstate\nprefix\t\nregion\tus-east-1\n"

/* A mount of a memstore: its bucket, its lock table when it has one, the tree and the
 * read budget the stats come from, and the reports. */
struct mount {
	struct memstore *ms;
	struct tfs_config cfg;
	struct keymap map;
	struct locktable *lt;
	struct lock_source locks;
	struct tree *tree;
	struct reader_budget *budget;
	struct reports *r;
};

/* lock_ttl 0: every report scans the table afresh, so that each render sees what the test
 * has just put or made fail. */
static void mount_new(struct mount *m, bool with_table, const char *prefix)
{
	memset(m, 0, sizeof(*m));
	m->ms = memstore_new();
	m->cfg = (struct tfs_config){ .cache_ttl = 60, .lock_ttl = 0, .lock_list_ttl = 0,
	                              .status = SETTINGS };
	CHECK_INT(keymap_init(&m->map, prefix, NULL), 0);
	if (with_table)
		CHECK_INT(locktable_new(memstore_table(m->ms), BUCKET, &m->cfg, &m->lt), 0);
	m->locks = (struct lock_source){ .store = memstore_store(m->ms), .table = m->lt };
	CHECK_INT(tree_new(&m->locks, &m->map, &m->cfg, &m->tree), 0);
	CHECK_INT(reader_budget_new(1 << 20, &m->budget), 0);
	struct reports_config rc = { .locks = &m->locks, .map = &m->map, .cfg = &m->cfg,
	                             .tree = m->tree, .budget = m->budget };
	CHECK_INT(reports_new(&rc, &m->r), 0);
}

static void mount_free(struct mount *m)
{
	reports_free(m->r);
	reader_budget_free(m->budget);
	tree_free(m->tree);
	locktable_free(m->lt);
	keymap_free(&m->map);
	memstore_free(m->ms);
}

static unsigned virt_of(const char *name)
{
	for (size_t i = 0; i < reports_count; i++)
		if (strcmp(reports_table[i].name, name) == 0)
			return (unsigned)i + 1;
	return 0;
}

/* The text of report name, which must build: malloc'd, never NULL. */
static char *render(struct mount *m, const char *name)
{
	char *text = NULL;
	size_t len = 0;
	int rc = reports_render(m->r, virt_of(name), &text, &len);
	CHECK_INT(rc, 0);
	if (rc < 0 || !text)
		return strdup("");
	CHECK_INT(strlen(text), len);
	return text;
}

/* Lock info as Terraform writes it. path goes into the JSON as given. */
static const char *lock_json(char *buf, size_t n, const char *id, const char *who,
                             const char *operation, const char *created, const char *path)
{
	snprintf(buf, n, "{\"ID\":\"%s\",\"Operation\":\"%s\",\"Info\":\"\",\"Who\":\"%s\","
	         "\"Version\":\"1.11.4\",\"Created\":\"%s\",\"Path\":\"" BUCKET "/%s\"}",
	         id, operation, who, created, path);
	return buf;
}

/* The S3 lockfile of state key. */
static void put_lockfile(struct mount *m, const char *key, const char *json)
{
	char lock_key[512];
	snprintf(lock_key, sizeof(lock_key), "%s.tflock", key);
	memstore_put(m->ms, lock_key, json, 0);
}

/* The DynamoDB lock item of state key. */
static void put_ddb_lock(struct mount *m, const char *key, const char *json)
{
	char id[512];
	snprintf(id, sizeof(id), BUCKET "/%s", key);
	memstore_put_lock(m->ms, id, json);
}

static void md5_hex(const char *data, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(data, strlen(data), md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < n && i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* The "-md5" digest item of state key, as Terraform writes it after writing data. */
static void put_digest(struct mount *m, const char *key, const char *data)
{
	char id[512], hex[33];
	snprintf(id, sizeof(id), BUCKET "/%s-md5", key);
	md5_hex(data, hex);
	memstore_put_digest(m->ms, id, hex);
}

/* ---- locks ---- */

#define T1 "2026-11-28T09:38:48.157714841Z"
#define T2 "2026-11-28T09:12:03.51Z"
#define APPLY "OperationTypeApply"
#define PLAN "OperationTypePlan"

/* One line per lock, sorted by path, whatever backend holds it: S3 alone, DynamoDB alone
 * (with or without a state object), both with one ID (one line), both with different IDs
 * (one line each, S3 first). Paths are escaped; states without a lock, digests and other
 * buckets' items give no line. */
static void test_locks_one_line_per_lock(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	char j[512];
	memstore_put(m.ms, "a/terraform.tfstate", "{\"a\":1}", 0);
	put_lockfile(&m, "a/terraform.tfstate",
	             lock_json(j, sizeof(j), "aaaa-1", "s3@ci", PLAN, T1, "a/terraform.tfstate"));
	memstore_put(m.ms, "b/terraform.tfstate", "{\"b\":1}", 0);
	lock_json(j, sizeof(j), "bbbb-2", "both@ci", APPLY, T1, "b/terraform.tfstate");
	put_lockfile(&m, "b/terraform.tfstate", j);
	put_ddb_lock(&m, "b/terraform.tfstate", j);
	memstore_put(m.ms, "c/terraform.tfstate", "{\"c\":1}", 0);
	put_ddb_lock(&m, "c/terraform.tfstate",
	             lock_json(j, sizeof(j), "cccc-3", "ddb@ci", APPLY, T2, "c/terraform.tfstate"));
	memstore_put(m.ms, "d/terraform.tfstate", "{\"d\":1}", 0);
	put_digest(&m, "d/terraform.tfstate", "{\"d\":1}");
	memstore_put(m.ms, "e/terraform.tfstate", "{\"e\":1}", 0);
	put_lockfile(&m, "e/terraform.tfstate",
	             lock_json(j, sizeof(j), "e-s3", "s3@ci", APPLY, T1, "e/terraform.tfstate"));
	put_ddb_lock(&m, "e/terraform.tfstate",
	             lock_json(j, sizeof(j), "e-ddb", "ddb@ci", PLAN, T2, "e/terraform.tfstate"));
	/* the first apply of a new state: the item only, no object yet */
	put_ddb_lock(&m, "fresh/terraform.tfstate",
	             lock_json(j, sizeof(j), "ffff-4", "new@ci", APPLY, T2, "fresh/terraform.tfstate"));
	memstore_put(m.ms, "tab\there/terraform.tfstate", "{}", 0);
	put_lockfile(&m, "tab\there/terraform.tfstate",
	             lock_json(j, sizeof(j), "tttt-5", "s3@ci", PLAN, T1, "tab\\there/terraform.tfstate"));
	memstore_put_lock(m.ms, "elsewhere/z/terraform.tfstate",
	                  lock_json(j, sizeof(j), "zzzz", "other@ci", APPLY, T1, "z"));

	char *text = render(&m, "locks");
	CHECK_STR(text,
	          "a/terraform.tfstate\ts3\taaaa-1\ts3@ci\t" PLAN "\t" T1 "\n"
	          "b/terraform.tfstate\ts3 dynamodb\tbbbb-2\tboth@ci\t" APPLY "\t" T1 "\n"
	          "c/terraform.tfstate\tdynamodb\tcccc-3\tddb@ci\t" APPLY "\t" T2 "\n"
	          "e/terraform.tfstate\ts3\te-s3\ts3@ci\t" APPLY "\t" T1 "\n"
	          "e/terraform.tfstate\tdynamodb\te-ddb\tddb@ci\t" PLAN "\t" T2 "\n"
	          "fresh/terraform.tfstate\tdynamodb\tffff-4\tnew@ci\t" APPLY "\t" T2 "\n"
	          "tab\\there/terraform.tfstate\ts3\ttttt-5\ts3@ci\t" PLAN "\t" T1 "\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_SCAN), 1);     /* one snapshot of the table */
	CHECK_INT(memstore_calls(m.ms, MS_GETITEM), 0);  /* never an item at a time */
	CHECK_INT(memstore_calls(m.ms, MS_GET), 4);      /* each lockfile read once */
	mount_free(&m);
}

/* A lock field with a tab or a line end still gives one line of six fields. */
static void test_locks_fields_stay_one_line(void)
{
	struct mount m;
	mount_new(&m, false, NULL);
	memstore_put(m.ms, "a/terraform.tfstate.tflock",
	             "{\"ID\":\"i\\td\",\"Operation\":\"" APPLY "\",\"Info\":\"\",\"Who\":\"a\\nb\","
	             "\"Version\":\"1.11.4\",\"Created\":\"" T1 "\",\"Path\":\"" BUCKET "/a\"}", 0);
	char *text = render(&m, "locks");
	size_t tabs = 0, lines = 0;
	for (const char *p = text; *p; p++) {
		tabs += *p == '\t';
		lines += *p == '\n';
	}
	CHECK_INT(lines, 1);
	CHECK_INT(tabs, 5);
	CHECK(strncmp(text, "a/terraform.tfstate\ts3\t", 23) == 0);
	free(text);
	mount_free(&m);
}

/* A lockfile S3 would not give is one unread line; the other locks still show, and the
 * same state's DynamoDB lock too. */
static void test_locks_unread_lockfile_is_one_line(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	char j[512];
	put_lockfile(&m, "a/terraform.tfstate",
	             lock_json(j, sizeof(j), "aaaa", "s3@ci", APPLY, T1, "a/terraform.tfstate"));
	put_lockfile(&m, "b/terraform.tfstate",
	             lock_json(j, sizeof(j), "bbbb", "s3@ci", APPLY, T1, "b/terraform.tfstate"));
	put_ddb_lock(&m, "c/terraform.tfstate",
	             lock_json(j, sizeof(j), "cccc", "ddb@ci", APPLY, T2, "c/terraform.tfstate"));
	memstore_fail(m.ms, MS_GET, 1, -EACCES, 403, false);
	char *text = render(&m, "locks");
	CHECK_STR(text,
	          "a/terraform.tfstate\ts3\t?\t?\t?\t?\n"
	          "b/terraform.tfstate\ts3\tbbbb\ts3@ci\t" APPLY "\t" T1 "\n"
	          "c/terraform.tfstate\tdynamodb\tcccc\tddb@ci\t" APPLY "\t" T2 "\n");
	free(text);

	/* no answer at all, on a state locked in both backends */
	put_ddb_lock(&m, "a/terraform.tfstate",
	             lock_json(j, sizeof(j), "aaaa", "s3@ci", APPLY, T1, "a/terraform.tfstate"));
	memstore_fail(m.ms, MS_GET, 1, -EIO, 0, false);
	text = render(&m, "locks");
	CHECK_STR(text,
	          "a/terraform.tfstate\ts3\t?\t?\t?\t?\n"
	          "a/terraform.tfstate\tdynamodb\taaaa\ts3@ci\t" APPLY "\t" T1 "\n"
	          "b/terraform.tfstate\ts3\tbbbb\ts3@ci\t" APPLY "\t" T1 "\n"
	          "c/terraform.tfstate\tdynamodb\tcccc\tddb@ci\t" APPLY "\t" T2 "\n");
	free(text);

	/* once S3 answers again, the lock is read */
	text = render(&m, "locks");
	CHECK_STR(text,
	          "a/terraform.tfstate\ts3 dynamodb\taaaa\ts3@ci\t" APPLY "\t" T1 "\n"
	          "b/terraform.tfstate\ts3\tbbbb\ts3@ci\t" APPLY "\t" T1 "\n"
	          "c/terraform.tfstate\tdynamodb\tcccc\tddb@ci\t" APPLY "\t" T2 "\n");
	free(text);
	mount_free(&m);
}

static void remove_a_lockfile(struct memstore *ms, void *ctx)
{
	(void)ctx;
	memstore_remove(ms, "a/terraform.tfstate.tflock");
}

/* A lockfile removed between the listing and its read gives no line (it is unlocked), not
 * an unread one. */
static void test_locks_released_since_the_listing(void)
{
	struct mount m;
	mount_new(&m, false, NULL);
	char j[512];
	put_lockfile(&m, "a/terraform.tfstate",
	             lock_json(j, sizeof(j), "aaaa", "s3@ci", APPLY, T1, "a/terraform.tfstate"));
	put_lockfile(&m, "b/terraform.tfstate",
	             lock_json(j, sizeof(j), "bbbb", "s3@ci", APPLY, T1, "b/terraform.tfstate"));
	memstore_before(m.ms, MS_GET, remove_a_lockfile, NULL);
	char *text = render(&m, "locks");
	CHECK_STR(text, "b/terraform.tfstate\ts3\tbbbb\ts3@ci\t" APPLY "\t" T1 "\n");
	free(text);
	mount_free(&m);
}

/* A table that cannot be read leaves the S3 lockfiles, each as "s3"; a listing that fails
 * fails the report with its errno, and nothing half-built is handed back. */
static void test_locks_when_a_service_fails(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	char j[512];
	lock_json(j, sizeof(j), "bbbb", "both@ci", APPLY, T1, "b/terraform.tfstate");
	put_lockfile(&m, "b/terraform.tfstate", j);
	put_ddb_lock(&m, "b/terraform.tfstate", j);
	put_ddb_lock(&m, "c/terraform.tfstate",
	             lock_json(j, sizeof(j), "cccc", "ddb@ci", APPLY, T2, "c/terraform.tfstate"));
	memstore_fail(m.ms, MS_SCAN, 1, -EIO, 500, false);
	char *text = render(&m, "locks");
	CHECK_STR(text, "b/terraform.tfstate\ts3\tbbbb\tboth@ci\t" APPLY "\t" T1 "\n");
	free(text);

	memstore_fail(m.ms, MS_LIST, 1, -EACCES, 403, false);
	text = (char *)"untouched";
	size_t len = 99;
	CHECK_INT(reports_render(m.r, virt_of("locks"), &text, &len), -EACCES);
	CHECK(text == NULL && len == 0);
	memstore_fail(m.ms, MS_LIST, 1, -EIO, 0, false);
	CHECK_INT(reports_render(m.r, virt_of("migration"), &text, &len), -EIO);
	CHECK(text == NULL && len == 0);
	mount_free(&m);
}

/* A prefix mount shows its own states' DynamoDB locks, its workspaces' under
 * env:/<ws>/, and none of another prefix. */
static void test_locks_of_a_prefix_mount(void)
{
	struct mount m;
	mount_new(&m, true, "teams/p");
	static const char *const keys[] = { "teams/p/app/terraform.tfstate",
	                                    "env:/dev/teams/p/app/terraform.tfstate",
	                                    "teams/q/app/terraform.tfstate" };
	char j[512];
	for (size_t i = 0; i < 3; i++) {
		memstore_put(m.ms, keys[i], "{}", 0);
		put_ddb_lock(&m, keys[i], lock_json(j, sizeof(j), "id", "ddb@ci", APPLY, T1, keys[i]));
	}
	char *text = render(&m, "locks");
	CHECK_STR(text, "app/terraform.tfstate\tdynamodb\tid\tddb@ci\t" APPLY "\t" T1 "\n"
	                "env:/dev/app/terraform.tfstate\tdynamodb\tid\tddb@ci\t" APPLY "\t" T1 "\n");
	free(text);
	text = render(&m, "migration");
	CHECK_STR(text, "app/terraform.tfstate\tfree\theld\tnone\t-\n"
	                "env:/dev/app/terraform.tfstate\tfree\theld\tnone\t-\n");
	free(text);
	mount_free(&m);
}

int main(void)
{
	test_every_row_is_whole();
	test_names_and_order();
	test_files_lead_to_their_rows();
	test_render_by_virt();
	test_locks_one_line_per_lock();
	test_locks_fields_stay_one_line();
	test_locks_unread_lockfile_is_one_line();
	test_locks_released_since_the_listing();
	test_locks_when_a_service_fails();
	test_locks_of_a_prefix_mount();
	return check_report("reports");
}
