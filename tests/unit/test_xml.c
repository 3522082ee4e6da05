/* Unit tests for s3/xml.c: ListObjectsV2 pages, error documents, hostile XML. */
#include "s3/xml.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATA TESTDATA "/xml/"
#define MAX_BODY (16u << 20)

/* Key comparison by bytes and length, since a decoded key may hold a NUL. */
#define CHECK_KEY(obj, want, want_len) do { \
	const struct s3_object *o_ = (obj); \
	size_t wl_ = (want_len); \
	if (o_->key && o_->key_len == wl_ && memcmp(o_->key, (want), wl_) == 0 && o_->key[wl_] == '\0') \
		check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_KEY failed: %s (len %zu), want %s\n", \
	                               __FILE__, __LINE__, o_->key ? o_->key : "(null)", \
	                               o_->key_len, #want); } \
} while (0)
#define CHECK_KEY_STR(obj, want) CHECK_KEY(obj, want, strlen(want))

/* Reads tests/data/xml/<name> whole; the caller frees it. */
static char *load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), DATA "%s", name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static int list_file(const char *name, bool url, struct s3_list_page *pg)
{
	size_t len;
	char *body = load(name, &len);
	int rc = s3_xml_parse_list(body, len, url, pg);
	free(body);
	return rc;
}

static int error_file(const char *name, struct s3_error *err)
{
	size_t len;
	char *body = load(name, &len);
	int rc = s3_xml_parse_error(body, len, err);
	free(body);
	return rc;
}

static int list_str(const char *xml, bool url, struct s3_list_page *pg)
{
	return s3_xml_parse_list(xml, strlen(xml), url, pg);
}

static int error_str(const char *xml, struct s3_error *err)
{
	return s3_xml_parse_error(xml, strlen(xml), err);
}

/* Parses a page of one <Contents> holding inner; the page is freed unless keep is given. */
static int one_object(const char *inner, bool url, struct s3_list_page *keep)
{
	char xml[2048];
	snprintf(xml, sizeof(xml), "<ListBucketResult>%s<IsTruncated>false</IsTruncated>"
	         "<Contents>%s</Contents></ListBucketResult>",
	         url ? "<EncodingType>url</EncodingType>" : "", inner);
	struct s3_list_page pg;
	int rc = list_str(xml, url, keep ? keep : &pg);
	if (!keep)
		s3_list_page_free(&pg);
	return rc;
}

/* A Contents with key text k and valid size and date. */
static int one_key(const char *k, bool url, struct s3_list_page *keep)
{
	char inner[1024];
	snprintf(inner, sizeof(inner), "<Key>%s</Key><Size>1</Size>"
	         "<LastModified>2026-11-28T09:38:48Z</LastModified>", k);
	return one_object(inner, url, keep);
}

static bool page_is_zero(const struct s3_list_page *pg)
{
	return !pg->objects && !pg->nobjects && !pg->prefixes && !pg->nprefixes &&
	       !pg->truncated && !pg->next_token;
}

