/* Resolves AWS credentials and region from the environment and the shared AWS files. */
#include "s3/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The INI dialect. The implementations disagree, so each rule names whom it follows.
 *
 * botocore (the AWS CLI) reads both files with Python's RawConfigParser: a line whose
 * first non-blank character is '#' or ';' is a comment; '=' or ':' separates key and
 * value; a line indented deeper than the option above it continues that option (that is
 * how "s3 =" sub-sections work); blank and comment lines neither end nor continue
 * anything; section names are exact ("[ prod ]" is not "prod"). We do all of that.
 *
 * Inline comments: RawConfigParser has no inline comment prefixes, so botocore keeps
 * "AKIA... # prod" whole as the value (and then fails to sign with it). The other SDKs
 * (JS v3, Java v2, Go v2, Rust) cut a '#' or ';' that follows whitespace and keep one
 * glued to the value ("abc#def"). We follow the SDKs: key IDs, secrets, session tokens
 * and regions never contain whitespace, so the cut only changes values botocore would
 * use broken, and a glued '#'/';' stays part of the value exactly as in botocore.
 *
 * Keys are case-sensitive, as in the SDKs (botocore alone lowercases them). Where
 * botocore rejects the whole file (lines before the first section, lines without a
 * separator, duplicate sections) we skip the line or merge the duplicate, later keys
 * winning, so one stray line does not hide every profile.
 */

enum { CRED, CONF };

struct ini_kv {
	char *key;
	char *val;
};

/* The pairs of one section, gathered from every header that names it. */
struct ini_section {
	struct ini_kv *kv;
	size_t n, cap;
	int found;	/* a matching header was seen, even if the section is empty */
};

/* The header a lookup wants: "[name]", or with profile_prefix "[profile name]". */
struct ini_want {
	const char *name;
	int profile_prefix;
};

struct ini_state {
	int in_section;	/* past the first header: lines before it belong to no section */
	int in_want;	/* inside a header that matches */
	int have_opt;	/* an option is open, so deeper-indented lines continue it */
	size_t opt_indent;
};

/* One file's view of the profile, with the names messages use for it. */
struct pfile {
	struct ini_section sec;
	const char *kind;
	const char *path;
};

struct profile {
	struct pfile f[2];	/* [CRED], [CONF] */
};

/* Where a lookup reads from, with every default applied. */
struct where {
	char *profile;
	int named;	/* asked for (src or AWS_PROFILE), not the implicit "default" */
	int from_src;	/* asked for in src: env keys are then ignored, as with the CLI's --profile */
	char *cred_path;	/* NULL when no home directory could be found */
	char *conf_path;
};

/* Python's strip() set; '\r' among them is what makes CRLF files work. */
static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r';
}

static char *skip_blank(char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n && is_blank(s[n - 1]))
		s[--n] = '\0';
}

/* Empty strings count as unset, as in the SDKs. */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

__attribute__((format(printf, 3, 4)))
static int fail(char **err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return rc;
}

static void sec_free(struct ini_section *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->kv[i].key);
		free(s->kv[i].val);
	}
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

/* A later value for a key replaces the earlier one, as in the SDKs. */
static int sec_set(struct ini_section *s, const char *key, const char *val)
{
	char *v = strdup(val);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->kv[i].key, key) == 0) {
			free(s->kv[i].val);
			s->kv[i].val = v;
			return 0;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct ini_kv *kv = realloc(s->kv, cap * sizeof(*kv));

		if (!kv) {
			free(v);
			return -ENOMEM;
		}
		s->kv = kv;
		s->cap = cap;
	}
	s->kv[s->n].key = strdup(key);
	if (!s->kv[s->n].key) {
		free(v);
		return -ENOMEM;
	}
	s->kv[s->n++].val = v;
	return 0;
}

/* An empty value counts as unset, like an empty environment variable. */
static const char *sec_get(const struct ini_section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].val[0] ? s->kv[i].val : NULL;
	return NULL;
}

