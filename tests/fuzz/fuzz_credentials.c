/* libFuzzer target: what credential sources answer (STS's XML, the JSON of IMDS, the
 * container endpoint and credential_process) parsed from arbitrary bytes. */
#include <errno.h>
#include <stdlib.h>
#include "s3/credsrc.h"
#include "s3/xml.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct sts_answer a;
	if (s3_xml_parse_sts((const char *)data, size, &a) == 0)
		sts_answer_free(&a);
	for (int process = 0; process < 2; process++) {
		struct aws_credentials c;
		const char *what = NULL;
		int rc = cred_json_parse((const char *)data, size, process, &c, &what);
		/* Credentials parsed have both keys; a refusal says why and leaves nothing. */
		if (rc == 0 && (!c.access_key || !c.secret_key))
			abort();
		if (rc < 0 && (c.access_key || (rc == -EPROTO && !what)))
			abort();
		aws_credentials_free(&c);
	}
	return 0;
}
