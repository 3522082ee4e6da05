/* One open state file: its bytes as of open(), fetched in ranged chunks pinned by ETag,
 * the next chunks of a file read in order fetched ahead while the current one is read.
 * Every open file draws its chunks from one memory budget (-o max_cache_mb). */
#ifndef TFS_FS_READER_H
#define TFS_FS_READER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "store/store.h"

/* Bytes fetched per request, and how many chunks past the one being read a file read
 * in order has on their way. */
#define READER_CHUNK (8u << 20)
#define READER_AHEAD 2
/* A read the budget has no room for fetches this much (or what was asked, if more) on
 * its own: slower, but memory stays bounded by the budget plus one of these per FUSE
 * thread. */
#define READER_MIN_FETCH (256u << 10)

/* The memory all open files' chunks share. */
struct reader_budget;

struct reader_stats {
	uint64_t bytes;             /* held in chunks now */
	uint64_t peak_bytes;
	uint64_t limit_bytes;
	uint64_t ahead_fetches;     /* chunks fetched ahead of the reader */
	uint64_t ahead_hits;        /* of those, read from before they were dropped */
	uint64_t small_fetches;     /* reads the budget had no room for */
};

int reader_budget_new(size_t limit_bytes, struct reader_budget **out);
void reader_budget_free(struct reader_budget *b);
void reader_budget_stats(struct reader_budget *b, struct reader_stats *out);

struct reader;

/* Opens key (its version version_id, or NULL for the current one): one ranged GET of the
 * first chunk, which also tells the object's size and ETag (*info). Later chunks are read
 * with If-Match on that ETag, so one open file never mixes two versions. Returns 0,
 * -ENOENT, -EACCES, -EIO (logged). */
int reader_open(struct store *store, struct reader_budget *budget, const char *key,
                const char *version_id, struct reader **out, struct store_object_info *info);

/* Copies up to size bytes from offset into buf. Returns the count (0 at the end), or
 * -ESTALE when the object was replaced since open (logged), -EIO, -ENOMEM.
 * Safe to call from several threads on one reader. */
ssize_t reader_read(struct reader *r, char *buf, size_t size, uint64_t offset);

/* Logs a failed GET of key once and gives the errno a read returns: -ENOENT (gone since
 * it was listed), -ESTALE (changed under an If-Match), -EACCES, -ENOMEM, else -EIO. */
int reader_get_failed(const char *key, int rc, const struct store_error *err);

/* Waits for the reader's fetches ahead, then frees it and gives its memory back. */
void reader_close(struct reader *r);
#endif
