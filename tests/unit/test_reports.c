/* Unit tests for fs/reports.c: the table of /.tfstatefs/ files, and from a file to its row;
 * then what each file says, against the in-memory store and lock table (memstore.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
		/* A snapshot renders; a directory is answered by its own module. */
		CHECK((row->build == REPORT_SNAPSHOT) == (row->render != NULL));
		CHECK(row->build == REPORT_SNAPSHOT || row->build == REPORT_DIRECTORY ||
		      row->build == REPORT_STREAM);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(reports_table[j].name, row->name) != 0);
	}
}

/* The files users and scripts know, in their order. */
static void test_names_and_order(void)
{
	static const char *const want[] = { "locks", "migration", "status", "stats",
	                                    "lock-history", "metrics", "history", "events" };
	CHECK_INT(reports_count, 8);
	for (size_t i = 0; i < reports_count && i < 8; i++)
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
		if (e->attr.is_dir) {   /* history/: answered by fs/histfs.c, by inode */
			CHECK_STR(e->name, "history");
			CHECK_INT(e->attr.ino, tree_virtual_ino(t, ".tfstatefs", "history"));
			continue;
		}
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
	struct guard_counts unlocks;
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
	                             .tree = m->tree, .budget = m->budget, .unlocks = &m->unlocks };
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

/* ---- migration ---- */

/* A state object with content of its own (so that each has its own MD5). */
static void put_state(struct mount *m, const char *key)
{
	char data[512];
	snprintf(data, sizeof(data), "{\"version\":4,\"serial\":1,\"k\":\"%s\"}", key);
	memstore_put(m->ms, key, data, 0);
}

/* The digest of state key's current bytes (a write through the table). */
static void put_digest_of_state(struct mount *m, const char *key)
{
	char data[512];
	snprintf(data, sizeof(data), "{\"version\":4,\"serial\":1,\"k\":\"%s\"}", key);
	put_digest(m, key, data);
}

static void lock_both(struct mount *m, const char *key, bool s3, bool ddb)
{
	char j[512];
	lock_json(j, sizeof(j), "5d1b0c2e-0000-4000-8000-000000000001", "runner@ci", APPLY, T1, key);
	if (s3)
		put_lockfile(m, key, j);
	if (ddb)
		put_ddb_lock(m, key, j);
}

/* Each line: lockfile, DynamoDB lock, digest, note, for every case the README names: the
 * cases of the integration test test_migration_reports_each_state, and new, orphan with
 * and without a lock, and the near misses of half-lock. Matches settled by the ETag read
 * nothing; each mismatch reads its state once, and once only across renders. */
