/* AWS Signature Version 4: canonical request, string to sign, signature, Authorization header. */
#include "s3/sigv4.h"
#include "util/buf.h"
#include "util/hex.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
/* SHA-256 of nothing: what a request without a body (or without a payload hash) signs. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_DATE_LEN 8 /* "YYYYMMDD", the start of an amz_date */

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/* ---- Characters. ASCII only, so the result never depends on the process locale. ---- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void sb_add_encoded_byte(struct buf *b, unsigned char c, bool keep_slash)
{
	if (is_unreserved(c) || (keep_slash && c == '/')) {
		buf_append_char(b, (char)c);
		return;
	}
	char esc[3] = { '%', hex_upper[c >> 4], hex_upper[c & 0x0f] };
	buf_append(b, esc, sizeof(esc));
}

static void sb_add_encoded(struct buf *b, const char *s, size_t n, bool keep_slash)
{
	for (size_t i = 0; i < n; i++)
		sb_add_encoded_byte(b, (unsigned char)s[i], keep_slash);
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
	return sigv4_uri_encode_n(s, s ? strlen(s) : 0, keep_slash);
}

char *sigv4_uri_encode_n(const char *s, size_t n, bool keep_slash)
{
	struct buf b = { 0 };
	if (s)
		sb_add_encoded(&b, s, n, keep_slash);
	return buf_take(&b);
}

/* ---- Canonical URI ---- */

/* Removes "." and ".." segments and empty segments (so "//" collapses), keeping a trailing
 * '/', the way the AWS test suite (aws-c-auth) normalizes. */
static void sb_add_normalized_path(struct buf *out, const char *path)
{
	size_t start = out->len;
	for (const char *seg = path; *seg;) {
		size_t n = strcspn(seg, "/");
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out->len > start && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > start)
				out->len--; /* the '/' in front of the dropped segment */
			if (out->data)
				out->data[out->len] = '\0';
		} else if (n > 0 && !(n == 1 && seg[0] == '.')) {
			buf_append_char(out, '/');
			buf_append(out, seg, n);
		}
		seg += n + (seg[n] == '/');
	}
	if (out->len == start || path[strlen(path) - 1] == '/')
		buf_append_char(out, '/');
}

/* S3 signs the path exactly as sent. Every other service wants it normalized and then
 * URI-encoded once more: AWS specifies double encoding for non-S3 services, since they
 * sign the path without first decoding it. */
static void sb_add_canonical_path(struct buf *out, const char *path, bool normalize)
{
	if (!path || !*path) {
		buf_append_char(out, '/');
		return;
	}
	if (!normalize) {
		buf_append_str(out, path);
		return;
	}
	struct buf norm = { 0 };
	sb_add_normalized_path(&norm, path);
	if (norm.failed)
		out->failed = true;
	else
		sb_add_encoded(out, norm.data, norm.len, true);
	buf_free(&norm);
}

/* ---- Canonical query string ---- */

struct query_param {
	char *name;  /* canonically encoded */
	char *value; /* canonically encoded */
};

/* Decodes %XX and re-encodes, so that "%7e", "~" and "%7E" all sign as "~" and an
 * already-encoded query (the usual case) is not encoded twice. A '%' that does not start
 * a valid escape is taken literally. */
static char *canonical_component(const char *s, size_t n)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
			c = (unsigned char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
			i += 2;
		}
		sb_add_encoded_byte(&b, c, false);
	}
	return buf_take(&b);
}

static int query_param_cmp(const void *a, const void *b)
{
	const struct query_param *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	return r ? r : strcmp(x->value, y->value);
}