/* botocore splits "[profile  name ]" with shlex, so any run of blanks is fine there. */
static int header_matches(const struct ini_want *w, const char *hdr)
{
	size_t n;

	if (!w->profile_prefix)
		return strcmp(hdr, w->name) == 0;
	if (strncmp(hdr, "profile", 7) != 0 || !is_blank(hdr[7]))
		return 0;
	hdr += 7;
	while (is_blank(*hdr))
		hdr++;
	n = strlen(hdr);
	while (n && is_blank(hdr[n - 1]))
		n--;
	return n == strlen(w->name) && strncmp(hdr, w->name, n) == 0;
}

/* t is "[name]..."; whatever follows the first ']' is ignored, like a comment. */
static void ini_header(struct ini_state *st, char *t, const struct ini_want *w,
		       struct ini_section *sec)
{
	char *close = strchr(t, ']');

	if (!close)
		return;
	*close = '\0';
	st->in_section = 1;
	st->have_opt = 0;
	st->in_want = header_matches(w, t + 1);
	if (st->in_want)
		sec->found = 1;
}

/* Cuts an inline comment: '#' or ';' right after a blank (see the dialect note above).
 * v starts just after the separator, so a comment needs a blank inside v. */
static void cut_comment(char *v)
{
	for (char *p = v + 1; *p; p++) {
		if ((*p == '#' || *p == ';') && is_blank(p[-1])) {
			*p = '\0';
			return;
		}
	}
}

/* t is a non-blank line inside a section: "key = value" or "key: value". */
static int ini_option(struct ini_state *st, char *t, struct ini_section *sec)
{
	char *sep = strpbrk(t, "=:");
	char *val;

	if (!sep || sep == t)
		return 0;
	st->have_opt = 1;
	if (!st->in_want)
		return 0;
	*sep = '\0';
	trim_end(t);
	val = sep + 1;
	if (*val)
		cut_comment(val);
	val = skip_blank(val);
	trim_end(val);
	return sec_set(sec, t, val);
}

static int ini_line(struct ini_state *st, char *line, const struct ini_want *w,
		    struct ini_section *sec)
{
	size_t n = strlen(line);
	size_t indent;
	char *t;

	if (n && line[n - 1] == '\n')
		line[--n] = '\0';	/* a CR before it goes with the trailing blanks */
	t = skip_blank(line);
	if (*t == '\0' || *t == '#' || *t == ';')
		return 0;
	indent = (size_t)(t - line);
	if (st->have_opt && indent > st->opt_indent)
		return 0;	/* continues the option above, e.g. the body of "s3 =" */
	st->opt_indent = indent;
	if (*t == '[') {
		ini_header(st, t, w, sec);
		return 0;
	}
	return st->in_section ? ini_option(st, t, sec) : 0;
}

