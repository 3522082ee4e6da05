/* One HTTP exchange over libcurl, with a pool of reusable handles (keep-alive). */
#include "s3/http.h"
#include "util/buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_POOL_MAX 32
#define HTTP_DEFAULT_MAX_BODY (64u << 20)

/* An easy handle, and the socket of the connection it opened last: libcurl tells a socket
 * only when it opens it, and a kept-alive connection outlives the handle's options. */
struct handle {
	CURL *easy;
	curl_socket_t fd;
};

struct http_pool {
	struct http_settings settings;
	char *ca_file;
	pthread_mutex_t lock;
	struct handle *idle[HTTP_POOL_MAX];    /* idle handles keep their connections alive */
	size_t nidle;
};

/* A response's body or header block: past max bytes the transfer stops. */
struct capped_buf {
	struct buf buf;
	size_t max;
	bool overflow;
	struct handle *h;   /* the header block's: its transfer's handle (on_header) */
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

int http_pool_new(const struct http_settings *s, struct http_pool **out)
{
	struct http_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->settings = *s;
	if (s->ca_file && !(p->ca_file = strdup(s->ca_file))) {
		free(p);
		return -ENOMEM;
	}
	p->settings.ca_file = p->ca_file;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->easy);
	free(h);
}

void http_pool_free(struct http_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nidle; i++)
		handle_free(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->ca_file);
	free(p);
}

static struct handle *pool_take(struct http_pool *p)
{
	struct handle *h = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->nidle)
		h = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	if (h) {
		curl_easy_reset(h->easy);   /* keeps live connections and the DNS cache */
		return h;
	}
	if (!(h = malloc(sizeof(*h))))
		return NULL;
	*h = (struct handle){ .easy = curl_easy_init(), .fd = CURL_SOCKET_BAD };
	if (!h->easy) {
		free(h);
		return NULL;
	}
	return h;
}

static void pool_give(struct http_pool *p, struct handle *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < HTTP_POOL_MAX) {
		p->idle[p->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	handle_free(h);
}

static bool capped_append(struct capped_buf *b, const char *data, size_t n)
{
	if (b->buf.len + n > b->max) {
		b->overflow = true;
		return false;
	}
	return buf_append(&b->buf, data, n) == 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	return capped_append(userp, data, size * nmemb) ? size * nmemb : 0;
}

/* Acknowledges at once what h's connection has received. A server that writes a response's
 * headers and its body apart (radosgw's beast frontend, whose tcp_nodelay is off by
 * default) holds a small body back under Nagle's algorithm until the headers are
 * acknowledged, and Linux delays that ACK by up to 40 ms on a kept-alive connection: each
 * small GET (a lock file) took 40 ms instead of 2. */
static void ack_now(const struct handle *h)
{
	int one = 1;
	if (h->fd != CURL_SOCKET_BAD)
		setsockopt(h->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Notes the socket of each connection the handle opens. */
static int note_socket(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	if (purpose == CURLSOCKTYPE_IPCXN)
		((struct handle *)ctx)->fd = fd;
	return CURL_SOCKOPT_OK;
}

/* Keeps only the header block of the last response (after 100 Continue, say). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct capped_buf *b = userp;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
		b->buf.len = 0;
	if (n == 2 && data[0] == '\r' && data[1] == '\n')
		ack_now(b->h);      /* the end of a header block: the body may be held back */
	return capped_append(b, data, n) ? n : 0;
}

/* Request headers that carry secrets are never printed. The SSE-C key's MD5 is not the
 * key, but it identifies it across logs. */
static bool header_is_secret(const char *line, size_t len)
{
	static const char *const secret[] = {
		"authorization:", "x-amz-security-token:",
		"x-amz-server-side-encryption-customer-key:",
		"x-amz-server-side-encryption-customer-key-md5:",
	};
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		size_t n = strlen(secret[i]);
		if (len >= n && strncasecmp(line, secret[i], n) == 0)
			return true;
	}
	return false;
}

static void trace_headers(const char *prefix, const char *data, size_t size)
{
	const char *end = data + size;
	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t len = nl ? (size_t)(nl - data) : (size_t)(end - data);
		if (len && data[len - 1] == '\r')
			len--;
		if (len && header_is_secret(data, len))
			fprintf(stderr, "%s %.*s: [redacted]\n", prefix,
			        (int)(strchr(data, ':') - data), data);
		else if (len)
			fprintf(stderr, "%s %.*s\n", prefix, (int)len, data);
		data = nl ? nl + 1 : end;
	}
}

