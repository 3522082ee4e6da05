/* RFC 3339 timestamps: the ISO 8601 profile that AWS and Terraform write. */
#include "util/timeparse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

/* Reads exactly n decimal digits. */
static bool read_digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static bool expect(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS", checked field by field so that timegm never normalizes a
 * nonsense date (Feb 30) into a real one. */
static bool read_date_time(const char **s, struct tm *tm)
{
	int y, mo, d, h, mi, sec;
	if (!read_digits(s, 4, &y) || !expect(s, '-') || !read_digits(s, 2, &mo) ||
	    !expect(s, '-') || !read_digits(s, 2, &d) || !(expect(s, 'T') || expect(s, 't')) ||
	    !read_digits(s, 2, &h) || !expect(s, ':') || !read_digits(s, 2, &mi) ||
	    !expect(s, ':') || !read_digits(s, 2, &sec))
		return false;
	/* 60 is a leap second, which timegm folds into the next minute. */
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return false;
	*tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                   .tm_hour = h, .tm_min = mi, .tm_sec = sec };
	return true;
}

/* "Z" or "+HH:MM"/"-HH:MM" into seconds east of UTC. A time without a zone is local to some
 * unknown place, so it is refused. */
static bool read_zone(const char **s, long *offset)
{
	if (expect(s, 'Z') || expect(s, 'z')) {  /* RFC 3339 allows either case */
		*offset = 0;
		return true;
	}
	int sign = **s == '+' ? 1 : **s == '-' ? -1 : 0;
	int h, m;
	if (!sign)
		return false;
	(*s)++;
	if (!read_digits(s, 2, &h) || !expect(s, ':') || !read_digits(s, 2, &m) || h > 23 || m > 59)
		return false;
	*offset = sign * (h * 3600L + m * 60L);
	return true;
}

/* Fractions of a second: at least one digit; digits past the third are dropped
 * (truncated, not rounded: a time never moves into the next millisecond). */
int time_parse_rfc3339_ms(const char *s, int64_t *out)
{
	struct tm tm;
	long offset;
	int ms = 0;
	if (!s || !read_date_time(&s, &tm))
		return -EINVAL;
	if (expect(&s, '.')) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (int scale = 100; *s >= '0' && *s <= '9'; s++, scale /= 10)
			ms += (*s - '0') * scale;
	}
	if (!read_zone(&s, &offset) || *s)
		return -EINVAL;
	*out = ((int64_t)timegm(&tm) - offset) * 1000 + ms;
	return 0;
}

int time_parse_rfc3339(const char *s, time_t *out)
{
	int64_t ms;
	int rc = time_parse_rfc3339_ms(s, &ms);
	if (rc == 0)   /* whole seconds, rounded down also before 1970 */
		*out = (time_t)(ms / 1000 - (ms % 1000 < 0));
	return rc;
}

void time_format_rfc3339_ms(int64_t ms, char *out, size_t len)
{
	int64_t secs = ms / 1000, frac = ms % 1000;
	if (frac < 0) {             /* before 1970: the fraction counts up from the second below */
		secs--;
		frac += 1000;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	size_t n = gmtime_r(&t, &tm) ? strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
	if (n == 0)
		snprintf(out, len, "-");
	else
		snprintf(out + n, len - n, ".%03dZ", (int)frac);
}
