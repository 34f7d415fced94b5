/* hex.c: strict "0x" hex parsing/formatting and a constant-time compare.
 * Cost: one pass over the input, no allocation except ws_hex_parse_alloc(). */
#include "wattstream/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks prefix and digits; returns the number of bytes s encodes or -EINVAL. */
static long hex_check(const char *s)
{
	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -EINVAL;
	size_t n = 0;
	for (const char *p = s + 2; *p; p++, n++)
		if (hex_digit(*p) < 0)
			return -EINVAL;
	if (n % 2)
		return -EINVAL;
	return (long)(n / 2);
}

static void hex_decode(const char *digits, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(hex_digit(digits[2 * i]) << 4 | hex_digit(digits[2 * i + 1]));
}

int ws_hex_parse(const char *s, uint8_t *out, size_t len)
{
	long n = hex_check(s);
	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return -ERANGE;
	hex_decode(s + 2, out, len);
	return 0;
}

int ws_hex_parse_var(const char *s, uint8_t *out, size_t max, size_t *len)
{
	long n = hex_check(s);
	if (n < 0)
		return (int)n;
	if ((size_t)n > max)
		return -ERANGE;
	hex_decode(s + 2, out, (size_t)n);
	*len = (size_t)n;
	return 0;
}

int ws_hex_parse_alloc(const char *s, uint8_t **out, size_t *len)
{
	long n = hex_check(s);
	if (n < 0)
		return (int)n;
	uint8_t *buf = malloc(n ? (size_t)n : 1);
	if (!buf)
		return -ENOMEM;
	hex_decode(s + 2, buf, (size_t)n);
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int ws_hex_format(const void *in, size_t len, char *out, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	if (size < WS_HEX_STR_SIZE(len)) {
		if (size)
			out[0] = '\0';
		return -ENOSPC;
	}
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		out[2 + 2 * i] = digits[p[i] >> 4];
		out[3 + 2 * i] = digits[p[i] & 15];
	}
	out[2 + 2 * len] = '\0';
	return 0;
}

int ws_hex_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	/* (d - 1) >> 8 is 1 only when d == 0, without a data-dependent branch */
	return (int)(((unsigned)d - 1) >> 8 & 1);
}