static bool error_is_zero(const struct s3_error *e)
{
	return !e->code && !e->message && !e->region && !e->request_id;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_radosgw_page(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("list_rgw.xml", true, &pg), 0);
	CHECK_INT(pg.nobjects, 3);
	if (pg.nobjects == 3) {
		CHECK_KEY_STR(&pg.objects[0], "env:/prod eu/network.tfstate");
		CHECK_INT(pg.objects[0].size, 48211);
		CHECK_INT(pg.objects[0].mtime, 1795858728);
		CHECK_STR(pg.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
		CHECK_KEY_STR(&pg.objects[1], "env:/prod eu/network.tfstate.tflock");
		CHECK_INT(pg.objects[1].size, 0);
		CHECK_INT(pg.objects[1].mtime, 1795858730);
		/* %2B is '+', and a bare '+' is a '+' too, never a space. */
		CHECK_KEY_STR(&pg.objects[2], "r\xc3\xa9seau/a+b+c.tfstate");
		CHECK_INT(pg.objects[2].size, 10485760);
		CHECK_INT(pg.objects[2].mtime, 1736942400);
		CHECK_STR(pg.objects[2].etag, "\"3858f62230ac3c915f300c664312c11f-2\"");
	}
	CHECK(pg.truncated);
	CHECK_STR(pg.next_token, "1ZPpAwYJcmVzZWF1L2ErYitjLnRmc3RhdGU-");
	CHECK_INT(pg.nprefixes, 0);
	CHECK(pg.prefixes == NULL);
	s3_list_page_free(&pg);
	CHECK(page_is_zero(&pg));
	s3_list_page_free(&pg);    /* a freed page may be freed again */
}

static void test_aws_page(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("list_aws.xml", true, &pg), 0);
	CHECK_INT(pg.nobjects, 4);
	if (pg.nobjects == 4) {
		CHECK_KEY_STR(&pg.objects[0], "env:/staging/terraform.tfstate");
		CHECK_INT(pg.objects[0].mtime, 1795858728);
		CHECK_INT(pg.objects[0].size, 1234);
		CHECK_KEY_STR(&pg.objects[1], "my project/caf\xc3\xa9.tfstate");
		CHECK(pg.objects[1].size == UINT64_MAX);
		CHECK_INT(pg.objects[1].mtime, 1709251199);
		CHECK_KEY_STR(&pg.objects[2], "c++/1+1=2.tfstate");
		CHECK_INT(pg.objects[2].mtime, 1685577600);
		CHECK_KEY_STR(&pg.objects[3], "terraform.tfstate");
		CHECK_STR(pg.objects[3].etag, "\"e4da3b7fbbce2345d7772b0674a318d5\"");
		CHECK_INT(pg.objects[3].mtime, 1772360130);
	}
	CHECK(!pg.truncated);
	CHECK(pg.next_token == NULL);
	s3_list_page_free(&pg);
}

/* No namespace, indentation between elements, entities, and keys sent unencoded. */
static void test_no_namespace_page(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("list_nons.xml", false, &pg), 0);
	CHECK_INT(pg.nobjects, 2);
	if (pg.nobjects == 2) {
		CHECK_KEY_STR(&pg.objects[0], "a&b/<x>.tfstate");
		CHECK_STR(pg.objects[0].etag, "\"c81e728d9d4c2f636f067f89cc14862c\"");
		CHECK_INT(pg.objects[0].mtime, 1795858728);
		CHECK_KEY_STR(&pg.objects[1], "50%off/b+c.tfstate");
		CHECK_INT(pg.objects[1].mtime, 1795858728);
		CHECK_INT(pg.objects[1].size, 3);
	}
	s3_list_page_free(&pg);
	/* Asked for url encoding, but the page does not say it was applied: taken as sent. */
	CHECK_INT(list_file("list_nons.xml", true, &pg), 0);
	if (pg.nobjects == 2)
		CHECK_KEY_STR(&pg.objects[1], "50%off/b+c.tfstate");
	s3_list_page_free(&pg);
	/* Where the page does say so, "%of" is no percent escape: refused, not guessed at. */
	CHECK_INT(list_str("<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>50%off</Key>"
	                   "<Size>1</Size><LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
	                   "</ListBucketResult>", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
}

static void test_prefixed_namespace(void)
{
	struct s3_list_page pg;
	const char *xml = "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:EncodingType>url</s3:EncodingType>"
		"<s3:IsTruncated>true</s3:IsTruncated><s3:Contents><s3:Key>a%20b</s3:Key>"
		"<s3:Size>5</s3:Size><s3:LastModified>2026-11-28T09:38:48.157Z</s3:LastModified>"
		"</s3:Contents><s3:NextContinuationToken>tok</s3:NextContinuationToken>"
		"</s3:ListBucketResult>";
	CHECK_INT(list_str(xml, true, &pg), 0);
	CHECK_INT(pg.nobjects, 1);
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "a b");
	CHECK(pg.objects && pg.objects[0].etag == NULL);   /* ETag is optional */
	CHECK_STR(pg.next_token, "tok");
	s3_list_page_free(&pg);
}

