/* DynamoDB's JSON protocol for Terraform's lock table: request bodies and parsed answers.
 * Pure functions (no network), so that they can be unit-tested and fuzzed. */
#ifndef TFS_S3_DDBJSON_H
#define TFS_S3_DDBJSON_H
#include <stdbool.h>
#include <stddef.h>

/* One item of the lock table, as far as tfstatefs reads it. Terraform writes two kinds:
 * lock items (LockID "<bucket>/<key>", Info = the lock JSON) and digest items (LockID
 * "<bucket>/<key>-md5", Digest = hex MD5 of the state). Strings are malloc'd copies. */
struct ddb_item {
	char *lock_id;      /* LockID; never NULL in a parsed item */
	char *info;         /* Info when it is a string (S), else NULL; may hold NUL bytes */
	size_t info_len;
	char *digest;       /* Digest when it is a string (S), else NULL */
};

/* One Scan page. */
struct ddb_scan_page {
	struct ddb_item *items;
	size_t nitems;
	char *next_key;     /* LastEvaluatedKey's LockID, or NULL on the last page */
};

/* An error answer: {"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
 * "message":"..."} (some services spell it "Message"). */
struct ddb_error {
	char code[96];      /* the part of __type after '#' ("" when absent) */
	char message[256];
};

/* Request bodies (malloc'd JSON text, NULL when out of memory). Every string is escaped
 * as JSON requires, any bytes included. */

/* Scan of table, consistent, projecting LockID, Info and Digest through expression
 * attribute names (#k, #i, #d: never a reserved word); only LockIDs starting with
 * lock_id_prefix when it is not "" (FilterExpression begins_with(#k, :p)); from
 * start_key (the previous page's next_key) when not NULL. */
char *ddbjson_scan_request(const char *table, const char *lock_id_prefix, const char *start_key);

/* GetItem of LockID lock_id, ConsistentRead true. */
char *ddbjson_get_request(const char *table, const char *lock_id);

/* DeleteItem of LockID lock_id only while its Info is exactly info (info_len bytes):
 * ConditionExpression "#i = :info", ExpressionAttributeNames {"#i":"Info"}. */
char *ddbjson_delete_if_info_request(const char *table, const char *lock_id, const char *info,
                                     size_t info_len);

/* PutItem of {LockID: lock_id, Info: info (info_len bytes)}, the whole item, on a
 * condition: if_info NULL, "attribute_not_exists(LockID)" (no such item yet); else
 * "#i = :old" with :old if_info (if_info_len bytes), Info's name as for DeleteItem. */
char *ddbjson_put_if_request(const char *table, const char *lock_id, const char *info,
                             size_t info_len, const char *if_info, size_t if_info_len);

/* DescribeTable of table. */
char *ddbjson_describe_request(const char *table);

/* Answers. Each takes any bytes (len of them, not NUL-terminated), never crashes on bad
 * input, and returns 0, -EPROTO when the body is not the expected JSON (not JSON, not an
 * object, a field of the wrong type, an item without a string LockID), or -ENOMEM. On
 * failure the output is left empty (nothing to free). */

/* A Scan answer: {"Items":[{"LockID":{"S":..},"Info":{"S":..}},...],
 * "LastEvaluatedKey":{"LockID":{"S":..}}}. Attributes other than LockID, Info and Digest
 * are ignored, and so are Info or Digest of another type than S. */
int ddbjson_parse_scan(const char *body, size_t len, struct ddb_scan_page *out);
void ddb_scan_page_free(struct ddb_scan_page *p);

/* A GetItem answer: {"Item":{...}} fills *item and sets *found; {} (no such item) leaves
 * *item empty and clears *found. */
int ddbjson_parse_get(const char *body, size_t len, struct ddb_item *item, bool *found);
void ddb_item_free(struct ddb_item *item);

/* A DescribeTable answer: the table's status ("ACTIVE", ...) and its key schema's hash
 * key name, both copied into the buffers (truncated to fit). */
int ddbjson_parse_describe(const char *body, size_t len, char *status, size_t status_len,
                           char *hash_key, size_t hash_key_len);

/* An error answer. Always fills *out (with empty strings when the body says nothing). */
void ddbjson_parse_error(const char *body, size_t len, struct ddb_error *out);
#endif
