/* tfstatefs: parse options, check the bucket answers, mount, daemonize, run the loop. */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/fs.h"
#include "fs/keymap.h"
#include "fs/tree.h"
#include "mount/detach.h"
#include "mount/options.h"
#include "s3/creds.h"
#include "s3/ddb.h"
#include "s3/ddbtable.h"
#include "s3/endpoints.h"
#include "s3/http.h"
#include "s3/s3.h"
#include "s3/s3store.h"
#include "store/check.h"
#include "util/log.h"

#ifndef TFSTATEFS_VERSION
#define TFSTATEFS_VERSION "dev"
#endif

/* Everything the mount owns, freed in one place. */
struct mount_state {
	struct tfs_options opts;
	struct fuse_cmdline_opts cmd;
	struct tfs_config cfg;          /* what fs/ reads, built from opts */
	char *status;                   /* cfg.status */
	char *check_status;             /* -o check_store's lines of it, or NULL */
	struct aws_cred_provider *creds;
	char *region;
	struct s3_client *s3;
	struct store *store;            /* the bucket as fs/ sees it, over s3 */
	struct ddb_client *ddb;
	struct table *ddb_table;        /* the lock table as fs/ sees it, over ddb */
	struct locktable *table;
	struct lock_source locks;
	struct reports *reports;
	struct reader_budget *budget;
	struct keymap map;
	struct tree *tree;
	struct history *history;        /* the past, from the bucket's versions */
	struct histfs *histfs;          /* /.tfstatefs/history/ */
	struct audit *audit;
	struct events *events;          /* /.tfstatefs/events and -o events_log */
	struct guard guard;
	struct tfs fs;
	struct fuse_session *se;
	struct detach_watch *detach;    /* ends the events reads on a lazy unmount */
};

/* One line on stderr, before the mount goes to the background. */
__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tfstatefs: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The SSE-C key, as Terraform's S3 backend takes it: 1 with *key filled (the caller wipes
 * it), 0 without a key, -1 after saying what is wrong with it. */
static int load_sse_key(const struct mount_state *m, struct ssec_key *key)
{
	char *err = NULL;
	int rc = ssec_key_load(m->opts.sse_customer_key_file, getenv("AWS_SSE_CUSTOMER_KEY"), key,
	                       &err);
	if (rc < 0)
		fail("%s", err ? err : "out of memory");
	free(err);
	return rc < 0 ? -1 : rc;
}

/* Credentials, region, client; then one ListObjectsV2 to prove the bucket answers. */
/* How S3 and DynamoDB are reached; STS and the instance's endpoints keep their checks. */
static struct http_settings http_settings_of(const struct tfs_options *o)
{
	return (struct http_settings){
		.ca_file = o->ca_file, .insecure = o->insecure_tls,
		.connect_timeout_ms = (long)(o->connect_timeout * 1000),
		.stall_timeout_s = (long)o->stall_timeout,
	};
}

static int connect_bucket(struct mount_state *m)
{
	struct aws_config_sources src = { .profile = m->opts.profile };
	char *err = NULL;
	const char *endpoint = aws_endpoint_resolve(m->opts.endpoint, "AWS_ENDPOINT_URL_S3");
	m->region = aws_region_resolve(m->opts.region, &src);
	if (!m->region && endpoint)
		m->region = strdup("us-east-1");  /* what S3-compatible servers expect by default */
	if (!m->region) {
		fail("no region: use -o region=NAME, or set AWS_REGION");
		return -1;
	}
	struct aws_chain_config chain = {
		.files = src, .region = m->region, .role_arn = m->opts.role_arn,
		.sts_endpoint = m->opts.sts_endpoint, .ca_file = m->opts.ca_file,
	};
	if (aws_cred_provider_new(&chain, &m->creds, &err) < 0) {
		fail("no usable AWS credentials: %s", err ? err : "out of memory");
		free(err);
		return -1;
	}
	struct ssec_key key;
	int has_key = load_sse_key(m, &key);
	if (has_key < 0)
		return -1;
	struct s3_config cfg = {
		.bucket = m->opts.bucket, .endpoint = endpoint, .region = m->region,
		.path_style = m->opts.use_path_style, .http = http_settings_of(&m->opts),
		.debug = m->opts.debug_s3 || m->cmd.debug, .sse_customer_key = has_key ? &key : NULL,
	};
	int rc = s3_client_new(&cfg, m->creds, &m->s3, &err);
	ssec_key_wipe(&key);
	if (rc < 0) {
		fail("%s", err ? err : "out of memory");
		free(err);
		return -1;
	}
	char msg[1024];
	if (s3_check_bucket(m->s3, m->map.prefix, msg, sizeof(msg)) < 0) {
		fail("%s", msg);
		return -1;
	}
	/* The bucket's own region, found by the check: the lock table is beside it. */
	char *region = strdup(s3_client_region(m->s3));
	if (!region)
		return -1;
	free(m->region);
	m->region = region;
	log_info("bucket %s answers at %s (region %s, credentials from %s)", m->opts.bucket,
	         s3_client_endpoint(m->s3), m->region, aws_cred_provider_source(m->creds));
	if (m->opts.insecure_tls)
		log_warn("-o insecure_tls: certificates of %s%s are NOT checked; anyone on the way "
		         "can read your states and change what this mount shows and unlocks",
		         s3_client_endpoint(m->s3), m->opts.dynamodb_table ? " and DynamoDB" : "");
	return 0;
}

