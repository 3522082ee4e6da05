/* Unit tests for SSO profiles (s3/sso.c, and their reading in creds.c): the cache file's
 * name, both forms of the config, the JSON of the cache, CreateToken and GetRoleCredentials,
 * when a token is refreshed, and the one line that says to log in. No network. */
#include "s3/creds.h"
#include "s3/credsrc.h"
#include "s3/sso.h"
#include "tests/unit/check.h"

#include <json-c/json.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char home[] = "/tmp/test_sso.XXXXXX";
static char conf[256];

static const char config_text[] =
	"[profile dev]\n"
	"sso_session = my-sso\n"
	"sso_account_id = 111122223333\n"
	"sso_role_name = ReadState\n"
	"region = eu-west-1\n"
	"\n"
	"[sso-session my-sso]\n"
	"sso_start_url = https://d-123.awsapps.com/start\n"
	"sso_region = eu-central-1\n"
	"sso_registration_scopes = sso:account:access\n"
	"\n"
	"[profile legacy]\n"
	"sso_start_url = https://d-123.awsapps.com/start\n"
	"sso_region = us-east-2\n"
	"sso_account_id = 444455556666\n"
	"sso_role_name = Admin\n"
	"\n"
	"[profile norole]\n"
	"sso_session = my-sso\n"
	"sso_account_id = 111122223333\n"
	"\n"
	"[profile nosession]\n"
	"sso_session = gone\n"
	"sso_account_id = 1\n"
	"sso_role_name = r\n"
	"\n"
	"[profile conflict]\n"
	"sso_session = my-sso\n"
	"sso_region = us-west-2\n"
	"sso_account_id = 1\n"
	"sso_role_name = r\n"
	"\n"
	"[profile legacy-noregion]\n"
	"sso_start_url = https://d-123.awsapps.com/start\n"
	"sso_account_id = 1\n"
	"sso_role_name = r\n"
	"\n"
	"[sso-session halfway]\n"
	"sso_start_url = https://x.awsapps.com/start\n"
	"\n"
	"[profile over-sso]\n"
	"role_arn = arn:aws:iam::123456789012:role/deploy\n"
	"source_profile = dev\n"
	"\n"
	"[profile half]\n"
	"sso_session = halfway\n"
	"sso_account_id = 1\n"
	"sso_role_name = r\n";

