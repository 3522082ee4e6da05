/* One lock as the filesystem shows it: fetched from S3, decoded, kept with its ETag. */
#include "fs/lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "s3/log.h"

#define LOCK_SUFFIX ".tflock"

bool lock_name(const char *name)
{
	size_t n = strlen(name), s = strlen(LOCK_SUFFIX);
	return n > s && strcmp(name + n - s, LOCK_SUFFIX) == 0;
}

void lock_view_free(struct lock_view *v)
{
	if (!v)
		return;
	free(v->raw);
	free(v->text);
	lockinfo_free(&v->info);
	free(v);
}

/* The decoder sees at most LOCK_MAX_BYTES + 1 bytes; the problem names the real size. */
static int note_oversize(struct lock_view *v, uint64_t size)
{
	if (size <= LOCK_MAX_BYTES)
		return 0;
	free(v->info.problem);
	if (asprintf(&v->info.problem, "larger than %u KiB (%" PRIu64 " bytes): not read",
	             LOCK_MAX_BYTES >> 10, size) < 0) {
		v->info.problem = NULL;
		return -ENOMEM;
	}
	return 0;
}

int lock_fetch(struct s3_client *s3, const char *key, struct lock_view **out)
{
	struct lock_view *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	struct s3_object_info info;
	struct aws_error err;
	int rc = s3_get_object(s3, key, 0, LOCK_MAX_BYTES + 1, NULL, &v->raw, &v->raw_len, &info, &err);
	if (rc < 0) {
		if (rc != -ENOENT) {
			char desc[512];
			aws_error_describe(&err, desc, sizeof(desc));
			log_error("reading lock %s failed: %s", key, desc);
		}
		lock_view_free(v);
		return rc == -ENOENT || rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
	}
	memcpy(v->etag, info.etag, sizeof(v->etag));
	v->mtime = info.mtime;
	rc = lockinfo_parse(v->raw ? v->raw : "", v->raw_len, &v->info);
	if (rc == 0)
		rc = note_oversize(v, info.size);
	if (rc == 0 && !(v->text = lockinfo_format(&v->info, "s3")))
		rc = -ENOMEM;
	if (rc < 0) {
		lock_view_free(v);
		return rc;
	}
	v->text_len = strlen(v->text);
	*out = v;
	return 0;
}
