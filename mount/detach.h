/* Notices a lazy unmount (fusermount3 -uz, umount -l). It takes the mount out of the
 * table at once, but the kernel tells the daemon nothing until the last open file is
 * closed, and a reader waiting on /.tfstatefs/events would keep it open for ever. */
#ifndef TFS_MOUNT_DETACH_H
#define TFS_MOUNT_DETACH_H
#include <stdbool.h>

struct detach_watch;

/* Watches the topmost FUSE mount at mountpoint (canonical: realpath(3) taken before the
 * mount, as looking at it now would ask this very daemon): when it leaves the table,
 * detached(arg) is called once, from the watch's thread. Returns 0, -ENOENT when no
 * FUSE mount is at mountpoint, or another negative errno. */
int detach_watch_start(const char *mountpoint, void (*detached)(void *), void *arg,
                       struct detach_watch **out);
/* Stops the thread and frees w (NULL is fine). Returns whether the mount has left the
 * table. */
bool detach_watch_stop(struct detach_watch *w);
#endif
