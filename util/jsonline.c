#include "util/jsonline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/log.h"

int jsonline_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

void jsonline_put(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, value && *value ? json_object_new_string(value) : NULL);
}

int jsonline_write(int fd, json_object *o, const char *what)
{
	char *line = NULL;
	int len = asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                   JSON_C_TO_STRING_NOSLASHESCAPE));
	if (len < 0) {
		log_error("%s: a line could not be built: out of memory", what);
		return -ENOMEM;
	}
	ssize_t n = write(fd, line, (size_t)len);
	int rc = n == len ? 0 : n < 0 ? -errno : -EIO;
	if (rc < 0)
		log_error("%s: write failed: %s", what, strerror(-rc));
	free(line);
	return rc;
}
