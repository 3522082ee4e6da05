/* The fixture the guard's and the freeze's unit tests share: a bucket holding one state
 * (team/app/terraform.tfstate), with or without a lock table, a tree over it, an audit
 * file, a guard over all of them, and the state's directory looked up. */
#ifndef TFS_TEST_GUARDFX_H
#define TFS_TEST_GUARDFX_H
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/audit.h"
#include "fs/guard.h"
#include "fs/keymap.h"
#include "fs/locktable.h"
#include "fs/tree.h"
#include "check.h"
#include "memstore.h"

#define FX_BUCKET   "tfstate"
#define FX_STATE    "team/app/terraform.tfstate"
#define FX_OWNER    1000u           /* who mounted */

struct fx {
	struct memstore *ms;
	struct locktable *lt;
	struct lock_source locks;
	struct keymap map;
	struct tfs_config cfg;
	struct tree *tree;
	struct audit *audit;
	char audit_path[64];
	struct guard g;
	uint64_t dir;           /* team/app */
	uint64_t lock_ino;      /* its lock file, once a test has shown it */
};

/* fill(f, ctx), when given, puts what the bucket and the table hold before the tree
 * first looks. */
static inline void fx_setup(struct fx *f, bool with_table,
                            void (*fill)(struct fx *f, const void *ctx), const void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->ms = memstore_new();
	memstore_put(f->ms, FX_STATE, "{\"version\":4,\"serial\":7}", 0);
	f->cfg = (struct tfs_config){ .cache_ttl = 60, .lock_ttl = 60, .lock_list_ttl = 60,
	                              .uid = FX_OWNER, .gid = FX_OWNER, .umask = 022,
	                              .unlock = { .owner = FX_OWNER } };
	f->locks = (struct lock_source){ .store = memstore_store(f->ms), .bucket = FX_BUCKET };
	if (fill)
		fill(f, ctx);
	if (with_table) {
		CHECK_INT(locktable_new(memstore_table(f->ms), FX_BUCKET, &f->cfg, &f->lt), 0);
		f->locks.table = f->lt;
	}
	CHECK_INT(keymap_init(&f->map, NULL, NULL), 0);
	CHECK_INT(tree_new(&f->locks, &f->map, &f->cfg, &f->tree), 0);
	strcpy(f->audit_path, "/tmp/tfs-unit-audit.XXXXXX");
	int fd = mkstemp(f->audit_path);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_INT(audit_open(f->audit_path, &f->audit), 0);
	f->g = (struct guard){ .tree = f->tree, .locks = &f->locks, .audit = f->audit,
	                       .policy = &f->cfg.unlock };
	struct tree_attr a;
	CHECK_INT(tree_lookup(f->tree, TREE_ROOT_INO, "team", &a), 0);
	CHECK_INT(tree_lookup(f->tree, a.ino, "app", &a), 0);
	f->dir = a.ino;
}

static inline void fx_free(struct fx *f)
{
	tree_free(f->tree);
	keymap_free(&f->map);
	locktable_free(f->lt);
	audit_close(f->audit);
	unlink(f->audit_path);
	memstore_free(f->ms);
}
#endif
