/* The DynamoDB lock table: Scan, consistent GetItem, conditional DeleteItem and PutItem,
 * DescribeTable. */
#include "s3/ddb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Scan page holds at most 1 MB of items; JSON quoting and escapes add to that. */
#define DDB_MAX_BODY (8u << 20)

struct ddb_client {
	struct aws_service svc;
	char *table;
};

int ddb_client_new(const struct ddb_config *cfg, struct aws_cred_provider *creds,
                   struct ddb_client **out, char **err)
{
	if (err)
		*err = NULL;
	struct ddb_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int rc = -ENOMEM;
	if (!cfg->table || !*cfg->table) {
		rc = -EINVAL;
		if (err)
			*err = strdup("no DynamoDB table name");
	} else if ((c->table = strdup(cfg->table))) {
		struct aws_service_config sc = {
			.name = "DynamoDB", .signing_name = "dynamodb", .endpoint = cfg->endpoint,
			.region = cfg->region, .http = cfg->http, .debug = cfg->debug,
		};
		rc = aws_service_init(&c->svc, &sc, creds, err);
	}
	if (rc < 0) {
		ddb_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void ddb_client_free(struct ddb_client *c)
{
	if (!c)
		return;
	aws_service_free(&c->svc);
	free(c->table);
	free(c);
}

const char *ddb_client_table(const struct ddb_client *c)
{
	return c->table;
}

void ddb_client_stats(struct ddb_client *c, struct store_stats *out)
{
	aws_service_stats(&c->svc, out);
}

const char *ddb_client_endpoint(const struct ddb_client *c)
{
	return c->svc.endpoint_url;
}

int ddb_errno(long http_status, const char *code)
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
	};
	/* DynamoDB says everything in the code: nearly all its errors are 400s. */
	(void)http_status;
	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].err;
	return -EIO;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* DynamoDB says "slow down" with a 400, which alone would not be retried. */
static bool is_throttle(const struct http_response *resp)
{
	static const char *const codes[] = {
		"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
	};
	if (resp->status != 400)
		return false;
	struct ddb_error e;
	ddbjson_parse_error(resp->body, resp->body_len, &e);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (ends_with(e.code, codes[i]))
			return true;
	return false;
}

/* Fills err from a non-2xx answer and returns its errno. */
static int answer_error(const struct http_response *resp, struct aws_error *err)
{
	struct ddb_error doc;
	ddbjson_parse_error(resp->body, resp->body_len, &doc);
	/* aws_error's code is narrower than ddb_error's: cut on purpose, errno from the whole. */
	snprintf(err->code, sizeof(err->code), "%.*s", (int)sizeof(err->code) - 1, doc.code);
	snprintf(err->message, sizeof(err->message), "%s", doc.message);
	char *rid = http_response_header(resp, "x-amzn-RequestId");
	snprintf(err->request_id, sizeof(err->request_id), "%s", rid ? rid : "");
	free(rid);
	return ddb_errno(resp->status, doc.code);
}

/* s with its control bytes turned to '?': table names and error messages come from the
 * command line or whoever answers, and end up on a terminal. */
static char *one_line(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* Is op one of the writes, sent once (conditional, and the caller reads to know)? */
static bool is_write(const char *op)
{
	return strcmp(op, "DeleteItem") == 0 || strcmp(op, "PutItem") == 0;
}

/* Sends operation op with body (NULL: building it ran out of memory); returns 0 with a 2xx
 * answer in resp, or a negative errno with err filled. resp is always to be freed. */
static int ddb_call(struct ddb_client *c, const char *op, const char *what, const char *body,
                    struct http_response *resp, struct aws_error *err)
{
	memset(resp, 0, sizeof(*resp));
	memset(err, 0, sizeof(*err));
	if (!body) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		return -ENOMEM;
	}
	char target[64];
	snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
	const struct http_header h[] = {
		{ "Content-Type", "application/x-amz-json-1.0" },
		{ "X-Amz-Target", target },
	};
	struct aws_request req = {
		.method = "POST", .path = "/", .headers = h, .nheaders = 2,
		.body = body, .body_len = strlen(body), .max_body = DDB_MAX_BODY,
		/* A write whose answer was lost may have happened: the caller re-checks. */
		.idempotent = !is_write(op),
		.retry_answer = is_throttle, .content_sha256_header = false,
	};
	int rc = aws_service_send(&c->svc, &req, op, what, resp, err);
	if (rc == 0 && (resp->status < 200 || resp->status > 299))
		rc = answer_error(resp, err);
	return rc;
}

