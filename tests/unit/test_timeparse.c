/* Unit tests for util/timeparse.c: RFC 3339 timestamps, the ones it takes and the ones it refuses. */
#include "util/timeparse.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static void test_rfc3339(void)
{
	static const struct { const char *s; time_t t; } good[] = {
		{ "2026-11-28T09:38:48.157Z", 1795858728 },
		{ "2026-11-28T09:38:48Z", 1795858728 },
		{ "2026-11-28T09:38:48.000+00:00", 1795858728 },
		{ "2026-11-28T09:38:48.999999999Z", 1795858728 },
		{ "2026-11-28T09:38:48+01:30", 1795853328 },
		{ "2026-11-28T09:38:48-05:30", 1795878528 },
		{ "2024-02-29T23:59:59Z", 1709251199 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "2026-12-31T23:59:60Z", 1798761600 },   /* a leap second runs into the next minute */
		{ "2026-11-28t09:38:48z", 1795858728 },   /* RFC 3339 5.6: T and Z in either case */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		time_t t = 12345;
		CHECK_INT(time_parse_rfc3339(good[i].s, &t), 0);
		CHECK_INT(t, good[i].t);
	}
	static const char *const bad[] = {
		"", "garbage", "2026-11-28", "2026-11-28T09:38:48", "2026-11-28 09:38:48Z",
		"2026-11-28T09:38:48.Z", "2026-11-28T09:38:48ZZ", "2026-11-28T09:38:48Z ",
		" 2026-11-28T09:38:48Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z",
		"2026-11-28T24:00:00Z", "2026-11-28T09:60:00Z", "2026-11-28T09:38:61Z",
		"2026-11-28T9:38:48Z", "26-11-28T09:38:48Z", "2026-11-28T09:38:48+0100",
		"2026-11-28T09:38:48+24:00", "2026-11-28T09:38:48+01", "+2026-11-28T09:38:48Z",
		"2026-1l-28T09:38:48Z", "2026-11-28T09:38:48.1.2Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		int rc = time_parse_rfc3339(bad[i], &t);
		if (rc != -EINVAL)
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
		CHECK_INT(rc, -EINVAL);
	}
	time_t t;
	CHECK_INT(time_parse_rfc3339(NULL, &t), -EINVAL);
}

/* Milliseconds: the fraction's first three digits, truncated; the same times refused. */
static void test_rfc3339_ms(void)
{
	static const struct { const char *s; int64_t ms; } good[] = {
		{ "2026-11-28T09:38:48.157Z", 1795858728157 },
		{ "2026-11-28T09:38:48Z", 1795858728000 },
		{ "2026-11-28T09:38:48.1Z", 1795858728100 },
		{ "2026-11-28T09:38:48.05Z", 1795858728050 },
		{ "2026-11-28T09:38:48.999999999Z", 1795858728999 },   /* never rounded up */
		{ "2026-11-28T09:38:48.157714841Z", 1795858728157 },
		{ "2026-11-28T09:38:48.157+01:30", 1795853328157 },
		{ "1970-01-01T00:00:00.001Z", 1 },
		{ "1969-12-31T23:59:59.500Z", -500 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = 12345;
		CHECK_INT(time_parse_rfc3339_ms(good[i].s, &ms), 0);
		CHECK_INT(ms, good[i].ms);
	}
	int64_t ms = 12345;
	CHECK_INT(time_parse_rfc3339_ms("2026-11-28T09:38:48.Z", &ms), -EINVAL);
	CHECK_INT(time_parse_rfc3339_ms("2026-02-29T00:00:00.100Z", &ms), -EINVAL);
	CHECK_INT(time_parse_rfc3339_ms(NULL, &ms), -EINVAL);
	CHECK_INT(ms, 12345);   /* untouched on failure */
}

/* Formatting: milliseconds back to the text parsed above, and before 1970. */
static void test_format_ms(void)
{
	static const struct { int64_t ms; const char *s; } cases[] = {
		{ 1795858728157, "2026-11-28T09:38:48.157Z" },
		{ 1795858728000, "2026-11-28T09:38:48.000Z" },
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ -1000, "1969-12-31T23:59:59.000Z" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[TIME_RFC3339_MS_LEN];
		time_format_rfc3339_ms(cases[i].ms, out, sizeof(out));
		CHECK_STR(out, cases[i].s);
		int64_t back = 0;
		CHECK_INT(time_parse_rfc3339_ms(out, &back), 0);
		CHECK_INT(back, cases[i].ms);
	}
}

int main(void)
{
	test_format_ms();
	test_rfc3339();
	test_rfc3339_ms();
	return check_report("timeparse");
}
