/* Unit tests for fs/history.c and fs/vread.c: versions and delete markers of a state and
 * of its lock key, joined, against the in-memory store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/history.h"
#include "fs/keymap.h"
#include "check.h"
#include "memstore.h"

#define STATE "app/terraform.tfstate"
#define LOCK STATE ".tflock"
#define T0 1764322728000LL      /* 2025-11-28T09:38:48.000Z */

static char *lock_json(const char *id, const char *who, const char *op)
{
	char *s = NULL;
	if (asprintf(&s, "{\"ID\":\"%s\",\"Operation\":\"%s\",\"Info\":\"\",\"Who\":\"%s\","
	             "\"Version\":\"1.11.4\",\"Created\":\"2025-11-28T09:38:48Z\","
	             "\"Path\":\"b/" STATE "\"}", id, op, who) < 0)
		abort();
	return s;
}

static char *state_json(int serial)
{
	char *s = NULL;
	if (asprintf(&s, "{\"version\":4,\"terraform_version\":\"1.11.4\",\"serial\":%d,"
	             "\"lineage\":\"9f6e\",\"outputs\":{},\"resources\":[]}", serial) < 0)
		abort();
	return s;
}

/* One apply as Terraform makes it: the lock, the state at +write ms, the release at
 * +release ms (0: still held). */
static void apply(struct memstore *ms, int64_t at, const char *id, int serial, int64_t write,
                  int64_t release)
{
	char *lock = lock_json(id, "ci@runner", "OperationTypeApply"), *state = state_json(serial);
	memstore_put_at(ms, LOCK, lock, at);
	memstore_put_at(ms, STATE, state, at + write);
	if (release)
		memstore_remove_at(ms, LOCK, at + release);
	free(lock);
	free(state);
}

struct fx {
	struct memstore *ms;
	struct keymap map;
	struct history *h;
};

static void fx_init(struct fx *f, enum store_versioning v)
{
	f->ms = memstore_new();
	memstore_versioning(f->ms, v);
	CHECK_INT(keymap_init(&f->map, NULL, NULL), 0);
	CHECK_INT(history_new(memstore_store(f->ms), &f->map, &f->h), 0);
}

static void fx_free(struct fx *f)
{
	history_free(f->h);
	keymap_free(&f->map);
	memstore_free(f->ms);
}

/* The index of STATE as text (malloc'd). */
static char *index_text(struct fx *f)
{
	struct hist_state *s = NULL;
	char *text = NULL;
	size_t len = 0;
	CHECK_INT(history_state(f->h, STATE, &s), 0);
	if (!s)
		return strdup("");
	CHECK_INT(history_read(f->h, s), 0);
	FILE *out = open_memstream(&text, &len);
	history_put_index(s, out);
	fclose(out);
	hist_state_free(s);
	return text;
}

static char *lock_history_text(struct fx *f, int64_t now_ms, struct hist_clutter *c)
{
	struct hist_lock *locks = NULL;
	size_t n = 0;
	char *text = NULL;
	size_t len = 0;
	CHECK_INT(history_all_locks(f->h, true, &locks, &n, c), 0);
	FILE *out = open_memstream(&text, &len);
	history_put_locks(locks, n, now_ms, out);
	fclose(out);
	hist_locks_free(locks, n);
	return text;
}

/* Each version written under a lock names it; each lock has its release, the last one
 * is held; versions are named by their time, oldest first. */
static void test_versions_name_the_lock_that_wrote_them(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_ENABLED);
	apply(f.ms, T0, "id-1", 1, 4000, 4010);
	apply(f.ms, T0 + 60000, "id-2", 2, 3500, 3502);
	char *running = lock_json("id-3", "ci@runner", "OperationTypeApply");
	memstore_put_at(f.ms, LOCK, running, T0 + 120000);     /* running: nothing written yet */
	free(running);
	struct hist_state *s = NULL;
	CHECK_INT(history_state(f.h, STATE, &s), 0);
	CHECK_INT(s->nversions, 2);
	CHECK_INT(s->nlocks, 3);
	CHECK_STR(s->versions[0].name, "2025-11-28T09:38:52.000Z_v2");
	CHECK_STR(s->versions[1].name, "2025-11-28T09:39:51.500Z_v5");
	CHECK(strcmp(s->versions[0].name, s->versions[1].name) < 0);
	hist_state_free(s);

	char *text = index_text(&f);
	CHECK_STR(text, "2025-11-28T09:38:52.000Z\tv2\t98\t1\t9f6e\t1.11.4\tid-1\tci@runner\tOperationTypeApply\n"
	                "2025-11-28T09:39:51.500Z\tv5\t98\t2\t9f6e\t1.11.4\tid-2\tci@runner\tOperationTypeApply\n");
	free(text);

	struct hist_clutter c;
	text = lock_history_text(&f, T0 + 130000, &c);
	CHECK_STR(text, STATE "\tid-1\tci@runner\tOperationTypeApply\t1.11.4\t"
	                "2025-11-28T09:38:48.000Z\t2025-11-28T09:38:52.010Z\t4\n"
	          STATE "\tid-2\tci@runner\tOperationTypeApply\t1.11.4\t"
	                "2025-11-28T09:39:48.000Z\t2025-11-28T09:39:51.502Z\t3\n"
	          STATE "\tid-3\tci@runner\tOperationTypeApply\t1.11.4\t"
	                "2025-11-28T09:40:48.000Z\theld\t10\n");
	CHECK_INT(c.noncurrent_lock_versions, 2);
	CHECK_INT(c.lock_delete_markers, 2);
	free(text);
	fx_free(&f);
}

