/* Extended attributes: named fields of states and locks, and the cache of states read. */
#include "fs/xattr.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/fs.h"
#include "fs/stateinfo.h"
#include "s3/log.h"
#include "s3/memdup.h"

#define NAMES_MAX 512           /* every name of one file, NUL-terminated, fits */
#define VALUE_MAX 320           /* every value but a lock's JSON fits */

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
	int rc = store_get(fs->store, key, 0, want, NULL, &data, &len, &info, &err);
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

/* ---- state files ---- */

/* A state's names, and whether their values need the state's bytes: the others come from
 * the listing, so that asking for them costs nothing. */
static const struct {
	const char *name;
	bool read;
} state_names[] = {
	{ "user.tfstate.serial", true },
	{ "user.tfstate.lineage", true },
	{ "user.tfstate.terraform_version", true },
	{ "user.tfstate.resources", true },
	{ "user.tfstate.encrypted", true },
	{ "user.s3.etag", false },
	{ "user.s3.version_id", true },
	{ "user.s3.last_modified", false },
};
#define NSTATE (sizeof(state_names) / sizeof(state_names[0]))

/* s when it is not empty, into buf; its length or -ENODATA. */
static int text(char *buf, size_t room, const char *s)
{
	return *s ? snprintf(buf, room, "%s", s) : -ENODATA;
}

/* The ETag as S3 gives it, without its quotes. */
static int unquoted(char *buf, size_t room, const char *etag)
{
	size_t len = strlen(etag);
	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
		return len > 2 ? snprintf(buf, room, "%.*s", (int)(len - 2), etag + 1) : -ENODATA;
	return text(buf, room, etag);
}

static int iso8601(char *buf, size_t room, time_t t)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -ENODATA;
	return (int)strftime(buf, room, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Value i of state_names into buf (VALUE_MAX bytes): its length, or -ENODATA. */
static int state_value(const struct entry *e, size_t i, char *buf, size_t room)
{
	const struct stateinfo *si = &e->info;
	switch (i) {
	case 0: return si->has_serial ? snprintf(buf, room, "%" PRIu64, si->serial) : -ENODATA;
	case 1: return text(buf, room, si->lineage);
	case 2: return text(buf, room, si->terraform_version);
	case 3: return si->has_resources ? snprintf(buf, room, "%zu", si->resources) : -ENODATA;
	case 4: return !si->encrypted ? -ENODATA
	               : text(buf, room, si->encryption_version[0] ? si->encryption_version : "yes");
	case 5: return unquoted(buf, room, e->etag);
	case 6: return text(buf, room, e->version_id);
	case 7: return iso8601(buf, room, e->mtime);
	}
	return -ENODATA;
}

/* ---- lock files ---- */

#define LOCK_JSON "user.tflock.json"

static const char *const lock_names[] = {
	LOCK_JSON, "user.tflock.id", "user.tflock.who", "user.tflock.operation",
	"user.tflock.created", "user.tflock.backend",
};
#define NLOCK (sizeof(lock_names) / sizeof(lock_names[0]))

/* Value i of lock_names as the file shows it ("" when it shows none); NULL for the JSON,
 * which is the raw object, read apart. */
static const char *lock_value(const struct lock_shown *s, size_t i)
{
	const char *v[NLOCK] = { NULL, s->id, s->who, s->operation, s->created, s->backend };
	return v[i];
}

/* ---- both ---- */

/* A list of names, NUL after each. */
struct names {
	char buf[NAMES_MAX];
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

static int list_state(struct tfs *fs, uint64_t ino, const struct tree_attr *a, char **out,
                      size_t *len)
{
	struct entry v;
	int rc = state_view(fs, ino, a, true, &v);
	if (rc < 0)
		return rc;
	struct names l = { .len = 0 };
	char buf[VALUE_MAX];
	for (size_t i = 0; i < NSTATE; i++)
		if (state_value(&v, i, buf, sizeof(buf)) >= 0)
			add_name(&l, state_names[i].name);
	return names_out(&l, out, len);
}

static int get_state(struct tfs *fs, uint64_t ino, const struct tree_attr *a, const char *name,
                     char **value, size_t *len)
{
	size_t i = 0;
	while (i < NSTATE && strcmp(state_names[i].name, name) != 0)
		i++;
	struct entry v;
	int rc = i == NSTATE ? -ENODATA : state_view(fs, ino, a, state_names[i].read, &v);
	char buf[VALUE_MAX];
	if (rc == 0)
		rc = state_value(&v, i, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	*len = (size_t)rc;
	*value = memdup_nul(buf, *len);
	return *value ? 0 : -ENOMEM;
}

static int list_lock(struct tfs *fs, uint64_t ino, char **out, size_t *len)
{
	struct lock_shown s;
	int rc = tree_lock_fields(fs->tree, ino, &s);
	if (rc < 0)
		return rc;
	struct names l = { .len = 0 };
	add_name(&l, LOCK_JSON);
	for (size_t i = 1; i < NLOCK; i++)
		if (*lock_value(&s, i))
			add_name(&l, lock_names[i]);
	lock_shown_clear(&s);
	return names_out(&l, out, len);
}

static int get_lock(struct tfs *fs, uint64_t ino, const char *name, char **value, size_t *len)
{
	size_t i = 0;
	while (i < NLOCK && strcmp(lock_names[i], name) != 0)
		i++;
	if (i == NLOCK)
		return -ENODATA;
	if (i == 0)
		return tree_lock_raw(fs->tree, ino, value, len);
	struct lock_shown s;
	int rc = tree_lock_fields(fs->tree, ino, &s);
	if (rc < 0)
		return rc;
	const char *v = lock_value(&s, i);
	*len = strlen(v);
	*value = *len ? strdup(v) : NULL;
	rc = !*len ? -ENODATA : !*value ? -ENOMEM : 0;
	lock_shown_clear(&s);
	return rc;
}

/* States are the files that are neither lock files nor the reports of /.tfstatefs. */
static bool is_state(const struct tree_attr *a)
{
	return !a->is_dir && !a->is_lock && !a->virt;
}

int xattr_list(struct tfs *fs, uint64_t ino, char **names, size_t *len)
{
	struct tree_attr a;
	int rc = tree_getattr(fs->tree, ino, &a);
	*names = NULL;
	*len = 0;
	if (rc < 0)
		return rc;
	if (a.is_lock)
		return list_lock(fs, ino, names, len);
	return is_state(&a) ? list_state(fs, ino, &a, names, len) : 0;
}

int xattr_get(struct tfs *fs, uint64_t ino, const char *name, char **value, size_t *len)
{
	struct tree_attr a;
	int rc = tree_getattr(fs->tree, ino, &a);
	*value = NULL;
	*len = 0;
	if (rc < 0)
		return rc;
	if (a.is_lock)
		return get_lock(fs, ino, name, value, len);
	return is_state(&a) ? get_state(fs, ino, &a, name, value, len) : -ENODATA;
}
