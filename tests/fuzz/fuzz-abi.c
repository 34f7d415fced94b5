/* fuzz-abi.c: the ABI decoder on arbitrary return data, as an untrusted
 * node could send it.  Every accessor is tried on every head word, arrays
 * and tuples are followed a few levels deep; nothing may crash, and every
 * view or pointer handed out must lie inside the input.  Bytes that decode
 * must encode back to an encoding that decodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *fz_lo, *fz_hi;

static void inside(const uint8_t *p, size_t n)
{
	if (p < fz_lo || p > fz_hi || n > (size_t)(fz_hi - p))
		__builtin_trap();
}

static void check_bytes_roundtrip(const uint8_t *p, size_t n)
{
	ws_abi_enc e;
	uint8_t *enc = NULL;
	size_t len = 0;
	if (ws_abi_enc_init(&e, NULL) != 0)
		return;
	ws_abi_enc_bytes(&e, p, n);
	if (ws_abi_enc_finish(&e, &enc, &len) != 0)
		return;
	ws_abi_view v = { enc, len };
	const uint8_t *q;
	size_t m;
	if (ws_abi_dec_bytes(&v, 0, &q, &m) != 0 || m != n || (n && memcmp(p, q, n) != 0))
		__builtin_trap();
	free(enc);
}

static void walk(const ws_abi_view *v, int depth)
{
	size_t words = v->len / 32, max = depth ? 4 : 16;
	if (words > max)
		words = max; /* enough to reach every path; keeps each run short */
	for (size_t i = 0; i <= words; i++) {
		uint8_t w[32], a[20];
		ws_u256 u;
		uint64_t u64;
		bool b;
		const uint8_t *p;
		size_t n, count;
		char *s;
		ws_abi_view sub;

		/* the one-word accessors agree on whether word i exists */
		int rw = ws_abi_dec_word(v, i, w);
		if ((ws_abi_dec_u256(v, i, &u) == 0) != (rw == 0))
			__builtin_trap();
		if (ws_abi_dec_u64(v, i, &u64) == 0 && (rw != 0 || u.w[0] != u64))
			__builtin_trap();
		if (ws_abi_dec_address(v, i, a) == 0 && (rw != 0 || memcmp(a, w + 12, 20) != 0))
			__builtin_trap();
		if (ws_abi_dec_bool(v, i, &b) == 0 && (rw != 0 || w[31] != (uint8_t)b))
			__builtin_trap();
		if (ws_abi_dec_bytes(v, i, &p, &n) == 0) {
			inside(p, n);
			if (depth == 0)
				check_bytes_roundtrip(p, n);
		}
		if (ws_abi_dec_string(v, i, &s) == 0) {
			if (strlen(s) > v->len)
				__builtin_trap();
			free(s);
		}
		if (depth >= 3)
			continue;
		if (ws_abi_dec_array(v, i, &sub, &count) == 0) {
			inside(sub.p, sub.len);
			if (count > sub.len / 32)
				__builtin_trap();
			walk(&sub, depth + 1);
		}
		if (ws_abi_dec_tuple(v, i, &sub) == 0) {
			inside(sub.p, sub.len);
			walk(&sub, depth + 1);
		}
		if (i > 0 && ws_abi_dec_inline(v, i, &sub) == 0)
			inside(sub.p, sub.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* copy so that reads past the end are caught by ASan */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	fz_lo = buf;
	fz_hi = buf + size;
	ws_abi_view v = { buf, size };
	walk(&v, 0);
	free(buf);
	return 0;
}
