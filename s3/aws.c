/* Signed AWS requests: endpoint, credentials, SigV4 per attempt, retries with backoff. */
#include "s3/aws.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "s3/sigv4.h"

#define AWS_MAX_ATTEMPTS 4
#define AWS_BACKOFF_BASE_MS 100
#define AWS_BACKOFF_CAP_MS 2000
#define AWS_MAX_HEADERS 16

struct aws_client {
	struct http_pool *http;
	struct aws_cred_provider *creds;    /* borrowed */
	char *region;
	char *service;
};

int aws_endpoint_parse(const char *url, struct aws_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	const char *sep = strstr(url, "://");
	if (!sep)
		return -EINVAL;
	out->scheme = strndup(url, (size_t)(sep - url));
	const char *host = sep + 3;
	size_t hostlen = strcspn(host, "/?#");
	const char *path = host + hostlen;
	size_t pathlen = strcspn(path, "?#");
	while (pathlen && path[pathlen - 1] == '/')
		pathlen--;
	out->host = strndup(host, hostlen);
	out->base_path = strndup(path, pathlen);
	if (!out->scheme || !out->host || !out->base_path)
		goto fail;
	if (strcmp(out->scheme, "http") != 0 && strcmp(out->scheme, "https") != 0)
		goto fail;
	if (!hostlen || strchr(out->host, '@'))
		goto fail;
	/* "[::1]:7480" keeps its brackets in Host but not in the name. */
	const char *colon = out->host[0] == '[' ? strstr(out->host, "]:") : strrchr(out->host, ':');
	size_t namelen = colon ? (size_t)(colon - out->host) + (out->host[0] == '[') : hostlen;
	if (!(out->hostname = strndup(out->host, namelen)))
		goto fail;
	return 0;
fail:
	aws_endpoint_free(out);
	return -EINVAL;
}

void aws_endpoint_free(struct aws_endpoint *e)
{
	free(e->scheme);
	free(e->host);
	free(e->hostname);
	free(e->base_path);
	memset(e, 0, sizeof(*e));
}

