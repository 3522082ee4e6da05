/* Unit tests for fs/xattr.c's table: every name, which files have it, and its value. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "fs/stateinfo.h"
#include "fs/tree.h"
#include "fs/xattr.h"
#include "check.h"

static const char *const state_names[] = {
	"user.tfstate.serial", "user.tfstate.lineage", "user.tfstate.terraform_version",
	"user.tfstate.resources", "user.tfstate.encrypted", "user.s3.etag",
	"user.s3.version_id", "user.s3.last_modified",
};
static const char *const lock_names[] = {
	"user.tflock.json", "user.tflock.id", "user.tflock.who", "user.tflock.operation",
	"user.tflock.created", "user.tflock.backend",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct xattr_row *row_of(const char *name)
{
	for (size_t i = 0; i < xattr_count; i++)
		if (strcmp(xattr_table[i].name, name) == 0)
			return &xattr_table[i];
	return NULL;
}

/* Every row has its own name in the user namespace, files that have it, and a getter. */
static void test_every_row_is_whole(void)
{
	for (size_t i = 0; i < xattr_count; i++) {
		const struct xattr_row *x = &xattr_table[i];
		CHECK(x->name && strncmp(x->name, "user.", 5) == 0);
		CHECK(x->files != 0 && (x->files & ~(unsigned)(XATTR_STATE | XATTR_LOCK)) == 0);
		CHECK(x->get != NULL);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(xattr_table[j].name, x->name) != 0);
	}
}

/* What listxattr gives a file of kind, in its order; all of it fits one list. */
static void check_names_of(unsigned kind, const char *const *want, size_t nwant)
{
	size_t n = 0, bytes = 0;
	for (size_t i = 0; i < xattr_count; i++) {
		if (!(xattr_table[i].files & kind))
			continue;
		if (n < nwant)
			CHECK_STR(xattr_table[i].name, want[n]);
		n++;
		bytes += strlen(xattr_table[i].name) + 1;
	}
	CHECK_INT(n, nwant);
	CHECK(bytes <= XATTR_NAMES_MAX);
}

static void test_names_and_order(void)
{
	check_names_of(XATTR_STATE, state_names, N(state_names));
	check_names_of(XATTR_LOCK, lock_names, N(lock_names));
	CHECK_INT(xattr_count, N(state_names) + N(lock_names));
}

/* Only a state's ETag and time come without reading it; only a lock's JSON is read apart. */
static void test_what_needs_the_bytes(void)
{
	for (size_t i = 0; i < xattr_count; i++) {
		const struct xattr_row *x = &xattr_table[i];
		bool listed = strcmp(x->name, "user.s3.etag") == 0 ||
		              strcmp(x->name, "user.s3.last_modified") == 0;
		if (x->files & XATTR_STATE)
			CHECK(x->read == !listed);
		else
			CHECK(x->read == (strcmp(x->name, "user.tflock.json") == 0));
	}
}

/* The value of name on f, NUL-terminated, or NULL when it has none. */
static const char *value(const struct xattr_file *f, const char *name)
{
	static char out[XATTR_VALUE_MAX + 1];
	const struct xattr_row *x = row_of(name);
	struct xattr_value v;
	CHECK(x != NULL);
	if (!x || x->get(f, &v) != 0)
		return NULL;
	CHECK(v.len < sizeof(out));
	snprintf(out, sizeof(out), "%.*s", (int)v.len, v.data);
	return out;
}

static void test_state_read(void)
{
	struct stateinfo si = { .has_serial = true, .serial = 42, .has_resources = true,
	                        .resources = 2, .lineage = "8e3ef5a2", .terraform_version = "1.11.4" };
	struct xattr_file f = { .etag = "\"d41d8cd98f00b204e9800998ecf8427e\"", .mtime = 1795856400,
	                        .version_id = "v7", .info = &si };
	CHECK_STR(value(&f, "user.tfstate.serial"), "42");
	CHECK_STR(value(&f, "user.tfstate.lineage"), "8e3ef5a2");
	CHECK_STR(value(&f, "user.tfstate.terraform_version"), "1.11.4");
	CHECK_STR(value(&f, "user.tfstate.resources"), "2");
	CHECK(value(&f, "user.tfstate.encrypted") == NULL);
	CHECK_STR(value(&f, "user.s3.etag"), "d41d8cd98f00b204e9800998ecf8427e");
	CHECK_STR(value(&f, "user.s3.version_id"), "v7");
	CHECK_STR(value(&f, "user.s3.last_modified"), "2026-11-28T09:00:00Z");
}

