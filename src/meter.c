/* meter.c: plausibility of meter readings.  A reading that fails is logged
 * and dropped by the caller; it never moves energy accounting.  O(1). */
#include "wattstream/meter.h"

#include <math.h>

/* meters update registers in steps (an SDM630 about once a second), so a
 * reading may catch up a second's worth of energy at once */
#define METER_JUMP_SLACK_S 1.0
/* float32 kWh registers round; tolerate this much above the power bound */
#define METER_JUMP_SLACK_WH 1.0

enum meter_verdict meter_check(const struct ws_reading *prev,
			       const struct ws_reading *next,
			       const struct ws_meter_limits *lim)
{
	if (!WS_READING_HAS(next, WS_Q_ENERGY_WH))
		return METER_E_NO_ENERGY;
	for (int q = 0; q < WS_Q_COUNT; q++)
		if (WS_READING_HAS(next, q) && !isfinite(next->value[q]))
			return METER_E_RANGE;

	double e = next->value[WS_Q_ENERGY_WH];
	if (e < 0 || e > 1e13) /* 10 TWh: no meter register holds more */
		return METER_E_RANGE;
	if (WS_READING_HAS(next, WS_Q_POWER_W) &&
	    fabs(next->value[WS_Q_POWER_W]) > lim->max_power_w * 1.1)
		return METER_E_RANGE;
	for (int q = WS_Q_CURRENT_L1_A; q <= WS_Q_CURRENT_L3_A; q++)
		if (WS_READING_HAS(next, q) &&
		    (next->value[q] < -lim->max_current_a ||
		     next->value[q] > lim->max_current_a))
			return METER_E_RANGE;
	for (int q = WS_Q_VOLTAGE_L1_V; q <= WS_Q_VOLTAGE_L3_V; q++)
		if (WS_READING_HAS(next, q) &&
		    (next->value[q] < 0 || next->value[q] > lim->max_voltage_v))
			return METER_E_RANGE;

	if (!prev)
		return METER_OK;
	if (next->t_us < prev->t_us)
		return METER_E_TIME;
	double de = e - prev->value[WS_Q_ENERGY_WH];
	if (de < 0)
		return METER_E_BACKWARDS;
	double dt_s = (double)(next->t_us - prev->t_us) / 1e6;
	double max_wh = lim->max_power_w * (dt_s + METER_JUMP_SLACK_S) / 3600.0 +
			METER_JUMP_SLACK_WH;
	if (de > max_wh)
		return METER_E_JUMP;
	return METER_OK;
}

const char *meter_verdict_str(enum meter_verdict v)
{
	switch (v) {
	case METER_OK: return "ok";
	case METER_E_NO_ENERGY: return "no energy value";
	case METER_E_BACKWARDS: return "energy went backwards";
	case METER_E_JUMP: return "energy jumped beyond what the rated power allows";
	case METER_E_RANGE: return "value outside its physical range";
	case METER_E_TIME: return "reading older than the previous one";
	}
	return "?";
}