static void test_common_prefixes(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("list_prefixes.xml", true, &pg), 0);
	CHECK_INT(pg.nobjects, 1);
	CHECK_INT(pg.nprefixes, 3);
	if (pg.nprefixes == 3) {
		CHECK_STR(pg.prefixes[0], "env:/");
		CHECK_STR(pg.prefixes[1], "my project/");
		CHECK_STR(pg.prefixes[2], "r\xc3\xa9seau/");
	}
	s3_list_page_free(&pg);

	/* A prefix decoding to a NUL cannot be returned as a string: it is left out. */
	CHECK_INT(list_str("<ListBucketResult><EncodingType>url</EncodingType>"
	                   "<CommonPrefixes><Prefix>a%00b/</Prefix></CommonPrefixes>"
	                   "<CommonPrefixes><Prefix>c/</Prefix></CommonPrefixes></ListBucketResult>",
	                   true, &pg), 0);
	CHECK_INT(pg.nprefixes, 1);
	if (pg.nprefixes == 1)
		CHECK_STR(pg.prefixes[0], "c/");
	s3_list_page_free(&pg);

	/* Found by fuzz_xml_list: a left-out prefix followed by a bad one was freed twice. */
	CHECK_INT(list_str("<ListBucketResult><EncodingType>url</EncodingType>"
	                   "<CommonPrefixes><Prefix>a%00b/</Prefix></CommonPrefixes>"
	                   "<CommonPrefixes><Prefix>c/</Prefix></CommonPrefixes>"
	                   "<CommonPrefixes><Prefix>%zz/</Prefix></CommonPrefixes></ListBucketResult>",
	                   true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));

	CHECK_INT(list_str("<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>",
	                   true, &pg), -EBADMSG);
	CHECK_INT(list_str("<ListBucketResult><CommonPrefixes><Prefix>a/</Prefix><Prefix>b/</Prefix>"
	                   "</CommonPrefixes></ListBucketResult>", true, &pg), -EBADMSG);
	CHECK_INT(list_str("<ListBucketResult><EncodingType>url</EncodingType>"
	                   "<CommonPrefixes><Prefix>%4/</Prefix>"
	                   "</CommonPrefixes></ListBucketResult>", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
}

/* A server that ignores encoding-type=url says nothing of it and sends keys as they are:
 * decoding them anyway would turn "50%41off" into "50Aoff", and fail on "100%". */
static void test_encoding_ignored_by_server(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_str("<ListBucketResult><Contents><Key>50%41off</Key><Size>1</Size>"
	                   "<LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
	                   "<Contents><Key>100%</Key><Size>1</Size>"
	                   "<LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
	                   "<CommonPrefixes><Prefix>a%20b/</Prefix></CommonPrefixes></ListBucketResult>",
	                   true, &pg), 0);
	CHECK_INT(pg.nobjects, 2);
	if (pg.nobjects == 2) {
		CHECK_KEY_STR(&pg.objects[0], "50%41off");
		CHECK_KEY_STR(&pg.objects[1], "100%");
	}
	CHECK_INT(pg.nprefixes, 1);
	if (pg.nprefixes == 1)
		CHECK_STR(pg.prefixes[0], "a%20b/");
	s3_list_page_free(&pg);
	/* The EncodingType may come after the keys (order is not fixed): still decoded. */
	CHECK_INT(list_str("<ListBucketResult><Contents><Key>a%20b</Key><Size>1</Size>"
	                   "<LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
	                   "<EncodingType>url</EncodingType></ListBucketResult>", true, &pg), 0);
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "a b");
	s3_list_page_free(&pg);
}

static void test_empty_bucket(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("list_empty.xml", true, &pg), 0);
	CHECK(page_is_zero(&pg));
	s3_list_page_free(&pg);
	CHECK_INT(list_str("<ListBucketResult/>", true, &pg), 0);
	CHECK(page_is_zero(&pg));
}