/* With -o dynamodb_table: its client, and one DescribeTable. A table that does not answer
 * is said now but does not stop the mount: the S3 view works without it. */
static int connect_table(struct mount_state *m)
{
	if (!m->opts.dynamodb_table)
		return 0;
	const char *endpoint = aws_endpoint_resolve(m->opts.dynamodb_endpoint,
	                                            "AWS_ENDPOINT_URL_DYNAMODB");
	struct ddb_config cfg = {
		.table = m->opts.dynamodb_table, .endpoint = endpoint && *endpoint ? endpoint : NULL,
		.region = m->region, .http = http_settings_of(&m->opts),
		.debug = m->opts.debug_s3 || m->cmd.debug,
	};
	char *err = NULL, msg[1024];
	if (ddb_client_new(&cfg, m->creds, &m->ddb, &err) < 0) {
		fail("%s", err ? err : "out of memory");
		free(err);
		return -1;
	}
	if (ddb_check_table(m->ddb, msg, sizeof(msg)) < 0)
		fprintf(stderr, "tfstatefs: warning: %s; mounting without DynamoDB locks until it "
		        "answers (see /.tfstatefs/status)\n", msg);
	if (ddb_table_new(m->ddb, &m->ddb_table) < 0 ||
	    locktable_new(m->ddb_table, m->opts.bucket, &m->cfg, &m->table) < 0)
		return -1;
	m->locks.table = m->table;
	return 0;
}

/* The store check (store/check.h) on the bucket and the table as the mount reaches them. */
static int check_store(const struct mount_state *m, struct store_check *c)
{
	struct check_target t = { .store = m->store, .table = m->ddb_table,
	                          .bucket = m->opts.bucket, .prefix = m->map.prefix,
	                          .sse_c = s3_client_has_sse_key(m->s3) };
	int rc = store_check_run(&t, c);
	if (rc < 0)
		fail("the store check could not run: %s", strerror(-rc));
	return rc;
}

/* -o check_store: the check once before mounting; its results go to /.tfstatefs/status,
 * a failure also to stderr, and an ignored If-Match on DeleteObject to every unlock's
 * audit record. */
static int check_store_at_mount(struct mount_state *m)
{
	struct store_check c;
	if (!m->opts.check_store)
		return 0;
	if (check_store(m, &c) < 0)
		return -1;
	for (size_t i = 0; i < c.n; i++)
		if (c.results[i].verdict == CHECK_FAILED)
			fprintf(stderr, "tfstatefs: warning: check_store: %s\n", c.results[i].text);
	if (c.leftovers[0])
		fprintf(stderr, "tfstatefs: warning: check_store: %s\n", c.leftovers);
	m->cfg.unlock.delete_unguarded = c.delete_if_match_ignored;
	return (m->check_status = store_check_status(&c)) ? 0 : -1;
}

/* --check-store: the check, its report on stdout; 1 when it passed (exit 0), else -1. */
static int check_store_only(struct mount_state *m)
{
	struct store_check c;
	printf("tfstatefs --check-store: bucket %s%s%s at %s\n", m->opts.bucket,
	       *m->map.prefix ? ", prefix " : "", m->map.prefix, s3_client_endpoint(m->s3));
	if (check_store(m, &c) < 0)
		return -1;
	store_check_print(&c, stdout);
	printf("permissions used: %s\n", store_check_permissions(&c));
	bool passed = store_check_passed(&c);
	printf("%s\n", passed ? "passed: what Terraform and tfstatefs rely on holds on this store"
	       : "FAILED: something Terraform or tfstatefs relies on does not hold (above)");
	return passed ? 1 : -1;
}

