/* IAM Identity Center (SSO): the CLI's token cache, its OIDC refresh, the portal's role keys. */
#include "s3/sso.h"
#include "s3/awsenv.h"
#include "s3/awsfiles.h"
#include "s3/credsrc.h"
#include "s3/endpoints.h"
#include "s3/http.h"
#include "s3/sigv4.h"
#include "util/log.h"
#include "util/timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX (64u << 10)
#define REFRESH_WINDOW_S (15 * 60)  /* botocore's SSOTokenProvider refreshes this early */
#define TOKEN_SLACK_S 10            /* a token closer to expiry may expire on its way */

/* ---- the profile ---- */

void sso_cache_name(const char *key, char out[SSO_CACHE_NAME_LEN])
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(key, strlen(key), sum, &n, EVP_sha1(), NULL);
	for (unsigned int i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
	snprintf(out + 40, SSO_CACHE_NAME_LEN - 40, ".json");
}

/* The endpoint of service (var overrides it), else https://HOST.REGION.amazonaws.com(.cn). */
static char *endpoint_of(const char *var, const char *host, const char *region)
{
	const char *url = aws_endpoint_resolve(NULL, var);
	char *out = NULL;
	if (url)
		return strdup(url);
	if (asprintf(&out, "https://%s.%s.amazonaws.com%s", host, region,
	             strncmp(region, "cn-", 3) == 0 ? ".cn" : "") < 0)
		return NULL;
	return out;
}

int sso_profile_complete(struct sso_profile *p, const char *ca_file)
{
	char name[SSO_CACHE_NAME_LEN], *dir = NULL;
	int rc = awsfiles_sso_cache_dir(&dir);
	if (rc < 0)
		return rc;
	if (!dir)
		return -ENOENT;
	sso_cache_name(p->session ? p->session : p->start_url, name);
	if (asprintf(&p->cache_path, "%s/%s", dir, name) < 0)
		p->cache_path = NULL;
	free(dir);
	p->portal_url = endpoint_of("AWS_ENDPOINT_URL_SSO", "portal.sso", p->region);
	p->oidc_url = endpoint_of("AWS_ENDPOINT_URL_SSO_OIDC", "oidc", p->region);
	p->ca_file = ca_file ? strdup(ca_file) : NULL;
	return p->cache_path && p->portal_url && p->oidc_url && (!ca_file || p->ca_file) ? 0 : -ENOMEM;
}

void sso_profile_free(struct sso_profile *p)
{
	if (!p)
		return;
	free(p->profile);
	free(p->session);
	free(p->start_url);
	free(p->region);
	free(p->account_id);
	free(p->role_name);
	free(p->cache_path);
	free(p->portal_url);
	free(p->oidc_url);
	free(p->ca_file);
	free(p);
}

/* ---- JSON ---- */

/* An empty string is as good as none: the CLI never writes one. */
static const char *jstr(struct json_object *o, const char *name)
{
	const char *s = cred_json_str(o, name);
	return s && *s ? s : NULL;
}

