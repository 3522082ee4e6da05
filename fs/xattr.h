/* Extended attributes for scripts: a state's serial, lineage, versions and resources count
 * and its S3 ETag and time; a lock file's fields and raw JSON. Nothing else of a state. */
#ifndef TFS_FS_XATTR_H
#define TFS_FS_XATTR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tfs;
struct stateinfo;
struct lock_shown;

#define XATTR_NAMES_MAX 512     /* every name of one file, NUL-terminated, fits */
#define XATTR_VALUE_MAX 320     /* every value but a lock's JSON fits */

/* Which files have a name: a state, a lock file, or both (XATTR_STATE | XATTR_LOCK). */
enum xattr_files { XATTR_STATE = 1, XATTR_LOCK = 2 };

/* What the values of one file are made of. A getter finds what its row asks for. */
struct xattr_file {
	/* a state: the version listed, and what its bytes say once read */
	const char *etag;               /* as S3 gives it (quoted), "" when none is known */
	time_t mtime;
	const char *version_id;         /* of the GET that read it, "" when none */
	const struct stateinfo *info;   /* all zero when not read, not a state, or too big */
	/* a lock file */
	const struct lock_shown *lock; /* its fields as shown; NULL for a row that reads */
	const char *json;               /* its raw JSON, for a row that reads; else NULL */
	size_t json_len;
};

/* A value: len bytes at data, which is buf or borrowed from the xattr_file. */
struct xattr_value {
	const char *data;
	size_t len;
	char buf[XATTR_VALUE_MAX];
};

/* One name. A new attribute is one row of xattr_table and its getter. */
struct xattr_row {
	const char *name;
	unsigned files;         /* enum xattr_files */
	bool read;              /* its value needs the file's bytes: a state's (one GET per
	                         * version) or a lock's raw JSON; the others cost a state no
	                         * request, and come from the fields a lock file shows */
	int (*get)(const struct xattr_file *f, struct xattr_value *v);  /* 0 or -ENODATA */
};

/* Every name, in the order listxattr gives them. */
extern const struct xattr_row xattr_table[];
extern const size_t xattr_count;

/* The names file ino has, each NUL-terminated, one after the other: *names is malloc'd
 * (NULL when there are none), *len its bytes. Exactly the names xattr_get answers. A
 * state's bytes are read for it once per version (its ETag). Returns 0, -ENOENT (gone),
 * -EACCES, -EIO (logged), -ENOMEM. */
int xattr_list(struct tfs *fs, uint64_t ino, char **names, size_t *len);

/* The value of name on file ino: *value malloc'd, *len bytes (no NUL counted). A state's
 * bytes are read only for its user.tfstate.* names, once per version. Returns 0, -ENODATA
 * (file ino has no such name), or as xattr_list. */
int xattr_get(struct tfs *fs, uint64_t ino, const char *name, char **value, size_t *len);
#endif
