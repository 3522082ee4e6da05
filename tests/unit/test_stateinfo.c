/* Unit tests for fs/stateinfo.c: a state's top-level fields, and what is not a state. */
#include "fs/stateinfo.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LINEAGE "8e3ef5a2-6a4c-4c0e-9a0e-000000000001"

/* What terraform 1.11 writes, pretty-printed, with an output and a resource. */
static const char real_state[] =
	"{\n"
	"  \"version\": 4,\n"
	"  \"terraform_version\": \"1.11.4\",\n"
	"  \"serial\": 42,\n"
	"  \"lineage\": \"" LINEAGE "\",\n"
	"  \"outputs\": {\n"
	"    \"db_password\": { \"value\": \"hunter2-s3cr3t\", \"type\": \"string\", \"sensitive\": true }\n"
	"  },\n"
	"  \"resources\": [\n"
	"    { \"mode\": \"managed\", \"type\": \"null_resource\", \"name\": \"a\",\n"
	"      \"provider\": \"provider[\\\"registry.terraform.io/hashicorp/null\\\"]\",\n"
	"      \"instances\": [ { \"schema_version\": 0, \"attributes\": { \"id\": \"1\" } } ] },\n"
	"    { \"mode\": \"data\", \"type\": \"null_data_source\", \"name\": \"b\", \"instances\": [] }\n"
	"  ],\n"
	"  \"check_results\": null\n"
	"}\n";

static int parse_n(const char *body, size_t len, struct stateinfo *si)
{
	char why[160] = "";
	int rc = stateinfo_parse(body, len, si, why, sizeof(why));
	if (rc < 0)
		CHECK(why[0] != '\0');  /* every refusal says why, for the debug log */
	return rc;
}

static int parse(const char *body, struct stateinfo *si)
{
	return parse_n(body, strlen(body), si);
}

static void test_real_state(void)
{
	struct stateinfo si;
	CHECK_INT(parse(real_state, &si), 0);
	CHECK(!si.encrypted);
	CHECK(si.has_serial);
	CHECK_INT(si.serial, 42);
	CHECK_STR(si.lineage, LINEAGE);
	CHECK_STR(si.terraform_version, "1.11.4");
	CHECK(si.has_resources);
	CHECK_INT(si.resources, 2);
	CHECK_STR(si.encryption_version, "");
}

/* Nothing in the struct can hold what an output or an attribute says. */
static void test_no_value_of_the_state_is_copied(void)
{
	struct stateinfo si;
	CHECK_INT(parse(real_state, &si), 0);
	CHECK(!memmem(&si, sizeof(si), "hunter2", 7));
	CHECK(!memmem(&si, sizeof(si), "null_resource", 13));
}

/* A workspace's state (env:/ws/key) is the same document: nothing in it names the
 * workspace, and the fields come out the same. Older formats (version 3) too. */
static void test_workspace_and_older_states(void)
{
	struct stateinfo si;
	CHECK_INT(parse("{\"version\":4,\"terraform_version\":\"1.5.7\",\"serial\":1,"
	                "\"lineage\":\"" LINEAGE "\",\"outputs\":{},\"resources\":[]}", &si), 0);
	CHECK_INT(si.serial, 1);
	CHECK_STR(si.lineage, LINEAGE);
	CHECK(si.has_resources);
	CHECK_INT(si.resources, 0);
	CHECK_INT(parse("{\"version\":3,\"terraform_version\":\"0.11.14\",\"serial\":9,"
	                "\"lineage\":\"x\",\"modules\":[{\"path\":[\"root\"]}]}", &si), 0);
	CHECK_INT(si.serial, 9);
	CHECK_STR(si.terraform_version, "0.11.14");
	CHECK(!si.has_resources);   /* version 3 keeps them under modules */
}

static void test_missing_and_mistyped_fields(void)
{
	struct stateinfo si;
	CHECK_INT(parse("{\"version\":4,\"serial\":3}", &si), 0);
	CHECK(si.has_serial);
	CHECK_STR(si.lineage, "");
	CHECK_STR(si.terraform_version, "");
	CHECK(!si.has_resources);
	CHECK_INT(parse("{\"version\":4,\"lineage\":\"" LINEAGE "\"}", &si), 0);
	CHECK(!si.has_serial);
	CHECK_STR(si.lineage, LINEAGE);
	/* Wrong types are left out, not converted. */
	CHECK_INT(parse("{\"version\":4,\"serial\":\"7\",\"lineage\":7,\"terraform_version\":[],"
	                "\"resources\":{}}", &si), 0);
	CHECK(!si.has_serial);
	CHECK_STR(si.lineage, "");
	CHECK_STR(si.terraform_version, "");
	CHECK(!si.has_resources);
	CHECK_INT(parse("{\"version\":4,\"serial\":1.0}", &si), 0);
	CHECK(!si.has_serial);
	CHECK_INT(parse("{\"version\":4,\"serial\":-1}", &si), 0);
	CHECK(!si.has_serial);
}

