/* Unit tests for the credentials: the chain (s3/creds.c, credsrc.c), the region (endpoints.c),
 * the INI reader (awsfiles.c), the provider (credprov.c). */
#include "s3/awsfiles.h"
#include "s3/creds.h"
#include "s3/credsrc.h"
#include "s3/endpoints.h"
#include "s3/xml.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DATA TESTDATA "/creds/"
#define CRED DATA "credentials"
#define CONF DATA "config"
#define NOFILE DATA "no-such-file"

struct result {
	int rc;
	struct aws_credentials c;   /* fetched, for static keys */
	int kind;                   /* the source the chain resolved to, -1 when none */
	int base_kind;              /* for an assumed role: whose keys sign, else -1 */
	char *label;
	char *role_arn;
	char *err;
};

/* Every variable the module reads; each test starts from none of them and a fake HOME,
 * so the machine's own ~/.aws never leaks in. */
static void env_reset(const char *home)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", home, 1);
	/* The chain ends at EC2 instance metadata, which a unit test must not call. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* Resolves the chain; static keys are fetched too (no network), the rest only named. */
static struct result load_role(const char *profile, const char *cred, const char *conf,
			       const char *role_arn)
{
	struct aws_chain_config cfg = { .files = { profile, cred, conf }, .region = "us-east-1",
					.role_arn = role_arn };
	struct cred_source *src = NULL;
	struct result r = { .kind = -1, .base_kind = -1 };

	r.rc = cred_chain_resolve(&cfg, &src, &r.err);
	if (r.rc == 0) {
		r.kind = (int)src->kind;
		r.base_kind = src->base ? (int)src->base->kind : -1;
		r.label = strdup(src->label);
		r.role_arn = src->role_arn ? strdup(src->role_arn) : NULL;
		if (src->kind == CRED_STATIC)
			r.rc = cred_source_fetch(src, &r.c, &r.err);
	}
	cred_source_free(src);
	return r;
}

static struct result load(const char *profile, const char *cred, const char *conf)
{
	return load_role(profile, cred, conf, NULL);
}

static void result_free(struct result *r)
{
	aws_credentials_free(&r->c);
	free(r->err);
	free(r->label);
	free(r->role_arn);
	memset(r, 0, sizeof(*r));
}

static void set_env_keys(const char *token)
{
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	if (token)
		setenv("AWS_SESSION_TOKEN", token, 1);
}

static void test_env(const char *home)
{
	struct result r;

	env_reset(home);
	set_env_keys(NULL);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDENV");
	CHECK_STR(r.c.secret_key, "secretenv");
	CHECK(r.c.session_token == NULL);
	CHECK_STR(r.c.source, "environment");
	CHECK(r.err == NULL);
	result_free(&r);

	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.session_token, "tokenenv");
	result_free(&r);

	/* A token alone is not a credential: fall through to the files. */
	env_reset(home);
	setenv("AWS_SESSION_TOKEN", "stray", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDDEFAULT");
	CHECK(r.c.session_token == NULL);
	result_free(&r);

	/* Empty variables count as unset. */
	env_reset(home);
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDDEFAULT");
	result_free(&r);
}

static void test_env_half(const char *home)
{
	struct result r;

	env_reset(home);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "environment");
	CHECK_HAS(r.err, "AWS_SECRET_ACCESS_KEY is not");
	CHECK(r.c.access_key == NULL && r.c.source == NULL);
	result_free(&r);

	env_reset(home);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "AWS_ACCESS_KEY_ID is not");
	result_free(&r);

	/* -o profile= skips the environment, half pair included. */
	r = load("prod", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDPROD");
	result_free(&r);
}

