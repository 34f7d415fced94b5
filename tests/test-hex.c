/* test-hex.c: strict "0x" hex parsing, formatting, constant-time compare. */
#include "check.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <stdlib.h>

static void test_parse_exact(void)
{
	uint8_t out[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	const uint8_t want[4] = { 0x01, 0xab, 0xcd, 0xef };

	CHECK_INT(ws_hex_parse("0x01abCDef", out, 4), 0);
	CHECK_MEM(out, want, 4);
	CHECK_INT(ws_hex_parse("0X01ABCDEF", out, 4), 0);
	CHECK_MEM(out, want, 4);
	CHECK_INT(ws_hex_parse("0x", out, 0), 0);

	/* malformed: untouched output */
	memset(out, 0xaa, sizeof(out));
	CHECK_INT(ws_hex_parse("01abcdef", out, 4), -EINVAL);     /* no prefix */
	CHECK_INT(ws_hex_parse("0x01abcde", out, 4), -EINVAL);    /* odd */
	CHECK_INT(ws_hex_parse("0x01abcdeg", out, 4), -EINVAL);   /* not hex */
	CHECK_INT(ws_hex_parse(" 0x01abcdef", out, 4), -EINVAL);  /* space before */
	CHECK_INT(ws_hex_parse("0x01abcdef ", out, 4), -EINVAL);  /* space after */
	CHECK_INT(ws_hex_parse("0x01ab cdef", out, 4), -EINVAL);
	CHECK_INT(ws_hex_parse("0x+1abcdef", out, 4), -EINVAL);
	CHECK_INT(ws_hex_parse("", out, 0), -EINVAL);
	CHECK_INT(ws_hex_parse("0", out, 0), -EINVAL);
	CHECK_INT(ws_hex_parse(NULL, out, 0), -EINVAL);
	CHECK_INT(ws_hex_parse("0x01abcdef00", out, 4), -ERANGE); /* too long */
	CHECK_INT(ws_hex_parse("0x01abcd", out, 4), -ERANGE);     /* too short */
	const uint8_t untouched[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	CHECK_MEM(out, untouched, 4);
}

static void test_parse_var(void)
{
	uint8_t out[8];
	size_t n = 99;
	CHECK_INT(ws_hex_parse_var("0x", out, sizeof(out), &n), 0);
	CHECK_INT(n, 0);
	CHECK_INT(ws_hex_parse_var("0x0102030405060708", out, sizeof(out), &n), 0);
	CHECK_INT(n, 8);
	CHECK_INT(out[7], 8);
	n = 99;
	CHECK_INT(ws_hex_parse_var("0x010203040506070809", out, sizeof(out), &n), -ERANGE);
	CHECK_INT(ws_hex_parse_var("0x0", out, sizeof(out), &n), -EINVAL);
	CHECK_INT(n, 99);

	uint8_t *buf = NULL;
	CHECK_INT(ws_hex_parse_alloc("0xff00", &buf, &n), 0);
	CHECK(buf && n == 2 && buf[0] == 0xff && buf[1] == 0);
	free(buf);
	buf = NULL;
	CHECK_INT(ws_hex_parse_alloc("0x", &buf, &n), 0);
	CHECK(buf != NULL);
	CHECK_INT(n, 0);
	free(buf);
	buf = NULL;
	CHECK_INT(ws_hex_parse_alloc("0xzz", &buf, &n), -EINVAL);
	CHECK(buf == NULL);
}

static void test_format(void)
{
	const uint8_t in[3] = { 0x00, 0x9f, 0xa0 };
	char s[WS_HEX_STR_SIZE(3)];
	CHECK_INT(ws_hex_format(in, 3, s, sizeof(s)), 0);
	CHECK_STR(s, "0x009fa0");
	CHECK_INT(ws_hex_format(in, 0, s, sizeof(s)), 0);
	CHECK_STR(s, "0x");
	CHECK_INT(ws_hex_format(in, 3, s, sizeof(s) - 1), -ENOSPC);
	CHECK_STR(s, "");

	/* round trip over every byte value */
	uint8_t all[256], back[256];
	char big[WS_HEX_STR_SIZE(256)];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	CHECK_INT(ws_hex_format(all, 256, big, sizeof(big)), 0);
	CHECK_INT(ws_hex_parse(big, back, 256), 0);
	CHECK_MEM(all, back, 256);
}

static void test_ct_equal(void)
{
	uint8_t a[32], b[32];
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	CHECK_INT(ws_hex_ct_equal(a, b, 32), 1);
	CHECK_INT(ws_hex_ct_equal(a, b, 0), 1);
	for (int i = 0; i < 32; i += 7) {
		b[i] ^= 0x80;
		CHECK_INT(ws_hex_ct_equal(a, b, 32), 0);
		b[i] ^= 0x80;
	}
	b[31] ^= 1;
	CHECK_INT(ws_hex_ct_equal(a, b, 32), 0);
	CHECK_INT(ws_hex_ct_equal(a, b, 31), 1);
}

int main(void)
{
	test_parse_exact();
	test_parse_var();
	test_format();
	test_ct_equal();
	return check_done();
}
