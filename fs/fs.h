/* The filesystem as mount/ sees it: its settings, and the FUSE operations over the tree. */
#ifndef TFS_FS_FS_H
#define TFS_FS_FS_H
#include <stdbool.h>
#include <sys/types.h>
#include "fs/config.h"
#include "fs/guard.h"
#include "fs/histfs.h"
#include "fs/reader.h"
#include "fs/reports.h"
#include "fs/tree.h"

struct tfs {
	const struct tfs_config *cfg;   /* borrowed */
	struct tree *tree;      /* borrowed */
	struct store *store;    /* borrowed: the bucket */
	struct guard *guard;    /* borrowed */
	struct reports *reports;    /* borrowed: the files of /.tfstatefs/ */
	struct reader_budget *budget;   /* borrowed: memory for states being read */
	struct histfs *histfs;          /* borrowed: /.tfstatefs/history/ */
	struct fuse_session *se;        /* for telling the kernel what went away */
	bool kernel_keeps_dirs;         /* set at init: directories are opened without asking */
};

struct fuse_conn_info;
struct fuse_lowlevel_ops;
struct fuse_session;

/* The operations; their userdata is a struct tfs. */
const struct fuse_lowlevel_ops *tfs_lowlevel_ops(void);

/* What the operations ask of the kernel at init, in conn->want: READDIRPLUS for every
 * readdir, and directories opened without asking and their entries kept where the kernel
 * can (then true: every OPENDIR is to be answered ENOSYS). tests/bench/nullfs.c asks the
 * same, to walk the same protocol path. */
bool tfs_kernel_settings(struct fuse_conn_info *conn);
#endif
