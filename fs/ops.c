/* The FUSE low-level operations: thin, they ask the tree and S3 and turn errors into errno. */
#define FUSE_USE_VERSION 314
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fs/freeze.h"
#include "fs/lock.h"
#include "fs/reader.h"
#include "fs/xattr.h"

/* An open file: a state streamed from S3, or a lock file's text as it was at open, or a
 * reader of /.tfstatefs/events, or the writer of a lock made (-o lock_create). An open
 * directory has none: its offsets are its entries' own (tree.h). */
struct handle {
	struct handle *prev, *next;     /* in the list of what is open */
	struct reader *reader;
	struct events_reader *stream;
	struct freeze_writer *writer;
	char *text;
	size_t len;
};

/* What the kernel has open. At unmount it may drop the RELEASE of what was still open (a
 * lazy unmount, a process killed): what is left is freed when the session ends. */
static struct {
	pthread_mutex_t lock;
	struct handle *first;
} opened = { PTHREAD_MUTEX_INITIALIZER, NULL };

static void handle_track(struct handle *h)
{
	pthread_mutex_lock(&opened.lock);
	h->prev = NULL;
	h->next = opened.first;
	if (opened.first)
		opened.first->prev = h;
	opened.first = h;
	pthread_mutex_unlock(&opened.lock);
}

static void handle_untrack(struct handle *h)
{
	pthread_mutex_lock(&opened.lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (opened.first == h)
		opened.first = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	pthread_mutex_unlock(&opened.lock);
}

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	handle_untrack(h);
	reader_close(h->reader);
	events_close(h->stream);
	freeze_close(h->writer);
	free(h->text);
	free(h);
}

/* Tracks h as open and hands it to the kernel; freed again if the kernel is gone. */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi, struct handle *h)
{
	handle_track(h);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h);
}

static struct tfs *tfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The kernel keeps directories' entries: the ones a request changed behind its back (a
 * lock found by name joins its directory, a lock found gone leaves it, a listing made for
 * a lookup) are dropped from its cache before the reply, so that an ls the caller runs
 * next shows them. Safe inside a request: no writeback cache, and the kernel takes no
 * lock of the directory's to drop it. */
static void tell_changed(struct tfs *fs)
{
	uint64_t inos[64];
	size_t n;
	while ((n = tree_changed_dirs(fs->tree, inos, 64)) > 0)
		for (size_t i = 0; i < n && fs->se; i++)
			fuse_lowlevel_notify_inval_inode(fs->se, inos[i], 0, 0);
}

static void attr_to_stat(const struct tfs *fs, const struct tree_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_uid = fs->cfg->uid;
	st->st_gid = fs->cfg->gid;
	st->st_mtime = st->st_ctime = st->st_atime = a->mtime;
	st->st_mtim.tv_nsec = a->mtime_ns;
	st->st_blksize = 4096;
	if (a->is_dir) {
		st->st_mode = S_IFDIR | (0777 & ~fs->cfg->umask);
		st->st_nlink = 2;
		st->st_size = 4096;
	} else {
		/* With -o lock_create, the owner may open a lock file to write: the open then says
		 * EEXIST (the lock is there), not EACCES. Under unlock=off or ro no lock is made. */
		const struct unlock_policy *p = &fs->cfg->unlock;
		mode_t mode = a->is_lock && p->create && !p->off ? 0644 : 0444;
		st->st_mode = S_IFREG | (mode & ~fs->cfg->umask);
		st->st_nlink = 1;
		st->st_size = (off_t)a->size;
		st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	}
}

/* Lock files come and go with Terraform runs: they are trusted for lock_ttl only. */
static double ttl_for(const struct tfs *fs, bool is_lock)
{
	return is_lock ? fs->cfg->lock_ttl : fs->cfg->cache_ttl;
}

/* How long the kernel may keep a's attributes (and a directory's entries). */
static double attr_ttl(const struct tfs *fs, const struct tree_attr *a)
{
	return a->own_ttl ? a->ttl : ttl_for(fs, a->is_lock || a->lock_dir);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tfs *fs = tfs_of(req);
	struct tree_attr a;
	struct fuse_entry_param e = { 0 };
	int rc = histfs_serves(fs->histfs, parent) ? histfs_lookup(fs->histfs, parent, name, &a)
	                                           : tree_lookup(fs->tree, parent, name, &a);
	tell_changed(fs);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel remembers the name is absent for lock_ttl, as any
		 * absent name may be a lock or a directory of locks made since (tree_lookup). */
		e.entry_timeout = ttl_for(fs, true);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = a.ino;
	e.entry_timeout = ttl_for(fs, a.is_lock || a.lock_dir);
	e.attr_timeout = attr_ttl(fs, &a);
	attr_to_stat(fs, &a, &e.attr);
	fuse_reply_entry(req, &e);
}