static void test_key_decoding(void)
{
	struct s3_list_page pg;
	CHECK_INT(one_key("a%00b", true, &pg), 0);
	if (pg.nobjects == 1)
		CHECK_KEY(&pg.objects[0], "a\0b", 3);
	s3_list_page_free(&pg);

	CHECK_INT(one_key("a+b%20c", true, &pg), 0);
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "a+b c");
	s3_list_page_free(&pg);

	CHECK_INT(one_key("%c3%a9%C3%A9%25%2b", true, &pg), 0);   /* either case of hex */
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "\xc3\xa9\xc3\xa9%+");
	s3_list_page_free(&pg);

	CHECK_INT(one_key("%FF%01", true, &pg), 0);   /* any byte, UTF-8 or not */
	if (pg.nobjects == 1)
		CHECK_KEY(&pg.objects[0], "\xff\x01", 2);
	s3_list_page_free(&pg);

	CHECK_INT(one_key("a%20b", false, &pg), 0);   /* not encoded: taken as sent */
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "a%20b");
	s3_list_page_free(&pg);

	static const char *const bad[] = { "%G1", "%4", "%", "a%4", "%%41", "%4G", "ab%", "%-1", "% 1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(one_key(bad[i], true, &pg), -EBADMSG);
		CHECK(page_is_zero(&pg));
	}
}

/* CDATA, comments and character references are all just text. */
static void test_text_forms(void)
{
	struct s3_list_page pg;
	CHECK_INT(one_key("<![CDATA[a<b>&c]]>", false, &pg), 0);
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "a<b>&c");
	s3_list_page_free(&pg);

	CHECK_INT(one_key("a<!-- x -->b&#x41;&#66;", false, &pg), 0);
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], "abAB");
	s3_list_page_free(&pg);

	CHECK_INT(one_key(" ", false, &pg), 0);   /* whitespace is kept where it is the value */
	if (pg.nobjects == 1)
		CHECK_KEY_STR(&pg.objects[0], " ");
	s3_list_page_free(&pg);

	CHECK_INT(one_key("a<b/>c", false, NULL), -EBADMSG);     /* markup inside a field */
	CHECK_INT(one_key("&undeclared;", false, NULL), -EBADMSG);
}

static void test_truncation(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_str("<ListBucketResult><IsTruncated>true</IsTruncated>"
	                   "<NextContinuationToken>abc/+=</NextContinuationToken></ListBucketResult>",
	                   true, &pg), 0);
	CHECK(pg.truncated);
	CHECK_STR(pg.next_token, "abc/+=");   /* opaque: never decoded */
	s3_list_page_free(&pg);

	/* Not truncated: a token, if sent anyway, is dropped. */
	CHECK_INT(list_str("<ListBucketResult><IsTruncated>false</IsTruncated>"
	                   "<NextContinuationToken>abc</NextContinuationToken></ListBucketResult>",
	                   true, &pg), 0);
	CHECK(!pg.truncated);
	CHECK(pg.next_token == NULL);
	s3_list_page_free(&pg);

	static const char *const bad[] = {
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
		"</NextContinuationToken></ListBucketResult>",
		"<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>True</IsTruncated><NextContinuationToken>t"
		"</NextContinuationToken></ListBucketResult>",
		"<ListBucketResult><IsTruncated></IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><IsTruncated>true</IsTruncated>"
		"</ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a"
		"</NextContinuationToken><NextContinuationToken>b</NextContinuationToken>"
		"</ListBucketResult>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(list_str(bad[i], true, &pg), -EBADMSG);
		CHECK(page_is_zero(&pg));
	}
}