static void test_migration_each_case(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	/* written with the table, locked there */
	put_state(&m, "legacy/terraform.tfstate");
	put_digest_of_state(&m, "legacy/terraform.tfstate");
	lock_both(&m, "legacy/terraform.tfstate", false, true);
	/* the digest is of an older version: a lockfile-only apply wrote since */
	put_state(&m, "moved/terraform.tfstate");
	put_digest(&m, "moved/terraform.tfstate", "older bytes");
	/* never used with the table */
	put_state(&m, "plain/terraform.tfstate");
	/* locked in S3 only while the last write went through the table */
	put_state(&m, "half/terraform.tfstate");
	put_digest_of_state(&m, "half/terraform.tfstate");
	lock_both(&m, "half/terraform.tfstate", true, false);
	/* locked in DynamoDB only while a lockfile-only write has gone past the table */
	put_state(&m, "stuck/terraform.tfstate");
	put_digest(&m, "stuck/terraform.tfstate", "older bytes");
	lock_both(&m, "stuck/terraform.tfstate", false, true);
	/* a lock item and a digest whose state was deleted */
	lock_both(&m, "gone/terraform.tfstate", false, true);
	put_digest(&m, "gone/terraform.tfstate", "whatever");
	/* a lockfile and a digest whose state was deleted */
	lock_both(&m, "gone-s3/terraform.tfstate", true, false);
	put_digest(&m, "gone-s3/terraform.tfstate", "whatever");
	/* a digest alone, its state deleted */
	put_digest(&m, "lost/terraform.tfstate", "whatever");
	/* the first apply of a new state, with either backend */
	lock_both(&m, "first-ddb/terraform.tfstate", false, true);
	lock_both(&m, "first-s3/terraform.tfstate", true, false);
	/* both backends held, the last write through the table: nothing to say */
	put_state(&m, "both/terraform.tfstate");
	put_digest_of_state(&m, "both/terraform.tfstate");
	lock_both(&m, "both/terraform.tfstate", true, true);
	/* both held while the digest is stale */
	put_state(&m, "both-old/terraform.tfstate");
	put_digest(&m, "both-old/terraform.tfstate", "older bytes");
	lock_both(&m, "both-old/terraform.tfstate", true, true);
	/* held in S3 since a lockfile-only write: the table is out of the way */
	put_state(&m, "s3-moved/terraform.tfstate");
	put_digest(&m, "s3-moved/terraform.tfstate", "older bytes");
	lock_both(&m, "s3-moved/terraform.tfstate", true, false);
	/* held in DynamoDB, which never wrote a digest */
	put_state(&m, "ddb-nodigest/terraform.tfstate");
	lock_both(&m, "ddb-nodigest/terraform.tfstate", false, true);
	/* held in S3 only, no digest */
	put_state(&m, "s3-nodigest/terraform.tfstate");
	lock_both(&m, "s3-nodigest/terraform.tfstate", true, false);
	/* not a state of this mount: a key below the reserved directory (directory markers:
	 * see test_directory_markers_are_not_states) */
	memstore_put(m.ms, ".tfstatefs/locks", "a real object", 0);

	static const char want[] =
	        "both-old/terraform.tfstate\theld\theld\tmismatch\t-\n"
	        "both/terraform.tfstate\theld\theld\tmatch\t-\n"
	        "ddb-nodigest/terraform.tfstate\tfree\theld\tnone\t-\n"
	        "first-ddb/terraform.tfstate\tfree\theld\tnone\tnew\n"
	        "first-s3/terraform.tfstate\theld\tfree\tnone\tnew\n"
	        "gone-s3/terraform.tfstate\theld\tfree\tmismatch\torphan\n"
	        "gone/terraform.tfstate\tfree\theld\tmismatch\torphan\n"
	        "half/terraform.tfstate\theld\tfree\tmatch\thalf-lock\n"
	        "legacy/terraform.tfstate\tfree\theld\tmatch\t-\n"
	        "lost/terraform.tfstate\tfree\tfree\tmismatch\torphan\n"
	        "moved/terraform.tfstate\tfree\tfree\tmismatch\t-\n"
	        "plain/terraform.tfstate\tfree\tfree\tnone\t-\n"
	        "s3-moved/terraform.tfstate\theld\tfree\tmismatch\t-\n"
	        "s3-nodigest/terraform.tfstate\theld\tfree\tnone\t-\n"
	        "stuck/terraform.tfstate\tfree\theld\tmismatch\thalf-lock\n";
	char *text = render(&m, "migration");
	CHECK_STR(text, want);
	free(text);
	/* matches from the ETag; both-old, moved, s3-moved, stuck read once each */
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 4);
	CHECK_INT(memstore_calls(m.ms, MS_GET), 0);  /* lockfiles are not read for this */
	text = render(&m, "migration");
	CHECK_STR(text, want);
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 4);
	mount_free(&m);
}

/* Without a readable table (a Scan that fails, or no table configured) the DynamoDB
 * columns say unknown, S3 lockfiles still show, and a lockfile without its state is new;
 * once the table answers, its locks and digests are back. */
