/* Unit tests for fs/evsnap.c and fs/events.c: two looks at the in-memory store compared
 * into locked, unlocked, changed and written; each reader's bounded buffer, the lines it
 * lost, several readers, interrupts; the guard's own events; the log's JSON lines. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/events.h"
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/locktable.h"
#include "check.h"
#include "memstore.h"

#define BUCKET "tfstate"
#define LOCK_A "{\"ID\":\"aaaa\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\",\"Who\":\"alice@ci\",\"Version\":\"1.11.4\",\"Created\":\"2025-11-28T09:00:00.1Z\",\"Path\":\"tfstate/app/terraform.tfstate\"}"
#define LOCK_B "{\"ID\":\"bbbb\",\"Operation\":\"OperationTypePlan\",\"Info\":\"\",\"Who\":\"bob@ci\",\"Version\":\"1.11.4\",\"Created\":\"2025-11-28T09:01:00.1Z\",\"Path\":\"tfstate/app/terraform.tfstate\"}"

struct watch {
	struct memstore *ms;
	struct tfs_config cfg;
	struct keymap map;
	struct locktable *lt;
	struct lock_source locks;
	struct events *ev;
};

static void watch_new(struct watch *w, bool with_table, size_t reader_lines, const char *log)
{
	memset(w, 0, sizeof(*w));
	w->ms = memstore_new();
	w->cfg = (struct tfs_config){ .cache_ttl = 60, .lock_ttl = 0, .lock_list_ttl = 0 };
	CHECK_INT(keymap_init(&w->map, NULL, NULL), 0);
	if (with_table)
		CHECK_INT(locktable_new(memstore_table(w->ms), BUCKET, &w->cfg, &w->lt), 0);
	w->locks = (struct lock_source){ .store = memstore_store(w->ms), .table = w->lt };
	struct events_config ec = { .locks = &w->locks, .map = &w->map, .interval = 1,
	                            .reader_lines = reader_lines, .log_path = log };
	CHECK_INT(events_new(&ec, &w->ev), 0);
}

static void watch_free(struct watch *w)
{
	events_free(w->ev);
	locktable_free(w->lt);
	keymap_free(&w->map);
	memstore_free(w->ms);
}

/* Everything r has now, without waiting; the time column cut off each line. */
static char *drain(struct events_reader *r)
{
	char *all = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&all, &len);
	char buf[4096];
	ssize_t n;
	while ((n = events_read(r, buf, sizeof(buf), true, NULL, NULL)) > 0)
		fwrite(buf, 1, (size_t)n, out);
	CHECK_INT(n, -EAGAIN);
	fclose(out);
	/* Drop "time\t" of each line; "lost N events" lines have no time. */
	char *cut = malloc(len + 1), *o = cut;
	for (char *line = all; line && *line;) {
		char *end = strchr(line, '\n');
		char *tab = strchr(line, '\t');
		char *from = tab && tab < end ? tab + 1 : line;
		memcpy(o, from, (size_t)(end - from + 1));
		o += end - from + 1;
		line = end + 1;
	}
	*o = '\0';
	free(all);
	return cut;
}

static void check_drain(struct events_reader *r, const char *want)
{
	char *got = drain(r);
	CHECK_STR(got, want);
	free(got);
}

/* The first look only sets the baseline: what exists already is not an event. Then each
 * change is one line, with the state's serial read from its new version. */
