/* libFuzzer target: the four DynamoDB answer parsers on arbitrary bytes; results whole or empty. */
#include "s3/ddbjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A parsed item: a LockID, and an Info NUL-terminated at its length (ASan checks the reads). */
static void check_item(const struct ddb_item *it)
{
	if (!it->lock_id || (!it->info && it->info_len))
		abort();
	if (it->info && it->info[it->info_len] != '\0')
		abort();
	volatile size_t sink = strlen(it->lock_id) + (it->digest ? strlen(it->digest) : 0);
	(void)sink;
}

static void check_rc(int rc)
{
	if (rc != 0 && rc != -EPROTO && rc != -ENOMEM)
		abort();
}

static void fuzz_scan(const char *data, size_t size)
{
	struct ddb_scan_page pg;
	memset(&pg, 0x5a, sizeof(pg));
	int rc = ddbjson_parse_scan(data, size, &pg);
	check_rc(rc);
	if (rc != 0 && (pg.items || pg.nitems || pg.next_key))
		abort();
	if (pg.nitems && !pg.items)
		abort();
	for (size_t i = 0; i < pg.nitems; i++)
		check_item(&pg.items[i]);
	if (pg.next_key && !pg.next_key[0])   /* an empty start key could never be sent back */
		abort();
	ddb_scan_page_free(&pg);
}

static void fuzz_get(const char *data, size_t size)
{
	struct ddb_item it;
	bool found = true;
	memset(&it, 0x5a, sizeof(it));
	int rc = ddbjson_parse_get(data, size, &it, &found);
	check_rc(rc);
	if (found && rc != 0)
		abort();
	if (found)
		check_item(&it);
	else if (it.lock_id || it.info || it.info_len || it.digest)
		abort();
	ddb_item_free(&it);
}

static void fuzz_describe(const char *data, size_t size)
{
	char status[16], hash_key[8];
	memset(status, 'x', sizeof(status));
	memset(hash_key, 'x', sizeof(hash_key));
	int rc = ddbjson_parse_describe(data, size, status, sizeof(status), hash_key, sizeof(hash_key));
	check_rc(rc);
	if (!memchr(status, '\0', sizeof(status)) || !memchr(hash_key, '\0', sizeof(hash_key)))
		abort();
	if (rc != 0 && (status[0] || hash_key[0]))
		abort();
}

static void fuzz_error(const char *data, size_t size)
{
	struct ddb_error e;
	memset(&e, 0x5a, sizeof(e));
	ddbjson_parse_error(data, size, &e);
	if (!memchr(e.code, '\0', sizeof(e.code)) || !memchr(e.message, '\0', sizeof(e.message)))
		abort();
	if (strchr(e.code, '#'))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *body = (const char *)data;
	fuzz_scan(body, size);
	fuzz_get(body, size);
	fuzz_describe(body, size);
	fuzz_error(body, size);
	return 0;
}
