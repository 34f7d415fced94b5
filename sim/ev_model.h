/* ev_model.h: the electric vehicle behind one simulated connector.
 *
 * Pure functions over a plain struct: no clock, no I/O.  The caller passes
 * the simulated time in (microseconds, any monotonic origin) and the state
 * of the contactor, and must advance the model to "now" before it changes
 * anything (plug, power, SoC, capacity, contactor), so energy is always
 * integrated under the conditions that really held.
 *
 * Charging curve: the EV draws its requested power up to 80 % state of
 * charge, then a power falling linearly with SoC to 0 W at 100 %.  Over the
 * taper the SoC approaches 100 % exponentially; the model integrates that
 * exactly (closed form), so the result does not depend on how often it is
 * advanced.  The battery counts as full once it is within
 * EV_MODEL_FULL_EPS_PCT of 100 % (it then jumps to exactly 100 %).
 */
#ifndef WATTSTREAM_SIM_EV_MODEL_H
#define WATTSTREAM_SIM_EV_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define EV_MODEL_MAX_POWER_W     350000.0   /* DC fast charging ceiling */
#define EV_MODEL_MAX_CAPACITY_WH 1000000.0  /* 1 MWh: beyond any vehicle */
#define EV_MODEL_TAPER_START_PCT 80.0
#define EV_MODEL_FULL_EPS_PCT    1e-6

/* Expected outcomes (small positive codes). */
enum {
	EV_MODEL_E_RANGE = 1, /* a value outside its documented range (or NaN) */
	EV_MODEL_E_TIME = 2,  /* time went backwards: nothing was integrated */
};

struct ev_model {
	bool plugged;
	double requested_w;   /* what the EV asks for, 0..EV_MODEL_MAX_POWER_W */
	double capacity_wh;   /* usable battery capacity, > 0 */
	double soc_pct;       /* state of charge, 0..100 */
	double energy_wh;     /* energy delivered since ev_model_init, >= 0 */
	uint64_t now_us;      /* simulated time the state above refers to */
};

/* Fills *m: plugged, requested_w, capacity_wh, soc_pct as given, energy 0,
 * time now_us.  Returns 0, or EV_MODEL_E_RANGE (then *m is untouched) if a
 * value is out of range. */
int ev_model_init(struct ev_model *m, bool plugged, double requested_w,
		  double capacity_wh, double soc_pct, uint64_t now_us)
	__attribute__((warn_unused_result));

/* The power the EV draws right now, in W: 0 when unplugged, contactor open
 * or battery full, else requested_w scaled down by the taper above 80 %. */
double ev_model_power_w(const struct ev_model *m, bool contactor_closed);

/* True when the battery is at 100 %. */
bool ev_model_full(const struct ev_model *m);

/* Integrates energy and SoC from m->now_us to now_us with the contactor
 * in the given state throughout, and sets m->now_us = now_us.
 * Returns 0, or EV_MODEL_E_TIME if now_us < m->now_us (state unchanged). */
int ev_model_advance(struct ev_model *m, bool contactor_closed,
		     uint64_t now_us);

/* Setters.  Call ev_model_advance() first.  The int ones return 0, or
 * EV_MODEL_E_RANGE and leave *m unchanged.  None changes the delivered
 * energy. */
void ev_model_set_plugged(struct ev_model *m, bool plugged);
int ev_model_set_requested_w(struct ev_model *m, double w)
	__attribute__((warn_unused_result));
int ev_model_set_soc_pct(struct ev_model *m, double pct)
	__attribute__((warn_unused_result));
/* Changing the capacity keeps the SoC percentage (another battery). */
int ev_model_set_capacity_wh(struct ev_model *m, double wh)
	__attribute__((warn_unused_result));

#endif
