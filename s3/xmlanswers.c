/* The short XML answers of one record each: a bucket's versioning state, an S3 error body,
 * STS's answer to AssumeRole and AssumeRoleWithWebIdentity. */
#include "s3/xml.h"
#include "s3/xml_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- VersioningConfiguration ---- */

struct versioning_doc {
	char *status;
};

static int versioning_open(void *doc, int depth, const char *name)
{
	(void)doc;
	return depth == 2 && strcmp(name, "Status") == 0 ? XML_TEXT : XML_SKIP;
}

static int versioning_close(void *doc, int depth, const char *text, size_t len)
{
	(void)depth;
	struct versioning_doc *d = doc;
	return xml_set_once(&d->status, text, len);
}

static const struct xml_ops versioning_ops = {
	.root = "VersioningConfiguration", .open = versioning_open, .close = versioning_close,
};

int s3_xml_parse_versioning(const char *body, size_t len, enum store_versioning *out)
{
	struct versioning_doc d = { 0 };
	int rc = xml_read(body, len, &versioning_ops, &d);
	if (rc == 0 && (!d.status || !d.status[0]))
		*out = STORE_VERSIONING_OFF;
	else if (rc == 0 && strcmp(d.status, "Enabled") == 0)
		*out = STORE_VERSIONING_ENABLED;
	else if (rc == 0 && strcmp(d.status, "Suspended") == 0)
		*out = STORE_VERSIONING_SUSPENDED;
	else if (rc == 0)
		rc = -EBADMSG;
	free(d.status);
	return rc;
}

/* ---- Error ---- */

/* The field a child of <Error> fills, or NULL for one we do not keep (Resource, HostId...). */
static char **error_field(struct s3_error *err, const char *name)
{
	if (strcmp(name, "Code") == 0)
		return &err->code;
	if (strcmp(name, "Message") == 0)
		return &err->message;
	if (strcmp(name, "Region") == 0)
		return &err->region;
	if (strcmp(name, "RequestId") == 0)
		return &err->request_id;
	return NULL;
}

struct error_doc {
	struct s3_error *err;
	char **field;    /* the text field open now */
};

static int error_open(void *doc, int depth, const char *name)
{
	struct error_doc *d = doc;
	if (depth != 2)
		return XML_SKIP;
	d->field = error_field(d->err, name);
	return d->field ? XML_TEXT : XML_SKIP;
}

static int error_close(void *doc, int depth, const char *text, size_t len)
{
	(void)depth;
	struct error_doc *d = doc;
	return xml_set_once(d->field, text, len);
}

static const struct xml_ops error_ops = {
	.root = "Error", .open = error_open, .close = error_close,
};

int s3_xml_parse_error(const char *body, size_t len, struct s3_error *err)
{
	memset(err, 0, sizeof(*err));
	struct error_doc d = { .err = err };
	int rc = xml_read(body, len, &error_ops, &d);
	if (rc)
		s3_error_free(err);
	return rc;
}

void s3_error_free(struct s3_error *err)
{
	free(err->code);
	free(err->message);
	free(err->region);
	free(err->request_id);
	memset(err, 0, sizeof(*err));
}

/* ---- STS ---- */

/* <XResponse><XResult><Credentials><AccessKeyId>... for AssumeRole and
 * AssumeRoleWithWebIdentity alike; <ErrorResponse><Error><Code>... when refused. */
static char **sts_field(struct sts_answer *a, int depth, const char *name)
{
	static const struct { int depth; const char *name; size_t off; } fields[] = {
		{ 4, "AccessKeyId", offsetof(struct sts_answer, access_key) },
		{ 4, "SecretAccessKey", offsetof(struct sts_answer, secret_key) },
		{ 4, "SessionToken", offsetof(struct sts_answer, session_token) },
		{ 4, "Expiration", offsetof(struct sts_answer, expiration) },
		{ 3, "Code", offsetof(struct sts_answer, code) },
		{ 3, "Message", offsetof(struct sts_answer, message) },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].depth == depth && strcmp(fields[i].name, name) == 0)
			return (char **)((char *)a + fields[i].off);
	return NULL;
}

struct sts_doc {
	struct sts_answer *a;
	char **field;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int sts_open(void *doc, int depth, const char *name)
{
	struct sts_doc *d = doc;
	if ((depth == 2 && (ends_with(name, "Result") || strcmp(name, "Error") == 0)) ||
	    (depth == 3 && strcmp(name, "Credentials") == 0))
		return XML_CONTAINER;
	d->field = sts_field(d->a, depth, name);
	return d->field ? XML_TEXT : XML_SKIP;
}

static int sts_close(void *doc, int depth, const char *text, size_t len)
{
	(void)depth;
	struct sts_doc *d = doc;
	if (!text)
		return 0;  /* a container */
	return xml_set_once(d->field, text, len);
}

static const struct xml_ops sts_ops = { .root = NULL, .open = sts_open, .close = sts_close };

int s3_xml_parse_sts(const char *body, size_t len, struct sts_answer *out)
{
	memset(out, 0, sizeof(*out));
	struct sts_doc d = { .a = out };
	int rc = xml_read(body, len, &sts_ops, &d);
	if (rc)
		sts_answer_free(out);
	return rc;
}

void sts_answer_free(struct sts_answer *a)
{
	free(a->access_key);
	free(a->secret_key);
	free(a->session_token);
	free(a->expiration);
	free(a->code);
	free(a->message);
	memset(a, 0, sizeof(*a));
}
