/* The shared AWS config and credentials files: where they are, their INI sections, profiles. */
#include "s3/awsfiles.h"
#include "s3/awsenv.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
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

/* The header a lookup wants: "[name]", or with a prefix "[profile name]",
 * "[sso-session name]". */
struct ini_want {
	const char *name;
	const char *prefix;	/* NULL: the bare name */
};

struct ini_state {
	int in_section;	/* past the first header: lines before it belong to no section */
	int in_want;	/* inside a header that matches */
	int have_opt;	/* an option is open, so deeper-indented lines continue it */
	size_t opt_indent;
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
const char *awsfiles_get(const struct awsfiles_section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].val[0] ? s->kv[i].val : NULL;
	return NULL;
}

/* botocore splits "[profile  name ]" (and "[sso-session name]") with shlex, so any run of
 * blanks is fine there. */
static int header_matches(const struct ini_want *w, const char *hdr)
{
	size_t n, plen;

	if (!w->prefix)
		return strcmp(hdr, w->name) == 0;
	plen = strlen(w->prefix);
	if (strncmp(hdr, w->prefix, plen) != 0 || !is_blank(hdr[plen]))
		return 0;
	hdr += plen;
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
	struct ini_want w = { section, NULL };
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

void awsfiles_where_free(struct awsfiles_where *w)
{
	free(w->profile);
	free(w->cred_path);
	free(w->conf_path);
	memset(w, 0, sizeof(*w));
}

int awsfiles_where_init(const struct aws_config_sources *src, struct awsfiles_where *w)
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

void awsfiles_profile_free(struct awsfiles_profile *p)
{
	sec_free(&p->f[AWSFILES_CRED].sec);
	sec_free(&p->f[AWSFILES_CONF].sec);
}

/* What ssh says of its keys, said of the profile's files: a secret others can read is
 * no secret, and a file others can write chooses the keys and the credential_process
 * commands this mount runs. A warning, not a refusal, as the AWS tools read them anyway. */
void awsfiles_warn_mode(const char *kind, const char *path, mode_t mode, uid_t owner,
			const char *secret)
{
	if ((mode & 022) || (owner != geteuid() && owner != 0))
		log_warn("%s %s can be written by others (mode %04o, owner uid %u): they choose the "
		         "credentials and credential_process commands this mount uses; chmod go-w it",
		         kind, path, (unsigned)(mode & 07777), (unsigned)owner);
	if ((mode & 044) && secret)
		log_warn("%s %s holds %s others can read (mode %04o): chmod 600 it", kind, path,
		         secret, (unsigned)(mode & 07777));
}

static void file_warnings(const char *kind, const char *path, const struct awsfiles_section *sec)
{
	if (sec->found)
		awsfiles_warn_mode(kind, path, sec->mode, sec->owner,
				   awsfiles_get(sec, "aws_secret_access_key") ? "a secret key" : NULL);
}

/* The profile's section in each file: "[NAME]" in the credentials file, "[profile NAME]"
 * in the config file, where the default profile may also be "[default]"; the SDKs
 * prefer "[profile default]" when both exist (botocore takes the later one). */
int awsfiles_profile_load(const struct awsfiles_where *w, struct awsfiles_profile *p)
{
	struct ini_want plain = { w->profile, NULL }, prefixed = { w->profile, "profile" };
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

int awsfiles_sso_session_load(const struct awsfiles_where *w, const char *name,
			      struct awsfiles_section *out)
{
	struct ini_want want = { name, "sso-session" };
	int rc = ini_load(w->conf_path, &want, out);

	if (rc == 0)
		file_warnings("config file", w->conf_path ? w->conf_path : "~/.aws/config", out);
	return rc;
}

void awsfiles_section_free(struct awsfiles_section *s)
{
	sec_free(s);
}

/* botocore's expanduser("~/.aws/sso/cache"): HOME, not AWS_CONFIG_FILE's directory. */
int awsfiles_sso_cache_dir(char **out)
{
	char *home = NULL;
	int rc = home_dir(&home);

	*out = NULL;
	if (rc == 0 && home && asprintf(out, "%s/.aws/sso/cache", home) < 0) {
		*out = NULL;
		rc = -ENOMEM;
	}
	free(home);
	return rc;
}

/* ---- the region ---- */

/* The contract reads "region" from the config file; the SDKs merge the credentials file
 * into the profile too, so a region found only there is used as well. */
char *awsfiles_region(const struct aws_config_sources *src)
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
