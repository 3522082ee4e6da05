/* One lock as the filesystem shows it: fetched from S3, decoded, kept with its ETag. */
#ifndef TFS_FS_LOCK_H
#define TFS_FS_LOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "fs/lockinfo.h"
#include "s3/s3.h"

/* Lock objects larger than this are shown as a problem, not parsed. */
#define LOCK_MAX_BYTES (64u << 10)

struct lock_view {
	char *raw;              /* the object's bytes (at most LOCK_MAX_BYTES + 1) */
	size_t raw_len;
	char *text;             /* what `cat` of the .tflock file shows */
	size_t text_len;
	char etag[130];
	time_t mtime;
	struct lockinfo info;
};

/* Is name a lock file's name ("<state>.tflock")? */
bool lock_name(const char *name);

/* Reads the lock object key and decodes it. Returns 0, -ENOENT when there is no lock,
 * or -EACCES / -EIO / -ENOMEM (logged). */
int lock_fetch(struct s3_client *s3, const char *key, struct lock_view **out);
void lock_view_free(struct lock_view *v);
#endif