/* body as a JSON object (the caller puts it), or NULL. */
static struct json_object *jparse(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The strings of t, taken again from t->doc (after a change to it). */
static int token_fields(struct sso_token *t, const char **what)
{
	const char *exp = jstr(t->doc, "expiresAt"), *reg = jstr(t->doc, "registrationExpiresAt");
	t->access_token = jstr(t->doc, "accessToken");
	t->refresh_token = jstr(t->doc, "refreshToken");
	t->client_id = jstr(t->doc, "clientId");
	t->client_secret = jstr(t->doc, "clientSecret");
	t->registration_expires_at = 0;
	if (!t->access_token)
		*what = "accessToken is missing";
	else if (!exp || time_parse_rfc3339(exp, &t->expires_at) < 0)
		*what = "expiresAt is missing or not an RFC 3339 time";
	else if (reg && time_parse_rfc3339(reg, &t->registration_expires_at) < 0)
		*what = "registrationExpiresAt is not an RFC 3339 time";
	return *what ? -EPROTO : 0;
}

int sso_token_parse(const char *body, size_t len, struct sso_token *out, const char **what)
{
	memset(out, 0, sizeof(*out));
	*what = NULL;
	out->doc = jparse(body, len);
	int rc = out->doc ? token_fields(out, what) : -EPROTO;
	if (!out->doc)
		*what = "not a JSON object";
	if (rc < 0)
		sso_token_free(out);
	return rc;
}

void sso_token_free(struct sso_token *t)
{
	json_object_put(t->doc);
	memset(t, 0, sizeof(*t));
}

bool sso_token_valid(const struct sso_token *t, time_t now)
{
	return t->access_token && t->expires_at > now + TOKEN_SLACK_S;
}

bool sso_token_refresh_due(const struct sso_token *t, time_t now)
{
	return t->expires_at <= now + REFRESH_WINDOW_S && t->refresh_token && t->client_id &&
	       t->client_secret && (!t->registration_expires_at || t->registration_expires_at > now);
}

static int jset(struct json_object *o, const char *name, const char *value)
{
	struct json_object *v = json_object_new_string(value);
	if (!v || json_object_object_add(o, name, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int sso_token_refreshed(struct sso_token *t, const char *body, size_t len, time_t now,
                        const char **what)
{
	struct json_object *a = jparse(body, len), *in = NULL;
	const char *token = a ? jstr(a, "accessToken") : NULL;
	const char *refresh = a ? jstr(a, "refreshToken") : NULL;
	int64_t secs = a && json_object_object_get_ex(a, "expiresIn", &in) &&
	               json_object_is_type(in, json_type_int) ? json_object_get_int64(in) : 0;
	char when[32];
	struct tm tm;
	time_t exp = now + (time_t)(secs > 0 && secs < 366 * 86400 ? secs : 0);
	int rc = 0;
	*what = !token ? "accessToken is missing" : exp == now ? "expiresIn is missing or wrong" : NULL;
	if (*what) {
		json_object_put(a);
		return -EPROTO;
	}
	gmtime_r(&exp, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc = jset(t->doc, "accessToken", token);
	if (rc == 0)
		rc = jset(t->doc, "expiresAt", when);
	if (rc == 0 && refresh)
		rc = jset(t->doc, "refreshToken", refresh);
	json_object_put(a);
	/* Taken again even after a failure: a value replaced in doc freed the old string. */
	int fields = token_fields(t, what);
	return rc < 0 ? rc : fields;
}

int sso_role_parse(const char *body, size_t len, struct aws_credentials *out, const char **what)
{
	struct json_object *a = jparse(body, len), *rc_obj = NULL, *exp = NULL;
	int rc = -EPROTO;
	memset(out, 0, sizeof(*out));
	*what = "not a JSON object with roleCredentials";
	if (!a || !json_object_object_get_ex(a, "roleCredentials", &rc_obj) ||
	    !json_object_is_type(rc_obj, json_type_object))
		goto out;
	const char *id = jstr(rc_obj, "accessKeyId"), *secret = jstr(rc_obj, "secretAccessKey");
	const char *token = jstr(rc_obj, "sessionToken");
	*what = "accessKeyId, secretAccessKey or sessionToken is missing";
	if (!id || !secret || !token)
		goto out;
	*what = "expiration is missing or not milliseconds since the epoch";
	if (!json_object_object_get_ex(rc_obj, "expiration", &exp) ||
	    !json_object_is_type(exp, json_type_int) || json_object_get_int64(exp) <= 0)
		goto out;
	*what = NULL;
	rc = aws_credentials_set(out, id, secret, token, "");
	/* The source is named by whoever fetched (cred_source_fetch sets it). */
	free(out->source);
	out->source = NULL;
	/* Rounded up (0 would mean keys that never expire), without overflowing. */
	int64_t ms = json_object_get_int64(exp);
	out->expiration = (time_t)(ms / 1000 + (ms % 1000 != 0));
out:
	json_object_put(a);
	return rc;
}

/* ---- the cache file ---- */

/* "profile NAME: WHAT; run: aws sso login --profile NAME": the one line a user needs. */
static int need_login(char **err, const struct sso_profile *p, const char *label,
                      const char *what)
{
	return cred_fail(err, -EACCES, "%s: %s; run: aws sso login --profile %s", label, what,
	                 p->profile);
}

/* Reads the cache file into *t, with the credentials file's checks of its mode. */
static int cache_read(const struct sso_profile *p, const char *label, struct sso_token *t,
                      char **err)
{
	char msg[600];
	struct stat st;
	int fd = open(p->cache_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		snprintf(msg, sizeof(msg), "no SSO token cached in %s (%s)", p->cache_path,
		         fd < 0 ? strerror(errno) : "not a regular file");
		return need_login(err, p, label, msg);
	}
	awsfiles_warn_mode("SSO token cache", p->cache_path, st.st_mode, st.st_uid,
	                   "an access token");
	char *buf = calloc(1, CACHE_MAX + 1);
	ssize_t n = buf ? read(fd, buf, CACHE_MAX) : 0;
	close(fd);
	const char *what = "cannot be read";
	int rc = !buf ? -ENOMEM : n < 0 ? -EPROTO : sso_token_parse(buf, (size_t)n, t, &what);
	free(buf);
	if (rc == -EPROTO) {
		snprintf(msg, sizeof(msg), "the SSO token cache %s is unusable: %s", p->cache_path, what);
		return need_login(err, p, label, msg);
	}
	return rc;
}

/* Writes t back as the CLI does: a file beside it, mode 0600, renamed over it. */
static int cache_write(const struct sso_profile *p, const struct sso_token *t)
{
	char *tmp = NULL;
	const char *text = json_object_to_json_string_ext(t->doc, JSON_C_TO_STRING_PLAIN |
	                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text || asprintf(&tmp, "%s.XXXXXX", p->cache_path) < 0)
		return -ENOMEM;
	int fd = mkstemp(tmp), rc = 0;
	if (fd < 0) {
		rc = -errno;
	} else {
		size_t len = strlen(text);
		if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
			rc = errno ? -errno : -EIO;
		if (close(fd) != 0 && rc == 0)
			rc = -errno;
		if (rc == 0 && rename(tmp, p->cache_path) != 0)
			rc = -errno;
		if (rc < 0)
			unlink(tmp);
	}
	if (rc < 0)
		log_warn("SSO token refreshed, but writing it to %s failed: %s", p->cache_path,
		         strerror(-rc));
	free(tmp);
	return rc;
}

/* ---- SSO OIDC and the portal ---- */

static const struct http_header json_content = { "Content-Type", "application/json" };

static char *create_token_body(const struct sso_token *t)
{
	struct json_object *o = json_object_new_object();
	char *body = NULL;
	if (o && jset(o, "grantType", "refresh_token") == 0 && jset(o, "clientId", t->client_id) == 0 &&
	    jset(o, "clientSecret", t->client_secret) == 0 &&
	    jset(o, "refreshToken", t->refresh_token) == 0)
		body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return body;
}

/* CreateToken with the refresh token; t updated and written back. Returns 0 or a negative
 * errno, with says (for the message) saying what OIDC answered. */
static int token_refresh(const struct sso_profile *p, struct sso_token *t, char *says,
                         size_t says_len)
{
	char *url = NULL, *body = create_token_body(t);
	struct http_response resp = { 0 };
	const char *what = NULL;
	int rc = body && asprintf(&url, "%s/token", p->oidc_url) >= 0 ? 0 : -ENOMEM;
	if (rc == 0) {
		struct http_request req = { .method = "POST", .url = url, .headers = &json_content,
		                            .nheaders = 1, .body = body, .body_len = strlen(body),
		                            .max_body = CACHE_MAX };
		rc = cred_http_once(p->ca_file, 5000, &req, &resp);
		cred_answer_says(rc, &resp, says, says_len);
	}
	if (rc == 0 && resp.status != 200)
		rc = resp.status == 400 || resp.status == 401 || resp.status == 403 ? -EACCES : -EIO;
	if (rc == 0 && (rc = sso_token_refreshed(t, resp.body ? resp.body : "", resp.body_len,
	                                         time(NULL), &what)) == -EPROTO)
		snprintf(says, says_len, "an answer without a token: %s", what);
	if (rc == 0)
		cache_write(p, t);   /* failing only costs a refresh next time: it warns */
	http_response_free(&resp);
	free(url);
	free(body);
	return rc;
}

/* A token to send: the cached one, refreshed when due and possible. */
static int valid_token(const struct sso_profile *p, const char *label, struct sso_token *t,
                       char **err)
{
	char says[320] = "", msg[800];
	time_t now = time(NULL);
	int rc = cache_read(p, label, t, err);
	if (rc < 0 || !sso_token_refresh_due(t, now))
		goto check;
	rc = token_refresh(p, t, says, sizeof(says));
	if (rc < 0 && sso_token_valid(t, now)) {
		/* botocore goes on with a token that is still good when a refresh fails. */
		log_warn("%s: refreshing the SSO token at %s failed (%s); the current one is used "
		         "until it expires", label, p->oidc_url, says);
		rc = 0;
	} else if (rc < 0) {
		sso_token_free(t);
		snprintf(msg, sizeof(msg), "the SSO token in %s expired and refreshing it at %s failed "
		         "(%s)", p->cache_path, p->oidc_url, says);
		return rc == -ENOMEM ? rc : need_login(err, p, label, msg);
	}
check:
	if (rc == 0 && !sso_token_valid(t, time(NULL))) {
		sso_token_free(t);
		snprintf(msg, sizeof(msg), "the SSO token in %s has expired and cannot be refreshed",
		         p->cache_path);
		return need_login(err, p, label, msg);
	}
	return rc;
}

static char *role_url(const struct sso_profile *p)
{
	char *acct = sigv4_uri_encode(p->account_id, false), *role = sigv4_uri_encode(p->role_name, false);
	char *url = NULL;
	if (acct && role && asprintf(&url, "%s/federation/credentials?account_id=%s&role_name=%s",
	                             p->portal_url, acct, role) < 0)
		url = NULL;
	free(acct);
	free(role);
	return url;
}

/* GetRoleCredentials: unsigned, the bearer token is the proof. */
static int role_credentials(const struct sso_profile *p, const char *label, const char *token,
                            struct aws_credentials *out, char **err)
{
	char *url = role_url(p), says[320], msg[800];
	struct http_header h = { "x-amz-sso_bearer_token", token };
	struct http_request req = { .method = "GET", .url = url, .headers = &h, .nheaders = 1,
	                            .max_body = CACHE_MAX };
	struct http_response resp = { 0 };
	const char *what = NULL;
	int rc = url ? cred_http_once(p->ca_file, 5000, &req, &resp) : -ENOMEM;
	cred_answer_says(rc, &resp, says, sizeof(says));
	if (rc == 0 && (resp.status == 401 || resp.status == 403)) {
		snprintf(msg, sizeof(msg), "the SSO portal %s refused role %s in account %s (%s)",
		         p->portal_url, p->role_name, p->account_id, says);
		rc = need_login(err, p, label, msg);
	} else if (rc < 0 || resp.status != 200) {
		rc = cred_fail(err, -EIO, "%s: the SSO portal %s failed (%s)", label, p->portal_url, says);
	} else if ((rc = sso_role_parse(resp.body, resp.body_len, out, &what)) == -EPROTO) {
		rc = cred_fail(err, -EIO, "%s: the SSO portal %s answered credentials that cannot be "
		               "used: %s", label, p->portal_url, what);
	}
	http_response_free(&resp);
	free(url);
	return rc;
}

int sso_fetch(const struct sso_profile *p, const char *label, struct aws_credentials *out,
              char **err)
{
	struct sso_token t;
	int rc = valid_token(p, label, &t, err);
	if (rc < 0)
		return rc;
	rc = role_credentials(p, label, t.access_token, out, err);
	sso_token_free(&t);
	return rc;
}
