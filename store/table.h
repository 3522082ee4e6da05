/* What the filesystem asks of a lock table: Terraform's DynamoDB locking, one item per
 * lock (LockID "<bucket>/<state key>", Info the lock's JSON) and per digest
 * ("<bucket>/<state key>-md5", Digest), behind one interface (s3/ddbtable.c for DynamoDB;
 * the unit tests' in-memory table). Calls return 0 or a negative errno as store.h says;
 * -ENXIO is a table that does not exist. */
#ifndef TFS_STORE_TABLE_H
#define TFS_STORE_TABLE_H
#include <stddef.h>
#include "store/store.h"

struct table_item {
	char *lock_id;
	char *info;             /* Info when it is a string, else NULL; may hold NUL bytes */
	size_t info_len;
	char *digest;           /* Digest when it is a string, else NULL */
};

void table_item_free(struct table_item *item);

/* Takes over one item (the callee frees or keeps its strings and clears them). Returns 0
 * or a negative errno that ends the scan. */
typedef int (*table_item_fn)(void *ctx, struct table_item *item);

struct table;

struct table_ops {
	/* Every item whose LockID starts with prefix, read consistently. */
	int (*scan)(struct table *t, const char *prefix, table_item_fn on_item, void *ctx,
	            struct store_error *err);
	/* Item lock_id, read consistently: 0 (found) or -ENOENT. */
	int (*get)(struct table *t, const char *lock_id, struct table_item *item,
	           struct store_error *err);
	/* Deletes item lock_id only while its Info is exactly info (-ECANCELED otherwise);
	 * sent once. */
	int (*delete_if_info)(struct table *t, const char *lock_id, const char *info,
	                      size_t info_len, struct store_error *err);
	/* Writes item lock_id with this Info (the whole item: nothing else stays), only on a
	 * condition: if_info NULL, only when no item has that LockID (-EEXIST otherwise);
	 * else only while its Info is exactly if_info (-ECANCELED otherwise, the item gone
	 * included: DynamoDB's one ConditionalCheckFailedException does not say which, and
	 * asking costs a read the caller makes anyway). Sent once, as the store's put_if. */
	int (*put_if)(struct table *t, const char *lock_id, const char *info, size_t info_len,
	              const char *if_info, size_t if_info_len, struct store_error *err);
	/* "DynamoDB table NAME at URL": how messages name it. */
	const char *(*describe)(const struct table *t);
	void (*stats)(struct table *t, struct store_stats *out);
	void (*free)(struct table *t);
};

/* A lock table: implementations embed it as their first member. */
struct table {
	const struct table_ops *ops;
};

static inline int table_scan(struct table *t, const char *prefix, table_item_fn fn, void *ctx,
                             struct store_error *err)
{
	return t->ops->scan(t, prefix, fn, ctx, err);
}

static inline int table_get(struct table *t, const char *lock_id, struct table_item *item,
                            struct store_error *err)
{
	return t->ops->get(t, lock_id, item, err);
}

static inline int table_delete_if_info(struct table *t, const char *lock_id, const char *info,
                                       size_t info_len, struct store_error *err)
{
	return t->ops->delete_if_info(t, lock_id, info, info_len, err);
}

static inline int table_put_if(struct table *t, const char *lock_id, const char *info,
                               size_t info_len, const char *if_info, size_t if_info_len,
                               struct store_error *err)
{
	return t->ops->put_if(t, lock_id, info, info_len, if_info, if_info_len, err);
}

static inline const char *table_describe(const struct table *t)
{
	return t->ops->describe(t);
}

static inline void table_stats(struct table *t, struct store_stats *out)
{
	t->ops->stats(t, out);
}

static inline void table_free(struct table *t)
{
	if (t)
		t->ops->free(t);
}
#endif
