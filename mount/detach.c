/* The mount table can be polled: /proc/self/mountinfo reports POLLPRI after each change
 * (proc_pid_mountinfo(5)), so a thread sleeps in poll(2) until one, then looks whether
 * the mount is still there. */
#include "mount/detach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/log.h"
#include "util/mountinfo.h"

#define MOUNTINFO "/proc/self/mountinfo"

struct detach_watch {
	int fd;                 /* MOUNTINFO, open */
	int stop[2];            /* a pipe: a byte, or its closing, ends the thread */
	long id;                /* the mount's ID */
	void (*detached)(void *);
	void *arg;
	pthread_t thread;
};

/* The whole table, read from the start of fd. Returns its length or a negative errno. */
static ssize_t read_table(int fd, char **text)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	int rc = lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	while (rc == 0) {
		char *bigger = len < cap ? buf : realloc(buf, cap *= 2);
		if (!bigger) {
			rc = -ENOMEM;
			break;
		}
		buf = bigger;
		ssize_t n = read(fd, buf + len, cap - len);
		if (n == 0) {
			*text = buf;
			return (ssize_t)len;
		}
		if (n < 0 && errno != EINTR)
			rc = -errno;
		len += n > 0 ? (size_t)n : 0;
	}
	free(buf);
	return rc;
}

/* Whether the mount has left the table; a table that cannot be read says it has not. */
static bool gone(struct detach_watch *w)
{
	char *text = NULL;
	ssize_t n = read_table(w->fd, &text);
	if (n < 0) {
		log_warn("%s cannot be read: %s", MOUNTINFO, strerror((int)-n));
		return false;
	}
	bool there = mountinfo_has(text, (size_t)n, w->id);
	free(text);
	return !there;
}

static void *watch(void *arg)
{
	struct detach_watch *w = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = w->fd, .events = POLLPRI }, { .fd = w->stop[0], .events = POLLIN } };
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return NULL;
		if ((p[0].revents & (POLLPRI | POLLERR)) && gone(w)) {
			w->detached(w->arg);
			return NULL;
		}
	}
}

static void watch_free(struct detach_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	for (int i = 0; i < 2; i++)
		if (w->stop[i] >= 0)
			close(w->stop[i]);
	free(w);
}

int detach_watch_start(const char *mountpoint, void (*detached)(void *), void *arg,
                       struct detach_watch **out)
{
	struct detach_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct detach_watch){ .fd = -1, .stop = { -1, -1 }, .detached = detached, .arg = arg };
	char *text = NULL;
	ssize_t n;
	int rc = 0;
	if ((w->fd = open(MOUNTINFO, O_RDONLY | O_CLOEXEC)) < 0 || pipe2(w->stop, O_CLOEXEC) < 0)
		rc = -errno;
	else if ((n = read_table(w->fd, &text)) < 0)
		rc = (int)n;
	else if ((w->id = mountinfo_find(text, (size_t)n, mountpoint, "fuse")) < 0)
		rc = -ENOENT;
	else
		rc = -pthread_create(&w->thread, NULL, watch, w);
	free(text);
	if (rc < 0) {
		watch_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

bool detach_watch_stop(struct detach_watch *w)
{
	if (!w)
		return false;
	close(w->stop[1]);
	w->stop[1] = -1;
	pthread_join(w->thread, NULL);
	bool left = gone(w);
	watch_free(w);
	return left;
}
