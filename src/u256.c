/* u256.c: 256-bit unsigned arithmetic on four 64-bit limbs.  Products and
 * quotients by a 64-bit number go through unsigned __int128, so each
 * operation is a handful of instructions per limb; decimal conversion is
 * O(digits) multiply/divide-by-10 steps. */
#include "wattstream/u256.h"

#include <errno.h>
#include <string.h>

void ws_u256_from_be(ws_u256 *r, const uint8_t in[32])
{
	for (int i = 0; i < 4; i++) {
		uint64_t v = 0;
		for (int j = 0; j < 8; j++)
			v = v << 8 | in[(3 - i) * 8 + j];
		r->w[i] = v;
	}
}

void ws_u256_to_be(const ws_u256 *a, uint8_t out[32])
{
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			out[(3 - i) * 8 + j] = (uint8_t)(a->w[i] >> (56 - 8 * j));
}

int ws_u256_from_be_var(ws_u256 *r, const uint8_t *in, size_t len)
{
	uint8_t buf[32] = { 0 };
	while (len > 32) {
		if (*in)
			return -ERANGE;
		in++;
		len--;
	}
	if (len)
		memcpy(buf + 32 - len, in, len);
	ws_u256_from_be(r, buf);
	return 0;
}

size_t ws_u256_to_be_min(const ws_u256 *a, uint8_t out[32])
{
	uint8_t buf[32];
	size_t skip = 0;
	ws_u256_to_be(a, buf);
	while (skip < 32 && buf[skip] == 0)
		skip++;
	memcpy(out, buf + skip, 32 - skip);
	return 32 - skip;
}

int ws_u256_cmp(const ws_u256 *a, const ws_u256 *b)
{
	for (int i = 3; i >= 0; i--)
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	return 0;
}

bool ws_u256_is_zero(const ws_u256 *a)
{
	return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0;
}

int ws_u256_add(ws_u256 *r, const ws_u256 *a, const ws_u256 *b)
{
	ws_u256 t;
	unsigned __int128 carry = 0;
	for (int i = 0; i < 4; i++) {
		carry += (unsigned __int128)a->w[i] + b->w[i];
		t.w[i] = (uint64_t)carry;
		carry >>= 64;
	}
	if (carry)
		return -ERANGE;
	*r = t;
	return 0;
}

int ws_u256_sub(ws_u256 *r, const ws_u256 *a, const ws_u256 *b)
{
	ws_u256 t;
	uint64_t borrow = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t x = a->w[i], y = b->w[i];
		t.w[i] = x - y - borrow;
		borrow = (x < y) || (x - y < borrow);
	}
	if (borrow)
		return -ERANGE;
	*r = t;
	return 0;
}

int ws_u256_mul_u64(ws_u256 *r, const ws_u256 *a, uint64_t m)
{
	ws_u256 t;
	unsigned __int128 carry = 0;
	for (int i = 0; i < 4; i++) {
		carry += (unsigned __int128)a->w[i] * m;
		t.w[i] = (uint64_t)carry;
		carry >>= 64;
	}
	if (carry)
		return -ERANGE;
	*r = t;
	return 0;
}

/* q = a / d for d != 0; returns the remainder.  q may alias a. */
static uint64_t div_nonzero(ws_u256 *q, const ws_u256 *a, uint64_t d)
{
	ws_u256 t;
	unsigned __int128 cur = 0;
	for (int i = 3; i >= 0; i--) {
		cur = cur << 64 | a->w[i];
		t.w[i] = (uint64_t)(cur / d);
		cur %= d;
	}
	*q = t;
	return (uint64_t)cur;
}

int ws_u256_div_u64(ws_u256 *q, uint64_t *rem, const ws_u256 *a, uint64_t d)
{
	if (d == 0)
		return -EDOM;
	uint64_t m = div_nonzero(q, a, d);
	if (rem)
		*rem = m;
	return 0;
}

int ws_u256_from_dec(ws_u256 *r, const char *s)
{
	ws_u256 t = ws_u256_from_u64(0);
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && s[1] != '\0')
		return -EINVAL; /* leading zero: one spelling per value */
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		ws_u256 digit = ws_u256_from_u64((uint64_t)(*p - '0'));
		if (ws_u256_mul_u64(&t, &t, 10) < 0 || ws_u256_add(&t, &t, &digit) < 0) {
			/* keep scanning so that junk reports -EINVAL, not -ERANGE */
			for (p++; *p; p++)
				if (*p < '0' || *p > '9')
					return -EINVAL;
			return -ERANGE;
		}
	}
	*r = t;
	return 0;
}

int ws_u256_to_dec(const ws_u256 *a, char *out, size_t size)
{
	char buf[WS_U256_DEC_SIZE];
	size_t n = 0;
	ws_u256 t = *a;
	do {
		buf[n++] = (char)('0' + div_nonzero(&t, &t, 10));
	} while (!ws_u256_is_zero(&t));
	if (size < n + 1) {
		if (size)
			out[0] = '\0';
		return -ENOSPC;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = buf[n - 1 - i];
	out[n] = '\0';
	return 0;
}

int ws_u256_to_u64(const ws_u256 *a, uint64_t *out)
{
	if (a->w[1] | a->w[2] | a->w[3])
		return -ERANGE;
	*out = a->w[0];
	return 0;
}

double ws_u256_to_double(const ws_u256 *a)
{
	/* 2^64 as a double is exact; the sum may round twice (1 ulp), which
	 * display does not mind */
	const double two64 = 18446744073709551616.0;
	double v = 0;
	for (int i = 3; i >= 0; i--)
		v = v * two64 + (double)a->w[i];
	return v;
}
