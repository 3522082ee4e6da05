/* Terraform's lock info JSON decoded into printable fields, and the text a .tflock file shows. */
#include "fs/lockinfo.h"
#include "util/buf.h"
#include "util/timeparse.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX     (64u << 10)   /* a real lock is ~250 bytes; more is not worth parsing */
#define DEPTH_MAX    16            /* a lock is one flat object; deep input is hostile */
#define VALUE_MAX    1024          /* bytes of an escaped value before it is cut */
#define KEY_MAX      64            /* bytes of an escaped unknown field name */
#define UNKNOWN_MAX  5             /* unknown field names listed before "…" */
#define COLUMN       11            /* where values start: strlen("Operation: ") */
#define ELLIPSIS     "\xe2\x80\xa6"

/* Terraform's names, in the order the text shows them. */
static const struct field {
	const char *name;
	size_t off;
} fields[] = {
	{ "ID", offsetof(struct lockinfo, id) },
	{ "Path", offsetof(struct lockinfo, path) },
	{ "Operation", offsetof(struct lockinfo, operation) },
	{ "Who", offsetof(struct lockinfo, who) },
	{ "Version", offsetof(struct lockinfo, version) },
	{ "Created", offsetof(struct lockinfo, created) },
	{ "Info", offsetof(struct lockinfo, info) },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Starts a new problem in the combined "a; b; c" line. */
static void problem_begin(struct buf *p)
{
	if (p->len)
		buf_append_str(p, "; ");
}

/* One whole problem. */
__attribute__((format(printf, 2, 3)))
static void problem_add(struct buf *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problem_begin(p);
	buf_vappendf(p, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when there is none:
 * overlong forms, surrogates and code points past U+10FFFF are not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* JSON text is UTF-8: a value that is not was written by something other than Terraform. */
static bool valid_utf8(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

/* The printable form of the character at s into out (room for 12); returns the input
 * bytes it took. C1 controls (U+0080..U+009F) are escaped too: some terminals act on them. */
static size_t escape_one(const unsigned char *s, size_t n, char *out, size_t *outlen)
{
	static const char plain[] = { ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['\\'] = '\\' };
	if (s[0] < sizeof(plain) && plain[s[0]]) {
		*outlen = (size_t)snprintf(out, 12, "\\%c", plain[s[0]]);
		return 1;
	}
	if (s[0] < 0x20 || s[0] == 0x7f) {
		*outlen = (size_t)snprintf(out, 12, "\\x%02x", s[0]);
		return 1;
	}
	if (s[0] < 0x80) {
		out[0] = (char)s[0];
		*outlen = 1;
		return 1;
	}
	size_t len = utf8_len(s, n);
	if (len == 0) {
		*outlen = (size_t)snprintf(out, 12, "\\x%02x", s[0]);
		return 1;
	}
	if (s[0] == 0xc2 && s[1] < 0xa0) {
		*outlen = (size_t)snprintf(out, 12, "\\x%02x\\x%02x", s[0], s[1]);
	} else {
		memcpy(out, s, len);
		*outlen = len;
	}
	return len;
}

/* s (n bytes, any bytes) as one printable line of at most max bytes plus "…" when cut.
 * Returns malloc'd text or NULL. */
static char *escape(const char *s, size_t n, size_t max)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < n && !b.failed;) {
		char unit[12];
		size_t ulen;
		size_t used = escape_one((const unsigned char *)s + i, n - i, unit, &ulen);
		if (b.len + ulen > max) {
			buf_append_str(&b, ELLIPSIS);
			break;
		}
		buf_append(&b, unit, ulen);
		i += used;
	}
	return buf_take(&b);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]) || s[i] == '\0')
			return false;
	return true;
}

static const char *type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:
	case json_type_int: return "a number";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "a value";
}

/* ASCII-only case folding, as key names are ASCII: no locale involved. */
static bool same_folded(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a;
		char y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* Picks each field's key: an exact match of Terraform's name, else (as Go's decoder
 * does) a case-insensitive one. Exact matches are found first so they always win. */
static void match_keys(struct json_object *obj, bool exact, const char **key,
                       struct json_object **val)
{
	struct json_object_iter it;
	json_object_object_foreachC(obj, it) {
		for (size_t i = 0; i < NFIELDS; i++) {
			bool hit = exact ? strcmp(it.key, fields[i].name) == 0
			                 : same_folded(it.key, fields[i].name);
			if (hit && !key[i]) {
				key[i] = it.key;
				val[i] = it.val;
				break;
			}
		}
	}
}

static bool chosen(const char *k, const char **key)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (key[i] == k)
			return true;
	return false;
}

/* "unknown fields: a, b, …": keys no field took, escaped, at most UNKNOWN_MAX named. */
static int note_unknown(struct json_object *obj, const char **key, struct buf *p)
{
	struct json_object_iter it;
	size_t count = 0;
	json_object_object_foreachC(obj, it) {
		if (chosen(it.key, key))
			continue;
		if (count == UNKNOWN_MAX) {
			buf_append_str(p, ", " ELLIPSIS);
			break;
		}
		if (count++ == 0) {
			problem_begin(p);
			buf_append_str(p, "unknown fields: ");
		} else {
			buf_append_str(p, ", ");
		}
		char *name = escape(it.key, strlen(it.key), KEY_MAX);
		if (!name)
			return -ENOMEM;
		buf_append_str(p, name);
		free(name);
	}
	return 0;
}

