/* Unit tests for fs/lockinfo.c: Terraform lock JSON decoding, escaping, text layout, Created. */
#include "fs/lockinfo.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REAL_LOCK "{\"ID\":\"ef9596cf-ea99-b165-44da-0a3562ab2850\",\"Operation\":\"OperationTypeApply\"," \
	"\"Info\":\"\",\"Who\":\"runner@ci-42\",\"Version\":\"1.11.4\"," \
	"\"Created\":\"2026-11-28T09:38:48.157714841Z\",\"Path\":\"tfstate/team/app/terraform.tfstate\"}"

static struct lockinfo parse_n(const char *body, size_t len)
{
	struct lockinfo li;
	int rc = lockinfo_parse(body, len, &li);
	CHECK_INT(rc, 0);
	return li;
}

static struct lockinfo parse(const char *body)
{
	return parse_n(body, strlen(body));
}

static bool contains(const char *s, const char *part)
{
	return s && strstr(s, part);
}

static bool all_null(const struct lockinfo *li)
{
	return !li->id && !li->path && !li->operation && !li->who && !li->version &&
	       !li->created && !li->info;
}

/* Each line: "Name:" alone, or "Name:" padded with spaces to column 11 then a value
 * that does not start with a space. No control characters other than the '\n's. */
static bool layout_ok(const char *text)
{
	if (!text || !*text || text[strlen(text) - 1] != '\n')
		return false;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		const char *colon = memchr(line, ':', (size_t)(nl - line));
		if (!colon || colon == line)
			return false;
		size_t len = (size_t)(nl - line), name = (size_t)(colon - line) + 1;
		if (len != name) {
			if (len <= 11 || line[11] == ' ')
				return false;
			for (size_t i = name; i < 11; i++)
				if (line[i] != ' ')
					return false;
		}
		for (const char *c = line; c < nl; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return false;
		line = nl + 1;
	}
	return true;
}

static void check_format_layout(const struct lockinfo *li)
{
	char *text = lockinfo_format(li, "s3");
	CHECK(layout_ok(text));
	free(text);
}

static void test_real_lock(void)
{
	struct lockinfo li = parse(REAL_LOCK);
	CHECK(li.problem == NULL);
	CHECK_STR(li.id, "ef9596cf-ea99-b165-44da-0a3562ab2850");
	CHECK_STR(li.info, "");
	char *text = lockinfo_format(&li, "s3");
	CHECK_STR(text,
	          "ID:        ef9596cf-ea99-b165-44da-0a3562ab2850\n"
	          "Path:      tfstate/team/app/terraform.tfstate\n"
	          "Operation: OperationTypeApply\n"
	          "Who:       runner@ci-42\n"
	          "Version:   1.11.4\n"
	          "Created:   2026-11-28T09:38:48.157714841Z\n"
	          "Info:\n"
	          "Backend:   s3\n");
	CHECK(layout_ok(text));
	free(text);
	lockinfo_free(&li);
	CHECK(li.id == NULL && li.problem == NULL);
}

static void test_info_and_whitespace(void)
{
	struct lockinfo li = parse(" \n{\"ID\":\"a\",\"Operation\":\"OperationTypePlan\","
	                           "\"Info\":\"planning for review\",\"Who\":\"w\",\"Version\":\"1.10.0\","
	                           "\"Created\":\"2026-01-02T03:04:05Z\",\"Path\":\"b/k\"}\r\n\t ");
	CHECK(li.problem == NULL);
	CHECK_STR(li.info, "planning for review");
	char *text = lockinfo_format(&li, "s3");
	CHECK(contains(text, "\nInfo:      planning for review\nBackend:   s3\n"));
	free(text);
	lockinfo_free(&li);
}

/* The problem line is the last line and shows when there is a problem. */
static void test_problem_line(void)
{
	struct lockinfo li = parse("{\"ID\":\"x\"}");
	char *text = lockinfo_format(&li, "s3");
	CHECK_STR(text,
	          "ID:        x\n"
	          "Path:\n"
	          "Operation:\n"
	          "Who:\n"
	          "Version:\n"
	          "Created:\n"
	          "Info:\n"
	          "Backend:   s3\n"
	          "Problem:   missing Path, Operation, Who, Version, Created, Info\n");
	free(text);
	lockinfo_free(&li);
}

