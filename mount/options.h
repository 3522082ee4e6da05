/* Command-line and -o options: the fuse_opt table, defaults, --help text. */
#ifndef TFS_MOUNT_OPTIONS_H
#define TFS_MOUNT_OPTIONS_H
#include <fuse_opt.h>

#define OPTION_UNSET ((unsigned)-1)

struct tfs_options {
	char *source;           /* BUCKET[:/PREFIX] as given */
	char *bucket;           /* split out of source */
	char *prefix;
	char *region;
	char *endpoint;
	int use_path_style;
	char *profile;
	char *workspace_key_prefix;
	char *ca_file;
	char *sse_customer_key_file;   /* SSE-C key, base64 (else AWS_SSE_CUSTOMER_KEY) */
	char *role_arn;         /* assumed on top of the credential chain */
	char *sts_endpoint;
	char *dynamodb_table;   /* NULL: no DynamoDB calls at all */
	char *dynamodb_endpoint;
	double cache_ttl;
	double lock_ttl;
	double lock_list_ttl;   /* -1 until set: then cache_ttl */
	unsigned max_cache_mb;  /* memory for the chunks of states being read */
	double connect_timeout; /* seconds */
	double stall_timeout;   /* seconds under 1 byte/s before a request is given up */
	int insecure_tls;
	char *unlock_min_age;   /* DURATION as given; min_age_s once parsed */
	double min_age_s;
	char *unlock;           /* "on" or "off" */
	int lock_create;        /* -o lock_create: writing a .tflock file takes a lock */
	int read_only;          /* -o ro: handled here, so that refused unlocks are audited */
	char *audit_log;
	char *events_log;       /* -o events_log=FILE */
	double watch_interval;  /* seconds between two looks for /.tfstatefs/events */
	unsigned uid, gid, umask;   /* uid and gid are OPTION_UNSET unless given */
	unsigned unlock_gid;        /* OPTION_UNSET unless given */
	char *unlock_group;         /* as given: a number or a group name */
	int debug_s3;
	int check_store;        /* -o check_store: the store check once, before mounting */
	int check_store_only;   /* --check-store: the store check, and no mount */
	int show_help, show_version;
};

/* Parses argv into *opts and leaves in args what libfuse itself takes (the mount point,
 * -f, -d, -s and FUSE's own -o options). Returns 0, or -1 after printing why to stderr. */
int options_parse(struct fuse_args *args, struct tfs_options *opts);
void options_free(struct tfs_options *opts);
void options_print_help(const char *progname);
#endif
