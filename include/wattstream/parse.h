/* parse.h: strict parsing of configuration and protocol values.
 *
 * Every function takes a NUL-terminated string, accepts it only whole (no
 * trailing junk, no leading spaces, no empty string) and writes *out only on
 * success.  Returns 0 on success, -EINVAL if malformed, -ERANGE if outside
 * [min, max]. */
#ifndef WATTSTREAM_PARSE_H
#define WATTSTREAM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal, or hexadecimal with a 0x prefix. */
int ws_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int ws_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int ws_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Finite decimal number (no NaN, no inf, no hex floats). */
int ws_parse_double(const char *s, double min, double max, double *out);
/* true/false, yes/no, on/off, 1/0 (case-insensitive). */
int ws_parse_bool(const char *s, bool *out);

/* Copies src into dst[size] if it fits (strlen(src) < size); -ENAMETOOLONG
 * otherwise, dst untouched. */
int ws_strcpy(char *dst, size_t size, const char *src);

#endif
