/* DynamoDB's JSON protocol for Terraform's lock table: request bodies and parsed answers. */
#include "s3/ddbjson.h"
#include "util/memdup.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX   (64u << 20)   /* far above any answer (a Scan page holds 1 MB of items) */
#define DEPTH_MAX  32            /* DescribeTable nests about 6 deep; deeper input is hostile */

/* ---- Requests ---- */

/* Adds val under key. A NULL val (out of memory) or a failed add spoils the request, so
 * that a builder checks once at the end. */
static void put(struct json_object *obj, const char *key, struct json_object *val, bool *ok)
{
	if (!obj || !val || json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		*ok = false;
	}
}

/* {"S": s}, len bytes of any value (NUL included). */
static struct json_object *attr_s(const char *s, size_t len)
{
	if (len > INT_MAX)
		return NULL;
	struct json_object *v = json_object_new_object();
	bool ok = true;
	put(v, "S", json_object_new_string_len(s, (int)len), &ok);
	if (!ok) {
		json_object_put(v);
		return NULL;
	}
	return v;
}

/* {"LockID": {"S": lock_id}}: the primary key of an item. */
static struct json_object *lock_key(const char *lock_id)
{
	struct json_object *k = json_object_new_object();
	bool ok = true;
	put(k, "LockID", attr_s(lock_id, strlen(lock_id)), &ok);
	if (!ok) {
		json_object_put(k);
		return NULL;
	}
	return k;
}

/* {"name1": "value1", ...} from n pairs of strings. */
static struct json_object *string_map(const char *const *pairs, size_t n)
{
	struct json_object *m = json_object_new_object();
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++)
		put(m, pairs[2 * i], json_object_new_string(pairs[2 * i + 1]), &ok);
	if (!ok) {
		json_object_put(m);
		return NULL;
	}
	return m;
}

/* The request's text (malloc'd), or NULL when building it ran out of memory. Consumes req. */
static char *finish(struct json_object *req, bool ok)
{
	char *text = NULL;
	if (req && ok) {
		/* '/' stays unescaped: lock IDs are paths, and traces read better without "\/". */
		const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
		                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
		text = s ? strdup(s) : NULL;
	}
	json_object_put(req);
	return text;
}

static struct json_object *request_new(const char *table, bool *ok)
{
	struct json_object *req = json_object_new_object();
	*ok = req != NULL;
	put(req, "TableName", json_object_new_string(table), ok);
	return req;
}

char *ddbjson_scan_request(const char *table, const char *lock_id_prefix, const char *start_key)
{
	static const char *const names[] = { "#k", "LockID", "#i", "Info", "#d", "Digest" };
	bool ok;
	struct json_object *req = request_new(table, &ok);
	put(req, "ConsistentRead", json_object_new_boolean(1), &ok);
	put(req, "ProjectionExpression", json_object_new_string("#k, #i, #d"), &ok);
	put(req, "ExpressionAttributeNames", string_map(names, 3), &ok);
	if (lock_id_prefix && *lock_id_prefix) {
		put(req, "FilterExpression", json_object_new_string("begins_with(#k, :p)"), &ok);
		struct json_object *values = json_object_new_object();
		put(values, ":p", attr_s(lock_id_prefix, strlen(lock_id_prefix)), &ok);
		put(req, "ExpressionAttributeValues", values, &ok);
	}
	if (start_key)
		put(req, "ExclusiveStartKey", lock_key(start_key), &ok);
	return finish(req, ok);
}

char *ddbjson_get_request(const char *table, const char *lock_id)
{
	bool ok;
	struct json_object *req = request_new(table, &ok);
	put(req, "Key", lock_key(lock_id), &ok);
	put(req, "ConsistentRead", json_object_new_boolean(1), &ok);
	return finish(req, ok);
}

/* The condition that the item's Info is exactly info: "#i = <value>", Info by its
 * expression name as the Scan names it. */
