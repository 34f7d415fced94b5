/* meter.h: one meter reading and the plausibility checks every reading must
 * pass before the controller uses it.  Pure functions, time passed in. */
#ifndef WATTSTREAM_METER_H
#define WATTSTREAM_METER_H

#include <stdint.h>

#include "wattstream/meter_profile.h"

struct ws_reading {
	uint64_t t_us;		/* monotonic time the reading completed */
	uint32_t have;		/* bit (1 << WS_Q_x) set for each value read */
	double value[WS_Q_COUNT]; /* indexed by enum ws_quantity, units per name */
	int8_t ev_plugged;	/* 1 EV connected, 0 not, -1 unknown (no sensing) */
};

#define WS_READING_HAS(r, q) (((r)->have >> (q)) & 1u)

/* Limits a reading is checked against. */
struct ws_meter_limits {
	double max_power_w;	/* rating of the connector; power above 1.1x is implausible */
	double max_voltage_v;	/* per phase */
	double max_current_a;	/* per phase */
};

enum meter_verdict {
	METER_OK = 0,
	METER_E_NO_ENERGY = 1,	/* the reading has no energy value */
	METER_E_BACKWARDS,	/* energy below the previous accepted value */
	METER_E_JUMP,		/* energy grew faster than max power allows */
	METER_E_RANGE,		/* a value outside its physical range */
	METER_E_TIME,		/* reading older than the previous one */
};

/* Checks next against the previous accepted reading prev (NULL for the
 * first one).  Energy must never decrease and may grow at most by what the
 * rated power allows over the time between the readings, plus one second of
 * slack for meters that update their registers in steps.
 * Returns METER_OK or the reason to drop the reading. */
enum meter_verdict meter_check(const struct ws_reading *prev,
			       const struct ws_reading *next,
			       const struct ws_meter_limits *lim)
	__attribute__((warn_unused_result));

const char *meter_verdict_str(enum meter_verdict v);

#endif
