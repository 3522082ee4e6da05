/* nullfs: a listed tree served read-only from memory, so that make bench can time what
 * the FUSE protocol alone costs a walk (tests/bench/bench.py's "FUSE floor").
 *
 *     nullfs LISTING MOUNTPOINT [-f] [-d] [-s] [-o OPTION...]
 *
 * LISTING has one relative path a line, optionally followed by a tab and the file's size
 * (0 without); the directories are those the paths imply. Files read as zeros. Each line
 * read on stdin prints the FUSE requests served so far on stdout, one line of NAME=COUNT
 * ("eof": the READDIR or READDIRPLUS answered empty, which tells the kernel a directory
 * ended), and so does the unmount. */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "fs/fs.h"

/* Entries and attributes are kept as long as the kernel will: the walk's best case. */
#define NULLFS_TIMEOUT 3600.0

enum nullfs_op { OP_LOOKUP, OP_GETATTR, OP_OPENDIR, OP_READDIR, OP_READDIRPLUS, OP_EOF,
                 OP_OPEN, OP_READ, OP_STATFS, OP_FORGET, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "lookup", "getattr", "opendir", "readdir",
                                                "readdirplus", "eof", "open", "read", "statfs",
                                                "forget" };

struct node {
	const char *name;           /* cut out of the listing's text */
	fuse_ino_t parent, first, last, next;   /* first and last child, next sibling */
	off_t size;
	bool dir;
};

struct nullfs {
	const char *listing;
	char *text;                 /* the listing, its lines and names ended in place */
	struct node *nodes;         /* by inode: nodes[FUSE_ROOT_ID] is the root */
	size_t count;
	fuse_ino_t *slots;          /* open addressing on (parent, name); 0 is free */
	size_t nslots;              /* a power of two */
	struct timespec born;
	bool kernel_keeps_dirs;
	atomic_ulong served[OP_COUNT];
};

static struct nullfs *nullfs_of(fuse_req_t req, enum nullfs_op op)
{
	struct nullfs *fs = fuse_req_userdata(req);
	atomic_fetch_add_explicit(&fs->served[op], 1, memory_order_relaxed);
	return fs;
}

static void print_served(struct nullfs *fs)
{
	for (int i = 0; i < OP_COUNT; i++)
		printf("%s%s=%lu", i ? " " : "", op_names[i], atomic_load(&fs->served[i]));
	putchar('\n');
	fflush(stdout);
}

static void *serve_counts(void *arg)
{
	char line[64];
	while (fgets(line, sizeof(line), stdin))
		print_served(arg);
	return NULL;
}

/* The slot of (parent, name): the one holding it, or the free one it would take. */
static size_t slot_of(const struct nullfs *fs, fuse_ino_t parent, const char *name)
{
	uint64_t h = 14695981039346656037ULL ^ parent;   /* FNV-1a */
	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	size_t i = (size_t)h & (fs->nslots - 1);
	for (fuse_ino_t ino; (ino = fs->slots[i]); i = (i + 1) & (fs->nslots - 1)) {
		if (fs->nodes[ino].parent == parent && strcmp(fs->nodes[ino].name, name) == 0)
			break;
	}
	return i;
}

static const struct node *node_of(const struct nullfs *fs, fuse_ino_t ino)
{
	return ino >= FUSE_ROOT_ID && ino < fs->count ? &fs->nodes[ino] : NULL;
}

/* The inode of name in parent, added if new; 0 where a file and a directory clash. */
static fuse_ino_t tree_add(struct nullfs *fs, fuse_ino_t parent, const char *name, bool dir,
                           off_t size)
{
	size_t s = slot_of(fs, parent, name);
	if (fs->slots[s])
		return dir && fs->nodes[fs->slots[s]].dir ? fs->slots[s] : 0;
	fuse_ino_t ino = fs->count++;
	fs->nodes[ino] = (struct node){ .name = name, .parent = parent, .size = size, .dir = dir };
	struct node *p = &fs->nodes[parent];
	*(p->last ? &fs->nodes[p->last].next : &p->first) = ino;
	p->last = ino;
	fs->slots[s] = ino;
	return ino;
}

static int tree_add_line(struct nullfs *fs, char *line)
{
	char *tab = strchr(line, '\t'), *save = NULL;
	off_t size = tab ? strtoll(tab + 1, NULL, 10) : 0;
	if (tab)
		*tab = '\0';
	fuse_ino_t at = FUSE_ROOT_ID;
	for (char *name = strtok_r(line, "/", &save), *rest; name && at; name = rest) {
		rest = strtok_r(NULL, "/", &save);
		bool dir = rest != NULL;
		at = strcmp(name, ".") && strcmp(name, "..") ? tree_add(fs, at, name, dir, dir ? 0 : size)
		                                             : 0;
	}
	return at ? 0 : -1;
}

