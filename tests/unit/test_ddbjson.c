/* Unit tests for s3/ddbjson.c and ddb_errno: request bodies read back, answers good and hostile. */
#include "s3/ddb.h"
#include "s3/ddbjson.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes and length compared, since an Info may hold a NUL. */
#define CHECK_MEM(got, got_len, want, want_len) do { \
	const char *g_ = (got); \
	size_t gl_ = (got_len), wl_ = (want_len); \
	if (g_ && gl_ == wl_ && memcmp(g_, (want), wl_) == 0) check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_MEM failed: %s (len %zu), want len %zu\n", \
	                               __FILE__, __LINE__, #got, gl_, wl_); } \
} while (0)
#define CHECK_MEM_LIT(got, got_len, lit) CHECK_MEM(got, got_len, lit, sizeof(lit) - 1)

/* An Info as awkward as JSON gets: quotes, backslashes, newlines, a NUL, UTF-8, a DEL. */
static const char info_odd[] = "{\"ID\":\"a\\\"b\",\n\"Who\":\"r\xc3\xa9mi@h\xc3\xb4te\"}"
                                "\0tail\t\x01\x7f/";
#define INFO_ODD_LEN (sizeof(info_odd) - 1)

/* ---- Reading requests back ---- */

/* The request text parsed by json-c (a separate reader from the writer's code paths). */
static struct json_object *parse_back(char *text)
{
	CHECK(text != NULL);
	if (!text)
		return NULL;
	for (const char *p = text; *p; p++)    /* every control byte escaped */
		if ((unsigned char)*p < 0x20) {
			CHECK(!"raw control byte in a request");
			break;
		}
	struct json_object *obj = json_tokener_parse(text);
	CHECK(json_object_is_type(obj, json_type_object));
	free(text);
	return obj;
}

/* The member at a dotted path ("Key.LockID.S"), or NULL. */
static struct json_object *at(struct json_object *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && obj; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(obj, k, &obj))
			return NULL;
	return obj;
}