/* /.tfstatefs/status: the mount's settings, one "name<TAB>value" a line. */
static char *status_text(const struct mount_state *m, const struct unlock_policy *p)
{
	char *text = NULL, gid[16] = "none";
	if (p->has_unlock_gid)
		snprintf(gid, sizeof(gid), "%u", (unsigned)p->unlock_gid);
	/* Where the credentials come from and whether an SSE-C key is set, never a secret. */
	int n = asprintf(&text, "version\t%s\nbucket\t%s\nprefix\t%s\ns3_endpoint\t%s\nregion\t%s\n"
	                 "credentials\t%s\nsse_customer_key\t%s\n"
	                 "dynamodb_table\t%s\ndynamodb_endpoint\t%s\nunlock\t%s\nlock_create\t%s\n"
	                 "unlock_min_age_seconds\t%.0f\nunlock_owner_uid\t%u\nunlock_gid\t%s\n"
	                 "cache_ttl\t%g\nlock_ttl\t%g\nwatch_interval\t%g\nevents_log\t%s\n%s",
	                 TFSTATEFS_VERSION, m->opts.bucket, m->map.prefix, s3_client_endpoint(m->s3),
	                 m->region, aws_cred_provider_source(m->creds),
	                 s3_client_has_sse_key(m->s3) ? "set" : "none",
	                 m->ddb ? ddb_client_table(m->ddb) : "none",
	                 m->ddb ? ddb_client_endpoint(m->ddb) : "none", p->off ? "off" : "on",
	                 p->create && !p->off ? "on" : "off",
	                 p->min_age_s, (unsigned)p->owner, gid, m->opts.cache_ttl, m->opts.lock_ttl,
	                 m->opts.watch_interval, m->opts.events_log ? m->opts.events_log : "none",
	                 m->check_status ? m->check_status : "");
	return n < 0 ? NULL : text;
}

/* In the foreground on a terminal, a long listing shows how it gets on, on one line. */
static void show_progress(void *ctx, const char *path, unsigned long long keys, double seconds,
                          bool done)
{
	(void)ctx;
	fprintf(stderr, "\rtfstatefs: %s /%s: %llu keys in %.0f s%s", done ? "listed" : "listing",
	        path, keys, seconds, done ? "\n" : "...");
	fflush(stderr);
}

/* The settings fs/ reads, from the options (the status text comes once the bucket and
 * the table have answered). */
static void build_config(struct mount_state *m)
{
	m->cfg = (struct tfs_config){
		.cache_ttl = m->opts.cache_ttl,
		.lock_ttl = m->opts.lock_ttl,
		.lock_list_ttl = m->opts.lock_list_ttl,
		.uid = m->opts.uid == OPTION_UNSET ? getuid() : m->opts.uid,
		.gid = m->opts.gid == OPTION_UNSET ? getgid() : m->opts.gid,
		.umask = m->opts.umask & 0777,
		.watch_interval = m->opts.watch_interval,
		.events_log = m->opts.events_log,
		.unlock = {
			.off = m->opts.read_only || (m->opts.unlock && strcmp(m->opts.unlock, "off") == 0),
			.create = m->opts.lock_create,
			.min_age_s = m->opts.min_age_s,
			.owner = getuid(),
			.has_unlock_gid = m->opts.unlock_gid != OPTION_UNSET,
			.unlock_gid = (gid_t)m->opts.unlock_gid,
		},
	};
}

static void credentials_health(void *ctx, char *buf, size_t len)
{
	aws_cred_provider_health(ctx, buf, len);
}

