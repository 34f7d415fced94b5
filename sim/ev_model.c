/* ev_model.c: state of charge and delivered energy of one simulated EV.
 *
 * Below EV_MODEL_TAPER_START_PCT the EV draws its requested power P, so the
 * SoC rises linearly: P / (36 * C) percent per second for a capacity of
 * C Wh.  Above it the power is P * x / 20 with x = 100 - SoC, so
 * dx/dt = -x / tau with tau = 720 * C / P seconds, and x decays as
 * x0 * exp(-t / tau).  Both pieces are solved in closed form, so one
 * advance over an hour gives the same result as 72000 advances of 50 ms.
 * Delivered energy is C times the SoC gained.  Cost: a few flops and at
 * most one exp() and one log() per advance.
 */
#include "ev_model.h"

#include <math.h>

/* Remaining percentage points below which the battery counts as full. */
#define FULL_X_PCT EV_MODEL_FULL_EPS_PCT
#define TAPER_SPAN_PCT (100.0 - EV_MODEL_TAPER_START_PCT)

static bool in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi; /* false for NaN */
}

static double snap_full(double soc)
{
	return soc >= 100.0 - FULL_X_PCT ? 100.0 : soc;
}

int ev_model_init(struct ev_model *m, bool plugged, double requested_w,
		  double capacity_wh, double soc_pct, uint64_t now_us)
{
	if (!in_range(requested_w, 0.0, EV_MODEL_MAX_POWER_W) ||
	    !in_range(capacity_wh, 0.0, EV_MODEL_MAX_CAPACITY_WH) ||
	    capacity_wh <= 0.0 || !in_range(soc_pct, 0.0, 100.0))
		return EV_MODEL_E_RANGE;
	*m = (struct ev_model){
		.plugged = plugged,
		.requested_w = requested_w,
		.capacity_wh = capacity_wh,
		.soc_pct = snap_full(soc_pct),
		.energy_wh = 0.0,
		.now_us = now_us,
	};
	return 0;
}

bool ev_model_full(const struct ev_model *m)
{
	return m->soc_pct >= 100.0;
}

double ev_model_power_w(const struct ev_model *m, bool contactor_closed)
{
	if (!m->plugged || !contactor_closed || ev_model_full(m))
		return 0.0;
	if (m->soc_pct < EV_MODEL_TAPER_START_PCT)
		return m->requested_w;
	return m->requested_w * (100.0 - m->soc_pct) / TAPER_SPAN_PCT;
}

/* SoC after dt_s seconds of charging at requested power p_w from soc. */
static double soc_after(double soc, double p_w, double cap_wh, double dt_s)
{
	if (soc < EV_MODEL_TAPER_START_PCT) {
		double rate = p_w / (36.0 * cap_wh); /* percent per second */
		double t_taper = (EV_MODEL_TAPER_START_PCT - soc) / rate;
		if (dt_s < t_taper)
			return soc + rate * dt_s;
		dt_s -= t_taper;
		soc = EV_MODEL_TAPER_START_PCT;
	}
	double tau = 720.0 * cap_wh / p_w;
	double x = (100.0 - soc) * exp(-dt_s / tau);
	return snap_full(100.0 - x);
}

int ev_model_advance(struct ev_model *m, bool contactor_closed,
		     uint64_t now_us)
{
	if (now_us < m->now_us)
		return EV_MODEL_E_TIME;
	double dt_s = (double)(now_us - m->now_us) / 1e6;
	m->now_us = now_us;
	if (dt_s <= 0.0 || ev_model_power_w(m, contactor_closed) <= 0.0)
		return 0;
	double soc = soc_after(m->soc_pct, m->requested_w, m->capacity_wh,
			       dt_s);
	if (soc > m->soc_pct) {
		m->energy_wh += m->capacity_wh * (soc - m->soc_pct) / 100.0;
		m->soc_pct = soc;
	}
	return 0;
}

void ev_model_set_plugged(struct ev_model *m, bool plugged)
{
	m->plugged = plugged;
}

int ev_model_set_requested_w(struct ev_model *m, double w)
{
	if (!in_range(w, 0.0, EV_MODEL_MAX_POWER_W))
		return EV_MODEL_E_RANGE;
	m->requested_w = w;
	return 0;
}

int ev_model_set_soc_pct(struct ev_model *m, double pct)
{
	if (!in_range(pct, 0.0, 100.0))
		return EV_MODEL_E_RANGE;
	m->soc_pct = snap_full(pct);
	return 0;
}

int ev_model_set_capacity_wh(struct ev_model *m, double wh)
{
	if (!in_range(wh, 0.0, EV_MODEL_MAX_CAPACITY_WH) || wh <= 0.0)
		return EV_MODEL_E_RANGE;
	m->capacity_wh = wh;
	return 0;
}