static void test_diff_of_two_looks(void)
{
	struct watch w;
	watch_new(&w, true, 0, NULL);
	memstore_put(w.ms, "app/terraform.tfstate", "{\"version\":4,\"serial\":1}", 0);
	memstore_put(w.ms, "old/terraform.tfstate.tflock", LOCK_B, 0);
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "");

	memstore_put(w.ms, "app/terraform.tfstate.tflock", LOCK_A, 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "locked\tapp/terraform.tfstate\ts3\taaaa\talice@ci\tOperationTypeApply\t-\n");

	memstore_put(w.ms, "app/terraform.tfstate", "{\"version\":4,\"serial\":2}", 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "written\tapp/terraform.tfstate\ts3\t-\t-\t-\t2\n");

	memstore_put(w.ms, "app/terraform.tfstate.tflock", LOCK_B, 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "changed\tapp/terraform.tfstate\ts3\tbbbb\tbob@ci\tOperationTypePlan\treplaced aaaa\n");

	memstore_remove(w.ms, "app/terraform.tfstate.tflock");
	memstore_put_lock(w.ms, BUCKET "/db/terraform.tfstate", LOCK_A);
	memstore_put(w.ms, "new/terraform.tfstate", "not json", 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "unlocked\tapp/terraform.tfstate\ts3\tbbbb\tbob@ci\tOperationTypePlan\t-\n"
	            "locked\tdb/terraform.tfstate\tdynamodb\taaaa\talice@ci\tOperationTypeApply\t-\n"
	            "written\tnew/terraform.tfstate\ts3\t-\t-\t-\t-\n");

	/* A table that fails is not every DynamoDB lock gone. */
	memstore_fail(w.ms, MS_SCAN, 1, -EIO, 500, false);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "");
	memstore_put_lock(w.ms, BUCKET "/db/terraform.tfstate", LOCK_B);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "changed\tdb/terraform.tfstate\tdynamodb\tbbbb\tbob@ci\tOperationTypePlan\treplaced aaaa\n");
	memstore_remove_item(w.ms, BUCKET "/db/terraform.tfstate");
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "unlocked\tdb/terraform.tfstate\tdynamodb\tbbbb\tbob@ci\tOperationTypePlan\t-\n");
	events_close(r);
	watch_free(&w);
}

/* A look costs one listing page (here), one Scan, and a GET only for a lockfile new or
 * changed since the last look, and for a state's new version. */
static void test_cost_of_a_look(void)
{
	struct watch w;
	watch_new(&w, true, 0, NULL);
	memstore_put(w.ms, "a/terraform.tfstate", "{\"version\":4,\"serial\":1}", 0);
	memstore_put(w.ms, "a/terraform.tfstate.tflock", LOCK_A, 0);
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	CHECK_INT(events_poll(w.ev), 0);
	CHECK_INT(memstore_calls(w.ms, MS_LIST), 1);
	CHECK_INT(memstore_calls(w.ms, MS_SCAN), 1);
	CHECK_INT(memstore_calls(w.ms, MS_GET), 1);    /* the lockfile, at the baseline */
	CHECK_INT(events_poll(w.ev), 0);
	CHECK_INT(memstore_calls(w.ms, MS_LIST), 2);
	CHECK_INT(memstore_calls(w.ms, MS_SCAN), 2);
	CHECK_INT(memstore_calls(w.ms, MS_GET), 1);    /* nothing changed: nothing read */
	memstore_put(w.ms, "a/terraform.tfstate", "{\"version\":4,\"serial\":9}", 0);
	CHECK_INT(events_poll(w.ev), 0);
	CHECK_INT(memstore_calls(w.ms, MS_GET), 2);    /* the new version, for its serial */
	char *stats = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&stats, &len);
	events_put_stats(w.ev, out);
	fclose(out);
	CHECK(strstr(stats, "events_readers\t1\nevents_polls\t3\nevents_poll_failures\t0\n"
	                    "events_list_requests\t3\nevents_scans\t3\nevents_lock_gets\t1\n"
	                    "events_state_gets\t1\nevents_lines\t1\n") != NULL);
	free(stats);
	events_close(r);
	watch_free(&w);
}

/* A look sees the table as it is now, whatever lock_ttl lets lookups trust: a DynamoDB
 * lock shows in the next look, as an S3 one does, and the look's Scan serves lookups. */
