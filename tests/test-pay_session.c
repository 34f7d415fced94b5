/* test-pay_session.c: the paid-session accounting: prepay, cut at the
 * allowance (on a reading and on the projected timer), grace and resume,
 * credit carried between sessions, rejected vouchers, rounding. */
#include "check.h"
#include "wattstream/pay_session.h"

#define S(x) ((uint64_t)((x) * 1000000.0))

static ws_u256 u(uint64_t v)
{
	return ws_u256_from_u64(v);
}

static uint64_t u64(const ws_u256 *a)
{
	uint64_t v = 0;
	CHECK_INT(ws_u256_to_u64(a, &v), 0);
	return v;
}

/* 0.30 per kWh in a 6-decimal token; 100 Wh increments; 1 prepaid; 30 s grace */
static const struct pay_terms terms = { 300000, 100, 1, 30 };

static void test_normal_and_cut(void)
{
	struct pay_session s;
	struct pay_actions a;
	ws_u256 zero = u(0), v;

	CHECK_INT(pay_session_start(&s, &terms, &zero, &zero, 1000.0, S(0), &a), PAY_OK);
	CHECK_INT(s.state, PAY_WAITING);
	CHECK(a.invoice);
	CHECK_INT(u64(&a.invoice_total), 60000);	/* increments 0 and 1: 0.2 kWh at 300000/kWh */
	CHECK_INT(a.invoice_increments, 2);
	CHECK(!a.close_contactor);

	v = u(30000);	/* the wallet pays only the first increment */
	CHECK_INT(pay_session_voucher(&s, &v, S(1), &a), PAY_OK);
	CHECK_INT(s.state, PAY_CHARGING);
	CHECK(a.close_contactor);
	CHECK_INT(s.allowance_mwh, 100000);

	/* 50 Wh in at 11 kW: the cut is projected 50 Wh / 11 kW = 16.36 s on */
	pay_session_reading(&s, 1050.0, 11000, S(10), &a);
	CHECK(!a.invoice);
	CHECK_INT(a.cut_at_us, S(10) + 16363636);
	/* increment 1 begins at 100 Wh: pay through 2 (3 in all); the
	 * allowance is used up */
	pay_session_reading(&s, 1100.0, 11000, S(26.4), &a);
	CHECK(a.invoice);
	CHECK_INT(u64(&a.invoice_total), 90000);
	CHECK_INT(a.invoice_increments, 3);
	CHECK(a.receipt);
	CHECK_INT(a.receipt_increments, 1);
	CHECK_INT(s.state, PAY_SUSPENDED);
	CHECK(a.open_contactor);
	CHECK_INT(a.grace_until_us, S(56.4));

	/* paid within the grace: charging resumes */
	v = u(60000);
	CHECK_INT(pay_session_voucher(&s, &v, S(27), &a), PAY_OK);
	CHECK_INT(s.state, PAY_CHARGING);
	CHECK(a.close_contactor);

	/* the same or a lower amount gains nothing */
	CHECK_INT(pay_session_voucher(&s, &v, S(28), &a), PAY_E_NOT_HIGHER);
	v = u(59999);
	CHECK_INT(pay_session_voucher(&s, &v, S(28), &a), PAY_E_NOT_HIGHER);

	/* between samples the timer cuts at the projected energy: 190 Wh at
	 * 36 kW, the last 10 Wh take 1 s */
	pay_session_reading(&s, 1190.0, 36000, S(30), &a);
	CHECK_INT(a.cut_at_us, S(31));
	pay_session_tick(&s, S(30.5), &a);
	CHECK_INT(s.state, PAY_CHARGING);	/* 195 Wh: not yet */
	CHECK_INT(a.cut_at_us, S(31));
	pay_session_tick(&s, S(31), &a);
	CHECK_INT(s.state, PAY_SUSPENDED);
	CHECK(a.open_contactor);

	/* no payment: the grace runs out */
	pay_session_tick(&s, S(60.9), &a);
	CHECK_INT(s.state, PAY_SUSPENDED);
	pay_session_tick(&s, S(61), &a);
	CHECK_INT(s.state, PAY_ENDED);
	CHECK(a.ended);
	CHECK_INT(a.end_reason, PAY_END_UNPAID);
	/* what arrived after the cut is measured, not hidden */
	pay_session_reading(&s, 1201.5, 0, S(62), &a);
	CHECK_INT(s.delivered_mwh, 190000);	/* ended: readings ignored */
	v = u(90000);
	CHECK_INT(pay_session_voucher(&s, &v, S(63), &a), PAY_E_ENDED);
}

