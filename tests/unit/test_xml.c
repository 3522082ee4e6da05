/* Unit tests for s3/xml*.c: ListObjectsV2 and ListObjectVersions pages, the versioning state,
 * error documents, hostile XML. */
#include "s3/xml.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATA TESTDATA "/xml/"
#define MAX_BODY (16u << 20)

/* Key comparison by bytes and length, since a decoded key may hold a NUL; obj is an
 * s3_object or a store_version. */
#define CHECK_KEY(obj, want, want_len) do { \
	const char *k_ = (obj)->key; \
	size_t kl_ = (obj)->key_len, wl_ = (want_len); \
	if (k_ && kl_ == wl_ && memcmp(k_, (want), wl_) == 0 && k_[wl_] == '\0') \
		check_passed++; \
	else { check_failed++; fprintf(stderr, "%s:%d: CHECK_KEY failed: %s (len %zu), want %s\n", \
	                               __FILE__, __LINE__, k_ ? k_ : "(null)", kl_, #want); } \
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

/* <root> holding 100,000 nested <a>, far past libxml2's depth limit; *n its length. */
static char *nested(const char *root, size_t *n)
{
	enum { DEPTH = 100000 };
	char *body = malloc(DEPTH * 7 + 128);
	*n = (size_t)sprintf(body, "<%s>", root);
	for (int i = 0; i < DEPTH; i++)
		*n += (size_t)sprintf(body + *n, "<a>");
	for (int i = 0; i < DEPTH; i++)
		*n += (size_t)sprintf(body + *n, "</a>");
	*n += (size_t)sprintf(body + *n, "</%s>", root);
	return body;
}

/* Nesting far past libxml2's depth limit is refused, not recursed into. */
static void test_deep_nesting(void)
{
	size_t n;
	char *body = nested("ListBucketResult", &n);
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

/* ---- ListVersionsResult ---- */

static int versions_file(const char *name, bool url, struct s3_version_page *pg)
{
	size_t len;
	char *body = load(name, &len);
	int rc = s3_xml_parse_versions(body, len, url, pg);
	free(body);
	return rc;
}

static int versions_str(const char *xml, bool url, struct s3_version_page *pg)
{
	return s3_xml_parse_versions(xml, strlen(xml), url, pg);
}

static bool vpage_is_zero(const struct s3_version_page *pg)
{
	return !pg->versions && !pg->nversions && !pg->truncated && !pg->next_key_marker &&
	       !pg->next_version_marker && !pg->key_encoded;
}

/* A page of one entry (<Version> or <DeleteMarker>) holding inner; freed unless keep. */
static int one_version(const char *entry, const char *inner, bool url, struct s3_version_page *keep)
{
	char xml[2048];
	snprintf(xml, sizeof(xml), "<ListVersionsResult>%s<IsTruncated>false</IsTruncated>"
	         "<%s>%s</%s></ListVersionsResult>",
	         url ? "<EncodingType>url</EncodingType>" : "", entry, inner, entry);
	struct s3_version_page pg;
	int rc = versions_str(xml, url, keep ? keep : &pg);
	if (!keep)
		s3_version_page_free(&pg);
	return rc;
}

#define V_FIELDS(key) "<Key>" key "</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest>" \
	"<LastModified>2026-11-28T09:38:48.157Z</LastModified>"
#define V_BYTES "<ETag>\"e\"</ETag><Size>3</Size>"

/* What radosgw answered, word for word: a state written three times then deleted, and a
 * lock, listed 3 to a page. Its keys are encoded, its NextKeyMarker is not. */
static void test_versions_radosgw(void)
{
	struct s3_version_page pg;
	CHECK_INT(versions_file("versions_rgw.xml", true, &pg), 0);
	CHECK_INT(pg.nversions, 3);
	if (pg.nversions == 3) {
		const struct store_version *v = pg.versions;
		CHECK_KEY_STR(&v[0], "env:/prod eu/terraform.tfstate");
		CHECK(v[0].delete_marker);
		CHECK(v[0].latest);
		CHECK_STR(v[0].version_id, "HvZdTRim.axe8acwM6SW4LH4jZn9q6s");
		CHECK_INT(v[0].mtime_ms, 1796373842355);
		CHECK(v[0].etag == NULL);
		CHECK_INT(v[0].size, 0);
		CHECK(!v[1].delete_marker);
		CHECK(!v[1].latest);
		CHECK_STR(v[1].version_id, "siauP2h1jCZjVRKL331PyZOhYFX.Cmv");
		CHECK_INT(v[1].mtime_ms, 1796373842346);
		CHECK_STR(v[1].etag, "\"202344e51e09a1a43b24481fa6382396\"");
		CHECK_INT(v[1].size, 13);
		CHECK_STR(v[2].version_id, "9c.vIuElJ342pQhSJx7WiBqkav8y-Lx");
		CHECK_INT(v[2].mtime_ms, 1796373842338);
	}
	CHECK(pg.truncated);
	CHECK(pg.key_encoded);
	CHECK_STR(pg.next_key_marker, "env:/prod eu/terraform.tfstate");   /* as sent */
	CHECK_STR(pg.next_version_marker, "9c.vIuElJ342pQhSJx7WiBqkav8y-Lx");
	s3_version_page_free(&pg);
	CHECK(vpage_is_zero(&pg));
	s3_version_page_free(&pg);

	CHECK_INT(versions_file("versions_rgw_all.xml", true, &pg), 0);
	CHECK_INT(pg.nversions, 5);
	if (pg.nversions == 5) {
		CHECK_INT(pg.versions[3].mtime_ms, 1796373842329);
		CHECK_KEY_STR(&pg.versions[4], "r+s%/terraform.tfstate.tflock");
		CHECK(pg.versions[4].latest);
		CHECK_INT(pg.versions[4].size, 10);
	}
	CHECK(!pg.truncated);
	CHECK(pg.next_key_marker == NULL && pg.next_version_marker == NULL);
	s3_version_page_free(&pg);
}

/* AWS's layout: indented, ETags in plain quotes, a version written before versioning
 * ("null"), a NextKeyMarker encoded like the keys. */
static void test_versions_aws(void)
{
	struct s3_version_page pg;
	CHECK_INT(versions_file("versions_aws.xml", true, &pg), 0);
	CHECK_INT(pg.nversions, 4);
	if (pg.nversions == 4) {
		const struct store_version *v = pg.versions;
		CHECK_KEY_STR(&v[0], "env:/prod/terraform.tfstate");
		CHECK_STR(v[0].version_id, "3/L4kqtJl40Nr8X8gdRQBpUMLUo");   /* opaque: never decoded */
		CHECK(v[0].latest && !v[0].delete_marker);
		CHECK_INT(v[0].mtime_ms, 1795858728157);
		CHECK_INT(v[0].size, 434234);
		CHECK_STR(v[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
		CHECK_KEY_STR(&v[1], "env:/prod/terraform.tfstate.tflock");
		CHECK(v[1].latest && v[1].delete_marker);
		CHECK_INT(v[1].mtime_ms, 1795858729001);
		CHECK(!v[2].latest && !v[2].delete_marker);
		CHECK_INT(v[2].mtime_ms, 1795858727990);
		CHECK_KEY_STR(&v[3], "env:/staging/caf\xc3\xa9.tfstate");
		CHECK_STR(v[3].version_id, "null");
		CHECK(v[3].size == UINT64_MAX);
		CHECK_INT(v[3].mtime_ms, 1709251199000);
	}
	CHECK(pg.truncated);
	CHECK_STR(pg.next_key_marker, "env%3A/staging/caf%C3%A9.tfstate");
	CHECK_STR(pg.next_version_marker, "null");
	s3_version_page_free(&pg);
	/* Not asked for url encoding: keys as sent, and the page says so. */
	CHECK_INT(versions_file("versions_aws.xml", false, &pg), 0);
	if (pg.nversions == 4)
		CHECK_KEY_STR(&pg.versions[0], "env%3A/prod/terraform.tfstate");
	CHECK(!pg.key_encoded);
	s3_version_page_free(&pg);
}

static void test_versions_keys(void)
{
	struct s3_version_page pg;
	CHECK_INT(one_version("Version", V_FIELDS("a%00b%2B+c") V_BYTES, true, &pg), 0);
	if (pg.nversions == 1)
		CHECK_KEY(&pg.versions[0], "a\0b++c", 6);
	s3_version_page_free(&pg);
	/* A server that ignored encoding-type=url: taken as sent, "100%" included. */
	CHECK_INT(one_version("Version", V_FIELDS("100%") V_BYTES, false, &pg), 0);
	if (pg.nversions == 1)
		CHECK_KEY_STR(&pg.versions[0], "100%");
	s3_version_page_free(&pg);
	CHECK_INT(versions_str("<ListVersionsResult><Version>" V_FIELDS("50%41") V_BYTES "</Version>"
	                       "</ListVersionsResult>", true, &pg), 0);
	if (pg.nversions == 1)
		CHECK_KEY_STR(&pg.versions[0], "50%41");
	CHECK(!pg.key_encoded);
	s3_version_page_free(&pg);
	/* EncodingType after the entries still decodes them. */
	CHECK_INT(versions_str("<ListVersionsResult><DeleteMarker>" V_FIELDS("a%20b") "</DeleteMarker>"
	                       "<EncodingType>url</EncodingType></ListVersionsResult>", true, &pg), 0);
	if (pg.nversions == 1)
		CHECK_KEY_STR(&pg.versions[0], "a b");
	s3_version_page_free(&pg);
	static const char *const bad[] = { "%G1", "%4", "a%", "%%41" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char inner[256];
		snprintf(inner, sizeof(inner), "<Key>%s</Key><VersionId>v</VersionId>"
		         "<IsLatest>true</IsLatest><LastModified>2026-11-28T09:38:48Z</LastModified>", bad[i]);
		CHECK_INT(one_version("DeleteMarker", inner, true, &pg), -EBADMSG);
		CHECK(vpage_is_zero(&pg));
	}
}

/* A delete marker has no bytes: a Size or an ETag in one is ignored, even a bad one. */
static void test_versions_delete_markers(void)
{
	struct s3_version_page pg;
	CHECK_INT(one_version("DeleteMarker", V_FIELDS("k") "<ETag>e</ETag><Size>x</Size>", false,
	                      &pg), 0);
	CHECK_INT(pg.nversions, 1);
	if (pg.nversions == 1) {
		CHECK(pg.versions[0].delete_marker);
		CHECK(pg.versions[0].etag == NULL);
		CHECK_INT(pg.versions[0].size, 0);
	}
	s3_version_page_free(&pg);
	/* In document order, markers and versions mixed; others (CommonPrefixes) skipped. */
	CHECK_INT(versions_str("<ListVersionsResult><Version>" V_FIELDS("a") V_BYTES "</Version>"
	                       "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
	                       "<DeleteMarker>" V_FIELDS("b") "</DeleteMarker>"
	                       "<Version>" V_FIELDS("b") V_BYTES "</Version></ListVersionsResult>",
	                       false, &pg), 0);
	CHECK_INT(pg.nversions, 3);
	if (pg.nversions == 3) {
		CHECK(!pg.versions[0].delete_marker && pg.versions[1].delete_marker &&
		      !pg.versions[2].delete_marker);
		CHECK_KEY_STR(&pg.versions[2], "b");
	}
	s3_version_page_free(&pg);
}

static void test_versions_truncation(void)
{
	struct s3_version_page pg;
	/* Cut short with entries: the markers may be missing (the last entry says where). */
	CHECK_INT(versions_str("<ListVersionsResult><IsTruncated>true</IsTruncated>"
	                       "<Version>" V_FIELDS("a") V_BYTES "</Version></ListVersionsResult>",
	                       true, &pg), 0);
	CHECK(pg.truncated);
	CHECK(pg.next_key_marker == NULL);
	s3_version_page_free(&pg);
	/* Cut short with none: only the NextKeyMarker says where. */
	CHECK_INT(versions_str("<ListVersionsResult><IsTruncated>true</IsTruncated>"
	                       "<NextKeyMarker>k</NextKeyMarker></ListVersionsResult>", true, &pg), 0);
	CHECK(pg.truncated);
	CHECK_STR(pg.next_key_marker, "k");
	CHECK(pg.next_version_marker == NULL);
	s3_version_page_free(&pg);
	/* Not cut short: markers sent anyway are dropped. */
	CHECK_INT(versions_str("<ListVersionsResult><IsTruncated>false</IsTruncated>"
	                       "<NextKeyMarker>k</NextKeyMarker><NextVersionIdMarker>v"
	                       "</NextVersionIdMarker></ListVersionsResult>", true, &pg), 0);
	CHECK(pg.next_key_marker == NULL && pg.next_version_marker == NULL);
	s3_version_page_free(&pg);

	static const char *const bad[] = {
		"<ListVersionsResult><IsTruncated>true</IsTruncated></ListVersionsResult>",
		"<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker></NextKeyMarker>"
		"<NextVersionIdMarker>v</NextVersionIdMarker></ListVersionsResult>",
		"<ListVersionsResult><IsTruncated>1</IsTruncated></ListVersionsResult>",
		"<ListVersionsResult><IsTruncated>false</IsTruncated><IsTruncated>false</IsTruncated>"
		"</ListVersionsResult>",
		"<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker>"
		"<NextKeyMarker>b</NextKeyMarker></ListVersionsResult>",
		"<ListVersionsResult><NextVersionIdMarker>a</NextVersionIdMarker>"
		"<NextVersionIdMarker>b</NextVersionIdMarker></ListVersionsResult>",
		"<ListVersionsResult><EncodingType>url</EncodingType><EncodingType>url</EncodingType>"
		"</ListVersionsResult>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(versions_str(bad[i], true, &pg), -EBADMSG);
		CHECK(vpage_is_zero(&pg));
	}
}

/* Each field an entry needs, missing, doubled or unreadable. */
static void test_versions_bad_entries(void)
{
	static const struct { const char *entry, *inner; } bad[] = {
		{ "Version", "<VersionId>v</VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key></Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><VersionId></VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>" V_BYTES },
		{ "Version", V_FIELDS("k") "<Size>3</Size>" },                        /* no ETag */
		{ "Version", V_FIELDS("k") "<ETag>e</ETag>" },                        /* no Size */
		{ "Version", V_FIELDS("k") "<ETag>e</ETag><Size>-1</Size>" },
		{ "Version", V_FIELDS("k") "<ETag>e</ETag><Size>18446744073709551616</Size>" },
		{ "Version", V_FIELDS("k") V_BYTES "<Size>3</Size>" },
		{ "Version", V_FIELDS("k") V_BYTES "<ETag>f</ETag>" },
		{ "Version", V_FIELDS("k") V_BYTES "<Key>j</Key>" },
		{ "Version", V_FIELDS("k") V_BYTES "<VersionId>w</VersionId>" },
		{ "Version", V_FIELDS("k") V_BYTES "<IsLatest>false</IsLatest>" },
		{ "Version", V_FIELDS("k") V_BYTES "<LastModified>2026-11-28T09:38:48Z</LastModified>" },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId><IsLatest>TRUE</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28 09:38:48</LastModified>" V_BYTES },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-02-30T09:38:48.5Z</LastModified>" V_BYTES },
		{ "DeleteMarker", "<Key>k</Key><IsLatest>true</IsLatest>"
		                  "<LastModified>2026-11-28T09:38:48Z</LastModified>" },
		{ "DeleteMarker", "<Key>k</Key><VersionId>v</VersionId>"
		                  "<LastModified>2026-11-28T09:38:48Z</LastModified>" },
		{ "DeleteMarker", V_FIELDS("k<x/>") },                     /* markup inside a field */
		{ "DeleteMarker", "" },
		/* An empty field after one whose text would do for it is still empty. */
		{ "DeleteMarker", "<Key>true</Key><VersionId>v</VersionId><IsLatest/>"
		                  "<LastModified>2026-11-28T09:38:48Z</LastModified>" },
		{ "DeleteMarker", "<Key>2026-11-28T09:38:48Z</Key><VersionId>v</VersionId>"
		                  "<IsLatest>true</IsLatest><LastModified></LastModified>" },
		{ "Version", "<Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified><ETag>12</ETag><Size/>" },
		{ "Version", "<Key>k</Key><VersionId/><IsLatest>true</IsLatest>"
		             "<LastModified>2026-11-28T09:38:48Z</LastModified>" V_BYTES },
	};
	struct s3_version_page pg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = one_version(bad[i].entry, bad[i].inner, false, &pg);
		if (rc != -EBADMSG)
			fprintf(stderr, "accepted: <%s>%s\n", bad[i].entry, bad[i].inner);
		CHECK_INT(rc, -EBADMSG);
		CHECK(vpage_is_zero(&pg));
	}
}

static void test_versions_malformed(void)
{
	static const char *const bad[] = {
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<Error><Code>NoSuchBucket</Code></Error>",
		"<ListVersionsResult>",
		"<ListVersionsResult><Version>" V_FIELDS("k") V_BYTES "</ListVersionsResult>",
		"<ListVersionsResult/><ListVersionsResult/>",
		"<!DOCTYPE ListVersionsResult><ListVersionsResult/>",
		"<!DOCTYPE x [<!ENTITY k SYSTEM \"file:///etc/passwd\">]><ListVersionsResult>"
		"<DeleteMarker><Key>&k;</Key></DeleteMarker></ListVersionsResult>",
		"<ListVersionsResult><Version><Key>&undeclared;</Key></Version></ListVersionsResult>",
		"<ListVersionsResult><Name>\xff\xfe</Name></ListVersionsResult>",
	};
	struct s3_version_page pg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(versions_str(bad[i], true, &pg), -EBADMSG);
		CHECK(vpage_is_zero(&pg));
	}
	CHECK_INT(s3_xml_parse_versions("", 0, true, &pg), -EBADMSG);
	CHECK_INT(s3_xml_parse_versions(NULL, 0, true, &pg), -EBADMSG);
	/* Entries read before the failure are freed and the page zeroed. */
	memset(&pg, 0x5a, sizeof(pg));
	CHECK_INT(versions_str("<ListVersionsResult><IsTruncated>true</IsTruncated>"
	                       "<NextKeyMarker>k</NextKeyMarker><Version>" V_FIELDS("a") V_BYTES
	                       "</Version><DeleteMarker><Key>b</Key></DeleteMarker>"
	                       "</ListVersionsResult>", true, &pg), -EBADMSG);
	CHECK(vpage_is_zero(&pg));

	size_t len;
	char *body = load("versions_rgw_all.xml", &len);
	CHECK_INT(s3_xml_parse_versions(body, len / 2, true, &pg), -EBADMSG);   /* cut short */
	CHECK(vpage_is_zero(&pg));
	free(body);

	double t0 = now_seconds();
	CHECK_INT(versions_file("billion_laughs.xml", true, &pg), -EBADMSG);
	CHECK_INT(versions_file("xxe_file.xml", true, &pg), -EBADMSG);
	CHECK_INT(versions_file("xxe_dtd.xml", true, &pg), -EBADMSG);
	CHECK(now_seconds() - t0 < 1.0);

	size_t n;
	body = nested("ListVersionsResult", &n);
	CHECK_INT(s3_xml_parse_versions(body, n, true, &pg), -EBADMSG);
	free(body);

	body = padded("ListVersionsResult", MAX_BODY);
	CHECK_INT(s3_xml_parse_versions(body, MAX_BODY, true, &pg), 0);
	s3_version_page_free(&pg);
	free(body);
	body = padded("ListVersionsResult", MAX_BODY + 1);
	CHECK_INT(s3_xml_parse_versions(body, MAX_BODY + 1, true, &pg), -EBADMSG);
	free(body);
}

/* A full page, as AWS and radosgw send at most: 1000 entries. */
static void test_versions_many(void)
{
	enum { N = 1000 };
	char *body = malloc(N * 256 + 128);
	size_t n = (size_t)sprintf(body, "<ListVersionsResult><EncodingType>url</EncodingType>");
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(body + n, "<Version><Key>k%%20%d</Key><VersionId>v%d</VersionId>"
		                     "<IsLatest>%s</IsLatest><LastModified>2026-11-28T09:38:48.%03dZ"
		                     "</LastModified><ETag>&quot;%d&quot;</ETag><Size>%d</Size></Version>",
		                     i / 2, i, i % 2 ? "false" : "true", 999 - i, i, i);
	n += (size_t)sprintf(body + n, "</ListVersionsResult>");
	struct s3_version_page pg;
	CHECK_INT(s3_xml_parse_versions(body, n, true, &pg), 0);
	CHECK_INT(pg.nversions, N);
	if (pg.nversions == N) {
		CHECK_KEY_STR(&pg.versions[N - 1], "k 499");
		CHECK_STR(pg.versions[N - 1].version_id, "v999");
		CHECK(!pg.versions[N - 1].latest);
		CHECK_INT(pg.versions[N - 1].mtime_ms, 1795858728000);
		CHECK_INT(pg.versions[0].mtime_ms, 1795858728999);
	}
	s3_version_page_free(&pg);
	free(body);
}

/* What s3.c decodes a NextKeyMarker with, where a page cut short has no entry. */
static void test_url_decode(void)
{
	char *out = NULL;
	size_t n = 0;
	CHECK_INT(s3_xml_url_decode("env%3A/a%20b+c%00d", 18, &out, &n), 0);
	CHECK_INT(n, 12);
	CHECK(out && memcmp(out, "env:/a b+c\0d", 13) == 0);
	free(out);
	CHECK_INT(s3_xml_url_decode("", 0, &out, &n), 0);
	CHECK_STR(out, "");
	free(out);
	out = NULL;
	CHECK_INT(s3_xml_url_decode("c%/x", 4, &out, &n), -EBADMSG);   /* radosgw's raw marker */
	CHECK(out == NULL);
}

/* ---- VersioningConfiguration ---- */

static int versioning_str(const char *xml, enum store_versioning *out)
{
	return s3_xml_parse_versioning(xml, strlen(xml), out);
}

static void test_versioning(void)
{
	static const struct { const char *xml; enum store_versioning want; } good[] = {
		/* radosgw, never enabled: an empty configuration */
		{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?><VersioningConfiguration "
		  "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></VersioningConfiguration>",
		  STORE_VERSIONING_OFF },
		{ "<VersioningConfiguration/>", STORE_VERSIONING_OFF },
		{ "<VersioningConfiguration><Status></Status></VersioningConfiguration>",
		  STORE_VERSIONING_OFF },
		{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?><VersioningConfiguration "
		  "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status>"
		  "<MfaDelete>Disabled</MfaDelete></VersioningConfiguration>", STORE_VERSIONING_ENABLED },
		{ "<VersioningConfiguration><MfaDelete>Disabled</MfaDelete><Status>Suspended</Status>"
		  "</VersioningConfiguration>", STORE_VERSIONING_SUSPENDED },
		{ "<s3:VersioningConfiguration xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		  "<s3:Status>Enabled</s3:Status></s3:VersioningConfiguration>", STORE_VERSIONING_ENABLED },
		/* a Status deeper down is not the bucket's */
		{ "<VersioningConfiguration><X><Status>Enabled</Status></X></VersioningConfiguration>",
		  STORE_VERSIONING_OFF },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		enum store_versioning v = (enum store_versioning)99;
		CHECK_INT(versioning_str(good[i].xml, &v), 0);
		CHECK_INT(v, good[i].want);
	}
	static const char *const bad[] = {
		"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
		"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
		"<VersioningConfiguration><Status> Enabled</Status></VersioningConfiguration>",
		"<VersioningConfiguration><Status>Enabled</Status><Status>Suspended</Status>"
		"</VersioningConfiguration>",
		"<VersioningConfiguration><Status>En<b/>abled</Status></VersioningConfiguration>",
		"<VersioningConfiguration><Status>Enabled</Status>",
		"<Error><Code>AccessDenied</Code></Error>",
		"<!DOCTYPE VersioningConfiguration><VersioningConfiguration/>",
		"Enabled",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum store_versioning v = STORE_VERSIONING_ENABLED;
		CHECK_INT(versioning_str(bad[i], &v), -EBADMSG);
		CHECK_INT(v, STORE_VERSIONING_ENABLED);   /* untouched */
	}
	enum store_versioning v;
	CHECK_INT(s3_xml_parse_versioning(NULL, 0, &v), -EBADMSG);
	CHECK_INT(versioning_str("<VersioningConfiguration><Status>&#69;nabled</Status>"
	                         "</VersioningConfiguration>", &v), 0);   /* a character reference */
	CHECK_INT(v, STORE_VERSIONING_ENABLED);
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
	test_versions_radosgw();
	test_versions_aws();
	test_versions_keys();
	test_versions_delete_markers();
	test_versions_truncation();
	test_versions_bad_entries();
	test_versions_malformed();
	test_versions_many();
	test_url_decode();
	test_versioning();
	return check_report("xml");
}
