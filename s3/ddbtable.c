/* Terraform's DynamoDB lock table as a lock table: Scan pages, a consistent GetItem, a
 * conditional DeleteItem and PutItem on ddb.c, in the interface's types. */
#include "s3/ddbtable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ddb_table {
	struct table base;
	struct ddb_client *ddb;
	char *description;
};

static struct ddb_client *client_of(struct table *t)
{
	return ((struct ddb_table *)t)->ddb;
}

/* Moves a DynamoDB item's strings into a table item. */
static void item_take(struct ddb_item *from, struct table_item *to)
{
	*to = (struct table_item){ .lock_id = from->lock_id, .info = from->info,
	                           .info_len = from->info_len, .digest = from->digest };
	*from = (struct ddb_item){ 0 };
}

/* Hands each item of the pages on, page after page; a server that repeats its
 * LastEvaluatedKey would never end, so that is an error. */
static int scan(struct table *t, const char *prefix, table_item_fn on_item, void *ctx,
                struct store_error *err)
{
	struct aws_error ae = { 0 };
	char *start = NULL;
	size_t plen = strlen(prefix);
	int rc;
	do {
		struct ddb_scan_page page;
		if ((rc = ddb_scan_page(client_of(t), prefix, start, &page, &ae)) < 0)
			break;
		for (size_t i = 0; i < page.nitems && rc == 0; i++) {
			if (strncmp(page.items[i].lock_id, prefix, plen) != 0)
				continue;
			struct table_item item;
			item_take(&page.items[i], &item);
			rc = on_item(ctx, &item);
			table_item_free(&item);
		}
		bool repeated = page.next_key && start && strcmp(page.next_key, start) == 0;
		free(start);
		start = page.next_key;
		page.next_key = NULL;
		ddb_scan_page_free(&page);
		if (rc == 0 && repeated) {
			snprintf(ae.message, sizeof(ae.message), "the Scan repeated its LastEvaluatedKey");
			rc = -EIO;
		}
	} while (rc == 0 && start);
	free(start);
	aws_error_to_store(&ae, err);
	return rc;
}

static int get(struct table *t, const char *lock_id, struct table_item *item,
               struct store_error *err)
{
	struct ddb_item di = { 0 };
	struct aws_error ae = { 0 };
	int rc = ddb_get_item(client_of(t), lock_id, &di, &ae);
	aws_error_to_store(&ae, err);
	if (rc == 0)
		item_take(&di, item);
	ddb_item_free(&di);
	return rc;
}

static int delete_if_info(struct table *t, const char *lock_id, const char *info,
                          size_t info_len, struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = ddb_delete_item_if_info(client_of(t), lock_id, info, info_len, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static int put_if(struct table *t, const char *lock_id, const char *info, size_t info_len,
                  const char *if_info, size_t if_info_len, struct store_error *err)
{
	struct aws_error ae = { 0 };
	int rc = ddb_put_item_if(client_of(t), lock_id, info, info_len, if_info, if_info_len, &ae);
	aws_error_to_store(&ae, err);
	return rc;
}

static const char *describe(const struct table *t)
{
	return ((const struct ddb_table *)t)->description;
}

static void stats(struct table *t, struct store_stats *out)
{
	ddb_client_stats(client_of(t), out);
}

static void table_gone(struct table *t)
{
	struct ddb_table *d = (struct ddb_table *)t;
	free(d->description);
	free(d);
}

static const struct table_ops ddb_table_ops = {
	.scan = scan, .get = get, .delete_if_info = delete_if_info, .put_if = put_if,
	.describe = describe, .stats = stats, .free = table_gone,
};

int ddb_table_new(struct ddb_client *c, struct table **out)
{
	struct ddb_table *d = calloc(1, sizeof(*d));
	if (!d || asprintf(&d->description, "DynamoDB table %s at %s", ddb_client_table(c),
	                   ddb_client_endpoint(c)) < 0) {
		free(d);
		return -ENOMEM;
	}
	d->base.ops = &ddb_table_ops;
	d->ddb = c;
	*out = &d->base;
	return 0;
}
