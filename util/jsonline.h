/* JSON Lines logs (-o audit_log, -o events_log): one object a line, appended with one
 * write(2) each, so that a crash or kill -9 loses at most the line being written and
 * readers never see two lines mixed. */
#ifndef TFS_UTIL_JSONLINE_H
#define TFS_UTIL_JSONLINE_H
#include <json-c/json.h>

/* Opens path to append (created 0600: the lines name people and locks). Returns the fd
 * or a negative errno. */
int jsonline_open(const char *path);

/* o[key] = value as a string; NULL or "" is JSON null. */
void jsonline_put(json_object *o, const char *key, const char *value);

/* Appends o and a newline to fd in one write(2). Returns 0 or a negative errno (-EIO for
 * a short write). what names the log in the error logged on failure. */
int jsonline_write(int fd, json_object *o, const char *what);
#endif