int aws_client_new(struct http_pool *http, struct aws_cred_provider *creds,
                   const char *region, const char *service, struct aws_client **out)
{
	struct aws_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->http = http;
	c->creds = creds;
	c->region = strdup(region);
	c->service = strdup(service);
	if (!c->region || !c->service) {
		aws_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void aws_client_free(struct aws_client *c)
{
	if (!c)
		return;
	free(c->region);
	free(c->service);
	free(c);
}

const char *aws_client_region(const struct aws_client *c)
{
	return c->region;
}

static int client_set_region(struct aws_client *c, const char *region)
{
	char *r = strdup(region);
	if (!r)
		return -ENOMEM;
	free(c->region);
	c->region = r;
	return 0;
}

/* The headers every signed request carries, in front of the caller's own. */
struct signed_headers {
	struct http_header h[AWS_MAX_HEADERS];
	size_t n;
	char amz_date[17];
	char payload_hash[65];
	char *authorization;
	struct aws_credentials creds;   /* this attempt's: renewed ones may come between attempts */
};

static int sign_request(const struct aws_client *c, const struct aws_request *req,
                        struct signed_headers *sh)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(sh->amz_date, sizeof(sh->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	sigv4_sha256_hex(req->body ? req->body : "", req->body_len, sh->payload_hash);

	if (req->nheaders + 5 > AWS_MAX_HEADERS)
		return -E2BIG;
	int rc = aws_cred_get(c->creds, &sh->creds);
	if (rc < 0)
		return rc;
	sh->n = 0;
	sh->h[sh->n++] = (struct http_header){ "Host", req->host ? req->host : req->endpoint->host };
	sh->h[sh->n++] = (struct http_header){ "X-Amz-Date", sh->amz_date };
	if (req->content_sha256_header)
		sh->h[sh->n++] = (struct http_header){ "X-Amz-Content-Sha256", sh->payload_hash };
	if (sh->creds.session_token)
		sh->h[sh->n++] = (struct http_header){ "X-Amz-Security-Token", sh->creds.session_token };
	for (size_t i = 0; i < req->nheaders; i++)
		sh->h[sh->n++] = req->headers[i];

	char path[4096];
	snprintf(path, sizeof(path), "%s%s", req->endpoint->base_path, req->path);
	struct sigv4_header sv[AWS_MAX_HEADERS];
	for (size_t i = 0; i < sh->n; i++)
		sv[i] = (struct sigv4_header){ sh->h[i].name, sh->h[i].value };
	struct sigv4_request sreq = {
		.method = req->method, .path = path, .query = req->query,
		.headers = sv, .nheaders = sh->n,
		.payload_hash = sh->payload_hash, .normalize_path = false,
	};
	struct sigv4_key key = {
		.access_key = sh->creds.access_key, .secret_key = sh->creds.secret_key,
		.region = c->region, .service = c->service,
	};
	sh->authorization = sigv4_authorization(&sreq, &key, sh->amz_date);
	if (!sh->authorization)
		return -ENOMEM;
	sh->h[sh->n++] = (struct http_header){ "Authorization", sh->authorization };
	return 0;
}

static bool status_is_retryable(long status)
{
	return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

/* Full jitter: a random wait below the capped exponential bound. */
static void backoff_sleep(int attempt)
{
	unsigned bound = AWS_BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
	if (bound > AWS_BACKOFF_CAP_MS)
		bound = AWS_BACKOFF_CAP_MS;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&bound ^ (unsigned)attempt;
	usleep((useconds_t)(rand_r(&seed) % bound + 1) * 1000);
}

static int send_once(struct aws_client *c, const struct aws_request *req, const char *url,
                     struct http_response *resp)
{
	struct signed_headers sh = { 0 };
	int rc = sign_request(c, req, &sh);
	if (rc == 0) {
		struct http_request hreq = {
			.method = req->method, .url = url, .headers = sh.h, .nheaders = sh.n,
			.body = req->body, .body_len = req->body_len, .max_body = req->max_body,
		};
		rc = http_perform(c->http, &hreq, resp);
	}
	free(sh.authorization);
	aws_credentials_free(&sh.creds);
	return rc;
}

int aws_send(struct aws_client *c, const struct aws_request *req, struct http_response *resp,
             struct aws_error *err)
{
	memset(err, 0, sizeof(*err));
	memset(resp, 0, sizeof(*resp));
	const char *host = req->host ? req->host : req->endpoint->host;
	char *url = NULL;
	if (asprintf(&url, "%s://%s%s%s%s%s", req->endpoint->scheme, host, req->endpoint->base_path,
	             req->path, req->query ? "?" : "", req->query ? req->query : "") < 0)
		return -ENOMEM;

	int rc = 0;
	int max_attempts = req->idempotent ? AWS_MAX_ATTEMPTS : 1;
	for (int attempt = 0; attempt < max_attempts; attempt++) {
		if (attempt) {
			http_response_free(resp);
			backoff_sleep(attempt);
		}
		err->attempts = attempt + 1;
		err->answer_refused = false;
		rc = send_once(c, req, url, resp);
		if (rc == -ENOMEM || rc == -EPROTO || rc == -EFBIG)
			break;
		if (rc != 0 || status_is_retryable(resp->status))
			continue;
		err->answer_refused = req->retry_answer && req->retry_answer(resp);
		if (!err->answer_refused)
			break;
	}
	free(url);
	err->http_status = resp->status;
	if (rc < 0)
		snprintf(err->message, sizeof(err->message), "%s",
		         resp->curl_error[0] ? resp->curl_error : strerror(-rc));
	return rc;
}

void aws_error_to_store(const struct aws_error *err, struct store_error *out)
{
	out->status = err->http_status;
	out->attempts = err->attempts;
	snprintf(out->code, sizeof(out->code), "%s", err->code);
	snprintf(out->message, sizeof(out->message), "%s", err->message);
	snprintf(out->request_id, sizeof(out->request_id), "%s", err->request_id);
}

void aws_error_describe(const struct aws_error *err, char *buf, size_t len)
{
	struct store_error e;
	aws_error_to_store(err, &e);
	store_error_describe(&e, buf, len);
}


static char *default_endpoint(const char *service, const char *region)
{
	char *url = NULL;
	const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
	if (asprintf(&url, "https://%s.%s.%s", service, region, suffix) < 0)
		return NULL;
	return url;
}

static int service_fail(struct aws_service *s, char **err, int rc, const char *msg)
{
	if (err && asprintf(err, "%s", msg) < 0)
		*err = NULL;
	aws_service_free(s);
	return rc;
}

int aws_service_init(struct aws_service *s, const struct aws_service_config *cfg,
                     struct aws_cred_provider *creds, char **err)
{
	memset(s, 0, sizeof(*s));
	if (err)
		*err = NULL;
	pthread_mutex_init(&s->stats_lock, NULL);
	s->inited = true;
	s->name = cfg->name;
	s->debug = cfg->debug;
	/* SigV4 signs for a region even where the endpoint is a local one. */
	if (!cfg->region || !*cfg->region)
		return service_fail(s, err, -EINVAL, "no region: set -o region=");
	s->signing_name = cfg->signing_name;
	s->default_endpoint = !cfg->endpoint;
	s->endpoint_url = cfg->endpoint ? strdup(cfg->endpoint)
	                                : default_endpoint(cfg->signing_name, cfg->region);
	if (!s->endpoint_url)
		return service_fail(s, err, -ENOMEM, "out of memory");
	if (aws_endpoint_parse(s->endpoint_url, &s->endpoint) < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s endpoint '%s' is not an http:// or https:// URL with a "
		         "host name", s->name, s->endpoint_url);
		return service_fail(s, err, -EINVAL, msg);
	}
	struct http_settings hs = cfg->http;
	hs.verbose = false;
	int rc = http_pool_new(&hs, &s->http);
	if (rc == 0)
		rc = aws_client_new(s->http, creds, cfg->region, cfg->signing_name, &s->aws);
	return rc < 0 ? service_fail(s, err, rc, "out of memory") : 0;
}

int aws_service_set_region(struct aws_service *s, const char *region)
{
	if (s->default_endpoint) {
		struct aws_endpoint e;
		char *url = default_endpoint(s->signing_name, region);
		if (!url || aws_endpoint_parse(url, &e) < 0) {
			free(url);
			return -ENOMEM;
		}
		aws_endpoint_free(&s->endpoint);
		free(s->endpoint_url);
		s->endpoint = e;
		s->endpoint_url = url;
	}
	return client_set_region(s->aws, region);
}

void aws_service_free(struct aws_service *s)
{
	if (!s->inited)
		return;
	aws_client_free(s->aws);
	http_pool_free(s->http);
	aws_endpoint_free(&s->endpoint);
	free(s->endpoint_url);
	pthread_mutex_destroy(&s->stats_lock);
	memset(s, 0, sizeof(*s));   /* inited false: freeing twice is harmless */
}

/* Adds one request of op to the counters (ops beyond the table's size go uncounted). */
static void count(struct aws_service *s, const char *op, int rc, const struct http_response *resp,
                  const struct aws_error *err)
{
	pthread_mutex_lock(&s->stats_lock);
	struct store_op_stats *o = NULL;
	for (size_t i = 0; i < s->stats.nops && !o; i++)
		if (strcmp(s->stats.ops[i].op, op) == 0)
			o = &s->stats.ops[i];
	if (!o && s->stats.nops < STORE_STATS_OPS)
		(o = &s->stats.ops[s->stats.nops++])->op = op;
	if (o) {
		o->requests++;
		o->attempts += (unsigned)err->attempts;
		o->failures += rc < 0 || resp->status >= 400;
		o->bytes_in += resp->body_len;
	}
	pthread_mutex_unlock(&s->stats_lock);
}

void aws_service_stats(struct aws_service *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->stats_lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->stats_lock);
}

static void trace(const struct aws_service *s, const char *op, const char *what,
                  const struct aws_error *err, const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
	/* Keys and lock IDs come from whoever can write the bucket, and end on a terminal. */
	char shown[512];
	snprintf(shown, sizeof(shown), "%s", what);
	for (char *p = shown; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "%s: %s %s -> %ld in %.1f ms (%d attempt%s)\n", s->name, op, shown,
	        err->http_status, ms, err->attempts, err->attempts == 1 ? "" : "s");
}

int aws_service_send(struct aws_service *s, struct aws_request *req, const char *op,
                     const char *what, struct http_response *resp, struct aws_error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	req->endpoint = &s->endpoint;
	int rc = aws_send(s->aws, req, resp, err);
	count(s, op, rc, resp, err);
	if (s->debug)
		trace(s, op, what, err, &t0);
	return rc;
}
