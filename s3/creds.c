/* The AWS credential chain, resolved to one source, and the provider of its credentials. */
#include "s3/creds.h"
#include "s3/awsenv.h"
#include "s3/awsfiles.h"
#include "s3/credsrc.h"
#include "s3/endpoints.h"
#include "s3/sso.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the chain, resolved to one source ---- */

#define PROFILE_HOPS 8	/* source_profile chains longer than this are taken for a loop */

/* One resolution: the config, the files, what was tried (for the none-found message). */
struct chain {
	const struct aws_chain_config *cfg;
	struct awsfiles_where w;
	struct sts_target sts;
	char **err;
	char tried[2048];
};

static void tried(struct chain *c, const char *what)
{
	size_t n = strlen(c->tried);
	snprintf(c->tried + n, sizeof(c->tried) - n, "%s%s", n ? ", " : "", what);
}

static struct cred_source *source_new(enum cred_kind kind, const char *fmt, const char *a,
				      const char *b)
{
	char label[512];
	snprintf(label, sizeof(label), fmt, a, b);
	return cred_source_new(kind, label);
}

static int sts_copy(const struct sts_target *from, struct sts_target *to)
{
	to->endpoint = strdup(from->endpoint);
	to->region = strdup(from->region);
	to->ca_file = from->ca_file ? strdup(from->ca_file) : NULL;
	return to->endpoint && to->region && (!from->ca_file || to->ca_file) ? 0 : -ENOMEM;
}