/* The result of parsing a 2xx answer: one that is not what DynamoDB sends is the server's
 * fault (often an endpoint that is not DynamoDB), so -EIO with err saying so. */
static int answer_parsed(int rc, const char *op, struct aws_error *err)
{
	if (rc == -EPROTO) {
		snprintf(err->message, sizeof(err->message),
		         "the %s answer is not the JSON DynamoDB sends", op);
		return -EIO;
	}
	if (rc == -ENOMEM)
		snprintf(err->message, sizeof(err->message), "out of memory");
	return rc;
}

int ddb_scan_page(struct ddb_client *c, const char *lock_id_prefix, const char *start_key,
                  struct ddb_scan_page *page, struct aws_error *err)
{
	memset(page, 0, sizeof(*page));
	char what[512];
	snprintf(what, sizeof(what), "%s*%s", lock_id_prefix ? lock_id_prefix : "",
	         start_key ? " (next page)" : "");
	char *body = ddbjson_scan_request(c->table, lock_id_prefix, start_key);
	struct http_response resp;
	int rc = ddb_call(c, "Scan", what, body, &resp, err);
	if (rc == 0)
		rc = answer_parsed(ddbjson_parse_scan(resp.body, resp.body_len, page), "Scan", err);
	http_response_free(&resp);
	free(body);
	return rc;
}

int ddb_get_item(struct ddb_client *c, const char *lock_id, struct ddb_item *item,
                 struct aws_error *err)
{
	memset(item, 0, sizeof(*item));
	char *body = ddbjson_get_request(c->table, lock_id);
	struct http_response resp;
	bool found = false;
	int rc = ddb_call(c, "GetItem", lock_id, body, &resp, err);
	if (rc == 0)
		rc = answer_parsed(ddbjson_parse_get(resp.body, resp.body_len, item, &found),
		                   "GetItem", err);
	if (rc == 0 && !found) {
		snprintf(err->message, sizeof(err->message), "no item with this LockID");
		rc = -ENOENT;
	} else if (rc == 0 && strcmp(item->lock_id, lock_id) != 0) {
		/* Another item's Info shown as this state's lock would be worse than none. */
		ddb_item_free(item);
		snprintf(err->message, sizeof(err->message), "the GetItem answer is for another item");
		rc = -EIO;
	}
	http_response_free(&resp);
	free(body);
	return rc;
}

/* Sends write op (body taken over) on item lock_id, once; its answer says nothing more. */
static int ddb_write(struct ddb_client *c, const char *op, const char *lock_id, char *body,
                     struct aws_error *err)
{
	struct http_response resp;
	int rc = ddb_call(c, op, lock_id, body, &resp, err);
	http_response_free(&resp);
	free(body);
	return rc;
}

int ddb_delete_item_if_info(struct ddb_client *c, const char *lock_id, const char *info,
                            size_t info_len, struct aws_error *err)
{
	return ddb_write(c, "DeleteItem", lock_id,
	                 ddbjson_delete_if_info_request(c->table, lock_id, info, info_len), err);
}

int ddb_put_item_if(struct ddb_client *c, const char *lock_id, const char *info, size_t info_len,
                    const char *if_info, size_t if_info_len, struct aws_error *err)
{
	char *body = ddbjson_put_if_request(c->table, lock_id, info, info_len, if_info, if_info_len);
	int rc = ddb_write(c, "PutItem", lock_id, body, err);
	/* A failed attribute_not_exists(LockID) means the item is there. */
	return rc == -ECANCELED && !if_info ? -EEXIST : rc;
}

