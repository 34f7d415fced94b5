/* u256.h: unsigned 256-bit integers, the type of token amounts on-chain.
 *
 * A value is four 64-bit limbs, least significant first; copy it by value.
 * Every operation that can overflow reports it and leaves its result
 * untouched; nothing wraps silently.  No allocation. */
#ifndef WATTSTREAM_U256_H
#define WATTSTREAM_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_u256 {
	uint64_t w[4]; /* w[0] least significant */
} ws_u256;

/* Longest decimal string (2^256-1 has 78 digits) plus NUL. */
#define WS_U256_DEC_SIZE 79

static inline ws_u256 ws_u256_from_u64(uint64_t v)
{
	ws_u256 r = { { v, 0, 0, 0 } };
	return r;
}

/* 32-byte big-endian (the ABI word) <-> value. */
void ws_u256_from_be(ws_u256 *r, const uint8_t in[32]);
void ws_u256_to_be(const ws_u256 *a, uint8_t out[32]);

/* Big-endian of any length up to 32 bytes (RLP integers).  -ERANGE if the
 * value does not fit (more than 32 significant bytes). */
int ws_u256_from_be_var(ws_u256 *r, const uint8_t *in, size_t len)
	__attribute__((warn_unused_result));
/* Minimal big-endian (no leading zero byte; zero is 0 bytes) into out[32];
 * returns the byte count. */
size_t ws_u256_to_be_min(const ws_u256 *a, uint8_t out[32]);

/* Strict decimal: one or more ASCII digits, no sign, no spaces, no leading
 * zero (except "0" itself), so every value has one spelling.  Returns 0,
 * -EINVAL if malformed, -ERANGE if >= 2^256.  *r written only on success. */
int ws_u256_from_dec(ws_u256 *r, const char *s)
	__attribute__((warn_unused_result));
/* Writes the decimal form into out[size]; -ENOSPC if it does not fit
 * (WS_U256_DEC_SIZE always does). */
int ws_u256_to_dec(const ws_u256 *a, char *out, size_t size);

/* -1, 0, 1 as a <, ==, > b. */
int ws_u256_cmp(const ws_u256 *a, const ws_u256 *b);
bool ws_u256_is_zero(const ws_u256 *a);

/* r = a + b; -ERANGE on overflow.  r may alias a or b. */
int ws_u256_add(ws_u256 *r, const ws_u256 *a, const ws_u256 *b)
	__attribute__((warn_unused_result));
/* r = a - b; -ERANGE if b > a. */
int ws_u256_sub(ws_u256 *r, const ws_u256 *a, const ws_u256 *b)
	__attribute__((warn_unused_result));
/* r = a * m; -ERANGE on overflow. */
int ws_u256_mul_u64(ws_u256 *r, const ws_u256 *a, uint64_t m)
	__attribute__((warn_unused_result));
/* q = a / d, *rem = a % d (rem may be NULL); -EDOM if d == 0. */
int ws_u256_div_u64(ws_u256 *q, uint64_t *rem, const ws_u256 *a, uint64_t d)
	__attribute__((warn_unused_result));

/* *out = a if it fits in 64 bits, else -ERANGE. */
int ws_u256_to_u64(const ws_u256 *a, uint64_t *out)
	__attribute__((warn_unused_result));
/* Nearest double, for display only (53-bit mantissa: never for money). */
double ws_u256_to_double(const ws_u256 *a);

#endif
