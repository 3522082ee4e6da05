/* Terraform's lock info (the JSON in a .tflock object or a DynamoDB Info) decoded to text. */
#ifndef TFS_FS_LOCKINFO_H
#define TFS_FS_LOCKINFO_H
#include <stddef.h>
#include <time.h>

/* The fields of Terraform's LockInfo. Each is a malloc'd, NUL-terminated, printable
 * string (control characters and invalid UTF-8 escaped as \n, \t, \xNN), or NULL when
 * the JSON did not have it as a string. */
struct lockinfo {
	char *id;
	char *path;
	char *operation;
	char *who;
	char *version;
	char *created;
	char *info;
	char *problem;      /* what was wrong with the JSON, or NULL when nothing was */
};

/* Decodes body (len bytes, any bytes). Never fails on bad input: whatever could be read
 * is filled in and problem says what was wrong ("not JSON: ...", "not a JSON object",
 * "missing ID, Who", "ID is a number, not a string", "unknown fields: x, y", "larger than
 * 64 KiB"). Returns 0, or -ENOMEM (then *out is left empty). */
int lockinfo_parse(const char *body, size_t len, struct lockinfo *out);
void lockinfo_free(struct lockinfo *li);

/* The text a .tflock file shows: one line per field, Terraform's names, a colon, spaces
 * to column 12, the value ("Info:" alone when empty), in the order ID, Path, Operation,
 * Who, Version, Created, Info, then "Backend:   <backend>", then "Problem:   <problem>"
 * when there is one. Missing fields are shown empty. Returns malloc'd text or NULL. */
char *lockinfo_format(const struct lockinfo *li, const char *backend);

/* Parses Created ("2026-11-28T09:38:48.157714841Z", RFC 3339, any fraction, Z or
 * offset) into *out. Returns 0 or -EINVAL. */
int lockinfo_created_time(const struct lockinfo *li, time_t *out);
#endif
