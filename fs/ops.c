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
 * reader of /.tfstatefs/events, or the writer of a lock made (-o lock_create); or an open
 * directory's entries. */
struct handle {
	struct handle *prev, *next;     /* in the list of what is open */
	struct reader *reader;
	struct events_reader *stream;
	struct freeze_writer *writer;
	char *text;
	size_t len;
	struct tree_dir *dir;
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
	tree_dir_free(h->dir);
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

static void attr_to_stat(const struct tfs *fs, const struct tree_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_uid = fs->cfg->uid;
	st->st_gid = fs->cfg->gid;
	st->st_mtime = st->st_ctime = st->st_atime = a->mtime;
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

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tfs *fs = tfs_of(req);
	struct tree_attr a;
	struct fuse_entry_param e = { 0 };
	int rc = histfs_serves(fs->histfs, parent) ? histfs_lookup(fs->histfs, parent, name, &a)
	                                           : tree_lookup(fs->tree, parent, name, &a);
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
	e.attr_timeout = e.entry_timeout = ttl_for(fs, a.is_lock || a.lock_dir);
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
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	attr_to_stat(fs, &a, &st);
	fuse_reply_attr(req, &st, ttl_for(fs, a.is_lock || a.lock_dir));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs *fs = tfs_of(req);
	struct handle *h = calloc(1, sizeof(*h));
	int rc = !h ? -ENOMEM
	         : histfs_serves(fs->histfs, ino) ? histfs_opendir(fs->histfs, ino, &h->dir)
	         : tree_opendir(fs->tree, ino, &h->dir);
	if (rc < 0) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	/* The kernel keeps the tree's directories between opens (a warm find sends it an
	 * OPENDIR a directory and nothing more), and drops them as soon as one changed: this
	 * open's entries are not those it cached. The history's are built afresh at each open. */
	fi->cache_readdir = h->dir->gen != 0;
	fi->keep_cache = h->dir->kernel_has;
	reply_open(req, fi, h);
}

/* One entry for readdir (name and type) or readdirplus (with its attributes, so that the
 * kernel needs no LOOKUP: most of what a find over a cached tree costs). An entry handed
 * over with its inode counts as a lookup. Lock files go without: their lookup reads the
 * lock, gives its size, and is what the guard holds an rm to. Returns the bytes used,
 * more than room when it did not fit, or 0 to skip the entry. */
static size_t add_entry(fuse_req_t req, const struct tree_dir *d, fuse_ino_t ino, off_t i,
                        bool plus, char *buf, size_t room)
{
	struct tfs *fs = tfs_of(req);
	struct fuse_entry_param e = { 0 };
	const char *name = i == 0 ? "." : i == 1 ? ".." : d->entries[i - 2].name;
	if (i < 2) {
		e.attr.st_ino = i == 0 ? ino : d->parent_ino;  /* 0 would hide ".." from ls -a */
		e.attr.st_mode = S_IFDIR;
	} else {
		const struct tree_attr *a = &d->entries[i - 2].attr;
		attr_to_stat(fs, a, &e.attr);
		e.ino = plus && !a->is_lock ? a->ino : 0;
		e.attr_timeout = e.entry_timeout = ttl_for(fs, a->is_lock || a->lock_dir);
	}
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &e.attr, i + 1);
	bool counted = e.ino && !(e.ino & HISTFS_INO_BIT);
	if (counted && tree_ref(fs->tree, e.ino) < 0)
		return 0;   /* forgotten since the directory was opened */
	size_t n = fuse_add_direntry_plus(req, buf, room, name, &e, i + 1);
	if (n > room && counted)
		tree_forget(fs->tree, e.ino, 1);   /* not sent after all */
	return n;
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is entry i of the snapshot. */
static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi, bool plus)
{
	const struct tree_dir *d = ((const struct handle *)(uintptr_t)fi->fh)->dir;
	if (off == 0 && d->gen)
		tree_dir_cached(tfs_of(req)->tree, ino, d);   /* what the kernel's cache now fills from */
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (off_t i = off; i < (off_t)d->count + 2; i++) {
		size_t n = add_entry(req, d, ino, i, plus, buf + used, size - used);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
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
	int rc = xattr_list(tfs_of(req), ino, &names, &len);
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
	int rc = xattr_get(tfs_of(req), ino, name, &value, &len);
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
	fuse_reply_attr(req, &st, ttl_for(fs, true));
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

/* Every readdir of the tree is a readdirplus: with the kernel's default (READDIRPLUS_AUTO)
 * only a directory's first page is, and a find then sends a LOOKUP for each directory
 * beyond it, and a GETATTR for each when warm. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
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
	.releasedir = op_releasedir,
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
