/* One open state file: its bytes as of open(), fetched in ranged chunks pinned by ETag. */
#ifndef TFS_FS_READER_H
#define TFS_FS_READER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "s3/s3.h"

/* Bytes fetched per request; one chunk is cached per open file, so memory stays bounded
 * whatever the state's size. */
#define READER_CHUNK (8u << 20)

struct reader;

/* Opens key: one ranged GET of the first chunk, which also tells the object's current
 * size and ETag (*info). Later chunks are read with If-Match on that ETag, so one open
 * file never mixes two versions. Returns 0, -ENOENT, -EACCES, -EIO (logged). */
int reader_open(struct s3_client *s3, const char *key, struct reader **out,
                struct s3_object_info *info);

/* Copies up to size bytes from offset into buf. Returns the count (0 at the end), or
 * -ESTALE when the object was replaced since open (logged), -EIO, -ENOMEM.
 * Safe to call from several threads on one reader. */
ssize_t reader_read(struct reader *r, char *buf, size_t size, uint64_t offset);

void reader_close(struct reader *r);
#endif