static void test_precedence(const char *home)
{
	struct result r;

	/* Env keys beat the default profile and AWS_PROFILE ... */
	env_reset(home);
	set_env_keys(NULL);
	setenv("AWS_PROFILE", "prod", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDENV");
	CHECK_STR(r.c.source, "environment");
	result_free(&r);

	/* ... even when AWS_PROFILE names a profile that does not exist. */
	setenv("AWS_PROFILE", "nope", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDENV");
	result_free(&r);

	/* ... but a profile named in src (the CLI's --profile) beats env keys. */
	r = load("prod", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDPROD");
	CHECK_STR(r.c.source, "shared credentials file " CRED " (profile prod)");
	result_free(&r);

	/* AWS_PROFILE picks the profile when the environment has no keys. */
	env_reset(home);
	setenv("AWS_PROFILE", "prod", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDPROD");
	result_free(&r);

	/* src->profile beats AWS_PROFILE; an empty one counts as unset. */
	r = load("cfgonly", CRED, CONF);
	CHECK_STR(r.c.access_key, "AKIDCFG");
	result_free(&r);
	r = load("", CRED, CONF);
	CHECK_STR(r.c.access_key, "AKIDPROD");
	result_free(&r);
}

static void test_files(const char *home)
{
	struct result r;

	env_reset(home);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDDEFAULT");
	CHECK_STR(r.c.secret_key, "secretdefault");
	CHECK(r.c.session_token == NULL);
	CHECK_STR(r.c.source, "shared credentials file " CRED " (profile default)");
	result_free(&r);

	/* [prod] in the credentials file beats [profile prod] in the config file; tabs
	 * around '=' and '/', '+', '=' inside values survive; the token comes along. */
	r = load("prod", CRED, CONF);
	CHECK_STR(r.c.secret_key, "secret/prod+key==");
	CHECK_STR(r.c.session_token, "FwoGZXIvYXdzEPROD//token==");
	result_free(&r);

	r = load("cfgonly", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.secret_key, "secretcfg");
	CHECK_STR(r.c.session_token, "tokencfg");
	CHECK_STR(r.c.source, "config file " CONF " (profile cfgonly)");
	result_free(&r);

	/* "[profile   wide   ]": botocore shlex-splits the header, so blanks do not matter. */
	r = load("wide", CRED, CONF);
	CHECK_STR(r.c.access_key, "AKIDWIDE");
	result_free(&r);

	/* Config "[cfgbare]" and credentials "[profile prefixed]" are no profiles. */
	r = load("cfgbare", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_STR(r.err, "profile cfgbare not found in " CRED " or " CONF);
	result_free(&r);
	r = load("prefixed", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	result_free(&r);
}

static void test_config_default(const char *home)
{
	struct result r;

	env_reset(home);
	r = load(NULL, NOFILE, DATA "config_default_plain");
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDCFGDEFAULT");
	CHECK_STR(r.c.source, "config file " DATA "config_default_plain (profile default)");
	result_free(&r);

	r = load(NULL, NOFILE, DATA "config_default_both");
	CHECK_STR(r.c.access_key, "AKIDPROFILEDEFAULT");
	result_free(&r);
	r = load("default", NOFILE, DATA "config_default_both");
	CHECK_STR(r.c.access_key, "AKIDPROFILEDEFAULT");
	result_free(&r);
}

static void test_half_pairs(const char *home)
{
	struct result r;

	env_reset(home);
	r = load("half-id", CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_STR(r.err, "shared credentials file " CRED
		  " (profile half-id) has aws_access_key_id but no aws_secret_access_key");
	CHECK(r.c.access_key == NULL);
	result_free(&r);

	r = load("half-secret", CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "has aws_secret_access_key but no aws_access_key_id");
	result_free(&r);

	r = load("cfghalf", CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "config file " CONF " (profile cfghalf)");
	CHECK_HAS(r.err, "no aws_secret_access_key");
	result_free(&r);
}

static void test_not_found(const char *home)
{
	struct result r;

	env_reset(home);
	r = load(NULL, NOFILE, NOFILE);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_HAS(r.err, "the environment (AWS_ACCESS_KEY_ID)");
	CHECK_HAS(r.err, "profile default in shared credentials file " NOFILE " and config file " NOFILE);
	CHECK_HAS(r.err, "the container endpoint");
	CHECK_HAS(r.err, "EC2 instance metadata (off: AWS_EC2_METADATA_DISABLED)");
	CHECK_HAS(r.err, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile");
	CHECK(r.c.source == NULL);
	result_free(&r);

	r = load("nope", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_STR(r.err, "profile nope not found in " CRED " or " CONF);
	result_free(&r);

	setenv("AWS_PROFILE", "nope", 1);
	r = load(NULL, CRED, CONF);
	CHECK_STR(r.err, "profile nope not found in " CRED " or " CONF);
	result_free(&r);

	/* The profile exists but holds no keys. */
	env_reset(home);
	r = load("regiononly", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_HAS(r.err, "none found: tried");
	CHECK_HAS(r.err, "profile regiononly");
	CHECK_HAS(r.err, "not used when a profile is named");
	result_free(&r);

	/* err may be NULL. */
	struct cred_source *src = NULL;
	CHECK_INT(cred_chain_resolve(&(struct aws_chain_config){ .files = { "nope", CRED, CONF } },
				     &src, NULL), -ENOENT);
	CHECK(src == NULL);
}

/* A profile that resolves to a source fetched over the network (or a process): only the
 * resolution is checked here; the integration tests fetch for real. */
static void check_source(const char *profile, enum cred_kind kind, int base_kind,
			 const char *label_has)
{
	struct result r = load(profile, CRED, CONF);

	CHECK_INT(r.rc, 0);
	CHECK_INT(r.kind, kind);
	CHECK_INT(r.base_kind, base_kind);
	CHECK_HAS(r.label, label_has);
	result_free(&r);
}

static void test_sources(const char *home)
{
	struct result r;

	env_reset(home);
	check_source("role", CRED_ASSUME_ROLE, CRED_STATIC, "profile role (config file " CONF);
	check_source("role-in-creds", CRED_ASSUME_ROLE, CRED_STATIC, "shared credentials file " CRED);
	check_source("proc", CRED_PROCESS, -1, "profile proc");
	check_source("webid", CRED_WEB_IDENTITY, -1, "profile webid");
	r = load("role", CRED, CONF);
	CHECK_STR(r.role_arn, "arn:aws:iam::123456789012:role/deploy");
	result_free(&r);

	/* SSO profiles set up halfway say what is missing, never fall to other keys
	 * (test_sso.c has the rest). */
	r = load("sso", CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "[sso-session corp] has no sso_region");
	result_free(&r);
	r = load("ssourl", CRED, CONF);
	CHECK_INT(r.rc, -EINVAL);
	CHECK_HAS(r.err, "SSO profile without sso_account_id");
	result_free(&r);

	/* The CLI assumes the role even when the profile has keys (source_profile = itself):
	 * the keys sign the AssumeRole, they are not the identity. */
	check_source("keys-and-role", CRED_ASSUME_ROLE, CRED_STATIC, "keys-and-role");

	/* Static keys in the credentials file come before credential_process ... */
	r = load("keys-and-process", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDBEATSPROCESS");
	result_free(&r);
	/* ... which comes before those in the config file. */
	check_source("process-beats-cfgkeys", CRED_PROCESS, -1, "process-beats-cfgkeys");

	/* Env keys still come first, even when AWS_PROFILE names a role profile. */
	set_env_keys(NULL);
	setenv("AWS_PROFILE", "role", 1);
	r = load(NULL, CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.source, "environment");
	result_free(&r);

	/* -o role_arn: a role on top of whatever the chain found. */
	r = load_role(NULL, CRED, CONF, "arn:aws:iam::123456789012:role/over");
	CHECK_INT(r.kind, CRED_ASSUME_ROLE);
	CHECK_INT(r.base_kind, CRED_STATIC);
	CHECK_STR(r.role_arn, "arn:aws:iam::123456789012:role/over");
	result_free(&r);

	/* EKS web identity from the environment beats the files' static keys. */
	env_reset(home);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token", 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/eks", 1);
	check_source(NULL, CRED_WEB_IDENTITY, -1, "AWS_WEB_IDENTITY_TOKEN_FILE");
	/* botocore ignores it under --profile. */
	r = load("default", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDDEFAULT");
	result_free(&r);
}

static void test_ini_syntax(const char *home)
{
	struct result r;

	env_reset(home);
	r = load("comments", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDCOMMENT");
	CHECK_STR(r.c.secret_key, "sec#ret;glued");
	CHECK_STR(r.c.session_token, "tok");
	result_free(&r);

	/* "s3 =" and its indented lines, "[fake]" and a blank line included, are skipped. */
	r = load("nested", CRED, CONF);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDNESTED");
	CHECK_STR(r.c.secret_key, "secretnested");
	result_free(&r);
	r = load("fake", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	result_free(&r);

	/* Section names are exact: "[ spaced ]" is not "spaced". */
	r = load("spaced", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_HAS(r.err, "profile spaced not found");
	result_free(&r);

	/* Keys are case-sensitive. */
	r = load("casekeys", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	CHECK_HAS(r.err, "none found: tried");
	result_free(&r);

	r = load("colon", CRED, CONF);
	CHECK_STR(r.c.access_key, "AKIDCOLON");
	CHECK_STR(r.c.secret_key, "secret:colon");
	result_free(&r);

	/* A repeated section merges; a later key wins. */
	r = load("dup", CRED, CONF);
	CHECK_STR(r.c.access_key, "AKIDDUP");
	CHECK_STR(r.c.secret_key, "secretdup");
	result_free(&r);

	/* Empty values count as unset. */
	r = load("empty", CRED, CONF);
	CHECK_INT(r.rc, -ENOENT);
	result_free(&r);
}

static void test_line_endings(const char *home)
{
	char crlf[PATH_MAX], nonl[PATH_MAX], bom[PATH_MAX];
	struct result r;

	env_reset(home);
	snprintf(crlf, sizeof(crlf), "%s/crlf", home);
	snprintf(nonl, sizeof(nonl), "%s/nonl", home);
	snprintf(bom, sizeof(bom), "%s/bom", home);
	/* Written here, not shipped, so no git eol setting can rewrite the bytes. */
	check_write_file(crlf, "# windows\r\n[default]\r\naws_access_key_id = AKIDCRLF\r\n"
		   "aws_secret_access_key = secretcrlf\r\n\r\n[x]\r\n");
	check_write_file(nonl, "[default]\naws_access_key_id = AKIDNONL\naws_secret_access_key = secretnonl");
	check_write_file(bom, "\xef\xbb\xbf[default]\r\naws_access_key_id=AKIDBOM\r\n"
		   "aws_secret_access_key=secretbom");

	r = load(NULL, crlf, NOFILE);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDCRLF");
	CHECK_STR(r.c.secret_key, "secretcrlf");
	result_free(&r);

	r = load(NULL, nonl, NOFILE);
	CHECK_STR(r.c.secret_key, "secretnonl");
	result_free(&r);

	r = load(NULL, bom, NOFILE);
	CHECK_STR(r.c.access_key, "AKIDBOM");
	CHECK_STR(r.c.secret_key, "secretbom");
	result_free(&r);

	/* A directory is no file: nothing found there, no error. */
	r = load(NULL, home, NOFILE);
	CHECK_INT(r.rc, -ENOENT);
	result_free(&r);
	unlink(crlf);
	unlink(nonl);
	unlink(bom);
}

static void test_paths(const char *home)
{
	char dir[PATH_MAX], cred[PATH_MAX], alt[PATH_MAX], want[PATH_MAX * 2];
	struct passwd *pw;
	struct result r;

	env_reset(home);
	snprintf(dir, sizeof(dir), "%s/.aws", home);
	snprintf(cred, sizeof(cred), "%s/.aws/credentials", home);
	snprintf(alt, sizeof(alt), "%s/.aws/alt", home);
	mkdir(dir, 0700);
	check_write_file(cred, "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = s\n");
	check_write_file(alt, "[default]\naws_access_key_id = AKIDALT\naws_secret_access_key = s\n");

	/* $HOME/.aws/credentials by default. */
	r = load(NULL, NULL, NULL);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.c.access_key, "AKIDHOME");
	snprintf(want, sizeof(want), "shared credentials file %s (profile default)", cred);
	CHECK_STR(r.c.source, want);
	result_free(&r);

	/* The environment names the files; "~/" is expanded; src beats the environment. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/alt", 1);
	r = load(NULL, NULL, NULL);
	CHECK_STR(r.c.access_key, "AKIDALT");
	result_free(&r);
	setenv("AWS_SHARED_CREDENTIALS_FILE", CRED, 1);
	setenv("AWS_CONFIG_FILE", CONF, 1);
	r = load("cfgonly", NULL, NULL);
	CHECK_STR(r.c.source, "config file " CONF " (profile cfgonly)");
	result_free(&r);
	r = load(NULL, alt, NULL);
	CHECK_STR(r.c.access_key, "AKIDALT");
	result_free(&r);

	/* Without HOME the passwd entry gives the home directory. */
	env_reset(home);
	unsetenv("HOME");
	pw = getpwuid(getuid());
	r = load("tfstatefs-test-no-such-profile", NULL, NOFILE);
	CHECK_INT(r.rc, -ENOENT);
	if (pw) {
		snprintf(want, sizeof(want), "%s/.aws/credentials or", pw->pw_dir);
		CHECK_HAS(r.err, want);
	}
	result_free(&r);
	setenv("HOME", home, 1);
	unlink(cred);
	unlink(alt);
	rmdir(dir);
}

static void test_region(const char *home)
{
	struct aws_config_sources src = { NULL, CRED, CONF };
	char *r;

	env_reset(home);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	r = aws_region_resolve("eu-central-1", &src);
	CHECK_STR(r, "eu-central-1");
	free(r);
	r = aws_region_resolve("", &src);
	CHECK_STR(r, "us-east-1");
	free(r);
	setenv("AWS_REGION", "", 1);
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "us-west-1");
	free(r);
	unsetenv("AWS_DEFAULT_REGION");
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "eu-west-1");	/* config [default] */
	free(r);

	src.profile = "prod";	/* only the config file holds regions: [profile prod] */
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "ap-southeast-2");
	free(r);
	src.profile = "role";
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "us-east-2");
	free(r);
	src.profile = "credregion";	/* only the credentials file has one */
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "ca-central-1");
	free(r);
	src.profile = "emptyregion";
	CHECK(aws_region_resolve(NULL, &src) == NULL);
	src.profile = "nope";
	CHECK(aws_region_resolve(NULL, &src) == NULL);

	src.profile = NULL;
	setenv("AWS_PROFILE", "cfgonly", 1);
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "us-west-2");
	free(r);

	src.config_file = DATA "config_default_both";
	unsetenv("AWS_PROFILE");
	r = aws_region_resolve(NULL, &src);
	CHECK_STR(r, "us-east-1");	/* [profile default] over [default] */
	free(r);

	CHECK(aws_region_resolve(NULL, NULL) == NULL);	/* empty fake HOME */
}

static void test_ini_get(void)
{
	char *v;

	v = aws_ini_get(CRED, "prod", "aws_access_key_id");
	CHECK_STR(v, "AKIDPROD");
	free(v);
	v = aws_ini_get(CONF, "profile cfgonly", "region");
	CHECK_STR(v, "us-west-2");
	free(v);
	v = aws_ini_get(CONF, "sso-session corp", "sso_start_url");
	CHECK_STR(v, "https://corp.awsapps.com/start");
	free(v);
	/* '#' glued to the separator is part of the value. */
	v = aws_ini_get(CRED, "comments", "region");
	CHECK_STR(v, "#glued-to-separator");
	free(v);
	CHECK(aws_ini_get(CRED, "nested", "s3") == NULL);
	CHECK(aws_ini_get(CRED, "nested", "max_concurrent_requests") == NULL);
	CHECK(aws_ini_get(CRED, "prod", "region") == NULL);
	CHECK(aws_ini_get(CRED, "missing", "aws_access_key_id") == NULL);
	CHECK(aws_ini_get(NOFILE, "default", "aws_access_key_id") == NULL);
	CHECK(aws_ini_get(NULL, "default", "aws_access_key_id") == NULL);
}

static void test_free(void)
{
	struct aws_credentials c = { 0 };

	aws_credentials_free(&c);
	aws_credentials_free(NULL);
	CHECK(c.access_key == NULL);
}

/* The JSON of the container endpoint, IMDS and credential_process. */
static void test_json(void)
{
	struct aws_credentials c;
	const char *what;
	static const char imds[] = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA1\","
		"\"SecretAccessKey\":\"s1\",\"Token\":\"t1\",\"Expiration\":\"2026-11-28T14:00:00Z\"}";
	CHECK_INT(cred_json_parse(imds, strlen(imds), false, &c, &what), 0);
	CHECK_STR(c.access_key, "ASIA1");
	CHECK_STR(c.session_token, "t1");
	CHECK_INT(c.expiration, 1795874400);
	aws_credentials_free(&c);

	static const char proc[] = "{\"Version\": 1, \"AccessKeyId\": \"AKIA2\", \"SecretAccessKey\": \"s2\"}";
	CHECK_INT(cred_json_parse(proc, strlen(proc), true, &c, &what), 0);
	CHECK(c.session_token == NULL && c.expiration == 0);
	aws_credentials_free(&c);
	/* Long-term keys need no Expiration from a process, but always from an endpoint. */
	CHECK_INT(cred_json_parse(proc, strlen(proc), false, &c, &what), -EPROTO);
	CHECK_STR(what, "Expiration is missing");

	static const char v2[] = "{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}";
	CHECK_INT(cred_json_parse(v2, strlen(v2), true, &c, &what), -EPROTO);
	CHECK_STR(what, "Version is not 1");
	static const char nokey[] = "{\"Version\":1,\"SecretAccessKey\":\"s\"}";
	CHECK_INT(cred_json_parse(nokey, strlen(nokey), true, &c, &what), -EPROTO);
	static const char badtime[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}";
	CHECK_INT(cred_json_parse(badtime, strlen(badtime), false, &c, &what), -EPROTO);
	CHECK_STR(what, "Expiration is not an ISO 8601 time");
	CHECK_INT(cred_json_parse("[1]", 3, false, &c, &what), -EPROTO);
	CHECK_INT(cred_json_parse("", 0, false, &c, &what), -EPROTO);
	CHECK(c.access_key == NULL);
}

/* STS's answers, both actions, and its refusal. */
static void test_sts_xml(void)
{
	struct sts_answer a;
	static const char ok[] =
		"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
		"<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>x</SubjectFromWebIdentityToken>"
		"<Credentials><AccessKeyId>ASIA3</AccessKeyId><SecretAccessKey>s3</SecretAccessKey>"
		"<SessionToken>t3</SessionToken><Expiration>2026-11-28T14:00:00Z</Expiration></Credentials>"
		"</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
		"</AssumeRoleWithWebIdentityResponse>";
	CHECK_INT(s3_xml_parse_sts(ok, strlen(ok), &a), 0);
	CHECK_STR(a.access_key, "ASIA3");
	CHECK_STR(a.session_token, "t3");
	CHECK_STR(a.expiration, "2026-11-28T14:00:00Z");
	CHECK(a.code == NULL);
	sts_answer_free(&a);
	static const char refused[] = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
		"<Message>not allowed</Message></Error><RequestId>r</RequestId></ErrorResponse>";
	CHECK_INT(s3_xml_parse_sts(refused, strlen(refused), &a), 0);
	CHECK_STR(a.code, "AccessDenied");
	CHECK_STR(a.message, "not allowed");
	CHECK(a.access_key == NULL);
	sts_answer_free(&a);
	/* An AccessKeyId outside <Credentials> is not taken. */
	static const char stray[] = "<AssumeRoleResponse><AssumeRoleResult><AccessKeyId>X</AccessKeyId>"
		"</AssumeRoleResult></AssumeRoleResponse>";
	CHECK_INT(s3_xml_parse_sts(stray, strlen(stray), &a), 0);
	CHECK(a.access_key == NULL);
	sts_answer_free(&a);
	CHECK_INT(s3_xml_parse_sts("<!DOCTYPE x><x/>", 16, &a), -EBADMSG);
}

/* ---- the provider (credprov.c) ---- */

static struct aws_credentials keys_expiring(const char *id, time_t expiration)
{
	struct aws_credentials c;
	CHECK_INT(aws_credentials_set(&c, id, "secret", "token", "credential_process of profile base"), 0);
	c.expiration = expiration;
	return c;
}

/* Fixed credentials (those AssumeRole is signed with) have nothing to renew them from:
 * once they expire, or come within 10 s of it, they are refused, as the AWS SDKs fail a
 * request with expired credentials; the provider never tries to renew them. */
static void test_provider_fixed_expired(void)
{
	static const struct { long from_now; int rc; } cases[] = {
		{ -3600, -EACCES }, { -1, -EACCES }, { 5, -EACCES },   /* expired, or within 10 s */
		{ 3600, 0 }, { 0, 0 },                                   /* 0: never expires */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t exp = cases[i].from_now ? time(NULL) + cases[i].from_now : 0;
		struct aws_credentials c = keys_expiring("ASIAFIXED", exp), out = { 0 };
		struct aws_cred_provider *p = NULL;
		CHECK_INT(aws_cred_provider_fixed(&c, &p), 0);
		aws_credentials_free(&c);
		if (!p)
			continue;
		for (int ask = 0; ask < 2; ask++) {   /* asked again: the same answer */
			CHECK_INT(aws_cred_get(p, &out), cases[i].rc);
			if (cases[i].rc == 0)
				CHECK_STR(out.access_key, "ASIAFIXED");
			else
				CHECK(out.access_key == NULL);
			aws_credentials_free(&out);
		}
		aws_cred_provider_free(p);
	}
}

static int fetch_calls;

/* A source that keeps answering credentials that expired a minute ago; past a few calls
 * it fails, so that a provider asking it in a loop ends. */
static int fetch_expired(const struct cred_source *s, struct aws_credentials *out, char **err)
{
	if (++fetch_calls > 3)
		return cred_fail(err, -EIO, "%s: asked %d times", s->label, fetch_calls);
	*out = keys_expiring("ASIASTALE", time(NULL) - 60);
	return 0;
}

/* A renewal that brings credentials as expired as the ones it replaces is a failed one:
 * the source is asked once, not again and again, and the request gets an error. */
static void test_provider_renewal_still_expired(void)
{
	struct cred_source *src = cred_source_new(CRED_PROCESS, "profile base (test)");
	struct aws_credentials first = keys_expiring("ASIAFIRST", time(NULL) - 60), out = { 0 };
	struct aws_cred_provider *p = NULL;
	fetch_calls = 0;
	CHECK(src != NULL);
	CHECK_INT(aws_cred_provider_renewing(src, fetch_expired, cred_source_free, &first, &p), 0);
	if (!p)
		return;
	CHECK_INT(aws_cred_get(p, &out), -EACCES);
	CHECK(out.access_key == NULL);
	CHECK_INT(fetch_calls, 1);
	/* Within the 5 s after a failed renewal, the source is not asked again. */
	CHECK_INT(aws_cred_get(p, &out), -EACCES);
	CHECK_INT(fetch_calls, 1);
	/* The status shows why until a renewal succeeds. */
	char health[512];
	aws_cred_provider_health(p, health, sizeof(health));
	CHECK_HAS(health, "renewal failing: ");
	CHECK_HAS(health, "still valid");
	aws_credentials_free(&out);
	aws_cred_provider_free(p);
}

/* A source that answers credentials already expired fails, saying which source, when they
 * expired and what to do, as botocore does; so does a role whose source_profile is one:
 * its AssumeRole is never signed with them. */
static void test_source_answers_expired(const char *home)
{
	static const char json[] = "{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", "
		"\"SecretAccessKey\": \"s\", \"SessionToken\": \"t\", \"Expiration\": \"%s\"}";
	char script[PATH_MAX], body[512], cmd[PATH_MAX + 16];
	struct aws_credentials out;
	char *err = NULL;

	env_reset(home);
	snprintf(script, sizeof(script), "%s/print-creds", home);
	snprintf(cmd, sizeof(cmd), "cat '%s'", script);
	struct cred_source *proc = cred_source_new(CRED_PROCESS, "profile base (config file x)");
	CHECK(proc && (proc->command = strdup(cmd)));
	if (!proc || !proc->command)
		return;

	snprintf(body, sizeof(body), json, "2099-01-01T00:00:00Z");
	check_write_file(script, body);
	CHECK_INT(cred_source_fetch(proc, &out, &err), 0);
	CHECK_STR(out.access_key, "ASIAPROC");
	aws_credentials_free(&out);
	free(err);
	err = NULL;

	snprintf(body, sizeof(body), json, "2020-01-01T00:00:00Z");
	check_write_file(script, body);
	CHECK_INT(cred_source_fetch(proc, &out, &err), -EACCES);
	CHECK(out.access_key == NULL);
	CHECK_HAS(err, "profile base (config file x): credential_process printed credentials "
	               "that expired at 2020-01-01T00:00:00Z");
	CHECK_HAS(err, "make the command print");
	free(err);
	err = NULL;

	/* A role over it: the base's expiry is the answer, and STS (a closed port) is not asked. */
	struct cred_source *role = cred_source_new(CRED_ASSUME_ROLE, "profile deploy (config file x)");
	CHECK(role != NULL);
	if (!role) {
		cred_source_free(proc);
		return;
	}
	role->base = proc;
	role->role_arn = strdup("arn:aws:iam::123456789012:role/deploy");
	role->session_name = strdup("s");
	role->sts.endpoint = strdup("http://127.0.0.1:9");
	role->sts.region = strdup("us-east-1");
	CHECK(role->role_arn && role->session_name && role->sts.endpoint && role->sts.region);
	CHECK_INT(cred_source_fetch(role, &out, &err), -EACCES);
	CHECK(out.access_key == NULL);
	CHECK_HAS(err, "profile base (config file x): credential_process printed credentials "
	               "that expired at 2020-01-01T00:00:00Z");
	free(err);
	cred_source_free(role);
	unlink(script);
}

int main(void)
{
	char home[] = "/tmp/test_creds.XXXXXX";

	if (!mkdtemp(home)) {
		perror("mkdtemp");
		return 1;
	}
	test_env(home);
	test_env_half(home);
	test_precedence(home);
	test_files(home);
	test_config_default(home);
	test_half_pairs(home);
	test_not_found(home);
	test_sources(home);
	test_ini_syntax(home);
	test_line_endings(home);
	test_paths(home);
	test_region(home);
	test_ini_get();
	test_json();
	test_sts_xml();
	test_free();
	test_provider_renewal_still_expired();
	test_provider_fixed_expired();
	test_source_answers_expired(home);
	rmdir(home);
	return check_report("creds");
}
