/* libFuzzer target: keymap_init and keymap_key_to_path on arbitrary prefixes and keys.
 * Input: "<mount prefix>\n<workspace prefix>\n<key bytes, NULs included>". */
#include "fs/keymap.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Splits off the next line of the input as a malloc'd string. */
static char *next_line(const unsigned char **data, size_t *size)
{
	const unsigned char *nl = memchr(*data, '\n', *size);
	size_t n = nl ? (size_t)(nl - *data) : *size;
	char *s = strndup((const char *)*data, n);
	*data += nl ? n + 1 : n;
	*size -= nl ? n + 1 : n;
	return s;
}

/* A path the mapping returns must be a real relative path: no empty, "." or ".." names,
 * none over 255 bytes, no NUL. Anything else is a bug worth a crash here. */
static void check_path(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || path[0] == '/' || path[len - 1] == '/' || strstr(path, "//"))
		abort();
	for (const char *name = path; name;) {
		const char *slash = strchr(name, '/');
		size_t n = slash ? (size_t)(slash - name) : strlen(name);
		if (n > 255 || (n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
			abort();
		name = slash ? slash + 1 : NULL;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *prefix = next_line(&data, &size);
	char *ws = next_line(&data, &size);
	struct keymap m;
	if (prefix && ws && keymap_init(&m, prefix, ws) == 0) {
		for (int mode = LISTING_PLAIN; mode <= LISTING_WORKSPACE; mode++) {
			char *path = NULL;
			int v = keymap_key_to_path(&m, (enum listing_mode)mode, (const char *)data, size, &path);
			if (path) {
				check_path(path);
				struct listing ls[2];
				int n = keymap_dir_listings(&m, path, ls);
				for (int i = 0; i < n; i++)
					keymap_listing_free(&ls[i]);
			} else if (v == KEY_FILE || v == KEY_DIR_MARKER) {
				abort();
			}
			free(path);
		}
		keymap_free(&m);
	}
	free(prefix);
	free(ws);
	return 0;
}