static void test_migration_without_the_table(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	put_state(&m, "a/terraform.tfstate");
	lock_both(&m, "a/terraform.tfstate", true, false);
	put_digest_of_state(&m, "a/terraform.tfstate");
	put_state(&m, "b/terraform.tfstate");
	lock_both(&m, "b/terraform.tfstate", false, true);
	lock_both(&m, "c/terraform.tfstate", true, false);
	put_digest(&m, "c/terraform.tfstate", "whatever");
	lock_both(&m, "d/terraform.tfstate", false, true);
	memstore_fail(m.ms, MS_SCAN, 1, -EACCES, 403, false);
	char *text = render(&m, "migration");
	CHECK_STR(text, "a/terraform.tfstate\theld\tunknown\tunknown\t-\n"
	                "b/terraform.tfstate\tfree\tunknown\tunknown\t-\n"
	                "c/terraform.tfstate\theld\tunknown\tunknown\tnew\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 0);
	text = render(&m, "migration");
	CHECK_STR(text, "a/terraform.tfstate\theld\tfree\tmatch\thalf-lock\n"
	                "b/terraform.tfstate\tfree\theld\tnone\t-\n"
	                "c/terraform.tfstate\theld\tfree\tmismatch\torphan\n"
	                "d/terraform.tfstate\tfree\theld\tnone\tnew\n");
	free(text);
	mount_free(&m);

	mount_new(&m, false, NULL);
	put_state(&m, "a/terraform.tfstate");
	lock_both(&m, "a/terraform.tfstate", true, false);
	put_state(&m, "b/terraform.tfstate");
	lock_both(&m, "c/terraform.tfstate", true, false);
	text = render(&m, "migration");
	CHECK_STR(text, "a/terraform.tfstate\theld\tunknown\tunknown\t-\n"
	                "b/terraform.tfstate\tfree\tunknown\tunknown\t-\n"
	                "c/terraform.tfstate\theld\tunknown\tunknown\tnew\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_SCAN), 0);
	mount_free(&m);
}

#define MULTIPART_1 "\"0123456789abcdef0123456789abcdef-2\""
#define MULTIPART_2 "\"fedcba9876543210fedcba9876543210-3\""
#define KMS_ETAG "\"00112233445566778899aabbccddeeff\""

/* An ETag that is not the MD5 (multipart, SSE-KMS: 32 hex digits that are not the MD5)
 * does not settle the digest: the state's bytes do, read once per version. A read that
 * fails says unknown, and is tried again next time. */
static void test_migration_digest_of_the_bytes_once_per_version(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	const char *key = "big/terraform.tfstate", *v1 = "{\"serial\":1}", *v2 = "{\"serial\":2}";
	memstore_put(m.ms, key, v1, 0);
	memstore_set_etag(m.ms, key, MULTIPART_1);
	put_digest(&m, key, v1);
	char *text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 1);
	/* the same version: its MD5 is known */
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmatch\t-\n");
	free(text);
	put_digest(&m, key, "another write");
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmismatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 1);
	/* a new version is read again, once */
	memstore_put(m.ms, key, v2, 0);
	memstore_set_etag(m.ms, key, MULTIPART_2);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmismatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 2);
	put_digest(&m, key, v2);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 2);
	/* back to the first version's ETag: remembered or read, never the second's MD5 */
	memstore_put(m.ms, key, v1, 0);
	memstore_set_etag(m.ms, key, MULTIPART_1);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmismatch\t-\n");
	free(text);
	mount_free(&m);

	/* an SSE-KMS ETag looks like an MD5 and is not one */
	mount_new(&m, true, NULL);
	memstore_put(m.ms, key, v1, 0);
	memstore_set_etag(m.ms, key, KMS_ETAG);
	put_digest(&m, key, v1);
	memstore_fail(m.ms, MS_MD5, 1, -EIO, 500, false);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tunknown\t-\n");
	free(text);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 2);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\tfree\tfree\tmatch\t-\n");
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_MD5), 2);
	/* an S3 lockfile while the table wrote last: half-lock only once the read says match */
	lock_both(&m, key, true, false);
	text = render(&m, "migration");
	CHECK_STR(text, "big/terraform.tfstate\theld\tfree\tmatch\thalf-lock\n");
	free(text);
	mount_free(&m);
}

/* ---- status ---- */

/* The settings text, then what the table last answered: ok and how many states it holds,
 * or what failed and what to do, and ok again once it answers. */