static void test_bad_contents(void)
{
	static const char *const bad[] = {
		"<Size>1</Size><LastModified>2026-11-28T09:38:48Z</LastModified>",           /* no Key */
		"<Key></Key><Size>1</Size><LastModified>2026-11-28T09:38:48Z</LastModified>",
		"<Key>k</Key><LastModified>2026-11-28T09:38:48Z</LastModified>",            /* no Size */
		"<Key>k</Key><Size>1</Size>",                                      /* no LastModified */
		"<Key>k</Key><Key>j</Key><Size>1</Size><LastModified>2026-11-28T09:38:48Z</LastModified>",
		"<Key>k</Key><Size>1</Size><Size>2</Size><LastModified>2026-11-28T09:38:48Z</LastModified>",
		"<Key>k</Key><Size>1</Size><LastModified>2026-11-28T09:38:48Z</LastModified>"
		"<LastModified>2026-11-28T09:38:48Z</LastModified>",
		"<Key>k</Key><ETag>a</ETag><ETag>b</ETag><Size>1</Size>"
		"<LastModified>2026-11-28T09:38:48Z</LastModified>",
		"<Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified>",
		"<Key>k</Key><Size>1</Size><LastModified>2026-02-30T00:00:00Z</LastModified>",
		"<Key>k</Key><Size>1</Size><LastModified></LastModified>",
		"<Key>k</Key><Size><n>1</n></Size><LastModified>2026-11-28T09:38:48Z</LastModified>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(one_object(bad[i], true, NULL), -EBADMSG);

	static const char *const sizes[] = {
		"-1", "+1", " 1", "1 ", "1.5", "", "0x10", "18446744073709551616", "99999999999999999999",
	};
	char inner[256];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(inner, sizeof(inner), "<Key>k</Key><Size>%s</Size>"
		         "<LastModified>2026-11-28T09:38:48Z</LastModified>", sizes[i]);
		CHECK_INT(one_object(inner, true, NULL), -EBADMSG);
	}
	/* Elements the module does not know are skipped, whatever is inside them. */
	CHECK_INT(one_object("<Key>k</Key><Size>1</Size><Owner><ID><x>1</x></ID></Owner>"
	                     "<LastModified>2026-11-28T09:38:48Z</LastModified>", true, NULL), 0);
}

/* An empty field is empty text: the text of the field before it is not taken instead
 * (a date from the object before, a "false" from a key). An empty LastModified or
 * IsTruncated is as bad as when it comes first. */
static void test_empty_field_after_text(void)
{
	struct s3_list_page pg;
	static const char *const bad[] = {
		/* The second object's empty date follows the first object's date. */
		"<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a</Key><Size>1</Size>"
		"<LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
		"<Contents><LastModified/><Key>b</Key><Size>2</Size></Contents></ListBucketResult>",
		/* A key that reads as a date, then an empty date. */
		"<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>2026-11-28T09:38:48Z</Key><LastModified></LastModified>"
		"<Size>1</Size></Contents></ListBucketResult>",
		/* A key "false", then an empty IsTruncated: no page says whether it is the last. */
		"<ListBucketResult><Contents><Size>1</Size>"
		"<LastModified>2026-11-28T09:38:48Z</LastModified><Key>false</Key></Contents>"
		"<IsTruncated></IsTruncated></ListBucketResult>",
		/* A token "true", then an empty IsTruncated. */
		"<ListBucketResult><NextContinuationToken>true</NextContinuationToken>"
		"<IsTruncated/></ListBucketResult>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&pg, 0x5a, sizeof(pg));
		CHECK_INT(list_str(bad[i], true, &pg), -EBADMSG);
		CHECK(page_is_zero(&pg));
		s3_list_page_free(&pg);
	}

	/* Empty where empty is allowed: an ETag after a longer one is "", not the old one. */
	CHECK_INT(list_str("<ListBucketResult><IsTruncated>false</IsTruncated>"
	                   "<Contents><Key>a</Key><Size>1</Size><ETag>\"e1\"</ETag>"
	                   "<LastModified>2026-11-28T09:38:48Z</LastModified></Contents>"
	                   "<Contents><Key>b</Key><Size>2</Size><ETag></ETag>"
	                   "<LastModified>2026-11-28T09:38:49Z</LastModified></Contents>"
	                   "</ListBucketResult>", true, &pg), 0);
	CHECK_INT(pg.nobjects, 2);
	if (pg.nobjects == 2) {
		CHECK_STR(pg.objects[0].etag, "\"e1\"");
		CHECK_STR(pg.objects[1].etag, "");
		CHECK_INT(pg.objects[1].mtime, 1795858729);
	}
	s3_list_page_free(&pg);

	/* The same in an error document: an empty Message after a Code. */
	struct s3_error err;
	CHECK_INT(error_str("<Error><Code>NoSuchKey</Code><Message/></Error>", &err), 0);
	CHECK_STR(err.code, "NoSuchKey");
	CHECK_STR(err.message, "");
	s3_error_free(&err);
}

