/* The AWS credential chain resolved to one source, and the region, from the environment
 * and the shared AWS files. */
#include "s3/creds.h"
#include "s3/credsrc.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

enum { AWSFILES_CRED, AWSFILES_CONF };

struct awsfiles_kv {
	char *key;
	char *val;
};

/* The pairs of one section, gathered from every header that names it. */
struct awsfiles_section {
	struct awsfiles_kv *kv;
	size_t n, cap;
	int found;	/* a matching header was seen, even if the section is empty */
	mode_t mode;	/* the file's mode and owner, for the warnings of file_warnings() */
	uid_t owner;
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
struct awsfiles_file {
	struct awsfiles_section sec;
	const char *kind;
	const char *path;
};

struct awsfiles_profile {
	struct awsfiles_file f[2];	/* [AWSFILES_CRED], [AWSFILES_CONF] */
};

/* Where a lookup reads from, with every default applied. */
struct awsfiles_where {
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
static const char *awsenv_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void sec_free(struct awsfiles_section *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->kv[i].key);
		free(s->kv[i].val);
	}
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

/* A later value for a key replaces the earlier one, as in the SDKs. */
static int sec_set(struct awsfiles_section *s, const char *key, const char *val)
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
		struct awsfiles_kv *kv = realloc(s->kv, cap * sizeof(*kv));

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
static const char *awsfiles_get(const struct awsfiles_section *s, const char *key)
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
		       struct awsfiles_section *sec)
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
static int ini_option(struct ini_state *st, char *t, struct awsfiles_section *sec)
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
		    struct awsfiles_section *sec)
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
static FILE *open_regular(const char *path, struct stat *st)
{
	FILE *f;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return NULL;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
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
static int ini_load(const char *path, const struct ini_want *w, struct awsfiles_section *sec)
{
	struct ini_state st = { 0 };
	char *line = NULL;
	size_t cap = 0;
	int rc = 0, first = 1;
	FILE *f;

	struct stat sb;
	memset(sec, 0, sizeof(*sec));
	f = path ? open_regular(path, &sb) : NULL;
	if (!f)
		return 0;
	sec->mode = sb.st_mode;
	sec->owner = sb.st_uid;
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
	struct awsfiles_section sec;
	const char *v;
	char *out;

	if (!section || !key || ini_load(path, &w, &sec) != 0)
		return NULL;
	v = awsfiles_get(&sec, key);
	out = v ? strdup(v) : NULL;
	sec_free(&sec);
	return out;
}

/* $HOME, else the passwd entry, as botocore's expanduser does. *out stays NULL when
 * neither gives one. Returns 0 or -ENOMEM. */
static int home_dir(char **out)
{
	const char *h = awsenv_get("HOME");
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
	const char *p = given && *given ? given : awsenv_get(var);
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

static void awsfiles_where_free(struct awsfiles_where *w)
{
	free(w->profile);
	free(w->cred_path);
	free(w->conf_path);
	memset(w, 0, sizeof(*w));
}

static int awsfiles_where_init(const struct aws_config_sources *src, struct awsfiles_where *w)
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
	} else if ((profile = awsenv_get("AWS_PROFILE"))) {
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
		awsfiles_where_free(w);
	return rc;
}

static void awsfiles_profile_free(struct awsfiles_profile *p)
{
	sec_free(&p->f[AWSFILES_CRED].sec);
	sec_free(&p->f[AWSFILES_CONF].sec);
}

/* The profile's section in each file: "[NAME]" in the credentials file, "[profile NAME]"
 * in the config file, where the default profile may also be "[default]"; the SDKs
 * prefer "[profile default]" when both exist (botocore takes the later one). */
/* What ssh says of its keys, said of the profile's files: a secret others can read is
 * no secret, and a file others can write chooses the keys and the credential_process
 * commands this mount runs. A warning, not a refusal, as the AWS tools read them anyway. */
static void file_warnings(const char *kind, const char *path, const struct awsfiles_section *sec)
{
	if (!sec->found)
		return;
	if ((sec->mode & 022) || (sec->owner != geteuid() && sec->owner != 0))
		log_warn("%s %s can be written by others (mode %04o, owner uid %u): they choose the "
		         "credentials and credential_process commands this mount uses; chmod go-w it",
		         kind, path, (unsigned)(sec->mode & 07777), (unsigned)sec->owner);
	if ((sec->mode & 044) && awsfiles_get(sec, "aws_secret_access_key"))
		log_warn("%s %s holds a secret key others can read (mode %04o): chmod 600 it", kind,
		         path, (unsigned)(sec->mode & 07777));
}

static int awsfiles_profile_load(const struct awsfiles_where *w, struct awsfiles_profile *p)
{
	struct ini_want plain = { w->profile, 0 }, prefixed = { w->profile, 1 };
	int rc;

	memset(p, 0, sizeof(*p));
	p->f[AWSFILES_CRED].kind = "shared credentials file";
	p->f[AWSFILES_CRED].path = w->cred_path ? w->cred_path : "~/.aws/credentials";
	p->f[AWSFILES_CONF].kind = "config file";
	p->f[AWSFILES_CONF].path = w->conf_path ? w->conf_path : "~/.aws/config";
	rc = ini_load(w->cred_path, &plain, &p->f[AWSFILES_CRED].sec);
	if (rc == 0)
		rc = ini_load(w->conf_path, &prefixed, &p->f[AWSFILES_CONF].sec);
	if (rc == 0 && !p->f[AWSFILES_CONF].sec.found && strcmp(w->profile, "default") == 0)
		rc = ini_load(w->conf_path, &plain, &p->f[AWSFILES_CONF].sec);
	if (rc) {
		awsfiles_profile_free(p);
		return rc;
	}
	file_warnings(p->f[AWSFILES_CRED].kind, p->f[AWSFILES_CRED].path, &p->f[AWSFILES_CRED].sec);
	file_warnings(p->f[AWSFILES_CONF].kind, p->f[AWSFILES_CONF].path, &p->f[AWSFILES_CONF].sec);
	return 0;
}

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

/* SSO profiles read a token cache and a portal this release does not speak. */
static int sso_unsupported(struct chain *c, const char *label, const char *name)
{
	return cred_fail(c->err, -ENOTSUP,
		    "%s uses AWS SSO (IAM Identity Center), which tfstatefs does not read yet; "
		    "export its keys first: eval \"$(aws configure export-credentials --profile %s "
		    "--format env)\", and mount without -o profile=", label, name);
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
		rc = sso_unsupported(c, label, name);
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

/* ---- the region, the endpoints ---- */

/* The contract reads "region" from the config file; the SDKs merge the credentials file
 * into the profile too, so a region found only there is used as well. */
static char *awsfiles_region(const struct aws_config_sources *src)
{
	struct awsfiles_where w;
	struct awsfiles_profile p;
	const char *v;
	char *out = NULL;

	if (awsfiles_where_init(src, &w) != 0)
		return NULL;
	if (awsfiles_profile_load(&w, &p) == 0) {
		v = awsfiles_get(&p.f[AWSFILES_CONF].sec, "region");
		if (!v)
			v = awsfiles_get(&p.f[AWSFILES_CRED].sec, "region");
		out = v ? strdup(v) : NULL;
		awsfiles_profile_free(&p);
	}
	awsfiles_where_free(&w);
	return out;
}

char *aws_region_resolve(const char *explicit_region, const struct aws_config_sources *src)
{
	const char *r = explicit_region && *explicit_region ? explicit_region : NULL;

	if (!r)
		r = awsenv_get("AWS_REGION");
	if (!r)
		r = awsenv_get("AWS_DEFAULT_REGION");
	return r ? strdup(r) : awsfiles_region(src);
}

const char *aws_endpoint_resolve(const char *explicit_url, const char *service_var)
{
	if (explicit_url && *explicit_url)
		return explicit_url;
	const char *ignore = awsenv_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	if (ignore && strcasecmp(ignore, "true") == 0)
		return NULL;
	const char *url = awsenv_get(service_var);
	return url ? url : awsenv_get("AWS_ENDPOINT_URL");
}