/* Only regular files, as botocore's isfile check: a FIFO must not hang the mount. */
static FILE *open_regular(const char *path)
{
	struct stat st;
	FILE *f;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* Gathers section w of the file at path. Returns 0 (sec->found says whether the
 * section exists; a missing or unreadable file has none) or -ENOMEM. */
static int ini_load(const char *path, const struct ini_want *w, struct ini_section *sec)
{
	struct ini_state st = { 0 };
	char *line = NULL;
	size_t cap = 0;
	int rc = 0, first = 1;
	FILE *f;

	memset(sec, 0, sizeof(*sec));
	f = path ? open_regular(path) : NULL;
	if (!f)
		return 0;
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		char *p = line;

		/* Windows editors start files with a UTF-8 BOM. */
		if (first && strncmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3;
		first = 0;
		rc = ini_line(&st, p, w, sec);
	}
	/* A read error (EIO and the like) makes the file unreadable: nothing found there. */
	if (rc == 0 && !feof(f))
		rc = errno == ENOMEM ? -ENOMEM : -EIO;
	free(line);
	fclose(f);
	if (rc)
		sec_free(sec);
	return rc == -EIO ? 0 : rc;
}

char *aws_ini_get(const char *path, const char *section, const char *key)
{
	struct ini_want w = { section, 0 };
	struct ini_section sec;
	const char *v;
	char *out;

	if (!section || !key || ini_load(path, &w, &sec) != 0)
		return NULL;
	v = sec_get(&sec, key);
	out = v ? strdup(v) : NULL;
	sec_free(&sec);
	return out;
}

/* $HOME, else the passwd entry, as botocore's expanduser does. *out stays NULL when
 * neither gives one. Returns 0 or -ENOMEM. */
static int home_dir(char **out)
{
	const char *h = env_get("HOME");
	struct passwd pw, *res = NULL;
	long sz;
	size_t len;
	char *buf;
	int rc = 0;

	*out = NULL;
	if (h)
		return (*out = strdup(h)) ? 0 : -ENOMEM;
	sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	len = sz > 0 ? (size_t)sz : 16384;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	/* getpwuid_r, not getpwuid: no static buffer shared between threads. */
	if (getpwuid_r(getuid(), &pw, buf, len, &res) == 0 && res && res->pw_dir && *res->pw_dir) {
		*out = strdup(res->pw_dir);
		rc = *out ? 0 : -ENOMEM;
	}
	free(buf);
	return rc;
}

/* given, else $var, else ~/.aws/leaf; a leading "~/" is expanded as botocore does. */
static int file_path(const char *given, const char *var, const char *leaf, char **out)
{
	const char *p = given && *given ? given : env_get(var);
	int tilde = p && p[0] == '~' && (p[1] == '/' || p[1] == '\0');
	char *home;
	int rc;

	*out = NULL;
	if (p && !tilde)
		return (*out = strdup(p)) ? 0 : -ENOMEM;
	rc = home_dir(&home);
	if (rc)
		return rc;
	if (!home) {
		/* Nothing to expand "~/" with: keep it literal; no given path stays NULL. */
		if (p && !(*out = strdup(p)))
			return -ENOMEM;
		return 0;
	}
	rc = p ? asprintf(out, "%s%s", home, p + 1) : asprintf(out, "%s/.aws/%s", home, leaf);
	free(home);
	if (rc < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void where_free(struct where *w)
{
	free(w->profile);
	free(w->cred_path);
	free(w->conf_path);
	memset(w, 0, sizeof(*w));
}

static int where_init(const struct aws_config_sources *src, struct where *w)
{
	static const struct aws_config_sources none;
	const char *profile;
	int rc;

	memset(w, 0, sizeof(*w));
	if (!src)
		src = &none;
	if (src->profile && *src->profile) {
		profile = src->profile;
		w->named = w->from_src = 1;
	} else if ((profile = env_get("AWS_PROFILE"))) {
		w->named = 1;
	} else {
		profile = "default";
	}
	w->profile = strdup(profile);
	rc = w->profile ? 0 : -ENOMEM;
	if (rc == 0)
		rc = file_path(src->credentials_file, "AWS_SHARED_CREDENTIALS_FILE", "credentials",
			       &w->cred_path);
	if (rc == 0)
		rc = file_path(src->config_file, "AWS_CONFIG_FILE", "config", &w->conf_path);
	if (rc)
		where_free(w);
	return rc;
}

static void profile_free(struct profile *p)
{
	sec_free(&p->f[CRED].sec);
	sec_free(&p->f[CONF].sec);
}

/* The profile's section in each file: "[NAME]" in the credentials file, "[profile NAME]"
 * in the config file, where the default profile may also be "[default]"; the SDKs
 * prefer "[profile default]" when both exist (botocore takes the later one). */
static int profile_load(const struct where *w, struct profile *p)
{
	struct ini_want plain = { w->profile, 0 }, prefixed = { w->profile, 1 };
	int rc;

	memset(p, 0, sizeof(*p));
	p->f[CRED].kind = "shared credentials file";
	p->f[CRED].path = w->cred_path ? w->cred_path : "~/.aws/credentials";
	p->f[CONF].kind = "config file";
	p->f[CONF].path = w->conf_path ? w->conf_path : "~/.aws/config";
	rc = ini_load(w->cred_path, &plain, &p->f[CRED].sec);
	if (rc == 0)
		rc = ini_load(w->conf_path, &prefixed, &p->f[CONF].sec);
	if (rc == 0 && !p->f[CONF].sec.found && strcmp(w->profile, "default") == 0)
		rc = ini_load(w->conf_path, &plain, &p->f[CONF].sec);
	if (rc)
		profile_free(p);
	return rc;
}

void aws_credentials_free(struct aws_credentials *c)
{
	if (!c)
		return;
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* Copies the keys into out and takes ownership of source. */
static int creds_fill(struct aws_credentials *out, const char *id, const char *secret,
		      const char *token, char *source)
{
	out->source = source;
	out->access_key = strdup(id);
	out->secret_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (source && out->access_key && out->secret_key && (!token || out->session_token))
		return 0;
	aws_credentials_free(out);
	return -ENOMEM;
}

/* Returns 0, -ENOENT when neither key is set, -EINVAL for half a pair, -ENOMEM. */
static int from_env(struct aws_credentials *out, char **err)
{
	const char *id = env_get("AWS_ACCESS_KEY_ID");
	const char *secret = env_get("AWS_SECRET_ACCESS_KEY");

	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret)
		return fail(err, -EINVAL,
			    "environment: %s is set but %s is not; set both, "
			    "or unset %s to use the shared credentials files",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID",
			    id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
	return creds_fill(out, id, secret, env_get("AWS_SESSION_TOKEN"), strdup("environment"));
}

/* Static keys from one file's section; same returns as from_env. */
static int from_file(const struct pfile *f, const char *profile, struct aws_credentials *out,
		     char **err)
{
	const char *id = sec_get(&f->sec, "aws_access_key_id");
	const char *secret = sec_get(&f->sec, "aws_secret_access_key");
	char *source;

	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret)
		return fail(err, -EINVAL, "%s %s (profile %s) has %s but no %s", f->kind, f->path,
			    profile, id ? "aws_access_key_id" : "aws_secret_access_key",
			    id ? "aws_secret_access_key" : "aws_access_key_id");
	if (asprintf(&source, "%s %s (profile %s)", f->kind, f->path, profile) < 0)
		return -ENOMEM;
	return creds_fill(out, id, secret, sec_get(&f->sec, "aws_session_token"), source);
}

/* profile is NULL when the source is the environment: "--profile" would turn it off.
 * shadowed says the profile also has static keys that the CLI would not use. */
static int later_release(const char *what, const char *where, const char *profile, int shadowed,
			 char **err)
{
	return fail(err, -ENOTSUP,
		    "%s uses %s, a credential source that comes in a later release of tfstatefs%s; "
		    "meanwhile export static keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
		    "AWS_SESSION_TOKEN), e.g. with "
		    "eval \"$(aws configure export-credentials%s%s --format env)\", "
		    "and mount without -o profile=",
		    where, what,
		    shadowed ? " (the AWS CLI uses it ahead of the profile's static keys, "
			       "so they are not used either)" : "",
		    profile ? " --profile " : "", profile ? profile : "");
}

static int has_keys(const struct profile *p)
{
	return sec_get(&p->f[CRED].sec, "aws_access_key_id") ||
	       sec_get(&p->f[CONF].sec, "aws_access_key_id");
}

/* -ENOTSUP when the profile, in either file, has one of keys; 0 otherwise. */
static int unsupported(const struct profile *p, const char *profile, const char *const *keys,
		       size_t nkeys, char **err)
{
	char *where;
	int rc;

	for (size_t k = 0; k < nkeys; k++) {
		for (int i = CRED; i <= CONF; i++) {
			if (!sec_get(&p->f[i].sec, keys[k]))
				continue;
			if (asprintf(&where, "profile %s in %s %s", profile, p->f[i].kind,
				     p->f[i].path) < 0)
				return -ENOMEM;
			rc = later_release(keys[k], where, profile, has_keys(p), err);
			free(where);
			return rc;
		}
	}
	return 0;
}

static int none_found(const struct where *w, const struct profile *p, char **err)
{
	const char *cred = p->f[CRED].path, *conf = p->f[CONF].path;

	if (w->from_src)
		return fail(err, -ENOENT,
			    "no AWS credentials found: tried shared credentials file %s and "
			    "config file %s (profile %s; environment keys are not used when a "
			    "profile is named with -o profile=); add aws_access_key_id and "
			    "aws_secret_access_key to profile %s, or set "
			    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and mount without -o profile=",
			    cred, conf, w->profile, w->profile);
	return fail(err, -ENOENT,
		    "no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID, "
		    "AWS_SECRET_ACCESS_KEY), shared credentials file %s and config file %s "
		    "(profile %s); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use "
		    "-o profile=NAME with a profile in %s or %s that has aws_access_key_id "
		    "and aws_secret_access_key",
		    cred, conf, w->profile, cred, conf);
}

/*
 * The profile-based part of botocore's chain, in its order: assume-role, web identity and
 * SSO come before the credentials file's static keys, credential_process after them and
 * before the config file's. A source we do not have yet ends the search with -ENOTSUP
 * rather than falling through to keys the CLI would not use (another identity).
 */
static int from_profile_files(const struct where *w, const struct profile *p,
			      struct aws_credentials *out, char **err)
{
	static const char *const early[] = {
		"web_identity_token_file", "role_arn", "sso_session", "sso_start_url",
	};
	static const char *const process[] = { "credential_process" };
	int rc;

	if (w->named && !p->f[CRED].sec.found && !p->f[CONF].sec.found)
		return fail(err, -ENOENT, "profile %s not found in %s or %s", w->profile,
			    p->f[CRED].path, p->f[CONF].path);
	rc = unsupported(p, w->profile, early, sizeof(early) / sizeof(early[0]), err);
	if (rc)
		return rc;
	/* EKS-style web identity from the environment; -o profile= turns it off in botocore. */
	if (!w->from_src && env_get("AWS_WEB_IDENTITY_TOKEN_FILE") && env_get("AWS_ROLE_ARN"))
		return later_release("AWS_WEB_IDENTITY_TOKEN_FILE", "the environment", NULL,
				     has_keys(p), err);
	rc = from_file(&p->f[CRED], w->profile, out, err);
	if (rc != -ENOENT)
		return rc;
	rc = unsupported(p, w->profile, process, 1, err);
	if (rc)
		return rc;
	rc = from_file(&p->f[CONF], w->profile, out, err);
	if (rc != -ENOENT)
		return rc;
	return none_found(w, p, err);
}

static int from_profile(const struct where *w, struct aws_credentials *out, char **err)
{
	struct profile p;
	int rc = profile_load(w, &p);

	if (rc)
		return rc;
	rc = from_profile_files(w, &p, out, err);
	profile_free(&p);
	return rc;
}

/* The environment comes first unless src names a profile: as in botocore, the CLI's
 * --profile beats AWS_ACCESS_KEY_ID, while AWS_PROFILE does not. */
int aws_credentials_load(const struct aws_config_sources *src, struct aws_credentials *out,
			 char **err)
{
	struct where w;
	int rc;

	if (err)
		*err = NULL;
	memset(out, 0, sizeof(*out));
	rc = where_init(src, &w);
	if (rc)
		return rc;
	rc = w.from_src ? -ENOENT : from_env(out, err);
	if (rc == -ENOENT)
		rc = from_profile(&w, out, err);
	where_free(&w);
	return rc;
}

/* The contract reads "region" from the config file; the SDKs merge the credentials file
 * into the profile too, so a region found only there is used as well. */
static char *region_from_files(const struct aws_config_sources *src)
{
	struct where w;
	struct profile p;
	const char *v;
	char *out = NULL;

	if (where_init(src, &w) != 0)
		return NULL;
	if (profile_load(&w, &p) == 0) {
		v = sec_get(&p.f[CONF].sec, "region");
		if (!v)
			v = sec_get(&p.f[CRED].sec, "region");
		out = v ? strdup(v) : NULL;
		profile_free(&p);
	}
	where_free(&w);
	return out;
}

char *aws_region_resolve(const char *explicit_region, const struct aws_config_sources *src)
{
	const char *r = explicit_region && *explicit_region ? explicit_region : NULL;

	if (!r)
		r = env_get("AWS_REGION");
	if (!r)
		r = env_get("AWS_DEFAULT_REGION");
	return r ? strdup(r) : region_from_files(src);
}
