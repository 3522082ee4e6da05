/* Freezing a state through the mount (-o lock_create): creating "<state>.tflock" takes a
 * real Terraform lock, what is written to it becomes its Info, and each attempt is
 * audited and told as an event, under the policy of unlocking. */
#ifndef TFS_FS_FREEZE_H
#define TFS_FS_FREEZE_H
#include <stdbool.h>
#include <sys/types.h>
#include "fs/guard.h"
#include "fs/tree.h"

struct freeze_writer;

/* Creates lock file name in directory parent for caller: takes the lock at once, with an
 * empty Info, so that the create itself tells whether it was taken. Returns 0 (*attr: the
 * new lock file, counted as one kernel lookup; *out: its writer), -EROFS (not a lock
 * file's name, lock_create off, unlock=off or ro), -EPERM (the caller may not unlock),
 * -EEXIST (a lock is there: nothing was written), or -EIO after retries. */
int freeze_create(struct guard *g, uint64_t parent, const char *name,
                  const struct guard_caller *caller, struct tree_attr *attr,
                  struct freeze_writer **out);

/* The open for writing of lock file ino, a lock the tree shows, by caller: a lock that
 * exists is never written over. Returns -EROFS without lock_create (not audited, as any
 * write); else the refusal, audited and told as a create's is: -EROFS (unlock=off or
 * ro), -EPERM (the caller may not unlock), -EEXIST; or -ENOENT when the lock the kernel
 * still shows is gone (a create, once it has forgotten it, takes the lock). */
int freeze_open(struct guard *g, uint64_t ino, const struct guard_caller *caller);

/* The bytes of one write(2) at offset off: the text written so far becomes the lock's
 * Info (trimmed). Returns size, -EINVAL (not at or before the end of what was written),
 * -EFBIG (the Info would be over LOCKMAKE_INFO_MAX), -EILSEQ (not UTF-8 text), -EBUSY
 * (the lock changed hands since it was made), or -EIO. A refused text removes the lock
 * made (nothing is left that the writer was told failed). */
ssize_t freeze_write(struct freeze_writer *w, const char *buf, size_t size, off_t off);

/* Did the last write remove the lock made (a refused text)? True once: *parent and *name
 * (borrowed from w) are then the entry the kernel is to forget, which it would otherwise
 * keep for lock_ttl and open again instead of creating the file. */
bool freeze_writer_removed(struct freeze_writer *w, uint64_t *parent, const char **name);

/* The inode of the lock file w writes. */
uint64_t freeze_writer_ino(const struct freeze_writer *w);

void freeze_close(struct freeze_writer *w);
#endif
