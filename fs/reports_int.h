/* The reports' insides, for reports.c, inventory.c and metrics.c; nothing else includes it. */
#ifndef TFS_FS_REPORTS_INT_H
#define TFS_FS_REPORTS_INT_H
#include <pthread.h>
#include <stdio.h>
#include "fs/reports.h"

#define MEMO_BUCKETS 1024

/* A state's MD5 for one ETag: a state is read for its digest once per version. */
struct md5_memo {
	char *key;
	char etag[130];
	char md5[33];
	struct md5_memo *next;
};

/* What status says of the bucket's versions, kept for cache_ttl: counting the clutter
 * lists every version of the prefix (a request per 1,000). */
struct versions_seen {
	bool known;
	double at;                  /* monotonic seconds */
	enum store_versioning versioning;
	bool counted;
	struct hist_clutter clutter;
};

struct reports {
	struct reports_config cfg;
	pthread_mutex_t lock;       /* guards memo and versions */
	struct md5_memo *memo[MEMO_BUCKETS];
	struct versions_seen versions;
};

/* A kind of request as stats and metrics name it: "LIST" -> "list", "GetItem" -> "getitem". */
void reports_op_name(const char *op, char buf[32]);

/* The metrics report, in fs/metrics.c: Prometheus' text format. */
int reports_render_metrics(struct reports *r, FILE *out);
#endif