static void test_a_look_scans_the_table_whatever_lock_ttl(void)
{
	struct watch w;
	watch_new(&w, true, 0, NULL);
	w.cfg.lock_ttl = 60;
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	CHECK_INT(events_poll(w.ev), 0);
	memstore_put_lock(w.ms, BUCKET "/db/terraform.tfstate", LOCK_A);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "locked\tdb/terraform.tfstate\tdynamodb\taaaa\talice@ci\tOperationTypeApply\t-\n");
	CHECK_INT(memstore_calls(w.ms, MS_SCAN), 2);
	const struct lt_snapshot *snap = locktable_snapshot(w.lt, LT_FOR_LOOKUP);
	CHECK(snap && lt_snapshot_find(snap, "db/terraform.tfstate") != NULL);
	locktable_release(w.lt, snap);
	CHECK_INT(memstore_calls(w.ms, MS_SCAN), 2);
	memstore_remove_item(w.ms, BUCKET "/db/terraform.tfstate");
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "unlocked\tdb/terraform.tfstate\tdynamodb\taaaa\talice@ci\tOperationTypeApply\t-\n");
	events_close(r);
	watch_free(&w);
}

/* Publishes n lines through the guard's hook (refused unlocks). */
static void guard_lines(struct events *ev, int n)
{
	struct lock_shown s = { .path = "app/terraform.tfstate.tflock", .backend = "s3",
	                        .id = "aaaa", .who = "alice@ci", .operation = "OperationTypeApply" };
	for (int i = 0; i < n; i++)
		events_guard(ev, &s, "refused", 1000, EBUSY);
}

/* A reader that does not read keeps its buffer bounded (new lines are the ones lost); what it missed
 * is one "lost N events" line where the gap is; another reader loses nothing. */
static void test_bounded_buffers_and_lost_lines(void)
{
	struct watch w;
	watch_new(&w, false, 3, NULL);
	struct events_reader *slow = NULL, *fast = NULL;
	CHECK_INT(events_open(w.ev, &slow), 0);
	CHECK_INT(events_open(w.ev, &fast), 0);
	const char *line = "refused\tapp/terraform.tfstate\ts3\taaaa\talice@ci\tOperationTypeApply\tuid=1000 EBUSY\n";
	char want[1024] = "";
	for (int i = 0; i < 5; i++) {
		guard_lines(w.ev, 1);
		check_drain(fast, line);
	}
	for (int i = 0; i < 3; i++)
		strcat(want, line);
	strcat(want, "lost 2 events\n");
	check_drain(slow, want);
	/* Lost again, then a line: the gap is said before that line. */
	guard_lines(w.ev, 5);
	char got[4096];
	ssize_t n = events_read(slow, got, 40, true, NULL, NULL);   /* part of a line */
	CHECK_INT(n, 40);
	guard_lines(w.ev, 1);
	char *rest = drain(slow);
	CHECK(strstr(rest, "lost 2 events\n") != NULL);
	free(rest);
	/* The other reader, full too: its first 3 lines, then what it lost. */
	strcpy(want, "");
	for (int i = 0; i < 3; i++)
		strcat(want, line);
	strcat(want, "lost 3 events\n");
	check_drain(fast, want);
	events_close(slow);
	events_close(fast);
	watch_free(&w);
}

/* 10,000 events past a reader that never reads: it holds its bound, no more. */
static void test_ten_thousand_events_past_a_stuck_reader(void)
{
	struct watch w;
	watch_new(&w, false, 0, NULL);
	struct events_reader *stuck = NULL;
	CHECK_INT(events_open(w.ev, &stuck), 0);
	guard_lines(w.ev, 10000);
	char *stats = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&stats, &len);
	events_put_stats(w.ev, out);
	fclose(out);
	CHECK(strstr(stats, "events_lines\t10000\nevents_lines_lost\t9000\n") != NULL);
	free(stats);
	char *all = drain(stuck);
	size_t lines = 0;
	for (char *p = all; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK_INT(lines, EVENTS_READER_LINES + 1);
	CHECK(strstr(all, "lost 9000 events\n") != NULL);
	free(all);
	events_close(stuck);
	watch_free(&w);
}