static void test_status_says_how_the_table_is(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	lock_both(&m, "a/terraform.tfstate", false, true);
	lock_both(&m, "b/terraform.tfstate", false, true);
	memstore_put_lock(m.ms, "elsewhere/c/terraform.tfstate", "{}");
	char *text = render(&m, "status");
	CHECK_STR(text, SETTINGS "dynamodb_status\tok\ndynamodb_items\t2\n");
	free(text);

	memstore_fail(m.ms, MS_SCAN, 1, -EACCES, 403, false);
	text = render(&m, "status");
	CHECK_STR(text, SETTINGS "dynamodb_status\tmemory table: error (HTTP 403): memstore: fault "
	                "injected; the credentials need dynamodb:Scan, dynamodb:GetItem and "
	                "dynamodb:DeleteItem on it\n");
	free(text);
	memstore_fail(m.ms, MS_SCAN, 1, -ENXIO, 400, false);
	text = render(&m, "status");
	CHECK_STR(text, SETTINGS "dynamodb_status\tmemory table: error (HTTP 400): memstore: fault "
	                "injected; check -o dynamodb_table, the region and dynamodb_endpoint\n");
	free(text);
	text = render(&m, "status");
	CHECK_STR(text, SETTINGS "dynamodb_status\tok\ndynamodb_items\t2\n");
	free(text);
	mount_free(&m);
}

/* The versions' clutter is counted once per cache_ttl: each count lists every version of
 * the prefix (268 requests at 200,000 versions), and a script may read status in a loop. */
static void test_status_counts_versions_once_per_cache_ttl(void)
{
	struct mount m;
	mount_new(&m, false, NULL);
	struct history *h = NULL;
	CHECK_INT(history_new(memstore_store(m.ms), &m.map, &h), 0);
	reports_free(m.r);
	struct reports_config rc = { .locks = &m.locks, .map = &m.map, .cfg = &m.cfg,
	                             .tree = m.tree, .budget = m.budget, .unlocks = &m.unlocks,
	                             .history = h };
	CHECK_INT(reports_new(&rc, &m.r), 0);
	memstore_versioning(m.ms, STORE_VERSIONING_ENABLED);
	memstore_put(m.ms, "a/terraform.tfstate.tflock", "{}", 0);
	memstore_remove(m.ms, "a/terraform.tfstate.tflock");
	const char *want = SETTINGS "versioning\tEnabled\nlock_versions_noncurrent\t1\n"
	                   "lock_delete_markers\t1\n";
	for (int i = 0; i < 3; i++) {
		char *text = render(&m, "status");
		CHECK_STR(text, want);
		free(text);
	}
	CHECK_INT(memstore_calls(m.ms, MS_LISTVERSIONS), 1);
	CHECK_INT(memstore_calls(m.ms, MS_VERSIONING), 1);
	m.cfg.cache_ttl = 0;        /* older than cache_ttl: counted again */
	char *text = render(&m, "status");
	CHECK_STR(text, want);
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_LISTVERSIONS), 2);
	mount_free(&m);
	history_free(h);
}

/* ---- stats ---- */

/* The value of counter name in a stats text, or -1 when it has no such line. */
static long long stat_of(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == '\t')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

/* Every line is name<TAB>digits; returns the names, space-separated, in their order. */
static char *stat_names(const char *text)
{
	char *names = calloc(1, strlen(text) + 1);
	size_t out = 0;
	for (const char *p = text; *p;) {
		const char *tab = strchr(p, '\t'), *end = strchr(p, '\n');
		CHECK(tab && end && tab < end);
		if (!tab || !end || tab > end)
			break;
		CHECK(tab + 1 < end && strspn(tab + 1, "0123456789") == (size_t)(end - tab - 1));
		if (out)
			names[out++] = ' ';
		memcpy(names + out, p, (size_t)(tab - p));
		out += (size_t)(tab - p);
		p = end + 1;
	}
	return names;
}

#define SERVICE_STATS(svc, op) \
	svc "_" op "_requests " svc "_" op "_retries " svc "_" op "_failures " svc "_" op "_bytes_in "
#define TREE_STATS "tree_lookups tree_dirs_read tree_listings tree_keys_listed tree_lock_scans " \
	"tree_lock_fetches tree_probes tree_entries "
#define READ_STATS "read_cache_bytes read_cache_peak_bytes read_cache_limit_bytes " \
	"read_ahead_fetches read_ahead_hits read_small_fetches"

