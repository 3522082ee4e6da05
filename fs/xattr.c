/* Extended attributes: a table of the names of states and locks; the states read, cached. */
#include "fs/xattr.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/fs.h"
#include "fs/stateinfo.h"
#include "util/log.h"
#include "util/memdup.h"

/* ---- the states read, by version ---- */

/* One version of a state: its ETag and time, and what reading it found. */
struct entry {
	uint64_t ino;           /* 0: a free slot (inodes start at 1 and are never reused) */
	char etag[130];         /* the version read, as S3 gives it (quoted) */
	time_t mtime;
	char version_id[256];   /* of the GET that read it; "" when the bucket gives none */
	uint64_t used;          /* the tick of its last use: the least recent goes first */
	struct stateinfo info;  /* all zero when not read, not a state, or too big */
};

/* A few hundred states cover those a script asks about again and again, in about 100 KiB,
 * while getfattr -R over a whole bucket costs one GET per state and no more memory. One
 * entry per inode, for the ETag it was read at: a new ETag in a listing is a new version,
 * read again. The entries own nothing, so the table is this module's own and needs no
 * setup or teardown (a process has one mount). */
#define CACHE_SLOTS 256
static struct {
	pthread_mutex_t lock;
	uint64_t tick;
	struct entry slots[CACHE_SLOTS];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* json-c builds a whole state in memory (stateinfo bounds one such tree): one parse at a
 * time keeps that the mount's peak, not one per FUSE thread. */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

/* Copies the entry of ino at etag into *out. Returns whether there is one. */
static bool cache_find(uint64_t ino, const char *etag, struct entry *out)
{
	bool found = false;
	pthread_mutex_lock(&cache.lock);
	for (size_t i = 0; i < CACHE_SLOTS && !found; i++) {
		struct entry *e = &cache.slots[i];
		if (e->ino == ino && strcmp(e->etag, etag) == 0) {
			e->used = ++cache.tick;
			*out = *e;
			found = true;
		}
	}
	pthread_mutex_unlock(&cache.lock);
	return found;
}

/* Keeps e in place of ino's older version, else of the least recently used entry. */
static void cache_put(const struct entry *e)
{
	pthread_mutex_lock(&cache.lock);
	struct entry *slot = &cache.slots[0];
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct entry *s = &cache.slots[i];
		if (s->ino == e->ino) {
			slot = s;
			break;
		}
		if (s->used < slot->used)
			slot = s;
	}
	*slot = *e;
	slot->used = ++cache.tick;
	pthread_mutex_unlock(&cache.lock);
}

/* Parses a version's bytes into e; one that is not a state keeps no user.tfstate.*. */
static void parse_into(const char *key, const char *data, size_t len, struct entry *e)
{
	char why[160];
	pthread_mutex_lock(&parse_lock);
	int rc = stateinfo_parse(data, len, &e->info, why, sizeof(why));
	pthread_mutex_unlock(&parse_lock);
	if (rc < 0)
		log_debug("%s (ETag %s): no user.tfstate.* attributes: %s", key, e->etag, why);
}

/* Reads file ino (key, listed at size) with one GET of at most what stateinfo parses; of
 * a bigger state, which is not parsed anyway, its first byte: the GET says its version.
 * The tree learns the version read. */
static int read_state(struct tfs *fs, uint64_t ino, const char *key, uint64_t size,
                      struct entry *e)
{
	char *data = NULL;
	size_t len = 0;
	struct store_object_info info;
	struct store_error err;
	uint64_t want = size > STATEINFO_MAX_BYTES ? 1 : STATEINFO_MAX_BYTES + 1;
	struct store_range range = { .key = key, .len = want };
	int rc = store_get(fs->store, &range, &data, &len, &info, &err);
	if (rc < 0)
		return reader_get_failed(key, rc, &err);
	if (info.etag[0]) {     /* none for an empty object (a range past its end) */
		tree_file_update(fs->tree, ino, info.size, info.mtime, info.etag);
		memcpy(e->etag, info.etag, sizeof(e->etag));
		e->mtime = info.mtime ? info.mtime : e->mtime;
		memcpy(e->version_id, info.version_id, sizeof(e->version_id));
	}
	if (info.size > STATEINFO_MAX_BYTES)
		log_debug("%s: no user.tfstate.* attributes: larger than %u MiB", key,
		          STATEINFO_MAX_BYTES >> 20);
	else
		parse_into(key, data, len, e);
	free(data);
	return 0;
}

/* What the attributes of state file ino show: the version listed, and when read is set,
 * that version's fields, found in the cache or read now. */