/* Not read (or not a state): only the names the listing gives have a value. */
static void test_state_not_read(void)
{
	struct stateinfo none = { 0 };
	struct xattr_file f = { .etag = "\"abc\"", .mtime = 0, .version_id = "", .info = &none };
	for (size_t i = 0; i < N(state_names); i++) {
		const struct xattr_row *x = row_of(state_names[i]);
		if (x && x->read)
			CHECK(value(&f, x->name) == NULL);
	}
	CHECK_STR(value(&f, "user.s3.etag"), "abc");
	CHECK_STR(value(&f, "user.s3.last_modified"), "1970-01-01T00:00:00Z");
}

static void test_state_etag(void)
{
	struct stateinfo none = { 0 };
	struct xattr_file f = { .version_id = "", .info = &none };
	f.etag = "\"\"";
	CHECK(value(&f, "user.s3.etag") == NULL);
	f.etag = "";
	CHECK(value(&f, "user.s3.etag") == NULL);
	f.etag = "unquoted-1";
	CHECK_STR(value(&f, "user.s3.etag"), "unquoted-1");
	f.etag = "\"";
	CHECK_STR(value(&f, "user.s3.etag"), "\"");
}

static void test_state_encrypted(void)
{
	struct stateinfo si = { .encrypted = true, .has_serial = true, .serial = 3,
	                        .encryption_version = "v0" };
	struct xattr_file f = { .etag = "", .version_id = "", .info = &si };
	CHECK_STR(value(&f, "user.tfstate.encrypted"), "v0");
	CHECK_STR(value(&f, "user.tfstate.serial"), "3");
	CHECK(value(&f, "user.tfstate.resources") == NULL);
	si.encryption_version[0] = '\0';
	CHECK_STR(value(&f, "user.tfstate.encrypted"), "yes");
}

/* A lock's fields as shown; an empty one has no value. */
static void test_lock_fields(void)
{
	char id[] = "ef95", who[] = "", operation[] = "OperationTypeApply",
	     created[] = "2026-11-28T09:38:48.15Z";
	struct lock_shown s = { .backend = "s3 dynamodb", .id = id, .who = who,
	                             .operation = operation, .created = created };
	struct xattr_file f = { .lock = &s };
	CHECK_STR(value(&f, "user.tflock.id"), "ef95");
	CHECK(value(&f, "user.tflock.who") == NULL);
	CHECK_STR(value(&f, "user.tflock.operation"), "OperationTypeApply");
	CHECK_STR(value(&f, "user.tflock.created"), "2026-11-28T09:38:48.15Z");
	CHECK_STR(value(&f, "user.tflock.backend"), "s3 dynamodb");
	/* The fields say nothing of the JSON: every lock has one, so it is listed unread. */
	CHECK_STR(value(&f, "user.tflock.json"), "");
}

/* The JSON is the raw object, NUL bytes and all. */
static void test_lock_json(void)
{
	static const char raw[] = "{\"ID\":\"a\0b\"}";
	struct xattr_file f = { .json = raw, .json_len = sizeof(raw) - 1 };
	struct xattr_value v;
	const struct xattr_row *x = row_of("user.tflock.json");
	CHECK(x && x->get(&f, &v) == 0);
	CHECK_INT(v.len, sizeof(raw) - 1);
	CHECK(v.len == sizeof(raw) - 1 && memcmp(v.data, raw, v.len) == 0);
}

int main(void)
{
	test_every_row_is_whole();
	test_names_and_order();
	test_what_needs_the_bytes();
	test_state_read();
	test_state_not_read();
	test_state_etag();
	test_state_encrypted();
	test_lock_fields();
	test_lock_json();
	return check_report("xattr");
}
