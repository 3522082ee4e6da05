/* libFuzzer target: lockinfo_parse + lockinfo_format on arbitrary bytes; the text must be printable lines. */
#include "fs/lockinfo.h"

#include <stdlib.h>
#include <string.h>

/* What a .tflock file shows goes to terminals: no control byte but the line ends. */
static void check_text(const char *text)
{
	size_t len = strlen(text);
	if (len == 0 || text[len - 1] != '\n')
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct lockinfo li;
	if (lockinfo_parse((const char *)data, size, &li) < 0)
		return 0;
	char *text = lockinfo_format(&li, "s3");
	if (text) {
		check_text(text);
		free(text);
	}
	time_t t;
	(void)lockinfo_created_time(&li, &t);
	lockinfo_free(&li);
	return 0;
}
