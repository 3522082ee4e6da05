/* The mount's settings that fs/ reads: built once by mount/ before the mount serves,
 * read-only after, and passed by pointer to each part that needs them. */
#ifndef TFS_FS_CONFIG_H
#define TFS_FS_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who may unlock, and when. */
struct unlock_policy {
	bool off;               /* -o unlock=off or -o ro: every unlock refused (EROFS) */
	bool create;            /* -o lock_create: writing a .tflock file takes a lock */
	double min_age_s;       /* -o unlock_min_age: younger locks refused (EPERM) */
	uid_t owner;            /* who mounted: may unlock */
	bool has_unlock_gid;    /* -o unlock_gid: members of this group may unlock too */
	gid_t unlock_gid;
	bool delete_unguarded;  /* -o check_store found that the store ignores If-Match on
	                         * DeleteObject: each unlock's audit says the re-read before
	                         * the delete was the only guard */
};

struct tfs_config {
	/* How long what the mount knows stays fresh, in seconds. */
	double cache_ttl;       /* a directory's listing (and the subtree it covered), a name,
	                         * its attributes */
	double lock_ttl;        /* a lock file asked for by name, and the absence of a name */
	double lock_list_ttl;   /* which lock files readdir shows: a directory's lock objects
	                         * and the lock table's items are listed again when older */
	uid_t uid;              /* owner of every file */
	gid_t gid;
	mode_t umask;           /* directories 0777 & ~umask, files 0444 & ~umask */
	struct unlock_policy unlock;
	const char *status;     /* /.tfstatefs/status: the settings, "name\tvalue" lines */
	/* How the credentials' renewal goes ("ok", or why it fails), for the status line
	 * credentials_status; NULL: not shown. mount/ sets it, as fs/ knows no AWS. */
	void (*credentials_health)(void *ctx, char *buf, size_t len);
	void *credentials_ctx;
	double watch_interval;  /* seconds between the looks of /.tfstatefs/events */
	const char *events_log; /* -o events_log=FILE: its JSON lines, polling always; or NULL */
};
#endif