static int describe_table(struct ddb_client *c, char *status, size_t status_len,
                          char *hash_key, size_t hash_key_len, struct aws_error *err)
{
	char *body = ddbjson_describe_request(c->table);
	struct http_response resp;
	int rc = ddb_call(c, "DescribeTable", c->table, body, &resp, err);
	if (rc == 0)
		rc = answer_parsed(ddbjson_parse_describe(resp.body, resp.body_len, status, status_len,
		                                          hash_key, hash_key_len), "DescribeTable", err);
	http_response_free(&resp);
	free(body);
	return rc;
}

static void describe_check_failure(struct ddb_client *c, int rc, const struct aws_error *err,
                                   char *msg, size_t msglen)
{
	const char *t = c->table, *ep = c->svc.endpoint_url;
	char detail[512];
	aws_error_describe(err, detail, sizeof(detail));
	if (!err->http_status && rc == -EPROTO)
		snprintf(msg, msglen, "cannot reach DynamoDB endpoint %s securely for table %s: %s; for "
		         "a private CA use -o ca_file=PATH", ep, t, err->message);
	else if (!err->http_status)
		snprintf(msg, msglen, "cannot reach DynamoDB endpoint %s for table %s: %s; check "
		         "-o dynamodb_endpoint and the network", ep, t, err->message);
	else if (rc == -ENXIO)
		snprintf(msg, msglen, "DynamoDB table %s does not exist at %s (region %s): check "
		         "-o dynamodb_table, the region and -o dynamodb_endpoint", t, ep,
		         aws_client_region(c->svc.aws));
	else if (rc == -EACCES && strcmp(err->code, "AccessDeniedException") == 0)
		snprintf(msg, msglen, "access denied to DynamoDB table %s at %s: the credentials need "
		         "dynamodb:DescribeTable, dynamodb:Scan, dynamodb:GetItem and "
		         "dynamodb:DeleteItem on it (%s)", t, ep, detail);
	else if (rc == -EACCES)
		snprintf(msg, msglen, "DynamoDB at %s refused the credentials for table %s (%s): check "
		         "the access key, the secret key, the session token and the region", ep, t, detail);
	else if (err->http_status >= 200 && err->http_status <= 299)
		snprintf(msg, msglen, "%s answered DescribeTable of table %s with something that is not "
		         "DynamoDB's JSON: check that -o dynamodb_endpoint is a DynamoDB endpoint", ep, t);
	else
		snprintf(msg, msglen, "DescribeTable of DynamoDB table %s at %s failed: %s", t, ep, detail);
}

/* CREATING and DELETING tables refuse Scan; UPDATING ones still serve it. */
static bool table_readable(const char *status)
{
	return strcmp(status, "ACTIVE") == 0 || strcmp(status, "UPDATING") == 0;
}

int ddb_check_table(struct ddb_client *c, char *msg, size_t msglen)
{
	char status[64], hash_key[256];
	struct aws_error err;
	int rc = describe_table(c, status, sizeof(status), hash_key, sizeof(hash_key), &err);
	if (rc < 0) {
		describe_check_failure(c, rc, &err, msg, msglen);
	} else if (strcmp(hash_key, "LockID") != 0) {
		snprintf(msg, msglen, "DynamoDB table %s at %s is not a Terraform lock table: its hash "
		         "key is %s, not LockID; check -o dynamodb_table", c->table, c->svc.endpoint_url,
		         hash_key);
		rc = -EINVAL;
	} else if (!table_readable(status)) {
		snprintf(msg, msglen, "DynamoDB table %s at %s is %s, not ACTIVE: mount again once it "
		         "is ACTIVE", c->table, c->svc.endpoint_url, status);
		rc = -EAGAIN;
	} else {
		snprintf(msg, msglen, "%s", "");
	}
	if (msglen)
		one_line(msg);
	return rc;
}