/* What the mount has cost: the store's and the table's requests by kind, as their
 * counters say, what the tree answered and asked, and the read budget. */
static void test_stats_count_what_was_asked(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	put_state(&m, "a/terraform.tfstate");
	put_state(&m, "b/terraform.tfstate");
	lock_both(&m, "a/terraform.tfstate", true, true);
	struct tree_dir *d = NULL;
	CHECK_INT(tree_opendir(m.tree, TREE_ROOT_INO, &d), 0);
	tree_dir_free(d);
	struct tree_attr attr;
	CHECK_INT(tree_lookup(m.tree, TREE_ROOT_INO, "not-listed", &attr), -ENOENT);
	free(render(&m, "locks"));

	char *text = render(&m, "stats");
	char *names = stat_names(text);
	CHECK_STR(names, SERVICE_STATS("s3", "list") SERVICE_STATS("s3", "get")
	                 SERVICE_STATS("s3", "delete") SERVICE_STATS("dynamodb", "scan")
	                 SERVICE_STATS("dynamodb", "getitem") SERVICE_STATS("dynamodb", "deleteitem")
	                 TREE_STATS READ_STATS);
	free(names);
	CHECK(memstore_calls(m.ms, MS_LIST) >= 2);
	CHECK_INT(stat_of(text, "s3_list_requests"), memstore_calls(m.ms, MS_LIST));
	CHECK_INT(stat_of(text, "s3_get_requests"), memstore_calls(m.ms, MS_GET));
	CHECK_INT(stat_of(text, "s3_get_requests"), 1);
	CHECK_INT(stat_of(text, "s3_delete_requests"), 0);
	CHECK_INT(stat_of(text, "s3_list_retries"), 0);
	CHECK(memstore_calls(m.ms, MS_SCAN) >= 2);
	CHECK_INT(stat_of(text, "dynamodb_scan_requests"), memstore_calls(m.ms, MS_SCAN));
	CHECK_INT(stat_of(text, "dynamodb_getitem_requests"), memstore_calls(m.ms, MS_GETITEM));
	CHECK_INT(stat_of(text, "dynamodb_deleteitem_requests"), 0);
	CHECK_INT(stat_of(text, "tree_lookups"), 1);
	CHECK_INT(stat_of(text, "tree_dirs_read"), 1);
	CHECK_INT(stat_of(text, "tree_probes"), 1);
	CHECK(stat_of(text, "tree_listings") >= 1);
	CHECK(stat_of(text, "tree_keys_listed") >= 3);
	CHECK(stat_of(text, "tree_entries") >= 3);   /* root, a/, b/ at least */
	CHECK_INT(stat_of(text, "read_cache_bytes"), 0);
	CHECK_INT(stat_of(text, "read_cache_limit_bytes"), 1 << 20);
	free(text);

	/* another probe, seen in the next report */
	CHECK_INT(tree_lookup(m.tree, TREE_ROOT_INO, "still-not-listed", &attr), -ENOENT);
	text = render(&m, "stats");
	CHECK_INT(stat_of(text, "tree_probes"), 2);
	CHECK_INT(stat_of(text, "tree_lookups"), 2);
	CHECK_INT(stat_of(text, "s3_list_requests"), memstore_calls(m.ms, MS_LIST));
	CHECK_INT(stat_of(text, "dynamodb_scan_requests"), memstore_calls(m.ms, MS_SCAN));
	free(text);
	mount_free(&m);

	/* no table, no DynamoDB line */
	mount_new(&m, false, NULL);
	text = render(&m, "stats");
	names = stat_names(text);
	CHECK_STR(names, SERVICE_STATS("s3", "list") SERVICE_STATS("s3", "get")
	                 SERVICE_STATS("s3", "delete") TREE_STATS READ_STATS);
	free(names);
	CHECK_INT(stat_of(text, "s3_list_requests"), 0);
	CHECK_INT(stat_of(text, "tree_entries"), 1);  /* the root */
	free(text);
	mount_free(&m);
}

/* ---- metrics ---- */

