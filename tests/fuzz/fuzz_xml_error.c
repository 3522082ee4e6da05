/* libFuzzer target: s3_xml_parse_error on arbitrary bytes. */
#include "s3/xml.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct s3_error err;
	if (s3_xml_parse_error((const char *)data, size, &err) == 0) {
		/* Every field present must be a readable string; ASan checks the reads. */
		volatile size_t sink = 0;
		const char *fields[] = { err.code, err.message, err.region, err.request_id };
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			sink += fields[i] ? strlen(fields[i]) : 0;
		(void)sink;
	}
	s3_error_free(&err);
	return 0;
}