static void test_overshoot_and_owed(void)
{
	struct pay_session s;
	struct pay_actions a;
	ws_u256 zero = u(0), v = u(30000), owed;

	CHECK_INT(pay_session_start(&s, &terms, &zero, &zero, 0.0, S(0), &a), PAY_OK);
	CHECK_INT(pay_session_voucher(&s, &v, S(0), &a), PAY_OK);
	/* a reading already past the allowance: cut, overshoot recorded */
	pay_session_reading(&s, 102.3, 350000, S(1), &a);
	CHECK_INT(s.state, PAY_SUSPENDED);
	CHECK_INT(s.max_overshoot_mwh, 2300);
	CHECK_INT(pay_session_owed(&s, &owed), PAY_OK);
	CHECK_INT(u64(&owed), 30690);	/* 102.3 Wh * 0.3 = 30690 */
	pay_session_stop(&s, &a);
	CHECK(a.ended);
	CHECK_INT(a.end_reason, PAY_END_STOPPED);
	CHECK(!a.open_contactor);	/* already open */
}

static void test_credit_and_terms(void)
{
	struct pay_session s;
	struct pay_actions a;
	ws_u256 base = u(30000), highest = u(60000);

	/* a surplus from the last session already buys 100 Wh: charge at once */
	CHECK_INT(pay_session_start(&s, &terms, &base, &highest, 5.0, S(0), &a), PAY_OK);
	CHECK_INT(s.state, PAY_CHARGING);
	CHECK(a.close_contactor);
	CHECK_INT(u64(&a.invoice_total), 90000);	/* base + 2 increments */
	/* a surplus of less than 5 % of an increment does not */
	highest = u(30001);
	CHECK_INT(pay_session_start(&s, &terms, &base, &highest, 5.0, S(0), &a), PAY_OK);
	CHECK_INT(s.state, PAY_WAITING);
	/* vouchers below the channel's base are refused at start */
	CHECK_INT(pay_session_start(&s, &terms, &highest, &base, 5.0, S(0), &a), PAY_E_OVERFLOW);

	struct pay_terms bad = terms;
	bad.price_per_kwh = 0;
	CHECK_INT(pay_session_start(&s, &bad, &base, &base, 0, 0, &a), PAY_E_TERMS);
	bad = terms;
	bad.prepaid_increments = 0;
	CHECK_INT(pay_session_start(&s, &bad, &base, &base, 0, 0, &a), PAY_E_TERMS);
	bad = terms;
	bad.grace_s = 100000;
	CHECK_INT(pay_session_start(&s, &bad, &base, &base, 0, 0, &a), PAY_E_TERMS);

	/* no first payment within the grace time: the session ends unpaid */
	highest = u(30000);
	CHECK_INT(pay_session_start(&s, &terms, &base, &highest, 5.0, S(0), &a), PAY_OK);
	CHECK_INT(s.state, PAY_WAITING);
	CHECK_INT(a.grace_until_us, S(30));
	pay_session_tick(&s, S(29), &a);
	CHECK_INT(s.state, PAY_WAITING);
	pay_session_tick(&s, S(30), &a);
	CHECK_INT(s.state, PAY_ENDED);
	CHECK_INT(a.end_reason, PAY_END_UNPAID);

	/* rounding is up, to the base unit */
	struct pay_terms t7 = { 7, 1, 1, 0 };
	ws_u256 out, zero = u(0);
	CHECK_INT(pay_amount_for_mwh(&t7, &zero, 1, &out), PAY_OK);
	CHECK_INT(u64(&out), 1);
	CHECK_INT(pay_amount_for_mwh(&t7, &zero, 1000000, &out), PAY_OK);
	CHECK_INT(u64(&out), 7);
	/* huge amounts: an 18-decimal token at 1e19 per kWh */
	struct pay_terms big = { 10000000000000000000ull, 1000, 2, 60 };
	CHECK_INT(pay_session_start(&s, &big, &zero, &zero, 0, 0, &a), PAY_OK);
	char dec[80];
	CHECK_INT(ws_u256_to_dec(&a.invoice_total, dec, sizeof(dec)), 0);
	CHECK_STR(dec, "30000000000000000000");	/* 1 + 2 prepaid kWh */
	/* a voucher of 2^256-1 saturates the allowance instead of wrapping */
	ws_u256 max;
	CHECK_INT(ws_u256_from_dec(&max, "115792089237316195423570985008687907853269984665640564039457584007913129639935"), 0);
	CHECK_INT(pay_session_voucher(&s, &max, 0, &a), PAY_OK);
	CHECK(s.allowance_mwh == UINT64_MAX);
	CHECK_STR(pay_state_name(s.state), "charging");
}

int main(void)
{
	test_normal_and_cut();
	test_overshoot_and_owed();
	test_credit_and_terms();
	return check_done();
}