static int state_view(struct tfs *fs, uint64_t ino, const struct tree_attr *a, bool read,
                      struct entry *e)
{
	char etag[130];
	int rc = tree_file_etag(fs->tree, ino, etag);
	if (rc < 0 || (read && cache_find(ino, etag, e)))
		return rc;
	*e = (struct entry){ .ino = ino, .mtime = a->mtime };
	memcpy(e->etag, etag, sizeof(e->etag));
	if (!read)
		return 0;
	char *key = NULL;
	rc = tree_file_key(fs->tree, ino, &key);
	if (rc == 0)
		rc = read_state(fs, ino, key, a->size, e);
	if (rc == 0)
		cache_put(e);
	free(key);
	return rc;
}

/* ---- the names: one getter each ---- */

/* s when it is not empty. */
static int text(struct xattr_value *v, const char *s)
{
	v->data = s;
	v->len = strlen(s);
	return *s ? 0 : -ENODATA;
}

__attribute__((format(printf, 2, 3)))
static int put(struct xattr_value *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v->buf, sizeof(v->buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(v->buf))
		return -ENODATA;
	v->data = v->buf;
	v->len = (size_t)n;
	return 0;
}

static int state_serial(const struct xattr_file *f, struct xattr_value *v)
{
	return f->info->has_serial ? put(v, "%" PRIu64, f->info->serial) : -ENODATA;
}

static int state_lineage(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->info->lineage);
}

static int state_terraform_version(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->info->terraform_version);
}

static int state_resources(const struct xattr_file *f, struct xattr_value *v)
{
	return f->info->has_resources ? put(v, "%zu", f->info->resources) : -ENODATA;
}

/* OpenTofu's encryption_version, or "yes" when it gives none. */
static int state_encrypted(const struct xattr_file *f, struct xattr_value *v)
{
	const struct stateinfo *si = f->info;
	if (!si->encrypted)
		return -ENODATA;
	return text(v, si->encryption_version[0] ? si->encryption_version : "yes");
}

/* The ETag as S3 gives it, without its quotes. */
static int s3_etag(const struct xattr_file *f, struct xattr_value *v)
{
	size_t len = strlen(f->etag);
	if (len < 2 || f->etag[0] != '"' || f->etag[len - 1] != '"')
		return text(v, f->etag);
	v->data = f->etag + 1;
	v->len = len - 2;
	return v->len ? 0 : -ENODATA;
}

static int s3_version_id(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->version_id);
}

static int s3_last_modified(const struct xattr_file *f, struct xattr_value *v)
{
	struct tm tm;
	if (!gmtime_r(&f->mtime, &tm))
		return -ENODATA;
	v->data = v->buf;
	v->len = strftime(v->buf, sizeof(v->buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

/* The raw object, read apart: a listing does not read it, as every lock has one. */
static int lock_json(const struct xattr_file *f, struct xattr_value *v)
{
	v->data = f->json ? f->json : "";
	v->len = f->json ? f->json_len : 0;
	return 0;
}

static int lock_id(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->lock->id);
}

static int lock_who(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->lock->who);
}

static int lock_operation(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->lock->operation);
}

static int lock_created(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->lock->created);
}

static int lock_backend(const struct xattr_file *f, struct xattr_value *v)
{
	return text(v, f->lock->backend);
}

/* In listing order. A state's names that do not read come from the listing, so that
 * asking for them costs no request. */
const struct xattr_row xattr_table[] = {
	{ "user.tfstate.serial", XATTR_STATE, true, state_serial },
	{ "user.tfstate.lineage", XATTR_STATE, true, state_lineage },
	{ "user.tfstate.terraform_version", XATTR_STATE, true, state_terraform_version },
	{ "user.tfstate.resources", XATTR_STATE, true, state_resources },
	{ "user.tfstate.encrypted", XATTR_STATE, true, state_encrypted },
	{ "user.s3.etag", XATTR_STATE, false, s3_etag },
	{ "user.s3.version_id", XATTR_STATE, true, s3_version_id },
	{ "user.s3.last_modified", XATTR_STATE, false, s3_last_modified },
	{ "user.tflock.json", XATTR_LOCK, true, lock_json },
	{ "user.tflock.id", XATTR_LOCK, false, lock_id },
	{ "user.tflock.who", XATTR_LOCK, false, lock_who },
	{ "user.tflock.operation", XATTR_LOCK, false, lock_operation },
	{ "user.tflock.created", XATTR_LOCK, false, lock_created },
	{ "user.tflock.backend", XATTR_LOCK, false, lock_backend },
};
#define NXATTR (sizeof(xattr_table) / sizeof(xattr_table[0]))
const size_t xattr_count = NXATTR;

/* ---- a file's values ---- */

/* What one file's values are made of, and what was fetched for them (owned). */
struct source {
	struct xattr_file f;
	struct entry state;
	struct histfs_version version;  /* a file of /.tfstatefs/history/ */
	struct lock_shown lock;
	char *json;
};

/* Fetches what the names of a file of kind need: a state's version, with (read) what its
 * bytes say; a lock's fields, or (read) its raw JSON. */
