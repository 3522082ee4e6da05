/* What the filesystem asks of an object store: listings, reads pinned to a version, a
 * conditional delete, a conditional write (the one write: a lock made on purpose, -o
 * lock_create) and the request counters, in types that belong to no service.
 *
 * One interface, one file per kind of store behind it (s3/s3store.c for S3 and the stores
 * that speak its API; the unit tests' in-memory store), as s3backer's layers each speak
 * one block-store interface. fs/ includes this header and never a service's own.
 * Every call returns 0 or a negative errno: -ENOENT (no such key), -EACCES (refused),
 * -ECANCELED (a condition failed: the object is not the one named), -ENOMEM, and -EIO
 * for anything else once the store has retried what it retries. */
#ifndef TFS_STORE_STORE_H
#define TFS_STORE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What went wrong, as the service said it, for messages and for telling an unclear
 * outcome (no answer, a 5xx) from a clear one. */
struct store_error {
	long status;            /* the service's HTTP status; 0 when no answer arrived */
	char code[96];          /* the service's error code, "" when none */
	char message[256];      /* its message, or the transport's error */
	char request_id[96];
	int attempts;           /* how many times the request was sent */
};

/* One line for a log or a message: "NoSuchKey (HTTP 404): The specified key does not
 * exist. [request 1234]", or "no answer: <transport error>". */
void store_error_describe(const struct store_error *e, char *buf, size_t len);

/* Did the answer leave it open whether a write happened (no answer, a 5xx, a 429)? */
bool store_error_unsure(const struct store_error *e, int rc);

/* One object of a listing. Strings are owned by the page. */
struct store_object {
	char *key;              /* may hold a NUL byte (a key with %00): use key_len */
	size_t key_len;
	uint64_t size;
	time_t mtime;
	char *etag;             /* as the store gives it (S3: with its quotes) */
};

struct store_page {
	struct store_object *objects;
	size_t nobjects;
	/* list_all only, for a caller that answers parts of the listing before it ends; a
	 * store that cannot tell leaves them empty and false.
	 * How far it has got: with this page, every key in (cover_after, cover_upto] has been
	 * handed over (NULL: from the first key; past the last). */
	bool covered;
	char *cover_after, *cover_upto;
	/* What is directly below the prefix, from a listing beside the flat one: keys
	 * (already or still to come in objects too) and subdirectories (full prefixes, with
	 * their '/'). list_dir hands its subdirectories here as well. */
	struct store_object *names;
	size_t nnames;
	char **prefixes;
	size_t nprefixes;
	/* With this page every name directly below the prefix has been handed over, in
	 * objects, names or prefixes. */
	bool names_complete;
};

void store_page_free(struct store_page *page);

/* Takes over one page (it frees it). Returns 0, STORE_LIST_STOP (enough: the listing ends
 * well), or a negative errno that ends the listing. */
typedef int (*store_page_fn)(void *ctx, struct store_page *page);
#define STORE_LIST_STOP 1

/* One version of a key, or a delete marker, as a versioned bucket keeps them. Strings
 * are owned by the page. */
struct store_version {
	char *key;
	size_t key_len;
	char *version_id;       /* "null" for what was written while versioning was off */
	bool latest;            /* the key's current version (or a delete marker: none) */
	bool delete_marker;     /* the key was deleted then; no size, no ETag */
	int64_t mtime_ms;       /* LastModified, in milliseconds since the epoch: the order of a
	                         * lock and the state written under it is often within a second */
	uint64_t size;
	char *etag;             /* NULL for a delete marker */
};

struct store_version_page {
	struct store_version *versions;
	size_t nversions;
};

void store_version_page_free(struct store_version_page *page);

/* Takes over one page of versions (it frees it); returns as store_page_fn. */
typedef int (*store_version_fn)(void *ctx, struct store_version_page *page);

/* Whether the bucket keeps versions. */
enum store_versioning {
	STORE_VERSIONING_OFF,       /* never turned on: each key has one version */
	STORE_VERSIONING_ENABLED,
	STORE_VERSIONING_SUSPENDED, /* was on: old versions stay, new writes replace "null" */
};

/* Which bytes of which object a read wants. */
struct store_range {
	const char *key;
	const char *version_id;     /* NULL: the current version */
	const char *if_match;       /* the ETag the object must still have (-ECANCELED
	                             * otherwise), or NULL */
	uint64_t offset;
	uint64_t len;               /* 0: to the end */
};

/* What a read says about the object. */
struct store_object_info {
	uint64_t size;          /* the whole object's size */
	time_t mtime;
	char etag[130];
	char version_id[256];   /* "" when the store keeps no versions */
};

