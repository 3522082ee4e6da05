/* Fetching credentials from one source of the chain: static keys, credential_process, STS
 * (AssumeRole, AssumeRoleWithWebIdentity), the container endpoint, EC2 instance metadata;
 * SSO is in sso.c. */
#include "s3/credsrc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "s3/aws.h"
#include "s3/http.h"
#include "s3/sigv4.h"
#include "s3/sso.h"
#include "s3/xml.h"
#include "util/timeparse.h"

#define PROCESS_MAX_OUTPUT (64u << 10)
#define TOKEN_MAX (16u << 10)
#define IMDS_TOKEN_TTL "21600"

int cred_fail(char **err, int rc, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return rc;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return rc;
}

struct cred_source *cred_source_new(enum cred_kind kind, const char *label)
{
	struct cred_source *s = calloc(1, sizeof(*s));
	if (s && !(s->label = strdup(label))) {
		free(s);
		return NULL;
	}
	if (s)
		s->kind = kind;
	return s;
}

void cred_source_free(struct cred_source *s)
{
	if (!s)
		return;
	free(s->label);
	aws_credentials_free(&s->keys);
	free(s->command);
	free(s->role_arn);
	free(s->session_name);
	free(s->external_id);
	cred_source_free(s->base);
	free(s->token_file);
	free(s->url);
	free(s->auth_token);
	free(s->auth_token_file);
	free(s->sts.endpoint);
	free(s->sts.region);
	free(s->sts.ca_file);
	free(s->tried_before);
	sso_profile_free(s->sso);
	free(s);
}

/* ---- the JSON of the container endpoint, IMDS and credential_process ---- */

const char *cred_json_str(struct json_object *o, const char *name)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int parse_fields(struct json_object *o, bool process, struct aws_credentials *out,
                        const char **what)
{
	struct json_object *version = NULL;
	const char *id = cred_json_str(o, "AccessKeyId"), *secret = cred_json_str(o, "SecretAccessKey");
	const char *token = cred_json_str(o, "Token"), *exp = cred_json_str(o, "Expiration");
	if (!token)
		token = cred_json_str(o, "SessionToken");
	*what = NULL;
	if (process && (!json_object_object_get_ex(o, "Version", &version) ||
	                json_object_get_int(version) != 1))
		*what = "Version is not 1";
	else if (!id || !*id || !secret || !*secret)
		*what = "AccessKeyId or SecretAccessKey is missing";
	else if (exp && time_parse_rfc3339(exp, &out->expiration) < 0)
		*what = "Expiration is not an ISO 8601 time";
	else if (!exp && !process)
		*what = "Expiration is missing";
	if (*what)
		return -EPROTO;
	out->access_key = strdup(id);
	out->secret_key = strdup(secret);
	out->session_token = token && *token ? strdup(token) : NULL;
	if (!out->access_key || !out->secret_key || (token && *token && !out->session_token))
		return -ENOMEM;
	return 0;
}

int cred_json_parse(const char *body, size_t len, bool process, struct aws_credentials *out,
                    const char **what)
{
	memset(out, 0, sizeof(*out));
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
	int rc;
	*what = NULL;
	if (!tok) {
		rc = -ENOMEM;
	} else if (!o || !json_object_is_type(o, json_type_object)) {
		*what = "not a JSON object";
		rc = -EPROTO;
	} else {
		rc = parse_fields(o, process, out, what);
	}
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	if (rc < 0)
		aws_credentials_free(out);
	return rc;
}

/* ---- HTTP for the sources ---- */

int cred_http_once(const char *ca_file, long connect_ms, const struct http_request *req,
                     struct http_response *resp)
{
	struct http_pool *pool = NULL;
	struct http_settings hs = { .ca_file = ca_file, .connect_timeout_ms = connect_ms,
	                            .stall_timeout_s = 10 };
	memset(resp, 0, sizeof(*resp));
	int rc = http_pool_new(&hs, &pool);
	if (rc == 0)
		rc = http_perform(pool, req, resp);
	http_pool_free(pool);
	return rc;
}

void cred_answer_says(int rc, const struct http_response *resp, char *buf, size_t len)
{
	if (rc < 0)
		snprintf(buf, len, "no answer: %s", resp->curl_error[0] ? resp->curl_error : strerror(-rc));
	else
		snprintf(buf, len, "HTTP %ld", resp->status);
}