static const char *str_at(struct json_object *obj, const char *path)
{
	struct json_object *v = at(obj, path);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static size_t nkeys(struct json_object *obj)
{
	return json_object_is_type(obj, json_type_object) ? (size_t)json_object_object_length(obj) : 0;
}

static bool is_true(struct json_object *obj, const char *path)
{
	struct json_object *v = at(obj, path);
	return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* The projection names, exactly as the header promises. */
static void check_scan_names(struct json_object *req)
{
	CHECK_STR(str_at(req, "ProjectionExpression"), "#k, #i, #d");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeNames")), 3);
	CHECK_STR(str_at(req, "ExpressionAttributeNames.#k"), "LockID");
	CHECK_STR(str_at(req, "ExpressionAttributeNames.#i"), "Info");
	CHECK_STR(str_at(req, "ExpressionAttributeNames.#d"), "Digest");
}

static void test_scan_request_first_page(void)
{
	struct json_object *req = parse_back(ddbjson_scan_request("tflocks", "", NULL));
	CHECK_INT(nkeys(req), 4);
	CHECK_STR(str_at(req, "TableName"), "tflocks");
	CHECK(is_true(req, "ConsistentRead"));
	check_scan_names(req);
	CHECK(at(req, "FilterExpression") == NULL);
	CHECK(at(req, "ExpressionAttributeValues") == NULL);
	CHECK(at(req, "ExclusiveStartKey") == NULL);
	json_object_put(req);

	/* NULL is taken as "" (all items). */
	req = parse_back(ddbjson_scan_request("tflocks", NULL, NULL));
	CHECK_INT(nkeys(req), 4);
	CHECK(at(req, "FilterExpression") == NULL);
	json_object_put(req);
}

static void test_scan_request_prefix_and_start(void)
{
	const char *prefix = "my-bucket/env:/r\xc3\xa9seau \"q\"\\";
	const char *start = "my-bucket/env:/r\xc3\xa9seau \"q\"\\/a.tfstate-md5";
	char *text = ddbjson_scan_request("t.b-1_x", prefix, start);
	CHECK(text && strstr(text, "my-bucket/env:/"));   /* '/' is not escaped */
	struct json_object *req = parse_back(text);
	CHECK_INT(nkeys(req), 7);
	CHECK_STR(str_at(req, "TableName"), "t.b-1_x");
	CHECK(is_true(req, "ConsistentRead"));
	check_scan_names(req);
	CHECK_STR(str_at(req, "FilterExpression"), "begins_with(#k, :p)");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues")), 1);
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues.:p")), 1);
	CHECK_STR(str_at(req, "ExpressionAttributeValues.:p.S"), prefix);
	CHECK_INT(nkeys(at(req, "ExclusiveStartKey")), 1);
	CHECK_INT(nkeys(at(req, "ExclusiveStartKey.LockID")), 1);
	CHECK_STR(str_at(req, "ExclusiveStartKey.LockID.S"), start);
	json_object_put(req);

	/* A start key without a prefix: all items, from there. */
	req = parse_back(ddbjson_scan_request("tflocks", "", "b/k"));
	CHECK_INT(nkeys(req), 5);
	CHECK_STR(str_at(req, "ExclusiveStartKey.LockID.S"), "b/k");
	CHECK(at(req, "FilterExpression") == NULL);
	json_object_put(req);
}

static void test_get_request(void)
{
	struct json_object *req = parse_back(ddbjson_get_request("tflocks", "b/env:/x \"y\"\n.tfstate"));
	CHECK_INT(nkeys(req), 3);
	CHECK_STR(str_at(req, "TableName"), "tflocks");
	CHECK(is_true(req, "ConsistentRead"));
	CHECK_INT(nkeys(at(req, "Key")), 1);
	CHECK_INT(nkeys(at(req, "Key.LockID")), 1);
	CHECK_STR(str_at(req, "Key.LockID.S"), "b/env:/x \"y\"\n.tfstate");
	json_object_put(req);
}

static void test_delete_request(void)
{
	struct json_object *req = parse_back(ddbjson_delete_if_info_request("tflocks", "b/k", info_odd,
	                                                                    INFO_ODD_LEN));
	CHECK_INT(nkeys(req), 5);
	CHECK_STR(str_at(req, "TableName"), "tflocks");
	CHECK_STR(str_at(req, "Key.LockID.S"), "b/k");
	CHECK_INT(nkeys(at(req, "Key")), 1);
	CHECK_STR(str_at(req, "ConditionExpression"), "#i = :info");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeNames")), 1);
	CHECK_STR(str_at(req, "ExpressionAttributeNames.#i"), "Info");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues")), 1);
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues.:info")), 1);
	struct json_object *v = at(req, "ExpressionAttributeValues.:info.S");
	CHECK(json_object_is_type(v, json_type_string));
	CHECK_MEM(json_object_get_string(v), (size_t)json_object_get_string_len(v), info_odd,
	          INFO_ODD_LEN);
	CHECK(at(req, "ConsistentRead") == NULL);   /* not a DeleteItem parameter */
	json_object_put(req);

	/* Every byte value survives the trip. */
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	req = parse_back(ddbjson_delete_if_info_request("tflocks", "b/k", all, sizeof(all)));
	v = at(req, "ExpressionAttributeValues.:info.S");
	CHECK_MEM(json_object_get_string(v), (size_t)json_object_get_string_len(v), all, sizeof(all));
	json_object_put(req);

	/* An empty Info and a large one. */
	req = parse_back(ddbjson_delete_if_info_request("tflocks", "b/k", "", 0));
	CHECK_STR(str_at(req, "ExpressionAttributeValues.:info.S"), "");
	json_object_put(req);
	size_t big_len = 300000;
	char *big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = "\"\\\n\0ab"[i % 6];
	req = parse_back(ddbjson_delete_if_info_request("tflocks", "b/k", big, big_len));
	v = at(req, "ExpressionAttributeValues.:info.S");
	CHECK_MEM(json_object_get_string(v), (size_t)json_object_get_string_len(v), big, big_len);
	json_object_put(req);
	free(big);
}

/* The value of a string attribute at path, compared whole (it may hold a NUL). */
#define CHECK_ATTR(req, path, want, want_len) do { \
	struct json_object *v_ = at((req), (path)); \
	CHECK(json_object_is_type(v_, json_type_string)); \
	CHECK_MEM(json_object_get_string(v_), (size_t)json_object_get_string_len(v_), (want), \
	          (want_len)); \
} while (0)

static void test_put_create_request(void)
{
	struct json_object *req = parse_back(ddbjson_put_if_request("tflocks", "b/env:/x.tfstate",
	                                                            info_odd, INFO_ODD_LEN, NULL, 0));
	CHECK_INT(nkeys(req), 3);
	CHECK_STR(str_at(req, "TableName"), "tflocks");
	CHECK_INT(nkeys(at(req, "Item")), 2);
	CHECK_INT(nkeys(at(req, "Item.LockID")), 1);
	CHECK_STR(str_at(req, "Item.LockID.S"), "b/env:/x.tfstate");
	CHECK_INT(nkeys(at(req, "Item.Info")), 1);
	CHECK_ATTR(req, "Item.Info.S", info_odd, INFO_ODD_LEN);
	CHECK_STR(str_at(req, "ConditionExpression"), "attribute_not_exists(LockID)");
	/* DynamoDB refuses names or values the expression does not use. */
	CHECK(at(req, "ExpressionAttributeNames") == NULL);
	CHECK(at(req, "ExpressionAttributeValues") == NULL);
	CHECK(at(req, "Key") == NULL);              /* not a PutItem parameter */
	json_object_put(req);
}

static void test_put_replace_request(void)
{
	static const char old[] = "{\"ID\":\"old\"}\0after";
	struct json_object *req = parse_back(ddbjson_put_if_request("tflocks", "b/k", "{}", 2, old,
	                                                            sizeof(old) - 1));
	CHECK_INT(nkeys(req), 5);
	CHECK_STR(str_at(req, "Item.LockID.S"), "b/k");
	CHECK_ATTR(req, "Item.Info.S", "{}", 2);
	CHECK_STR(str_at(req, "ConditionExpression"), "#i = :old");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeNames")), 1);
	CHECK_STR(str_at(req, "ExpressionAttributeNames.#i"), "Info");
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues")), 1);
	CHECK_INT(nkeys(at(req, "ExpressionAttributeValues.:old")), 1);
	CHECK_ATTR(req, "ExpressionAttributeValues.:old.S", old, sizeof(old) - 1);
	json_object_put(req);

	/* Every byte value survives in both places; an empty old Info is still a condition. */
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	req = parse_back(ddbjson_put_if_request("tflocks", "b/k", all, sizeof(all), all, sizeof(all)));
	CHECK_ATTR(req, "Item.Info.S", all, sizeof(all));
	CHECK_ATTR(req, "ExpressionAttributeValues.:old.S", all, sizeof(all));
	json_object_put(req);
	req = parse_back(ddbjson_put_if_request("tflocks", "b/k", "", 0, "", 0));
	CHECK_STR(str_at(req, "ConditionExpression"), "#i = :old");
	CHECK_STR(str_at(req, "ExpressionAttributeValues.:old.S"), "");
	json_object_put(req);
}

static void test_describe_request(void)
{
	struct json_object *req = parse_back(ddbjson_describe_request("tf-locks.prod_1"));
	CHECK_INT(nkeys(req), 1);
	CHECK_STR(str_at(req, "TableName"), "tf-locks.prod_1");
	json_object_put(req);
	/* Whatever the name, the body stays one JSON object. */
	req = parse_back(ddbjson_describe_request("\"}, \"x\": {\"\\"));
	CHECK_INT(nkeys(req), 1);
	CHECK_STR(str_at(req, "TableName"), "\"}, \"x\": {\"\\");
	json_object_put(req);
}

/* ---- Scan answers ---- */

static int scan_str(const char *body, struct ddb_scan_page *pg)
{
	return ddbjson_parse_scan(body, strlen(body), pg);
}

static bool scan_is_zero(const struct ddb_scan_page *pg)
{
	return !pg->items && !pg->nitems && !pg->next_key;
}

static bool item_is_zero(const struct ddb_item *it)
{
	return !it->lock_id && !it->info && !it->info_len && !it->digest;
}

static const char scan_page[] =
	"{\"Count\":4,\"Items\":["
	"{\"Info\":{\"S\":\"{\\\"ID\\\":\\\"3b1c\\\",\\\"Operation\\\":\\\"OperationTypeApply\\\"}\"},"
	"\"LockID\":{\"S\":\"tf-state/prod/network.tfstate\"}},"
	"{\"LockID\":{\"S\":\"tf-state/prod/network.tfstate-md5\"},"
	"\"Digest\":{\"S\":\"9b2cf535f27731c974343645a3985328\"}},"
	"{\"LockID\":{\"S\":\"tf-state/r\\u00e9seau.tfstate\"},\"Info\":{\"N\":\"12\"},"
	"\"Digest\":{\"BOOL\":true},\"Extra\":{\"L\":[{\"M\":{\"a\":{\"S\":\"b\"}}}]}},"
	"{\"LockID\":{\"S\":\"tf-state/nul.tfstate\"},\"Info\":{\"S\":\"a\\u0000b\"},"
	"\"Digest\":{\"S\":\"ab\\u0000cd\"}}"
	"],\"LastEvaluatedKey\":{\"LockID\":{\"S\":\"tf-state/nul.tfstate\"}},\"ScannedCount\":4}";

static void test_scan_page_with_next_key(void)
{
	struct ddb_scan_page pg;
	CHECK_INT(scan_str(scan_page, &pg), 0);
	CHECK_INT(pg.nitems, 4);
	if (pg.nitems == 4) {
		CHECK_STR(pg.items[0].lock_id, "tf-state/prod/network.tfstate");
		CHECK_MEM_LIT(pg.items[0].info, pg.items[0].info_len,
		              "{\"ID\":\"3b1c\",\"Operation\":\"OperationTypeApply\"}");
		CHECK(pg.items[0].info && pg.items[0].info[pg.items[0].info_len] == '\0');
		CHECK(pg.items[0].digest == NULL);
		CHECK_STR(pg.items[1].lock_id, "tf-state/prod/network.tfstate-md5");
		CHECK(pg.items[1].info == NULL);
		CHECK_INT(pg.items[1].info_len, 0);
		CHECK_STR(pg.items[1].digest, "9b2cf535f27731c974343645a3985328");
		/* Info and Digest of another type are ignored; so are other attributes. */
		CHECK_STR(pg.items[2].lock_id, "tf-state/r\xc3\xa9seau.tfstate");
		CHECK(pg.items[2].info == NULL);
		CHECK(pg.items[2].digest == NULL);
		/* An Info keeps its NUL; a Digest holding one is no digest. */
		CHECK_MEM_LIT(pg.items[3].info, pg.items[3].info_len, "a\0b");
		CHECK(pg.items[3].digest == NULL);
	}
	CHECK_STR(pg.next_key, "tf-state/nul.tfstate");
	ddb_scan_page_free(&pg);
	CHECK(scan_is_zero(&pg));
	ddb_scan_page_free(&pg);   /* a freed page may be freed again */
	ddb_scan_page_free(NULL);
}

static void test_scan_last_page(void)
{
	struct ddb_scan_page pg;
	CHECK_INT(scan_str("{\"Items\":[{\"LockID\":{\"S\":\"b/k\"}}],\"Count\":1,\"ScannedCount\":9}",
	                   &pg), 0);
	CHECK_INT(pg.nitems, 1);
	if (pg.nitems == 1) {
		CHECK_STR(pg.items[0].lock_id, "b/k");
		CHECK(pg.items[0].info == NULL && pg.items[0].digest == NULL);
	}
	CHECK(pg.next_key == NULL);
	ddb_scan_page_free(&pg);

	CHECK_INT(scan_str("{\"Items\":[],\"Count\":0,\"ScannedCount\":0}", &pg), 0);
	CHECK(scan_is_zero(&pg));
	ddb_scan_page_free(&pg);

	/* An empty page that still says where to go on (a filter matched nothing here). */
	CHECK_INT(scan_str("{\"Items\":[],\"LastEvaluatedKey\":{\"LockID\":{\"S\":\"z\"}}}", &pg), 0);
	CHECK_INT(pg.nitems, 0);
	CHECK_STR(pg.next_key, "z");
	ddb_scan_page_free(&pg);

	CHECK_INT(scan_str(" \r\n\t{\"LastEvaluatedKey\":null,\"Items\":[]}\n ", &pg), 0);
	CHECK(pg.next_key == NULL);
	ddb_scan_page_free(&pg);
}

/* LockID with a NUL: no C string can carry it, nor can a path name its state. */
static void test_scan_nul_lock_id_left_out(void)
{
	struct ddb_scan_page pg;
	CHECK_INT(scan_str("{\"Items\":[{\"LockID\":{\"S\":\"a\\u0000b\"},\"Info\":{\"S\":\"x\"}},"
	                   "{\"LockID\":{\"S\":\"c\"}}]}", &pg), 0);
	CHECK_INT(pg.nitems, 1);
	if (pg.nitems == 1)
		CHECK_STR(pg.items[0].lock_id, "c");
	ddb_scan_page_free(&pg);
}

static void test_scan_bad_items(void)
{
	static const char *const bad[] = {
		"{\"Items\":[{\"Info\":{\"S\":\"x\"}}]}",                          /* no LockID */
		"{\"Items\":[{\"LockID\":{\"S\":\"a\"}},{}]}",                     /* a later one */
		"{\"Items\":[{\"LockID\":{\"N\":\"1\"}}]}",
		"{\"Items\":[{\"LockID\":{\"S\":1}}]}",
		"{\"Items\":[{\"LockID\":{\"S\":null}}]}",
		"{\"Items\":[{\"LockID\":\"b/k\"}]}",
		"{\"Items\":[{\"LockID\":null}]}",
		"{\"Items\":[{\"LockID\":[{\"S\":\"b/k\"}]}]}",
		"{\"Items\":[\"b/k\"]}",
		"{\"Items\":[null]}",
		"{\"Items\":[[{\"LockID\":{\"S\":\"b/k\"}}]]}",
		"{\"Items\":{\"LockID\":{\"S\":\"b/k\"}}}",                        /* not an array */
		"{\"Items\":\"\"}",
		"{\"Items\":null}",
		"{\"Items\":7}",
		"{}",                                                              /* no Items */
		"{\"Count\":0}",
		"{\"Items\":[],\"LastEvaluatedKey\":{}}",
		"{\"Items\":[],\"LastEvaluatedKey\":\"b/k\"}",
		"{\"Items\":[],\"LastEvaluatedKey\":[]}",
		"{\"Items\":[],\"LastEvaluatedKey\":{\"LockID\":{\"N\":\"3\"}}}",
		"{\"Items\":[],\"LastEvaluatedKey\":{\"LockID\":{\"S\":\"\"}}}",
		"{\"Items\":[],\"LastEvaluatedKey\":{\"LockID\":{\"S\":\"a\\u0000b\"}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ddb_scan_page pg;
		memset(&pg, 0x5a, sizeof(pg));
		int rc = scan_str(bad[i], &pg);
		if (rc != -EPROTO)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK_INT(rc, -EPROTO);
		CHECK(scan_is_zero(&pg));
	}
	/* Info and Digest of an odd shape are ignored, never a failure. */
	struct ddb_scan_page pg;
	CHECK_INT(scan_str("{\"Items\":[{\"LockID\":{\"S\":\"k\"},\"Info\":{\"S\":5},"
	                   "\"Digest\":\"abc\"},{\"LockID\":{\"S\":\"j\"},\"Info\":null,"
	                   "\"Digest\":{\"S\":[\"x\"]}},{\"LockID\":{\"S\":\"i\"},"
	                   "\"Info\":{\"B\":\"eyJ9\"},\"Digest\":{}}]}", &pg), 0);
	CHECK_INT(pg.nitems, 3);
	for (size_t i = 0; i < pg.nitems; i++)
		CHECK(pg.items[i].info == NULL && pg.items[i].digest == NULL && !pg.items[i].info_len);
	ddb_scan_page_free(&pg);
}

/* What every parser must refuse, whoever sent it. */
#define B(s) { s, sizeof(s) - 1 }
static const struct { const char *body; size_t len; } not_an_answer[] = {
	B(""),
	B("   \n"),
	B("not json"),
	B("<html><body>502 Bad Gateway</body></html>"),
	B("[]"),
	B("[{\"Items\":[]}]"),
	B("null"),
	B("123"),
	B("\"Items\""),
	B("true"),
	B("{\"Items\":[]}x"),                  /* trailing garbage */
	B("{\"Items\":[]}{}"),
	B("{\"Items\":[]}\0"),                 /* a NUL after the object */
	B("{\"Items\":[]} \0 "),
	B("\0{\"Items\":[]}"),
	B("{\"Items\":[], }"),                 /* trailing comma: strict */
	B("{\"Items\":['b/k']}"),
	B("{\"Items\":[]"),                    /* cut short */
	B("{\"Item\":{\"LockID\":{\"S\":\"a\0b\"}}}"),   /* a raw NUL inside a string */
	B("{\"Items\":[/* c */]}"),
};
#undef B

static void test_scan_not_an_answer(void)
{
	for (size_t i = 0; i < sizeof(not_an_answer) / sizeof(not_an_answer[0]); i++) {
		struct ddb_scan_page pg;
		int rc = ddbjson_parse_scan(not_an_answer[i].body, not_an_answer[i].len, &pg);
		if (rc != -EPROTO)
			fprintf(stderr, "scan accepted #%zu\n", i);
		CHECK_INT(rc, -EPROTO);
		CHECK(scan_is_zero(&pg));
	}
	struct ddb_scan_page pg;
	CHECK_INT(ddbjson_parse_scan(NULL, 0, &pg), -EPROTO);
	/* len is obeyed: the bytes after it are not read, a NUL terminator is not needed. */
	char cut[] = "{\"Items\":[]}XXXX";
	CHECK_INT(ddbjson_parse_scan(cut, 12, &pg), 0);
	ddb_scan_page_free(&pg);
	CHECK_INT(ddbjson_parse_scan(cut, 11, &pg), -EPROTO);
}

/* Every prefix of a real page is refused cleanly (valgrind and ASan watch the frees). */
static void test_scan_every_cut(void)
{
	size_t len = strlen(scan_page);
	char *buf = malloc(len);
	memcpy(buf, scan_page, len);
	size_t refused = 0;
	for (size_t n = 0; n < len; n++) {
		struct ddb_scan_page pg;
		char *exact = malloc(n ? n : 1);   /* exactly n bytes: ASan sees any read past */
		memcpy(exact, buf, n);
		if (ddbjson_parse_scan(exact, n, &pg) == -EPROTO && scan_is_zero(&pg))
			refused++;
		ddb_scan_page_free(&pg);
		free(exact);
	}
	CHECK_INT(refused, len);
	free(buf);
}

/* Nesting far past any answer is refused, not recursed into, and at once. */
static void test_deep_nesting(void)
{
	enum { DEPTH = 200000 };
	char *body = malloc(DEPTH * 2 + 64);
	size_t n = (size_t)sprintf(body, "{\"Items\":");
	memset(body + n, '[', DEPTH);
	n += DEPTH;
	memset(body + n, ']', DEPTH);
	n += DEPTH;
	body[n++] = '}';
	clock_t t0 = clock();
	struct ddb_scan_page pg;
	CHECK_INT(ddbjson_parse_scan(body, n, &pg), -EPROTO);
	struct ddb_item it;
	bool found = true;
	CHECK_INT(ddbjson_parse_get(body, n, &it, &found), -EPROTO);
	struct ddb_error e;
	ddbjson_parse_error(body, n, &e);
	CHECK_STR(e.code, "");
	/* Deep, but within reach of a real answer's shape: still fine. */
	CHECK_INT(scan_str("{\"Items\":[{\"LockID\":{\"S\":\"k\"},\"X\":{\"L\":[{\"L\":[{\"M\":"
	                   "{\"a\":{\"L\":[]}}}]}]}}]}", &pg), 0);
	ddb_scan_page_free(&pg);
	CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
	free(body);
}

/* A full page of small items, as a 1 MB Scan page may hold. */
static void test_many_items(void)
{
	enum { N = 5000 };
	char *body = malloc(N * 96 + 128);
	size_t n = (size_t)sprintf(body, "{\"Items\":[");
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(body + n, "%s{\"LockID\":{\"S\":\"b/s%d.tfstate-md5\"},"
		                     "\"Digest\":{\"S\":\"%032d\"}}", i ? "," : "", i, i);
	n += (size_t)sprintf(body + n, "],\"Count\":%d}", N);
	struct ddb_scan_page pg;
	CHECK_INT(ddbjson_parse_scan(body, n, &pg), 0);
	CHECK_INT(pg.nitems, N);
	if (pg.nitems == N) {
		CHECK_STR(pg.items[N - 1].lock_id, "b/s4999.tfstate-md5");
		CHECK_STR(pg.items[N - 1].digest, "00000000000000000000000000004999");
	}
	ddb_scan_page_free(&pg);
	free(body);
}

/* ---- GetItem answers ---- */

static int get_str(const char *body, struct ddb_item *it, bool *found)
{
	return ddbjson_parse_get(body, strlen(body), it, found);
}

static void test_get_found(void)
{
	struct ddb_item it;
	bool found = false;
	CHECK_INT(get_str("{\"Item\":{\"Info\":{\"S\":\"{\\\"Who\\\":\\\"h\\u00f4te\\\"}\\u0000\\n\"},"
	                  "\"LockID\":{\"S\":\"b/k\"},\"Digest\":{\"S\":\"abc\"}}}", &it, &found), 0);
	CHECK(found);
	CHECK_STR(it.lock_id, "b/k");
	CHECK_MEM_LIT(it.info, it.info_len, "{\"Who\":\"h\xc3\xb4te\"}\0\n");
	CHECK(it.info && it.info[it.info_len] == '\0');
	CHECK_STR(it.digest, "abc");
	ddb_item_free(&it);
	CHECK(item_is_zero(&it));
	ddb_item_free(&it);
	ddb_item_free(NULL);

	/* A lock item with no Info attribute at all is still found. */
	CHECK_INT(get_str("{\"Item\":{\"LockID\":{\"S\":\"b/k\"}}}", &it, &found), 0);
	CHECK(found);
	CHECK(it.info == NULL && it.digest == NULL);
	ddb_item_free(&it);
}

static void test_get_not_found(void)
{
	struct ddb_item it;
	bool found = true;
	CHECK_INT(get_str("{}", &it, &found), 0);
	CHECK(!found);
	CHECK(item_is_zero(&it));
	found = true;
	CHECK_INT(get_str("{\"Item\":null}", &it, &found), 0);
	CHECK(!found);
	found = true;
	CHECK_INT(get_str(" {\"ConsumedCapacity\":{\"TableName\":\"t\"}}\n", &it, &found), 0);
	CHECK(!found);
	CHECK(item_is_zero(&it));
}

static void test_get_bad(void)
{
	static const char *const bad[] = {
		"{\"Item\":{}}",
		"{\"Item\":\"b/k\"}",
		"{\"Item\":[]}",
		"{\"Item\":{\"LockID\":{\"N\":\"1\"}}}",
		"{\"Item\":{\"LockID\":{\"S\":\"a\\u0000b\"}}}",   /* not the item asked for */
		"{\"Item\":{\"Info\":{\"S\":\"x\"}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ddb_item it;
		bool found = true;
		memset(&it, 0x5a, sizeof(it));
		CHECK_INT(get_str(bad[i], &it, &found), -EPROTO);
		CHECK(!found);
		CHECK(item_is_zero(&it));
	}
	for (size_t i = 0; i < sizeof(not_an_answer) / sizeof(not_an_answer[0]); i++) {
		struct ddb_item it;
		bool found = true;
		CHECK_INT(ddbjson_parse_get(not_an_answer[i].body, not_an_answer[i].len, &it, &found),
		          -EPROTO);
		CHECK(!found);
		CHECK(item_is_zero(&it));
	}
}

/* ---- DescribeTable answers ---- */

static const char describe_answer[] =
	"{\"Table\":{\"AttributeDefinitions\":[{\"AttributeName\":\"LockID\",\"AttributeType\":\"S\"}],"
	"\"CreationDateTime\":1.795858728E9,\"ItemCount\":3,"
	"\"KeySchema\":[{\"AttributeName\":\"LockID\",\"KeyType\":\"HASH\"}],"
	"\"ProvisionedThroughput\":{\"NumberOfDecreasesToday\":0,\"ReadCapacityUnits\":5,"
	"\"WriteCapacityUnits\":5},\"TableArn\":\"arn:aws:dynamodb:us-east-1:000000000000:table/tflocks\","
	"\"TableName\":\"tflocks\",\"TableSizeBytes\":512,\"TableStatus\":\"ACTIVE\","
	"\"GlobalSecondaryIndexes\":[{\"Projection\":{\"NonKeyAttributes\":[\"a\"]}}]}}";

static int describe_str(const char *body, char *st, size_t stl, char *hk, size_t hkl)
{
	return ddbjson_parse_describe(body, strlen(body), st, stl, hk, hkl);
}

static void test_describe(void)
{
	char st[32], hk[64];
	CHECK_INT(describe_str(describe_answer, st, sizeof(st), hk, sizeof(hk)), 0);
	CHECK_STR(st, "ACTIVE");
	CHECK_STR(hk, "LockID");

	/* A RANGE key first, another status; the HASH element is the one named. */
	CHECK_INT(describe_str("{\"Table\":{\"TableStatus\":\"UPDATING\",\"KeySchema\":["
	                       "{\"KeyType\":\"RANGE\",\"AttributeName\":\"Sort\"},"
	                       "{\"KeyType\":\"HASH\",\"AttributeName\":\"pk\"}]}}",
	                       st, sizeof(st), hk, sizeof(hk)), 0);
	CHECK_STR(st, "UPDATING");
	CHECK_STR(hk, "pk");

	/* Truncated to fit, and a zero-sized buffer is left alone. */
	char s3b[3], h4[4];
	CHECK_INT(describe_str(describe_answer, s3b, sizeof(s3b), h4, sizeof(h4)), 0);
	CHECK_STR(s3b, "AC");
	CHECK_STR(h4, "Loc");
	CHECK_INT(ddbjson_parse_describe(describe_answer, strlen(describe_answer), NULL, 0, hk,
	                                 sizeof(hk)), 0);
	CHECK_STR(hk, "LockID");
}

static void test_describe_bad(void)
{
	static const char *const bad[] = {
		"{}",
		"{\"Table\":null}",
		"{\"Table\":\"tflocks\"}",
		"{\"Table\":{\"KeySchema\":[{\"AttributeName\":\"LockID\",\"KeyType\":\"HASH\"}]}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\"}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[]}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":{\"AttributeName\":\"LockID\","
		"\"KeyType\":\"HASH\"}}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":\"LockID\","
		"\"KeyType\":\"RANGE\"}]}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":7,"
		"\"KeyType\":\"HASH\"}]}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":\"LockID\","
		"\"KeyType\":[\"HASH\"]}]}}",
		"{\"Table\":{\"TableStatus\":1,\"KeySchema\":[{\"AttributeName\":\"LockID\","
		"\"KeyType\":\"HASH\"}]}}",
		/* "LockID\0x" must not pass for LockID. */
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":"
		"\"LockID\\u0000x\",\"KeyType\":\"HASH\"}]}}",
		"{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[null,5,\"HASH\"]}}",
	};
	char st[32], hk[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(st, 'x', sizeof(st));
		memset(hk, 'x', sizeof(hk));
		int rc = describe_str(bad[i], st, sizeof(st), hk, sizeof(hk));
		if (rc != -EPROTO)
			fprintf(stderr, "describe accepted: %s\n", bad[i]);
		CHECK_INT(rc, -EPROTO);
		CHECK_STR(st, "");
		CHECK_STR(hk, "");
	}
	for (size_t i = 0; i < sizeof(not_an_answer) / sizeof(not_an_answer[0]); i++) {
		CHECK_INT(ddbjson_parse_describe(not_an_answer[i].body, not_an_answer[i].len, st,
		                                 sizeof(st), hk, sizeof(hk)), -EPROTO);
		CHECK_STR(st, "");
	}
}

/* ---- Error answers ---- */

static void error_str(const char *body, struct ddb_error *e)
{
	memset(e, 0x5a, sizeof(*e));
	ddbjson_parse_error(body, strlen(body), e);
}

static void test_errors(void)
{
	struct ddb_error e;
	error_str("{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
	          "\"message\":\"Requested resource not found: Table: tflocks not found\"}", &e);
	CHECK_STR(e.code, "ResourceNotFoundException");
	CHECK_STR(e.message, "Requested resource not found: Table: tflocks not found");

	error_str("{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\","
	          "\"Message\":\"The security token included in the request is invalid.\"}", &e);
	CHECK_STR(e.code, "UnrecognizedClientException");
	CHECK_STR(e.message, "The security token included in the request is invalid.");

	/* Both spellings: "message" is DynamoDB's own. */
	error_str("{\"Message\":\"upper\",\"message\":\"lower\",\"__type\":\"a#b\"}", &e);
	CHECK_STR(e.code, "b");
	CHECK_STR(e.message, "lower");

	error_str("{\"__type\":\"ValidationException\",\"message\":\"1 validation error\"}", &e);
	CHECK_STR(e.code, "ValidationException");   /* no '#': the whole __type */

	error_str("{\"__type\":\"a#b#ThrottlingException\"}", &e);
	CHECK_STR(e.code, "ThrottlingException");
	CHECK_STR(e.message, "");

	error_str("{\"__type\":\"com.amazonaws.dynamodb.v20120810#\",\"message\":7}", &e);
	CHECK_STR(e.code, "");
	CHECK_STR(e.message, "");

	error_str("{\"message\":\"no type\"}", &e);
	CHECK_STR(e.code, "");
	CHECK_STR(e.message, "no type");

	error_str("{\"__type\":[\"x#y\"],\"message\":null,\"Message\":\"fallback\"}", &e);
	CHECK_STR(e.code, "");
	CHECK_STR(e.message, "fallback");

	error_str("{\"__type\":\"x#Bad\\u0000Code\"}", &e);   /* cannot be a C string */
	CHECK_STR(e.code, "");
}

static void test_error_truncation(void)
{
	char body[2048], want[401];
	memset(want, 'm', 400);
	want[400] = '\0';
	snprintf(body, sizeof(body), "{\"__type\":\"x#%0200d\",\"message\":\"%s\"}", 7, want);
	struct ddb_error e;
	error_str(body, &e);
	CHECK_INT(strlen(e.code), sizeof(e.code) - 1);
	CHECK_INT(strlen(e.message), sizeof(e.message) - 1);
	CHECK(strncmp(e.message, want, sizeof(e.message) - 1) == 0);
}

/* Anything that is not an error object leaves both fields empty. */
static void test_error_not_json(void)
{
	struct ddb_error e;
	for (size_t i = 0; i < sizeof(not_an_answer) / sizeof(not_an_answer[0]); i++) {
		memset(&e, 0x5a, sizeof(e));
		ddbjson_parse_error(not_an_answer[i].body, not_an_answer[i].len, &e);
		CHECK_STR(e.code, "");
		CHECK_STR(e.message, "");
	}
	memset(&e, 0x5a, sizeof(e));
	ddbjson_parse_error(NULL, 0, &e);
	CHECK_STR(e.code, "");
	CHECK_STR(e.message, "");
	error_str("{\"__type\":\"x#ResourceNotFoundException\"} trailing", &e);
	CHECK_STR(e.code, "");
}

/* ---- errno ---- */

static void test_errno(void)
{
	static const struct { const char *code; int err; } map[] = {
		{ "ResourceNotFoundException", -ENXIO },
		{ "AccessDeniedException", -EACCES },
		{ "UnrecognizedClientException", -EACCES },
		{ "InvalidSignatureException", -EACCES },
		{ "MissingAuthenticationTokenException", -EACCES },
		{ "ExpiredTokenException", -EACCES },
		{ "ConditionalCheckFailedException", -ECANCELED },
		{ "ValidationException", -EINVAL },
		{ "SerializationException", -EINVAL },
		{ "ProvisionedThroughputExceededException", -EIO },
		{ "ThrottlingException", -EIO },
		{ "InternalServerError", -EIO },
		{ "ResourceInUseException", -EIO },
		{ "resourcenotfoundexception", -EIO },      /* codes are exact */
		{ "ResourceNotFoundExceptionX", -EIO },
		{ "", -EIO },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		CHECK_INT(ddb_errno(400, map[i].code), map[i].err);
	CHECK_INT(ddb_errno(500, NULL), -EIO);
	CHECK_INT(ddb_errno(403, ""), -EIO);        /* a body that is not DynamoDB's */
	CHECK_INT(ddb_errno(404, "ResourceNotFoundException"), -ENXIO);
}

/* A request built, answered and parsed: the pieces agree on the item's shape. */
static void test_round_trip(void)
{
	struct json_object *req = parse_back(ddbjson_delete_if_info_request("t", "b/k", info_odd,
	                                                                    INFO_ODD_LEN));
	/* Answer a GetItem with the very attribute the delete would compare. */
	struct json_object *answer = json_object_new_object();
	struct json_object *item = json_object_new_object();
	json_object_object_add(item, "Info", json_object_get(at(req, "ExpressionAttributeValues.:info")));
	json_object_object_add(item, "LockID", json_object_get(at(req, "Key.LockID")));
	json_object_object_add(answer, "Item", item);
	size_t len;
	const char *text = json_object_to_json_string_length(answer, JSON_C_TO_STRING_PRETTY, &len);
	struct ddb_item it;
	bool found = false;
	CHECK_INT(ddbjson_parse_get(text, len, &it, &found), 0);
	CHECK(found);
	CHECK_STR(it.lock_id, "b/k");
	CHECK_MEM(it.info, it.info_len, info_odd, INFO_ODD_LEN);
	ddb_item_free(&it);
	json_object_put(answer);
	json_object_put(req);
}

int main(void)
{
	test_scan_request_first_page();
	test_scan_request_prefix_and_start();
	test_get_request();
	test_delete_request();
	test_put_create_request();
	test_put_replace_request();
	test_describe_request();
	test_scan_page_with_next_key();
	test_scan_last_page();
	test_scan_nul_lock_id_left_out();
	test_scan_bad_items();
	test_scan_not_an_answer();
	test_scan_every_cut();
	test_deep_nesting();
	test_many_items();
	test_get_found();
	test_get_not_found();
	test_get_bad();
	test_describe();
	test_describe_bad();
	test_errors();
	test_error_truncation();
	test_error_not_json();
	test_errno();
	test_round_trip();
	return check_report("ddbjson");
}
