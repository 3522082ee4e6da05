/* Extended attributes for scripts: a state's serial, lineage, versions and resources count
 * and its S3 ETag and time; a lock file's fields and raw JSON. Nothing else of a state. */
#ifndef TFS_FS_XATTR_H
#define TFS_FS_XATTR_H
#include <stddef.h>
#include <stdint.h>

struct tfs;

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
