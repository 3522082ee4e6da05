/* The kernel's table of mounts as /proc/self/mountinfo gives it (proc_pid_mountinfo(5)):
 * which mount sits at a path, and whether a mount is still there. */
#ifndef TFS_UTIL_MOUNTINFO_H
#define TFS_UTIL_MOUNTINFO_H
#include <stdbool.h>
#include <stddef.h>

/* The ID of the topmost mount at path (absolute and canonical, as realpath(3) gives it)
 * whose filesystem type begins with type_prefix ("fuse" matches "fuse.tfstatefs"), or -1
 * when there is none. text is the whole file, len its bytes (no NUL needed). */
long mountinfo_find(const char *text, size_t len, const char *path, const char *type_prefix);

/* Whether the mount with this ID is in text. */
bool mountinfo_has(const char *text, size_t len, long id);
#endif