static void query_params_free(struct query_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

/* Splits query on '&' (skipping empty pieces) into encoded name/value pairs; a piece
 * without '=' has an empty value. Returns false on out-of-memory. */
static bool query_params_parse(const char *query, struct query_param **out, size_t *count)
{
	size_t max = 1;
	for (const char *q = query; *q; q++)
		max += *q == '&';
	struct query_param *p = calloc(max, sizeof(*p));
	size_t n = 0;
	if (!p)
		return false;
	for (const char *piece = query; *piece;) {
		size_t len = strcspn(piece, "&");
		if (len > 0) {
			const char *eq = memchr(piece, '=', len);
			size_t name_len = eq ? (size_t)(eq - piece) : len;
			struct query_param *q = &p[n++];
			q->name = canonical_component(piece, name_len);
			q->value = eq ? canonical_component(eq + 1, len - name_len - 1) : strdup("");
			if (!q->name || !q->value) {
				query_params_free(p, n);
				return false;
			}
		}
		piece += len + (piece[len] == '&');
	}
	*out = p;
	*count = n;
	return true;
}

/* Parameters sorted by encoded name, then encoded value, joined with '&'. */
static void sb_add_canonical_query(struct buf *out, const char *query)
{
	struct query_param *p;
	size_t n;
	if (!query || !*query)
		return;
	if (!query_params_parse(query, &p, &n)) {
		out->failed = true;
		return;
	}
	qsort(p, n, sizeof(*p), query_param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append_char(out, '&');
		buf_append_str(out, p[i].name);
		buf_append_char(out, '=');
		buf_append_str(out, p[i].value);
	}
	query_params_free(p, n);
}

/* ---- Canonical headers ---- */

/* A header in signing order; borrows the caller's strings. */
struct header_ref {
	const struct sigv4_header *h;
	size_t order; /* position in the request, so that repeated headers keep their order */
};

/* strcmp on the ASCII-lowercased names. */
static int name_cmp(const char *a, const char *b)
{
	for (; *a && ascii_lower(*a) == ascii_lower(*b); a++, b++)
		;
	return (unsigned char)ascii_lower(*a) - (unsigned char)ascii_lower(*b);
}

/* By lowercase name; qsort is not stable, so equal names fall back to request order. */
static int header_ref_cmp(const void *a, const void *b)
{
	const struct header_ref *x = a, *y = b;
	int r = name_cmp(x->h->name, y->h->name);
	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The request's headers sorted for signing, or NULL on out-of-memory. */
static struct header_ref *headers_sorted(const struct sigv4_request *req)
{
	struct header_ref *refs = calloc(req->nheaders ? req->nheaders : 1, sizeof(*refs));
	if (!refs)
		return NULL;
	for (size_t i = 0; i < req->nheaders; i++)
		refs[i] = (struct header_ref){ &req->headers[i], i };
	qsort(refs, req->nheaders, sizeof(*refs), header_ref_cmp);
	return refs;
}

static void sb_add_lower(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_append_char(b, ascii_lower(*s));
}

/* The value with leading and trailing whitespace dropped and inner runs of whitespace
 * (line breaks of a folded header included) turned into one space. */
static void sb_add_trimmed(struct buf *b, const char *v)
{
	bool pending_space = false, started = false;
	for (; v && *v; v++) {
		if (is_space(*v)) {
			pending_space = started;
			continue;
		}
		if (pending_space)
			buf_append_char(b, ' ');
		pending_space = false;
		started = true;
		buf_append_char(b, *v);
	}
}

/* "name:value\n" per distinct name; repeated headers join their values with ','. */
static void sb_add_canonical_headers(struct buf *out, const struct header_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool repeat = i > 0 && name_cmp(refs[i - 1].h->name, refs[i].h->name) == 0;
		if (repeat) {
			buf_append_char(out, ',');
		} else {
			if (i > 0)
				buf_append_char(out, '\n');
			sb_add_lower(out, refs[i].h->name);
			buf_append_char(out, ':');
		}
		sb_add_trimmed(out, refs[i].h->value);
	}
	if (n > 0)
		buf_append_char(out, '\n');
}

/* "a;b;c": each distinct lowercase name once. */
static void sb_add_signed_headers(struct buf *out, const struct header_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && name_cmp(refs[i - 1].h->name, refs[i].h->name) == 0)
			continue;
		if (i > 0)
			buf_append_char(out, ';');
		sb_add_lower(out, refs[i].h->name);
	}
}

/* ---- Canonical request ---- */

/* Builds the canonical request and, when signed_out is not NULL, the signed-headers list
 * (which the Authorization header repeats). Returns NULL on out-of-memory. */
static char *canonical_request(const struct sigv4_request *req, char **signed_out)
{
	struct header_ref *refs = headers_sorted(req);
	if (!refs)
		return NULL;
	struct buf out = { 0 }, signed_headers = { 0 };
	buf_append_str(&out, req->method ? req->method : "");
	buf_append_char(&out, '\n');
	sb_add_canonical_path(&out, req->path, req->normalize_path);
	buf_append_char(&out, '\n');
	sb_add_canonical_query(&out, req->query);
	buf_append_char(&out, '\n');
	sb_add_canonical_headers(&out, refs, req->nheaders);
	buf_append_char(&out, '\n');
	sb_add_signed_headers(&signed_headers, refs, req->nheaders);
	buf_append(&out, signed_headers.data ? signed_headers.data : "", signed_headers.len);
	buf_append_char(&out, '\n');
	buf_append_str(&out, req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256);
	free(refs);

	char *canon = buf_take(&out);
	char *signed_list = buf_take(&signed_headers);
	if (!canon || !signed_list) {
		free(canon);
		free(signed_list);
		return NULL;
	}
	if (signed_out)
		*signed_out = signed_list;
	else
		free(signed_list);
	return canon;
}

char *sigv4_canonical_request(const struct sigv4_request *req)
{
	return canonical_request(req, NULL);
}

/* ---- String to sign and signature ---- */

static void bytes_to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	/* Always our own md buffer: with NULL, SHA256() would use a shared static one. */
	SHA256(data ? data : (const void *)"", data ? len : 0, md);
	bytes_to_hex(md, sizeof(md), out);
}

