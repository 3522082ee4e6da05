/* Tests s3/sigv4.c: AWS's SigV4 test suite (tests/data/sigv4), AWS's S3 examples, encoding. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "s3/sigv4.h"
#include "check.h"

#define SUITE_DIR TESTDATA "/sigv4"
#define SUITE_MAX_HEADERS 32
#define SUITE_MAX_CASES 256

/* ---- Small helpers ---- */

/* dir/file into path; false when it does not fit. */
static bool join(char path[4096], const char *dir, const char *file)
{
	int n = snprintf(path, 4096, "%s/%s", dir, file);
	return n > 0 && n < 4096;
}

/* Reads dir/file whole, NUL-terminated; *len (may be NULL) gets its size. NULL if unreadable. */
static char *slurp(const char *dir, const char *file, size_t *len)
{
	char path[4096];
	FILE *f = join(path, dir, file) ? fopen(path, "rb") : NULL;
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0, got;
	do {
		if (n + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = n + 4096 + 1);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static bool file_exists(const char *dir, const char *file)
{
	char path[4096];
	struct stat st;
	return join(path, dir, file) && stat(path, &st) == 0;
}

/* Checks every signing step of req against the expected strings (any may be NULL to skip). */
static void check_signing(const struct sigv4_request *req, const struct sigv4_key *key,
                          const char *amz_date, const char *canon, const char *sts,
                          const char *sig, const char *auth)
{
	char *got_canon = sigv4_canonical_request(req);
	char *got_sts = sigv4_string_to_sign(req, key, amz_date);
	char *got_sig = sigv4_signature(req, key, amz_date);
	char *got_auth = sigv4_authorization(req, key, amz_date);
	if (canon)
		CHECK_STR(got_canon, canon);
	if (sts)
		CHECK_STR(got_sts, sts);
	if (sig)
		CHECK_STR(got_sig, sig);
	if (auth)
		CHECK_STR(got_auth, auth);
	free(got_canon);
	free(got_sts);
	free(got_sig);
	free(got_auth);
}

/* ---- The AWS SigV4 test suite ---- */

/* request.txt, cut in place: the strings point into text. */
struct suite_request {
	char *text;
	const char *method, *path, *query, *body;
	size_t body_len;
	struct sigv4_header h[SUITE_MAX_HEADERS];
	size_t nh;
};

/* "GET /path?query HTTP/1.1": method, path and query; the protocol is dropped. */
static bool parse_request_line(char *line, struct suite_request *r)
{
	char *sp = strchr(line, ' ');
	char *proto = strrchr(line, ' ');
	if (!sp || proto == sp)
		return false;
	*sp = *proto = '\0';
	r->method = line;
	r->path = sp + 1;
	char *q = strchr(sp + 1, '?');
	if (q) {
		*q = '\0';
		r->query = q + 1;
	}
	return true;
}

/* Headers as the suite defines them (aws-c-auth's test parser): "Name:value" with the value
 * untrimmed; a line starting with whitespace continues the previous value, line break
 * included. Then a blank line and the body, which runs to the end of the file. */
static bool parse_request(char *text, size_t len, struct suite_request *r)
{
	*r = (struct suite_request){ .text = text };
	char *eol = strchr(text, '\n');
	if (!eol)
		return false;
	*eol = '\0';
	if (!parse_request_line(text, r))
		return false;
	char *value_end = NULL; /* where the last header's value ends, cut when it is complete */
	char *p = eol + 1;
	while (*p) {
		char *e = p + strcspn(p, "\n");
		if (e == p) { /* the blank line */
			r->body = p + 1;
			r->body_len = len - (size_t)(r->body - text);
			break;
		}
		if (*p == ' ' || *p == '\t') {
			if (!value_end)
				return false;
			value_end = e;
		} else {
			char *colon = memchr(p, ':', (size_t)(e - p));
			if (!colon || r->nh == SUITE_MAX_HEADERS)
				return false;
			if (value_end)
				*value_end = '\0';
			*colon = '\0';
			r->h[r->nh++] = (struct sigv4_header){ p, colon + 1 };
			value_end = e;
		}
		p = *e ? e + 1 : e;
	}
	if (value_end)
		*value_end = '\0';
	return true;
}

/* context.json; the strings belong to root. */
struct suite_context {
	json_object *root;
	const char *access_key, *secret_key, *token, *region, *service;
	bool normalize, sign_body, omit_token;
	char amz_date[32];
};

static const char *ctx_str(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string) ?
	               json_object_get_string(v) : NULL;
}

static bool ctx_bool(json_object *o, const char *name, bool dflt)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) ? json_object_get_boolean(v) : dflt;
}