static int creds_from_json(const struct cred_source *s, const struct http_response *resp,
                           struct aws_credentials *out, char **err)
{
	const char *what;
	int rc = cred_json_parse(resp->body ? resp->body : "", resp->body_len, false, out, &what);
	if (rc == -EPROTO)
		return cred_fail(err, -EIO, "%s answered credentials that cannot be used: %s", s->label, what);
	return rc;
}

/* A file's first line (a token), malloc'd. */
static int read_token(const char *path, char **out, char **err, const char *what)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return cred_fail(err, -ENOENT, "%s: cannot read %s: %s", what, path, strerror(errno));
	char *buf = calloc(1, TOKEN_MAX + 1);
	size_t n = buf ? fread(buf, 1, TOKEN_MAX, f) : 0;
	fclose(f);
	if (!buf)
		return -ENOMEM;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (!n) {
		free(buf);
		return cred_fail(err, -EINVAL, "%s: %s is empty", what, path);
	}
	*out = buf;
	return 0;
}

/* ---- container endpoint ---- */

static int fetch_container(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	char *token = NULL;
	int rc = 0;
	if (s->auth_token_file)
		rc = read_token(s->auth_token_file, &token, err, s->label);
	else if (s->auth_token && !(token = strdup(s->auth_token)))
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	struct http_header h = { "Authorization", token };
	struct http_request req = { .method = "GET", .url = s->url, .headers = token ? &h : NULL,
	                            .nheaders = token ? 1 : 0, .max_body = 64 << 10 };
	struct http_response resp;
	rc = cred_http_once(NULL, 2000, &req, &resp);
	char says[320];
	cred_answer_says(rc, &resp, says, sizeof(says));
	if (rc == 0 && resp.status == 200)
		rc = creds_from_json(s, &resp, out, err);
	else
		rc = cred_fail(err, resp.status == 401 || resp.status == 403 ? -EACCES : -EIO,
		          "%s refused or failed (%s)%s", s->label, says,
		          token ? "" : "; no AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) was sent");
	http_response_free(&resp);
	free(token);
	return rc;
}

/* ---- EC2 instance metadata, IMDSv2: a session token first, then the role ---- */

static int imds_get(const struct cred_source *s, const char *token, const char *path,
                    struct http_response *resp)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", s->url, path);
	struct http_header h = { "X-aws-ec2-metadata-token", token };
	struct http_request req = { .method = "GET", .url = url, .headers = &h, .nheaders = 1,
	                            .max_body = 64 << 10 };
	int rc = cred_http_once(NULL, 1000, &req, resp);
	return rc == 0 && resp->status != 200 ? -EIO : rc;
}

