/* rlp.h: Ethereum's Recursive Length Prefix encoding.
 *
 * Encoder: append items into a growing buffer; lists are opened and closed
 * around their items (nesting up to WS_RLP_MAX_DEPTH).  Errors are sticky
 * and reported once by ws_rlp_enc_finish().
 *
 * Decoder: zero-copy and non-recursive: an item is a view (pointer, length)
 * into the caller's buffer; a list's items are walked one at a time with
 * ws_rlp_next().  Only canonical encodings are accepted (the shortest form,
 * as Ethereum requires), every length is checked against the buffer. */
#ifndef WATTSTREAM_RLP_H
#define WATTSTREAM_RLP_H

#include "wattstream/u256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_RLP_MAX_DEPTH 16

typedef struct ws_rlp_enc {
	uint8_t *buf;
	size_t len, cap;
	size_t open[WS_RLP_MAX_DEPTH]; /* start of each open list's payload */
	int depth;
	int err; /* first error, sticky */
} ws_rlp_enc;

void ws_rlp_enc_init(ws_rlp_enc *e);
/* A byte string (a single byte < 0x80 encodes as itself). */
void ws_rlp_enc_bytes(ws_rlp_enc *e, const void *p, size_t n);
/* An integer as minimal big-endian bytes (0 is the empty string). */
void ws_rlp_enc_u64(ws_rlp_enc *e, uint64_t v);
void ws_rlp_enc_u256(ws_rlp_enc *e, const ws_u256 *v);
void ws_rlp_enc_list_begin(ws_rlp_enc *e);
void ws_rlp_enc_list_end(ws_rlp_enc *e);
/* Appends bytes that are already RLP (e.g. an encoded sub-list). */
void ws_rlp_enc_raw(ws_rlp_enc *e, const void *p, size_t n);
/* Hands the encoding to the caller (*out malloc'd, caller frees) and resets
 * e.  Returns 0, -ENOMEM, or -EINVAL (unbalanced lists, too deep).  On error
 * nothing is handed out and e is released. */
int ws_rlp_enc_finish(ws_rlp_enc *e, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
/* Frees the buffer of an unfinished encoder. */
void ws_rlp_enc_release(ws_rlp_enc *e);

typedef struct ws_rlp_item {
	bool is_list;
	const uint8_t *p; /* payload: string bytes, or the list's concatenated items */
	size_t len;
} ws_rlp_item;

/* Returned by ws_rlp_next() when a list has no more items. */
#define WS_RLP_END 1

/* Decodes the one item at the start of buf[n] and sets *used to its full
 * encoded size.  Returns 0, or -EBADMSG if truncated or not canonical. */
int ws_rlp_decode(const uint8_t *buf, size_t n, ws_rlp_item *item, size_t *used)
	__attribute__((warn_unused_result));
/* Decodes buf[n] as exactly one item (trailing bytes are -EBADMSG). */
int ws_rlp_decode_all(const uint8_t *buf, size_t n, ws_rlp_item *item)
	__attribute__((warn_unused_result));
/* Walks a list: *off starts at 0.  Returns 0 with *item set and *off moved
 * on, WS_RLP_END after the last item, -EBADMSG if malformed, -EINVAL if
 * list is not a list. */
int ws_rlp_next(const ws_rlp_item *list, size_t *off, ws_rlp_item *item)
	__attribute__((warn_unused_result));
/* Reads a string item as a canonical integer (no leading zero byte).
 * -EBADMSG if it is a list or has a leading zero; -ERANGE if too large. */
int ws_rlp_item_u64(const ws_rlp_item *item, uint64_t *v)
	__attribute__((warn_unused_result));
int ws_rlp_item_u256(const ws_rlp_item *item, ws_u256 *v)
	__attribute__((warn_unused_result));

#endif