/* A waiting read ends with -EINTR when interrupted, at end of file when shut down. */
static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

static bool always(void *ctx)
{
	(void)ctx;
	return true;
}

static void test_interrupt_and_shutdown(void)
{
	struct watch w;
	watch_new(&w, false, 0, NULL);
	struct events_reader *r = NULL;
	char buf[64];
	CHECK_INT(events_open(w.ev, &r), 0);
	events_interrupt(r);
	CHECK_INT(events_read(r, buf, sizeof(buf), false, never, NULL), -EINTR);
	events_interrupt(r);
	events_interrupt_clear(r);
	CHECK_INT(events_read(r, buf, sizeof(buf), false, always, NULL), 0);
	events_shutdown(w.ev);
	CHECK_INT(events_read(r, buf, sizeof(buf), false, never, NULL), 0);
	events_close(r);
	watch_free(&w);
}

/* The guard's unlock is told once: the next look finding the lock gone says nothing, also
 * when that look last saw an older version of the lock (a lock made here, its Info
 * written since: another ETag, the same ID). */
static void test_guard_unlock_told_once(void)
{
	for (int rewritten = 0; rewritten < 2; rewritten++) {
		struct watch w;
		watch_new(&w, false, 0, NULL);
		memstore_put(w.ms, "app/terraform.tfstate.tflock", LOCK_A, 0);
		struct events_reader *r = NULL;
		CHECK_INT(events_open(w.ev, &r), 0);
		CHECK_INT(events_poll(w.ev), 0);
		if (rewritten)
			memstore_put(w.ms, "app/terraform.tfstate.tflock",
			             "{\"ID\":\"aaaa\",\"Who\":\"alice@ci\",\"Info\":\"surgery\"}", 0);
		struct lock_shown s = { .path = "app/terraform.tfstate.tflock", .backend = "s3",
		                        .s3_held = true, .id = "aaaa", .who = "alice@ci",
		                        .operation = "OperationTypeApply" };
		snprintf(s.etag, sizeof(s.etag), "%s",
		         memstore_etag(w.ms, "app/terraform.tfstate.tflock"));
		memstore_remove(w.ms, "app/terraform.tfstate.tflock");
		events_guard(w.ev, &s, "unlocked", 1000, 0);
		CHECK_INT(events_poll(w.ev), 0);
		check_drain(r, "unlocked\tapp/terraform.tfstate\ts3\taaaa\talice@ci\tOperationTypeApply\tuid=1000\n");
		events_close(r);
		watch_free(&w);
	}
}

/* A lock made through the mount is told at once, "locked" by its uid; the looks that then
 * find it, and its Info replaced (another ETag, the same ID), tell nothing more; its
 * release by someone else is told. */
static void test_made_lock_told_once(void)
{
	struct watch w;
	watch_new(&w, false, 0, NULL);
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	CHECK_INT(events_poll(w.ev), 0);
	memstore_put(w.ms, "app/terraform.tfstate.tflock", LOCK_A, 0);
	struct lock_shown s = { .path = "app/terraform.tfstate.tflock", .backend = "s3",
	                        .s3_held = true, .id = "aaaa", .who = "alice@ci",
	                        .operation = "tfstatefs freeze" };
	events_guard(w.ev, &s, "locked", 1000, 0);
	CHECK_INT(events_poll(w.ev), 0);
	memstore_put(w.ms, "app/terraform.tfstate.tflock",
	             "{\"ID\":\"aaaa\",\"Who\":\"alice@ci\",\"Info\":\"surgery\"}", 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "locked\tapp/terraform.tfstate\ts3\taaaa\talice@ci\ttfstatefs freeze\tuid=1000\n");
	memstore_remove(w.ms, "app/terraform.tfstate.tflock");
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "unlocked\tapp/terraform.tfstate\ts3\taaaa\talice@ci\t-\t-\n");
	events_close(r);
	watch_free(&w);
}

