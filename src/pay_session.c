/* pay_session.c: accounting of a paid session (see pay_session.h).  All
 * energy is integer mWh and all money u256 base units, so no rounding
 * drifts between the station's bill and the wallet's check of it.
 * O(1) per event; no allocation. */
#include "wattstream/pay_session.h"

#include <string.h>

/* Resume (or start) only with at least this share of an increment paid
 * ahead, so that a tiny surplus does not close and open the contactor at
 * once. */
#define PAY_RESUME_PERMILLE 50
/* grace times beyond an hour are not charging anymore */
#define PAY_GRACE_MAX_S 3600

static uint64_t inc_mwh(const struct pay_session *s)
{
	return (uint64_t)s->terms.increment_wh * 1000;
}

int pay_amount_for_mwh(const struct pay_terms *t, const ws_u256 *base,
		       uint64_t mwh, ws_u256 *out)
{
	ws_u256 a = ws_u256_from_u64(mwh), one = ws_u256_from_u64(1);
	uint64_t rem;

	if (ws_u256_mul_u64(&a, &a, t->price_per_kwh) < 0 ||
	    ws_u256_div_u64(&a, &rem, &a, 1000000) < 0)
		return PAY_E_OVERFLOW;
	if (rem && ws_u256_add(&a, &a, &one) < 0)
		return PAY_E_OVERFLOW;
	if (ws_u256_add(out, base, &a) < 0)
		return PAY_E_OVERFLOW;
	return PAY_OK;
}

/* allowance = (highest - base) * 1e6 / price, saturating at UINT64_MAX */
static int update_allowance(struct pay_session *s)
{
	ws_u256 credit;
	uint64_t rem, mwh;

	if (ws_u256_sub(&credit, &s->highest, &s->base) < 0)
		return PAY_E_OVERFLOW;
	if (ws_u256_mul_u64(&credit, &credit, 1000000) < 0) {
		s->allowance_mwh = UINT64_MAX;
		return PAY_OK;
	}
	if (ws_u256_div_u64(&credit, &rem, &credit, s->terms.price_per_kwh) < 0)
		return PAY_E_OVERFLOW;
	s->allowance_mwh = ws_u256_to_u64(&credit, &mwh) == 0 ? mwh : UINT64_MAX;
	return PAY_OK;
}

static bool enough_to_run(const struct pay_session *s)
{
	return s->allowance_mwh > s->delivered_mwh &&
	       s->allowance_mwh - s->delivered_mwh >= inc_mwh(s) * PAY_RESUME_PERMILLE / 1000;
}

static void project_cut(struct pay_session *s, uint64_t now_us, struct pay_actions *out)
{
	if (s->state != PAY_CHARGING || s->power_w <= 0)
		return;
	double left_mwh = (double)(s->allowance_mwh - s->delivered_mwh);
	double us = left_mwh * 3.6e6 / s->power_w;
	uint64_t at = s->reading_us + (us > 1e15 ? (uint64_t)1e15 : (uint64_t)us);
	out->cut_at_us = at > now_us ? at : now_us;
}

static void suspend(struct pay_session *s, uint64_t now_us, struct pay_actions *out)
{
	s->state = PAY_SUSPENDED;
	s->grace_until_us = now_us + (uint64_t)s->terms.grace_s * 1000000;
	s->suspended_count++;
	out->open_contactor = true;
	out->grace_until_us = s->grace_until_us;
}

static void run(struct pay_session *s, uint64_t now_us, struct pay_actions *out)
{
	s->state = PAY_CHARGING;
	s->grace_until_us = 0;
	out->close_contactor = true;
	project_cut(s, now_us, out);
}

static int invoice_up_to(struct pay_session *s, uint32_t increments, struct pay_actions *out)
{
	if (increments <= s->invoiced)
		return PAY_OK;
	int r = pay_amount_for_mwh(&s->terms, &s->base,
				   (uint64_t)increments * inc_mwh(s), &out->invoice_total);
	if (r != PAY_OK)
		return r;
	s->invoiced = increments;
	out->invoice = true;
	out->invoice_increments = increments;
	return PAY_OK;
}

int pay_session_start(struct pay_session *s, const struct pay_terms *terms,
		      const ws_u256 *base, const ws_u256 *highest,
		      double meter_wh, uint64_t now_us, struct pay_actions *out)
{
	memset(out, 0, sizeof(*out));
	if (!terms->price_per_kwh || !terms->increment_wh || !terms->prepaid_increments ||
	    terms->prepaid_increments > 100 || terms->grace_s > PAY_GRACE_MAX_S ||
	    terms->increment_wh > 1000000 || !(meter_wh >= 0))
		return PAY_E_TERMS;
	if (ws_u256_cmp(highest, base) < 0)
		return PAY_E_OVERFLOW;
	memset(s, 0, sizeof(*s));
	s->terms = *terms;
	s->base = *base;
	s->highest = *highest;
	s->start_wh = meter_wh;
	s->reading_us = now_us;
	s->state = PAY_WAITING;
	int r = update_allowance(s);
	if (r == PAY_OK)
		r = invoice_up_to(s, 1 + terms->prepaid_increments, out);
	if (r != PAY_OK)
		return r;
	if (enough_to_run(s)) {	/* credit left from earlier sessions */
		run(s, now_us, out);
	} else {
		/* the first payment gets the grace time too */
		s->grace_until_us = now_us + (uint64_t)terms->grace_s * 1000000;
		out->grace_until_us = s->grace_until_us;
	}
	return PAY_OK;
}

