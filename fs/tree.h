/* The mounted tree: S3 keys as directories and files, filled from flat listings, with TTLs. */
#ifndef TFS_FS_TREE_H
#define TFS_FS_TREE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "fs/config.h"
#include "fs/keymap.h"
#include "fs/lock.h"
#include "store/store.h"

#define TREE_ROOT_INO 1

struct tree;

struct tree_attr {
	uint64_t ino;
	bool is_dir;
	bool is_lock;           /* a "<state>.tflock" file: short TTLs, guarded unlink */
	bool lock_dir;          /* a directory that only DynamoDB locks hold up: short TTLs */
	unsigned virt;          /* a virtual file: its 1-based index in tree_add_virtual's names */
	uint64_t size;
	time_t mtime;
	long mtime_ns;          /* directories: counts the changes to its entries, so that the
	                         * kernel, which keeps a directory's entries while its mtime
	                         * stays, reads it again once they changed */
	bool own_ttl;           /* ttl holds: how long the kernel may trust these attributes,
	                         * and a directory's entries (what is left of its listing's and
	                         * its lock scans' TTLs); else the file type's TTL */
	double ttl;
};

struct tree_dirent {
	char *name;
	struct tree_attr attr;
	uint64_t off;           /* where a readdir resumes after this entry */
};

/* A directory's entries at one moment. */
struct tree_dir {
	struct tree_dirent *entries;
	size_t count;
	uint64_t parent_ino;    /* for "..": the root is its own parent */
};

/* Told how a listing that has run for a second or more is getting on: its path ("" for
 * the root), the keys so far, and done once it has ended. Called from the listing's
 * threads, one call at a time. */
typedef void (*tree_progress_fn)(void *ctx, const char *path, unsigned long long keys,
                                 double seconds, bool done);

/* Creates the tree; locks (the bucket and the lock table), map and cfg (its TTLs) are
 * borrowed and must outlive it. */
int tree_new(const struct lock_source *locks, const struct keymap *map,
             const struct tfs_config *cfg, struct tree **out);

/* Reports long listings to fn (before any listing starts). */
void tree_set_progress(struct tree *t, tree_progress_fn fn, void *ctx);
void tree_free(struct tree *t);

/* Adds directory dirname at the root (the keymap hides real keys there) holding the empty
 * virtual entries names[0..n), directories where is_dir[i] (is_dir may be NULL): never
 * listed from S3, never swept; a file's attributes say which it is (virt = index + 1), and
 * mtime is the time they were added. The directory is not in its parent's readdir: it is
 * reached by name. Returns 0 or -ENOMEM. */
int tree_add_virtual(struct tree *t, const char *dirname, const char *const *names,
                     const bool *is_dir, size_t n);

/* The inode of the virtual entry name in the virtual directory dirname, or 0. */
uint64_t tree_virtual_ino(struct tree *t, const char *dirname, const char *name);

/* What the tree did, for /.tfstatefs/stats: the work it answered from its snapshot and
 * what it had to ask S3 for. */
struct tree_stats {
	unsigned long long lookups;                 /* kernel requests answered */
	unsigned long long dirs_read;               /* directories read from their start (as
	                                             * the kernel's cache did not hold them) */
	unsigned long long listings;                /* flat listings (a subtree each) */
	unsigned long long keys_listed;             /* keys those listings handed over */
	unsigned long long lock_scans;              /* one directory's lock objects listed */
	unsigned long long lock_fetches;            /* one lock read (S3 GET, DynamoDB GetItem) */
	unsigned long long probes;                  /* lookups of a name the listing lacked that
	                                             * asked S3 and the table again */
	unsigned long long nodes;                   /* entries held now */
};

void tree_get_stats(struct tree *t, struct tree_stats *out);

/* Finds name in directory parent, listing it first when its listing is older than the
 * TTL. On success fills *attr and counts one kernel lookup on the entry.
 * Returns 0, -ENOENT, -ENOTDIR, or the listing's errno. */
int tree_lookup(struct tree *t, uint64_t parent, const char *name, struct tree_attr *attr);

/* The entry at path ("" for the root, "a/b" below it), walked as lookups are, listing
 * what is stale on the way, without counting a kernel lookup. Returns 0, -ENOENT,
 * -ENOTDIR, or a listing's errno. */
int tree_resolve(struct tree *t, const char *path, struct tree_attr *attr);

/* The kernel learnt ino from a readdirplus: one lookup more on it. Returns 0 or -ENOENT
 * (swept and forgotten since the directory was read). */
int tree_ref(struct tree *t, uint64_t ino);

/* The kernel forgets n lookups of ino. */
void tree_forget(struct tree *t, uint64_t ino, uint64_t n);

/* Attributes of ino (a removed entry still answers with its last ones while the kernel
 * holds it). A directory whose entries the kernel read is made fresh first, as
 * tree_opendir does: the kernel asks for them before it reads a directory from its
 * cache. When that fails its attributes are still given, but its mtime moves and they
 * are trusted for no time, so that a readdir reads it (and gets the listing's error)
 * instead of the kernel's copy. Returns 0, -ENOENT, or a lock file's fetch errno. */
