/* /.tfstatefs/events: the changes to locks and states, found by polling while someone
 * reads (or -o events_log is set), handed to every reader as one line each, as the
 * kernel's trace_pipe does, and appended as JSON lines to the events log. */
#ifndef TFS_FS_EVENTS_H
#define TFS_FS_EVENTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "fs/evsnap.h"
#include "fs/keymap.h"
#include "fs/lock.h"

/* A reader's buffer: lines it has not read yet, at most this many and these many bytes;
 * what does not fit is counted and said in a "lost N events" line. */
#define EVENTS_READER_LINES 1000
#define EVENTS_READER_BYTES (256u << 10)
/* Readers at once: each one waiting holds a FUSE thread (mount/main.c adds as many). */
#define EVENTS_MAX_READERS 16

struct events_config {
	const struct lock_source *locks;    /* borrowed, as is map */
	const struct keymap *map;
	double interval;            /* seconds between looks (-o watch_interval) */
	const char *log_path;       /* -o events_log=FILE (O_APPEND, 0600), or NULL */
	size_t reader_lines;        /* 0: EVENTS_READER_LINES (tests set less) */
};

struct events;
struct events_reader;

/* Opens the log (when given). Returns 0 or a negative errno (it cannot be opened). */
int events_new(const struct events_config *cfg, struct events **out);
/* Starts the poller, which looks only while a reader is open or the log is set: after
 * the mount has gone to the background (a fork keeps no thread). Without it, nothing
 * looks but events_poll (the tests). Returns 0 or a negative errno. */
int events_start(struct events *ev);
/* Stops the poller, wakes and ends every read; the readers must be closed before. */
void events_free(struct events *ev);

/* Ends every waiting and future read (end of file): the session is ending. */
void events_shutdown(struct events *ev);

/* One look now, compared with the last (the first one after polling starts only sets
 * the baseline). The poller calls it; so do tests. Returns 0 or the look's errno. */
int events_poll(struct events *ev);

/* A new reader: it gets every line published after this. Returns 0, -EBUSY (already
 * EVENTS_MAX_READERS) or -ENOMEM. */
int events_open(struct events *ev, struct events_reader **out);
void events_close(struct events_reader *r);

/* Copies whole lines (a line longer than size in parts) into buf; waits while there is
 * nothing, unless nonblock (-EAGAIN). Returns the bytes, 0 at the end (events_shutdown, or
 * stop(stop_ctx) true, asked every 200 ms), or -EINTR after events_interrupt. */
ssize_t events_read(struct events_reader *r, char *buf, size_t size, bool nonblock,
                    bool (*stop)(void *), void *stop_ctx);
/* Makes the read waiting now (or the next one) return -EINTR; from any thread. */
void events_interrupt(struct events_reader *r);
/* Forgets an interrupt meant for an earlier read. */
void events_interrupt_clear(struct events_reader *r);

/* An unlock through the mount, as the guard audits it: result "unlocked", "partial",
 * "refused" or "failed" (only the first three are told), error a positive errno; or a
 * lock made through the mount, "locked". An unlocked lock is not told again when the
 * next look finds it gone, nor a lock made when a look finds it. ev may be NULL. */
void events_guard(struct events *ev, const struct lock_shown *shown, const char *result,
                  uid_t uid, int error);

/* "events_polls 3" and the like, for /.tfstatefs/stats. ev may be NULL. */
void events_put_stats(struct events *ev, FILE *out);
#endif
