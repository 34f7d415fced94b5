/* test-meter.c: plausibility checks on readings. */
#include "check.h"
#include "wattstream/meter.h"

static struct ws_reading reading(uint64_t t_us, double wh, double w)
{
	struct ws_reading r = { .t_us = t_us };
	r.have = 1u << WS_Q_ENERGY_WH | 1u << WS_Q_POWER_W;
	r.value[WS_Q_ENERGY_WH] = wh;
	r.value[WS_Q_POWER_W] = w;
	return r;
}

int main(void)
{
	struct ws_meter_limits lim = { .max_power_w = 11000, .max_voltage_v = 1000,
				       .max_current_a = 126 };
	struct ws_reading a = reading(1000000, 5000, 11000), b;

	CHECK_INT(meter_check(NULL, &a, &lim), METER_OK);
	/* 1 s later at 11 kW: about 3 Wh more */
	b = reading(2000000, 5003.05, 11000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_OK);
	/* unchanged is fine (contactor open) */
	b = reading(2000000, 5000, 0);
	CHECK_INT(meter_check(&a, &b, &lim), METER_OK);
	/* backwards, by any amount */
	b = reading(2000000, 4999.99, 0);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_BACKWARDS);
	/* a jump: 1 kWh in one second at 11 kW */
	b = reading(2000000, 6000, 11000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_JUMP);
	/* bound: 11 kW over (1 s + 1 s slack) + 1 Wh = 7.11 Wh */
	b = reading(2000000, 5007.0, 11000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_OK);
	b = reading(2000000, 5007.3, 11000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_JUMP);
	/* over a long gap more energy is plausible */
	b = reading(3600000000ull, 5000 + 10900, 11000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_OK);
	/* time going backwards */
	b = reading(999999, 5000, 0);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_TIME);
	/* power beyond the rating */
	b = reading(2000000, 5001, 13000);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_RANGE);
	/* negative energy, NaN, absurd voltage, no energy at all */
	b = reading(2000000, -1, 0);
	CHECK_INT(meter_check(NULL, &b, &lim), METER_E_RANGE);
	b = reading(2000000, 5001, NAN);
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_RANGE);
	b = reading(2000000, 5001, 0);
	b.have |= 1u << WS_Q_VOLTAGE_L2_V;
	b.value[WS_Q_VOLTAGE_L2_V] = 4000;
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_RANGE);
	b.value[WS_Q_VOLTAGE_L2_V] = 231;
	CHECK_INT(meter_check(&a, &b, &lim), METER_OK);
	b.have |= 1u << WS_Q_CURRENT_L1_A;
	b.value[WS_Q_CURRENT_L1_A] = 500;
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_RANGE);
	b.have = 1u << WS_Q_POWER_W;
	CHECK_INT(meter_check(&a, &b, &lim), METER_E_NO_ENERGY);
	CHECK_STR(meter_verdict_str(METER_E_BACKWARDS), "energy went backwards");
	return check_done();
}