/* "<yyyymmdd>/<region>/<service>/aws4_request" */
static void sb_add_scope(struct buf *b, const struct sigv4_key *key, const char *amz_date)
{
	buf_append(b, amz_date, strnlen(amz_date, SIGV4_DATE_LEN));
	buf_append_char(b, '/');
	buf_append_str(b, key->region);
	buf_append_char(b, '/');
	buf_append_str(b, key->service);
	buf_append_char(b, '/');
	buf_append_str(b, SIGV4_TERMINATOR);
}

static char *string_to_sign(const char *canon, const struct sigv4_key *key, const char *amz_date)
{
	char hash[65];
	sigv4_sha256_hex(canon, strlen(canon), hash);
	struct buf b = { 0 };
	buf_append_str(&b, SIGV4_ALGORITHM "\n");
	buf_append_str(&b, amz_date);
	buf_append_char(&b, '\n');
	sb_add_scope(&b, key, amz_date);
	buf_append_char(&b, '\n');
	buf_append_str(&b, hash);
	return buf_take(&b);
}

char *sigv4_string_to_sign(const struct sigv4_request *req, const struct sigv4_key *key,
                           const char *amz_date)
{
	char *canon = canonical_request(req, NULL);
	if (!canon)
		return NULL;
	char *sts = string_to_sign(canon, key, amz_date);
	free(canon);
	return sts;
}

static bool hmac_sha256(const void *k, size_t klen, const void *msg, size_t mlen,
                        unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int outlen = 0;
	if (klen > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), k, (int)klen, msg, mlen, out, &outlen) != NULL &&
	       outlen == SHA256_DIGEST_LENGTH;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static bool signing_key(const struct sigv4_key *key, const char *amz_date,
                        unsigned char out[SHA256_DIGEST_LENGTH])
{
	struct buf secret = { 0 };
	buf_append_str(&secret, "AWS4");
	buf_append_str(&secret, key->secret_key);
	if (secret.failed) {
		buf_free(&secret);
		return false;
	}
	unsigned char k_date[SHA256_DIGEST_LENGTH], k_region[SHA256_DIGEST_LENGTH];
	unsigned char k_service[SHA256_DIGEST_LENGTH];
	bool ok = hmac_sha256(secret.data, secret.len, amz_date, strnlen(amz_date, SIGV4_DATE_LEN),
	                      k_date) &&
	          hmac_sha256(k_date, sizeof(k_date), key->region, strlen(key->region), k_region) &&
	          hmac_sha256(k_region, sizeof(k_region), key->service, strlen(key->service),
	                      k_service) &&
	          hmac_sha256(k_service, sizeof(k_service), SIGV4_TERMINATOR,
	                      strlen(SIGV4_TERMINATOR), out);
	/* The secret and the keys derived from it should not linger in freed memory. */
	OPENSSL_cleanse(secret.data, secret.len);
	OPENSSL_cleanse(k_date, sizeof(k_date));
	OPENSSL_cleanse(k_region, sizeof(k_region));
	OPENSSL_cleanse(k_service, sizeof(k_service));
	buf_free(&secret);
	return ok;
}

static char *signature_of(const char *sts, const struct sigv4_key *key, const char *amz_date)
{
	unsigned char k_signing[SHA256_DIGEST_LENGTH], sig[SHA256_DIGEST_LENGTH];
	bool ok = signing_key(key, amz_date, k_signing) &&
	          hmac_sha256(k_signing, sizeof(k_signing), sts, strlen(sts), sig);
	OPENSSL_cleanse(k_signing, sizeof(k_signing));
	if (!ok)
		return NULL;
	char *hex = malloc(2 * sizeof(sig) + 1);
	if (hex)
		bytes_to_hex(sig, sizeof(sig), hex);
	return hex;
}

char *sigv4_signature(const struct sigv4_request *req, const struct sigv4_key *key,
                      const char *amz_date)
{
	char *sts = sigv4_string_to_sign(req, key, amz_date);
	if (!sts)
		return NULL;
	char *sig = signature_of(sts, key, amz_date);
	free(sts);
	return sig;
}

char *sigv4_authorization(const struct sigv4_request *req, const struct sigv4_key *key,
                          const char *amz_date)
{
	char *signed_headers = NULL;
	char *canon = canonical_request(req, &signed_headers);
	char *sts = canon ? string_to_sign(canon, key, amz_date) : NULL;
	char *sig = sts ? signature_of(sts, key, amz_date) : NULL;
	struct buf b = { 0 };
	if (sig) {
		buf_append_str(&b, SIGV4_ALGORITHM " Credential=");
		buf_append_str(&b, key->access_key);
		buf_append_char(&b, '/');
		sb_add_scope(&b, key, amz_date);
		buf_append_str(&b, ", SignedHeaders=");
		buf_append_str(&b, signed_headers);
		buf_append_str(&b, ", Signature=");
		buf_append_str(&b, sig);
	}
	char *auth = sig ? buf_take(&b) : NULL;
	free(sig);
	free(sts);
	free(canon);
	free(signed_headers);
	return auth;
}
