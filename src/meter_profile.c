/* meter_profile.c: the built-in register maps (Eastron SDM630, SDM120, SDM72,
 * ABB B23), value decoding for every type and word order, and the read plan
 * that fetches a profile's registers in as few Modbus requests as possible.
 *
 * Sources of the maps: the manufacturers' Modbus protocol documents (Eastron
 * "SDM630 Modbus protocol" input registers 30001.., float32 big-endian;
 * ABB "B21/B23/B24 Modbus register map", holding registers, integers with
 * fixed resolution).  All functions are pure and run in constant time. */
#include "wattstream/meter_profile.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define F32(addr, sc) { true, WS_FN_INPUT, (addr), WS_T_FLOAT32, WS_ORDER_ABCD, (sc) }
#define ABB(addr, t, sc) { true, WS_FN_HOLDING, (addr), (t), WS_ORDER_ABCD, (sc) }

static const struct ws_meter_profile builtin[] = {
	{
		.name = "sdm630",
		.reg = {
			[WS_Q_ENERGY_WH] = F32(0x0048, 1000.0),	/* kWh */
			[WS_Q_POWER_W] = F32(0x0034, 1.0),
			[WS_Q_CURRENT_L1_A] = F32(0x0006, 1.0),
			[WS_Q_CURRENT_L2_A] = F32(0x0008, 1.0),
			[WS_Q_CURRENT_L3_A] = F32(0x000A, 1.0),
			[WS_Q_VOLTAGE_L1_V] = F32(0x0000, 1.0),
			[WS_Q_VOLTAGE_L2_V] = F32(0x0002, 1.0),
			[WS_Q_VOLTAGE_L3_V] = F32(0x0004, 1.0),
		},
	},
	{
		/* single phase: no L2/L3; power of its only phase */
		.name = "sdm120",
		.reg = {
			[WS_Q_ENERGY_WH] = F32(0x0048, 1000.0),
			[WS_Q_POWER_W] = F32(0x000C, 1.0),
			[WS_Q_CURRENT_L1_A] = F32(0x0006, 1.0),
			[WS_Q_VOLTAGE_L1_V] = F32(0x0000, 1.0),
		},
	},
	{
		/* SDM72D-M: three phase, same addresses as the SDM630 */
		.name = "sdm72",
		.reg = {
			[WS_Q_ENERGY_WH] = F32(0x0048, 1000.0),
			[WS_Q_POWER_W] = F32(0x0034, 1.0),
			[WS_Q_CURRENT_L1_A] = F32(0x0006, 1.0),
			[WS_Q_CURRENT_L2_A] = F32(0x0008, 1.0),
			[WS_Q_CURRENT_L3_A] = F32(0x000A, 1.0),
			[WS_Q_VOLTAGE_L1_V] = F32(0x0000, 1.0),
			[WS_Q_VOLTAGE_L2_V] = F32(0x0002, 1.0),
			[WS_Q_VOLTAGE_L3_V] = F32(0x0004, 1.0),
		},
	},
	{
		.name = "abb-b23",
		.reg = {
			[WS_Q_ENERGY_WH] = ABB(0x5000, WS_T_UINT64, 10.0), /* 0.01 kWh */
			[WS_Q_POWER_W] = ABB(0x5B14, WS_T_INT32, 0.01),
			[WS_Q_CURRENT_L1_A] = ABB(0x5B0C, WS_T_UINT32, 0.01),
			[WS_Q_CURRENT_L2_A] = ABB(0x5B0E, WS_T_UINT32, 0.01),
			[WS_Q_CURRENT_L3_A] = ABB(0x5B10, WS_T_UINT32, 0.01),
			[WS_Q_VOLTAGE_L1_V] = ABB(0x5B00, WS_T_UINT32, 0.1),
			[WS_Q_VOLTAGE_L2_V] = ABB(0x5B02, WS_T_UINT32, 0.1),
			[WS_Q_VOLTAGE_L3_V] = ABB(0x5B04, WS_T_UINT32, 0.1),
		},
	},
};

const char *const meter_profile_builtin_names[] = {
	"sdm630", "sdm120", "sdm72", "abb-b23", NULL,
};

const struct ws_meter_profile *meter_profile_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	return NULL;
}

