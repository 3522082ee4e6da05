/* libFuzzer target: stateinfo_parse on arbitrary bytes; a defined outcome, printable fields. */
#include "fs/stateinfo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A text field is shown as an attribute value: NUL-terminated within its room, printable
 * ASCII only. */
static void check_text(const char *s)
{
	size_t n = strnlen(s, STATEINFO_TEXT_MAX + 1);
	if (n > STATEINFO_TEXT_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

/* What an encrypted state shows is only what OpenTofu leaves in clear. */
static void check_info(const struct stateinfo *si)
{
	check_text(si->lineage);
	check_text(si->terraform_version);
	check_text(si->encryption_version);
	if (si->encrypted && (si->has_resources || si->terraform_version[0]))
		abort();
	if (!si->encrypted && si->encryption_version[0])
		abort();
}

/* A refusal leaves nothing behind and says why. */
static void check_refused(const struct stateinfo *si, const char *why)
{
	static const struct stateinfo none;
	if (memcmp(si, &none, sizeof(none)) != 0 || !why[0])
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct stateinfo si;
	char why[160] = "";
	memset(&si, 0x5a, sizeof(si));
	int rc = stateinfo_parse((const char *)data, size, &si, why, sizeof(why));
	if (rc == 0)
		check_info(&si);
	else if (rc == -EINVAL || rc == -EFBIG)
		check_refused(&si, why);
	else if (rc != -ENOMEM)
		abort();
	return 0;
}
