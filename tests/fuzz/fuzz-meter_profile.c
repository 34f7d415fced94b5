/* fuzz-meter_profile.c: register decoding and read planning on arbitrary
 * words.  Input: byte 0 picks type and order, byte 1 the scale, the rest
 * are register words; then the same bytes drive a random generic profile. */
#include <math.h>
#include <string.h>

#include "wattstream/meter_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum ws_reg_type type = (enum ws_reg_type)(data[0] % 7);
	enum ws_word_order order = (enum ws_word_order)((data[0] >> 3) % 4);
	static const double scales[] = { 1, 0.1, 0.01, 10, 1000, -1, 1e300, 1e-300 };
	double scale = scales[data[1] % 8];
	uint16_t words[4] = { 0 };
	size_t n = size - 2 > sizeof(words) ? sizeof(words) : size - 2;
	memcpy(words, data + 2, n);

	double v;
	if (meter_decode(words, type, order, scale, &v) == 0 && !isfinite(v))
		__builtin_trap();	/* decode must never hand out NaN/inf */

	/* a generic profile from the input */
	struct ws_meter_profile p = { .name = "fuzz" };
	size_t off = 2;
	for (int q = 0; q < WS_Q_COUNT && off + 3 <= size; q++, off += 3) {
		p.reg[q].present = data[off] & 1;
		p.reg[q].function = (enum ws_reg_function)((data[off] >> 1) & 1);
		p.reg[q].type = (enum ws_reg_type)((data[off] >> 2) % 7);
		p.reg[q].address = (uint16_t)(data[off + 1] << 8 | data[off + 2]);
		p.reg[q].scale = 1;
	}
	struct ws_read_plan plan;
	if (meter_profile_plan(&p, &plan) == 0) {
		static uint16_t blocks[WS_PLAN_MAX_READS][WS_MODBUS_MAX_READ];
		const uint16_t *ptrs[WS_PLAN_MAX_READS];
		for (unsigned i = 0; i < plan.n; i++) {
			if (plan.block[i].count == 0 || plan.block[i].count > WS_MODBUS_MAX_READ)
				__builtin_trap();
			ptrs[i] = blocks[i];
		}
		/* every present register is covered by the plan */
		for (int q = 0; q < WS_Q_COUNT; q++)
			if (p.reg[q].present && !meter_plan_locate(&plan, ptrs, &p.reg[q]))
				__builtin_trap();
	}
	return 0;
}
