/* test-ev_model.c: unit tests of the simulated EV (sim/ev_model.c): the
 * power curve, exact integration on both sides of the taper, independence
 * from the step size, the conditions that stop energy, and rejection of
 * out-of-range and NaN inputs.  Runs in microseconds. */
#include "check.h"
#include "ev_model.h"

#include <math.h>
#include <string.h>

#define S_US 1000000ull
#define H_US (3600ull * S_US)

static struct ev_model fresh(double p_w, double cap_wh, double soc)
{
	struct ev_model m;
	int rc = ev_model_init(&m, true, p_w, cap_wh, soc, 1000);
	CHECK_INT(rc, 0);
	return m;
}

static void test_init(void)
{
	struct ev_model m, before;

	CHECK_INT(ev_model_init(&m, true, 11000, 60000, 20, 5), 0);
	CHECK(m.plugged);
	CHECK_NEAR(m.requested_w, 11000, 0);
	CHECK_NEAR(m.capacity_wh, 60000, 0);
	CHECK_NEAR(m.soc_pct, 20, 0);
	CHECK_NEAR(m.energy_wh, 0, 0);
	CHECK_INT(m.now_us, 5);
	CHECK_INT(ev_model_init(&m, false, 0, 1, 0, 0), 0);
	CHECK(!m.plugged);
	CHECK_INT(ev_model_init(&m, true, EV_MODEL_MAX_POWER_W, 1, 100, 0), 0);
	CHECK(ev_model_full(&m));

	/* Rejected values leave the struct alone. */
	memset(&before, 0xA5, sizeof(before));
	m = before;
	CHECK_INT(ev_model_init(&m, true, -1, 60000, 20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, EV_MODEL_MAX_POWER_W + 1, 60000, 20, 0),
		  EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, NAN, 60000, 20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, INFINITY, 60000, 20, 0),
		  EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, 0, 20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, -5, 20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, NAN, 20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, EV_MODEL_MAX_CAPACITY_WH * 2,
				20, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, 60000, -0.1, 0),
		  EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, 60000, 100.1, 0),
		  EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_init(&m, true, 11000, 60000, NAN, 0),
		  EV_MODEL_E_RANGE);
	CHECK_MEM(&m, &before, sizeof(m));
}

static void test_power(void)
{
	struct ev_model m = fresh(50000, 60000, 50);

	CHECK_NEAR(ev_model_power_w(&m, true), 50000, 0);
	CHECK_NEAR(ev_model_power_w(&m, false), 0, 0);
	ev_model_set_plugged(&m, false);
	CHECK_NEAR(ev_model_power_w(&m, true), 0, 0);
	ev_model_set_plugged(&m, true);
	CHECK_INT(ev_model_set_soc_pct(&m, 80), 0);
	CHECK_NEAR(ev_model_power_w(&m, true), 50000, 1e-9);
	CHECK_INT(ev_model_set_soc_pct(&m, 90), 0);
	CHECK_NEAR(ev_model_power_w(&m, true), 25000, 1e-9);
	CHECK_INT(ev_model_set_soc_pct(&m, 99), 0);
	CHECK_NEAR(ev_model_power_w(&m, true), 2500, 1e-9);
	CHECK_INT(ev_model_set_soc_pct(&m, 100), 0);
	CHECK(ev_model_full(&m));
	CHECK_NEAR(ev_model_power_w(&m, true), 0, 0);
	/* Within the full epsilon counts as full. */
	CHECK_INT(ev_model_set_soc_pct(&m, 100 - EV_MODEL_FULL_EPS_PCT / 2), 0);
	CHECK(ev_model_full(&m));
	CHECK_NEAR(m.soc_pct, 100, 0);
}

