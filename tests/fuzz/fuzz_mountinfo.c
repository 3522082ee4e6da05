/* libFuzzer target: mountinfo_find and mountinfo_has on arbitrary tables.
 * Input: "<path>\n<table bytes>"; the table is not NUL-terminated, so a read past its
 * length is caught. */
#include "util/mountinfo.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const unsigned char *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : size;
	char *path = strndup((const char *)data, plen);
	size_t tlen = nl ? size - plen - 1 : 0;
	char *table = malloc(tlen ? tlen : 1);
	if (path && table) {
		memcpy(table, nl ? nl + 1 : data, tlen);
		long id = mountinfo_find(table, tlen, path, "fuse");
		if (id >= 0 && !mountinfo_has(table, tlen, id))
			abort();    /* a mount found is a mount the table has */
	}
	free(path);
	free(table);
	return 0;
}
