/* test-u256.c: 256-bit amounts: conversions, strict decimal, overflow and
 * underflow detection, multiply/divide by 64-bit numbers. */
#include "check.h"
#include "wattstream/hex.h"
#include "wattstream/u256.h"

#include <errno.h>

#define MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"

static ws_u256 dec(const char *s)
{
	ws_u256 v = ws_u256_from_u64(0);
	CHECK_INT(ws_u256_from_dec(&v, s), 0);
	return v;
}

static void check_dec(const ws_u256 *v, const char *want)
{
	char s[WS_U256_DEC_SIZE];
	CHECK_INT(ws_u256_to_dec(v, s, sizeof(s)), 0);
	CHECK_STR(s, want);
}

static void test_decimal(void)
{
	static const char *const good[] = {
		"0", "1", "9", "10", "18446744073709551615", "18446744073709551616",
		"340282366920938463463374607431768211456", "1000000000000000000", MAX_DEC,
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ws_u256 v = dec(good[i]);
		check_dec(&v, good[i]);
	}
	ws_u256 v = dec("18446744073709551616");
	CHECK(v.w[0] == 0 && v.w[1] == 1 && v.w[2] == 0 && v.w[3] == 0);
	v = dec(MAX_DEC);
	CHECK(v.w[0] == UINT64_MAX && v.w[3] == UINT64_MAX);

	/* malformed: untouched */
	ws_u256 keep = ws_u256_from_u64(77);
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1_000", "0x10", "01", "00", "1e18", "1.0", "١",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(ws_u256_from_dec(&keep, bad[i]), -EINVAL);
	CHECK_INT(ws_u256_from_dec(&keep, NULL), -EINVAL);
	/* 2^256 and beyond overflow */
	CHECK_INT(ws_u256_from_dec(&keep, "115792089237316195423570985008687907853269984665640564039457584007913129639936"), -ERANGE);
	CHECK_INT(ws_u256_from_dec(&keep, MAX_DEC "0"), -ERANGE);
	CHECK_INT(ws_u256_from_dec(&keep, "999999999999999999999999999999999999999999999999999999999999999999999999999999999"), -ERANGE);
	CHECK_INT(ws_u256_from_dec(&keep, MAX_DEC "0x"), -EINVAL); /* junk after overflow */
	CHECK(keep.w[0] == 77 && keep.w[1] == 0);

	char small[3];
	ws_u256 big = dec("1000");
	CHECK_INT(ws_u256_to_dec(&big, small, sizeof(small)), -ENOSPC);
}

static void test_be(void)
{
	uint8_t be[32], back[32];
	for (int i = 0; i < 32; i++)
		be[i] = (uint8_t)(i + 1);
	ws_u256 v;
	ws_u256_from_be(&v, be);
	CHECK(v.w[3] == 0x0102030405060708ULL && v.w[0] == 0x191a1b1c1d1e1f20ULL);
	ws_u256_to_be(&v, back);
	CHECK_MEM(be, back, 32);

	uint8_t m[32];
	ws_u256 z = ws_u256_from_u64(0);
	CHECK_INT(ws_u256_to_be_min(&z, m), 0);
	ws_u256 x = ws_u256_from_u64(0x1234);
	CHECK_INT(ws_u256_to_be_min(&x, m), 2);
	CHECK(m[0] == 0x12 && m[1] == 0x34);
	CHECK_INT(ws_u256_to_be_min(&v, m), 32);

	uint8_t var[33] = { 0 };
	var[32] = 5;
	CHECK_INT(ws_u256_from_be_var(&x, var, 33), 0); /* leading zero byte is fine here */
	CHECK(x.w[0] == 5 && x.w[1] == 0);
	var[0] = 1;
	CHECK_INT(ws_u256_from_be_var(&x, var, 33), -ERANGE);
	CHECK_INT(ws_u256_from_be_var(&x, var, 0), 0);
	CHECK(ws_u256_is_zero(&x));
}

