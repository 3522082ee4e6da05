/* Unit tests for fs/keymap.c: which keys become which paths, and which are hidden. */
#include <stdlib.h>
#include <string.h>
#include "fs/keymap.h"
#include "check.h"

static int verdict(const struct keymap *m, enum listing_mode mode, const char *key, const char *want_path)
{
	char *path = NULL;
	int v = keymap_key_to_path(m, mode, key, strlen(key), &path);
	if (want_path)
		CHECK_STR(path, want_path);
	else
		CHECK(path == NULL);
	free(path);
	return v;
}

static void test_whole_bucket(void)
{
	struct keymap m;
	CHECK_INT(keymap_init(&m, NULL, NULL), 0);
	CHECK_STR(m.prefix, "");
	CHECK_STR(m.ws_prefix, "env:");
	CHECK_INT(verdict(&m, LISTING_PLAIN, "prod/net/terraform.tfstate", "prod/net/terraform.tfstate"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "env:/staging/app/terraform.tfstate", "env:/staging/app/terraform.tfstate"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "with space/ü:x", "with space/ü:x"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "dir/", "dir"), KEY_DIR_MARKER);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a//b", NULL), KEY_EMPTY_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "/a", NULL), KEY_EMPTY_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "/", NULL), KEY_EMPTY_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a//", NULL), KEY_EMPTY_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a/./b", NULL), KEY_DOT_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "..", NULL), KEY_DOT_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a/../b/", NULL), KEY_DOT_SEGMENT);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a/...", "a/..."), KEY_FILE);
	char longname[300];
	memset(longname, 'n', sizeof(longname));
	longname[256] = '\0';
	CHECK_INT(verdict(&m, LISTING_PLAIN, longname, NULL), KEY_NAME_TOO_LONG);
	longname[255] = '\0';
	CHECK_INT(verdict(&m, LISTING_PLAIN, longname, longname), KEY_FILE);
	char *path = NULL;
	CHECK_INT(keymap_key_to_path(&m, LISTING_PLAIN, "a\0b", 3, &path), KEY_NUL_BYTE);
	CHECK(path == NULL);

	struct listing ls[2];
	CHECK_INT(keymap_dir_listings(&m, "", ls), 1);
	CHECK_STR(ls[0].s3_prefix, "");
	keymap_listing_free(&ls[0]);
	char *key = keymap_path_to_key(&m, "env:/staging/app/terraform.tfstate.tflock");
	CHECK_STR(key, "env:/staging/app/terraform.tfstate.tflock");
	free(key);
	CHECK_INT(keymap_dir_listings(&m, "env:/staging", ls), 1);
	CHECK_STR(ls[0].s3_prefix, "env:/staging/");
	keymap_listing_free(&ls[0]);
	keymap_free(&m);
}

static void test_prefix_mount(void)
{
	struct keymap m;
	CHECK_INT(keymap_init(&m, "/teams/platform/", NULL), 0);
	CHECK_STR(m.prefix, "teams/platform/");
	CHECK_INT(verdict(&m, LISTING_PLAIN, "teams/platform/dns/terraform.tfstate", "dns/terraform.tfstate"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "teams/platform/", NULL), KEY_OUTSIDE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "teams/platformx/a", NULL), KEY_OUTSIDE);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "env:/qa/teams/platform/dns/terraform.tfstate",
	                  "env:/qa/dns/terraform.tfstate"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "env:/qa/teams/other/terraform.tfstate", NULL), KEY_OUTSIDE);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "env:/qa", NULL), KEY_OUTSIDE);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "env:/qa/teams/platform/", "env:/qa"), KEY_DIR_MARKER);

	struct listing ls[2];
	CHECK_INT(keymap_dir_listings(&m, "", ls), 2);
	CHECK_STR(ls[0].s3_prefix, "teams/platform/");
	CHECK_STR(ls[1].s3_prefix, "env:/");
	CHECK_INT(ls[1].mode, LISTING_WORKSPACE);
	keymap_listing_free(&ls[0]);
	keymap_listing_free(&ls[1]);
	CHECK_INT(keymap_dir_listings(&m, "env:", ls), 2);
	CHECK_STR(ls[0].s3_prefix, "teams/platform/env:/");
	CHECK_STR(ls[1].s3_prefix, "env:/");
	keymap_listing_free(&ls[0]);
	keymap_listing_free(&ls[1]);
	CHECK_INT(keymap_dir_listings(&m, "env:/qa", ls), 2);
	CHECK_STR(ls[1].s3_prefix, "env:/qa/teams/platform/");
	keymap_listing_free(&ls[0]);
	keymap_listing_free(&ls[1]);
	CHECK_INT(keymap_dir_listings(&m, "env:/qa/dns", ls), 2);
	CHECK_STR(ls[1].s3_prefix, "env:/qa/teams/platform/dns/");
	keymap_listing_free(&ls[0]);
	keymap_listing_free(&ls[1]);
	char *key = keymap_path_to_key(&m, "env:/qa/dns/terraform.tfstate.tflock");
	CHECK_STR(key, "env:/qa/teams/platform/dns/terraform.tfstate.tflock");
	free(key);
	key = keymap_path_to_key(&m, "dns/terraform.tfstate.tflock");
	CHECK_STR(key, "teams/platform/dns/terraform.tfstate.tflock");
	free(key);
	key = keymap_path_to_key(&m, "env:/x.tflock");   /* no workspace name: a plain key */
	CHECK_STR(key, "teams/platform/env:/x.tflock");
	free(key);
	CHECK_INT(keymap_dir_listings(&m, "dns", ls), 1);
	CHECK_STR(ls[0].s3_prefix, "teams/platform/dns/");
	keymap_listing_free(&ls[0]);
	keymap_free(&m);
}