static void env_reset(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_WEB_IDENTITY_TOKEN_FILE",
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", home, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* The chain for profile; *err and the source for the caller to free. */
static int resolve(const char *profile, struct cred_source **src, char **err)
{
	struct aws_chain_config cfg = { .files = { profile, NULL, NULL }, .region = "us-east-1" };
	*src = NULL;
	return cred_chain_resolve(&cfg, src, err);
}

static void test_cache_name(void)
{
	char name[SSO_CACHE_NAME_LEN];
	sso_cache_name("my-sso", name);
	CHECK_STR(name, "0ad374308c5a4e22f723adf10145eafad7c4031c.json");
	sso_cache_name("https://d-123.awsapps.com/start", name);
	CHECK_STR(name, "2b829a45f04c9828cb45b7d092d8e4aa30818393.json");
}

static void test_session_form(void)
{
	struct cred_source *s;
	char *err = NULL, path[512];
	env_reset();
	CHECK_INT(resolve("dev", &s, &err), 0);
	CHECK(s && s->kind == CRED_SSO && s->sso);
	if (!s || !s->sso)
		return;
	CHECK_STR(s->sso->profile, "dev");
	CHECK_STR(s->sso->session, "my-sso");
	CHECK_STR(s->sso->start_url, "https://d-123.awsapps.com/start");
	CHECK_STR(s->sso->region, "eu-central-1");
	CHECK_STR(s->sso->account_id, "111122223333");
	CHECK_STR(s->sso->role_name, "ReadState");
	snprintf(path, sizeof(path), "%s/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json", home);
	CHECK_STR(s->sso->cache_path, path);
	CHECK_STR(s->sso->portal_url, "https://portal.sso.eu-central-1.amazonaws.com");
	CHECK_STR(s->sso->oidc_url, "https://oidc.eu-central-1.amazonaws.com");
	CHECK_HAS(s->label, "profile dev");
	cred_source_free(s);

	/* The endpoints follow the SDKs' variables: the service's, then the generic one. */
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
	setenv("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:8", 1);
	CHECK_INT(resolve("dev", &s, &err), 0);
	if (s) {
		CHECK_STR(s->sso->portal_url, "http://127.0.0.1:9");
		CHECK_STR(s->sso->oidc_url, "http://127.0.0.1:8");
	}
	cred_source_free(s);
}

static void test_legacy_form(void)
{
	struct cred_source *s;
	char *err = NULL, path[512];
	env_reset();
	CHECK_INT(resolve("legacy", &s, &err), 0);
	CHECK(s && s->kind == CRED_SSO);
	if (!s)
		return;
	CHECK(s->sso->session == NULL);
	CHECK_STR(s->sso->region, "us-east-2");
	CHECK_STR(s->sso->role_name, "Admin");
	snprintf(path, sizeof(path), "%s/.aws/sso/cache/2b829a45f04c9828cb45b7d092d8e4aa30818393.json", home);
	CHECK_STR(s->sso->cache_path, path);
	cred_source_free(s);
}

/* A role assumed with an SSO profile's keys, as the CLI chains them. */
static void test_role_over_sso(void)
{
	struct cred_source *s;
	char *err = NULL;
	env_reset();
	CHECK_INT(resolve("over-sso", &s, &err), 0);
	CHECK(s && s->kind == CRED_ASSUME_ROLE && s->base && s->base->kind == CRED_SSO);
	if (s && s->base && s->base->sso)
		CHECK_STR(s->base->sso->profile, "dev");
	cred_source_free(s);
}

static void check_refused(const char *profile, const char *says)
{
	struct cred_source *s;
	char *err = NULL;
	CHECK_INT(resolve(profile, &s, &err), -EINVAL);
	CHECK(s == NULL);
	CHECK_HAS(err, says);
	free(err);
}

static void test_config_errors(void)
{
	env_reset();
	check_refused("norole", "SSO profile without sso_role_name");
	check_refused("nosession", "no [sso-session gone] section");
	check_refused("conflict", "sso_region differs from the one of [sso-session my-sso]");
	check_refused("legacy-noregion", "SSO profile without sso_region");
	check_refused("half", "[sso-session halfway] has no sso_region");
}

static const char cache_json[] =
	"{\"startUrl\": \"https://d-123.awsapps.com/start\", \"region\": \"eu-central-1\", "
	"\"accessToken\": \"tok-1\", \"expiresAt\": \"2026-12-04T13:00:00Z\", "
	"\"clientId\": \"cid\", \"clientSecret\": \"csecret\", "
	"\"registrationExpiresAt\": \"2027-03-04T13:00:00Z\", \"refreshToken\": \"ref-1\"}";

static void test_cache_json(void)
{
	struct sso_token t;
	const char *what;
	CHECK_INT(sso_token_parse(cache_json, strlen(cache_json), &t, &what), 0);
	CHECK_STR(t.access_token, "tok-1");
	CHECK_INT(t.expires_at, 1796389200);   /* 2026-12-04T13:00:00Z */
	CHECK_STR(t.refresh_token, "ref-1");
	CHECK_STR(t.client_id, "cid");
	CHECK_STR(t.client_secret, "csecret");
	CHECK_INT(t.registration_expires_at, 1804165200);

	/* CreateToken: a new token and expiry, the refresh token replaced, the rest kept. */
	const char *answer = "{\"accessToken\":\"tok-2\",\"expiresIn\":3600,\"refreshToken\":\"ref-2\","
	                     "\"tokenType\":\"Bearer\"}";
	CHECK_INT(sso_token_refreshed(&t, answer, strlen(answer), 1796389000, &what), 0);
	CHECK_STR(t.access_token, "tok-2");
	CHECK_INT(t.expires_at, 1796389000 + 3600);
	CHECK_STR(t.refresh_token, "ref-2");
	const char *text = json_object_to_json_string(t.doc);
	CHECK_HAS(text, "\"startUrl\"");
	CHECK_HAS(text, "2026-12-04T13:56:40Z");
	const char *bad = "{\"accessToken\":\"tok-3\"}";
	CHECK_INT(sso_token_refreshed(&t, bad, strlen(bad), 1796389000, &what), -EPROTO);
	CHECK_HAS(what, "expiresIn");
	CHECK_STR(t.access_token, "tok-2");
	sso_token_free(&t);

	static const char *const broken[] = {
		"", "[]", "{\"expiresAt\":\"2026-12-04T13:00:00Z\"}", "{\"accessToken\":\"a\"}",
		"{\"accessToken\":\"a\",\"expiresAt\":\"yesterday\"}",
		"{\"accessToken\":\"a\",\"expiresAt\":\"2026-12-04T13:00:00Z\",\"registrationExpiresAt\":5}",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		int rc = sso_token_parse(broken[i], strlen(broken[i]), &t, &what);
		CHECK_INT(rc, i == 5 ? 0 : -EPROTO);   /* a non-string registration is just absent */
		CHECK(rc == 0 || what != NULL);
		sso_token_free(&t);
	}
}

static void test_expiry(void)
{
	struct sso_token t;
	const char *what;
	time_t exp = 1796389200;
	CHECK_INT(sso_token_parse(cache_json, strlen(cache_json), &t, &what), 0);
	CHECK(sso_token_valid(&t, exp - 3600));
	CHECK(!sso_token_refresh_due(&t, exp - 3600));     /* an hour left: used as it is */
	CHECK(sso_token_refresh_due(&t, exp - 600));       /* within 15 min: refreshed ... */
	CHECK(sso_token_valid(&t, exp - 600));             /* ... though still good */
	CHECK(!sso_token_valid(&t, exp - 5));              /* too close to send */
	CHECK(!sso_token_valid(&t, exp + 1));
	CHECK(sso_token_refresh_due(&t, exp + 86400));
	/* Not once the client registration has expired. */
	CHECK(!sso_token_refresh_due(&t, 1804165200 + 1));
	sso_token_free(&t);
	/* Nor without a refresh token (the legacy form's cache has none). */
	const char *plain = "{\"accessToken\":\"a\",\"expiresAt\":\"2026-12-04T13:00:00Z\"}";
	CHECK_INT(sso_token_parse(plain, strlen(plain), &t, &what), 0);
	CHECK(!sso_token_refresh_due(&t, exp + 1));
	sso_token_free(&t);
}

static void test_role_json(void)
{
	struct aws_credentials c;
	const char *what;
	const char *ok = "{\"roleCredentials\":{\"accessKeyId\":\"ASIAX\",\"secretAccessKey\":\"sk\","
	                 "\"sessionToken\":\"st\",\"expiration\":1796389200000}}";
	CHECK_INT(sso_role_parse(ok, strlen(ok), &c, &what), 0);
	CHECK_STR(c.access_key, "ASIAX");
	CHECK_STR(c.secret_key, "sk");
	CHECK_STR(c.session_token, "st");
	CHECK_INT(c.expiration, 1796389200);
	aws_credentials_free(&c);
	/* Under a second past the epoch is expired, not "never expires" (0). */
	const char *tiny = "{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\","
	                   "\"sessionToken\":\"t\",\"expiration\":1}}";
	CHECK_INT(sso_role_parse(tiny, strlen(tiny), &c, &what), 0);
	CHECK_INT(c.expiration, 1);
	aws_credentials_free(&c);
	static const char *const broken[] = {
		"{}", "{\"roleCredentials\":[]}", "{\"roleCredentials\":{\"accessKeyId\":\"A\"}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\",\"sessionToken\":\"t\"}}",
		"{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\",\"sessionToken\":\"t\","
		"\"expiration\":\"soon\"}}", "not json",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		CHECK_INT(sso_role_parse(broken[i], strlen(broken[i]), &c, &what), -EPROTO);
		CHECK(what != NULL && c.access_key == NULL);
	}
}

/* Without a usable token: the one line, naming the profile and the login, no network. */
static void test_login_needed(void)
{
	struct cred_source *s;
	struct aws_credentials c;
	char *err = NULL, dir[512], path[600];
	env_reset();
	CHECK_INT(resolve("dev", &s, &err), 0);
	if (!s)
		return;
	CHECK_INT(cred_source_fetch(s, &c, &err), -EACCES);
	CHECK_HAS(err, "no SSO token cached in");
	CHECK_HAS(err, "aws sso login --profile dev");
	CHECK(strchr(err, '\n') == NULL);
	free(err);
	err = NULL;

	snprintf(dir, sizeof(dir), "%s/.aws", home);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.aws/sso", home);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.aws/sso/cache", home);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/0ad374308c5a4e22f723adf10145eafad7c4031c.json", dir);
	check_write_file(path, "{\"accessToken\":\"secret-token\",\"expiresAt\":\"2020-01-01T00:00:00Z\"}");
	chmod(path, 0600);
	CHECK_INT(cred_source_fetch(s, &c, &err), -EACCES);
	CHECK_HAS(err, "has expired and cannot be refreshed");
	CHECK_HAS(err, "aws sso login --profile dev");
	CHECK(strstr(err, "secret-token") == NULL);
	free(err);
	err = NULL;

	check_write_file(path, "{\"accessToken\": 5}");
	CHECK_INT(cred_source_fetch(s, &c, &err), -EACCES);
	CHECK_HAS(err, "accessToken is missing");
	free(err);
	unlink(path);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/.aws/sso", home);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/.aws", home);
	rmdir(dir);
	cred_source_free(s);
}

int main(void)
{
	if (!mkdtemp(home)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/config", home);
	check_write_file(conf, config_text);
	test_cache_name();
	test_session_form();
	test_legacy_form();
	test_role_over_sso();
	test_config_errors();
	test_cache_json();
	test_expiry();
	test_role_json();
	test_login_needed();
	unlink(conf);
	rmdir(home);
	return check_report("sso");
}
