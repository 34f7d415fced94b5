/* fuzz-rlp.c: the RLP decoder on arbitrary bytes.  It must never crash or
 * read outside the input, and since it accepts canonical encodings only,
 * whatever it accepts must re-encode to exactly the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/rlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes item into e; returns 0 or -1 if the input was malformed
 * inside (nesting beyond what the encoder allows counts as malformed). */
static int reencode(ws_rlp_enc *e, const ws_rlp_item *item, int depth)
{
	if (!item->is_list) {
		ws_rlp_enc_bytes(e, item->p, item->len);
		return 0;
	}
	if (depth >= WS_RLP_MAX_DEPTH)
		return -1;
	ws_rlp_item sub;
	size_t off = 0;
	int r;
	ws_rlp_enc_list_begin(e);
	while ((r = ws_rlp_next(item, &off, &sub)) == 0) {
		/* items are views into the input */
		if (sub.p < item->p || sub.p + sub.len > item->p + item->len)
			__builtin_trap();
		if (reencode(e, &sub, depth + 1) < 0)
			return -1;
	}
	if (r != WS_RLP_END)
		return -1;
	ws_rlp_enc_list_end(e);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ws_rlp_item item;
	ws_rlp_enc e;
	uint8_t *out = NULL;
	size_t n = 0;

	if (ws_rlp_decode_all(data, size, &item) != 0)
		return 0;
	ws_rlp_enc_init(&e);
	if (reencode(&e, &item, 0) < 0) {
		ws_rlp_enc_release(&e);
		return 0;
	}
	if (ws_rlp_enc_finish(&e, &out, &n) != 0)
		__builtin_trap();
	if (n != size || memcmp(out, data, size) != 0)
		__builtin_trap();
	free(out);

	uint64_t u;
	ws_u256 v;
	if (!item.is_list && ws_rlp_item_u256(&item, &v) == 0) {
		/* u64 succeeds exactly when the value fits */
		int fits = (v.w[1] | v.w[2] | v.w[3]) == 0;
		if ((ws_rlp_item_u64(&item, &u) == 0) != fits || (fits && u != v.w[0]))
			__builtin_trap();
	}
	return 0;
}
