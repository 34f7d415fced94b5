/* hex.h: "0x"-prefixed hexadecimal as Ethereum writes it, and a
 * constant-time comparison.
 *
 * Parsing is strict: the "0x" (or "0X") prefix is required, digits may be
 * upper or lower case, nothing else is accepted (no spaces, no odd number of
 * digits).  Formatting writes lowercase.  Nothing is allocated. */
#ifndef WATTSTREAM_HEX_H
#define WATTSTREAM_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Size of the buffer ws_hex_format() needs for n bytes ("0x", digits, NUL). */
#define WS_HEX_STR_SIZE(n) (2 + 2 * (size_t)(n) + 1)

/* Parses exactly len bytes: s must be "0x" followed by exactly 2*len digits.
 * Returns 0 and fills out[len]; -EINVAL if s is malformed (no prefix, a
 * non-hex character, odd digit count); -ERANGE if well formed but of another
 * length.  out is written only on success. */
int ws_hex_parse(const char *s, uint8_t *out, size_t len)
	__attribute__((warn_unused_result));

/* Parses any even number of digits up to max bytes ("0x" alone is 0 bytes).
 * Returns 0 and sets *len; -EINVAL if malformed; -ERANGE if longer than max.
 * out is written only on success. */
int ws_hex_parse_var(const char *s, uint8_t *out, size_t max, size_t *len)
	__attribute__((warn_unused_result));

/* Like ws_hex_parse_var() into a malloc'd buffer the caller frees (never
 * NULL on success, even for 0 bytes).  -ENOMEM if allocation fails. */
int ws_hex_parse_alloc(const char *s, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/* Writes "0x" + 2*len lowercase digits + NUL into out[size].  Returns 0, or
 * -ENOSPC if size < WS_HEX_STR_SIZE(len) (out then holds ""). */
int ws_hex_format(const void *in, size_t len, char *out, size_t size);

/* 1 if a[0..n) == b[0..n), else 0; time depends on n only.  Use it for
 * secrets and MACs; public values may use memcmp. */
int ws_hex_ct_equal(const void *a, const void *b, size_t n)
	__attribute__((warn_unused_result));

#endif
