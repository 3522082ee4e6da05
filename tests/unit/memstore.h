/* An object store and a lock table held in memory, behind the same interfaces as S3 and
 * DynamoDB (store/store.h, store/table.h), for unit tests of the layers above them: the
 * tree, the guard, the reports. A test sets its contents, makes a call fail or answer
 * late, changes it between two calls, and counts the calls. */
#ifndef TFS_TEST_MEMSTORE_H
#define TFS_TEST_MEMSTORE_H
#include <stdbool.h>
#include <stddef.h>
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
	MS_OPS
};

struct memstore *memstore_new(void);
void memstore_free(struct memstore *ms);

/* The two faces; they stay the memstore's (store_free and table_free do nothing). */
struct store *memstore_store(struct memstore *ms);
struct table *memstore_table(struct memstore *ms);

/* Objects: put (the ETag is the quoted MD5 of the bytes, as S3 gives it for a single
 * part) and remove. mtime 0 means a fixed time. */
void memstore_put(struct memstore *ms, const char *key, const char *data, time_t mtime);
void memstore_remove(struct memstore *ms, const char *key);
bool memstore_has(struct memstore *ms, const char *key);
/* Gives object key (already put) another ETag, as S3 gives a multipart upload or an
 * SSE-KMS / SSE-C object: one that is not the MD5 of its bytes. md5 still answers the
 * MD5 of the bytes; get and delete_if compare If-Match with this ETag. */
void memstore_set_etag(struct memstore *ms, const char *key, const char *etag);
/* The ETag of key, or "" when absent (a static buffer). */
const char *memstore_etag(struct memstore *ms, const char *key);

/* Table items: a lock (info) or a digest item, by LockID. */
void memstore_put_lock(struct memstore *ms, const char *lock_id, const char *info);
void memstore_put_digest(struct memstore *ms, const char *lock_id, const char *digest);
void memstore_remove_item(struct memstore *ms, const char *lock_id);
bool memstore_has_item(struct memstore *ms, const char *lock_id);

/* The next count calls of op answer rc with HTTP status (0: no answer at all); applied
 * says whether a delete still happened before its answer was lost. */
void memstore_fail(struct memstore *ms, enum memstore_op op, int count, int rc, long status,
                   bool applied);

/* fn runs once, just before the next call of op does its work (to change the store
 * between two calls of the layer under test). */
void memstore_before(struct memstore *ms, enum memstore_op op,
                     void (*fn)(struct memstore *ms, void *ctx), void *ctx);

/* Listing pages hold at most this many keys (default 1000). */
void memstore_page_size(struct memstore *ms, size_t n);

/* How many calls of op were made. */
unsigned long memstore_calls(struct memstore *ms, enum memstore_op op);
#endif
