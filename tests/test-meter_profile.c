/* test-meter_profile.c: register decoding for every type and word order,
 * the built-in maps, and read planning. */
#include <errno.h>

#include "check.h"
#include "wattstream/meter_profile.h"

static const enum ws_word_order orders[] = {
	WS_ORDER_ABCD, WS_ORDER_CDAB, WS_ORDER_BADC, WS_ORDER_DCBA,
};

static void test_known_words(void)
{
	double v;
	/* 1234.5f = 0x449A5000 */
	uint16_t abcd[2] = { 0x449A, 0x5000 }, cdab[2] = { 0x5000, 0x449A };
	uint16_t badc[2] = { 0x9A44, 0x0050 }, dcba[2] = { 0x0050, 0x9A44 };

	CHECK_INT(meter_decode(abcd, WS_T_FLOAT32, WS_ORDER_ABCD, 1000, &v), 0);
	CHECK_NEAR(v, 1234500, 0);
	CHECK_INT(meter_decode(cdab, WS_T_FLOAT32, WS_ORDER_CDAB, 1, &v), 0);
	CHECK_NEAR(v, 1234.5, 0);
	CHECK_INT(meter_decode(badc, WS_T_FLOAT32, WS_ORDER_BADC, 1, &v), 0);
	CHECK_NEAR(v, 1234.5, 0);
	CHECK_INT(meter_decode(dcba, WS_T_FLOAT32, WS_ORDER_DCBA, 1, &v), 0);
	CHECK_NEAR(v, 1234.5, 0);

	/* uint32 0x00012345 = 74565, int32 -2 = 0xFFFFFFFE */
	uint16_t u32[2] = { 0x0001, 0x2345 };
	CHECK_INT(meter_decode(u32, WS_T_UINT32, WS_ORDER_ABCD, 1, &v), 0);
	CHECK_NEAR(v, 74565, 0);
	uint16_t u32l[2] = { 0x2345, 0x0001 };
	CHECK_INT(meter_decode(u32l, WS_T_UINT32, WS_ORDER_CDAB, 0.01, &v), 0);
	CHECK_NEAR(v, 745.65, 1e-9);
	uint16_t i32[2] = { 0xFFFF, 0xFFFE };
	CHECK_INT(meter_decode(i32, WS_T_INT32, WS_ORDER_ABCD, 1, &v), 0);
	CHECK_NEAR(v, -2, 0);
	uint16_t i16[1] = { 0xFF9C };
	CHECK_INT(meter_decode(i16, WS_T_INT16, WS_ORDER_ABCD, 0.1, &v), 0);
	CHECK_NEAR(v, -10, 1e-12);
	uint16_t i16s[1] = { 0x9CFF };
	CHECK_INT(meter_decode(i16s, WS_T_INT16, WS_ORDER_BADC, 1, &v), 0);
	CHECK_NEAR(v, -100, 0);

	/* ABB B23 energy: uint64 0.01 kWh, 123456789 = 0x075BCD15 */
	uint16_t u64[4] = { 0, 0, 0x075B, 0xCD15 };
	CHECK_INT(meter_decode(u64, WS_T_UINT64, WS_ORDER_ABCD, 10, &v), 0);
	CHECK_NEAR(v, 1234567890, 0);
	uint16_t u64l[4] = { 0xCD15, 0x075B, 0, 0 };
	CHECK_INT(meter_decode(u64l, WS_T_UINT64, WS_ORDER_CDAB, 10, &v), 0);
	CHECK_NEAR(v, 1234567890, 0);
	uint16_t i64[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
	CHECK_INT(meter_decode(i64, WS_T_INT64, WS_ORDER_ABCD, 1, &v), 0);
	CHECK_NEAR(v, -1, 0);

	/* not-a-number markers and float NaN/inf are no reading */
	v = 42;
	uint16_t nan32[2] = { 0x7FC0, 0x0000 }, inf32[2] = { 0x7F80, 0x0000 };
	CHECK_INT(meter_decode(nan32, WS_T_FLOAT32, WS_ORDER_ABCD, 1, &v), -EDOM);
	CHECK_INT(meter_decode(inf32, WS_T_FLOAT32, WS_ORDER_ABCD, 1, &v), -EDOM);
	uint16_t ones[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
	CHECK_INT(meter_decode(ones, WS_T_UINT16, WS_ORDER_ABCD, 1, &v), -EDOM);
	CHECK_INT(meter_decode(ones, WS_T_UINT32, WS_ORDER_ABCD, 1, &v), -EDOM);
	CHECK_INT(meter_decode(ones, WS_T_UINT64, WS_ORDER_ABCD, 1, &v), -EDOM);
	uint16_t max32[2] = { 0x7FFF, 0xFFFF };
	CHECK_INT(meter_decode(max32, WS_T_INT32, WS_ORDER_ABCD, 1, &v), -EDOM);
	CHECK_NEAR(v, 42, 0);	/* untouched on error */
	/* a finite float that overflows with the scale */
	uint16_t big[2] = { 0x7F7F, 0xFFFF };
	CHECK_INT(meter_decode(big, WS_T_FLOAT32, WS_ORDER_ABCD, 1e300, &v), -EDOM);
}

static void test_round_trip(void)
{
	static const struct { enum ws_reg_type t; double raw; } cases[] = {
		{ WS_T_FLOAT32, 1234.5 }, { WS_T_FLOAT32, -0.25 },
		{ WS_T_UINT16, 65000 }, { WS_T_INT16, -32000 },
		{ WS_T_UINT32, 4000000000.0 }, { WS_T_INT32, -2000000000.0 },
		{ WS_T_UINT64, 9007199254740992.0 }, { WS_T_INT64, -9007199254740992.0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t o = 0; o < 4; o++) {
			uint16_t w[4] = { 0 };
			double v = -1;
			meter_encode(cases[i].raw, cases[i].t, orders[o], w);
			CHECK_INT(meter_decode(w, cases[i].t, orders[o], 1, &v), 0);
			CHECK_NEAR(v, cases[i].raw, 0);
		}
}

static void test_builtin(void)
{
	const struct ws_meter_profile *p = meter_profile_builtin("sdm630");
	struct ws_read_plan plan;

	CHECK(p != NULL);
	CHECK(meter_profile_builtin("sdm999") == NULL);
	for (int i = 0; meter_profile_builtin_names[i]; i++) {
		const struct ws_meter_profile *q = meter_profile_builtin(meter_profile_builtin_names[i]);
		CHECK(q != NULL);
		CHECK(q && q->reg[WS_Q_ENERGY_WH].present);
		CHECK(q && q->reg[WS_Q_POWER_W].present);
		CHECK(q && meter_profile_plan(q, &plan) == 0);
	}
	/* SDM630: voltages and currents in one read, power and energy
	 * (18 registers apart) in another */
	CHECK_INT(meter_profile_plan(p, &plan), 0);
	CHECK_INT(plan.n, 2);
	CHECK_INT(plan.block[0].function, WS_FN_INPUT);
	CHECK_INT(plan.block[0].start, 0x0000);
	CHECK_INT(plan.block[0].count, 12);
	CHECK_INT(plan.block[1].start, 0x0034);
	CHECK_INT(plan.block[1].count, 0x0016);

	/* ABB B23: energy at 0x5000 and instantaneous values at 0x5B00: two reads */
	CHECK_INT(meter_profile_plan(meter_profile_builtin("abb-b23"), &plan), 0);
	CHECK_INT(plan.n, 2);
	CHECK_INT(plan.block[0].start, 0x5000);
	CHECK_INT(plan.block[0].count, 4);
	CHECK_INT(plan.block[1].start, 0x5B00);
	CHECK_INT(plan.block[1].count, 0x16);

	/* decode an SDM630 block laid out by hand */
	uint16_t block[0x4A] = { 0 };
	meter_encode(230.5, WS_T_FLOAT32, WS_ORDER_ABCD, &block[0x0000]);
	meter_encode(16.25, WS_T_FLOAT32, WS_ORDER_ABCD, &block[0x0008]);
	meter_encode(11000, WS_T_FLOAT32, WS_ORDER_ABCD, &block[0x0034]);
	meter_encode(1234.5, WS_T_FLOAT32, WS_ORDER_ABCD, &block[0x0048]);
	CHECK_INT(meter_profile_plan(p, &plan), 0);
	const uint16_t *data[2] = { block, block + 0x34 };
	double v;
	const uint16_t *w = meter_plan_locate(&plan, data, &p->reg[WS_Q_ENERGY_WH]);
	CHECK(w == &block[0x48]);
	CHECK(w && meter_decode(w, WS_T_FLOAT32, WS_ORDER_ABCD, 1000, &v) == 0 && v == 1234500);
	w = meter_plan_locate(&plan, data, &p->reg[WS_Q_CURRENT_L2_A]);
	CHECK(w && meter_decode(w, WS_T_FLOAT32, WS_ORDER_ABCD, 1, &v) == 0 && v == 16.25);
	struct ws_register outside = { true, WS_FN_INPUT, 0x0049, WS_T_FLOAT32, WS_ORDER_ABCD, 1 };
	CHECK(meter_plan_locate(&plan, data, &outside) == NULL);
	outside.function = WS_FN_HOLDING;
	outside.address = 0;
	CHECK(meter_plan_locate(&plan, data, &outside) == NULL);
}

static void test_plan_limits(void)
{
	struct ws_meter_profile p = { .name = "x" };
	struct ws_read_plan plan;

	CHECK_INT(meter_profile_plan(&p, &plan), -EINVAL);	/* no energy */
	/* far apart and on both functions: no merging */
	p.reg[WS_Q_ENERGY_WH] = (struct ws_register){ true, WS_FN_HOLDING, 0x0000, WS_T_UINT64, WS_ORDER_ABCD, 1 };
	p.reg[WS_Q_POWER_W] = (struct ws_register){ true, WS_FN_HOLDING, 0x0200, WS_T_INT32, WS_ORDER_ABCD, 1 };
	p.reg[WS_Q_VOLTAGE_L1_V] = (struct ws_register){ true, WS_FN_INPUT, 0x0004, WS_T_UINT16, WS_ORDER_ABCD, 1 };
	p.reg[WS_Q_CURRENT_L1_A] = (struct ws_register){ true, WS_FN_HOLDING, 0x0006, WS_T_UINT16, WS_ORDER_ABCD, 1 };
	CHECK_INT(meter_profile_plan(&p, &plan), 0);
	CHECK_INT(plan.n, 3);
	CHECK_INT(plan.block[0].function, WS_FN_INPUT);
	CHECK_INT(plan.block[1].start, 0);
	CHECK_INT(plan.block[1].count, 7);
	CHECK_INT(plan.block[2].start, 0x200);
	/* never more than 125 registers in one read */
	p.reg[WS_Q_POWER_W].address = 124;
	CHECK_INT(meter_profile_plan(&p, &plan), 0);
	for (unsigned i = 0; i < plan.n; i++)
		CHECK(plan.block[i].count <= WS_MODBUS_MAX_READ);
	/* a register at the top of the address space */
	p.reg[WS_Q_POWER_W].address = 0xFFFF;
	CHECK_INT(meter_profile_plan(&p, &plan), -EINVAL);

	CHECK_INT(meter_quantity_parse("energy_wh"), WS_Q_ENERGY_WH);
	CHECK_INT(meter_quantity_parse("energy"), -1);
	CHECK_INT(meter_reg_type_parse("uint64"), WS_T_UINT64);
	CHECK_INT(meter_word_order_parse("dcba"), WS_ORDER_DCBA);
	CHECK_INT(meter_reg_function_parse("coil"), -1);
}

int main(void)
{
	test_known_words();
	test_round_trip();
	test_builtin();
	test_plan_limits();
	return check_done();
}