static void info_condition(struct json_object *req, const char *value, const char *info,
                           size_t info_len, bool *ok)
{
	static const char *const names[] = { "#i", "Info" };
	char expr[32];
	snprintf(expr, sizeof(expr), "#i = %s", value);
	put(req, "ConditionExpression", json_object_new_string(expr), ok);
	put(req, "ExpressionAttributeNames", string_map(names, 1), ok);
	struct json_object *values = json_object_new_object();
	put(values, value, attr_s(info, info_len), ok);
	put(req, "ExpressionAttributeValues", values, ok);
}

char *ddbjson_delete_if_info_request(const char *table, const char *lock_id, const char *info,
                                     size_t info_len)
{
	bool ok;
	struct json_object *req = request_new(table, &ok);
	put(req, "Key", lock_key(lock_id), &ok);
	info_condition(req, ":info", info, info_len, &ok);
	return finish(req, ok);
}

char *ddbjson_put_if_request(const char *table, const char *lock_id, const char *info,
                             size_t info_len, const char *if_info, size_t if_info_len)
{
	bool ok;
	struct json_object *req = request_new(table, &ok);
	struct json_object *item = lock_key(lock_id);
	put(item, "Info", attr_s(info, info_len), &ok);
	put(req, "Item", item, &ok);
	/* Terraform's own condition for a new lock; LockID is no reserved word. */
	if (!if_info)
		put(req, "ConditionExpression", json_object_new_string("attribute_not_exists(LockID)"),
		    &ok);
	else
		info_condition(req, ":old", if_info, if_info_len, &ok);
	return finish(req, ok);
}

char *ddbjson_describe_request(const char *table)
{
	bool ok;
	struct json_object *req = request_new(table, &ok);
	return finish(req, ok);
}

/* ---- Answers ---- */

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* The whole body as one JSON object into *root (the caller puts it). Returns 0, -EPROTO
 * (not JSON, not an object, or bytes after it other than blanks), or -ENOMEM. */
