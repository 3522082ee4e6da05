/* The DynamoDB lock table (Terraform's deprecated dynamodb_table): Scan, consistent
 * GetItem, conditional DeleteItem and PutItem, DescribeTable, over the same HTTP and SigV4
 * code as S3.
 * This is the header the filesystem layer talks to DynamoDB through. */
#ifndef TFS_S3_DDB_H
#define TFS_S3_DDB_H
#include <stdbool.h>
#include <stddef.h>
#include "s3/aws.h"
#include "s3/credprov.h"
#include "s3/ddbjson.h"

struct ddb_config {
	const char *table;
	const char *endpoint;   /* URL such as "http://127.0.0.1:4567"; NULL: AWS's endpoint
	                         * for region (https://dynamodb.<region>.amazonaws.com, .com.cn
	                         * for cn- regions) */
	const char *region;
	struct http_settings http;  /* extra CA bundle, timeouts, TLS checks */
	bool debug;             /* trace each request and its timing on stderr, as s3 does */
};

struct ddb_client;

/* Creates a client. Returns 0, -EINVAL with *err saying what is wrong with the config (a
 * malloc'd message the caller frees), or -ENOMEM. Thread-safe once created. */
int ddb_client_new(const struct ddb_config *cfg, struct aws_cred_provider *creds,
                   struct ddb_client **out, char **err);
void ddb_client_free(struct ddb_client *c);
const char *ddb_client_table(const struct ddb_client *c);
const char *ddb_client_endpoint(const struct ddb_client *c);

/* What the client's requests cost so far (by kind: Scan, GetItem, DeleteItem, PutItem...). */
void ddb_client_stats(struct ddb_client *c, struct store_stats *out);

/* The errno for a DynamoDB answer: ResourceNotFoundException (no such table) -ENXIO;
 * AccessDeniedException, UnrecognizedClientException, InvalidSignatureException,
 * MissingAuthenticationTokenException, ExpiredTokenException -EACCES;
 * ConditionalCheckFailedException -ECANCELED; ValidationException,
 * SerializationException -EINVAL; anything else (and a body that is not DynamoDB's)
 * -EIO. */
int ddb_errno(long http_status, const char *code);

/* The requests below fill err (code, message, status, request id from x-amzn-RequestId,
 * attempts) whenever they fail. Scan, GetItem and DescribeTable are retried by aws_send
 * on transport errors, 5xx and throttling (ProvisionedThroughputExceededException,
 * ThrottlingException, RequestLimitExceeded: 400s); DeleteItem and PutItem are sent once. */

/* One consistent Scan page of the items whose LockID starts with lock_id_prefix ("" for
 * all), from start_key (NULL for the first page). Returns 0 or a negative errno. */
int ddb_scan_page(struct ddb_client *c, const char *lock_id_prefix, const char *start_key,
                  struct ddb_scan_page *page, struct aws_error *err);

/* The item LockID lock_id, read consistently. Returns 0 (found), -ENOENT (no such item),
 * or a negative errno. */
int ddb_get_item(struct ddb_client *c, const char *lock_id, struct ddb_item *item,
                 struct aws_error *err);

/* Deletes item lock_id only while its Info is exactly info. Returns 0, -ECANCELED (the
 * condition failed: the item is gone or holds another Info), or a negative errno. */
int ddb_delete_item_if_info(struct ddb_client *c, const char *lock_id, const char *info,
                            size_t info_len, struct aws_error *err);

/* Writes item {LockID: lock_id, Info: info} whole, only on a condition: if_info NULL,
 * only while no item has that LockID (-EEXIST otherwise); else only while its Info is
 * exactly if_info (-ECANCELED otherwise, the item gone included: DynamoDB's
 * ConditionalCheckFailedException does not say which). Sent once, counted as PutItem;
 * logs nothing (the caller says what failed). Returns 0 or a negative errno. */
int ddb_put_item_if(struct ddb_client *c, const char *lock_id, const char *info, size_t info_len,
                    const char *if_info, size_t if_info_len, struct aws_error *err);

/* Checks the table answers: DescribeTable, then that its hash key is LockID. Returns 0,
 * or a negative errno with msg holding one line that names the table and the endpoint
 * and says what to do (no such table: check -o dynamodb_table, the region and
 * dynamodb_endpoint; refused credentials or access denied: the permissions needed,
 * dynamodb:Scan, GetItem, DeleteItem, DescribeTable; not a Terraform lock table: its hash
 * key; unreachable endpoint). */
int ddb_check_table(struct ddb_client *c, char *msg, size_t msglen);
#endif