/* The tree with /.tfstatefs/, the reports behind it, the guard. */
static int build_fs(struct mount_state *m)
{
	m->cfg.status = m->status = status_text(m, &m->cfg.unlock);
	m->cfg.credentials_health = credentials_health;
	m->cfg.credentials_ctx = m->creds;
	int err = m->status ? tree_new(&m->locks, &m->map, &m->cfg, &m->tree) : -ENOMEM;
	if (err == 0 && m->cmd.foreground && isatty(STDERR_FILENO))
		tree_set_progress(m->tree, show_progress, NULL);
	if (err == 0)
		err = reader_budget_new((size_t)m->opts.max_cache_mb << 20, &m->budget);
	if (err == 0)
		err = history_new(m->store, &m->map, &m->history);
	struct reports_config rc = {
		.locks = &m->locks, .map = &m->map, .cfg = &m->cfg, .tree = m->tree,
		.budget = m->budget, .history = m->history, .unlocks = &m->guard.counts,
		.events = m->events,
	};
	if (err == 0)
		err = reports_new(&rc, &m->reports);
	if (err == 0)
		err = reports_add_files(m->tree, KEYMAP_RESERVED_DIR);
	if (err == 0)
		err = histfs_new(m->tree, m->history, &m->cfg,
		                 tree_virtual_ino(m->tree, KEYMAP_RESERVED_DIR, "history"), &m->histfs);
	if (err < 0) {
		fail("cannot set up the filesystem: %s", strerror(-err));
		return -1;
	}
	m->guard = (struct guard){ .tree = m->tree, .locks = &m->locks, .audit = m->audit,
	                           .policy = &m->cfg.unlock, .events = m->events };
	return 0;
}

static int add_fuse_options(struct mount_state *m, struct fuse_args *args)
{
	char fsname[512];
	/* The source as given, so that mount -a finds an fstab line already mounted (it
	 * compares the two); the type says tfstatefs. Commas would split the option: a
	 * source with one is named by its bucket only. */
	snprintf(fsname, sizeof(fsname), "-ofsname=%s",
	         strchr(m->opts.source, ',') ? m->opts.bucket : m->opts.source);
	if (fuse_opt_add_arg(args, "-odefault_permissions") < 0 ||
	    fuse_opt_add_arg(args, fsname) < 0 ||
	    (!m->cmd.nodefault_subtype && fuse_opt_add_arg(args, "-osubtype=tfstatefs") < 0))
		return -1;
	return 0;
}

