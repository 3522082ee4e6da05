/* The filesystem as mount/ sees it: its settings, and the FUSE operations over the tree. */
#ifndef TFS_FS_FS_H
#define TFS_FS_FS_H
#include <stdbool.h>
#include <sys/types.h>
#include "fs/guard.h"
#include "fs/reader.h"
#include "fs/reports.h"
#include "fs/tree.h"

struct tfs_settings {
	uid_t uid;              /* owner of every file */
	gid_t gid;
	mode_t umask;           /* directories 0777 & ~umask, files 0444 & ~umask */
	double cache_ttl;       /* seconds a listing, entry and attribute stay fresh */
	double lock_ttl;        /* the same for lock files, and for names that are not locks */
};

struct tfs {
	struct tfs_settings settings;
	struct tree *tree;      /* borrowed */
	struct s3_client *s3;   /* borrowed */
	struct guard *guard;    /* borrowed */
	struct reports *reports;    /* borrowed: the files of /.tfstatefs/ */
	struct reader_budget *budget;   /* borrowed: memory for states being read */
	struct fuse_session *se;        /* for telling the kernel what went away */
};

struct fuse_lowlevel_ops;
struct fuse_session;

/* The operations; their userdata is a struct tfs. */
const struct fuse_lowlevel_ops *tfs_lowlevel_ops(void);
#endif