static int parse_root(const char *body, size_t len, struct json_object **root)
{
	*root = NULL;
	if (!body || len > BODY_MAX)
		return -EPROTO;
	struct json_tokener *tok = json_tokener_new_ex(DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	/* Trailing bytes are allowed here only to be checked below: json-c would otherwise
	 * stop at a NUL and call what came before it the whole answer. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	struct json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object) || !blank(body + end, len - end)) {
		json_object_put(obj);
		return -EPROTO;
	}
	*root = obj;
	return 0;
}

/* The member key of obj, NULL when absent or JSON null. */
static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

/* A JSON string that can be used as a C string (no NUL inside), or NULL. */
static const char *cstring(struct json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* The string of a DynamoDB attribute value {"S": ...}, or NULL for any other type. */
static struct json_object *attr_string(struct json_object *item, const char *name)
{
	struct json_object *s = member(member(item, name), "S");
	return json_object_is_type(s, json_type_string) ? s : NULL;
}

void ddb_item_free(struct ddb_item *item)
{
	if (!item)
		return;
	free(item->lock_id);
	free(item->info);
	free(item->digest);
	memset(item, 0, sizeof(*item));
}

/* Fills *item from one item object. Returns 0, 1 when the item is to be left out (a LockID
 * holding a NUL: no C string, and no S3 key a path can name, can carry it), -EPROTO (no
 * string LockID), or -ENOMEM. */
static int parse_item(struct json_object *obj, struct ddb_item *item)
{
	memset(item, 0, sizeof(*item));
	struct json_object *id = attr_string(obj, "LockID");
	if (!id)
		return -EPROTO;
	if (!cstring(id))
		return 1;
	struct json_object *info = attr_string(obj, "Info");
	/* A Digest is hex: one holding a NUL is as good as none. */
	const char *digest = cstring(attr_string(obj, "Digest"));
	item->lock_id = strdup(json_object_get_string(id));
	if (info) {
		item->info_len = (size_t)json_object_get_string_len(info);
		item->info = memdup_nul(json_object_get_string(info), item->info_len);
	}
	item->digest = digest ? strdup(digest) : NULL;
	if (!item->lock_id || (info && !item->info) || (digest && !item->digest)) {
		ddb_item_free(item);
		return -ENOMEM;
	}
	return 0;
}

void ddb_scan_page_free(struct ddb_scan_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nitems; i++)
		ddb_item_free(&p->items[i]);
	free(p->items);
	free(p->next_key);
	memset(p, 0, sizeof(*p));
}

static int parse_items(struct json_object *items, struct ddb_scan_page *out)
{
	if (!json_object_is_type(items, json_type_array))
		return -EPROTO;
	size_t n = json_object_array_length(items);
	if (n && !(out->items = calloc(n, sizeof(*out->items))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = parse_item(json_object_array_get_idx(items, i), &out->items[out->nitems]);
		if (rc < 0)
			return rc;
		if (rc == 0)
			out->nitems++;
	}
	return 0;
}

/* LastEvaluatedKey: absent on the last page; else the LockID to start the next one from,
 * which must be something a request can carry back. */
static int parse_next_key(struct json_object *key, struct ddb_scan_page *out)
{
	if (!key)
		return 0;
	const char *id = cstring(attr_string(key, "LockID"));
	if (!id || !*id)
		return -EPROTO;
	out->next_key = strdup(id);
	return out->next_key ? 0 : -ENOMEM;
}

int ddbjson_parse_scan(const char *body, size_t len, struct ddb_scan_page *out)
{
	memset(out, 0, sizeof(*out));
	struct json_object *root;
	int rc = parse_root(body, len, &root);
	if (rc == 0)
		rc = parse_items(member(root, "Items"), out);
	if (rc == 0)
		rc = parse_next_key(member(root, "LastEvaluatedKey"), out);
	if (rc < 0)
		ddb_scan_page_free(out);
	json_object_put(root);
	return rc;
}

int ddbjson_parse_get(const char *body, size_t len, struct ddb_item *item, bool *found)
{
	memset(item, 0, sizeof(*item));
	*found = false;
	struct json_object *root;
	int rc = parse_root(body, len, &root);
	struct json_object *obj = member(root, "Item");
	if (rc == 0 && obj) {
		/* The item asked for has a C-string LockID: one that is not is another item. */
		rc = parse_item(obj, item);
		if (rc == 1)
			rc = -EPROTO;
		*found = rc == 0;
	}
	json_object_put(root);
	return rc;
}

/* The name of the HASH element of a KeySchema array, or NULL. */
static const char *hash_key_of(struct json_object *schema)
{
	if (!json_object_is_type(schema, json_type_array))
		return NULL;
	size_t n = json_object_array_length(schema);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(schema, i);
		const char *type = cstring(member(e, "KeyType"));
		if (type && strcmp(type, "HASH") == 0)
			return cstring(member(e, "AttributeName"));
	}
	return NULL;
}

int ddbjson_parse_describe(const char *body, size_t len, char *status, size_t status_len,
                           char *hash_key, size_t hash_key_len)
{
	if (status_len)
		status[0] = '\0';
	if (hash_key_len)
		hash_key[0] = '\0';
	struct json_object *root;
	int rc = parse_root(body, len, &root);
	if (rc < 0)
		return rc;
	struct json_object *table = member(root, "Table");
	const char *st = cstring(member(table, "TableStatus"));
	const char *hk = hash_key_of(member(table, "KeySchema"));
	if (st && hk) {
		snprintf(status, status_len, "%s", st);
		snprintf(hash_key, hash_key_len, "%s", hk);
	} else {
		rc = -EPROTO;
	}
	json_object_put(root);
	return rc;
}

void ddbjson_parse_error(const char *body, size_t len, struct ddb_error *out)
{
	memset(out, 0, sizeof(*out));
	struct json_object *root;
	if (parse_root(body, len, &root) < 0)
		return;
	const char *type = cstring(member(root, "__type"));
	const char *hash = type ? strrchr(type, '#') : NULL;
	/* A bare name without a '#' is taken whole: it is still the best code there is. */
	snprintf(out->code, sizeof(out->code), "%s", hash ? hash + 1 : type ? type : "");
	const char *msg = cstring(member(root, "message"));
	if (!msg)
		msg = cstring(member(root, "Message"));
	snprintf(out->message, sizeof(out->message), "%s", msg ? msg : "");
	json_object_put(root);
}