static void test_not_json(void)
{
	struct lockinfo li = parse("{\"ID\":\"ef9596cf\",\"Who\":\"run");
	CHECK_STR(li.problem, "not JSON: unexpected end of data at byte 27");
	CHECK(all_null(&li));
	check_format_layout(&li);
	lockinfo_free(&li);

	static const char binary[] = { 0x1f, (char)0x8b, 0x08, 0x00, (char)0xff, 0x01 };
	li = parse_n(binary, sizeof(binary));
	CHECK(contains(li.problem, "not JSON: "));
	CHECK(contains(li.problem, " at byte 0"));
	CHECK(all_null(&li));
	check_format_layout(&li);
	lockinfo_free(&li);

	li = parse("{\"ID\":\"a\",}");   /* Go rejects a trailing comma; strict json-c too */
	CHECK(contains(li.problem, "not JSON: "));
	lockinfo_free(&li);

	li = parse_n("", 0);
	CHECK_STR(li.problem, "not JSON: empty");
	lockinfo_free(&li);
	li = parse(" \r\n\t");
	CHECK_STR(li.problem, "not JSON: empty");
	lockinfo_free(&li);
	CHECK_INT(lockinfo_parse(NULL, 0, &li), 0);
	CHECK_STR(li.problem, "not JSON: empty");
	lockinfo_free(&li);
}

static void test_not_object(void)
{
	struct lockinfo li = parse("[\"ID\",\"x\"]");
	CHECK_STR(li.problem, "not a JSON object (an array)");
	CHECK(all_null(&li));
	lockinfo_free(&li);
	li = parse("42");
	CHECK_STR(li.problem, "not a JSON object (a number)");
	lockinfo_free(&li);
	li = parse("null");
	CHECK_STR(li.problem, "not a JSON object (null)");
	lockinfo_free(&li);
	li = parse("\"a string\"");
	CHECK_STR(li.problem, "not a JSON object (a string)");
	lockinfo_free(&li);
	li = parse("nul");
	CHECK_STR(li.problem, "not JSON: unexpected end of data at byte 3");
	lockinfo_free(&li);
}

static void test_deep(void)
{
	char body[4096];
	size_t n = 0;
	n += (size_t)snprintf(body, sizeof(body), "{\"ID\":");
	for (int i = 0; i < 1000; i++)
		body[n++] = '[';
	struct lockinfo li = parse_n(body, n);
	CHECK(contains(li.problem, "not JSON: nesting too deep at byte "));
	CHECK(all_null(&li));
	lockinfo_free(&li);

	/* Nesting under the limit is JSON, just not a lock. */
	li = parse("{\"ID\":\"a\",\"x\":[[[[{\"y\":1}]]]]}");
	CHECK(contains(li.problem, "unknown fields: x"));
	CHECK_STR(li.id, "a");
	lockinfo_free(&li);
}

static void test_huge(void)
{
	size_t len = (64u << 10) + 1;
	char *body = malloc(len);
	CHECK(body != NULL);
	if (!body)
		return;
	memset(body, ' ', len);
	memcpy(body, REAL_LOCK, strlen(REAL_LOCK));
	struct lockinfo li = parse_n(body, len);
	CHECK_STR(li.problem, "larger than 64 KiB (65537 bytes)");
	CHECK(all_null(&li));
	lockinfo_free(&li);
	/* Exactly 64 KiB is still read. */
	li = parse_n(body, len - 1);
	CHECK(li.problem == NULL);
	CHECK_STR(li.who, "runner@ci-42");
	lockinfo_free(&li);
	free(body);
}

