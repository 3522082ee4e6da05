/* The few top-level fields of a Terraform or OpenTofu state that its extended attributes
 * show, parsed from the state's bytes. Nothing else of a state is ever copied out. */
#ifndef TFS_FS_STATEINFO_H
#define TFS_FS_STATEINFO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* States larger than this are not parsed: json-c builds the whole document in memory. */
#define STATEINFO_MAX_BYTES (16u << 20)

/* Longest text field kept; a longer one is not a lineage, a version or a sigil. */
#define STATEINFO_TEXT_MAX 64

struct stateinfo {
	bool encrypted;         /* OpenTofu state encryption: only the fields in clear below */
	bool has_serial;
	uint64_t serial;
	bool has_resources;     /* never for an encrypted state */
	size_t resources;       /* entries of the top-level "resources" array */
	/* Printable ASCII, "" when absent, of another type, too long or not printable. */
	char lineage[STATEINFO_TEXT_MAX + 1];
	char terraform_version[STATEINFO_TEXT_MAX + 1];    /* never for an encrypted state */
	char encryption_version[STATEINFO_TEXT_MAX + 1];   /* encrypted only ("v0") */
};

/* Parses a state's bytes (len bytes, any bytes). A state is a JSON object with an integer
 * "version" and a "serial" or "lineage"; an encrypted one has "encrypted_data" at its top
 * level. Returns 0 with *out filled; -EINVAL when it is neither (not JSON, not UTF-8, not
 * an object, not a state); -EFBIG when it is over STATEINFO_MAX_BYTES or its tree would
 * take too much memory; -ENOMEM. On an error, why (whylen bytes) says what it was. */
int stateinfo_parse(const char *body, size_t len, struct stateinfo *out, char *why,
                    size_t whylen);
#endif
