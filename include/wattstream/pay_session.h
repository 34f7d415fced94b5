/* pay_session.h: the money and energy accounting of one paid charging
 * session, as a state machine with time passed in and effects returned.
 *
 * Amounts are cumulative over the payment channel, in token base units, as
 * vouchers are: a session starts from `base` (what the channel owed the
 * station when the session began) and the wallet's vouchers say the new
 * cumulative total.  Energy is counted in mWh from the meter's reading at
 * the start.
 *
 *   allowance = (highest voucher - base) * 1e6 / price_per_kwh   [mWh]
 *   due       = ceil(delivered_mwh * price_per_kwh / 1e6)         [base units]
 *
 * The wallet prepays: when increment k (0-based) begins it is asked for
 * the total of k + 1 + prepaid increments: the one under way and
 * `prepaid` ahead, so a payment's round trip never interrupts charging.  When delivered energy reaches the allowance,
 * the contactor is opened at once (a cut time is projected from the power
 * between meter samples), the session is SUSPENDED, and if no voucher comes
 * within the grace time it ENDS (OCPP reason DeAuthorized).  The first
 * payment, too, must come within the grace time of the start.  A voucher in
 * the grace time resumes charging.  Pure: no I/O, O(1) per event. */
#ifndef WATTSTREAM_PAY_SESSION_H
#define WATTSTREAM_PAY_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/u256.h"

struct pay_terms {
	uint64_t price_per_kwh;		/* token base units per kWh, > 0 */
	uint32_t increment_wh;		/* energy bought per payment, > 0 */
	uint32_t prepaid_increments;	/* paid ahead, >= 1 */
	uint32_t grace_s;		/* how long a cut waits for payment */
};

enum pay_state {
	PAY_WAITING,	/* started, waiting for the first prepayment */
	PAY_CHARGING,	/* energy allowed: contactor closed */
	PAY_SUSPENDED,	/* allowance used up: contactor open, grace running */
	PAY_ENDED,
};

enum pay_end_reason {
	PAY_END_NONE,
	PAY_END_UNPAID,		/* grace ran out: OCPP DeAuthorized */
	PAY_END_STOPPED,	/* the driver or the station ended it */
};

/* What the caller must do after an event.  Flags are set only when the
 * action is needed now; times are monotonic microseconds (0 = none). */
struct pay_actions {
	bool close_contactor;
	bool open_contactor;
	bool invoice;			/* ask the wallet for invoice_total */
	ws_u256 invoice_total;		/* cumulative channel amount */
	uint32_t invoice_increments;	/* increments it pays for, in all */
	bool receipt;			/* increments completed: send a receipt */
	uint32_t receipt_increments;
	uint64_t cut_at_us;		/* run pay_session_tick() then, if still charging */
	uint64_t grace_until_us;	/* end the session then, if still suspended */
	bool ended;
	enum pay_end_reason end_reason;
};

enum pay_result {
	PAY_OK = 0,
	PAY_E_TERMS = 1,	/* terms out of range */
	PAY_E_NOT_HIGHER = 2,	/* voucher not above the highest one */
	PAY_E_OVERFLOW = 3,	/* amount arithmetic out of range */
	PAY_E_ENDED = 4,	/* session already ended */
};

struct pay_session {
	struct pay_terms terms;
	enum pay_state state;
	enum pay_end_reason end_reason;
	ws_u256 base;			/* channel total owed before this session */
	ws_u256 highest;		/* highest voucher accepted */
	double start_wh;		/* meter reading at start */
	uint64_t delivered_mwh;		/* last reading - start */
	uint64_t allowance_mwh;		/* paid energy */
	double power_w;			/* last reading's power */
	uint64_t reading_us;		/* its time */
	uint32_t invoiced;		/* increments invoiced so far */
	uint32_t receipted;		/* increments receipted so far */
	uint64_t grace_until_us;
	uint64_t suspended_count;
	uint64_t max_overshoot_mwh;	/* worst delivered - allowance seen */
};

/* Starts a session.  base: the channel's amount owed so far; highest: the
 * channel's highest voucher (>= base; any surplus is credit that already
 * buys energy).  Returns PAY_OK or PAY_E_TERMS / PAY_E_OVERFLOW. */
int pay_session_start(struct pay_session *s, const struct pay_terms *terms,
		      const ws_u256 *base, const ws_u256 *highest,
		      double meter_wh, uint64_t now_us, struct pay_actions *out)
	__attribute__((warn_unused_result));

/* A verified voucher for the cumulative amount.  Must be above the highest
 * (PAY_E_NOT_HIGHER otherwise, nothing changes). */
int pay_session_voucher(struct pay_session *s, const ws_u256 *amount,
			uint64_t now_us, struct pay_actions *out)
	__attribute__((warn_unused_result));

/* A good meter reading (total energy Wh, power W). */
void pay_session_reading(struct pay_session *s, double meter_wh, double power_w,
			 uint64_t now_us, struct pay_actions *out);

/* Timers: the projected cut or the end of the grace time is due. */
void pay_session_tick(struct pay_session *s, uint64_t now_us, struct pay_actions *out);

/* Ends the session now (driver or station stop). */
void pay_session_stop(struct pay_session *s, struct pay_actions *out);

/* The amount owed for energy delivered so far (base + due). */
int pay_session_owed(const struct pay_session *s, ws_u256 *total)
	__attribute__((warn_unused_result));

/* Cumulative amount owed for mwh at the terms' price, rounded up:
 * base + ceil(mwh * price / 1e6). */
int pay_amount_for_mwh(const struct pay_terms *t, const ws_u256 *base,
		       uint64_t mwh, ws_u256 *out) __attribute__((warn_unused_result));

const char *pay_state_name(enum pay_state s);

#endif