/* History entries stay for the mount's life: only the tree's are forgotten. */
static void forget(struct tfs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	if (!(ino & HISTFS_INO_BIT))
		tree_forget(fs->tree, ino, nlookup);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget(tfs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget(tfs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct tfs *fs = tfs_of(req);
	struct tree_attr a;
	struct stat st;
	int rc = ino & HISTFS_INO_BIT ? histfs_getattr(fs->histfs, ino, &a)
	                              : tree_getattr(fs->tree, ino, &a);
	tell_changed(fs);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else {
		attr_to_stat(fs, &a, &st);
		fuse_reply_attr(req, &st, attr_ttl(fs, &a));
	}
}

/* A directory needs no open: its offsets are its entries' own, so a readdir needs no
 * snapshot kept. Where the kernel can open directories without asking (op_init), this
 * ENOSYS is the last OPENDIR it sends: from then on it keeps each directory's entries
 * between reads, and asks for its attributes once they run out (when its listing or its
 * lock scans do), reading it again once its mtime says its entries changed. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (tfs_of(req)->kernel_keeps_dirs) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/* One entry for readdir (name and type) or readdirplus (with its attributes, so that the
 * kernel needs no LOOKUP: most of what a find over a cached tree costs). An entry handed
 * over with its inode counts as a lookup. Lock files go without: their lookup reads the
 * lock, gives its size, and is what the guard holds an rm to. Returns the bytes used,
 * more than room when it did not fit, or 0 to skip the entry. */
static size_t add_entry(fuse_req_t req, const struct tree_dirent *d, bool plus, char *buf,
                        size_t room)
{
	struct tfs *fs = tfs_of(req);
	const struct tree_attr *a = &d->attr;
	struct fuse_entry_param e = { .ino = plus && !a->is_lock ? a->ino : 0,
	                              .entry_timeout = ttl_for(fs, a->is_lock || a->lock_dir),
	                              .attr_timeout = attr_ttl(fs, a) };
	attr_to_stat(fs, a, &e.attr);
	if (!plus)
		return fuse_add_direntry(req, buf, room, d->name, &e.attr, (off_t)d->off);
	bool counted = e.ino && !(e.ino & HISTFS_INO_BIT);
	if (counted && tree_ref(fs->tree, e.ino) < 0)
		return 0;   /* forgotten since the directory was read */
	size_t n = fuse_add_direntry_plus(req, buf, room, d->name, &e, (off_t)d->off);
	if (n > room && counted)
		tree_forget(fs->tree, e.ino, 1);   /* not sent after all */
	return n;
}

/* "." (its entry ends at offset 1) or ".." (2), without attributes: the kernel knows
 * them. Their inodes are given, as 0 would hide ".." from ls -a. */
static size_t add_dot(fuse_req_t req, uint64_t off, uint64_t ino, bool plus, char *buf,
                      size_t room)
{
	struct fuse_entry_param e = { .attr = { .st_ino = ino, .st_mode = S_IFDIR } };
	const char *name = off == 1 ? "." : "..";
	return plus ? fuse_add_direntry_plus(req, buf, room, name, &e, (off_t)off)
	            : fuse_add_direntry(req, buf, room, name, &e.attr, (off_t)off);
}

/* At most max entries of directory ino after offset off: the history's from a listing
 * made now (offsets are positions: it changes only as the versions do), the tree's by
 * their own offsets. */
static int dir_entries(struct tfs *fs, fuse_ino_t ino, off_t off, size_t max, struct tree_dir **d)
{
	if (!histfs_serves(fs->histfs, ino))
		return tree_readdir(fs->tree, ino, (uint64_t)off, max, d);
	int rc = histfs_opendir(fs->histfs, ino, d);
	size_t from = off < TREE_DIR_FIRST_OFF ? 0 : (size_t)off - TREE_DIR_FIRST_OFF + 1;
	for (size_t i = 0; rc == 0 && i < (*d)->count; i++) {
		(*d)->entries[i].off = TREE_DIR_FIRST_OFF + i;
		if (i < from)
			free((*d)->entries[i].name);
	}
	if (rc == 0 && from) {
		size_t keep = from < (*d)->count ? (*d)->count - from : 0;
		memmove((*d)->entries, (*d)->entries + (*d)->count - keep, keep * sizeof(*(*d)->entries));
		(*d)->count = keep;
	}
	return rc;
}

/* Offsets: tree.h's (1 ".", 2 "..", then each entry's own). */
static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct tfs *fs = tfs_of(req);
	struct tree_dir *d = NULL;
	/* No entry takes less than 32 bytes of the reply. */
	int rc = dir_entries(fs, ino, off, size / 32 + 1, &d);
	tell_changed(fs);
	char *buf = rc == 0 ? malloc(size) : NULL;
	if (!buf) {
		tree_dir_free(d);
		fuse_reply_err(req, rc < 0 ? -rc : ENOMEM);
		return;
	}
	size_t used = 0, n = 0;
	for (uint64_t dot = (uint64_t)off + 1; dot <= 2 && n <= size - used; dot++) {
		n = add_dot(req, dot, dot == 1 ? ino : d->parent_ino, plus, buf + used, size - used);
		if (n <= size - used)
			used += n;
	}
	for (size_t i = 0; i < d->count && n <= size - used; i++) {
		if ((n = add_entry(req, &d->entries[i], plus, buf + used, size - used)) <= size - used)
			used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	tree_dir_free(d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	reply_dir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	(void)fi;
	reply_dir(req, ino, size, off, true);
}


/* A state: streamed from S3 as it is now. A lock file: its decoded text, which the
 * guard then takes as shown. A report of /.tfstatefs/: built now, read from memory. */
static int open_handle(struct tfs *fs, fuse_ino_t ino, struct handle *h)
{
	if (ino & HISTFS_INO_BIT)
		return histfs_open(fs->histfs, ino, fs->store, fs->budget, &h->reader, &h->text,
		                   &h->len);
	struct tree_attr a;
	int rc = tree_getattr(fs->tree, ino, &a);
	if (rc == 0 && a.virt && reports_is_stream(a.virt))
		return reports_events(fs->reports) ? events_open(reports_events(fs->reports), &h->stream)
		                                   : -ENOENT;
	if (rc == 0 && a.virt)
		return reports_render(fs->reports, a.virt, &h->text, &h->len);
	rc = tree_lock_read(fs->tree, ino, &h->text, &h->len);
	if (rc != -EINVAL)
		return rc;
	char *key = NULL;
	struct store_object_info info;
	rc = tree_file_key(fs->tree, ino, &key);
	if (rc == 0)
		rc = reader_open(fs->store, fs->budget, key, NULL, &h->reader, &info);
	free(key);
	if (rc == 0)
		tree_file_update(fs->tree, ino, info.size, info.mtime, info.etag);
	return rc;
}

#define CALLER_GROUPS 64

/* Who sends req; groups holds CALLER_GROUPS. */
static struct guard_caller caller_of(fuse_req_t req, gid_t *groups)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n = fuse_req_getgroups(req, CALLER_GROUPS, groups);
	return (struct guard_caller){
		.uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid, .groups = groups,
		.ngroups = n > 0 ? (size_t)(n < CALLER_GROUPS ? n : CALLER_GROUPS) : 0,
	};
}

/* A write to a lock file that exists is never an overwrite: with -o lock_create it is a
 * lock made refused (the policy's errno or EEXIST, audited), else refused as any write. */
static int write_open_error(fuse_req_t req, struct tfs *fs, fuse_ino_t ino)
{
	struct tree_attr a;
	if ((ino & HISTFS_INO_BIT) || tree_getattr(fs->tree, ino, &a) != 0 || !a.is_lock)
		return EROFS;
	gid_t groups[CALLER_GROUPS];
	struct guard_caller caller = caller_of(req, groups);
	return -freeze_open(fs->guard, ino, &caller);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs *fs = tfs_of(req);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, write_open_error(req, fs, ino));
		return;
	}
	struct handle *h = calloc(1, sizeof(*h));
	int rc = h ? open_handle(fs, ino, h) : -ENOMEM;
	tell_changed(fs);
	if (rc < 0) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	/* Reads return the object as it is now, not as much as a size the kernel cached. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (h->stream)
		fi->nonseekable = 1;   /* a pipe of lines, as trace_pipe */
	reply_open(req, fi, h);
}