/* The whole listing in memory; a node for each name in it at the most. */
static int tree_load(struct nullfs *fs)
{
	FILE *f = fopen(fs->listing, "r");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0 || !(fs->text = calloc(1, (size_t)st.st_size + 1)) ||
	    fread(fs->text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "nullfs: cannot read %s: %s\n", fs->listing, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	size_t names = 2;
	for (const char *c = fs->text; *c; c++)
		names += *c == '\n' || *c == '/';
	for (fs->nslots = 1; fs->nslots < 2 * names; fs->nslots *= 2)
		;
	fs->nodes = calloc(names + FUSE_ROOT_ID, sizeof(*fs->nodes));
	fs->slots = calloc(fs->nslots, sizeof(*fs->slots));
	if (!fs->nodes || !fs->slots)
		return -1;
	fs->nodes[FUSE_ROOT_ID] = (struct node){ .name = "", .parent = FUSE_ROOT_ID, .dir = true };
	fs->count = FUSE_ROOT_ID + 1;
	clock_gettime(CLOCK_REALTIME, &fs->born);
	size_t lineno = 1;
	for (char *line = fs->text, *end; *line; line = end, lineno++) {
		end = strchrnul(line, '\n');
		if (*end)
			*end++ = '\0';
		if (tree_add_line(fs, line) < 0) {
			fprintf(stderr, "nullfs: %s:%zu: a file listed again or as a directory, or a name"
			        " . or ..\n", fs->listing, lineno);
			return -1;
		}
	}
	return 0;
}

static void node_stat(const struct nullfs *fs, fuse_ino_t ino, struct stat *st)
{
	const struct node *n = &fs->nodes[ino];
	*st = (struct stat){ .st_ino = ino, .st_mode = n->dir ? S_IFDIR | 0555 : S_IFREG | 0444,
	                     .st_nlink = n->dir ? 2 : 1, .st_size = n->size, .st_uid = getuid(),
	                     .st_gid = getgid(), .st_atim = fs->born, .st_mtim = fs->born,
	                     .st_ctim = fs->born };
}

static struct fuse_entry_param entry_of(const struct nullfs *fs, fuse_ino_t ino)
{
	struct fuse_entry_param e = { .ino = ino, .attr_timeout = NULLFS_TIMEOUT,
	                              .entry_timeout = NULLFS_TIMEOUT };
	node_stat(fs, ino, &e.attr);
	return e;
}

/* tfstatefs's own kernel settings (fs/ops.c: tfs_kernel_settings, op_opendir), so that a
 * walk here takes the protocol path a walk of tfstatefs takes and differs from it only by
 * what tfstatefs does: every readdir a READDIRPLUS (never the kernel's guess between it
 * and READDIR), and directories opened by the kernel without asking, which then keeps
 * their entries. */
static void nl_init(void *userdata, struct fuse_conn_info *conn)
{
	struct nullfs *fs = userdata;
	fs->kernel_keeps_dirs = tfs_kernel_settings(conn);
}

static void nl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (nullfs_of(req, OP_OPENDIR)->kernel_keeps_dirs)
		fuse_reply_err(req, ENOSYS);
	else
		fuse_reply_open(req, fi);
}

static void nl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct nullfs *fs = nullfs_of(req, OP_LOOKUP);
	fuse_ino_t ino = node_of(fs, parent) ? fs->slots[slot_of(fs, parent, name)] : 0;
	struct fuse_entry_param e = { .entry_timeout = NULLFS_TIMEOUT };   /* absent: negative */
	if (ino)
		e = entry_of(fs, ino);
	fuse_reply_entry(req, &e);
}

static void nl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino, (void)nlookup;   /* the tree lives as long as the mount */
	nullfs_of(req, OP_FORGET);
	fuse_reply_none(req);
}