static int run_loop(struct mount_state *m)
{
	if (m->cmd.singlethread)
		return fuse_session_loop(m->se);
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		return -1;
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)m->cmd.clone_fd);
	/* Each reader of /.tfstatefs/events waiting holds a thread: as many more, so that
	 * they never starve the other requests. */
	fuse_loop_cfg_set_max_threads(lc, m->cmd.max_threads + EVENTS_MAX_READERS);
	if (m->cmd.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, m->cmd.max_idle_threads);
	int rc = fuse_session_loop_mt(m->se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

static void lazily_unmounted(void *arg)
{
	struct mount_state *m = arg;
	log_info("%s was unmounted lazily: the reads of .tfstatefs/events end; the mount exits "
	         "when the last file open in it is closed", m->cmd.mountpoint);
	events_shutdown(m->events);
}

/* A lazy unmount ends the waiting reads of /.tfstatefs/events, so that their readers
 * close the files that keep the mount alive. */
static void watch_detach(struct mount_state *m, const char *where)
{
	int rc = *where ? detach_watch_start(where, lazily_unmounted, m, &m->detach) : -ENOENT;
	if (rc < 0)
		log_warn("cannot watch for a lazy unmount of %s (%s): readers of .tfstatefs/events "
		         "then end only when the mount is stopped", m->cmd.mountpoint, strerror(-rc));
}

static int mount_and_serve(struct mount_state *m, struct fuse_args *args)
{
	if (add_fuse_options(m, args) < 0)
		return -1;
	m->fs = (struct tfs){
		.cfg = &m->cfg, .tree = m->tree, .store = m->store, .guard = &m->guard,
		.reports = m->reports, .budget = m->budget, .histfs = m->histfs,
	};
	m->se = fuse_session_new(args, tfs_lowlevel_ops(), sizeof(struct fuse_lowlevel_ops), &m->fs);
	if (!m->se)
		return -1;
	m->fs.se = m->se;
	if (fuse_set_signal_handlers(m->se) != 0)
		return -1;
	/* Canonical before the mount: afterwards, looking at it would ask this daemon. */
	char where[PATH_MAX];
	if (!realpath(m->cmd.mountpoint, where))
		where[0] = '\0';
	if (fuse_session_mount(m->se, m->cmd.mountpoint) != 0) {
		fuse_remove_signal_handlers(m->se);
		return -1;
	}
	fuse_daemonize(m->cmd.foreground);
	if (!m->cmd.foreground)
		log_setup(m->cmd.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO, true);
	if (events_start(m->events) < 0)
		log_error("cannot start the poller of /.tfstatefs/events: no events will be seen");
	watch_detach(m, where);
	int rc = run_loop(m);
	/* As the last file of a lazily unmounted mount closes, the kernel may abort the
	 * connection and /dev/fuse answer ECONNABORTED rather than ENODEV: an unmount, not a
	 * failure, once the mount has left the table. */
	if (detach_watch_stop(m->detach) && rc == -ECONNABORTED)
		rc = 0;
	m->detach = NULL;
	fuse_session_unmount(m->se);
	fuse_remove_signal_handlers(m->se);
	return rc;
}

static void mount_state_free(struct mount_state *m)
{
	if (m->se)
		fuse_session_destroy(m->se);
	events_free(m->events);     /* its poller reads the store and the table */
	histfs_free(m->histfs);
	tree_free(m->tree);
	reports_free(m->reports);
	history_free(m->history);
	reader_budget_free(m->budget);
	audit_close(m->audit);
	keymap_free(&m->map);
	locktable_free(m->table);
	table_free(m->ddb_table);
	ddb_client_free(m->ddb);
	store_free(m->store);
	s3_client_free(m->s3);
	aws_cred_provider_free(m->creds);
	free(m->region);
	free(m->status);
	free(m->check_status);
	free(m->cmd.mountpoint);
	options_free(&m->opts);
}

static int prepare(struct mount_state *m, struct fuse_args *args)
{
	if (options_parse(args, &m->opts) < 0)
		return -1;
	if (m->opts.show_version) {
		printf("tfstatefs %s (libfuse %s)\n", TFSTATEFS_VERSION, fuse_pkgversion());
		return 1;
	}
	if (m->opts.show_help) {
		options_print_help(args->argv[0]);
		return 1;
	}
	if (!m->opts.check_store_only && fuse_parse_cmdline(args, &m->cmd) != 0)
		return -1;
	if (!m->cmd.mountpoint && !m->opts.check_store_only) {
		fail("no mount point given");
		return -1;
	}
	log_setup(m->cmd.debug ? LOG_LVL_DEBUG : LOG_LVL_WARN, false);
	int rc = keymap_init(&m->map, m->opts.prefix, m->opts.workspace_key_prefix);
	if (rc < 0) {
		fail("'%s' or workspace prefix '%s' has an empty, '.' or '..' name", m->opts.prefix,
		     m->opts.workspace_key_prefix ? m->opts.workspace_key_prefix : "env:");
		return -1;
	}
	build_config(m);
	if (connect_bucket(m) < 0)
		return -1;
	if (s3_store_new(m->s3, &m->store) < 0)
		return -1;
	m->locks.store = m->store;
	m->locks.bucket = m->opts.bucket;
	if (connect_table(m) < 0)
		return -1;
	if (m->opts.check_store_only)
		return check_store_only(m);
	if (check_store_at_mount(m) < 0)
		return -1;
	if ((rc = audit_open(m->opts.audit_log, &m->audit)) < 0) {
		fail("cannot open the audit log %s: %s", m->opts.audit_log, strerror(-rc));
		return -1;
	}
	struct events_config ec = { .locks = &m->locks, .map = &m->map,
	                            .interval = m->cfg.watch_interval, .log_path = m->cfg.events_log };
	if ((rc = events_new(&ec, &m->events)) < 0) {
		fail("cannot open the events log %s: %s", m->opts.events_log, strerror(-rc));
		return -1;
	}
	return build_fs(m);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mount_state m = { 0 };
	/* A server closing a connection must cost a request, not the process; libfuse only
	 * ignores SIGPIPE once mounted, and the bucket check comes before. */
	signal(SIGPIPE, SIG_IGN);
	if (http_global_init() < 0) {
		fail("cannot initialise libcurl");
		return 1;
	}
	int rc = prepare(&m, &args);
	if (rc == 0)
		rc = mount_and_serve(&m, &args) == 0 ? 0 : 1;
	else
		rc = rc > 0 ? 0 : 1;
	mount_state_free(&m);
	fuse_opt_free_args(&args);
	http_global_cleanup();
	return rc;
}
