/* RFC 3339 timestamps: the ISO 8601 profile that AWS and Terraform write. */
#ifndef TFS_UTIL_TIMEPARSE_H
#define TFS_UTIL_TIMEPARSE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parses an RFC 3339 timestamp such as "2026-11-28T09:38:48.157Z" (or with an offset,
 * "+01:00") into UTC seconds in *out. Returns 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, time_t *out);

/* The same into milliseconds since the epoch, the fraction's first three digits kept (S3's
 * LastModified has milliseconds: a lock and the state written under it are often apart by
 * less than a second). Returns 0 or -EINVAL. */
int time_parse_rfc3339_ms(const char *s, int64_t *out);

/* The other way: "2026-12-04T08:31:05.123Z" for ms since the epoch, in out (at least
 * TIME_RFC3339_MS_LEN bytes; "-" for a time gmtime cannot take). */
#define TIME_RFC3339_MS_LEN 40
void time_format_rfc3339_ms(int64_t ms, char *out, size_t len);
#endif