/* Keys id and secret (+ token) as a static source. Returns 0 or -ENOMEM. */
static int static_source(const char *label, const char *id, const char *secret,
			 const char *token, struct cred_source **out)
{
	struct cred_source *s = cred_source_new(CRED_STATIC, label);
	if (!s || aws_credentials_set(&s->keys, id, secret, token, label) < 0) {
		cred_source_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* Returns 0, -ENOENT when neither key is set, -EINVAL for half a pair, -ENOMEM. */
static int from_env(struct chain *c, struct cred_source **out)
{
	const char *id = awsenv_get("AWS_ACCESS_KEY_ID");
	const char *secret = awsenv_get("AWS_SECRET_ACCESS_KEY");

	tried(c, "the environment (AWS_ACCESS_KEY_ID)");
	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret)
		return cred_fail(c->err, -EINVAL,
			    "environment: %s is set but %s is not; set both, "
			    "or unset %s to use the shared credentials files",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
	return static_source("environment", id, secret, awsenv_get("AWS_SESSION_TOKEN"), out);
}

/* A role session name: the given one, else one that says who assumed it and when. */
static char *session_name(const char *given)
{
	char *name = NULL;
	if (given)
		return strdup(given);
	return asprintf(&name, "tfstatefs-%ld", (long)time(NULL)) < 0 ? NULL : name;
}

/* A source that calls STS for role_arn, with base signing (AssumeRole) or none (web
 * identity). Takes base. */
static int role_source(struct chain *c, enum cred_kind kind, const char *label,
		       const char *role_arn, const char *name, struct cred_source *base,
		       struct cred_source **out)
{
	struct cred_source *s = cred_source_new(kind, label);
	int rc = s ? sts_copy(&c->sts, &s->sts) : -ENOMEM;
	if (rc == 0) {
		s->base = base;
		base = NULL;
		s->role_arn = strdup(role_arn);
		s->session_name = session_name(name);
		rc = s->role_arn && s->session_name ? 0 : -ENOMEM;
	}
	cred_source_free(base);
	if (rc < 0) {
		cred_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int web_identity_source(struct chain *c, const char *label, const char *token_file,
			       const char *role_arn, const char *name, struct cred_source **out)
{
	int rc = role_source(c, CRED_WEB_IDENTITY, label, role_arn, name, NULL, out);
	if (rc == 0 && !((*out)->token_file = strdup(token_file))) {
		cred_source_free(*out);
		rc = -ENOMEM;
	}
	return rc;
}

/* EKS (IRSA) web identity from the environment. Returns 0, -ENOENT, -ENOMEM. */
static int from_env_web_identity(struct chain *c, struct cred_source **out)
{
	const char *file = awsenv_get("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = awsenv_get("AWS_ROLE_ARN");

	tried(c, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)");
	if (!file || !role)
		return -ENOENT;
	return web_identity_source(c, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)", file, role,
				   awsenv_get("AWS_ROLE_SESSION_NAME"), out);
}

/* The ECS / EKS Pod Identity endpoint. Returns 0, -ENOENT, -EINVAL, -ENOMEM. */
static int from_container(struct chain *c, struct cred_source **out)
{
	const char *rel = awsenv_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = awsenv_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char *url = NULL;

	tried(c, "the container endpoint (AWS_CONTAINER_CREDENTIALS_*_URI)");
	if (!rel && !full)
		return -ENOENT;
	if (rel ? asprintf(&url, "http://169.254.170.2%s", rel) < 0 : !(url = strdup(full)))
		return -ENOMEM;
	struct cred_source *s = source_new(CRED_CONTAINER, "the container endpoint %s%s", url, "");
	const char *token = awsenv_get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *token_file = awsenv_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	int rc = s ? 0 : -ENOMEM;
	if (s) {
		s->url = url;
		url = NULL;
		s->auth_token = token ? strdup(token) : NULL;
		s->auth_token_file = token_file ? strdup(token_file) : NULL;
		rc = (!token || s->auth_token) && (!token_file || s->auth_token_file) ? 0 : -ENOMEM;
	}
	free(url);
	if (rc < 0) {
		cred_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* EC2 instance metadata, unless turned off. Returns 0, -ENOENT, -ENOMEM. */
static int from_imds(struct chain *c, struct cred_source **out)
{
	const char *off = awsenv_get("AWS_EC2_METADATA_DISABLED");
	const char *url = awsenv_get("AWS_EC2_METADATA_SERVICE_ENDPOINT");

	if (off && strcasecmp(off, "true") == 0) {
		tried(c, "EC2 instance metadata (off: AWS_EC2_METADATA_DISABLED)");
		return -ENOENT;
	}
	tried(c, "EC2 instance metadata");
	struct cred_source *s = cred_source_new(CRED_IMDS, "EC2 instance metadata");
	if (!s || !(s->url = strdup(url ? url : "http://169.254.169.254"))) {
		cred_source_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* ---- profiles ---- */

static int resolve_profile(struct chain *c, const char *name, int hops, struct cred_source **out);

/* profile's value for key, the config file's winning over the credentials file's. */
static const char *pget(const struct awsfiles_profile *p, const char *key)
{
	const char *v = awsfiles_get(&p->f[AWSFILES_CONF].sec, key);
	return v ? v : awsfiles_get(&p->f[AWSFILES_CRED].sec, key);
}

static char *plabel(const struct awsfiles_profile *p, const char *name)
{
	char *label = NULL;
	int i = awsfiles_get(&p->f[AWSFILES_CONF].sec, "role_arn") || !p->f[AWSFILES_CRED].sec.found
		? AWSFILES_CONF : AWSFILES_CRED;
	if (asprintf(&label, "profile %s (%s %s)", name, p->f[i].kind, p->f[i].path) < 0)
		return NULL;
	return label;
}

/* Static keys of one file's section; -ENOENT when it has none, -EINVAL for half a pair. */
static int file_keys(struct chain *c, const struct awsfiles_file *f, const char *name,
		     struct cred_source **out)
{
	const char *id = awsfiles_get(&f->sec, "aws_access_key_id");
	const char *secret = awsfiles_get(&f->sec, "aws_secret_access_key");
	char label[1024];

	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret)
		return cred_fail(c->err, -EINVAL, "%s %s (profile %s) has %s but no %s", f->kind, f->path,
			    name, id ? "aws_access_key_id" : "aws_secret_access_key",
			    id ? "aws_secret_access_key" : "aws_access_key_id");
	snprintf(label, sizeof(label), "%s %s (profile %s)", f->kind, f->path, name);
	return static_source(label, id, secret, awsfiles_get(&f->sec, "aws_session_token"), out);
}

static int profile_keys(struct chain *c, const struct awsfiles_profile *p, const char *name,
			struct cred_source **out)
{
	int rc = file_keys(c, &p->f[AWSFILES_CRED], name, out);
	return rc == -ENOENT ? file_keys(c, &p->f[AWSFILES_CONF], name, out) : rc;
}

/* credential_source: where a role's base credentials come from without a source_profile. */
static int named_source(struct chain *c, const char *label, const char *what,
			struct cred_source **out)
{
	int rc = -EINVAL;
	if (strcmp(what, "Environment") == 0)
		rc = from_env(c, out);
	else if (strcmp(what, "Ec2InstanceMetadata") == 0)
		rc = from_imds(c, out);
	else if (strcmp(what, "EcsContainer") == 0)
		rc = from_container(c, out);
	else
		return cred_fail(c->err, -EINVAL, "%s: credential_source = %s; it must be Environment, "
			    "Ec2InstanceMetadata or EcsContainer", label, what);
	if (rc == -ENOENT)
		return cred_fail(c->err, -ENOENT, "%s: credential_source = %s, but it has no "
			    "credentials here", label, what);
	return rc;
}

/* role_arn: the base credentials (source_profile, credential_source), then AssumeRole;
 * or web_identity_token_file, then AssumeRoleWithWebIdentity. */
static int profile_role(struct chain *c, const struct awsfiles_profile *p, const char *name,
			int hops, const char *label, struct cred_source **out)
{
	const char *role = pget(p, "role_arn"), *src = pget(p, "source_profile");
	const char *how = pget(p, "credential_source"), *token = pget(p, "web_identity_token_file");
	struct cred_source *base = NULL;
	int rc;

	if (token)
		return web_identity_source(c, label, token, role, pget(p, "role_session_name"), out);
	if (src && how)
		return cred_fail(c->err, -EINVAL, "%s has both source_profile and credential_source; "
			    "keep one", label);
	if (src && strcmp(src, name) == 0)
		rc = profile_keys(c, p, name, &base);	/* a role over its own profile's keys */
	else if (src)
		rc = resolve_profile(c, src, hops + 1, &base);
	else if (how)
		rc = named_source(c, label, how, &base);
	else
		return cred_fail(c->err, -EINVAL, "%s has role_arn but neither source_profile nor "
			    "credential_source: say whose credentials assume the role", label);
	if (rc == -ENOENT && !(c->err && *c->err))
		return cred_fail(c->err, -ENOENT, "%s: source_profile %s has no credentials", label, src);
	if (rc < 0)
		return rc;
	rc = role_source(c, CRED_ASSUME_ROLE, label, role, pget(p, "role_session_name"), base, out);
	const char *ext = pget(p, "external_id"), *dur = pget(p, "duration_seconds");
	if (rc == 0 && ext && !((*out)->external_id = strdup(ext)))
		rc = -ENOMEM;
	if (rc == 0 && dur)
		(*out)->duration_s = atoi(dur);
	return rc;
}

/* ---- SSO profiles ---- */

/* The first of keys (NULL-terminated) that neither section has, else NULL. */
static const char *sso_missing(const struct awsfiles_profile *p, const struct awsfiles_section *sess,
			       const char *const *keys)
{
	for (; *keys; keys++)
		if (!pget(p, *keys) && !(sess && awsfiles_get(sess, *keys)))
			return *keys;
	return NULL;
}

/* sso_start_url and sso_region from the session, which the profile may repeat but not
 * contradict (botocore refuses that too). */
static int sso_session_keys(struct chain *c, const struct awsfiles_profile *p,
			    const struct awsfiles_section *sess, const char *label)
{
	static const char *const keys[] = { "sso_start_url", "sso_region" };
	const char *name = pget(p, "sso_session");
	if (!sess->found)
		return cred_fail(c->err, -EINVAL, "%s: sso_session = %s, but config file %s has no "
			    "[sso-session %s] section", label, name,
			    c->w.conf_path ? c->w.conf_path : "~/.aws/config", name);
	for (size_t i = 0; i < 2; i++) {
		const char *mine = pget(p, keys[i]), *theirs = awsfiles_get(sess, keys[i]);
		if (!theirs)
			return cred_fail(c->err, -EINVAL, "%s: [sso-session %s] has no %s", label, name,
				    keys[i]);
		if (mine && strcmp(mine, theirs) != 0)
			return cred_fail(c->err, -EINVAL, "%s: %s differs from the one of [sso-session "
				    "%s]; keep one", label, keys[i], name);
	}
	return 0;
}

static int sso_fill(struct sso_profile *sp, const struct awsfiles_profile *p,
		    const struct awsfiles_section *sess, const char *name)
{
	const char *url = sess ? awsfiles_get(sess, "sso_start_url") : pget(p, "sso_start_url");
	const char *region = sess ? awsfiles_get(sess, "sso_region") : pget(p, "sso_region");
	sp->profile = strdup(name);
	sp->session = sess ? strdup(pget(p, "sso_session")) : NULL;
	sp->start_url = strdup(url);
	sp->region = strdup(region);
	sp->account_id = strdup(pget(p, "sso_account_id"));
	sp->role_name = strdup(pget(p, "sso_role_name"));
	return sp->profile && (!sess || sp->session) && sp->start_url && sp->region &&
	       sp->account_id && sp->role_name ? 0 : -ENOMEM;
}

/* An SSO profile, either form: sso_session naming an [sso-session] section, or the legacy
 * sso_start_url and sso_region in the profile; both with sso_account_id and sso_role_name. */
static int profile_sso(struct chain *c, const struct awsfiles_profile *p, const char *name,
		       const char *label, struct cred_source **out)
{
	static const char *const need[] = { "sso_start_url", "sso_region", "sso_account_id",
					    "sso_role_name", NULL };
	struct awsfiles_section sess = { 0 }, *sp_sess = NULL;
	struct cred_source *s = NULL;
	int rc = 0;
	if (pget(p, "sso_session")) {
		sp_sess = &sess;
		rc = awsfiles_sso_session_load(&c->w, pget(p, "sso_session"), &sess);
		if (rc == 0)
			rc = sso_session_keys(c, p, &sess, label);
	}
	const char *missing = rc == 0 ? sso_missing(p, sp_sess, need) : NULL;
	if (missing)
		rc = cred_fail(c->err, -EINVAL, "%s is an SSO profile without %s; add it (aws configure "
			    "sso --profile %s writes the profile)", label, missing, name);
	if (rc == 0) {
		s = cred_source_new(CRED_SSO, label);
		rc = s && (s->sso = calloc(1, sizeof(*s->sso))) ? sso_fill(s->sso, p, sp_sess, name)
								: -ENOMEM;
	}
	if (rc == 0 && (rc = sso_profile_complete(s->sso, c->cfg->ca_file)) == -ENOENT)
		rc = cred_fail(c->err, -ENOENT, "%s: no home directory for the SSO token cache "
			    "(~/.aws/sso/cache); set HOME", label);
	awsfiles_section_free(&sess);
	if (rc < 0) {
		cred_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* One profile's part of botocore's chain, in its order: assume-role and web identity, SSO,
 * the credentials file's keys, credential_process, the config file's keys. Returns 0,
 * -ENOENT (nothing there), or an error. */
static int profile_source(struct chain *c, const struct awsfiles_profile *p, const char *name,
			  int hops, struct cred_source **out)
{
	char *label = plabel(p, name);
	int rc;
	if (!label)
		return -ENOMEM;
	if (pget(p, "role_arn"))
		rc = profile_role(c, p, name, hops, label, out);
	else if (pget(p, "sso_session") || pget(p, "sso_start_url"))
		rc = profile_sso(c, p, name, label, out);
	else if ((rc = file_keys(c, &p->f[AWSFILES_CRED], name, out)) == -ENOENT &&
		 pget(p, "credential_process")) {
		struct cred_source *s = cred_source_new(CRED_PROCESS, label);
		rc = s && (s->command = strdup(pget(p, "credential_process"))) ? 0 : -ENOMEM;
		if (rc == 0)
			*out = s;
		else
			cred_source_free(s);
	} else if (rc == -ENOENT) {
		rc = file_keys(c, &p->f[AWSFILES_CONF], name, out);
	}
	free(label);
	return rc;
}

static int resolve_profile(struct chain *c, const char *name, int hops, struct cred_source **out)
{
	struct awsfiles_where w = c->w;
	struct awsfiles_profile p;
	if (hops > PROFILE_HOPS)
		return cred_fail(c->err, -EINVAL, "profile %s: source_profile goes round in a loop (more "
			    "than %d hops)", name, PROFILE_HOPS);
	w.profile = (char *)name;
	int rc = awsfiles_profile_load(&w, &p);
	if (rc)
		return rc;
	if (!p.f[AWSFILES_CRED].sec.found && !p.f[AWSFILES_CONF].sec.found && (hops > 0 || c->w.named))
		rc = cred_fail(c->err, -ENOENT, "profile %s not found in %s or %s", name,
			  p.f[AWSFILES_CRED].path, p.f[AWSFILES_CONF].path);
	else
		rc = profile_source(c, &p, name, hops, out);
	awsfiles_profile_free(&p);
	return rc;
}

static int none_found(struct chain *c)
{
	return cred_fail(c->err, -ENOENT,
		    "none found: tried %s%s; set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, or name a profile with -o profile= (or AWS_PROFILE) "
		    "that has keys, a role, or credential_process", c->tried,
		    c->w.from_src ? " (environment keys are not used when a profile is named "
				    "with -o profile=)" : "");
}

/* A step of the chain: 0 (found), -ENOENT (go on), or an error that ends the search. */
typedef int (*chain_step)(struct chain *c, struct cred_source **out);

static int from_files(struct chain *c, struct cred_source **out)
{
	char what[1200];
	snprintf(what, sizeof(what), "profile %s in shared credentials file %s and config file %s",
		 c->w.profile, c->w.cred_path ? c->w.cred_path : "~/.aws/credentials",
		 c->w.conf_path ? c->w.conf_path : "~/.aws/config");
	tried(c, what);
	return resolve_profile(c, c->w.profile, 0, out);
}

/* The environment comes first unless cfg names a profile: as in botocore, the CLI's
 * --profile beats AWS_ACCESS_KEY_ID, while AWS_PROFILE does not. */
static int resolve_chain(struct chain *c, struct cred_source **out)
{
	static const chain_step steps[] = {
		from_env, from_env_web_identity, from_files, from_container, from_imds,
	};
	int rc = -ENOENT;
	size_t i;
	char before[sizeof(c->tried)] = "";
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]) && rc == -ENOENT; i++) {
		if (c->w.from_src && i < 2)
			continue;
		snprintf(before, sizeof(before), "%s", c->tried);
		rc = steps[i](c, out);
		if (rc == -ENOENT && c->err && *c->err)
			return rc;	/* a named profile that is missing: say so, do not go on */
	}
	/* The endpoints come last and may well be absent: if one has nothing either, the
	 * message must still say what was tried before it. */
	if (rc == 0 && i > 3 && before[0] && !((*out)->tried_before = strdup(before))) {
		cred_source_free(*out);
		return -ENOMEM;
	}
	return rc == -ENOENT ? none_found(c) : rc;
}

/* STS: -o sts_endpoint, the SDKs' variables, else the regional endpoint. */
static int sts_init(const struct aws_chain_config *cfg, struct sts_target *sts)
{
	const char *url = aws_endpoint_resolve(cfg->sts_endpoint, "AWS_ENDPOINT_URL_STS");
	const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
	memset(sts, 0, sizeof(*sts));
	sts->region = strdup(region);
	sts->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	if (url)
		sts->endpoint = strdup(url);
	else if (asprintf(&sts->endpoint, "https://sts.%s.amazonaws.com%s", region,
			  strncmp(region, "cn-", 3) == 0 ? ".cn" : "") < 0)
		sts->endpoint = NULL;
	return sts->region && sts->endpoint && (!cfg->ca_file || sts->ca_file) ? 0 : -ENOMEM;
}

static void sts_free(struct sts_target *sts)
{
	free(sts->endpoint);
	free(sts->region);
	free(sts->ca_file);
}

int cred_chain_resolve(const struct aws_chain_config *cfg, struct cred_source **out, char **err)
{
	struct chain c = { .cfg = cfg, .err = err };
	if (err)
		*err = NULL;
	int rc = awsfiles_where_init(&cfg->files, &c.w);
	if (rc == 0 && (rc = sts_init(cfg, &c.sts)) == 0) {
		rc = resolve_chain(&c, out);
		/* -o role_arn: a role assumed with whatever the chain found. */
		if (rc == 0 && cfg->role_arn && *cfg->role_arn)
			rc = role_source(&c, CRED_ASSUME_ROLE, "-o role_arn", cfg->role_arn, NULL,
					 *out, out);
	}
	sts_free(&c.sts);
	awsfiles_where_free(&c.w);
	return rc;
}

/* ---- the provider of the chain's source ---- */

int aws_cred_provider_new(const struct aws_chain_config *cfg, struct aws_cred_provider **out,
                          char **err)
{
	struct cred_source *source = NULL;
	struct aws_credentials first;
	int rc = cred_chain_resolve(cfg, &source, err);
	if (rc < 0)
		return rc;
	/* The first credentials now, so that a mount that cannot have any says so at once. */
	if ((rc = cred_source_fetch(source, &first, err)) < 0) {
		char *why = err ? *err : NULL;
		if (why && source->tried_before && asprintf(err, "none found: tried "
		                                            "%s, then %s", source->tried_before, why) < 0)
			*err = NULL;
		if (err && *err != why)
			free(why);
		cred_source_free(source);
		return rc;
	}
	return aws_cred_provider_renewing(source, cred_source_fetch, cred_source_free, &first, out);
}