/* Only one short line of printable ASCII is taken as a lineage or a version. */
static void test_odd_text_is_left_out(void)
{
	struct stateinfo si;
	char big[200];
	snprintf(big, sizeof(big), "{\"version\":4,\"serial\":1,\"lineage\":\"%065d\"}", 0);
	CHECK_INT(parse(big, &si), 0);
	CHECK_STR(si.lineage, "");
	snprintf(big, sizeof(big), "{\"version\":4,\"serial\":1,\"lineage\":\"%064d\"}", 0);
	CHECK_INT(parse(big, &si), 0);
	CHECK_INT(strlen(si.lineage), 64);
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"lineage\":\"a\\nb\"}", &si), 0);
	CHECK_STR(si.lineage, "");
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"lineage\":\"a\\u0000b\"}", &si), 0);
	CHECK_STR(si.lineage, "");
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"lineage\":\"caf\xc3\xa9\"}", &si), 0);
	CHECK_STR(si.lineage, "");
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"lineage\":\"\"}", &si), 0);
	CHECK_STR(si.lineage, "");
}

static void test_serial_as_a_big_number(void)
{
	struct stateinfo si;
	CHECK_INT(parse("{\"version\":4,\"serial\":9223372036854775807}", &si), 0);
	CHECK(si.has_serial && si.serial == 9223372036854775807ULL);
	CHECK_INT(parse("{\"version\":4,\"serial\":9223372036854775808}", &si), 0);
	CHECK(si.has_serial && si.serial == 9223372036854775808ULL);
	CHECK_INT(parse("{\"version\":4,\"serial\":18446744073709551614}", &si), 0);
	CHECK(si.has_serial && si.serial == 18446744073709551614ULL);
	/* Past a uint64 json-c saturates: not taken rather than shown wrong. */
	CHECK_INT(parse("{\"version\":4,\"serial\":18446744073709551616}", &si), 0);
	CHECK(!si.has_serial);
	CHECK_INT(parse("{\"version\":4,\"serial\":123456789012345678901234567890}", &si), 0);
	CHECK(!si.has_serial);
	CHECK_INT(parse("{\"version\":4,\"serial\":1e30}", &si), 0);
	CHECK(!si.has_serial);
}

static void test_many_resources(void)
{
	size_t n = 5000;
	char *body = malloc(64 + n * 3);
	size_t len = (size_t)sprintf(body, "{\"version\":4,\"serial\":2,\"resources\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, "%s{}", i ? "," : "");
	len += (size_t)sprintf(body + len, "]}");
	struct stateinfo si;
	CHECK_INT(parse_n(body, len, &si), 0);
	CHECK(si.has_resources);
	CHECK_INT(si.resources, n);
	free(body);
}

/* OpenTofu's encrypted state: the sigil, serial and lineage in clear; nothing read from
 * what else sits beside them. */
static void test_encrypted_opentofu_state(void)
{
	struct stateinfo si;
	CHECK_INT(parse("{\"serial\":5,\"lineage\":\"" LINEAGE "\",\"meta\":{\"key_provider."
	                "pbkdf2.k\":\"eyJzYWx0IjoiIn0=\"},\"encrypted_data\":\"q83vEjRW\","
	                "\"encryption_version\":\"v0\"}", &si), 0);
	CHECK(si.encrypted);
	CHECK_STR(si.encryption_version, "v0");
	CHECK(si.has_serial);
	CHECK_INT(si.serial, 5);
	CHECK_STR(si.lineage, LINEAGE);
	CHECK(!si.has_resources);
	/* Older ones have no serial or lineage in clear; a misleading neighbour is ignored. */
	CHECK_INT(parse("{\"meta\":{},\"encrypted_data\":\"AAAA\",\"encryption_version\":\"v0\","
	                "\"resources\":[1,2,3],\"terraform_version\":\"1.0\",\"version\":4}", &si), 0);
	CHECK(si.encrypted);
	CHECK(!si.has_serial);
	CHECK_STR(si.lineage, "");
	CHECK(!si.has_resources);
	CHECK_STR(si.terraform_version, "");
	/* Without a usable encryption_version it is still encrypted. */
	CHECK_INT(parse("{\"encrypted_data\":\"AAAA\"}", &si), 0);
	CHECK(si.encrypted);
	CHECK_STR(si.encryption_version, "");
}

static void test_not_a_state(void)
{
	struct stateinfo si;
	CHECK_INT(parse("", &si), -EINVAL);
	CHECK_INT(parse("   \n", &si), -EINVAL);
	CHECK_INT(parse("not json at all", &si), -EINVAL);
	CHECK_INT(parse("{\"version\":4,\"serial\":1", &si), -EINVAL);          /* cut short */
	CHECK_INT(parse("{\"version\":4,\"serial\":1} trailing", &si), -EINVAL);
	CHECK_INT(parse("{\"version\":4,\"serial\":1,}", &si), -EINVAL);        /* not strict */
	CHECK_INT(parse("[{\"version\":4,\"serial\":1}]", &si), -EINVAL);       /* an array */
	CHECK_INT(parse("null", &si), -EINVAL);
	CHECK_INT(parse("42", &si), -EINVAL);
	CHECK_INT(parse("\"a string\"", &si), -EINVAL);
	CHECK_INT(parse("{}", &si), -EINVAL);
	CHECK_INT(parse("{\"serial\":1,\"lineage\":\"x\"}", &si), -EINVAL);     /* no version */
	CHECK_INT(parse("{\"version\":\"4\",\"serial\":1}", &si), -EINVAL);
	CHECK_INT(parse("{\"version\":4,\"terraform_version\":\"1.0\"}", &si), -EINVAL);
	/* A lock object is JSON, and not a state. */
	CHECK_INT(parse("{\"ID\":\"x\",\"Operation\":\"OperationTypeApply\",\"Version\":\"1.11.4\"}",
	                &si), -EINVAL);
	CHECK(!si.has_serial && !si.has_resources && !si.encrypted && !si.lineage[0]);
	/* Trailing whitespace is what terraform writes. */
	CHECK_INT(parse("{\"version\":4,\"serial\":1}\n\n", &si), 0);
}

static void test_bytes_that_are_not_utf8_or_have_a_nul(void)
{
	struct stateinfo si;
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"outputs\":{\"x\":\"\xff\xfe\"}}", &si),
	          -EINVAL);
	/* json-c lets UTF-8 surrogates through; they are no lineage either. */
	CHECK_INT(parse("{\"version\":4,\"serial\":1,\"lineage\":\"\xed\xa0\x80\"}", &si), 0);
	CHECK_STR(si.lineage, "");
	static const char nul[] = "{\"version\":4,\"serial\":1}\0{\"serial\":2}";
	CHECK_INT(parse_n(nul, sizeof(nul) - 1, &si), -EINVAL);
	static const char inside[] = "{\"version\":4,\"ser\0ial\":1}";
	CHECK_INT(parse_n(inside, sizeof(inside) - 1, &si), -EINVAL);
}