static void test_custom_workspace_prefix_and_bad_prefixes(void)
{
	struct keymap m;
	CHECK_INT(keymap_init(&m, "p", "workspaces"), 0);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "workspaces/dev/p/x", "workspaces/dev/x"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_WORKSPACE, "env:/dev/p/x", NULL), KEY_OUTSIDE);
	keymap_free(&m);
	CHECK_INT(keymap_init(&m, "a//b", NULL), -22);
	CHECK_INT(keymap_init(&m, "a/../b", NULL), -22);
	CHECK_INT(keymap_init(&m, "a", "x/./y"), -22);
	/* Found by fuzz_keymap: a workspace prefix of slashes only wrote before its buffer. */
	CHECK_INT(keymap_init(&m, "a", "/"), -22);
	CHECK_INT(keymap_init(&m, NULL, "///"), -22);
}

/* /.tfstatefs is the virtual directory: real keys there are hidden, elsewhere the name is free. */
static void test_reserved_directory(void)
{
	struct keymap m;
	CHECK_INT(keymap_init(&m, NULL, NULL), 0);
	CHECK_INT(verdict(&m, LISTING_PLAIN, ".tfstatefs/locks", NULL), KEY_RESERVED);
	CHECK_INT(verdict(&m, LISTING_PLAIN, ".tfstatefs/", NULL), KEY_RESERVED);
	CHECK_INT(verdict(&m, LISTING_PLAIN, ".tfstatefs", NULL), KEY_RESERVED);
	CHECK_INT(verdict(&m, LISTING_PLAIN, ".tfstatefsx/a", ".tfstatefsx/a"), KEY_FILE);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "a/.tfstatefs/b", "a/.tfstatefs/b"), KEY_FILE);
	keymap_free(&m);
	CHECK_INT(keymap_init(&m, "/teams/p", NULL), 0);
	CHECK_INT(verdict(&m, LISTING_PLAIN, "teams/p/.tfstatefs/x", NULL), KEY_RESERVED);
	CHECK_INT(verdict(&m, LISTING_PLAIN, ".tfstatefs/x", NULL), KEY_OUTSIDE);
	keymap_free(&m);
}

/* Keys from the lock table come without a listing mode. */
static void test_any_key(void)
{
	struct keymap m;
	char *path = NULL;
	CHECK_INT(keymap_init(&m, "teams/p", NULL), 0);
	CHECK_INT(keymap_any_key_to_path(&m, "teams/p/app/terraform.tfstate", &path), KEY_FILE);
	CHECK_STR(path, "app/terraform.tfstate");
	free(path);
	CHECK_INT(keymap_any_key_to_path(&m, "env:/dev/teams/p/app/terraform.tfstate", &path), KEY_FILE);
	CHECK_STR(path, "env:/dev/app/terraform.tfstate");
	free(path);
	CHECK_INT(keymap_any_key_to_path(&m, "env:/dev/teams/q/app", &path), KEY_OUTSIDE);
	CHECK(path == NULL);
	CHECK_INT(keymap_any_key_to_path(&m, "other/app", &path), KEY_OUTSIDE);
	keymap_free(&m);
	CHECK_INT(keymap_init(&m, NULL, NULL), 0);
	CHECK_INT(keymap_any_key_to_path(&m, "env:/dev/app", &path), KEY_FILE);
	CHECK_STR(path, "env:/dev/app");
	free(path);
	keymap_free(&m);
}

int main(void)
{
	test_whole_bucket();
	test_prefix_mount();
	test_custom_workspace_prefix_and_bad_prefixes();
	test_reserved_directory();
	test_any_key();
	return check_report("keymap");
}
