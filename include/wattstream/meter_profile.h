/* meter_profile.h: register maps of energy meters and decoding of their
 * register words into physical values.
 *
 * A profile lists, for each quantity the meter has, where it lives (Modbus
 * function and address), how it is encoded (type, word order) and the scale
 * that turns the raw number into the unit named by the quantity (Wh, W, A, V).
 * meter_profile_plan() groups the quantities into as few Modbus reads as
 * possible.  Pure functions: no I/O, no allocation. */
#ifndef WATTSTREAM_METER_PROFILE_H
#define WATTSTREAM_METER_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_quantity {
	WS_Q_ENERGY_WH,		/* total imported active energy, Wh */
	WS_Q_POWER_W,		/* total active power, W */
	WS_Q_CURRENT_L1_A,
	WS_Q_CURRENT_L2_A,
	WS_Q_CURRENT_L3_A,
	WS_Q_VOLTAGE_L1_V,
	WS_Q_VOLTAGE_L2_V,
	WS_Q_VOLTAGE_L3_V,
	WS_Q_COUNT
};

enum ws_reg_function {
	WS_FN_INPUT,	/* function 04 */
	WS_FN_HOLDING,	/* function 03 */
};

enum ws_reg_type {
	WS_T_FLOAT32,
	WS_T_UINT16,
	WS_T_INT16,
	WS_T_UINT32,
	WS_T_INT32,
	WS_T_UINT64,
	WS_T_INT64,
};

/* Byte order of a multi-register value, named by the big-endian bytes
 * A (most significant) .. D (least): "abcd" = high word first, each word
 * big-endian (Modbus' usual); "cdab" = low word first; "badc", "dcba" swap
 * the bytes inside words.  For 64-bit values the same rule applies to the
 * four words (abcd: word 0 most significant). */
enum ws_word_order {
	WS_ORDER_ABCD,
	WS_ORDER_CDAB,
	WS_ORDER_BADC,
	WS_ORDER_DCBA,
};

struct ws_register {
	bool present;
	enum ws_reg_function function;
	uint16_t address;
	enum ws_reg_type type;
	enum ws_word_order order;
	double scale;	/* physical value = raw * scale */
};

#define WS_PROFILE_NAME_MAX 32

struct ws_meter_profile {
	char name[WS_PROFILE_NAME_MAX];
	struct ws_register reg[WS_Q_COUNT];
};

/* One Modbus read covering consecutive registers. */
#define WS_MODBUS_MAX_READ 125	/* registers per read, Modbus limit */
#define WS_PLAN_MAX_READS WS_Q_COUNT

struct ws_read_block {
	enum ws_reg_function function;
	uint16_t start;
	uint16_t count;
};

struct ws_read_plan {
	unsigned n;
	struct ws_read_block block[WS_PLAN_MAX_READS];
};

/* Looks up a built-in profile: "sdm630", "sdm120", "sdm72", "abb-b23".
 * Returns NULL if there is none of that name. */
const struct ws_meter_profile *meter_profile_builtin(const char *name);

/* Names of the built-in profiles, NULL-terminated. */
extern const char *const meter_profile_builtin_names[];

/* Registers needed by a type (1, 2 or 4). */
unsigned meter_reg_type_words(enum ws_reg_type type);

const char *meter_quantity_name(enum ws_quantity q);	/* "energy_wh", ... */
int meter_quantity_parse(const char *name);	/* -1 if unknown */
const char *meter_reg_type_name(enum ws_reg_type t);
int meter_reg_type_parse(const char *name);
const char *meter_word_order_name(enum ws_word_order o);
int meter_word_order_parse(const char *name);
const char *meter_reg_function_name(enum ws_reg_function f);
int meter_reg_function_parse(const char *name);

/* Decodes the words of one value.  words must hold meter_reg_type_words()
 * registers.  Returns 0 and writes *out = raw * scale, or -EDOM if the
 * value is not a finite number (NaN, infinity). */
int meter_decode(const uint16_t *words, enum ws_reg_type type,
		 enum ws_word_order order, double scale, double *out)
	__attribute__((warn_unused_result));

/* Inverse of meter_decode for the sims and tests: encodes raw (already
 * divided by the scale) into words.  Integers are rounded and clamped. */
void meter_encode(double raw, enum ws_reg_type type, enum ws_word_order order,
		  uint16_t *words);

/* Groups the present registers of a profile into reads of at most
 * WS_MODBUS_MAX_READ registers, merging ones of the same function that lie
 * within a small gap.  Returns 0, or -EINVAL if the profile has no energy
 * register (a meter without one is of no use to a charger). */
int meter_profile_plan(const struct ws_meter_profile *p,
		       struct ws_read_plan *plan);

/* Finds the words of register r inside the blocks read by plan.
 * block_data[i] holds plan->block[i].count words.  Returns NULL if the
 * plan does not cover r. */
const uint16_t *meter_plan_locate(const struct ws_read_plan *plan,
				  const uint16_t *const *block_data,
				  const struct ws_register *r);

#endif