int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *attr);

/* The entries of directory ino, listing it first when stale (and its lock files when
 * their scan is older than lock_list_ttl). *out is malloc'd, free with tree_dir_free.
 * Returns 0, -ENOTDIR, -ENOENT or the listing's errno. */
int tree_opendir(struct tree *t, uint64_t ino, struct tree_dir **out);
void tree_dir_free(struct tree_dir *d);

/* Offsets of a directory's entries: 0 is its start, then "." and ".." (1 and 2 are where
 * they end), then each entry's own offset, which it keeps while it is in the directory:
 * a readdir resumed at any offset neither repeats nor skips an entry that stayed, however
 * the directory changed meanwhile, so no open directory needs to keep a snapshot. */
#define TREE_DIR_FIRST_OFF 3

/* At most max entries of directory ino after offset off (TREE_DIR_FIRST_OFF - 1 or less:
 * from its first entry), in offset order. From offset 0 the directory is made fresh
 * first, as tree_opendir does, and counts as read. */
int tree_readdir(struct tree *t, uint64_t ino, uint64_t off, size_t max, struct tree_dir **out);

/* Directories whose entries changed after the kernel last read them from the start
 * (each once, the newest first): it is to drop its copy of them. Takes at most max into
 * out; returns how many. */
size_t tree_changed_dirs(struct tree *t, uint64_t *out, size_t max);

/* The S3 key of file ino (malloc'd). Returns 0, -EISDIR, -ENOENT, -ENOMEM. */
int tree_file_key(struct tree *t, uint64_t ino, char **key);

/* Records what a GET just said about file ino (its size and mtime now). */
void tree_file_update(struct tree *t, uint64_t ino, uint64_t size, time_t mtime, const char *etag);

/* The ETag file ino was last listed or read with, as S3 gives it (quoted), into etag[130]
 * ("" when none is known). Returns 0, -EISDIR, -ENOENT. */
int tree_file_etag(struct tree *t, uint64_t ino, char *etag);

/* ---- lock files ----
 * A lock file's content is fetched when first needed and again once lock_ttl has passed.
 * What the filesystem last *showed* of it (at its first lookup, and at every read of its
 * content) is kept apart from what a later revalidation found, so that a lock replaced
 * between `stat` and `rm` is seen as changed, not silently taken for the one shown. */

/* The current text of lock file ino (revalidated when stale), which now counts as shown.
 * *text is malloc'd. Returns 0, -ENOENT (the lock is gone), -EINVAL (not a lock file),
 * or the fetch's errno. */
int tree_lock_read(struct tree *t, uint64_t ino, char **text, size_t *len);

/* The raw lock object bytes of ino (as tree_lock_read, which it also counts as shown). */
int tree_lock_raw(struct tree *t, uint64_t ino, char **raw, size_t *len);

/* The lock file ino as its content shows it now (revalidated when stale), which now counts
 * as shown: as tree_lock_shown gives it (struct lock_shown). Returns 0, -ENOENT (gone), -EINVAL (not a lock
 * file), -ENOMEM or the fetch's errno; *out is filled on success only. */
int tree_lock_fields(struct tree *t, uint64_t ino, struct lock_shown *out);

/* What was shown of lock file name in directory parent. Returns 0, -ENOENT, -EINVAL. */
int tree_lock_shown(struct tree *t, uint64_t parent, const char *name, struct lock_shown *out);

/* Where a directory hangs: its inode, its parent's, and its name. */
struct tree_place {
	uint64_t ino, parent;
	char name[256];
};

/* The places of directory ino and of the directories above it, from ino up, at most max
 * of them (the root has none). Returns how many were filled. */
size_t tree_places(struct tree *t, uint64_t ino, struct tree_place *out, size_t max);

/* Is ino in the tree (not removed or swept out since it was learnt)? */
bool tree_holds(struct tree *t, uint64_t ino);

/* The S3 key and the mount's path of lock file name in directory parent (which need not
 * exist), both malloc'd. Returns 0, -ENOENT (no such directory), -EROFS (a directory of
 * /.tfstatefs) or -ENOMEM. */
int tree_lock_key(struct tree *t, uint64_t parent, const char *name, char **key, char **path);
/* The lock file name in parent is gone (removed or found missing): drop it from the tree,
 * and the directories above it that held nothing else. */
void tree_lock_forget(struct tree *t, uint64_t parent, const char *name);

/* Lock file name in parent holds another lock than the one it shows (an unlock found it
 * changed): fetch it again when next looked at; what was shown stays shown until then. */
void tree_lock_expire(struct tree *t, uint64_t parent, const char *name);
/* Part of lock file name in parent was removed: fetch it again when next looked at, and
 * show what is left from then on. */
void tree_lock_stale(struct tree *t, uint64_t parent, const char *name);
#endif
