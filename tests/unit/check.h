/* Minimal unit-test harness: CHECK macros and a closing "N passed, N failed" line. */
#ifndef TFS_TEST_CHECK_H
#define TFS_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
	if (cond) check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (g_ && w_ && strcmp(g_, w_) == 0) check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:  %s\n  want: %s\n", \
	                               __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } \
} while (0)

#define CHECK_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ == w_) check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, want %lld\n", \
	                               __FILE__, __LINE__, #got, g_, w_); } \
} while (0)

/* Substring check that shows the whole text when it fails. */
#define CHECK_HAS(got, sub) do { \
	const char *h_ = (got); \
	if (h_ && strstr(h_, (sub))) check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_HAS failed: %s lacks \"%s\"\n  got: %s\n", \
	                               __FILE__, __LINE__, #got, (sub), h_ ? h_ : "(null)"); } \
} while (0)

/* Writes text to path (a test's fixture), the failure counted. */
static inline void check_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

/* Call last in main(): prints the tally and gives the exit code. */
static inline int check_report(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}
#endif
