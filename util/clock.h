/* The two clocks the layers read: monotonic seconds for ages, wall-clock milliseconds for
 * times shown. */
#ifndef TFS_UTIL_CLOCK_H
#define TFS_UTIL_CLOCK_H
#include <stdint.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC: what TTLs and ages are measured in. */
static inline double clock_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds since the epoch, now. */
static inline int64_t clock_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#endif
