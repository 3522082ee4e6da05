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

struct reports {
	struct reports_config cfg;
	pthread_mutex_t lock;       /* guards memo */
	struct md5_memo *memo[MEMO_BUCKETS];
};

/* A kind of request as stats and metrics name it: "LIST" -> "list", "GetItem" -> "getitem". */
void reports_op_name(const char *op, char buf[32]);

/* The metrics report, in fs/metrics.c: Prometheus' text format. */
int reports_render_metrics(struct reports *r, FILE *out);
#endif