static int source_load(struct tfs *fs, uint64_t ino, const struct tree_attr *a, unsigned kind,
                       bool read, struct source *s)
{
	memset(s, 0, sizeof(*s));
	int rc;
	if (kind == XATTR_STATE && (ino & HISTFS_INO_BIT)) {
		/* An old version: what its listing and its bytes say, never changing. */
		static const struct stateinfo unread;
		rc = histfs_version_of(fs->histfs, ino, &s->version);
		s->f.etag = s->version.etag;
		s->f.mtime = (time_t)(s->version.mtime_ms / 1000);
		s->f.version_id = s->version.version_id;
		s->f.info = s->version.facts && s->version.facts->read ? &s->version.facts->state
		                                                        : &unread;
	} else if (kind == XATTR_STATE) {
		rc = state_view(fs, ino, a, read, &s->state);
		s->f.etag = s->state.etag;
		s->f.mtime = s->state.mtime;
		s->f.version_id = s->state.version_id;
		s->f.info = &s->state.info;
	} else if (read) {
		rc = tree_lock_raw(fs->tree, ino, &s->json, &s->f.json_len);
		s->f.json = s->json;
	} else {
		rc = tree_lock_fields(fs->tree, ino, &s->lock);
		s->f.lock = &s->lock;
	}
	return rc;
}

static void source_free(struct source *s)
{
	lock_shown_clear(&s->lock);
	free(s->json);
}

/* A list of names, NUL after each. */
struct names {
	char buf[XATTR_NAMES_MAX];
	size_t len;
};

static void add_name(struct names *l, const char *name)
{
	size_t n = strlen(name) + 1;
	memcpy(l->buf + l->len, name, n);
	l->len += n;
}

static int names_out(const struct names *l, char **out, size_t *len)
{
	*len = l->len;
	*out = l->len ? memdup_nul(l->buf, l->len) : NULL;
	return !l->len || *out ? 0 : -ENOMEM;
}

/* States are the files that are neither lock files nor the reports of /.tfstatefs. */
static bool is_state(const struct tree_attr *a)
{
	return !a->is_dir && !a->is_lock && !a->virt;
}

/* Which rows apply to the file: XATTR_STATE, XATTR_LOCK, or 0 (none). */
static unsigned kind_of(const struct tree_attr *a)
{
	return a->is_lock ? XATTR_LOCK : is_state(a) ? XATTR_STATE : 0;
}

/* A file's attributes and the kind of names it has: a state's, a lock's, none. A version
 * in /.tfstatefs/history/ has a state's; its index and locks have none. */
static unsigned file_kind(struct tfs *fs, uint64_t ino, struct tree_attr *a, int *rc)
{
	if (!(ino & HISTFS_INO_BIT)) {
		*rc = tree_getattr(fs->tree, ino, a);
		return *rc < 0 ? 0 : kind_of(a);
	}
	*rc = histfs_getattr(fs->histfs, ino, a);
	return *rc == 0 && histfs_is_version(fs->histfs, ino) ? XATTR_STATE : 0;
}

int xattr_list(struct tfs *fs, uint64_t ino, char **names, size_t *len)
{
	struct tree_attr a;
	int rc;
	unsigned kind = file_kind(fs, ino, &a, &rc);
	*names = NULL;
	*len = 0;
	if (!kind)
		return rc;
	/* Most of a state's names need its bytes; a lock's fields say which names it has. */
	struct source s;
	rc = source_load(fs, ino, &a, kind, kind == XATTR_STATE, &s);
	struct names l = { .len = 0 };
	for (size_t i = 0; i < NXATTR && rc == 0; i++) {
		struct xattr_value v;
		if ((xattr_table[i].files & kind) && xattr_table[i].get(&s.f, &v) == 0)
			add_name(&l, xattr_table[i].name);
	}
	source_free(&s);
	return rc < 0 ? rc : names_out(&l, names, len);
}

int xattr_get(struct tfs *fs, uint64_t ino, const char *name, char **value, size_t *len)
{
	struct tree_attr a;
	int rc;
	unsigned kind = file_kind(fs, ino, &a, &rc);
	*value = NULL;
	*len = 0;
	if (rc < 0)
		return rc;
	const struct xattr_row *row = NULL;
	for (size_t i = 0; i < NXATTR && !row; i++)
		if ((xattr_table[i].files & kind) && strcmp(xattr_table[i].name, name) == 0)
			row = &xattr_table[i];
	if (!row)
		return -ENODATA;
	struct source s;
	struct xattr_value v;
	rc = source_load(fs, ino, &a, kind, row->read, &s);
	if (rc == 0)
		rc = row->get(&s.f, &v);
	if (rc == 0 && !(*value = memdup_nul(v.data, v.len)))
		rc = -ENOMEM;
	if (rc == 0)
		*len = v.len;
	source_free(&s);
	return rc;
}