/* A failure after some objects were read frees them and leaves the page zeroed. */
static void test_zeroed_on_error(void)
{
	struct s3_list_page pg;
	memset(&pg, 0x5a, sizeof(pg));
	CHECK_INT(list_str("<ListBucketResult><Contents><Key>a</Key><Size>1</Size>"
	                   "<LastModified>2026-11-28T09:38:48Z</LastModified><ETag>e</ETag></Contents>"
	                   "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
	                   "<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>"
	                   "<Contents><Key>b</Key></Contents></ListBucketResult>", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));

	struct s3_error err;
	memset(&err, 0x5a, sizeof(err));
	CHECK_INT(error_str("<Error><Code>a</Code><Code>b</Code></Error>", &err), -EBADMSG);
	CHECK(error_is_zero(&err));
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"not xml at all",
		"<ListBucketResult>",
		"<ListBucketResult><Contents></ListBucketResult>",
		"<ListBucketResult></ListBucketResult><ListBucketResult/>",
		"<ListBucketResult/>trailing",
		"<?xml version=\"1.0\"?>",
		"<ListBucketResult><Name>\xff\xfe</Name></ListBucketResult>",   /* not UTF-8 */
		"<ListBucketResult a='1' a='2'/>",
	};
	struct s3_list_page pg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(list_str(bad[i], true, &pg), -EBADMSG);
		CHECK(page_is_zero(&pg));
	}
	CHECK_INT(s3_xml_parse_list("", 0, true, &pg), -EBADMSG);
	CHECK_INT(s3_xml_parse_list(NULL, 0, true, &pg), -EBADMSG);
	/* A NUL inside the body (len counts past it) is not XML. */
	CHECK_INT(s3_xml_parse_list("<ListBucketResult>\0</ListBucketResult>", 38, true, &pg), -EBADMSG);

	/* A body cut short mid-page. */
	size_t len;
	char *body = load("list_aws.xml", &len);
	CHECK_INT(s3_xml_parse_list(body, len / 2, true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
	free(body);
}

static void test_wrong_root(void)
{
	struct s3_list_page pg;
	CHECK_INT(list_file("error_nosuchbucket.xml", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
	CHECK_INT(list_str("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>", true, &pg),
	          -EBADMSG);
	CHECK_INT(list_str("<ListVersionsResult><IsTruncated>false</IsTruncated></ListVersionsResult>",
	                   true, &pg), -EBADMSG);
	/* Contents below the top level is not part of this page. */
	CHECK_INT(list_str("<ListBucketResult><Other><Contents><Key>k</Key></Contents></Other>"
	                   "</ListBucketResult>", true, &pg), 0);
	CHECK_INT(pg.nobjects, 0);
	s3_list_page_free(&pg);

	struct s3_error err;
	CHECK_INT(error_file("list_aws.xml", &err), -EBADMSG);
	CHECK(error_is_zero(&err));
}

/* Entity tricks must not expand, must not read files and must return at once. */
static void test_hostile_entities(void)
{
	struct s3_list_page pg;
	struct s3_error err;
	double t0 = now_seconds();
	CHECK_INT(list_file("billion_laughs.xml", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
	CHECK_INT(error_file("billion_laughs.xml", &err), -EBADMSG);
	CHECK(now_seconds() - t0 < 1.0);

	CHECK_INT(list_file("xxe_file.xml", true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
	CHECK_INT(list_file("xxe_param.xml", true, &pg), -EBADMSG);
	CHECK_INT(list_file("xxe_dtd.xml", true, &pg), -EBADMSG);
	/* Any DOCTYPE, even a harmless one: S3 never sends one. */
	CHECK_INT(list_str("<!DOCTYPE ListBucketResult><ListBucketResult/>", true, &pg), -EBADMSG);
	CHECK_INT(error_str("<!DOCTYPE Error [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	                    "<Error><Code>&x;</Code></Error>", &err), -EBADMSG);
	CHECK(error_is_zero(&err));
}

/* Nesting far past libxml2's depth limit is refused, not recursed into. */
static void test_deep_nesting(void)
{
	enum { DEPTH = 100000 };
	char *body = malloc(DEPTH * 7 + 64);
	size_t n = (size_t)sprintf(body, "<ListBucketResult>");
	for (int i = 0; i < DEPTH; i++)
		n += (size_t)sprintf(body + n, "<a>");
	for (int i = 0; i < DEPTH; i++)
		n += (size_t)sprintf(body + n, "</a>");
	n += (size_t)sprintf(body + n, "</ListBucketResult>");
	struct s3_list_page pg;
	CHECK_INT(s3_xml_parse_list(body, n, true, &pg), -EBADMSG);
	free(body);
}

/* <root>, blanks, </root>: a well-formed body of exactly len bytes. */
static char *padded(const char *root, size_t len)
{
	char head[64], tail[64];
	size_t hl = (size_t)snprintf(head, sizeof(head), "<%s>", root);
	size_t tl = (size_t)snprintf(tail, sizeof(tail), "</%s>", root);
	char *body = malloc(len);
	memcpy(body, head, hl);
	memset(body + hl, ' ', len - hl - tl);
	memcpy(body + len - tl, tail, tl);
	return body;
}

/* A body of exactly the limit is read; one byte more is refused unread. */
static void test_size_limit(void)
{
	struct s3_list_page pg;
	char *body = padded("ListBucketResult", MAX_BODY);
	CHECK_INT(s3_xml_parse_list(body, MAX_BODY, true, &pg), 0);
	s3_list_page_free(&pg);
	free(body);
	body = padded("ListBucketResult", MAX_BODY + 1);
	CHECK_INT(s3_xml_parse_list(body, MAX_BODY + 1, true, &pg), -EBADMSG);
	CHECK(page_is_zero(&pg));
	free(body);

	struct s3_error err;
	body = padded("Error", MAX_BODY);
	CHECK_INT(s3_xml_parse_error(body, MAX_BODY, &err), 0);
	s3_error_free(&err);
	free(body);
	body = padded("Error", MAX_BODY + 1);
	CHECK_INT(s3_xml_parse_error(body, MAX_BODY + 1, &err), -EBADMSG);
	free(body);
}

/* A full 1000-key page, as AWS and radosgw send at most. */
static void test_many_objects(void)
{
	enum { N = 1000 };
	char *body = malloc(N * 160 + 128);
	size_t n = (size_t)sprintf(body, "<ListBucketResult><IsTruncated>false</IsTruncated>"
	                           "<EncodingType>url</EncodingType>");
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(body + n, "<Contents><Key>dir%%2Fkey%%20%d</Key><Size>%d</Size>"
		                     "<LastModified>2026-11-28T09:38:48.157Z</LastModified>"
		                     "<ETag>&quot;%d&quot;</ETag></Contents>", i, i, i);
	n += (size_t)sprintf(body + n, "</ListBucketResult>");
	struct s3_list_page pg;
	CHECK_INT(s3_xml_parse_list(body, n, true, &pg), 0);
	CHECK_INT(pg.nobjects, N);
	if (pg.nobjects == N) {
		CHECK_KEY_STR(&pg.objects[N - 1], "dir/key 999");
		CHECK_INT(pg.objects[N - 1].size, 999);
		CHECK_STR(pg.objects[N - 1].etag, "\"999\"");
	}
	s3_list_page_free(&pg);
	free(body);
}

static void test_error_documents(void)
{
	struct s3_error err;
	CHECK_INT(error_file("error_nosuchbucket.xml", &err), 0);
	CHECK_STR(err.code, "NoSuchBucket");
	CHECK(err.message == NULL);
	CHECK(err.region == NULL);
	CHECK_STR(err.request_id, "tx000001f2c7a4e5b9d0c31-0067a1b2c3-1a2b3c-default");
	s3_error_free(&err);

	CHECK_INT(error_file("error_accessdenied.xml", &err), 0);
	CHECK_STR(err.code, "AccessDenied");
	CHECK_STR(err.message, "Access Denied");
	CHECK(err.region == NULL);
	CHECK_STR(err.request_id, "4442587FB7D0A2F9");
	s3_error_free(&err);

	CHECK_INT(error_file("error_permanentredirect.xml", &err), 0);
	CHECK_STR(err.code, "PermanentRedirect");
	CHECK_STR(err.region, "eu-west-1");
	CHECK_STR(err.request_id, "6S3BD2K9X0QJ4W7N");
	CHECK(err.message && strstr(err.message, "specified endpoint"));
	s3_error_free(&err);

	CHECK_INT(error_file("error_authheader.xml", &err), 0);   /* in the S3 namespace */
	CHECK_STR(err.code, "AuthorizationHeaderMalformed");
	CHECK_STR(err.region, "eu-central-1");
	CHECK_STR(err.message, "The authorization header is malformed; the region 'us-east-1' is "
	          "wrong; expecting 'eu-central-1'");
	s3_error_free(&err);
	CHECK(error_is_zero(&err));
	s3_error_free(&err);

	CHECK_INT(error_str("<Error/>", &err), 0);
	CHECK(error_is_zero(&err));
	s3_error_free(&err);

	CHECK_INT(error_str("<Error><Code></Code></Error>", &err), 0);
	CHECK_STR(err.code, "");
	s3_error_free(&err);
}

static void test_bad_error_documents(void)
{
	static const char *const bad[] = {
		"<ListBucketResult/>",
		"<html><body>502 Bad Gateway</body></html>",
		"<Error><Code>NoSuchKey</Code>",
		"<Error><Code>No<b>Such</b>Key</Code></Error>",
		"<Error><Message>a</Message><Message>b</Message></Error>",
		"Service Unavailable",
	};
	struct s3_error err;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(error_str(bad[i], &err), -EBADMSG);
		CHECK(error_is_zero(&err));
	}
	CHECK_INT(s3_xml_parse_error("", 0, &err), -EBADMSG);
	CHECK_INT(s3_xml_parse_error(NULL, 0, &err), -EBADMSG);
}

/* Parses from several threads at once, the first of them racing to initialize libxml2. */
static void *parse_many(void *arg)
{
	const char *body = arg;
	size_t ok = 0;
	for (int i = 0; i < 200; i++) {
		struct s3_list_page pg;
		if (s3_xml_parse_list(body, strlen(body), true, &pg) == 0 && pg.nobjects == 4)
			ok++;
		s3_list_page_free(&pg);
	}
	return (void *)ok;
}

static void test_threads(void)
{
	enum { T = 8 };
	size_t len;
	char *body = load("list_aws.xml", &len);
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		CHECK_INT(pthread_create(&th[i], NULL, parse_many, body), 0);
	for (int i = 0; i < T; i++) {
		void *ok;
		pthread_join(th[i], &ok);
		CHECK_INT((size_t)ok, 200);
	}
	free(body);
}

int main(void)
{
	test_encoding_ignored_by_server();
	test_threads();   /* first, so initialization happens under concurrency */
	test_radosgw_page();
	test_aws_page();
	test_no_namespace_page();
	test_prefixed_namespace();
	test_common_prefixes();
	test_empty_bucket();
	test_key_decoding();
	test_text_forms();
	test_truncation();
	test_bad_contents();
	test_empty_field_after_text();
	test_zeroed_on_error();
	test_malformed();
	test_wrong_root();
	test_hostile_entities();
	test_deep_nesting();
	test_size_limit();
	test_many_objects();
	test_error_documents();
	test_bad_error_documents();
	return check_report("xml");
}