/* "missing ID, Who" for fields absent, "ID is a number, not a string" for each wrong one. */
static void note_absent(const char **key, struct json_object **val, struct buf *p)
{
	bool first = true;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (key[i])
			continue;
		if (first)
			problem_begin(p);
		buf_append_str(p, first ? "missing " : ", ");
		buf_append_str(p, fields[i].name);
		first = false;
	}
	for (size_t i = 0; i < NFIELDS; i++)
		if (key[i] && !json_object_is_type(val[i], json_type_string))
			problem_add(p, "%s is %s, not a string", fields[i].name, type_name(val[i]));
}

static int decode_object(struct json_object *obj, struct lockinfo *li, struct buf *p)
{
	const char *key[NFIELDS] = { 0 };
	struct json_object *val[NFIELDS] = { 0 };
	match_keys(obj, true, key, val);
	match_keys(obj, false, key, val);
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!key[i] || !json_object_is_type(val[i], json_type_string))
			continue;
		char **slot = (char **)((char *)li + fields[i].off);
		/* get_string_len: a "\u0000" escape puts a NUL inside the value. */
		const char *v = json_object_get_string(val[i]);
		size_t vlen = (size_t)json_object_get_string_len(val[i]);
		*slot = escape(v, vlen, VALUE_MAX);
		if (!*slot)
			return -ENOMEM;
		if (!valid_utf8(v, vlen))
			problem_add(p, "%s is not valid UTF-8 (bytes shown as \\xNN)", fields[i].name);
	}
	note_absent(key, val, p);
	return note_unknown(obj, key, p);
}

/* Parses the whole body as one JSON value into *obj (NULL for a JSON null or when it
 * is not JSON: *err says which); *end is where parsing stopped. Returns 0 or -ENOMEM. */
static int parse_json(const char *body, size_t len, struct json_object **obj, size_t *end,
                      enum json_tokener_error *err)
{
	struct json_tokener *tok = json_tokener_new_ex(DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	/* Strict is closer to Go's decoder; trailing bytes are checked by the caller. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	*obj = json_tokener_parse_ex(tok, body, (int)len);
	*end = json_tokener_get_parse_end(tok);
	if (!*obj && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A top-level number or literal only ends at a delimiter: a NUL is one, and
		 * anything still open ends as "unexpected end of data". */
		*obj = json_tokener_parse_ex(tok, "", 1);
		*end = len;
	}
	*err = json_tokener_get_error(tok);
	json_tokener_free(tok);
	return 0;
}

static int decode(const char *body, size_t len, struct lockinfo *li, struct buf *p)
{
	if (blank(body, len)) {
		problem_add(p, "not JSON: empty");
		return 0;
	}
	struct json_object *obj;
	size_t end;
	enum json_tokener_error err;
	int rc = parse_json(body, len, &obj, &end, &err);
	if (rc < 0)
		return rc;
	if (err != json_tokener_success)
		problem_add(p, "not JSON: %s at byte %zu", json_tokener_error_desc(err), end);
	else if (!json_object_is_type(obj, json_type_object))
		problem_add(p, "not a JSON object (%s)", type_name(obj));
	else
		rc = decode_object(obj, li, p);
	if (rc == 0 && err == json_tokener_success && !blank(body + end, len - end))
		problem_add(p, "trailing data at byte %zu", end);
	json_object_put(obj);
	return rc;
}

int lockinfo_parse(const char *body, size_t len, struct lockinfo *out)
{
	memset(out, 0, sizeof(*out));
	struct buf p = { 0 };
	int rc = 0;
	if (len > BODY_MAX)
		problem_add(&p, "larger than %u KiB (%zu bytes)", BODY_MAX >> 10, len);
	else
		rc = decode(body ? body : "", body ? len : 0, out, &p);
	if (rc == 0 && p.failed)
		rc = -ENOMEM;
	if (rc < 0) {
		lockinfo_free(out);
		buf_free(&p);
		return rc;
	}
	out->problem = p.data;   /* NULL when there was none */
	return 0;
}

void lockinfo_free(struct lockinfo *li)
{
	if (!li)
		return;
	for (size_t i = 0; i < NFIELDS; i++)
		free(*(char **)((char *)li + fields[i].off));
	free(li->problem);
	memset(li, 0, sizeof(*li));
}

/* "Name:" then the value from COLUMN on; the name alone when the value is empty. Any
 * control byte left (a struct not made by lockinfo_parse) becomes '?': one line each. */
static void add_line(struct buf *b, const char *name, const char *value)
{
	buf_append_str(b, name);
	buf_append_str(b, ":");
	if (value && *value) {
		for (size_t n = strlen(name) + 1; n < COLUMN; n++)
			buf_append_str(b, " ");
		for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
			char c = *v < 0x20 || *v == 0x7f ? '?' : (char)*v;
			buf_append(b, &c, 1);
		}
	}
	buf_append_str(b, "\n");
}

char *lockinfo_format(const struct lockinfo *li, const char *backend)
{
	static const struct lockinfo none;
	if (!li)
		li = &none;
	struct buf b = { 0 };
	for (size_t i = 0; i < NFIELDS; i++)
		add_line(&b, fields[i].name, *(char *const *)((const char *)li + fields[i].off));
	add_line(&b, "Backend", backend);
	if (li->problem)
		add_line(&b, "Problem", li->problem);
	return buf_take(&b);
}

/* Created is RFC 3339, as S3 dates are: one parser serves both. */
int lockinfo_created_time(const struct lockinfo *li, time_t *out)
{
	return time_parse_rfc3339(li ? li->created : NULL, out);
}