static int imds_token(const struct cred_source *s, char **token, char **err)
{
	char url[1024], says[320];
	snprintf(url, sizeof(url), "%s/latest/api/token", s->url);
	struct http_header h = { "X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL };
	struct http_request req = { .method = "PUT", .url = url, .headers = &h, .nheaders = 1,
	                            .body = "", .body_len = 0, .max_body = TOKEN_MAX };
	struct http_response resp;
	int rc = cred_http_once(NULL, 1000, &req, &resp);
	cred_answer_says(rc, &resp, says, sizeof(says));
	if (rc == 0 && resp.status == 200 && resp.body_len) {
		*token = resp.body;
		resp.body = NULL;
	} else {
		rc = cred_fail(err, -ENOENT, "%s: no session token (%s): not on EC2, or IMDSv2 is off "
		          "or its hop limit is too low for this host", s->label, says);
	}
	http_response_free(&resp);
	return rc;
}

static int fetch_imds(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	char *token = NULL, *path = NULL, says[320];
	struct http_response resp = { 0 };
	int rc = imds_token(s, &token, err);
	if (rc < 0)
		return rc;
	rc = imds_get(s, token, base, &resp);
	cred_answer_says(rc, &resp, says, sizeof(says));
	size_t role_len = rc == 0 && resp.body ? strcspn(resp.body, "\r\n") : 0;
	if (rc == 0 && role_len && asprintf(&path, "%s%.*s", base, (int)role_len, resp.body) >= 0) {
		http_response_free(&resp);
		rc = imds_get(s, token, path, &resp);
		cred_answer_says(rc, &resp, says, sizeof(says));
		rc = rc == 0 ? creds_from_json(s, &resp, out, err)
		             : cred_fail(err, -EIO, "%s: reading %s failed (%s)", s->label, path, says);
	} else if (rc == 0) {
		rc = role_len ? -ENOMEM : cred_fail(err, -ENOENT, "%s: this instance has no IAM role", s->label);
	} else {
		rc = cred_fail(err, -ENOENT, "%s: no IAM role (%s): attach an instance profile", s->label, says);
	}
	http_response_free(&resp);
	free(path);
	free(token);
	return rc;
}

/* ---- credential_process ---- */

static int fetch_process(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	/* A shell runs it, as the Go and Java SDKs do, so quoting in the config works. */
	FILE *p = popen(s->command, "r");
	if (!p)
		return cred_fail(err, -EIO, "%s: cannot run credential_process: %s", s->label, strerror(errno));
	char *buf = calloc(1, PROCESS_MAX_OUTPUT + 1);
	size_t n = buf ? fread(buf, 1, PROCESS_MAX_OUTPUT, p) : 0;
	int status = pclose(p);
	const char *what = NULL;
	int rc = !buf ? -ENOMEM : 0;
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = cred_fail(err, -EIO, "%s: credential_process exited with status %d (its stderr says "
		          "why)", s->label, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else if (rc == 0 && (rc = cred_json_parse(buf, n, true, out, &what)) == -EPROTO)
		rc = cred_fail(err, -EIO, "%s: credential_process printed credentials that cannot be used: "
		          "%s", s->label, what);
	free(buf);
	return rc;
}

/* ---- STS ---- */

/* "&Name=value", the value form-encoded. */
static int form_add(char **body, const char *name, const char *value)
{
	char *enc = sigv4_uri_encode(value, false), *next = NULL;
	int n = enc ? asprintf(&next, "%s&%s=%s", *body, name, enc) : -1;
	free(enc);
	if (n < 0)
		return -ENOMEM;
	free(*body);
	*body = next;
	return 0;
}

static char *sts_form(const struct cred_source *s, const char *action, const char *token)
{
	char *body = NULL, dur[16];
	if (asprintf(&body, "Action=%s&Version=2011-06-15", action) < 0)
		return NULL;
	int rc = form_add(&body, "RoleArn", s->role_arn);
	if (rc == 0)
		rc = form_add(&body, "RoleSessionName", s->session_name);
	if (rc == 0 && s->external_id)
		rc = form_add(&body, "ExternalId", s->external_id);
	snprintf(dur, sizeof(dur), "%d", s->duration_s);
	if (rc == 0 && s->duration_s > 0)
		rc = form_add(&body, "DurationSeconds", dur);
	if (rc == 0 && token)
		rc = form_add(&body, "WebIdentityToken", token);
	if (rc < 0) {
		free(body);
		return NULL;
	}
	return body;
}

/* The credentials in STS's answer, or what it said when it refused. */
static int sts_answer(const struct cred_source *s, int rc, const struct http_response *resp,
                      struct aws_credentials *out, char **err)
{
	struct sts_answer a;
	char says[320];
	cred_answer_says(rc, resp, says, sizeof(says));
	if (rc < 0)
		return cred_fail(err, -EIO, "%s: STS at %s did not answer (%s)", s->label, s->sts.endpoint, says);
	if (s3_xml_parse_sts(resp->body ? resp->body : "", resp->body_len, &a) < 0)
		return cred_fail(err, -EIO, "%s: STS at %s answered %s, not STS's XML", s->label,
		            s->sts.endpoint, says);
	if (resp->status != 200 || !a.access_key || !a.secret_key || !a.session_token ||
	    !a.expiration || time_parse_rfc3339(a.expiration, &out->expiration) < 0) {
		rc = cred_fail(err, resp->status == 403 ? -EACCES : -EIO, "%s: STS refused to assume %s: "
		          "%s (%s): %s", s->label, s->role_arn, a.code ? a.code : "no credentials",
		          says, a.message ? a.message : "");
	} else {
		out->access_key = a.access_key;
		out->secret_key = a.secret_key;
		out->session_token = a.session_token;
		a.access_key = a.secret_key = a.session_token = NULL;
	}
	sts_answer_free(&a);
	return rc;
}

static const struct http_header form_type = {
	"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"
};

/* AssumeRoleWithWebIdentity is not signed: the token is the proof. */
static int fetch_web_identity(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	char *token = NULL;
	int rc = read_token(s->token_file, &token, err, s->label);
	if (rc < 0)
		return rc;
	char *body = sts_form(s, "AssumeRoleWithWebIdentity", token);
	char url[1024];
	snprintf(url, sizeof(url), "%s/", s->sts.endpoint);
	struct http_request req = { .method = "POST", .url = url, .headers = &form_type,
	                            .nheaders = 1, .body = body, .body_len = body ? strlen(body) : 0,
	                            .max_body = 64 << 10 };
	struct http_response resp = { 0 };
	rc = body ? cred_http_once(s->sts.ca_file, 5000, &req, &resp) : -ENOMEM;
	if (rc != -ENOMEM)
		rc = sts_answer(s, rc, &resp, out, err);
	http_response_free(&resp);
	free(body);
	free(token);
	return rc;
}

/* AssumeRole, signed with the base source's credentials. */
static int assume_role(const struct cred_source *s, const struct aws_credentials *base,
                       struct aws_credentials *out, char **err)
{
	struct aws_cred_provider *fixed = NULL;
	struct aws_service svc;
	struct aws_service_config sc = { .name = "STS", .signing_name = "sts",
	                                 .endpoint = s->sts.endpoint, .region = s->sts.region,
	                                 .http = { .ca_file = s->sts.ca_file } };
	int rc = aws_cred_provider_fixed(base, &fixed);
	if (rc == 0 && (rc = aws_service_init(&svc, &sc, fixed, err)) == 0) {
		char *body = sts_form(s, "AssumeRole", NULL);
		struct aws_request req = { .method = "POST", .path = "/", .headers = &form_type,
		                           .nheaders = 1, .body = body, .body_len = body ? strlen(body) : 0,
		                           .max_body = 64 << 10, .idempotent = true };
		struct http_response resp = { 0 };
		struct aws_error e;
		rc = body ? aws_service_send(&svc, &req, "AssumeRole", s->role_arn, &resp, &e) : -ENOMEM;
		if (rc != -ENOMEM)
			rc = sts_answer(s, rc, &resp, out, err);
		http_response_free(&resp);
		free(body);
		aws_service_free(&svc);
	}
	aws_cred_provider_free(fixed);
	return rc;
}

static int fetch_assume_role(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	struct aws_credentials base;
	int rc = cred_source_fetch(s->base, &base, err);
	if (rc == 0)
		rc = assume_role(s, &base, out, err);
	aws_credentials_free(&base);
	return rc;
}

/* ---- one source ---- */

/* Credentials that are expired, or too close to it to sign a request
 * (aws_credentials_usable), are refused where they come from, as botocore refuses them
 * ("refreshed credentials are still expired"): a request signed with them only earns
 * ExpiredToken, and the source asked again at once gives the same. */
static int refuse_unusable(const struct cred_source *s, const struct aws_credentials *c,
                           char **err)
{
	time_t now = time(NULL);
	char when[32], clock[32];
	struct tm tm;
	gmtime_r(&c->expiration, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%Y-%m-%dT%H:%M:%SZ", &tm);
	bool process = s->kind == CRED_PROCESS;
	bool sts = s->kind == CRED_ASSUME_ROLE || s->kind == CRED_WEB_IDENTITY;
	return cred_fail(err, -EACCES, "%s: %s credentials that %s at %s (this host's clock says "
	                 "%s); expired credentials are not used: %s", s->label,
	                 process ? "credential_process printed" : sts ? "STS answered" : "it answered",
	                 now < c->expiration ? "expire too soon to be used," : "expired", when, clock,
	                 process ? "make the command print valid ones (does it cache them?), or set "
	                           "this host's clock right" : "set this host's clock right");
}

int cred_source_fetch(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	int rc;
	switch (s->kind) {
	case CRED_STATIC:
		return aws_credentials_copy(&s->keys, out);
	case CRED_PROCESS:
		rc = fetch_process(s, out, err);
		break;
	case CRED_ASSUME_ROLE:
		rc = fetch_assume_role(s, out, err);
		break;
	case CRED_WEB_IDENTITY:
		rc = fetch_web_identity(s, out, err);
		break;
	case CRED_CONTAINER:
		rc = fetch_container(s, out, err);
		break;
	case CRED_IMDS:
		rc = fetch_imds(s, out, err);
		break;
	case CRED_SSO:
		rc = sso_fetch(s->sso, s->label, out, err);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0 && !aws_credentials_usable(out, time(NULL)))
		rc = refuse_unusable(s, out, err);
	if (rc == 0 && !(out->source = strdup(s->label)))
		rc = -ENOMEM;
	if (rc < 0)
		aws_credentials_free(out);
	return rc;
}