static void test_missing_and_types(void)
{
	struct lockinfo li = parse("{\"ID\":\"a\",\"Operation\":\"OperationTypeApply\",\"Info\":\"\","
	                           "\"Version\":\"1.11.4\",\"Path\":\"b/k\"}");
	CHECK_STR(li.problem, "missing Who, Created");
	CHECK_STR(li.id, "a");
	CHECK_STR(li.path, "b/k");
	CHECK(li.who == NULL && li.created == NULL);
	check_format_layout(&li);
	lockinfo_free(&li);

	li = parse("{\"ID\":12,\"Operation\":\"OperationTypeApply\",\"Info\":null,\"Who\":[\"w\"],"
	           "\"Version\":true,\"Created\":{\"s\":1},\"Path\":\"b/k\"}");
	CHECK_STR(li.problem, "ID is a number, not a string; Who is an array, not a string; "
	                      "Version is a boolean, not a string; Created is an object, not a string; "
	                      "Info is null, not a string");
	CHECK(li.id == NULL && li.who == NULL && li.info == NULL);
	CHECK_STR(li.operation, "OperationTypeApply");
	CHECK_STR(li.path, "b/k");
	check_format_layout(&li);
	lockinfo_free(&li);

	li = parse("{}");
	CHECK_STR(li.problem, "missing ID, Path, Operation, Who, Version, Created, Info");
	lockinfo_free(&li);
}

static void test_unknown_and_trailing(void)
{
	struct lockinfo li = parse("{\"ID\":\"a\",\"Operation\":\"o\",\"Info\":\"\",\"Who\":\"w\","
	                           "\"Version\":\"v\",\"Created\":\"c\",\"Path\":\"p\","
	                           "\"foo\":1,\"bar\\n\":\"x\"} junk");
	CHECK_STR(li.problem, "unknown fields: foo, bar\\n; trailing data at byte 106");
	CHECK_STR(li.who, "w");
	lockinfo_free(&li);

	li = parse("{\"ID\":\"a\",\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1}");
	CHECK(contains(li.problem, "; unknown fields: a, b, c, d, e, \xe2\x80\xa6"));
	CHECK(!contains(li.problem, ", f"));
	lockinfo_free(&li);

	li = parse(REAL_LOCK "{}");
	CHECK_STR(li.problem, "trailing data at byte 215");
	CHECK_STR(li.id, "ef9596cf-ea99-b165-44da-0a3562ab2850");
	lockinfo_free(&li);

	li = parse_n(REAL_LOCK "\0", strlen(REAL_LOCK) + 1);
	CHECK_STR(li.problem, "trailing data at byte 215");
	lockinfo_free(&li);
}

/* Go matches names case-insensitively; an exact name wins over another casing. */
static void test_case(void)
{
	struct lockinfo li = parse("{\"id\":\"lower\",\"ID\":\"exact\",\"who\":\"w\",\"OPERATION\":\"o\","
	                           "\"Info\":\"\",\"Version\":\"v\",\"Created\":\"c\",\"Path\":\"p\"}");
	CHECK_STR(li.id, "exact");
	CHECK_STR(li.who, "w");
	CHECK_STR(li.operation, "o");
	CHECK_STR(li.problem, "unknown fields: id");
	lockinfo_free(&li);
}

static void test_escaping(void)
{
	struct lockinfo li = parse("{\"Who\":\"evil\\nID:        fake\",\"Info\":\"a\\tb\\r\\u0001\\u001b[31m"
	                           "\\u007f\\\\z\\u0000end\",\"Path\":\"b/\xc3\xa9t\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x94\x92\","
	                           "\"Operation\":\"x\xff\xc3(\xed\xa0\x80\xc0\xaf\",\"Version\":\"\xc2\x9b" "1\"}");
	CHECK_STR(li.who, "evil\\nID:        fake");
	CHECK_STR(li.info, "a\\tb\\r\\x01\\x1b[31m\\x7f\\\\z\\x00end");
	CHECK_STR(li.path, "b/\xc3\xa9t\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x94\x92");   /* valid UTF-8 kept */
	CHECK_STR(li.operation, "x\\xff\\xc3(\\xed\\xa0\\x80\\xc0\\xaf");        /* invalid escaped */
	CHECK_STR(li.version, "\\xc2\\x9b" "1");                                  /* C1 control */
	/* Invalid UTF-8 is not JSON as Terraform writes it: it is escaped and also reported. */
	CHECK(li.problem && contains(li.problem, "Operation is not valid UTF-8"));
	CHECK(li.problem && !contains(li.problem, "Path is not valid"));
	char *text = lockinfo_format(&li, "s3");
	CHECK(contains(text, "\nWho:       evil\\nID:        fake\n"));
	CHECK(layout_ok(text));
	free(text);
	lockinfo_free(&li);
}