/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
static bool amz_date_from_iso(const char *iso, char out[32])
{
	size_t n = 0;
	for (; iso && *iso && n < 31; iso++)
		if (*iso != '-' && *iso != ':')
			out[n++] = *iso;
	out[n] = '\0';
	return n == 16;
}

static bool load_context(const char *dir, struct suite_context *c)
{
	char path[4096];
	*c = (struct suite_context){ .root = join(path, dir, "context.json") ?
	                                             json_object_from_file(path) : NULL };
	json_object *creds;
	if (!c->root || !json_object_object_get_ex(c->root, "credentials", &creds))
		return false;
	c->access_key = ctx_str(creds, "access_key_id");
	c->secret_key = ctx_str(creds, "secret_access_key");
	c->token = ctx_str(creds, "token");
	c->region = ctx_str(c->root, "region");
	c->service = ctx_str(c->root, "service");
	c->normalize = ctx_bool(c->root, "normalize", true);
	c->sign_body = ctx_bool(c->root, "sign_body", false);
	c->omit_token = ctx_bool(c->root, "omit_session_token", false);
	return c->access_key && c->secret_key && c->region && c->service &&
	       amz_date_from_iso(ctx_str(c->root, "timestamp"), c->amz_date);
}

/* The Authorization value in header-signed-request.txt (cut in place), or NULL. */
static const char *expected_authorization(char *signed_request)
{
	for (char *line = signed_request; line && *line;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		if (strncmp(line, "Authorization:", 14) == 0)
			return line + 14;
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

struct suite_files {
	char *request, *canon, *sts, *sig, *signed_request;
	size_t request_len;
};

static void suite_files_free(struct suite_files *f)
{
	free(f->request);
	free(f->canon);
	free(f->sts);
	free(f->sig);
	free(f->signed_request);
}

/* Signs the case's request the way the suite's signer does and compares every step. */
static void run_vector(const struct suite_request *r, const struct suite_context *c,
                       struct suite_files *f)
{
	char body_hash[65];
	sigv4_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, body_hash);

	/* The suite's signer adds X-Amz-Date, X-Amz-Content-Sha256 when it signs the body, and
	 * X-Amz-Security-Token unless told to add the token after signing (then unsigned). */
	struct sigv4_header h[SUITE_MAX_HEADERS + 3];
	size_t nh = r->nh;
	memcpy(h, r->h, r->nh * sizeof(h[0]));
	h[nh++] = (struct sigv4_header){ "X-Amz-Date", c->amz_date };
	if (c->sign_body)
		h[nh++] = (struct sigv4_header){ "X-Amz-Content-Sha256", body_hash };
	if (c->token && !c->omit_token)
		h[nh++] = (struct sigv4_header){ "X-Amz-Security-Token", c->token };

	/* The suite treats its request-line path as the wire path and always double-encodes
	 * it (aws-c-auth's use_double_uri_encode). With normalize_path our signer does that
	 * second encoding itself; without it (S3 mode) it signs the path verbatim, so it gets
	 * the path with that one encoding already applied. */
	char *path = c->normalize ? strdup(r->path) : sigv4_uri_encode(r->path, true);
	struct sigv4_request req = {
		.method = r->method, .path = path, .query = r->query,
		.headers = h, .nheaders = nh,
		.payload_hash = body_hash, .normalize_path = c->normalize,
	};
	struct sigv4_key key = { c->access_key, c->secret_key, c->region, c->service };
	CHECK(path != NULL);
	if (path)
		check_signing(&req, &key, c->amz_date, f->canon, f->sts, f->sig,
		              expected_authorization(f->signed_request));
	free(path);
}

/* One case directory. Returns 1 when it ran and passed, 0 when it failed, -1 if skipped. */
static int run_case(const char *dir, const char *name)
{
	if (!file_exists(dir, "header-canonical-request.txt")) {
		printf("sigv4: skipping %s: no header-signing expectations\n", name);
		return -1;
	}
	int failed_before = check_failed;
	struct suite_files f = { 0 };
	f.request = slurp(dir, "request.txt", &f.request_len);
	f.canon = slurp(dir, "header-canonical-request.txt", NULL);
	f.sts = slurp(dir, "header-string-to-sign.txt", NULL);
	f.sig = slurp(dir, "header-signature.txt", NULL);
	f.signed_request = slurp(dir, "header-signed-request.txt", NULL);
	struct suite_request r;
	struct suite_context c;
	bool ctx_ok = load_context(dir, &c);
	bool files_ok = f.request && f.canon && f.sts && f.sig && f.signed_request;
	bool req_ok = files_ok && parse_request(f.request, f.request_len, &r);
	CHECK(ctx_ok);
	CHECK(files_ok);
	CHECK(req_ok);
	if (ctx_ok && req_ok)
		run_vector(&r, &c, &f);
	json_object_put(c.root);
	suite_files_free(&f);
	if (check_failed != failed_before)
		fprintf(stderr, "  ^ in test-suite case %s\n", name);
	return check_failed == failed_before;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case directories under SUITE_DIR, sorted so the output is stable. */
static size_t list_cases(char **names, size_t max)
{
	DIR *d = opendir(SUITE_DIR);
	size_t n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; n < max && (e = readdir(d));) {
		char path[4096];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (!join(path, SUITE_DIR, e->d_name) || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if ((names[n] = strdup(e->d_name)))
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	return n;
}

static void test_aws_suite(void)
{
	char *names[SUITE_MAX_CASES];
	size_t n = list_cases(names, SUITE_MAX_CASES);
	int passed = 0, failed = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		char dir[4096];
		int rc = join(dir, SUITE_DIR, names[i]) ? run_case(dir, names[i]) : 0;
		passed += rc == 1;
		failed += rc == 0;
		skipped += rc == -1;
		free(names[i]);
	}
	CHECK(n > 0); /* an empty or missing suite must not pass silently */
	printf("sigv4: AWS test suite: %d vectors passed, %d failed, %d skipped\n",
	       passed, failed, skipped);
}

/* ---- sigv4_uri_encode ---- */

static void check_encode(const char *in, bool keep_slash, const char *want)
{
	char *got = sigv4_uri_encode(in, keep_slash);
	CHECK_STR(got, want);
	free(got);
}

static void test_uri_encode(void)
{
	check_encode("", false, "");
	check_encode("a b", false, "a%20b");
	check_encode("a/b/c", false, "a%2Fb%2Fc");
	check_encode("a/b/c", true, "a/b/c");
	check_encode("\xE1\x88\xB4", true, "%E1%88%B4"); /* U+1234, uppercase hex per byte */
	check_encode("caf\xC3\xA9", false, "caf%C3%A9");
	check_encode("-._~AZaz09", false, "-._~AZaz09");
	check_encode("a+b=c", false, "a%2Bb%3Dc");
	check_encode("100%", true, "100%25");
	check_encode("env:/x$y&z?", true, "env%3A/x%24y%26z%3F");
	check_encode("\x7f\x01", false, "%7F%01");
	/* With a length: a NUL is a byte like any other. */
	char *got = sigv4_uri_encode_n("a\0b c", 5, false);
	CHECK_STR(got, "a%00b%20c");
	free(got);
	got = sigv4_uri_encode_n("abc", 0, false);
	CHECK_STR(got, "");
	free(got);
}

/* ---- Canonical query and headers on their own ---- */

/* The canonical request's third line for a GET / with the given query. */
static void check_query(const char *query, const char *want)
{
	struct sigv4_header h = { "Host", "example.com" };
	struct sigv4_request req = {
		.method = "GET", .path = "/", .query = query, .headers = &h, .nheaders = 1,
		.payload_hash = "UNSIGNED-PAYLOAD", .normalize_path = false,
	};
	char *canon = sigv4_canonical_request(&req);
	char *line = NULL;
	if (canon) {
		char *start = strchr(strchr(canon, '\n') + 1, '\n') + 1;
		line = strndup(start, strcspn(start, "\n"));
	}
	CHECK_STR(line, want);
	free(line);
	free(canon);
}

static void test_query(void)
{
	check_query(NULL, "");
	check_query("", "");
	check_query("b=2&a=1&a=0&c", "a=0&a=1&b=2&c=");
	check_query("lifecycle", "lifecycle=");
	check_query("&&a=1&", "a=1");
	check_query("k=a=b", "k=a%3Db");
	/* Already-encoded input is not encoded twice; escapes come out uppercase. */
	check_query("prefix=env%3a%2Fdev&delimiter=%2F", "delimiter=%2F&prefix=env%3A%2Fdev");
	check_query("t=%7E~", "t=~~");
	check_query("x=a+b", "x=a%2Bb");
	check_query("x=a b", "x=a%20b");
	check_query("bad=%zz%4", "bad=%25zz%254");
	/* Sorted by encoded name, then value: "Param" before "Param-3", '%' before letters. */
	check_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
	            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
}

static void test_headers(void)
{
	struct sigv4_header h[] = {
		{ "X-Amz-Meta-B", "  two\t words  " },
		{ "Host", "example.com" },
		{ "x-amz-meta-a", "1" },
		{ "X-AMZ-META-A", " 2 " },
		{ "x-amz-meta-empty", "   " },
	};
	struct sigv4_request req = {
		.method = "PUT", .path = "/k", .headers = h, .nheaders = 5,
		.payload_hash = "UNSIGNED-PAYLOAD",
	};
	char *canon = sigv4_canonical_request(&req);
	CHECK_STR(canon, "PUT\n/k\n\n"
	                 "host:example.com\n"
	                 "x-amz-meta-a:1,2\n"
	                 "x-amz-meta-b:two words\n"
	                 "x-amz-meta-empty:\n\n"
	                 "host;x-amz-meta-a;x-amz-meta-b;x-amz-meta-empty\n"
	                 "UNSIGNED-PAYLOAD");
	free(canon);
}

static void test_sha256(void)
{
	char hex[65];
	sigv4_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sigv4_sha256_hex("Welcome to Amazon S3.", 21, hex);
	CHECK_STR(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

/* ---- S3 ---- */

#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_AUTH(signed, sig) "AWS4-HMAC-SHA256 Credential=" S3_AK "/20130524/us-east-1/s3/aws4_request, " \
	"SignedHeaders=" signed ", Signature=" sig

/* The worked examples in AWS's S3 documentation ("Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"). */
static const struct sigv4_key s3_example_key = { S3_AK, S3_SK, "us-east-1", "s3" };

static void test_s3_get_object(void)
{
	struct sigv4_header h[] = { { "Host", S3_HOST }, { "Range", "bytes=0-9" },
	                            { "x-amz-content-sha256", EMPTY_SHA }, { "x-amz-date", S3_DATE } };
	struct sigv4_request req = { .method = "GET", .path = "/test.txt", .headers = h,
	                             .nheaders = 4, .payload_hash = EMPTY_SHA };
	check_signing(&req, &s3_example_key, S3_DATE,
	              "GET\n/test.txt\n\nhost:" S3_HOST "\nrange:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA
	              "\nx-amz-date:" S3_DATE "\n\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
	              "AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/aws4_request\n"
	              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
	              "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	              S3_AUTH("host;range;x-amz-content-sha256;x-amz-date",
	                      "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
}

/* A real payload hash; the key "test$file.text" goes out encoded. */
static void test_s3_put_object(void)
{
	char hash[65];
	sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
	char *path = sigv4_uri_encode("/test$file.text", true);
	struct sigv4_header h[] = { { "Host", S3_HOST }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
	                            { "x-amz-date", S3_DATE }, { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	                            { "x-amz-content-sha256", hash } };
	struct sigv4_request req = { .method = "PUT", .path = path, .headers = h,
	                             .nheaders = 5, .payload_hash = hash };
	CHECK_STR(path, "/test%24file.text");
	check_signing(&req, &s3_example_key, S3_DATE, NULL,
	              "AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/aws4_request\n"
	              "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
	              "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", NULL);
	free(path);
}

/* A subresource without a value ("?lifecycle"), then a listing query. */
static void test_s3_queries(void)
{
	struct sigv4_header h[] = { { "Host", S3_HOST }, { "x-amz-date", S3_DATE },
	                            { "x-amz-content-sha256", EMPTY_SHA } };
	struct sigv4_request req = { .method = "GET", .path = "/", .query = "lifecycle",
	                             .headers = h, .nheaders = 3, .payload_hash = EMPTY_SHA };
	check_signing(&req, &s3_example_key, S3_DATE, NULL, NULL,
	              "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", NULL);
	req.query = "max-keys=2&prefix=J";
	check_signing(&req, &s3_example_key, S3_DATE, NULL, NULL,
	              "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	              S3_AUTH("host;x-amz-content-sha256;x-amz-date",
	                      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

#define TF_DATE "20240102T030405Z"
#define TF_HOST "s3.eu-west-1.amazonaws.com"
#define TF_PATH "/tf-bucket//env%3A/./prod/terraform.tfstate"
#define TF_BODY_SHA "cb7eaac38e4e63301a8c274daf072bd6144f07e2d883bdc1b9c45e2d8c1375e3"

/* An S3 object path with "//" and "/./" signs exactly as sent. The expected signatures
 * were computed separately, with Python's hmac and hashlib over these canonical requests. */
static void test_s3_unnormalized(void)
{
	const struct sigv4_key key = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	                               "eu-west-1", "s3" };
	struct sigv4_header h[] = { { "Host", TF_HOST }, { "X-Amz-Date", TF_DATE },
	                            { "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD" } };
	struct sigv4_request req = { .method = "GET", .path = TF_PATH, .query = "versionId=3%2B1",
	                             .headers = h, .nheaders = 3, .payload_hash = "UNSIGNED-PAYLOAD" };
	check_signing(&req, &key, TF_DATE,
	              "GET\n" TF_PATH "\nversionId=3%2B1\nhost:" TF_HOST "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
	              "x-amz-date:" TF_DATE "\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD",
	              NULL, "e9bb7a787f7763c3856bd9896213287881b1abeacfdf0dd670b0b3249716aed7", NULL);

	const char *body = "{\"version\": 4}\n";
	char hash[65];
	sigv4_sha256_hex(body, strlen(body), hash);
	h[2].value = hash;
	req = (struct sigv4_request){ .method = "PUT", .path = TF_PATH, .headers = h, .nheaders = 3,
	                              .payload_hash = hash };
	CHECK_STR(hash, TF_BODY_SHA);
	check_signing(&req, &key, TF_DATE,
	              "PUT\n" TF_PATH "\n\nhost:" TF_HOST "\nx-amz-content-sha256:" TF_BODY_SHA "\n"
	              "x-amz-date:" TF_DATE "\n\nhost;x-amz-content-sha256;x-amz-date\n" TF_BODY_SHA,
	              NULL, "5a6da0cdc57841fd3f09383f7bebc40ecac3cd27ef3b992c5f1369a099299f73", NULL);

	/* The same path for a non-S3 service: dot segments and empty segments go, and the
	 * already-encoded path is encoded once more, as AWS specifies for those services. */
	req.normalize_path = true;
	char *canon = sigv4_canonical_request(&req);
	CHECK(canon && strncmp(canon, "PUT\n/tf-bucket/env%253A/prod/terraform.tfstate\n", 47) == 0);
	free(canon);
}

/* ---- No shared state: concurrent signers get the same answers ---- */

#define THREADS 4
#define ROUNDS 200

static void *sign_many(void *arg)
{
	const char *want = arg;
	struct sigv4_header h[] = { { "Host", S3_HOST }, { "x-amz-date", S3_DATE },
	                            { "x-amz-content-sha256", EMPTY_SHA } };
	struct sigv4_request req = { .method = "GET", .path = "/", .query = "max-keys=2&prefix=J",
	                             .headers = h, .nheaders = 3, .payload_hash = EMPTY_SHA };
	intptr_t mismatches = 0;
	for (int i = 0; i < ROUNDS; i++) {
		char *sig = sigv4_signature(&req, &s3_example_key, S3_DATE);
		mismatches += !sig || strcmp(sig, want) != 0;
		free(sig);
	}
	return (void *)mismatches;
}

static void test_threads(void)
{
	static const char want[] = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
	pthread_t t[THREADS];
	int started = 0;
	for (; started < THREADS; started++)
		if (pthread_create(&t[started], NULL, sign_many, (void *)want) != 0)
			break;
	CHECK_INT(started, THREADS);
	for (int i = 0; i < started; i++) {
		void *mismatches = NULL;
		pthread_join(t[i], &mismatches);
		CHECK_INT((intptr_t)mismatches, 0);
	}
}

int main(void)
{
	test_uri_encode();
	test_query();
	test_headers();
	test_sha256();
	test_s3_get_object();
	test_s3_put_object();
	test_s3_queries();
	test_s3_unnormalized();
	test_threads();
	test_aws_suite();
	return check_report("sigv4");
}
