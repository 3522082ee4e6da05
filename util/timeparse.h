/* RFC 3339 timestamps: the ISO 8601 profile that AWS and Terraform write. */
#ifndef TFS_UTIL_TIMEPARSE_H
#define TFS_UTIL_TIMEPARSE_H
#include <stdint.h>
#include <time.h>

/* Parses an RFC 3339 timestamp such as "2026-11-28T09:38:48.157Z" (or with an offset,
 * "+01:00") into UTC seconds in *out. Returns 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, time_t *out);

/* The same into milliseconds since the epoch, the fraction's first three digits kept (S3's
 * LastModified has milliseconds: a lock and the state written under it are often apart by
 * less than a second). Returns 0 or -EINVAL. */
int time_parse_rfc3339_ms(const char *s, int64_t *out);
#endif