static const char *const quantity_names[WS_Q_COUNT] = {
	"energy_wh", "power_w",
	"current_l1_a", "current_l2_a", "current_l3_a",
	"voltage_l1_v", "voltage_l2_v", "voltage_l3_v",
};
static const char *const type_names[] = {
	"float32", "uint16", "int16", "uint32", "int32", "uint64", "int64",
};
static const char *const order_names[] = { "abcd", "cdab", "badc", "dcba" };
static const char *const function_names[] = { "input", "holding" };

#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *meter_quantity_name(enum ws_quantity q)
{
	return (unsigned)q < WS_Q_COUNT ? quantity_names[q] : "?";
}
int meter_quantity_parse(const char *name)
{
	return lookup(quantity_names, NAMES(quantity_names), name);
}
const char *meter_reg_type_name(enum ws_reg_type t)
{
	return (unsigned)t < NAMES(type_names) ? type_names[t] : "?";
}
int meter_reg_type_parse(const char *name)
{
	return lookup(type_names, NAMES(type_names), name);
}
const char *meter_word_order_name(enum ws_word_order o)
{
	return (unsigned)o < NAMES(order_names) ? order_names[o] : "?";
}
int meter_word_order_parse(const char *name)
{
	return lookup(order_names, NAMES(order_names), name);
}
const char *meter_reg_function_name(enum ws_reg_function f)
{
	return (unsigned)f < NAMES(function_names) ? function_names[f] : "?";
}
int meter_reg_function_parse(const char *name)
{
	return lookup(function_names, NAMES(function_names), name);
}

unsigned meter_reg_type_words(enum ws_reg_type type)
{
	switch (type) {
	case WS_T_UINT16:
	case WS_T_INT16:
		return 1;
	case WS_T_FLOAT32:
	case WS_T_UINT32:
	case WS_T_INT32:
		return 2;
	case WS_T_UINT64:
	case WS_T_INT64:
		return 4;
	}
	return 0;
}

static uint16_t swap16(uint16_t w)
{
	return (uint16_t)((w >> 8) | (w << 8));
}

/* Assembles n words into an integer, most significant first, after undoing
 * the word order: cdab/dcba store the least significant word first, badc/dcba
 * swap the bytes inside each word. */
static uint64_t gather(const uint16_t *w, unsigned n, enum ws_word_order order)
{
	bool low_first = order == WS_ORDER_CDAB || order == WS_ORDER_DCBA;
	bool byteswap = order == WS_ORDER_BADC || order == WS_ORDER_DCBA;
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t word = w[low_first ? n - 1 - i : i];
		if (byteswap)
			word = swap16(word);
		v = (v << 16) | word;
	}
	return v;
}

static void scatter(uint64_t v, unsigned n, enum ws_word_order order, uint16_t *w)
{
	bool low_first = order == WS_ORDER_CDAB || order == WS_ORDER_DCBA;
	bool byteswap = order == WS_ORDER_BADC || order == WS_ORDER_DCBA;

	for (unsigned i = 0; i < n; i++) {
		uint16_t word = (uint16_t)(v >> (16 * (n - 1 - i)));
		if (byteswap)
			word = swap16(word);
		w[low_first ? n - 1 - i : i] = word;
	}
}

int meter_decode(const uint16_t *words, enum ws_reg_type type,
		 enum ws_word_order order, double scale, double *out)
{
	unsigned n = meter_reg_type_words(type);
	uint64_t raw;
	double v;

	if (n == 0)
		return -EINVAL;
	raw = gather(words, n, order);
	/* Integer meters mark "not available" with the type's all-ones
	 * (unsigned) or maximum (signed) value; such a value is no reading. */
	switch (type) {
	case WS_T_FLOAT32: {
		uint32_t bits = (uint32_t)raw;
		float f;
		memcpy(&f, &bits, sizeof(f));
		v = f;
		break;
	}
	case WS_T_UINT16:
		if (raw == 0xFFFF)
			return -EDOM;
		v = (double)raw;
		break;
	case WS_T_INT16:
		if (raw == 0x7FFF)
			return -EDOM;
		v = (double)(int16_t)(uint16_t)raw;
		break;
	case WS_T_UINT32:
		if (raw == 0xFFFFFFFFu)
			return -EDOM;
		v = (double)raw;
		break;
	case WS_T_INT32:
		if (raw == 0x7FFFFFFFu)
			return -EDOM;
		v = (double)(int32_t)(uint32_t)raw;
		break;
	case WS_T_UINT64:
		if (raw == UINT64_MAX)
			return -EDOM;
		v = (double)raw;
		break;
	case WS_T_INT64:
		if (raw == (uint64_t)INT64_MAX)
			return -EDOM;
		v = (double)(int64_t)raw;
		break;
	default:
		return -EINVAL;
	}
	v *= scale;
	if (!isfinite(v))
		return -EDOM;
	*out = v;
	return 0;
}

