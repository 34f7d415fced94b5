/* rlp.c: RLP encoder and bounded canonical decoder.
 *
 * The encoder writes each list's items first and inserts the list's prefix
 * when the list closes (one memmove of the list payload per list: fine for
 * transactions, whose nesting is shallow).  The decoder never recurses and
 * never allocates; each step is O(1) plus the caller's walk. */
#include "wattstream/rlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ws_rlp_enc_init(ws_rlp_enc *e)
{
	memset(e, 0, sizeof(*e));
}

void ws_rlp_enc_release(ws_rlp_enc *e)
{
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

static int enc_reserve(ws_rlp_enc *e, size_t more)
{
	if (e->err)
		return e->err;
	if (more > SIZE_MAX / 2 - e->len)
		return e->err = -ENOMEM;
	if (e->len + more <= e->cap)
		return 0;
	size_t cap = e->cap ? e->cap : 64;
	while (cap < e->len + more)
		cap *= 2;
	uint8_t *n = realloc(e->buf, cap);
	if (!n)
		return e->err = -ENOMEM;
	e->buf = n;
	e->cap = cap;
	return 0;
}

/* Length prefix for a payload of n bytes with base 0x80 (string) or 0xc0
 * (list) into out[9]; returns its size. */
static size_t prefix(uint8_t base, size_t n, uint8_t out[9])
{
	if (n <= 55) {
		out[0] = (uint8_t)(base + n);
		return 1;
	}
	size_t k = 0;
	for (size_t t = n; t; t >>= 8)
		k++;
	out[0] = (uint8_t)(base + 55 + k);
	for (size_t i = 0; i < k; i++)
		out[1 + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
	return 1 + k;
}

void ws_rlp_enc_raw(ws_rlp_enc *e, const void *p, size_t n)
{
	if (enc_reserve(e, n) < 0)
		return;
	if (n)
		memcpy(e->buf + e->len, p, n);
	e->len += n;
}

void ws_rlp_enc_bytes(ws_rlp_enc *e, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t pre[9];
	if (n == 1 && b[0] < 0x80) {
		ws_rlp_enc_raw(e, b, 1);
		return;
	}
	size_t k = prefix(0x80, n, pre);
	ws_rlp_enc_raw(e, pre, k);
	ws_rlp_enc_raw(e, p, n);
}

void ws_rlp_enc_u64(ws_rlp_enc *e, uint64_t v)
{
	ws_u256 u = ws_u256_from_u64(v);
	ws_rlp_enc_u256(e, &u);
}

void ws_rlp_enc_u256(ws_rlp_enc *e, const ws_u256 *v)
{
	uint8_t b[32];
	size_t n = ws_u256_to_be_min(v, b);
	ws_rlp_enc_bytes(e, b, n);
}

void ws_rlp_enc_list_begin(ws_rlp_enc *e)
{
	if (e->err)
		return;
	if (e->depth == WS_RLP_MAX_DEPTH) {
		e->err = -EINVAL;
		return;
	}
	e->open[e->depth++] = e->len;
}

void ws_rlp_enc_list_end(ws_rlp_enc *e)
{
	uint8_t pre[9];
	if (e->err)
		return;
	if (e->depth == 0) {
		e->err = -EINVAL;
		return;
	}
	size_t start = e->open[--e->depth];
	size_t n = e->len - start;
	size_t k = prefix(0xc0, n, pre);
	if (enc_reserve(e, k) < 0)
		return;
	memmove(e->buf + start + k, e->buf + start, n);
	memcpy(e->buf + start, pre, k);
	e->len += k;
}

int ws_rlp_enc_finish(ws_rlp_enc *e, uint8_t **out, size_t *len)
{
	int r = e->err;
	if (!r && e->depth)
		r = -EINVAL;
	if (!r && !e->buf)
		r = enc_reserve(e, 1); /* an empty encoding still gets a buffer */
	if (r) {
		ws_rlp_enc_release(e);
		return r;
	}
	*out = e->buf;
	*len = e->len;
	memset(e, 0, sizeof(*e));
	return 0;
}

int ws_rlp_decode(const uint8_t *buf, size_t n, ws_rlp_item *item, size_t *used)
{
	if (n == 0)
		return -EBADMSG;
	uint8_t b = buf[0];
	size_t hdr, len;
	bool list = b >= 0xc0;

	if (b < 0x80) {
		item->is_list = false;
		item->p = buf;
		item->len = 1;
		*used = 1;
		return 0;
	}
	uint8_t base = list ? 0xc0 : 0x80;
	if (b <= base + 55) {
		hdr = 1;
		len = (size_t)(b - base);
		/* a single byte < 0x80 must be encoded as itself */
		if (!list && len == 1 && (n < 2 || buf[1] < 0x80))
			return -EBADMSG;
	} else {
		size_t k = (size_t)(b - base - 55);
		if (k > sizeof(size_t) || n < 1 + k || buf[1] == 0)
			return -EBADMSG; /* too long, truncated, or leading zero */
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | buf[1 + i];
		if (len <= 55)
			return -EBADMSG; /* should have used the short form */
		hdr = 1 + k;
	}
	if (len > n - hdr)
		return -EBADMSG;
	item->is_list = list;
	item->p = buf + hdr;
	item->len = len;
	*used = hdr + len;
	return 0;
}

int ws_rlp_decode_all(const uint8_t *buf, size_t n, ws_rlp_item *item)
{
	size_t used;
	ws_rlp_item it;
	int r = ws_rlp_decode(buf, n, &it, &used);
	if (r < 0)
		return r;
	if (used != n)
		return -EBADMSG;
	*item = it;
	return 0;
}

int ws_rlp_next(const ws_rlp_item *list, size_t *off, ws_rlp_item *item)
{
	size_t used;
	if (!list->is_list)
		return -EINVAL;
	if (*off >= list->len)
		return WS_RLP_END;
	int r = ws_rlp_decode(list->p + *off, list->len - *off, item, &used);
	if (r < 0)
		return r;
	*off += used;
	return 0;
}

int ws_rlp_item_u256(const ws_rlp_item *item, ws_u256 *v)
{
	if (item->is_list || (item->len && item->p[0] == 0))
		return -EBADMSG;
	return ws_u256_from_be_var(v, item->p, item->len);
}

int ws_rlp_item_u64(const ws_rlp_item *item, uint64_t *v)
{
	ws_u256 u;
	int r = ws_rlp_item_u256(item, &u);
	if (r < 0)
		return r;
	return ws_u256_to_u64(&u, v);
}
