/* An S3 bucket as a store: the store interface's calls on s3.c, its pages and errors in
 * the interface's types. */
#include "s3/s3store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct s3_store {
	struct store base;
	struct s3_client *s3;
};

static struct s3_client *client_of(struct store *st)
{
	return ((struct s3_store *)st)->s3;
}

/* Hands an S3 page to the store's caller as a store page (the strings move over). */
struct relay {
	store_page_fn on_page;
	void *ctx;
};

/* The page's objects in the store's type (the strings move over), or NULL. */
static struct store_object *take_objects(struct s3_list_page *page)
{
	struct store_object *out = calloc(page->nobjects ? page->nobjects : 1, sizeof(*out));
	for (size_t i = 0; out && i < page->nobjects; i++) {
		struct s3_object *o = &page->objects[i];
		out[i] = (struct store_object){ .key = o->key, .key_len = o->key_len,
		                                .size = o->size, .mtime = o->mtime, .etag = o->etag };
		o->key = o->etag = NULL;
	}
	return out;
}

static int relay_page(void *ctx, struct s3_list_page *page)
{
	struct relay *r = ctx;
	struct store_object *objects = take_objects(page);
	if (!objects) {
		s3_list_page_free(page);
		return -ENOMEM;
	}
	struct store_page out = { .covered = page->covered, .cover_after = page->cover_after,
	                          .cover_upto = page->cover_upto, .prefixes = page->prefixes,
	                          .nprefixes = page->nprefixes,
	                          .names_complete = page->names_complete };
	if (page->names_only) {
		out.names = objects;
		out.nnames = page->nobjects;
	} else {
		out.objects = objects;
		out.nobjects = page->nobjects;
	}
	page->cover_after = page->cover_upto = NULL;
	page->prefixes = NULL;
	page->nprefixes = 0;
	s3_list_page_free(page);
	return r->on_page(r->ctx, &out);
}

static int list_all(struct store *st, const char *prefix, store_page_fn on_page, void *ctx)
{
	struct relay r = { on_page, ctx };
	return s3_list_all(client_of(st), prefix, relay_page, &r);
}

static int list_dir(struct store *st, const char *prefix, store_page_fn on_page, void *ctx)
{
	struct relay r = { on_page, ctx };
	return s3_list_each(client_of(st), prefix, "/", relay_page, &r);
}

static int get(struct store *st, const struct store_range *r, char **data, size_t *data_len,
               struct store_object_info *info, struct store_error *err)
{
	struct s3_object_info si = { 0 };
	struct aws_error ae = { 0 };
	int rc = s3_get_object(client_of(st), r, data, data_len, &si, &ae);
	aws_error_to_store(&ae, err);
	*info = (struct store_object_info){ .size = si.size, .mtime = si.mtime };
	memcpy(info->etag, si.etag, sizeof(info->etag));
	memcpy(info->version_id, si.version_id, sizeof(info->version_id));
	return rc;
}

/* Hands a page of versions to the store's caller: the entries are already the store's
 * type, so the array moves over whole. */
struct version_relay {
	store_version_fn on_page;
	void *ctx;
};

static int relay_versions(void *ctx, struct s3_version_page *page)
{
	struct version_relay *r = ctx;
	struct store_version_page out = { page->versions, page->nversions };
	page->versions = NULL;
	page->nversions = 0;
	s3_version_page_free(page);
	return r->on_page(r->ctx, &out);
}

static int list_versions(struct store *st, const char *prefix, store_version_fn on_page,
                         void *ctx)
{
	struct version_relay r = { on_page, ctx };
	return s3_list_versions_each(client_of(st), prefix, relay_versions, &r);
}

static int versioning(struct store *st, enum store_versioning *out, struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = s3_bucket_versioning(client_of(st), out, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static int md5(struct store *st, const char *key, const char *if_match, char hex[33],
               struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = s3_object_md5(client_of(st), key, if_match, hex, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static int delete_if(struct store *st, const char *key, const char *if_match,
                     struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = s3_delete_object(client_of(st), key, if_match, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static int put_if(struct store *st, const struct store_put *p, char etag[STORE_ETAG_MAX],
                  struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = s3_put_object(client_of(st), p, etag, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static void stats(struct store *st, struct store_stats *out)
{
	s3_client_stats(client_of(st), out);
}

static void store_gone(struct store *st)
{
	free(st);
}

static const struct store_ops s3_store_ops = {
	.list_all = list_all, .list_dir = list_dir, .get = get, .list_versions = list_versions,
	.versioning = versioning, .md5 = md5, .delete_if = delete_if, .put_if = put_if,
	.stats = stats, .free = store_gone,
};

int s3_store_new(struct s3_client *c, struct store **out)
{
	struct s3_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &s3_store_ops;
	s->s3 = c;
	*out = &s->base;
	return 0;
}
