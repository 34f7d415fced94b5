/* clock.h: the monotonic microsecond clock.  Only the edges read it (the
 * event loop, the bus workers); logic gets "now" passed in. */
#ifndef WATTSTREAM_CLOCK_H
#define WATTSTREAM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ws_clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wall clock in milliseconds since the Unix epoch (for records and OCPP). */
static inline int64_t ws_clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