/* The value of series (name and labels, exactly as written) in a metrics text, or -1e9
 * when it has no such line. */
static double metric_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1e9;
}

/* The families' names, space-separated, in the order of their # TYPE lines; checks that
 * each has its # HELP just before and that its samples follow it, none elsewhere. */
static char *families(const char *text)
{
	char *names = calloc(1, strlen(text) + 1), fam[128] = "";
	size_t out = 0;
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		CHECK(end != NULL);
		if (!end)
			break;
		char type[32];
		if (strncmp(p, "# TYPE ", 7) == 0 && sscanf(p + 7, "%127s %31s", fam, type) == 2) {
			if (out)
				names[out++] = ' ';
			memcpy(names + out, fam, strlen(fam));
			out += strlen(fam);
			CHECK(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0);
		} else if (strncmp(p, "# HELP ", 7) == 0) {
			CHECK(strncmp(end + 1, "# TYPE ", 7) == 0);
		} else {
			size_t n = strlen(fam);
			CHECK(n > 0 && strncmp(p, fam, n) == 0 && (p[n] == '{' || p[n] == ' '));
		}
		p = end + 1;
	}
	return names;
}

/* Created, n seconds ago, as Terraform writes it. */
static const char *created_ago(char buf[64], long n)
{
	time_t t = time(NULL) - n;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 64, "%Y-%m-%dT%H:%M:%S.250000000Z", &tm);
	return buf;
}

#define AGE(path, backend, who, op, id) \
	"tfstatefs_lock_age_seconds{path=\"" path "\",backend=\"" backend "\",who=\"" who \
	"\",operation=\"" op "\",id=\"" id "\"}"
#define LOCK_FAMILIES "tfstatefs_lock_age_seconds tfstatefs_locks tfstatefs_lock_oldest_age_seconds " \
	"tfstatefs_states tfstatefs_migration_states tfstatefs_migration_digests"
#define COUNTER_FAMILIES "tfstatefs_requests_total tfstatefs_request_retries_total " \
	"tfstatefs_request_failures_total tfstatefs_unlocks_total"

/* Each lock's age with the locks report's labels, in S3, in DynamoDB, in both with one ID
 * (one series) and with two (one each); the locks by backend, the oldest, the states, the
 * migration notes and digests with every value, the table up; families whole, in order. */
