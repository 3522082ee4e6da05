/* Know your store (check.h): each probe sends one condition the way tfstatefs or Terraform
 * sends it, on a canary, and reads back what the store did. */
#include "store/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define WRONG_ETAG "\"00000000000000000000000000000000\""

struct probe {
	const struct check_target *t;
	struct store_check *c;
	char key[200];          /* the canary the S3 probes share */
	char etag[STORE_ETAG_MAX];
	bool ranged_key, odd_key;   /* the other canaries, once written */
};

static void say(struct probe *p, const char *name, bool required, enum check_verdict v,
                const char *fmt, ...)
{
	if (p->c->n == CHECK_MAX_RESULTS)
		return;
	struct check_result *r = &p->c->results[p->c->n++];
	*r = (struct check_result){ .name = name, .verdict = v, .required = required };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Writes data at key unless something is there; 0, or the errno (why in err). */
static int put_new(struct probe *p, const char *key, const char *data, char *etag,
                   struct store_error *err)
{
	char ignored[STORE_ETAG_MAX];
	struct store_put put = { .key = key, .data = data, .len = strlen(data),
	                         .content_type = "text/plain", .if_none_match = true };
	return store_put_if(p->t->store, &put, etag ? etag : ignored, err);
}

/* Writes over the canary if its ETag is if_match; 0 (p->etag is then the new one), or the
 * errno (why in err). */
static int put_replace(struct probe *p, const char *if_match, struct store_error *err)
{
	char etag[STORE_ETAG_MAX];
	struct store_put put = { .key = p->key, .data = "canary: replaced", .len = 16,
	                         .content_type = "text/plain", .if_match = if_match };
	int rc = store_put_if(p->t->store, &put, etag, err);
	if (rc == 0)
		snprintf(p->etag, sizeof(p->etag), "%s", etag);
	return rc;
}

/* Is key there (with its ETag into etag when so)? -ENOENT, 0, or another errno. */
static int look(struct probe *p, const char *key, char etag[STORE_ETAG_MAX])
{
	char *data = NULL;
	size_t len = 0;
	struct store_object_info info = { 0 };
	struct store_error err;
	struct store_range r = { .key = key };
	int rc = store_get(p->t->store, &r, &data, &len, &info, &err);
	free(data);
	if (rc == 0 && etag)
		snprintf(etag, STORE_ETAG_MAX, "%s", info.etag);
	return rc;
}

/* PutObject If-None-Match: * on the canary, which exists: Terraform's lockfile. */
static void probe_if_none_match(struct probe *p)
{
	struct store_error err;
	char etag[STORE_ETAG_MAX];
	int rc = put_new(p, p->key, "canary: written over", etag, &err);
	if (rc == -EEXIST) {
		say(p, "check_put_if_none_match", true, CHECK_OK, "PutObject If-None-Match: * on an "
		    "existing key: 412. Terraform's S3 lockfile (use_lockfile) locks on this store.");
	} else if (rc == 0) {
		snprintf(p->etag, sizeof(p->etag), "%s", etag);
		say(p, "check_put_if_none_match", true, CHECK_FAILED, "PutObject If-None-Match: * on an "
		    "existing key: written over. The store ignores If-None-Match: Terraform's S3 "
		    "lockfile (use_lockfile) does NOT lock here; two runs can both take the lock. Lock "
		    "with a DynamoDB table (dynamodb_table) until the store honours it.");
	} else {
		char why[384];
		store_error_describe(&err, why, sizeof(why));
		say(p, "check_put_if_none_match", true, CHECK_FAILED, "PutObject If-None-Match: * on an "
		    "existing key: %s. Terraform's S3 lockfile may not lock here.", why);
	}
}

/* PutObject If-Match with the canary's own ETag: -o lock_create writes a lock it made so
 * (radosgw refuses it on a versioned bucket). */
static void probe_put_if_match_right(struct probe *p)
{
	struct store_error err;
	int rc = put_replace(p, p->etag, &err);
	char why[384];
	store_error_describe(&err, why, sizeof(why));
	say(p, "check_put_if_match_right", true, rc == 0 ? CHECK_OK : CHECK_FAILED,
	    "PutObject If-Match with the right ETag: %s.", rc == 0 ? "written. A lock made with "
	    "-o lock_create can be written again while it is the one made" : rc == -ECANCELED ?
	    "412: the store refuses it; -o lock_create's writes to a lock it made fail (EBUSY)" :
	    why);
}

/* PutObject If-Match with a wrong ETag: -o lock_create's replace, a thaw's. True when the
 * store honoured it (then the right ETag is worth trying). */
static bool probe_put_if_match(struct probe *p)
{
	struct store_error err;
	int rc = put_replace(p, WRONG_ETAG, &err);
	if (rc == -ECANCELED) {
		say(p, "check_put_if_match", true, CHECK_OK, "PutObject If-Match with a wrong ETag: "
		    "412. A lock written with -o lock_create replaces only the lock it read.");
		return true;
	}
	char why[384];
	store_error_describe(&err, why, sizeof(why));
	say(p, "check_put_if_match", true, CHECK_FAILED, "PutObject If-Match with a wrong ETag: %s. "
	    "A lock written with -o lock_create could replace a lock that changed hands.",
	    rc == 0 ? "written over: the store ignores If-Match on PutObject" : why);
	return false;
}

/* DeleteObject If-Match with a wrong ETag, then with the right one: the guard's delete. */
static void probe_delete_if_match(struct probe *p)
{
	struct store_error err;
	int rc = store_delete_if(p->t->store, p->key, WRONG_ETAG, &err);
	int there = look(p, p->key, p->etag);
	if (rc == -ECANCELED && there == 0) {
		say(p, "check_delete_if_match", true, CHECK_OK, "DeleteObject If-Match with a wrong "
		    "ETag: 412, the object still there. The guard's delete is atomic: rm of a lock "
		    "file never removes a lock that changed hands.");
	} else if (there == -ENOENT) {
		p->c->delete_if_match_ignored = true;
		say(p, "check_delete_if_match", true, CHECK_FAILED, "DeleteObject If-Match with a wrong "
		    "ETag: deleted. The store ignores If-Match on DeleteObject: rm of a lock file reads "
		    "the lock again just before it deletes it, and that re-read is the only guard; a "
		    "lock taken between the two would be deleted (with -o check_store, each unlock's audit record says so).");
		put_new(p, p->key, "canary: again", p->etag, &err);
	} else {
		char why[384];
		store_error_describe(&err, why, sizeof(why));
		say(p, "check_delete_if_match", true, CHECK_FAILED, "DeleteObject If-Match with a wrong "
		    "ETag: %s. The guard's delete may not be atomic here.", why);
	}
	rc = store_delete_if(p->t->store, p->key, p->etag, &err);
	there = look(p, p->key, NULL);
	char why[384];
	store_error_describe(&err, why, sizeof(why));
	say(p, "check_delete_if_match_right", true, rc == 0 && there == -ENOENT ? CHECK_OK : CHECK_FAILED,
	    "DeleteObject If-Match with the right ETag: %s.", rc == 0 && there == -ENOENT ?
	    "deleted. rm of a lock file removes the lock it showed" : rc == 0 ? "answered, but the "
	    "object is still there" : why);
}

/* A ranged GET: states are read in chunks. Says whether the bytes came back. */
static bool probe_range(struct probe *p, const char *key)
{
	struct store_error err;
	int rc = put_new(p, key, "0123456789", NULL, &err);
	p->ranged_key = rc == 0;
	char *data = NULL;
	size_t len = 0;
	struct store_object_info info;
	struct store_range r = { .key = key, .offset = 2, .len = 3 };
	if (rc == 0)
		rc = store_get(p->t->store, &r, &data, &len, &info, &err);
	bool ok = rc == 0 && len == 3 && memcmp(data, "234", 3) == 0;
	free(data);
	char why[384];
	store_error_describe(&err, why, sizeof(why));
	say(p, "check_ranged_get", true, ok ? CHECK_OK : CHECK_FAILED, "GetObject with a Range: "
	    "%s.", ok ? "those bytes. States are read in chunks" : rc == 0 ? "other bytes: tfstatefs "
	    "refuses such reads (EIO) rather than show wrong ones" : why);
	return ok;
}

/* ListObjectsV2 encoding-type=url: a key with a byte XML cannot carry comes back whole. */
struct find_key {
	const char *key;
	bool found;
};

static int find_in_page(void *ctx, struct store_page *pg)
{
	struct find_key *f = ctx;
	for (size_t i = 0; i < pg->nobjects; i++)
		f->found |= pg->objects[i].key_len == strlen(f->key) &&
		            memcmp(pg->objects[i].key, f->key, pg->objects[i].key_len) == 0;
	store_page_free(pg);
	return 0;
}

static void probe_encoding(struct probe *p, const char *key)
{
	struct store_error err;
	int rc = put_new(p, key, "canary", NULL, &err);
	p->odd_key = rc == 0;
	if (rc < 0) {
		char why[384];
		store_error_describe(&err, why, sizeof(why));
		say(p, "check_encoding_type_url", false, CHECK_INFO, "a key with a control byte could "
		    "not be written (%s): encoding-type=url not tested.", why);
		return;
	}
	struct find_key f = { .key = key };
	char dir[sizeof(p->c->prefix)];
	snprintf(dir, sizeof(dir), "%s", p->c->prefix);
	rc = store_list_dir(p->t->store, dir, find_in_page, &f);
	say(p, "check_encoding_type_url", true, f.found ? CHECK_OK : CHECK_FAILED,
	    "ListObjectsV2 encoding-type=url: %s.", f.found ? "a key with a control byte came back "
	    "byte for byte" : rc < 0 ? "the listing failed (the store sent what XML cannot "
	    "carry)" : "a key with a control byte came back otherwise: such keys are listed wrong");
}

static void probe_versioning(struct probe *p)
{
	enum store_versioning v = STORE_VERSIONING_OFF;
	struct store_error err;
	int rc = store_versioning(p->t->store, &v, &err);
	char why[384];
	store_error_describe(&err, why, sizeof(why));
	say(p, "check_versioning", false, CHECK_INFO, "bucket versioning: %s.", rc < 0 ? why :
	    v == STORE_VERSIONING_ENABLED ? "enabled (/.tfstatefs/history shows every version; "
	    "deleted canaries leave versions)" : v == STORE_VERSIONING_SUSPENDED ? "suspended" :
	    "off (/.tfstatefs/history shows only the current versions)");
}

/* The table's PutItem attribute_not_exists(LockID) and DeleteItem on Info: Terraform's
 * DynamoDB lock and the guard's delete of it. */
static void probe_table(struct probe *p)
{
	struct table *tb = p->t->table;
	char id[320];
	snprintf(id, sizeof(id), "%s/%s", p->t->bucket, p->key);
	struct store_error err;
	int rc = table_put_if(tb, id, "canary", 6, NULL, 0, &err);
	if (rc < 0) {
		char why[384];
		store_error_describe(&err, why, sizeof(why));
		say(p, "check_dynamodb", true, CHECK_FAILED, "DynamoDB PutItem of a canary item: %s.",
		    why);
		return;
	}
	int again = table_put_if(tb, id, "canary 2", 8, NULL, 0, &err);
	say(p, "check_dynamodb_put_if_absent", true, again == -EEXIST ? CHECK_OK : CHECK_FAILED,
	    "DynamoDB PutItem attribute_not_exists(LockID) on an existing item: %s.",
	    again == -EEXIST ? "refused. Terraform's DynamoDB lock locks" :
	    "written over: Terraform's DynamoDB lock does NOT lock on this table");
	const char *info = again == 0 ? "canary 2" : "canary";
	int wrong = table_delete_if_info(tb, id, "other", 5, &err);
	say(p, "check_dynamodb_delete_if_info", true, wrong == -ECANCELED ? CHECK_OK : CHECK_FAILED,
	    "DynamoDB DeleteItem on a condition that does not hold: %s.", wrong == -ECANCELED ?
	    "refused. The guard's delete of a DynamoDB lock is atomic" : "deleted: the guard's "
	    "delete of a DynamoDB lock is not atomic here");
	if (wrong != 0)
		table_delete_if_info(tb, id, info, strlen(info), &err);
}

/* Removes what the probes left; says what a versioned bucket keeps. */
struct count_versions {
	size_t versions, markers;
	size_t skip;            /* the canaries' prefix, left out of the names */
	char which[768];        /* "canary 3 (delete marker), ..." */
};

static int count_page(void *ctx, struct store_version_page *pg)
{
	struct count_versions *n = ctx;
	for (size_t i = 0; i < pg->nversions; i++) {
		const struct store_version *v = &pg->versions[i];
		*(v->delete_marker ? &n->markers : &n->versions) += 1;
		size_t len = strlen(n->which);
		if (len + 1 < sizeof(n->which) && v->key_len > n->skip)
			snprintf(n->which + len, sizeof(n->which) - len, "%s%.*s %s%s", len ? ", " : "",
			         (int)(v->key_len - n->skip), v->key + n->skip, v->version_id,
			         v->delete_marker ? " (delete marker)" : "");
	}
	store_version_page_free(pg);
	return 0;
}

static void remove_canary(struct probe *p, const char *key, size_t *left)
{
	char etag[STORE_ETAG_MAX];
	struct store_error err;
	if (look(p, key, etag) == 0 && store_delete_if(p->t->store, key, etag, &err) < 0)
		(*left)++;
}

static void clean_up(struct probe *p, const char *ranged, const char *odd)
{
	size_t left = 0;
	remove_canary(p, p->key, &left);
	if (p->ranged_key)
		remove_canary(p, ranged, &left);
	if (p->odd_key)
		remove_canary(p, odd, &left);
	struct count_versions n = { .skip = strlen(p->c->prefix) };
	enum store_versioning v = STORE_VERSIONING_OFF;
	struct store_error err;
	if (store_versioning(p->t->store, &v, &err) == 0 && v != STORE_VERSIONING_OFF)
		store_list_versions(p->t->store, p->c->prefix, count_page, &n);
	p->c->canaries_left = left > 0;
	if (left)
		snprintf(p->c->leftovers, sizeof(p->c->leftovers), "%zu canary objects could not be "
		         "deleted: remove the keys under %s by hand (s3:DeleteObject).", left,
		         p->c->prefix);
	else if (n.versions || n.markers)
		snprintf(p->c->leftovers, sizeof(p->c->leftovers), "the canaries are deleted, but this "
		         "versioned bucket keeps %zu of their versions and %zu delete markers under %s "
		         "(key and version id: %s); removing them takes s3:DeleteObjectVersion (aws "
		         "s3api delete-object --key K --version-id V).", n.versions, n.markers,
		         p->c->prefix, n.which);
}

int store_check_run(const struct check_target *t, struct store_check *out)
{
	*out = (struct store_check){ 0 };
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	snprintf(out->prefix, sizeof(out->prefix), "%s" CHECK_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x/",
	         t->prefix, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	struct probe p = { .t = t, .c = out };
	char ranged[sizeof(out->prefix) + 16], odd[sizeof(out->prefix) + 16];
	snprintf(p.key, sizeof(p.key), "%scanary", out->prefix);
	snprintf(ranged, sizeof(ranged), "%sranged", out->prefix);
	snprintf(odd, sizeof(odd), "%sodd\x01 +%%key", out->prefix);
	struct store_error err;
	int rc = put_new(&p, p.key, "canary", p.etag, &err);
	if (rc < 0) {
		char why[384];
		store_error_describe(&err, why, sizeof(why));
		say(&p, "check_canary", true, CHECK_FAILED, "PutObject If-None-Match: * of a new canary "
		    "under %s: %s. %s", out->prefix, why, rc == -EACCES ? "The check needs "
		    "s3:PutObject there." : "The store refuses the conditional write Terraform's S3 "
		    "lockfile (use_lockfile) makes: it cannot lock here.");
	} else {
		probe_if_none_match(&p);
		if (probe_put_if_match(&p))
			probe_put_if_match_right(&p);
		probe_delete_if_match(&p);
		bool read_back = probe_range(&p, ranged);
		probe_encoding(&p, odd);
		say(&p, "check_sse_c", t->sse_c, !t->sse_c ? CHECK_SKIPPED : read_back ? CHECK_OK :
		    CHECK_FAILED, "SSE-C: %s.", !t->sse_c ? "no key given" : read_back ? "a canary "
		    "written with the key was read back with it" : "a canary written with the key "
		    "did not read back with it (above)");
	}
	probe_versioning(&p);
	out->table_probed = t->table != NULL;
	if (t->table)
		probe_table(&p);
	clean_up(&p, ranged, odd);
	return 0;
}

bool store_check_passed(const struct store_check *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->results[i].required && c->results[i].verdict == CHECK_FAILED)
			return false;
	return !c->canaries_left;
}

static const char *verdict_word(enum check_verdict v)
{
	return v == CHECK_OK ? "ok" : v == CHECK_FAILED ? "FAILED" : v == CHECK_INFO ? "info" : "skipped";
}

void store_check_print(const struct store_check *c, FILE *out)
{
	fprintf(out, "canaries under %s\n", c->prefix);
	for (size_t i = 0; i < c->n; i++)
		fprintf(out, "%-8s %s\n", verdict_word(c->results[i].verdict), c->results[i].text);
	fprintf(out, "%-8s %s\n", c->canaries_left ? "FAILED" : "ok",
	        c->leftovers[0] ? c->leftovers : "the canaries are removed: none is left.");
}

char *store_check_status(const struct store_check *c)
{
	size_t cap = 256 + sizeof(c->leftovers);
	for (size_t i = 0; i < c->n; i++)
		cap += strlen(c->results[i].name) + strlen(c->results[i].text) + 16;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t len = 0;
	for (size_t i = 0; i < c->n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\t%s: %s\n", c->results[i].name,
		                        verdict_word(c->results[i].verdict), c->results[i].text);
	len += (size_t)snprintf(s + len, cap - len, "check_canaries\t%s\n", c->leftovers[0] ?
	                        c->leftovers : "removed");
	snprintf(s + len, cap - len, "check_store\t%s\n", store_check_passed(c) ? "passed" : "FAILED");
	return s;
}

const char *store_check_permissions(const struct store_check *c)
{
	return c->table_probed ? "s3:PutObject, s3:GetObject, s3:DeleteObject, s3:ListBucket, "
	                  "s3:GetBucketVersioning, s3:ListBucketVersions on the canaries' prefix; "
	                  "dynamodb:PutItem, dynamodb:DeleteItem on the table"
	                : "s3:PutObject, s3:GetObject, s3:DeleteObject, s3:ListBucket, "
	                  "s3:GetBucketVersioning, s3:ListBucketVersions on the canaries' prefix";
}
