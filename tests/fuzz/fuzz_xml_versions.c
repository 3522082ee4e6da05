/* libFuzzer target: s3_xml_parse_versions (encoded and not), s3_xml_parse_versioning and
 * time_parse_rfc3339_ms on arbitrary bytes. */
#include "s3/xml.h"
#include "util/timeparse.h"

#include <stdlib.h>
#include <string.h>

/* Whatever a page holds must be readable to its stated lengths; ASan checks the reads. */
static size_t touch_page(const struct s3_version_page *pg)
{
	size_t sum = 0;
	for (size_t i = 0; i < pg->nversions; i++) {
		const struct store_version *v = &pg->versions[i];
		for (size_t j = 0; j <= v->key_len; j++)   /* the NUL after the key too */
			sum += (unsigned char)v->key[j];
		sum += strlen(v->version_id) + (size_t)v->mtime_ms + (size_t)v->size + v->latest;
		/* the interface's promise: a version has an ETag, a delete marker none */
		if (v->delete_marker != (v->etag == NULL))
			abort();
		sum += v->etag ? strlen(v->etag) : 0;
	}
	sum += pg->next_key_marker ? strlen(pg->next_key_marker) : 0;
	return sum + (pg->next_version_marker ? strlen(pg->next_version_marker) : 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	volatile size_t sink = 0;
	for (int encoded = 0; encoded <= 1; encoded++) {
		struct s3_version_page pg;
		if (s3_xml_parse_versions((const char *)data, size, encoded, &pg) == 0)
			sink += touch_page(&pg);
		s3_version_page_free(&pg);
	}
	enum store_versioning v;
	if (s3_xml_parse_versioning((const char *)data, size, &v) == 0)
		sink += (size_t)v;
	/* The same bytes as a date string, NUL-terminated (the parser takes C strings). */
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		int64_t ms;
		if (time_parse_rfc3339_ms(s, &ms) == 0)
			sink += (size_t)ms;
		free(s);
	}
	(void)sink;
	return 0;
}
