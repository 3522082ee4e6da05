/* The files of /.tfstatefs/: every lock under the mount, the DynamoDB -> S3 lockfile
 * migration status of every state, the mount's own status, its counters, and the same
 * as Prometheus metrics. Each is built afresh when opened, from one listing of the mount
 * and one snapshot of the lock table. */
#ifndef TFS_FS_REPORTS_H
#define TFS_FS_REPORTS_H
#include <stddef.h>
#include <stdio.h>
#include "fs/guard.h"
#include "fs/events.h"
#include "fs/history.h"
#include "fs/keymap.h"
#include "fs/lock.h"
#include "fs/reader.h"
#include "fs/tree.h"

struct reports_config {
	const struct lock_source *locks;    /* borrowed, as is map */
	const struct keymap *map;
	const struct tfs_config *cfg;       /* borrowed: its status text */
	struct tree *tree;                  /* borrowed, for stats */
	struct reader_budget *budget;       /* borrowed, for stats */
	struct history *history;            /* borrowed: lock-history, versioning in status */
	const struct guard_counts *unlocks; /* borrowed, for metrics; NULL: not counted */
	struct events *events;              /* borrowed: its costs in stats (may be NULL) */
};

struct reports;

/* How a report is built. A snapshot is made whole when its file is opened, then read
 * from memory. A directory is answered by a module of its own (history/: fs/histfs.c)
 * and has no render. A stream is read as it happens: each open is a reader of
 * fs/events.c, and has no render either. */
enum report_build { REPORT_SNAPSHOT, REPORT_DIRECTORY, REPORT_STREAM };

/* One file of /.tfstatefs/: a new report is one row of reports_table and its render. */
struct report {
	const char *name;
	enum report_build build;
	/* Writes the report to out. Returns 0 or a negative errno, as reports_render. */
	int (*render)(struct reports *r, FILE *out);
};

/* The entries, in the order they are added: "locks", "migration", "status", "stats",
 * "lock-history", "metrics", the directory "history", and the stream "events". */
extern const struct report reports_table[];
extern const size_t reports_count;

int reports_new(const struct reports_config *cfg, struct reports **out);
void reports_free(struct reports *r);

/* Adds directory dirname to tree t with one virtual file per row of reports_table, in its
 * order: a file's tree_attr.virt is its row's index plus one. Returns 0 or -ENOMEM. */
int reports_add_files(struct tree *t, const char *dirname);

/* Builds the report of virtual file virt (its tree_attr.virt). *text is malloc'd (*len
 * bytes). Returns 0, -EINVAL (virt is no report's), or the listing's negative errno
 * (-EACCES, -EIO) or -ENOMEM. A lock table that cannot be read does not fail a report:
 * its DynamoDB columns say "unknown". */
int reports_render(struct reports *r, unsigned virt, char **text, size_t *len);

/* Is virtual file virt a stream? Then an open is a new reader of events (NULL when the
 * mount has none). */
bool reports_is_stream(unsigned virt);
struct events *reports_events(struct reports *r);
#endif
