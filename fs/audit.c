/* One audit record per unlock attempt: to syslog, and as a JSON line to -o audit_log=FILE. */
#include "fs/audit.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "util/clock.h"
#include "util/jsonline.h"
#include "util/log.h"
#include "util/timeparse.h"

struct audit {
	int fd;                 /* -1: syslog only */
	pthread_mutex_t lock;   /* one whole line at a time */
};

int audit_open(const char *path, struct audit **out)
{
	struct audit *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = path ? jsonline_open(path) : -1;
	if (path && a->fd < 0) {
		int rc = a->fd;
		free(a);
		return rc;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void command_of(pid_t pid, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

/* "EBUSY" and the like; "" for none, "EIO" for what has no name. */
static const char *errno_name(int e)
{
	const char *name = e ? strerrorname_np(e) : "";
	return name ? name : "EIO";
}

/* A text field: "" when absent (the audit log's documented form). */
static void add(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static json_object *record_json(const struct audit_record *r, const char *command)
{
	char when[TIME_RFC3339_MS_LEN];
	time_format_rfc3339_ms(clock_real_ms(), when, sizeof(when));
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	add(o, "time", when);
	json_object_object_add(o, "uid", json_object_new_int64(r->uid));
	json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	/* An unlock's record names the command that removed the file (rm); a lock made's
	 * says "lock", and the process that wrote the file. */
	add(o, "command", r->action ? r->action : command);
	if (r->action)
		add(o, "process", command);
	add(o, "path", r->lock->path);
	/* The state the lock guards: the lock file's path without ".tflock". */
	char *state = r->lock->path ? strdup(r->lock->path) : NULL;
	char *dot = state ? strrchr(state, '.') : NULL;
	if (dot && strcmp(dot, ".tflock") == 0)
		*dot = '\0';
	add(o, "state", state);
	free(state);
	add(o, "key", r->lock->key);
	add(o, "lock_id", r->lock->id);
	add(o, "who", r->lock->who);
	add(o, "operation", r->lock->operation);
	add(o, "created", r->lock->created);
	add(o, "backend", r->lock->backend);
	add(o, "result", r->result);
	add(o, "errno", errno_name(r->error));
	add(o, "reason", r->reason);
	return o;
}

void audit_write(struct audit *a, const struct audit_record *r)
{
	char command[32];
	command_of(r->pid, command, sizeof(command));
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s %s%s%s: %s (lock %s, %s, %s) by uid %d pid %d (%s): %s",
	       r->action ? r->action : "unlock", r->result, r->error ? " " : "", errno_name(r->error), r->lock->path ? r->lock->path : "",
	       r->lock->id ? r->lock->id : "", r->lock->who ? r->lock->who : "", r->lock->backend ? r->lock->backend : "",
	       (int)r->uid, (int)r->pid, command, r->reason ? r->reason : "");
	log_info("%s %s: %s: %s", r->action ? r->action : "unlock", r->result, r->lock->path ? r->lock->path : "", r->reason ? r->reason : "");
	if (a->fd < 0)
		return;
	json_object *o = record_json(r, command);
	if (!o) {
		log_error("audit record for %s could not be written: out of memory", r->lock->path);
		return;
	}
	pthread_mutex_lock(&a->lock);
	jsonline_write(a->fd, o, "audit log");
	pthread_mutex_unlock(&a->lock);
	json_object_put(o);
}