static void remove_object(struct memstore *ms, void *key)
{
	memstore_remove(ms, key);
}

/* A lockfile gone between a look's listing and its read was not there: nothing is told,
 * not a lock held by "?" that the next looks tell changed or unlocked. */
static void test_lock_gone_since_the_listing_is_not_told(void)
{
	struct watch w;
	watch_new(&w, false, 0, NULL);
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	CHECK_INT(events_poll(w.ev), 0);
	char key[] = "app/terraform.tfstate.tflock";
	memstore_put(w.ms, key, LOCK_A, 0);
	memstore_before(w.ms, MS_GET, remove_object, key);
	CHECK_INT(events_poll(w.ev), 0);
	CHECK_INT(events_poll(w.ev), 0);
	check_drain(r, "");
	events_close(r);
	watch_free(&w);
}

/* The log: one JSON object a line, the same events. */
static void test_log_lines_are_json(void)
{
	char path[] = "/tmp/tfs-events-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct watch w;
	watch_new(&w, false, 0, path);
	CHECK_INT(events_poll(w.ev), 0);
	memstore_put(w.ms, "app/terraform.tfstate.tflock", LOCK_A, 0);
	CHECK_INT(events_poll(w.ev), 0);
	guard_lines(w.ev, 1);
	watch_free(&w);
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		json_object *o = json_tokener_parse(line);
		CHECK(o != NULL);
		json_object *e = NULL;
		CHECK(o && json_object_object_get_ex(o, "event", &e));
		CHECK_STR(json_object_get_string(e), n == 0 ? "locked" : "refused");
		json_object_put(o);
		n++;
	}
	CHECK_INT(n, 2);
	if (f)
		fclose(f);
	unlink(path);
}

/* "events_polls N" from the stats. */
static long polls_done(struct events *ev)
{
	char *stats = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&stats, &len);
	events_put_stats(ev, out);
	fclose(out);
	const char *p = strstr(stats, "events_polls\t");
	long n = p ? strtol(p + strlen("events_polls\t"), NULL, 10) : -1;
	free(stats);
	return n;
}

struct polls_probe {
	struct events *ev;
	long seen;
};

static void polls_while_listing(struct memstore *ms, void *ctx)
{
	struct polls_probe *probe = ctx;
	(void)ms;
	probe->seen = polls_done(probe->ev);
}

/* events_polls counts looks done: while the first is still listing it is 0, so a script
 * (or a test) that waits for 1 knows the baseline is set, and a change made after that is
 * told. It was counted when a look began, and a lock taken during the baseline's listing
 * was never told. */
static void test_polls_count_looks_done(void)
{
	struct watch w;
	watch_new(&w, false, 0, NULL);
	struct polls_probe probe = { .ev = w.ev, .seen = -1 };
	struct events_reader *r = NULL;
	CHECK_INT(events_open(w.ev, &r), 0);
	memstore_before(w.ms, MS_LIST, polls_while_listing, &probe);
	CHECK_INT(events_poll(w.ev), 0);
	CHECK_INT(probe.seen, 0);
	CHECK_INT(polls_done(w.ev), 1);
	events_close(r);
	watch_free(&w);
}

int main(void)
{
	test_diff_of_two_looks();
	test_cost_of_a_look();
	test_a_look_scans_the_table_whatever_lock_ttl();
	test_bounded_buffers_and_lost_lines();
	test_ten_thousand_events_past_a_stuck_reader();
	test_interrupt_and_shutdown();
	test_guard_unlock_told_once();
	test_log_lines_are_json();
	test_polls_count_looks_done();
	test_made_lock_told_once();
	test_lock_gone_since_the_listing_is_not_told();
	return check_report("events");
}