static uint64_t clamp_int(double raw, double lo, double hi)
{
	double r = nearbyint(raw);
	if (!(r >= lo))	/* also NaN */
		r = lo;
	if (r > hi)
		r = hi;
	return r < 0 ? (uint64_t)(int64_t)r : (uint64_t)r;
}

void meter_encode(double raw, enum ws_reg_type type, enum ws_word_order order,
		  uint16_t *words)
{
	unsigned n = meter_reg_type_words(type);
	uint64_t v = 0;

	switch (type) {
	case WS_T_FLOAT32: {
		float f = (float)raw;
		uint32_t bits;
		memcpy(&bits, &f, sizeof(bits));
		v = bits;
		break;
	}
	case WS_T_UINT16:
		v = clamp_int(raw, 0, 65534);
		break;
	case WS_T_INT16:
		v = clamp_int(raw, -32768, 32766) & 0xFFFF;
		break;
	case WS_T_UINT32:
		v = clamp_int(raw, 0, 4294967294.0);
		break;
	case WS_T_INT32:
		v = clamp_int(raw, -2147483648.0, 2147483646.0) & 0xFFFFFFFFu;
		break;
	case WS_T_UINT64:
		v = clamp_int(raw, 0, 1.8e19);
		break;
	case WS_T_INT64:
		v = clamp_int(raw, -9.2e18, 9.2e18);
		break;
	}
	if (n)
		scatter(v, n, order, words);
}

/* Registers closer than this are read together rather than in two requests:
 * a few wasted words cost less than a round trip on RS-485. */
#define PLAN_MERGE_GAP 24

int meter_profile_plan(const struct ws_meter_profile *p, struct ws_read_plan *plan)
{
	struct ws_read_plan out = { 0 };
	int order[WS_Q_COUNT], n = 0;

	if (!p->reg[WS_Q_ENERGY_WH].present)
		return -EINVAL;
	/* sort the present registers by (function, address): insertion sort */
	for (int q = 0; q < WS_Q_COUNT; q++) {
		if (!p->reg[q].present)
			continue;
		int i = n++;
		while (i > 0) {
			const struct ws_register *a = &p->reg[order[i - 1]], *b = &p->reg[q];
			if (a->function < b->function ||
			    (a->function == b->function && a->address <= b->address))
				break;
			order[i] = order[i - 1];
			i--;
		}
		order[i] = q;
	}
	for (int i = 0; i < n; i++) {
		const struct ws_register *r = &p->reg[order[i]];
		uint32_t start = r->address, end = start + meter_reg_type_words(r->type);
		struct ws_read_block *last = out.n ? &out.block[out.n - 1] : NULL;

		if (last && last->function == r->function &&
		    start <= (uint32_t)last->start + last->count + PLAN_MERGE_GAP &&
		    end - last->start <= WS_MODBUS_MAX_READ) {
			if (end > (uint32_t)last->start + last->count)
				last->count = (uint16_t)(end - last->start);
			continue;
		}
		if (end > 0x10000u)
			return -EINVAL;
		out.block[out.n++] = (struct ws_read_block){
			.function = r->function,
			.start = (uint16_t)start,
			.count = (uint16_t)(end - start),
		};
	}
	*plan = out;
	return 0;
}

const uint16_t *meter_plan_locate(const struct ws_read_plan *plan,
				  const uint16_t *const *block_data,
				  const struct ws_register *r)
{
	uint32_t need = meter_reg_type_words(r->type);

	for (unsigned i = 0; i < plan->n; i++) {
		const struct ws_read_block *b = &plan->block[i];
		if (b->function == r->function && r->address >= b->start &&
		    (uint32_t)r->address + need <= (uint32_t)b->start + b->count)
			return block_data[i] + (r->address - b->start);
	}
	return NULL;
}