/* {"version":4,"serial":1,"x":OPEN UNIT... CLOSE} with n UNITs, the last one's trailing
 * comma dropped. */
static char *with_x(const char *open, const char *unit, size_t n, const char *close,
                    size_t *len)
{
	size_t ulen = strlen(unit);
	char *s = malloc(64 + strlen(open) + n * ulen + strlen(close));
	size_t at = (size_t)sprintf(s, "{\"version\":4,\"serial\":1,\"x\":%s", open);
	for (size_t i = 0; i < n; i++, at += ulen)
		memcpy(s + at, unit, ulen);
	if (n && unit[ulen - 1] == ',')
		at--;
	*len = at + (size_t)sprintf(s + at, "%s}", close);
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* x nested depth arrays deep. */
static char *nested(size_t depth, size_t *len)
{
	char *open = repeat('[', depth), *close = repeat(']', depth);
	char *s = with_x(open, "", 0, close, len);
	free(open);
	free(close);
	return s;
}

/* Nesting is bounded (json-c's depth), never a deep recursion or a crash. */
static void test_nesting(void)
{
	struct stateinfo si;
	size_t len;
	char *ok = nested(200, &len);
	CHECK_INT(parse_n(ok, len, &si), 0);
	CHECK_INT(si.serial, 1);
	free(ok);
	char *deep = nested(100000, &len);
	CHECK_INT(parse_n(deep, len, &si), -EINVAL);
	free(deep);
}

/* Past the cap nothing is parsed; below it, a document json-c would spend gigabytes
 * on is refused the same way, and as many bytes of plain text are not. */
static void test_size_and_cost_caps(void)
{
	struct stateinfo si;
	size_t len;
	char *big = with_x("\"", "a", STATEINFO_MAX_BYTES, "\"", &len);
	CHECK_INT(parse_n(big, len, &si), -EFBIG);
	free(big);
	big = with_x("[", "{},", 1u << 20, "]", &len);    /* 3 MiB: 3 GiB in json-c */
	CHECK_INT(parse_n(big, len, &si), -EFBIG);
	free(big);
	big = with_x("[", "0,", 1u << 20, "]", &len);     /* 2 MiB: 64 MiB in json-c */
	CHECK_INT(parse_n(big, len, &si), 0);
	free(big);
	big = with_x("\"", "a", STATEINFO_MAX_BYTES - 64, "\"", &len);
	CHECK_INT(parse_n(big, len, &si), 0);
	CHECK_INT(si.serial, 1);
	free(big);
}

int main(void)
{
	test_real_state();
	test_no_value_of_the_state_is_copied();
	test_workspace_and_older_states();
	test_missing_and_mistyped_fields();
	test_odd_text_is_left_out();
	test_serial_as_a_big_number();
	test_many_resources();
	test_encrypted_opentofu_state();
	test_not_a_state();
	test_bytes_that_are_not_utf8_or_have_a_nul();
	test_nesting();
	test_size_and_cost_caps();
	return check_report("stateinfo");
}
