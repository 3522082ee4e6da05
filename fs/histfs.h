/* /.tfstatefs/history/: the history of every state, as files. A directory for each
 * directory of the mount and one for each state (named as the state), which holds a
 * read-only file per version (named by its time, oldest first in ls order), `index` and
 * `locks`. Reached by name like the rest of /.tfstatefs, so a find of the mount never
 * walks it. Its entries have inodes of their own (HISTFS_INO_BIT set): the tree never
 * sweeps them, and they live as long as the mount. */
#ifndef TFS_FS_HISTFS_H
#define TFS_FS_HISTFS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fs/config.h"
#include "fs/history.h"
#include "fs/reader.h"
#include "fs/tree.h"

#define HISTFS_INO_BIT (1ULL << 62)

struct histfs;

/* tree, history and cfg are borrowed. root is the tree's inode of the history directory
 * (/.tfstatefs/history), whose entries histfs answers. Returns 0 or -ENOMEM. */
int histfs_new(struct tree *tree, struct history *history, const struct tfs_config *cfg,
               uint64_t root, struct histfs **out);
void histfs_free(struct histfs *hf);

/* Is ino the history directory or one of its entries? */
bool histfs_serves(const struct histfs *hf, uint64_t ino);

/* name in directory parent (the root, a directory, a state's). Returns 0, -ENOENT, or the
 * errno of the listing it needed. */
int histfs_lookup(struct histfs *hf, uint64_t parent, const char *name, struct tree_attr *attr);
int histfs_getattr(struct histfs *hf, uint64_t ino, struct tree_attr *attr);

/* The entries of directory ino, as tree_opendir gives them (free with tree_dir_free). */
int histfs_opendir(struct histfs *hf, uint64_t ino, struct tree_dir **out);

/* Opens file ino: a version, read through *reader from the store (ranged, pinned to its
 * version), or `index`/`locks`, built now into *text (malloc'd, *len bytes). */
int histfs_open(struct histfs *hf, uint64_t ino, struct store *store,
                struct reader_budget *budget, struct reader **reader, char **text,
                size_t *len);

/* What a version file's extended attributes show: its key and version, its ETag and time,
 * and what its bytes say (read now if they were not). Returns 0, -ENOENT, or -EINVAL (not
 * a version file). The facts are the cache's, valid for the mount's life. */
struct histfs_version {
	char etag[130];
	char version_id[256];
	int64_t mtime_ms;
	const struct vfacts *facts;     /* NULL when its bytes could not be read */
};
int histfs_version_of(struct histfs *hf, uint64_t ino, struct histfs_version *out);

/* Is ino a version file? */
bool histfs_is_version(struct histfs *hf, uint64_t ino);
#endif
