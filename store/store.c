/* What every store and lock table shares: error lines, pages and items freed. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "store/table.h"

void store_error_describe(const struct store_error *e, char *buf, size_t len)
{
	if (!e->status) {
		snprintf(buf, len, "no answer: %s", e->message[0] ? e->message : "transport error");
		return;
	}
	snprintf(buf, len, "%s (HTTP %ld)%s%s%s%s%s", e->code[0] ? e->code : "error", e->status,
	         e->message[0] ? ": " : "", e->message, e->request_id[0] ? " [request " : "",
	         e->request_id, e->request_id[0] ? "]" : "");
}

bool store_error_unsure(const struct store_error *e, int rc)
{
	return rc != -ENOMEM && (e->status == 0 || e->status >= 500 || e->status == 429);
}

static void objects_free(struct store_object *objects, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(objects[i].key);
		free(objects[i].etag);
	}
	free(objects);
}

void store_page_free(struct store_page *page)
{
	objects_free(page->objects, page->nobjects);
	objects_free(page->names, page->nnames);
	for (size_t i = 0; i < page->nprefixes; i++)
		free(page->prefixes[i]);
	free(page->prefixes);
	free(page->cover_after);
	free(page->cover_upto);
	*page = (struct store_page){ 0 };
}

void store_version_page_free(struct store_version_page *page)
{
	for (size_t i = 0; i < page->nversions; i++) {
		free(page->versions[i].key);
		free(page->versions[i].version_id);
		free(page->versions[i].etag);
	}
	free(page->versions);
	page->versions = NULL;
	page->nversions = 0;
}

void table_item_free(struct table_item *item)
{
	free(item->lock_id);
	free(item->info);
	free(item->digest);
	*item = (struct table_item){ 0 };
}
