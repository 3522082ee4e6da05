/* Parsing /proc/self/mountinfo. A line is
 *   ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTS
 * with space, tab, newline and backslash in paths written as \NNN octal. */
#include "util/mountinfo.h"

#include <stdlib.h>
#include <string.h>

struct mount_line {
	long id;
	const char *point, *type;   /* fields, not NUL-terminated */
	size_t point_len, type_len;
};

/* The next space-separated field of [*p, end): its start and length; false at the end. */
static bool next_field(const char **p, const char *end, const char **field, size_t *len)
{
	while (*p < end && **p == ' ')
		(*p)++;
	if (*p == end)
		return false;
	*field = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*len = (size_t)(*p - *field);
	return true;
}

static bool parse_id(const char *s, size_t len, long *id)
{
	if (len == 0 || len > 18)
		return false;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*id = v;
	return true;
}

/* One line, [p, end), into its ID, mount point and type; false when it is not one. */
static bool parse_line(const char *p, const char *end, struct mount_line *m)
{
	const char *f;
	size_t n;
	if (!next_field(&p, end, &f, &n) || !parse_id(f, n, &m->id))
		return false;
	for (int i = 0; i < 3; i++)     /* parent, major:minor, root */
		if (!next_field(&p, end, &f, &n))
			return false;
	if (!next_field(&p, end, &m->point, &m->point_len))
		return false;
	do {                            /* options, then optional fields up to "-" */
		if (!next_field(&p, end, &f, &n))
			return false;
	} while (n != 1 || *f != '-');
	return next_field(&p, end, &m->type, &m->type_len);
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* Whether the escaped field equals path. */
static bool same_path(const char *field, size_t len, const char *path)
{
	for (size_t i = 0; i < len; path++) {
		char c = field[i++];
		if (c == '\\' && len - i >= 3 && field[i] <= '3' && is_octal(field[i]) &&
		    is_octal(field[i + 1]) && is_octal(field[i + 2])) {
			c = (char)((field[i] - '0') * 64 + (field[i + 1] - '0') * 8 + (field[i + 2] - '0'));
			i += 3;
		}
		if (*path == '\0' || *path != c)
			return false;
	}
	return *path == '\0';
}

/* Calls fn on each line of text until it returns true; returns that. */
static bool each_line(const char *text, size_t len, bool (*fn)(const struct mount_line *, void *),
                      void *ctx)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		struct mount_line m;
		if (parse_line(p, stop, &m) && fn(&m, ctx))
			return true;
		p = nl ? nl + 1 : end;
	}
	return false;
}

struct finding {
	const char *path, *type_prefix;
	long id;
};

static bool note_match(const struct mount_line *m, void *ctx)
{
	struct finding *f = ctx;
	size_t plen = strlen(f->type_prefix);
	if (m->type_len >= plen && memcmp(m->type, f->type_prefix, plen) == 0 &&
	    same_path(m->point, m->point_len, f->path))
		f->id = m->id;      /* later lines are mounted on top of earlier ones */
	return false;
}

long mountinfo_find(const char *text, size_t len, const char *path, const char *type_prefix)
{
	struct finding f = { .path = path, .type_prefix = type_prefix, .id = -1 };
	each_line(text, len, note_match, &f);
	return f.id;
}

static bool has_id(const struct mount_line *m, void *ctx)
{
	return m->id == *(const long *)ctx;
}

bool mountinfo_has(const char *text, size_t len, long id)
{
	return each_line(text, len, has_id, &id);
}