/* A state deleted and written again: its delete marker is a line of the index, and no
 * file; a version written with no lock held names none. */
static void test_a_deleted_state_shows_its_delete_marker(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_ENABLED);
	apply(f.ms, T0, "id-1", 1, 1000, 1200);
	memstore_remove_at(f.ms, STATE, T0 + 5000);
	char *state = state_json(1);
	memstore_put_at(f.ms, STATE, state, T0 + 9000);    /* by hand, no lock */
	free(state);
	struct hist_state *s = NULL;
	CHECK_INT(history_state(f.h, STATE, &s), 0);
	CHECK_INT(s->nversions, 3);
	CHECK(s->versions[1].deleted && !s->versions[1].name);
	hist_state_free(s);
	char *text = index_text(&f);
	CHECK_STR(text, "2025-11-28T09:38:49.000Z\tv2\t98\t1\t9f6e\t1.11.4\tid-1\tci@runner\tOperationTypeApply\n"
	                "2025-11-28T09:38:53.000Z\tv4\tdeleted\t-\t-\t-\t-\t-\t-\n"
	                "2025-11-28T09:38:57.000Z\tv5\t98\t1\t9f6e\t1.11.4\t-\t-\t-\n");
	free(text);
	fx_free(&f);
}

/* Without versioning: the current version, and the lock held now. */
static void test_an_unversioned_bucket_shows_the_present(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_OFF);
	apply(f.ms, T0, "id-1", 1, 1000, 1200);
	apply(f.ms, T0 + 60000, "id-2", 2, 1000, 0);
	char *text = index_text(&f);
	CHECK_STR(text, "2025-11-28T09:39:49.000Z\tnull\t98\t2\t9f6e\t1.11.4\tid-2\tci@runner\tOperationTypeApply\n");
	free(text);
	struct hist_clutter c;
	text = lock_history_text(&f, T0 + 70000, &c);
	CHECK_STR(text, STATE "\tid-2\tci@runner\tOperationTypeApply\t1.11.4\t"
	                "2025-11-28T09:39:48.000Z\theld\t10\n");
	CHECK_INT(c.noncurrent_lock_versions, 0);
	CHECK_INT(c.lock_delete_markers, 0);
	free(text);
	fx_free(&f);
}

/* A version never changes: it is read once for the mount's life. */
static void test_versions_are_read_once(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_ENABLED);
	for (int i = 0; i < 20; i++)
		apply(f.ms, T0 + i * 10000, "id", i + 1, 1000, 2000);
	free(index_text(&f));
	unsigned long gets = memstore_calls(f.ms, MS_GET);
	CHECK_INT(gets, 40);            /* 20 states, 20 locks */
	free(index_text(&f));
	struct hist_clutter c;
	free(lock_history_text(&f, T0, &c));
	CHECK_INT(memstore_calls(f.ms, MS_GET), gets);
	unsigned long long sent, held;
	history_counts(f.h, &sent, &held);
	CHECK_INT(sent, 40);
	CHECK_INT(held, 40);
	fx_free(&f);
}

/* Many pages of versions make one history, and other keys that share the prefix do not
 * join it. */
static void test_pages_and_neighbours(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_ENABLED);
	memstore_page_size(f.ms, 2);
	for (int i = 0; i < 5; i++)
		apply(f.ms, T0 + i * 10000, "id", i + 1, 1000, 2000);
	memstore_put_at(f.ms, STATE "2", "{}", T0);
	memstore_put_at(f.ms, STATE ".backup", "{}", T0);
	struct hist_state *s = NULL;
	CHECK_INT(history_state(f.h, STATE, &s), 0);
	CHECK_INT(s->nversions, 5);
	CHECK_INT(s->nlocks, 5);
	for (size_t i = 0; s && i < s->nversions; i++)
		CHECK(s->versions[i].lock == &s->locks[i]);
	hist_state_free(s);
	CHECK(memstore_calls(f.ms, MS_LISTVERSIONS) >= 8);
	CHECK_INT(history_state(f.h, "other/terraform.tfstate", &s), -ENOENT);
	fx_free(&f);
}

/* A lock version that cannot be read (refused, or not lock JSON) leaves "-" in its
 * fields, not the whole history; a failed listing is the listing's errno. */
static void test_what_cannot_be_read(void)
{
	struct fx f;
	fx_init(&f, STORE_VERSIONING_ENABLED);
	apply(f.ms, T0, "id-1", 1, 1000, 2000);
	memstore_fail(f.ms, MS_GET, 1000, -EACCES, 403, false);
	char *text = index_text(&f);
	CHECK_STR(text, "2025-11-28T09:38:49.000Z\tv2\t98\t-\t-\t-\t-\t-\t-\n");
	free(text);
	memstore_fail(f.ms, MS_GET, 0, 0, 0, false);
	text = index_text(&f);    /* what failed is read again */
	CHECK_STR(text, "2025-11-28T09:38:49.000Z\tv2\t98\t1\t9f6e\t1.11.4\tid-1\tci@runner\tOperationTypeApply\n");
	free(text);
	memstore_fail(f.ms, MS_LISTVERSIONS, 1, -EIO, 500, false);
	struct hist_state *s = NULL;
	CHECK_INT(history_state(f.h, STATE, &s), -EIO);
	CHECK(s == NULL);
	fx_free(&f);
}

int main(void)
{
	test_versions_name_the_lock_that_wrote_them();
	test_a_deleted_state_shows_its_delete_marker();
	test_an_unversioned_bucket_shows_the_present();
	test_versions_are_read_once();
	test_pages_and_neighbours();
	test_what_cannot_be_read();
	return check_report("history");
}