static void nl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct nullfs *fs = nullfs_of(req, OP_GETATTR);
	struct stat st;
	if (!node_of(fs, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	node_stat(fs, ino, &st);
	fuse_reply_attr(req, &st, NULLFS_TIMEOUT);
}

/* Offsets: "." ends at 1, ".." at 2, a child at its inode + 2, so that the next read
 * starts at its next sibling. "." and ".." go without attributes, as the kernel knows
 * them. */
static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct nullfs *fs = nullfs_of(req, plus ? OP_READDIRPLUS : OP_READDIR);
	const struct node *d = node_of(fs, ino);
	char *buf = d && d->dir ? malloc(size) : NULL;
	if (!buf || off < 0 || (off > 2 && !node_of(fs, (fuse_ino_t)off - 2))) {
		free(buf);
		fuse_reply_err(req, !d ? ENOENT : !d->dir ? ENOTDIR : buf ? EINVAL : ENOMEM);
		return;
	}
	size_t used = 0;
	for (;;) {
		fuse_ino_t at = off == 0 ? ino : off == 1 ? d->parent
		              : off == 2 ? d->first : fs->nodes[off - 2].next;
		if (!at)
			break;
		off_t next = off < 2 ? off + 1 : (off_t)at + 2;
		const char *name = off == 0 ? "." : off == 1 ? ".." : fs->nodes[at].name;
		struct fuse_entry_param e = entry_of(fs, at);
		e.ino = off < 2 ? 0 : at;
		size_t n = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next)
		                : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, next);
		if (n > size - used)
			break;
		used += n;
		off = next;
	}
	if (!used)
		nullfs_of(req, OP_EOF);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void nl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	reply_dir(req, ino, size, off, false);
}

static void nl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	(void)fi;
	reply_dir(req, ino, size, off, true);
}

static void nl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node *n = node_of(nullfs_of(req, OP_OPEN), ino);
	if (!n || n->dir || (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, !n ? ENOENT : n->dir ? EISDIR : EROFS);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void nl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	(void)fi;
	const struct node *n = node_of(nullfs_of(req, OP_READ), ino);
	size_t len = n && off < n->size ? (size_t)(n->size - off) : 0;
	char *zeros = calloc(1, len < size ? len : size);
	if (!zeros && len && size) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fuse_reply_buf(req, zeros, len < size ? len : size);
	free(zeros);
}

/* What libfuse answers without a statfs (find asks, once), counted. */
static void nl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	nullfs_of(req, OP_STATFS);
	fuse_reply_statfs(req, &(struct statvfs){ .f_namemax = 255, .f_bsize = 512 });
}

static const struct fuse_lowlevel_ops nullfs_ops = {
	.init = nl_init,
	.lookup = nl_lookup,
	.forget = nl_forget,
	.getattr = nl_getattr,
	.opendir = nl_opendir,
	.readdir = nl_readdir,
	.readdirplus = nl_readdirplus,
	.open = nl_open,
	.read = nl_read,
	.statfs = nl_statfs,
};

/* The first argument that is not an option is the listing; the rest are FUSE's. */
static int take_listing(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct nullfs *fs = data;
	if (key != FUSE_OPT_KEY_NONOPT || fs->listing)
		return 1;
	fs->listing = arg;
	return 0;
}

/* The loop tfstatefs runs (mount/main.c: run_loop), multithreaded unless -s; its extra
 * threads for /.tfstatefs/events readers are left out: a walk never holds one. */
static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *cmd)
{
	if (cmd->singlethread)
		return fuse_session_loop(se);
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		return -1;
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)cmd->clone_fd);
	fuse_loop_cfg_set_max_threads(lc, cmd->max_threads);
	int rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

/* tfstatefs's mount options that reach the kernel (mount/main.c: add_fuse_options). */
static int add_mount_options(struct fuse_args *args)
{
	if (fuse_opt_add_arg(args, "-odefault_permissions") < 0 ||
	    fuse_opt_add_arg(args, "-ofsname=nullfs") < 0 ||
	    fuse_opt_add_arg(args, "-osubtype=nullfs") < 0)
		return -1;
	return 0;
}

static int serve(struct nullfs *fs, struct fuse_args *args, const struct fuse_cmdline_opts *cmd)
{
	struct fuse_session *se = fuse_session_new(args, &nullfs_ops, sizeof(nullfs_ops), fs);
	if (!se)
		return -1;
	int rc = -1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, cmd->mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd->foreground);
	pthread_t counts;
	if (pthread_create(&counts, NULL, serve_counts, fs) == 0)
		pthread_detach(counts);
	rc = run_loop(se, cmd);
	fuse_session_unmount(se);
	print_served(fs);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	fuse_session_destroy(se);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct nullfs fs = { 0 };
	struct fuse_cmdline_opts cmd = { 0 };
	int rc = 1;
	if (fuse_opt_parse(&args, &fs, NULL, take_listing) != 0 || fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	if (cmd.show_help || cmd.show_version || !fs.listing || !cmd.mountpoint) {
		fprintf(stderr, "usage: %s LISTING MOUNTPOINT [-f] [-d] [-s] [-o OPTION...]\n", argv[0]);
		goto out;
	}
	if (tree_load(&fs) == 0 && add_mount_options(&args) == 0)
		rc = serve(&fs, &args, &cmd) == 0 ? 0 : 1;
out:
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	free(fs.text);
	free(fs.nodes);
	free(fs.slots);
	return rc;
}