static void test_linear(void)
{
	/* 11 kW for one hour into a 100 kWh battery at 10 %: 11 kWh, 21 %. */
	struct ev_model m = fresh(11000, 100000, 10);

	CHECK_INT(ev_model_advance(&m, true, 1000 + H_US), 0);
	CHECK_NEAR(m.energy_wh, 11000, 1e-6);
	CHECK_NEAR(m.soc_pct, 21, 1e-9);
	CHECK_INT(m.now_us, 1000 + H_US);

	/* Advancing to the same instant adds nothing. */
	CHECK_INT(ev_model_advance(&m, true, 1000 + H_US), 0);
	CHECK_NEAR(m.energy_wh, 11000, 1e-6);
}

static void test_taper_exact(void)
{
	/* C = 36 kWh, P = 36 kW: 1/36 % per second below 80 %, so 70 -> 80 %
	 * takes 360 s; then tau = 720 s.  After 360 s + 720 s the remaining
	 * 20 % has decayed to 20/e. */
	struct ev_model m = fresh(36000, 36000, 70);
	uint64_t t = 1000;

	CHECK_INT(ev_model_advance(&m, true, t + 360 * S_US), 0);
	CHECK_NEAR(m.soc_pct, 80, 1e-9);
	CHECK_NEAR(m.energy_wh, 3600, 1e-6);
	CHECK_INT(ev_model_advance(&m, true, t + 1080 * S_US), 0);
	CHECK_NEAR(m.soc_pct, 100 - 20 / M_E, 1e-9);
	CHECK_NEAR(m.energy_wh, 36000 * (30 - 20 / M_E) / 100, 1e-6);
	CHECK_NEAR(ev_model_power_w(&m, true), 36000 / M_E, 1e-6);

	/* The same span in one step crosses the 80 % boundary exactly. */
	struct ev_model one = fresh(36000, 36000, 70);
	CHECK_INT(ev_model_advance(&one, true, t + 1080 * S_US), 0);
	CHECK_NEAR(one.soc_pct, m.soc_pct, 1e-9);
	CHECK_NEAR(one.energy_wh, m.energy_wh, 1e-6);
}

static void test_step_independence(void)
{
	/* 2 hours of 150 kW into 77 kWh from 5 %: 50 ms steps vs one step. */
	struct ev_model a = fresh(150000, 77000, 5);
	struct ev_model b = fresh(150000, 77000, 5);
	uint64_t end = 1000 + 2 * H_US;

	int fails = 0;
	for (uint64_t t = 1000; t <= end; t += 50000)
		fails += ev_model_advance(&a, true, t) != 0;
	CHECK_INT(fails, 0);
	CHECK_INT(ev_model_advance(&a, true, end), 0);
	CHECK_INT(ev_model_advance(&b, true, end), 0);
	CHECK_NEAR(a.energy_wh, b.energy_wh, 1e-3);
	CHECK_NEAR(a.soc_pct, b.soc_pct, 1e-6);
	/* Energy is capacity times SoC gained, never more than to full. */
	CHECK_NEAR(b.energy_wh, 77000 * (b.soc_pct - 5) / 100, 1e-6);
	CHECK(b.energy_wh <= 77000 * 0.95 + 1e-6);
}

static void test_full_stops(void)
{
	struct ev_model m = fresh(350000, 50000, 95);

	/* Days of charging: the battery is full and the energy is exactly
	 * what was missing, then nothing more flows. */
	CHECK_INT(ev_model_advance(&m, true, 1000 + 48 * H_US), 0);
	CHECK(ev_model_full(&m));
	CHECK_NEAR(m.soc_pct, 100, 0);
	CHECK_NEAR(m.energy_wh, 2500, 1e-3);
	CHECK_NEAR(ev_model_power_w(&m, true), 0, 0);
	double e = m.energy_wh;
	CHECK_INT(ev_model_advance(&m, true, 1000 + 96 * H_US), 0);
	CHECK_NEAR(m.energy_wh, e, 0);

	/* A huge step (UINT64_MAX us) gives no NaN and no energy. */
	CHECK_INT(ev_model_advance(&m, true, UINT64_MAX), 0);
	CHECK(isfinite(m.energy_wh));
	CHECK_NEAR(m.energy_wh, e, 0);
}

