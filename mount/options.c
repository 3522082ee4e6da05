/* Command-line and -o options: the fuse_opt table, defaults, --help text. */
#define FUSE_USE_VERSION 314
#include "mount/options.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT(t, field, value) { t, offsetof(struct tfs_options, field), value }

enum { KEY_HELP, KEY_VERSION, KEY_RO, KEY_CHECK_STORE };

/* Option names follow Terraform's S3 backend where it has one. */
static const struct fuse_opt option_spec[] = {
	OPT("region=%s", region, 0),
	OPT("endpoint=%s", endpoint, 0),
	OPT("use_path_style", use_path_style, 1),
	OPT("profile=%s", profile, 0),
	OPT("workspace_key_prefix=%s", workspace_key_prefix, 0),
	OPT("ca_file=%s", ca_file, 0),
	OPT("sse_customer_key_file=%s", sse_customer_key_file, 0),
	OPT("role_arn=%s", role_arn, 0),
	OPT("sts_endpoint=%s", sts_endpoint, 0),
	OPT("dynamodb_table=%s", dynamodb_table, 0),
	OPT("dynamodb_endpoint=%s", dynamodb_endpoint, 0),
	OPT("cache_ttl=%lf", cache_ttl, 0),
	OPT("lock_ttl=%lf", lock_ttl, 0),
	OPT("lock_list_ttl=%lf", lock_list_ttl, 0),
	OPT("max_cache_mb=%u", max_cache_mb, 0),
	OPT("connect_timeout=%lf", connect_timeout, 0),
	OPT("stall_timeout=%lf", stall_timeout, 0),
	OPT("insecure_tls", insecure_tls, 1),
	OPT("unlock_min_age=%s", unlock_min_age, 0),
	OPT("unlock=%s", unlock, 0),
	OPT("lock_create", lock_create, 1),
	OPT("unlock_gid=%s", unlock_group, 0),
	OPT("audit_log=%s", audit_log, 0),
	OPT("events_log=%s", events_log, 0),
	OPT("watch_interval=%lf", watch_interval, 0),
	FUSE_OPT_KEY("ro", KEY_RO),
	OPT("uid=%u", uid, 0),
	OPT("gid=%u", gid, 0),
	OPT("umask=%o", umask, 0),
	OPT("debug_s3", debug_s3, 1),
	OPT("check_store", check_store, 1),
	FUSE_OPT_KEY("--check-store", KEY_CHECK_STORE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* Options of mount(8) and fstab(5) that say when, or by whom, to mount, not how:
	 * accepted and ignored, as libfuse would refuse them ("unknown option"). mount(8)
	 * keeps defaults, auto, noauto, comment= and x-* to itself and mount.fuse3 drops
	 * _netdev, nofail, user, nouser, users, auto and noauto, but tfstatefs run by hand,
	 * by another helper or with a copied fstab line gets them all. The atime flags are
	 * passed on by mount(8) as given; FUSE keeps no access times (S_NOATIME), so they
	 * mean nothing here. rw, dev, nodev, suid, nosuid, exec, noexec, atime, noatime and
	 * sync are not here: libfuse gives them to the kernel; ro is ours (above). x-* and
	 * X-* (x-systemd.automount, X-mount.mkdir...) are matched in option_proc. */
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("relatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("norelatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("strictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nostrictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("diratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nodiratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("lazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nolazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

/* The first plain argument is the bucket; libfuse keeps the rest (the mount point). */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct tfs_options *opts = data;
	(void)outargs;
	switch (key) {
	case KEY_HELP:
		opts->show_help = 1;
		return 0;
	case KEY_VERSION:
		opts->show_version = 1;
		return 0;
	case KEY_RO:
		opts->read_only = 1;
		return 0;
	case KEY_CHECK_STORE:
		opts->check_store_only = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!opts->source) {
			opts->source = strdup(arg);
			return opts->source ? 0 : -1;
		}
		return 1;
	case FUSE_OPT_KEY_OPT:
		/* fstab's x-* and X-* options (x-systemd.automount, x-systemd.requires=...):
		 * for systemd and mount(8), ignored here like the keys above. */
		return (arg[0] == 'x' || arg[0] == 'X') && arg[1] == '-' ? 0 : 1;
	default:
		return 1;
	}
}

/* "90", "90s", "15m", "2h", "1d" -> seconds. Returns 0 or -1. */
static int parse_duration(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	static const struct { char unit; double seconds; } units[] = {
		{ '\0', 1 }, { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	if (end == s || v < 0 || (*end && end[1]))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (*end == units[i].unit) {
			*out = v * units[i].seconds;
			return 0;
		}
	}
	return -1;
}

/* unlock_gid=GROUP: a group name, or a number. */
static int resolve_unlock_group(struct tfs_options *opts)
{
	if (!opts->unlock_group)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(opts->unlock_group, &end, 10);
	if (*opts->unlock_group && !*end && !errno && n < OPTION_UNSET) {
		opts->unlock_gid = (unsigned)n;
		return 0;
	}
	struct group *g = getgrnam(opts->unlock_group);
	if (!g) {
		fprintf(stderr, "tfstatefs: unlock_gid=%s: no such group\n", opts->unlock_group);
		return -1;
	}
	opts->unlock_gid = (unsigned)g->gr_gid;
	return 0;
}

static int check_lock_options(struct tfs_options *opts)
{
	if (opts->lock_ttl < 0) {
		fprintf(stderr, "tfstatefs: lock_ttl must be 0 or more seconds\n");
		return -1;
	}
	if (opts->unlock_min_age && parse_duration(opts->unlock_min_age, &opts->min_age_s) < 0) {
		fprintf(stderr, "tfstatefs: unlock_min_age=%s is not a duration such as 90, 90s, 15m, 2h or 1d\n",
		        opts->unlock_min_age);
		return -1;
	}
	if (opts->unlock && strcmp(opts->unlock, "on") != 0 && strcmp(opts->unlock, "off") != 0) {
		fprintf(stderr, "tfstatefs: unlock=%s: say unlock=on or unlock=off\n", opts->unlock);
		return -1;
	}
	return resolve_unlock_group(opts);
}

/* "bucket", "bucket:/prefix", "bucket:prefix" or "s3://bucket/prefix". */
static int split_source(struct tfs_options *opts)
{
	const char *s = opts->source;
	size_t blen;
	const char *rest;
	if (strncmp(s, "s3://", 5) == 0) {
		s += 5;
		blen = strcspn(s, "/");
		rest = s[blen] ? s + blen + 1 : "";
	} else {
		blen = strcspn(s, ":");
		rest = s[blen] ? s + blen + 1 : "";
	}
	opts->bucket = strndup(s, blen);
	opts->prefix = strdup(rest);
	if (!opts->bucket || !opts->prefix)
		return -1;
	if (blen == 0 || strpbrk(opts->bucket, "/ \t\\")) {
		fprintf(stderr, "tfstatefs: '%s' is not a bucket name: expected BUCKET or BUCKET:/PREFIX\n",
		        opts->source);
		return -1;
	}
	return 0;
}

int options_parse(struct fuse_args *args, struct tfs_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->cache_ttl = 30;
	opts->lock_ttl = 1;
	opts->lock_list_ttl = -1;
	opts->max_cache_mb = 64;
	opts->connect_timeout = 10;
	opts->stall_timeout = 30;
	opts->uid = OPTION_UNSET;
	opts->gid = OPTION_UNSET;
	opts->unlock_gid = OPTION_UNSET;
	opts->umask = 022;
	opts->watch_interval = 5;
	if (fuse_opt_parse(args, opts, option_spec, option_proc) == -1)
		return -1;
	if (opts->show_help || opts->show_version)
		return 0;
	if (!opts->source) {
		fprintf(stderr, "tfstatefs: no bucket given\nusage: tfstatefs BUCKET[:/PREFIX] MOUNTPOINT [-o OPTIONS]\n"
		        "       tfstatefs --check-store BUCKET[:/PREFIX] [-o OPTIONS]\n");
		return -1;
	}
	if (opts->cache_ttl < 0) {
		fprintf(stderr, "tfstatefs: cache_ttl must be 0 or more seconds\n");
		return -1;
	}
	if (opts->connect_timeout < 1 || opts->stall_timeout < 1) {
		fprintf(stderr, "tfstatefs: connect_timeout and stall_timeout must be 1 second or more\n");
		return -1;
	}
	if (opts->max_cache_mb < 1 || opts->max_cache_mb > 1u << 20) {
		fprintf(stderr, "tfstatefs: max_cache_mb must be from 1 to 1048576 (MB)\n");
		return -1;
	}
	if (!(opts->watch_interval >= 0.1 && opts->watch_interval <= 86400)) {
		fprintf(stderr, "tfstatefs: watch_interval must be from 0.1 to 86400 seconds\n");
		return -1;
	}
	if (check_lock_options(opts) < 0)
		return -1;
	/* A warm find or ls -R costs no request: readdir trusts lock files as long as the
	 * rest of the listing, unless told otherwise. */
	if (opts->lock_list_ttl < 0)
		opts->lock_list_ttl = opts->cache_ttl;
	return split_source(opts);
}

void options_free(struct tfs_options *opts)
{
	free(opts->source);
	free(opts->bucket);
	free(opts->prefix);
	free(opts->region);
	free(opts->endpoint);
	free(opts->profile);
	free(opts->workspace_key_prefix);
	free(opts->ca_file);
	free(opts->sse_customer_key_file);
	free(opts->role_arn);
	free(opts->unlock_group);
	free(opts->sts_endpoint);
	free(opts->dynamodb_table);
	free(opts->dynamodb_endpoint);
	free(opts->unlock_min_age);
	free(opts->unlock);
	free(opts->audit_log);
	free(opts->events_log);
}

void options_print_help(const char *progname)
{
	printf("usage: %s BUCKET[:/PREFIX] MOUNTPOINT [-o OPTION,...]    mounts a state bucket\n"
	       "       %s --check-store BUCKET[:/PREFIX] [-o OPTION,...]  tests the store, no mount\n"
	       "\n"
	       "S3 (names as in Terraform's S3 backend):\n"
	       "  -o region=NAME             bucket region (else AWS_REGION, AWS_DEFAULT_REGION, profile)\n"
	       "  -o endpoint=URL            S3 endpoint, e.g. http://127.0.0.1:7480 (else AWS's)\n"
	       "  -o use_path_style          bucket in the URL path, not the host name\n"
	       "  -o profile=NAME            profile of ~/.aws/credentials and ~/.aws/config\n"
	       "  -o role_arn=ARN,sts_endpoint=URL  assume a role with what the chain finds\n"
	       "  -o workspace_key_prefix=P  where workspaces live (default env:)\n"
	       "  -o ca_file=PATH            extra CA bundle for HTTPS (-o insecure_tls: no checks)\n"
	       "  -o connect_timeout=S,stall_timeout=S  give up connecting, stalled (10, 30)\n"
	       "  -o sse_customer_key_file=PATH  SSE-C key, base64 (else AWS_SSE_CUSTOMER_KEY)\n"
	       "  -o dynamodb_table=NAME     also show and unlock this lock table's locks\n"
	       "  -o dynamodb_endpoint=URL   its endpoint (else AWS_ENDPOINT_URL_DYNAMODB, AWS's)\n"
	       "\n"
	       "Files:\n"
	       "  -o cache_ttl=SECONDS       how long listings are trusted (default 30)\n"
	       "  -o lock_ttl=SECONDS        how long a .tflock file is trusted (default 1)\n"
	       "  -o lock_list_ttl=SECONDS   how long ls trusts which locks exist (cache_ttl)\n"
	       "  -o max_cache_mb=N          memory for states being read (default 64)\n"
	       "  -o uid=N,gid=N,umask=OCTAL owner and modes (default: yours, 022)\n"
	       "\n"
	       "Unlocking (rm of a .tflock file):\n"
	       "  -o unlock_min_age=DURATION refuse locks younger than this (90s, 15m, 2h, 1d)\n"
	       "  -o unlock=off, -o ro       refuse every unlock (and every lock_create)\n"
	       "  -o unlock_gid=GROUP        this group may unlock too (else the owner only)\n"
	       "  -o lock_create             writing a .tflock file takes a lock (a freeze)\n"
	       "  -o audit_log=FILE          also write each attempt as a JSON line to FILE\n"
	       "  -o watch_interval=S,events_log=FILE  look for lock events every S s (5); log them\n"
	       "\n"
	       "Running:\n"
	       "  -f, -s, -d                 foreground; single-threaded; with FUSE and S3 debug\n"
	       "  -o check_store             the --check-store test once at mount (writes canaries)\n"
	       "  -o debug_s3                log every S3 request;  -h, --help;  -V, --version\n"
	       "Reports: MOUNTPOINT/.tfstatefs/locks, migration, status, events. Unmount: fusermount3 -u MOUNTPOINT\n",
	       progname, progname);
}
