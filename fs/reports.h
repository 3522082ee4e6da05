/* The files of /.tfstatefs/: every lock under the mount, the DynamoDB -> S3 lockfile
 * migration status of every state, and the mount's own status. Each is built afresh
 * when opened, from one listing of the mount and one snapshot of the lock table. */
#ifndef TFS_FS_REPORTS_H
#define TFS_FS_REPORTS_H
#include <stddef.h>
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/reader.h"
#include "fs/tree.h"

enum report_kind { REPORT_LOCKS = 1, REPORT_MIGRATION, REPORT_STATUS, REPORT_STATS };
#define REPORT_COUNT 4

/* The file names, in enum order from index 0 ("locks", "migration", "status", "stats"). */
extern const char *const report_names[REPORT_COUNT];

struct reports_config {
	const struct lock_source *locks;    /* borrowed, as is map */
	const struct keymap *map;
	const struct tfs_config *cfg;       /* borrowed: its status text */
	struct tree *tree;                  /* borrowed, for stats */
	struct reader_budget *budget;       /* borrowed, for stats */
};

struct reports;

int reports_new(const struct reports_config *cfg, struct reports **out);
void reports_free(struct reports *r);

/* Builds report kind. *text is malloc'd (*len bytes). Returns 0, or the listing's negative
 * errno (-EACCES, -EIO) or -ENOMEM. A lock table that cannot be read does not fail a
 * report: its DynamoDB columns say "unknown". */
int reports_render(struct reports *r, enum report_kind kind, char **text, size_t *len);
#endif
