/* A copy of bytes that may hold NULs (S3 keys from %00, DynamoDB strings), NUL-terminated. */
#ifndef TFS_UTIL_MEMDUP_H
#define TFS_UTIL_MEMDUP_H
#include <stdlib.h>
#include <string.h>

/* len bytes of s and a NUL after them, malloc'd; NULL when out of memory. */
static inline char *memdup_nul(const void *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}
#endif