static void test_arith(void)
{
	ws_u256 max = dec(MAX_DEC), one = ws_u256_from_u64(1), zero = ws_u256_from_u64(0), r;

	CHECK_INT(ws_u256_cmp(&max, &one), 1);
	CHECK_INT(ws_u256_cmp(&one, &max), -1);
	CHECK_INT(ws_u256_cmp(&max, &max), 0);

	/* carries across every limb */
	ws_u256 a = dec("18446744073709551615");
	CHECK_INT(ws_u256_add(&r, &a, &one), 0);
	check_dec(&r, "18446744073709551616");
	CHECK_INT(ws_u256_sub(&r, &r, &one), 0);
	check_dec(&r, "18446744073709551615");

	/* overflow and underflow leave r untouched */
	r = ws_u256_from_u64(42);
	CHECK_INT(ws_u256_add(&r, &max, &one), -ERANGE);
	CHECK_INT(ws_u256_sub(&r, &zero, &one), -ERANGE);
	ws_u256 b = dec("340282366920938463463374607431768211456"); /* 2^128 */
	ws_u256 c = dec("340282366920938463463374607431768211455");
	CHECK_INT(ws_u256_sub(&r, &c, &b), -ERANGE);
	CHECK(r.w[0] == 42 && r.w[1] == 0);
	CHECK_INT(ws_u256_sub(&r, &b, &c), 0);
	check_dec(&r, "1");
	CHECK_INT(ws_u256_sub(&r, &max, &max), 0);
	CHECK(ws_u256_is_zero(&r));
	CHECK_INT(ws_u256_add(&r, &max, &zero), 0);
	CHECK_INT(ws_u256_cmp(&r, &max), 0);

	/* price x Wh / 1000: 250000 (token units per kWh) x 1234 Wh / 1000 */
	ws_u256 price = dec("250000");
	uint64_t rem = 99;
	CHECK_INT(ws_u256_mul_u64(&r, &price, 1234), 0);
	CHECK_INT(ws_u256_div_u64(&r, &rem, &r, 1000), 0);
	check_dec(&r, "308500");
	CHECK_INT(rem, 0);
	/* 18-decimals token: 0.35 token/kWh x 7 Wh */
	ws_u256 p18 = dec("350000000000000000");
	CHECK_INT(ws_u256_mul_u64(&r, &p18, 7), 0);
	CHECK_INT(ws_u256_div_u64(&r, &rem, &r, 1000), 0);
	check_dec(&r, "2450000000000000");

	ws_u256 third = dec("38597363079105398474523661669562635951089994888546854679819194669304376546645");
	CHECK_INT(ws_u256_mul_u64(&r, &third, 3), 0);
	CHECK_INT(ws_u256_cmp(&r, &max), 0);
	r = ws_u256_from_u64(5);
	CHECK_INT(ws_u256_mul_u64(&r, &max, 2), -ERANGE);
	CHECK_INT(ws_u256_mul_u64(&r, &third, 4), -ERANGE);
	CHECK(r.w[0] == 5);
	CHECK_INT(ws_u256_mul_u64(&r, &max, 0), 0);
	CHECK(ws_u256_is_zero(&r));

	CHECK_INT(ws_u256_div_u64(&r, &rem, &max, 0), -EDOM);
	CHECK_INT(ws_u256_div_u64(&r, &rem, &max, 10), 0);
	CHECK_INT(rem, 5);
	check_dec(&r, "11579208923731619542357098500868790785326998466564056403945758400791312963993");
	CHECK_INT(ws_u256_div_u64(&r, NULL, &max, UINT64_MAX), 0);
	check_dec(&r, "6277101735386680764176071790128604879584176795969512275969"); /* 2^192 + 2^128 + 2^64 + 1 */

	uint64_t u = 0;
	CHECK_INT(ws_u256_to_u64(&a, &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_INT(ws_u256_to_u64(&b, &u), -ERANGE);
}

static void test_double(void)
{
	ws_u256 v = dec("1000000000000000000");
	CHECK_NEAR(ws_u256_to_double(&v), 1e18, 0);
	v = dec("340282366920938463463374607431768211456");
	CHECK_NEAR(ws_u256_to_double(&v), 0x1p128, 0);
	v = dec(MAX_DEC);
	CHECK_NEAR(ws_u256_to_double(&v) / 0x1p256, 1.0, 1e-15);
	v = ws_u256_from_u64(0);
	CHECK_NEAR(ws_u256_to_double(&v), 0, 0);
}

int main(void)
{
	test_decimal();
	test_be();
	test_arith();
	test_double();
	return check_done();
}
