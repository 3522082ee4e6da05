/* S3 keys <-> paths in the mount: the mount prefix, workspaces, names that cannot be files. */
#ifndef TFS_FS_KEYMAP_H
#define TFS_FS_KEYMAP_H
#include <stdbool.h>
#include <stddef.h>

/* The directory of tfstatefs's own virtual files at the mount root; a real prefix of
 * that name is hidden behind it. */
#define KEYMAP_RESERVED_DIR ".tfstatefs"

/* The view: keys under prefix, and, for a prefix mount, the same states' workspaces
 * (<ws_prefix>/<workspace>/<prefix>/...) shown under <ws_prefix>/<workspace>/. */
struct keymap {
	char *prefix;       /* "teams/platform/" (with the slash) or "" for the whole bucket */
	char *ws_prefix;    /* Terraform's workspace_key_prefix, "env:" by default */
};

/* prefix may be NULL, "", "/teams/platform" or "teams/platform/". Returns 0, -EINVAL for
 * a prefix with empty, "." or ".." segments, -ENOMEM. */
int keymap_init(struct keymap *m, const char *prefix, const char *ws_prefix);
void keymap_free(struct keymap *m);

enum listing_mode {
	LISTING_PLAIN,      /* path = key without the mount prefix */
	LISTING_WORKSPACE,  /* path = <ws_prefix>/<ws>/ + key without <ws_prefix>/<ws>/<prefix> */
};

struct listing {
	char *s3_prefix;    /* what to pass to ListObjectsV2 (owned) */
	enum listing_mode mode;
};

/* The listings that fill directory dirpath ("" for the root, else "a/b" without slashes
 * at either end) and everything below it. Fills out[0..1]; returns how many, or -ENOMEM. */
int keymap_dir_listings(const struct keymap *m, const char *dirpath, struct listing out[2]);
void keymap_listing_free(struct listing *l);

enum key_verdict {
	KEY_FILE,           /* a file at *path */
	KEY_DIR_MARKER,     /* "dir/" style marker: a directory at *path, no file */
	KEY_OUTSIDE,        /* not in this view (another team's workspace, the prefix itself) */
	KEY_EMPTY_SEGMENT,  /* "a//b", "/a": a name would be empty */
	KEY_DOT_SEGMENT,    /* "." or ".." as a name */
	KEY_NAME_TOO_LONG,  /* a name over 255 bytes */
	KEY_NUL_BYTE,       /* a NUL inside the key (from %00): no path can name it */
	KEY_RESERVED,       /* below /.tfstatefs, which the virtual directory takes */
};

/* Maps a key found by a listing of mode to its path in the mount (malloc'd into *path for
 * KEY_FILE and KEY_DIR_MARKER, else NULL). Returns the verdict, or -ENOMEM. */
int keymap_key_to_path(const struct keymap *m, enum listing_mode mode, const char *key,
                       size_t key_len, char **path);

/* The same for a key from anywhere (a DynamoDB LockID, say): tried as a plain key, then
 * as a workspace key of a prefix mount. */
int keymap_any_key_to_path(const struct keymap *m, const char *key, char **path);

/* The S3 key that path (relative, no slashes at either end) stands for: the inverse of
 * keymap_key_to_path. In a prefix mount "<ws_prefix>/<ws>/rest" is the workspace's key
 * "<ws_prefix>/<ws>/<prefix>rest". Returns a malloc'd key or NULL (out of memory). */
char *keymap_path_to_key(const struct keymap *m, const char *path);

/* A short phrase for a verdict, for logs and the README's table. */
const char *keymap_verdict_str(enum key_verdict v);
#endif
