/* Tab-separated lines, as the files of /.tfstatefs are written. */
#ifndef TFS_UTIL_TSV_H
#define TFS_UTIL_TSV_H
#include <stdio.h>

/* s as one field: tabs, line ends, other control bytes and the backslash escaped
 * C-style, so that every line is one row and splits on tabs. */
void tsv_put_field(FILE *out, const char *s);
#endif
