/* Unit tests for fs/reports.c: the table of /.tfstatefs/ files, and from a file to its row. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/reports.h"
#include "fs/tree.h"
#include "check.h"

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

int main(void)
{
	test_every_row_is_whole();
	test_names_and_order();
	test_files_lead_to_their_rows();
	test_render_by_virt();
	return check_report("reports");
}
