/* libFuzzer target: s3_xml_parse_list (encoded and not) and time_parse_rfc3339 on arbitrary bytes. */
#include "s3/xml.h"
#include "util/timeparse.h"

#include <stdlib.h>
#include <string.h>

/* Whatever a page holds must be readable to its stated lengths; ASan checks the reads. */
static size_t touch_page(const struct s3_list_page *pg)
{
	size_t sum = 0;
	for (size_t i = 0; i < pg->nobjects; i++) {
		const struct s3_object *o = &pg->objects[i];
		for (size_t j = 0; j <= o->key_len; j++)   /* the NUL after the key too */
			sum += (unsigned char)o->key[j];
		sum += o->etag ? strlen(o->etag) : 0;
	}
	for (size_t i = 0; i < pg->nprefixes; i++)
		sum += strlen(pg->prefixes[i]);
	return sum + (pg->next_token ? strlen(pg->next_token) : 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	volatile size_t sink = 0;
	for (int encoded = 0; encoded <= 1; encoded++) {
		struct s3_list_page pg;
		if (s3_xml_parse_list((const char *)data, size, encoded, &pg) == 0)
			sink += touch_page(&pg);
		s3_list_page_free(&pg);
	}
	/* The same bytes as a date string, NUL-terminated (the parser takes C strings). */
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		time_t t;
		if (time_parse_rfc3339(s, &t) == 0)
			sink += (size_t)t;
		free(s);
	}
	(void)sink;
	return 0;
}
