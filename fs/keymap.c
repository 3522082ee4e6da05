/* S3 keys <-> paths in the mount: the mount prefix, workspaces, names that cannot be files. */
#include "fs/keymap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 255

/* Checks every '/'-separated name of rel (which must not be empty). */
static enum key_verdict check_names(const char *rel, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && rel[i] != '/')
			continue;
		size_t n = i - start;
		if (n == 0)
			return KEY_EMPTY_SEGMENT;
		if ((n == 1 && rel[start] == '.') || (n == 2 && rel[start] == '.' && rel[start + 1] == '.'))
			return KEY_DOT_SEGMENT;
		if (n > NAME_MAX_BYTES)
			return KEY_NAME_TOO_LONG;
		start = i + 1;
	}
	return KEY_FILE;
}

static char *normalize_prefix(const char *prefix)
{
	while (prefix && *prefix == '/')
		prefix++;
	if (!prefix || !*prefix)
		return strdup("");
	size_t len = strlen(prefix);
	while (len && prefix[len - 1] == '/')
		len--;
	char *p = malloc(len + 2);
	if (p) {
		memcpy(p, prefix, len);
		strcpy(p + len, "/");
	}
	return p;
}

int keymap_init(struct keymap *m, const char *prefix, const char *ws_prefix)
{
	m->prefix = normalize_prefix(prefix);
	m->ws_prefix = normalize_prefix(ws_prefix && *ws_prefix ? ws_prefix : "env:");
	if (!m->prefix || !m->ws_prefix) {
		keymap_free(m);
		return -ENOMEM;
	}
	if (!m->ws_prefix[0]) {  /* "/" and the like: no name left */
		keymap_free(m);
		return -EINVAL;
	}
	/* Stored without the trailing slash: it is a directory name in the mount. */
	m->ws_prefix[strlen(m->ws_prefix) - 1] = '\0';
	size_t plen = strlen(m->prefix);
	if ((plen && check_names(m->prefix, plen - 1) != KEY_FILE) ||
	    check_names(m->ws_prefix, strlen(m->ws_prefix)) != KEY_FILE) {
		keymap_free(m);
		return -EINVAL;
	}
	return 0;
}

void keymap_free(struct keymap *m)
{
	free(m->prefix);
	free(m->ws_prefix);
	m->prefix = m->ws_prefix = NULL;
}

void keymap_listing_free(struct listing *l)
{
	free(l->s3_prefix);
	l->s3_prefix = NULL;
}

/* Does path equal dir or lie below it? dir "" holds everything. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return n == 0 || (strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static int add_listing(struct listing *l, enum listing_mode mode, const char *a, const char *b,
                       const char *c)
{
	l->mode = mode;
	if (asprintf(&l->s3_prefix, "%s%s%s", a, b, c) < 0) {
		l->s3_prefix = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The workspace listing for dirpath in a prefix mount, if it has one. */
static int workspace_listing(const struct keymap *m, const char *dirpath, struct listing *l)
{
	const char *ws = m->ws_prefix;
	size_t wslen = strlen(ws);
	/* The root or the workspace directory itself: every workspace. */
	if (path_within(ws, dirpath))
		return add_listing(l, LISTING_WORKSPACE, ws, "/", "") == 0 ? 1 : -ENOMEM;
	if (strncmp(dirpath, ws, wslen) != 0 || dirpath[wslen] != '/')
		return 0;
	/* "<ws>/<name>[/rest]" lists "<ws>/<name>/<prefix>[rest/]". */
	const char *name = dirpath + wslen + 1;
	const char *slash = strchr(name, '/');
	char *head = slash ? strndup(dirpath, (size_t)(slash - dirpath)) : strdup(dirpath);
	char *rest = NULL;
	int rc = -ENOMEM;
	if (head && asprintf(&rest, "%s%s%s", m->prefix, slash ? slash + 1 : "", slash ? "/" : "") >= 0)
		rc = add_listing(l, LISTING_WORKSPACE, head, "/", rest) == 0 ? 1 : -ENOMEM;
	free(head);
	free(rest);
	return rc;
}

int keymap_dir_listings(const struct keymap *m, const char *dirpath, struct listing out[2])
{
	memset(out, 0, 2 * sizeof(*out));
	if (add_listing(&out[0], LISTING_PLAIN, m->prefix, dirpath, *dirpath ? "/" : "") < 0)
		return -ENOMEM;
	if (!m->prefix[0])
		return 1;  /* the whole bucket: workspaces show up as they are */
	int n = workspace_listing(m, dirpath, &out[1]);
	if (n < 0) {
		keymap_listing_free(&out[0]);
		return n;
	}
	return 1 + n;
}

