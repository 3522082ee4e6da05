/* Unit tests for util/buf.c: appends of every kind, growth, handing over, and the failure that sticks. */
#include "util/buf.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_empty(void)
{
	struct buf b = { 0 };
	CHECK(b.data == NULL);
	char *s = buf_take(&b);
	CHECK_STR(s, "");
	free(s);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	buf_free(&b);
	buf_free(&b);   /* twice is harmless */
}

static void test_appends(void)
{
	struct buf b = { 0 };
	CHECK_INT(buf_append_str(&b, "Host"), 0);
	CHECK_INT(buf_append_char(&b, ':'), 0);
	CHECK_INT(buf_append(&b, " example.com\nignored", 12), 0);
	CHECK_INT(buf_append(&b, NULL, 0), 0);
	CHECK_INT(b.len, 17);
	CHECK_STR(b.data, "Host: example.com");
	CHECK(b.cap > b.len);
	/* Any bytes: a NUL inside counts in len, and one more ends the data. */
	CHECK_INT(buf_append(&b, "a\0b", 3), 0);
	CHECK_INT(b.len, 20);
	CHECK(memcmp(b.data + 17, "a\0b", 4) == 0);
	char *s = buf_take(&b);
	CHECK(s != NULL && memcmp(s, "Host: example.com", 17) == 0);
	CHECK(b.data == NULL && b.len == 0 && !b.failed);
	free(s);
	/* Taken, the buffer starts again. */
	CHECK_INT(buf_append_str(&b, "again"), 0);
	CHECK_STR(b.data, "again");
	buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_growth(void)
{
	struct buf b = { 0 };
	char want[10000];
	bool each_ok = true;   /* after every append: its len, a NUL, room for that NUL */
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char)('a' + i % 26);
		each_ok = each_ok && buf_append_char(&b, want[i]) == 0 && b.len == i + 1 &&
		          b.data[b.len] == '\0' && b.cap > b.len;
	}
	CHECK(each_ok);
	CHECK(memcmp(b.data, want, sizeof(want)) == 0);
	CHECK(b.cap >= sizeof(want) + 1 && b.cap < 2 * (sizeof(want) + 1));
	/* Room made ahead: a later append of that size needs no more. */
	size_t before = b.len;
	CHECK_INT(buf_reserve(&b, 50000), 0);
	CHECK_INT(b.len, before);
	CHECK(b.data[b.len] == '\0');
	size_t cap = b.cap;
	char *data = b.data;
	static char big[50000];
	memset(big, 'x', sizeof(big));
	CHECK_INT(buf_append(&b, big, sizeof(big)), 0);
	CHECK(b.cap == cap && b.data == data);
	CHECK_INT(b.len, before + sizeof(big));
	buf_free(&b);
	/* Reserving before any append already gives a string. */
	CHECK_INT(buf_reserve(&b, 0), 0);
	CHECK_STR(b.data, "");
	buf_free(&b);
}

static int vappend(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vappend(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return rc;
}

static void test_printf(void)
{
	struct buf b = { 0 };
	CHECK_INT(buf_appendf(&b, "%s=%d", "attempts", 4), 0);
	CHECK_INT(buf_appendf(&b, "%s", ""), 0);
	CHECK_INT(vappend(&b, "; %zu bytes in %.1f ms", (size_t)512, 3.14), 0);
	CHECK_STR(b.data, "attempts=4; 512 bytes in 3.1 ms");
	CHECK_INT(b.len, strlen("attempts=4; 512 bytes in 3.1 ms"));
	/* Output longer than the room at hand: the buffer grows first. */
	char long_word[300];
	memset(long_word, 'k', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	size_t before = b.len;
	CHECK_INT(buf_appendf(&b, "[%s]", long_word), 0);
	CHECK_INT(b.len, before + 301);
	CHECK(b.data[before] == '[' && b.data[b.len - 1] == ']' && b.data[b.len] == '\0');
	buf_free(&b);
	/* Into an empty buffer, an empty output is still a string. */
	CHECK_INT(buf_appendf(&b, "%.0s", "gone"), 0);
	CHECK_STR(b.data, "");
	buf_free(&b);
}

static void test_failure_sticks(void)
{
	struct buf b = { 0 };
	CHECK_INT(buf_append_str(&b, "partial"), 0);
	/* More than memory can ever hold: refused, and the buffer is poisoned. */
	CHECK_INT(buf_reserve(&b, SIZE_MAX - 1), -ENOMEM);
	CHECK(b.failed);
	CHECK_STR(b.data, "partial");   /* what was there stays until the buffer goes */
	CHECK_INT(buf_append_str(&b, " more"), -ENOMEM);
	CHECK_INT(buf_append_char(&b, '!'), -ENOMEM);
	CHECK_INT(buf_appendf(&b, "%d", 1), -ENOMEM);
	CHECK_INT(buf_reserve(&b, 0), -ENOMEM);
	CHECK_INT(b.len, 7);
	CHECK(buf_take(&b) == NULL);
	CHECK(b.data == NULL && b.len == 0 && !b.failed);   /* freed: ready again */
	CHECK_INT(buf_append(&b, "ok", 2), 0);
	CHECK_STR(b.data, "ok");
	buf_free(&b);
}

int main(void)
{
	test_empty();
	test_appends();
	test_growth();
	test_printf();
	test_failure_sticks();
	return check_report("buf");
}