/* A conditional write: exactly one of if_none_match and if_match. */
#define STORE_ETAG_MAX 130
struct store_put {
	const char *key;
	const char *data;
	size_t len;
	const char *content_type;   /* NULL: application/json */
	bool if_none_match;         /* create only (If-None-Match: *) */
	const char *if_match;       /* replace only this ETag (as the store gave it) */
};

/* What requests of one kind cost, for /.tfstatefs/stats. */
struct store_op_stats {
	const char *op;         /* "LIST", "GET", "Scan"...: static strings */
	unsigned long long requests, attempts, failures, bytes_in;
};

#define STORE_STATS_OPS 8

struct store_stats {
	struct store_op_stats ops[STORE_STATS_OPS];
	size_t nops;
};

struct store;

struct store_ops {
	/* Every key below prefix, flat, pages in no particular order and one at a time (a
	 * store may list key ranges in parallel). Failures are logged by the store. */
	int (*list_all)(struct store *st, const char *prefix, store_page_fn on_page, void *ctx);
	/* The keys directly below prefix (which ends with '/', or is ""), in order. */
	int (*list_dir)(struct store *st, const char *prefix, store_page_fn on_page, void *ctx);
	/* The bytes r names into *data (malloc'd; short at the end of the object). A version
	 * that does not exist, or a delete marker, is -ENOENT. */
	int (*get)(struct store *st, const struct store_range *r, char **data, size_t *data_len,
	           struct store_object_info *info, struct store_error *err);
	/* Every version and delete marker of the keys below prefix: keys in order, each
	 * key's newest first (ListObjectVersions). Failures are logged by the store. */
	int (*list_versions)(struct store *st, const char *prefix, store_version_fn on_page,
	                     void *ctx);
	/* Whether the bucket keeps versions (GetBucketVersioning). */
	int (*versioning)(struct store *st, enum store_versioning *out, struct store_error *err);
	/* The lowercase hex MD5 of key's bytes, read pinned to if_match when given. */
	int (*md5)(struct store *st, const char *key, const char *if_match, char hex[33],
	           struct store_error *err);
	/* Deletes key only while it has ETag if_match; sent once, never retried (the caller
	 * reads again after an unclear answer). */
	int (*delete_if)(struct store *st, const char *key, const char *if_match,
	                 struct store_error *err);
	/* Writes the object p names, only on its condition: if_none_match, only when no
	 * object has that key (-EEXIST otherwise); or if_match, only while the object has
	 * that ETag (-ECANCELED otherwise; -ENOENT when it is gone, where the store tells:
	 * radosgw answers a gone object as a changed one, -ECANCELED). The new ETag (with its
	 * quotes, as listings give it) goes to etag. Sent once, never retried: an unclear
	 * answer (store_error_unsure) leaves it open whether it was written, and the caller
	 * reads the object to know. Written with the mount's SSE-C key when it has one. */
	int (*put_if)(struct store *st, const struct store_put *p, char etag[STORE_ETAG_MAX],
	              struct store_error *err);
	void (*stats)(struct store *st, struct store_stats *out);
	void (*free)(struct store *st);
};

/* A store: implementations embed it as their first member. */
struct store {
	const struct store_ops *ops;
};

static inline int store_list_all(struct store *st, const char *prefix, store_page_fn fn, void *ctx)
{
	return st->ops->list_all(st, prefix, fn, ctx);
}

static inline int store_list_dir(struct store *st, const char *prefix, store_page_fn fn, void *ctx)
{
	return st->ops->list_dir(st, prefix, fn, ctx);
}

static inline int store_get(struct store *st, const struct store_range *r, char **data,
                            size_t *data_len, struct store_object_info *info,
                            struct store_error *err)
{
	return st->ops->get(st, r, data, data_len, info, err);
}

static inline int store_list_versions(struct store *st, const char *prefix,
                                      store_version_fn fn, void *ctx)
{
	return st->ops->list_versions(st, prefix, fn, ctx);
}

static inline int store_versioning(struct store *st, enum store_versioning *out,
                                   struct store_error *err)
{
	return st->ops->versioning(st, out, err);
}

static inline int store_md5(struct store *st, const char *key, const char *if_match,
                            char hex[33], struct store_error *err)
{
	return st->ops->md5(st, key, if_match, hex, err);
}

static inline int store_delete_if(struct store *st, const char *key, const char *if_match,
                                  struct store_error *err)
{
	return st->ops->delete_if(st, key, if_match, err);
}

static inline int store_put_if(struct store *st, const struct store_put *p,
                               char etag[STORE_ETAG_MAX], struct store_error *err)
{
	return st->ops->put_if(st, p, etag, err);
}

static inline void store_stats(struct store *st, struct store_stats *out)
{
	st->ops->stats(st, out);
}

static inline void store_free(struct store *st)
{
	if (st)
		st->ops->free(st);
}
#endif