/* For a workspace listing: "<ws>/<name>/<prefix>rest" -> "<ws>/<name>/rest". */
static int workspace_path(const struct keymap *m, const char *key, size_t key_len, char **rel)
{
	size_t wslen = strlen(m->ws_prefix), plen = strlen(m->prefix);
	if (key_len <= wslen + 1 || strncmp(key, m->ws_prefix, wslen) != 0 || key[wslen] != '/')
		return KEY_OUTSIDE;
	const char *name = key + wslen + 1;
	const char *slash = memchr(name, '/', key_len - wslen - 1);
	if (!slash)
		return KEY_OUTSIDE;
	const char *after = slash + 1;
	size_t after_len = key_len - (size_t)(after - key);
	if (after_len < plen || strncmp(after, m->prefix, plen) != 0)
		return KEY_OUTSIDE;
	if (asprintf(rel, "%.*s%.*s", (int)(after - key), key, (int)(after_len - plen), after + plen) < 0)
		return -ENOMEM;
	return KEY_FILE;
}

/* Is path the reserved directory or below it? */
static bool is_reserved(const char *path)
{
	size_t n = strlen(KEYMAP_RESERVED_DIR);
	return strncmp(path, KEYMAP_RESERVED_DIR, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int keymap_key_to_path(const struct keymap *m, enum listing_mode mode, const char *key,
                       size_t key_len, char **path)
{
	*path = NULL;
	if (memchr(key, '\0', key_len))
		return KEY_NUL_BYTE;
	char *rel = NULL;
	if (mode == LISTING_WORKSPACE) {
		int v = workspace_path(m, key, key_len, &rel);
		if (v != KEY_FILE)
			return v;
	} else {
		size_t plen = strlen(m->prefix);
		if (key_len <= plen || strncmp(key, m->prefix, plen) != 0)
			return KEY_OUTSIDE;
		if (!(rel = strndup(key + plen, key_len - plen)))
			return -ENOMEM;
	}
	size_t len = strlen(rel);
	enum key_verdict v = KEY_FILE;
	if (rel[len - 1] == '/') {
		rel[--len] = '\0';
		v = len ? check_names(rel, len) : KEY_EMPTY_SEGMENT;
		if (v == KEY_FILE)
			v = KEY_DIR_MARKER;
	} else {
		v = check_names(rel, len);
	}
	if ((v == KEY_FILE || v == KEY_DIR_MARKER) && is_reserved(rel))
		v = KEY_RESERVED;
	if (v == KEY_FILE || v == KEY_DIR_MARKER)
		*path = rel;
	else
		free(rel);
	return (int)v;
}

int keymap_any_key_to_path(const struct keymap *m, const char *key, char **path)
{
	int v = keymap_key_to_path(m, LISTING_PLAIN, key, strlen(key), path);
	if (v == KEY_OUTSIDE && m->prefix[0])
		v = keymap_key_to_path(m, LISTING_WORKSPACE, key, strlen(key), path);
	return v;
}

char *keymap_path_to_key(const struct keymap *m, const char *path)
{
	char *key = NULL;
	size_t wslen = strlen(m->ws_prefix);
	const char *name = path + wslen + 1;
	const char *slash = strchr(name, '/');
	bool in_workspace = m->prefix[0] && strncmp(path, m->ws_prefix, wslen) == 0 &&
	                    path[wslen] == '/' && slash;
	int n = in_workspace
		? asprintf(&key, "%.*s%s%s", (int)(slash + 1 - path), path, m->prefix, slash + 1)
		: asprintf(&key, "%s%s", m->prefix, path);
	return n < 0 ? NULL : key;
}

const char *keymap_verdict_str(enum key_verdict v)
{
	switch (v) {
	case KEY_FILE:
		return "file";
	case KEY_DIR_MARKER:
		return "directory marker";
	case KEY_OUTSIDE:
		return "outside the mount";
	case KEY_EMPTY_SEGMENT:
		return "empty name (leading, trailing or double slash)";
	case KEY_DOT_SEGMENT:
		return "'.' or '..' as a name";
	case KEY_NAME_TOO_LONG:
		return "a name over 255 bytes";
	case KEY_NUL_BYTE:
		return "a NUL byte in the key";
	case KEY_RESERVED:
		return "below " KEYMAP_RESERVED_DIR "/, which tfstatefs's own files take";
	}
	return "unknown";
}
