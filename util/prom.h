/* Prometheus' text exposition format (version 0.0.4), as /.tfstatefs/metrics is written. */
#ifndef TFS_UTIL_PROM_H
#define TFS_UTIL_PROM_H
#include <stdio.h>

/* A metric family's "# HELP" and "# TYPE" lines (type: "gauge", "counter"), written once,
 * before its samples. help is one line with no backslash. */
void prom_put_family(FILE *out, const char *name, const char *type, const char *help);

/* s as a label value, between its quotes: a backslash, a double quote and a line feed are
 * written \\, \" and \n, as the format says; every other byte as it is. */
void prom_put_label_value(FILE *out, const char *s);
#endif