static void test_cap(void)
{
	char body[8192];
	int n = snprintf(body, sizeof(body), "{\"ID\":\"");
	for (int i = 0; i < 3000; i++)
		body[n++] = 'a';
	n += snprintf(body + n, sizeof(body) - (size_t)n, "\",\"Who\":\"");
	for (int i = 0; i < 600; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\\n");
	n += snprintf(body + n, sizeof(body) - (size_t)n, "\"}");
	struct lockinfo li = parse_n(body, (size_t)n);
	CHECK_INT(strlen(li.id), 1024 + 3);
	CHECK(strcmp(li.id + 1024, "\xe2\x80\xa6") == 0);
	/* Cut between escapes, never inside one: 512 "\n" fill 1024 bytes. */
	CHECK_INT(strlen(li.who), 1024 + 3);
	CHECK(strncmp(li.who + 1020, "\\n\\n\xe2\x80\xa6", 7) == 0);
	check_format_layout(&li);
	lockinfo_free(&li);
}

static void test_format_edges(void)
{
	struct lockinfo li = { 0 };
	char *text = lockinfo_format(&li, NULL);
	CHECK_STR(text, "ID:\nPath:\nOperation:\nWho:\nVersion:\nCreated:\nInfo:\nBackend:\n");
	free(text);
	/* A hand-made struct with a raw newline still gives one line per field. */
	char who[] = "a\nb";
	li.who = who;
	text = lockinfo_format(&li, "dynamodb");
	CHECK(contains(text, "\nWho:       a?b\n"));
	CHECK(contains(text, "\nBackend:   dynamodb\n"));
	CHECK(layout_ok(text));
	free(text);
}

static void check_time(const char *created, int want_rc, time_t want)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", created);
	struct lockinfo li = { .created = buf };
	time_t t = 0;
	int rc = lockinfo_created_time(&li, &t);
	CHECK_INT(rc, want_rc);
	if (rc == 0 && want_rc == 0)
		CHECK_INT(t, want);
	if (rc != want_rc)
		fprintf(stderr, "  created: %s\n", created);
}

static void test_created_time(void)
{
	const time_t base = 1795858728;   /* 2026-11-28T09:38:48Z */
	check_time("2026-11-28T09:38:48.157714841Z", 0, base);
	check_time("2026-11-28T09:38:48Z", 0, base);
	check_time("2026-11-28T09:38:48.1Z", 0, base);
	check_time("2026-11-28T09:38:48.1234567891234Z", 0, base);
	check_time("2026-11-28T10:38:48+01:00", 0, base);
	check_time("2026-11-28T04:08:48.5-05:30", 0, base);
	check_time("1970-01-01T00:00:00Z", 0, 0);
	check_time("2024-02-29T00:00:00Z", 0, 1709164800);
	check_time("2025-02-29T00:00:00Z", -EINVAL, 0);
	check_time("2026-13-01T00:00:00Z", -EINVAL, 0);
	check_time("2026-11-28T24:00:00Z", -EINVAL, 0);
	check_time("2026-11-28T09:38:48", -EINVAL, 0);
	check_time("2026-11-28T09:38:48.Z", -EINVAL, 0);
	check_time("2026-11-28 09:38:48Z", -EINVAL, 0);
	check_time("2026-11-28T09:38:48Zjunk", -EINVAL, 0);
	check_time("2026-11-28T09:38:48+0100", -EINVAL, 0);
	check_time("2026-11-28T09:38", -EINVAL, 0);
	check_time("garbage", -EINVAL, 0);
	check_time("", -EINVAL, 0);
	struct lockinfo none = { 0 };
	time_t t;
	CHECK_INT(lockinfo_created_time(&none, &t), -EINVAL);

	/* Straight from a parsed lock. */
	struct lockinfo li = parse(REAL_LOCK);
	CHECK_INT(lockinfo_created_time(&li, &t), 0);
	CHECK_INT(t, base);
	lockinfo_free(&li);
}

int main(void)
{
	test_real_lock();
	test_info_and_whitespace();
	test_problem_line();
	test_not_json();
	test_not_object();
	test_deep();
	test_huge();
	test_missing_and_types();
	test_unknown_and_trailing();
	test_case();
	test_escaping();
	test_cap();
	test_format_edges();
	test_created_time();
	return check_report("lockinfo");
}
