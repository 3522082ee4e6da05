/* Logging for every layer: levels, stderr in the foreground, syslog once daemonized. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static enum log_level log_threshold = LOG_LVL_WARN;
static bool log_to_syslog;

void log_setup(enum log_level threshold, bool use_syslog)
{
	log_threshold = threshold;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog("tfstatefs", LOG_PID, LOG_DAEMON);
}

bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	if (!log_enabled(level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Where a message comes from only helps when debugging. */
	if (log_to_syslog)
		syslog(priorities[level], "%s", msg);
	else if (log_threshold >= LOG_LVL_DEBUG)
		fprintf(stderr, "tfstatefs: %s: %s [%s:%d]\n", names[level], msg, file, line);
	else
		fprintf(stderr, "tfstatefs: %s: %s\n", names[level], msg);
}