int pay_session_voucher(struct pay_session *s, const ws_u256 *amount,
			uint64_t now_us, struct pay_actions *out)
{
	memset(out, 0, sizeof(*out));
	if (s->state == PAY_ENDED)
		return PAY_E_ENDED;
	if (ws_u256_cmp(amount, &s->highest) <= 0)
		return PAY_E_NOT_HIGHER;
	ws_u256 old = s->highest;
	s->highest = *amount;
	if (update_allowance(s) != PAY_OK) {
		s->highest = old;
		return PAY_E_OVERFLOW;
	}
	if ((s->state == PAY_WAITING || s->state == PAY_SUSPENDED) && enough_to_run(s))
		run(s, now_us, out);
	else
		project_cut(s, now_us, out);
	return PAY_OK;
}

void pay_session_reading(struct pay_session *s, double meter_wh, double power_w,
			 uint64_t now_us, struct pay_actions *out)
{
	memset(out, 0, sizeof(*out));
	if (s->state == PAY_ENDED)
		return;
	double d = (meter_wh - s->start_wh) * 1000.0;
	uint64_t mwh = d > 0 ? (uint64_t)(d + 0.5) : 0;
	if (mwh > s->delivered_mwh)
		s->delivered_mwh = mwh;
	s->power_w = power_w > 0 ? power_w : 0;
	s->reading_us = now_us;
	if (s->delivered_mwh > s->allowance_mwh &&
	    s->delivered_mwh - s->allowance_mwh > s->max_overshoot_mwh)
		s->max_overshoot_mwh = s->delivered_mwh - s->allowance_mwh;

	/* increment k (0-based) is under way: paid must reach through it and
	 * `prepaid` more (k + 1 + prepaid in all), so the next payment's round
	 * trip has a whole increment of charging time; increments before k
	 * are complete */
	uint32_t k = (uint32_t)(s->delivered_mwh / inc_mwh(s));
	(void)invoice_up_to(s, k + 1 + s->terms.prepaid_increments, out);
	if (k > s->receipted) {
		s->receipted = k;
		out->receipt = true;
		out->receipt_increments = k;
	}
	if (s->state == PAY_CHARGING) {
		if (s->delivered_mwh >= s->allowance_mwh)
			suspend(s, now_us, out);
		else
			project_cut(s, now_us, out);
	}
}

void pay_session_tick(struct pay_session *s, uint64_t now_us, struct pay_actions *out)
{
	memset(out, 0, sizeof(*out));
	switch (s->state) {
	case PAY_CHARGING: {
		/* energy since the last sample, at its power */
		double since_mwh = s->power_w * (double)(now_us - s->reading_us) / 3.6e6;
		if ((double)s->delivered_mwh + since_mwh >= (double)s->allowance_mwh)
			suspend(s, now_us, out);
		else
			project_cut(s, now_us, out);
		break;
	}
	case PAY_WAITING:
	case PAY_SUSPENDED:
		if (now_us >= s->grace_until_us) {
			s->state = PAY_ENDED;
			s->end_reason = PAY_END_UNPAID;
			out->ended = true;
			out->end_reason = PAY_END_UNPAID;
		} else {
			out->grace_until_us = s->grace_until_us;
		}
		break;
	case PAY_ENDED:
		break;
	}
}

void pay_session_stop(struct pay_session *s, struct pay_actions *out)
{
	memset(out, 0, sizeof(*out));
	if (s->state == PAY_ENDED)
		return;
	if (s->state == PAY_CHARGING)
		out->open_contactor = true;
	s->state = PAY_ENDED;
	s->end_reason = PAY_END_STOPPED;
	out->ended = true;
	out->end_reason = PAY_END_STOPPED;
}

int pay_session_owed(const struct pay_session *s, ws_u256 *total)
{
	return pay_amount_for_mwh(&s->terms, &s->base, s->delivered_mwh, total);
}

const char *pay_state_name(enum pay_state st)
{
	switch (st) {
	case PAY_WAITING: return "waiting";
	case PAY_CHARGING: return "charging";
	case PAY_SUSPENDED: return "suspended";
	case PAY_ENDED: return "ended";
	}
	return "?";
}