static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *userp)
{
	(void)c;
	(void)userp;
	if (type == CURLINFO_HEADER_OUT)
		trace_headers("http >", data, size);
	else if (type == CURLINFO_HEADER_IN)
		trace_headers("http <", data, size);
	else if (type == CURLINFO_TEXT)
		fprintf(stderr, "http * %.*s", (int)size, data);
	return 0;
}

static struct curl_slist *build_headers(const struct http_request *req)
{
	struct curl_slist *list = NULL;
	char line[8192];
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *v = req->headers[i].value;
		/* "Name;" is curl's way to send a header with an empty value. */
		if (v && *v)
			snprintf(line, sizeof(line), "%s: %s", req->headers[i].name, v);
		else
			snprintf(line, sizeof(line), "%s;", req->headers[i].name);
		struct curl_slist *n = curl_slist_append(list, line);
		if (!n) {
			curl_slist_free_all(list);
			return NULL;
		}
		list = n;
	}
	/* curl adds these unless told not to; S3 signs none of them. */
	struct curl_slist *n = curl_slist_append(list, "Expect:");
	if (!n) {
		curl_slist_free_all(list);
		return NULL;
	}
	list = n;
	if (!req->body && strcmp(req->method, "POST") != 0)
		return list;
	n = curl_slist_append(list, "Content-Type:");
	if (!n)
		curl_slist_free_all(list);
	return n;
}

static void setup_handle(CURL *c, const struct http_pool *p, const struct http_request *req,
                         struct curl_slist *headers, struct capped_buf *body,
                         struct capped_buf *hdrs)
{
	const struct http_settings *s = &p->settings;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms ? s->connect_timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->stall_timeout_s ? s->stall_timeout_s : 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
	if (s->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	if (s->verbose) {
		curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	}
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body || strcmp(req->method, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		}
	}
}

static int curl_code_to_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int http_perform(struct http_pool *p, const struct http_request *req, struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	struct capped_buf body = { .max = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY };
	struct capped_buf hdrs = { .max = 64 << 10 };
	struct curl_slist *headers = build_headers(req);
	struct handle *h = headers ? pool_take(p) : NULL;
	if (!h) {
		curl_slist_free_all(headers);
		return -ENOMEM;
	}
	CURL *c = h->easy;
	char errbuf[CURL_ERROR_SIZE] = "";
	hdrs.h = h;
	setup_handle(c, p, req, headers, &body, &hdrs);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, note_socket);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	pool_give(p, h);
	curl_slist_free_all(headers);

	resp->body = body.buf.data;   /* NULL when no byte came */
	resp->body_len = body.buf.len;
	resp->headers = hdrs.buf.data;
	resp->curl_code = (int)rc;
	if (rc == CURLE_OK)
		return 0;
	snprintf(resp->curl_error, sizeof(resp->curl_error), "%s",
	         *errbuf ? errbuf : curl_easy_strerror(rc));
	if (body.overflow)
		return -EFBIG;
	return curl_code_to_errno(rc);
}

void http_response_free(struct http_response *resp)
{
	free(resp->body);
	free(resp->headers);
	resp->body = resp->headers = NULL;
}

char *http_response_header(const struct http_response *resp, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = resp->headers; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
			const char *v = line + n + 1, *end = line + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			return strndup(v, (size_t)(end - v));
		}
		line = nl ? nl + 1 : line + len;
	}
	return NULL;
}