static void test_metrics_locks_in_both_backends(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	char j[512], c[64];
	put_state(&m, "a/terraform.tfstate");
	put_lockfile(&m, "a/terraform.tfstate", lock_json(j, sizeof(j), "aaaa", "s3@ci", PLAN,
	             created_ago(c, 600), "a/terraform.tfstate"));
	put_state(&m, "b/terraform.tfstate");
	put_digest_of_state(&m, "b/terraform.tfstate");
	lock_json(j, sizeof(j), "bbbb", "both@ci", APPLY, created_ago(c, 7200), "b/terraform.tfstate");
	put_lockfile(&m, "b/terraform.tfstate", j);
	put_ddb_lock(&m, "b/terraform.tfstate", j);
	put_ddb_lock(&m, "c/terraform.tfstate", lock_json(j, sizeof(j), "cccc", "ddb@ci", APPLY,
	             created_ago(c, 30), "c/terraform.tfstate"));
	put_state(&m, "e/terraform.tfstate");
	put_lockfile(&m, "e/terraform.tfstate", lock_json(j, sizeof(j), "e-s3", "s3@ci", APPLY,
	             created_ago(c, 60), "e/terraform.tfstate"));
	put_ddb_lock(&m, "e/terraform.tfstate", lock_json(j, sizeof(j), "e-ddb", "ddb@ci", PLAN,
	             created_ago(c, 90), "e/terraform.tfstate"));
	put_state(&m, "plain/terraform.tfstate");
	atomic_store(&m.unlocks.by_result[GUARD_REFUSED], 2);
	atomic_store(&m.unlocks.by_result[GUARD_UNLOCKED], 5);

	char *text = render(&m, "metrics");
	char *names = families(text);
	CHECK_STR(names, LOCK_FAMILIES " tfstatefs_lock_table_up " COUNTER_FAMILIES);
	free(names);
	static const struct { const char *series; double age; } ages[] = {
		{ AGE("a/terraform.tfstate", "s3", "s3@ci", PLAN, "aaaa"), 600 },
		{ AGE("b/terraform.tfstate", "s3 dynamodb", "both@ci", APPLY, "bbbb"), 7200 },
		{ AGE("c/terraform.tfstate", "dynamodb", "ddb@ci", APPLY, "cccc"), 30 },
		{ AGE("e/terraform.tfstate", "s3", "s3@ci", APPLY, "e-s3"), 60 },
		{ AGE("e/terraform.tfstate", "dynamodb", "ddb@ci", PLAN, "e-ddb"), 90 },
	};
	size_t samples = 0;
	for (const char *p = strstr(text, "\ntfstatefs_lock_age_seconds{"); p;
	     p = strstr(p + 1, "\ntfstatefs_lock_age_seconds{"))
		samples++;
	CHECK_INT(samples, 5);
	for (size_t i = 0; i < 5; i++) {
		double got = metric_of(text, ages[i].series);
		if (!(got > ages[i].age - 2 && got < ages[i].age + 2))
			fprintf(stderr, "  %s = %f, want %f\n", ages[i].series, got, ages[i].age);
		CHECK(got > ages[i].age - 2 && got < ages[i].age + 2);  /* Created .25 s past a second */
	}
	CHECK(strstr(text, ages[0].series) < strstr(text, ages[2].series));     /* path order */
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"s3\"}"), 3);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"dynamodb\"}"), 3);
	double oldest = metric_of(text, "tfstatefs_lock_oldest_age_seconds");
	CHECK(oldest > 7198 && oldest < 7202);
	CHECK_INT(metric_of(text, "tfstatefs_states"), 4);
	CHECK_INT(metric_of(text, "tfstatefs_migration_states{note=\"-\"}"), 4);
	CHECK_INT(metric_of(text, "tfstatefs_migration_states{note=\"half-lock\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_migration_states{note=\"new\"}"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_migration_states{note=\"orphan\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_migration_digests{digest=\"none\"}"), 4);
	CHECK_INT(metric_of(text, "tfstatefs_migration_digests{digest=\"match\"}"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_migration_digests{digest=\"mismatch\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_migration_digests{digest=\"unknown\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_lock_table_up"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_unlocks_total{result=\"unlocked\"}"), 5);
	CHECK_INT(metric_of(text, "tfstatefs_unlocks_total{result=\"refused\"}"), 2);
	CHECK_INT(metric_of(text, "tfstatefs_unlocks_total{result=\"failed\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_unlocks_total{result=\"partial\"}"), 0);
	free(text);
	CHECK_INT(memstore_calls(m.ms, MS_SCAN), 1);     /* one snapshot of the table */
	CHECK_INT(memstore_calls(m.ms, MS_GETITEM), 0);
	CHECK_INT(memstore_calls(m.ms, MS_GET), 3);      /* each lockfile read once */
	mount_free(&m);
}

/* Label values are escaped as the format says: a backslash, a double quote and a line
 * end (lockinfo's text already has them as \\ and \n) in a path, a Who, an ID. A lock whose Created
 * cannot be read has no age: the S3 lockfile's time stands in, a DynamoDB item has none. */
static void test_metrics_escape_label_values(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	char c[64], j[512];
	snprintf(j, sizeof(j), "{\"ID\":\"i\\\"d\",\"Operation\":\"" APPLY "\",\"Info\":\"\","
	         "\"Who\":\"a\\\\b\\nc\",\"Version\":\"1.11.4\",\"Created\":\"%s\",\"Path\":\"x\"}",
	         created_ago(c, 100));
	put_lockfile(&m, "q\"uote\\d/terraform.tfstate", j);
	put_ddb_lock(&m, "bad/terraform.tfstate", "{\"ID\":\"x\",\"Created\":\"yesterday\"}");
	memstore_put(m.ms, "old/terraform.tfstate.tflock", "{\"ID\":\"o\",\"Created\":\"soon\"}",
	             time(NULL) - 500);
	char *text = render(&m, "metrics");
	double got = metric_of(text, "tfstatefs_lock_age_seconds{path=\"q\\\"uote\\\\d/terraform.tfstate\","
	                       "backend=\"s3\",who=\"a\\\\\\\\b\\\\nc\",operation=\"" APPLY "\",id=\"i\\\"d\"}");
	CHECK(got > 98 && got < 102);
	got = metric_of(text, AGE("old/terraform.tfstate", "s3", "", "", "o"));
	CHECK(got > 498 && got < 502);
	CHECK(strstr(text, "path=\"bad/") == NULL);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"s3\"}"), 2);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"dynamodb\"}"), 1);
	free(text);
	mount_free(&m);
}

