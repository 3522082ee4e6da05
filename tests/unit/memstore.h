/* An object store and a lock table held in memory, behind the same interfaces as S3 and
 * DynamoDB (store/store.h, store/table.h), for unit tests of the layers above them: the
 * tree, the guard, the reports. A test sets its contents, makes a call fail or answer
 * late, changes it between two calls, and counts the calls. */
#ifndef TFS_TEST_MEMSTORE_H
#define TFS_TEST_MEMSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "store/store.h"
#include "store/table.h"

struct memstore;

enum memstore_op {
	MS_LIST,            /* one page of list_all or list_dir */
	MS_GET,
	MS_MD5,
	MS_DELETE,
	MS_SCAN,            /* one whole Scan */
	MS_GETITEM,
	MS_DELETEITEM,
	MS_LISTVERSIONS,    /* one page of list_versions */
	MS_VERSIONING,
	MS_PUT,             /* put_if */
	MS_PUTITEM,         /* the table's put_if */
	MS_OPS
};

struct memstore *memstore_new(void);
void memstore_free(struct memstore *ms);

/* The two faces; they stay the memstore's (store_free and table_free do nothing). */
struct store *memstore_store(struct memstore *ms);
struct table *memstore_table(struct memstore *ms);

/* Objects: put (the ETag is the quoted MD5 of the bytes, as S3 gives it for a single
 * part) and remove. mtime 0 means the clock's time (memstore_clock). */
void memstore_put(struct memstore *ms, const char *key, const char *data, time_t mtime);
void memstore_remove(struct memstore *ms, const char *key);
/* The store's put_if and the table's put_if answer as store.h and table.h say (status 412,
 * 404 and 400 as S3 and DynamoDB give them). A put_if writes as memstore_put does, at the
 * clock's time; its ETag is the quoted MD5 of the bytes. */

/* Versions, as a versioned bucket keeps them. Whether the bucket keeps them (default
 * STORE_VERSIONING_OFF: never turned on; each object is its one "null" version):
 * - ENABLED: a put keeps the bytes it replaces as a noncurrent version, and a remove
 *   (memstore_remove, or a delete_if that deletes) leaves a delete marker, even where
 *   the key holds nothing, as a plain DeleteObject does; each new version and marker gets
 *   the next id, "v1", "v2"... in the order written, over all keys.
 * - SUSPENDED: a put or a remove replaces the key's "null" version (a remove with a
 *   "null" delete marker); other versions stay.
 * Whatever was written while OFF has the version id "null". get reads range.version_id
 * (a delete marker's or an unknown one: -ENOENT) and, unless OFF, says the version id
 * read; list_versions lists keys in order, each key's newest first. */
void memstore_versioning(struct memstore *ms, enum store_versioning v);

/* Put and remove at mtime_ms, milliseconds since the epoch (memstore_put's mtime is whole
 * seconds). */
void memstore_put_at(struct memstore *ms, const char *key, const char *data, int64_t mtime_ms);
void memstore_remove_at(struct memstore *ms, const char *key, int64_t mtime_ms);

/* The time of what has none of its own: memstore_put with mtime 0, memstore_remove, the
 * delete marker of a delete_if, and what a put_if writes. Default: 2025-11-28T09:38:48Z. */
void memstore_clock(struct memstore *ms, int64_t now_ms);

/* The version id of key's current version, or "" when absent (a static buffer). */
const char *memstore_version_id(struct memstore *ms, const char *key);
bool memstore_has(struct memstore *ms, const char *key);
/* Gives object key (already put) another ETag, as S3 gives a multipart upload or an
 * SSE-KMS / SSE-C object: one that is not the MD5 of its bytes. md5 still answers the
 * MD5 of the bytes; get, delete_if and put_if compare If-Match with this ETag. */
void memstore_set_etag(struct memstore *ms, const char *key, const char *etag);
/* The ETag of key, or "" when absent (a static buffer). */
const char *memstore_etag(struct memstore *ms, const char *key);

/* Table items: a lock (info) or a digest item, by LockID. */
void memstore_put_lock(struct memstore *ms, const char *lock_id, const char *info);
void memstore_put_digest(struct memstore *ms, const char *lock_id, const char *digest);
void memstore_remove_item(struct memstore *ms, const char *lock_id);
bool memstore_has_item(struct memstore *ms, const char *lock_id);

/* The next count calls of op answer rc with HTTP status (0: no answer at all); applied
 * says whether a delete or a put (its condition holding) still happened before its answer
 * was lost. */
void memstore_fail(struct memstore *ms, enum memstore_op op, int count, int rc, long status,
                   bool applied);

/* fn runs once, just before the next call of op does its work (to change the store
 * between two calls of the layer under test). */
void memstore_before(struct memstore *ms, enum memstore_op op,
                     void (*fn)(struct memstore *ms, void *ctx), void *ctx);

/* Listing pages (list_all, list_dir, list_versions) hold at most this many entries
 * (default 1000). */
void memstore_page_size(struct memstore *ms, size_t n);

/* How list_all hands its pages over. Default: in key order, saying nothing of how far it
 * has got (as a store that cannot tell). With either flag, each page says which keys it
 * covers (store_page's cover_*), as s3's parallel listing does: names_first, a page of the
 * names directly below the prefix first (s3's delimiter listing beside the flat one), one
 * call of MS_LIST more; reverse_pages, the flat pages last first (as key ranges listed at
 * once may come). */
void memstore_list_like_s3(struct memstore *ms, bool names_first, bool reverse_pages);

/* Conditions the store answers as if they were not sent, as some S3-compatible stores
 * do (radosgw 16: If-Match on DeleteObject): an OR of these (0: honours them all). */
#define MS_IGNORE_PUT_IF_NONE_MATCH 1u
#define MS_IGNORE_PUT_IF_MATCH 2u
#define MS_IGNORE_DELETE_IF_MATCH 4u
void memstore_ignore(struct memstore *ms, unsigned conditions);

/* How many calls of op were made. */
unsigned long memstore_calls(struct memstore *ms, enum memstore_op op);
#endif