static void test_huge_step(void)
{
	/* One step of about 585000 years from 10 %: full, and exactly the
	 * missing 90 % delivered, no NaN or overflow. */
	struct ev_model m = fresh(7000, 40000, 10);

	CHECK_INT(ev_model_advance(&m, true, UINT64_MAX), 0);
	CHECK(ev_model_full(&m));
	CHECK_NEAR(m.energy_wh, 36000, 1e-6);
	CHECK(isfinite(m.soc_pct));
}

static void test_no_energy_when(void)
{
	struct ev_model m = fresh(22000, 60000, 30);

	/* Contactor open. */
	CHECK_INT(ev_model_advance(&m, false, 1000 + H_US), 0);
	CHECK_NEAR(m.energy_wh, 0, 0);
	CHECK_NEAR(m.soc_pct, 30, 0);
	CHECK_INT(m.now_us, 1000 + H_US);
	/* Unplugged. */
	ev_model_set_plugged(&m, false);
	CHECK_INT(ev_model_advance(&m, true, 1000 + 2 * H_US), 0);
	CHECK_NEAR(m.energy_wh, 0, 0);
	/* Nothing requested. */
	ev_model_set_plugged(&m, true);
	CHECK_INT(ev_model_set_requested_w(&m, 0), 0);
	CHECK_INT(ev_model_advance(&m, true, 1000 + 3 * H_US), 0);
	CHECK_NEAR(m.energy_wh, 0, 0);
	/* Back on: only the last half hour counts. */
	CHECK_INT(ev_model_set_requested_w(&m, 22000), 0);
	CHECK_INT(ev_model_advance(&m, true, 1000 + 3 * H_US + H_US / 2), 0);
	CHECK_NEAR(m.energy_wh, 11000, 1e-6);
}

static void test_time_backwards(void)
{
	struct ev_model m = fresh(11000, 60000, 30);

	CHECK_INT(ev_model_advance(&m, true, 1000 + H_US), 0);
	struct ev_model before = m;
	CHECK_INT(ev_model_advance(&m, true, 999), EV_MODEL_E_TIME);
	CHECK_INT(ev_model_advance(&m, true, H_US), EV_MODEL_E_TIME);
	CHECK_MEM(&m, &before, sizeof(m));
}

static void test_setters(void)
{
	struct ev_model m = fresh(11000, 60000, 30);
	CHECK_INT(ev_model_advance(&m, true, 1000 + H_US), 0);
	struct ev_model before = m;

	CHECK_INT(ev_model_set_requested_w(&m, -0.001), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_requested_w(&m, 350000.5), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_requested_w(&m, NAN), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_requested_w(&m, -INFINITY), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_soc_pct(&m, -1), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_soc_pct(&m, 100.0001), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_soc_pct(&m, NAN), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_capacity_wh(&m, 0), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_capacity_wh(&m, -1), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_capacity_wh(&m, NAN), EV_MODEL_E_RANGE);
	CHECK_INT(ev_model_set_capacity_wh(&m, INFINITY), EV_MODEL_E_RANGE);
	CHECK_MEM(&m, &before, sizeof(m));

	/* A new capacity keeps SoC and delivered energy. */
	CHECK_INT(ev_model_set_capacity_wh(&m, 120000), 0);
	CHECK_NEAR(m.capacity_wh, 120000, 0);
	CHECK_NEAR(m.soc_pct, before.soc_pct, 0);
	CHECK_NEAR(m.energy_wh, before.energy_wh, 0);
	/* A new SoC keeps the delivered energy, too. */
	CHECK_INT(ev_model_set_soc_pct(&m, 5), 0);
	CHECK_NEAR(m.energy_wh, before.energy_wh, 0);
	CHECK_INT(ev_model_set_requested_w(&m, 350000), 0);
	CHECK_NEAR(ev_model_power_w(&m, true), 350000, 0);
}

int main(void)
{
	test_init();
	test_power();
	test_linear();
	test_taper_exact();
	test_step_independence();
	test_full_stops();
	test_huge_step();
	test_no_energy_when();
	test_time_backwards();
	test_setters();
	return check_done();
}
