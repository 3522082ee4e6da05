/* One open state file: its bytes as of open(), fetched in ranged chunks pinned by ETag. */
#include "fs/reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "s3/log.h"

struct reader {
	struct s3_client *s3;
	char *key;
	char etag[130];
	uint64_t size;
	pthread_mutex_t lock;   /* guards the cached chunk */
	uint64_t chunk_off;
	char *chunk;
	size_t chunk_len;
};

/* Logs a failed GET once and gives the errno a reader returns. */
static int get_failed(const char *key, int rc, const struct aws_error *err)
{
	char desc[512];
	aws_error_describe(err, desc, sizeof(desc));
	if (rc == -ENOENT) {
		log_info("%s: gone from the bucket since it was listed (%s)", key, desc);
		return rc;
	}
	if (rc == -ECANCELED) {
		log_warn("%s changed while it was being read: open it again to read the new version", key);
		return -ESTALE;
	}
	log_error("reading %s failed: %s", key, desc);
	return rc == -EACCES || rc == -ENOMEM ? rc : -EIO;
}

static int fetch_chunk(struct reader *r, uint64_t off, const char *if_match,
                       struct s3_object_info *info)
{
	char *data;
	size_t len;
	struct aws_error err;
	int rc = s3_get_object(r->s3, r->key, off, READER_CHUNK, if_match, &data, &len, info, &err);
	if (rc < 0)
		return get_failed(r->key, rc, &err);
	free(r->chunk);
	r->chunk = data;
	r->chunk_len = len;
	r->chunk_off = off;
	return 0;
}

int reader_open(struct s3_client *s3, const char *key, struct reader **out,
                struct s3_object_info *info)
{
	struct reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->key = strdup(key))) {
		free(r);
		return -ENOMEM;
	}
	r->s3 = s3;
	pthread_mutex_init(&r->lock, NULL);
	int rc = fetch_chunk(r, 0, NULL, info);
	if (rc < 0) {
		reader_close(r);
		return rc;
	}
	r->size = info->size;
	memcpy(r->etag, info->etag, sizeof(r->etag));
	*out = r;
	return 0;
}

ssize_t reader_read(struct reader *r, char *buf, size_t size, uint64_t offset)
{
	if (offset >= r->size)
		return 0;
	if (size > r->size - offset)
		size = (size_t)(r->size - offset);
	size_t done = 0;
	pthread_mutex_lock(&r->lock);
	while (done < size) {
		uint64_t pos = offset + done;
		if (pos < r->chunk_off || pos >= r->chunk_off + r->chunk_len) {
			struct s3_object_info info;
			int rc = fetch_chunk(r, pos - pos % READER_CHUNK, r->etag[0] ? r->etag : NULL, &info);
			if (rc < 0) {
				pthread_mutex_unlock(&r->lock);
				return done ? (ssize_t)done : rc;
			}
			if (r->chunk_len == 0)
				break;  /* shorter than it said: return what there is */
		}
		size_t in_chunk = (size_t)(pos - r->chunk_off);
		size_t n = r->chunk_len - in_chunk;
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, r->chunk + in_chunk, n);
		done += n;
	}
	pthread_mutex_unlock(&r->lock);
	return (ssize_t)done;
}

void reader_close(struct reader *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->chunk);
	free(r->key);
	free(r);
}