static void stream_interrupted(fuse_req_t req, void *data)
{
	(void)req;
	events_interrupt(data);
}

static bool session_ending(void *se)
{
	return se && fuse_session_exited(se);
}

/* A read of /.tfstatefs/events waits for the next line. Ctrl-C on the reader interrupts
 * it (EINTR at once); the session ending (unmount, a signal to the mount) ends it, so
 * that the loop's threads can be joined. */
static void read_stream(fuse_req_t req, struct events_reader *r, size_t size, int flags)
{
	struct tfs *fs = tfs_of(req);
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	events_interrupt_clear(r);
	fuse_req_interrupt_func(req, stream_interrupted, r);
	ssize_t n = events_read(r, buf, size, (flags & O_NONBLOCK) != 0, session_ending, fs->se);
	fuse_req_interrupt_func(req, NULL, NULL);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	(void)ino;
	const struct handle *h = (const struct handle *)(uintptr_t)fi->fh;
	if (h->stream) {
		read_stream(req, h->stream, size, fi->flags);
		return;
	}
	if (!h->reader) {
		size_t start = off < 0 || (size_t)off > h->len ? h->len : (size_t)off;
		size_t n = h->len - start < size ? h->len - start : size;
		/* Replied from a copy this thread owns: the reply ends the read, so the RELEASE
		 * that frees h->text may run on another thread while this one is still inside
		 * fuse_reply_buf's writev, whose sanitizer interceptors check the buffer after
		 * the syscall (ASan and TSan both reported the freed text). */
		char *copy = malloc(n ? n : 1);
		if (!copy) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(copy, h->text + start, n);
		fuse_reply_buf(req, copy, n);
		free(copy);
		return;
	}
	char *buf = malloc(size ? size : 1);
	ssize_t n = buf ? reader_read(h->reader, buf, size, (uint64_t)off) : -ENOMEM;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs sv = { 0 };
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/* A value or a name list for getxattr/listxattr: a size-0 probe is told the length. */
static void reply_xattr(fuse_req_t req, const char *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *names;
	size_t len;
	struct tfs *fs = tfs_of(req);
	int rc = xattr_list(fs, ino, &names, &len);
	tell_changed(fs);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_xattr(req, names, len, size);
	free(names);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *value;
	size_t len;
	struct tfs *fs = tfs_of(req);
	int rc = xattr_get(fs, ino, name, &value, &len);
	tell_changed(fs);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_xattr(req, value, len, size);
	free(value);
}

/* ---- every change to the bucket is refused ---- */

static void refuse(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

/* Is a lock made through this mount being written at ino (its file still open)? */
static bool being_made(fuse_ino_t ino)
{
	bool found = false;
	pthread_mutex_lock(&opened.lock);
	for (struct handle *h = opened.first; h && !found; h = h->next)
		found = h->writer && freeze_writer_ino(h->writer) == ino;
	pthread_mutex_unlock(&opened.lock);
	return found;
}

/* Only the times of a lock file being made may be set, and are not kept: touch sets them
 * after the create, and must not fail when the lock was taken. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
	(void)attr, (void)fi;
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct tfs *fs = tfs_of(req);
	struct tree_attr a;
	if ((to_set & ~times) || (ino & HISTFS_INO_BIT) || !being_made(ino) ||
	    tree_getattr(fs->tree, ino, &a) < 0) {
		refuse(req);
		return;
	}
	struct stat st;
	attr_to_stat(fs, &a, &st);
	fuse_reply_attr(req, &st, attr_ttl(fs, &a));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	refuse(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	refuse(req);
}

/* How many directories above a removed lock the kernel is told about when they went with
 * it; deeper ones expire with their entries. */
#define UNLINK_PLACES 16

/* The directories that held only the removed lock went with it (tree_lock_forget): the
 * kernel drops the topmost one's entry, and so its subtree, instead of keeping it for
 * cache_ttl. Sent after the reply, as the unlink holds the lock directory's inode until
 * then; the topmost one's parent is not held by it. */
static void forget_emptied(struct tfs *fs, const struct tree_place *up, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (tree_holds(fs->tree, up[i].ino))
			continue;
		if (fs->se)
			fuse_lowlevel_notify_inval_entry(fs->se, up[i].parent, up[i].name,
			                                 strlen(up[i].name));
		return;
	}
}

/* Removing a lock file is a guarded force-unlock; nothing else can be removed. */
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (!lock_name(name)) {
		refuse(req);
		return;
	}
	gid_t groups[CALLER_GROUPS];
	struct guard_caller caller = caller_of(req, groups);
	struct tfs *fs = tfs_of(req);
	struct tree_place up[UNLINK_PLACES];
	size_t n_up = tree_places(fs->tree, parent, up, UNLINK_PLACES);
	int rc = guard_unlink(fs->guard, parent, name, &caller);
	tell_changed(fs);
	fuse_reply_err(req, -rc);
	if (rc == 0)
		forget_emptied(fs, up, n_up);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	refuse(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	refuse(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	refuse(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	refuse(req);
}

/* Creating a lock file takes a lock (-o lock_create); nothing else can be created. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	(void)mode;
	struct tfs *fs = tfs_of(req);
	if (parent & HISTFS_INO_BIT) {
		refuse(req);
		return;
	}
	gid_t groups[CALLER_GROUPS];
	struct guard_caller caller = caller_of(req, groups);
	struct handle *h = calloc(1, sizeof(*h));
	struct tree_attr a;
	int rc = h ? freeze_create(fs->guard, parent, name, &caller, &a, &h->writer) : -ENOMEM;
	tell_changed(fs);
	if (rc < 0) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	struct fuse_entry_param e = { .ino = a.ino, .attr_timeout = ttl_for(fs, true),
	                              .entry_timeout = ttl_for(fs, true) };
	attr_to_stat(fs, &a, &e.attr);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	handle_track(h);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) != 0)
		handle_free(h);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	(void)ino;
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	if (!h || !h->writer) {
		refuse(req);
		return;
	}
	struct tfs *fs = tfs_of(req);
	ssize_t n = freeze_write(h->writer, buf, size, off);
	tell_changed(fs);
	/* The lock went with a refused text: the kernel forgets the file (after the reply, as
	 * forget_emptied), so that the next create takes a lock instead of opening this one.
	 * Copied first: once replied to, the file may be released, and h freed, at once. */
	uint64_t parent;
	const char *name;
	char *forget = freeze_writer_removed(h->writer, &parent, &name) ? strdup(name) : NULL;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	if (forget && fs->se)
		fuse_lowlevel_notify_inval_entry(fs->se, parent, forget, strlen(forget));
	free(forget);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	refuse(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	refuse(req);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
	(void)ino, (void)mode, (void)offset, (void)length, (void)fi;
	refuse(req);
}

/* Every readdir is a readdirplus: with the kernel's default (READDIRPLUS_AUTO) only a
 * directory's first page is, and a find then sends a LOOKUP for each directory beyond
 * it, and a GETATTR for each when warm. And where the kernel can, it opens directories
 * without asking (op_opendir) and keeps their entries, checking their mtime when their
 * attributes run out (AUTO_INVAL_DATA): a warm find then sends nothing at all. */
bool tfs_kernel_settings(struct fuse_conn_info *conn)
{
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	const unsigned keep = FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_AUTO_INVAL_DATA;
	bool keeps_dirs = (conn->capable & keep) == keep;
	if (keeps_dirs)
		conn->want |= keep;
	return keeps_dirs;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct tfs *fs = userdata;
	fs->kernel_keeps_dirs = tfs_kernel_settings(conn);
}

/* The session ends: what the kernel never released is freed. */
static void op_destroy(void *userdata)
{
	struct tfs *fs = userdata;
	events_shutdown(fs ? reports_events(fs->reports) : NULL);
	for (;;) {
		pthread_mutex_lock(&opened.lock);
		struct handle *h = opened.first;
		pthread_mutex_unlock(&opened.lock);
		if (!h)
			return;
		handle_free(h);
	}
}

static const struct fuse_lowlevel_ops tfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.listxattr = op_listxattr,
	.getxattr = op_getxattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.create = op_create,
	.write = op_write,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};

const struct fuse_lowlevel_ops *tfs_lowlevel_ops(void)
{
	return &tfs_ops;
}
