/* What old versions say: the fields of a state version (serial, lineage, Terraform
 * version) and of a lock version (ID, Who, Operation, Version), read once each with a GET
 * by versionId, a few at a time, and kept: a version never changes. */
#ifndef TFS_FS_VREAD_H
#define TFS_FS_VREAD_H
#include <stdbool.h>
#include <stddef.h>
#include "fs/stateinfo.h"
#include "store/store.h"

/* How many GETs run at once when many versions are read. */
#define VREAD_THREADS 8

/* What one version says. Strings owned by the cache, valid while it lives. */
struct vfacts {
	bool read;              /* its bytes were read and understood */
	/* a state version */
	struct stateinfo state;
	/* a lock version */
	const char *id, *who, *operation, *version;
};

/* One version to read: in, key and version_id (borrowed) and whether it is a lock; out,
 * its facts (borrowed from the cache), or NULL when it could not be read. */
struct vread_job {
	const char *key;
	const char *version_id;
	bool is_lock;
	const struct vfacts *facts;
};

struct vread;

/* store is borrowed. Returns 0 or -ENOMEM. */
int vread_new(struct store *store, struct vread **out);
void vread_free(struct vread *vr);

/* Fills every job's facts: from the cache, else by a GET of that version (a state's first
 * STATEINFO_MAX_BYTES at most, as its xattrs read it), VREAD_THREADS at a time. A version
 * that cannot be read is logged and left NULL (a later call tries again). Returns 0 or
 * -ENOMEM. */
int vread_all(struct vread *vr, struct vread_job *jobs, size_t n);

/* How many GETs it has sent, and how many versions it holds. */
void vread_counts(struct vread *vr, unsigned long long *gets, unsigned long long *held);
#endif