/* A table that cannot be read is down: its locks are not counted, the digests unknown.
 * Without a table there is no table to be up, and no DynamoDB series. No lock: the oldest
 * is 0. */
static void test_metrics_without_the_table(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	put_state(&m, "a/terraform.tfstate");
	lock_both(&m, "a/terraform.tfstate", true, true);
	memstore_fail(m.ms, MS_SCAN, 1, -EACCES, 403, false);
	char *text = render(&m, "metrics");
	CHECK_INT(metric_of(text, "tfstatefs_lock_table_up"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"s3\"}"), 1);
	CHECK(strstr(text, "backend=\"dynamodb\"") == NULL);
	CHECK_INT(metric_of(text, "tfstatefs_migration_digests{digest=\"unknown\"}"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_request_failures_total{service=\"dynamodb\",op=\"scan\"}"), 0);  /* memstore counts none */
	free(text);
	text = render(&m, "metrics");
	CHECK_INT(metric_of(text, "tfstatefs_lock_table_up"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"dynamodb\"}"), 1);
	CHECK_INT(metric_of(text, "tfstatefs_requests_total{service=\"dynamodb\",op=\"scan\"}"),
	          memstore_calls(m.ms, MS_SCAN));
	free(text);
	mount_free(&m);

	mount_new(&m, false, NULL);
	put_state(&m, "a/terraform.tfstate");
	text = render(&m, "metrics");
	char *names = families(text);
	CHECK_STR(names, LOCK_FAMILIES " " COUNTER_FAMILIES);
	free(names);
	CHECK(strstr(text, "dynamodb") == NULL);
	CHECK_INT(metric_of(text, "tfstatefs_lock_oldest_age_seconds"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_locks{backend=\"s3\"}"), 0);
	CHECK_INT(metric_of(text, "tfstatefs_requests_total{service=\"s3\",op=\"list\"}"),
	          memstore_calls(m.ms, MS_LIST));
	free(text);
	mount_free(&m);
}

/* A directory marker ("dir/", as the S3 console's "Create folder" writes) and a LockID
 * that ends in '/' are not states: no line. The reports give back the path the keymap
 * made for each (KEY_DIR_MARKER hands one over, as keymap.h says): before, they leaked it,
 * one path per marker per render, which valgrind and LeakSanitizer catch here. */
static void test_directory_markers_are_not_states(void)
{
	struct mount m;
	mount_new(&m, true, NULL);
	put_state(&m, "dir/app/terraform.tfstate");
	memstore_put(m.ms, "dir/", "", 0);
	memstore_put(m.ms, "dir/app/", "", 0);
	memstore_put_lock(m.ms, BUCKET "/odd/", "{\"ID\":\"x\"}");
	for (int i = 0; i < 2; i++) {
		char *text = render(&m, "migration");
		CHECK_STR(text, "dir/app/terraform.tfstate\tfree\tfree\tnone\t-\n");
		free(text);
		text = render(&m, "locks");
		CHECK_STR(text, "");
		free(text);
	}
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
	test_migration_each_case();
	test_migration_without_the_table();
	test_migration_digest_of_the_bytes_once_per_version();
	test_status_says_how_the_table_is();
	test_status_counts_versions_once_per_cache_ttl();
	test_stats_count_what_was_asked();
	test_directory_markers_are_not_states();
	test_metrics_locks_in_both_backends();
	test_metrics_escape_label_values();
	test_metrics_without_the_table();
	return check_report("reports");
}
