/* abi.h: Solidity contract ABI encoding (calldata) and bounded decoding
 * (return data, which comes from an untrusted node).
 *
 * Encoder: values are appended in the order of the function's parameter
 * list.  Tuples and arrays are opened and closed around their members; a
 * tuple whose members are all static is encoded inline, any other tuple and
 * every T[] / bytes / string is placed in the tail behind an offset, exactly
 * as the ABI specification's head/tail rule says.  Fixed-size arrays T[k]
 * are encoded like tuples (use tuple_begin/end).  Errors are sticky and
 * reported once by ws_abi_enc_finish().
 *
 * Decoder: a ws_abi_view is one tuple's encoding (its head starts at p[0]).
 * Accessors read head word i, follow offsets and check every offset and
 * length against the view before touching memory; nothing is copied except
 * by ws_abi_dec_string(). */
#ifndef WATTSTREAM_ABI_H
#define WATTSTREAM_ABI_H

#include "wattstream/u256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_ABI_MAX_DEPTH 8

/* 4-byte function selector: first 4 bytes of keccak256(signature), where
 * signature is canonical, e.g. "claim(bytes32,uint256,bytes)". */
void ws_abi_selector(const char *signature, uint8_t out[4]);

typedef struct ws_abi_frame ws_abi_frame;
typedef struct ws_abi_enc {
	uint8_t selector[4];
	bool has_selector;
	ws_abi_frame *frames; /* [0] is the argument tuple */
	int depth;            /* index of the innermost open frame */
	int err;              /* first error, sticky */
} ws_abi_enc;

/* Starts calldata; signature may be NULL for a bare tuple encoding (as
 * abi.encode(...) gives).  Returns 0 or -ENOMEM (then e is unusable, but
 * ws_abi_enc_release() is still safe). */
int ws_abi_enc_init(ws_abi_enc *e, const char *signature)
	__attribute__((warn_unused_result));
void ws_abi_enc_word(ws_abi_enc *e, const uint8_t word[32]); /* bytes32, or any pre-encoded word */
void ws_abi_enc_u256(ws_abi_enc *e, const ws_u256 *v);
void ws_abi_enc_u64(ws_abi_enc *e, uint64_t v);               /* uint8..uint64 */
void ws_abi_enc_address(ws_abi_enc *e, const uint8_t addr[20]);
void ws_abi_enc_bool(ws_abi_enc *e, bool v);
void ws_abi_enc_bytes(ws_abi_enc *e, const void *p, size_t n); /* dynamic bytes */
void ws_abi_enc_string(ws_abi_enc *e, const char *s);
void ws_abi_enc_tuple_begin(ws_abi_enc *e);
void ws_abi_enc_tuple_end(ws_abi_enc *e);
void ws_abi_enc_array_begin(ws_abi_enc *e); /* dynamic T[]: members are its elements */
void ws_abi_enc_array_end(ws_abi_enc *e);
/* Hands the calldata (selector + arguments) to the caller (*out malloc'd,
 * caller frees) and releases e.  Returns 0, -ENOMEM, or -EINVAL (open
 * tuples/arrays, too deep, end without begin). */
int ws_abi_enc_finish(ws_abi_enc *e, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
void ws_abi_enc_release(ws_abi_enc *e);

typedef struct ws_abi_view {
	const uint8_t *p;
	size_t len;
} ws_abi_view;

/* All decoders return 0, or -EBADMSG if the data is out of bounds or not a
 * valid encoding of the asked type (e.g. an address with dirty high bytes,
 * a bool other than 0/1), or -ERANGE if a number does not fit the C type.
 * Outputs are written only on 0. */
int ws_abi_dec_word(const ws_abi_view *v, size_t i, uint8_t word[32])
	__attribute__((warn_unused_result));
int ws_abi_dec_u256(const ws_abi_view *v, size_t i, ws_u256 *out)
	__attribute__((warn_unused_result));
int ws_abi_dec_u64(const ws_abi_view *v, size_t i, uint64_t *out)
	__attribute__((warn_unused_result));
int ws_abi_dec_address(const ws_abi_view *v, size_t i, uint8_t addr[20])
	__attribute__((warn_unused_result));
int ws_abi_dec_bool(const ws_abi_view *v, size_t i, bool *out)
	__attribute__((warn_unused_result));
/* Dynamic bytes at head word i: *p points into v (no copy).  The data and
 * its zero padding to a whole word must lie inside v. */
int ws_abi_dec_bytes(const ws_abi_view *v, size_t i, const uint8_t **p, size_t *n)
	__attribute__((warn_unused_result));
/* Dynamic string at head word i, copied NUL-terminated into a malloc'd
 * buffer (caller frees).  -EBADMSG if it contains a NUL byte; -ENOMEM. */
int ws_abi_dec_string(const ws_abi_view *v, size_t i, char **out)
	__attribute__((warn_unused_result));
/* Dynamic array T[] at head word i: *elems is the view of its elements
 * (element j's head is word j for one-word elements, or at a stride for
 * static tuples, or an offset relative to elems for dynamic elements);
 * *count its length.  Checks that count words of heads fit. */
int ws_abi_dec_array(const ws_abi_view *v, size_t i, ws_abi_view *elems, size_t *count)
	__attribute__((warn_unused_result));
/* Dynamic tuple at head word i (behind an offset). */
int ws_abi_dec_tuple(const ws_abi_view *v, size_t i, ws_abi_view *out)
	__attribute__((warn_unused_result));
/* Static tuple inline at head word i: a view starting there. */
int ws_abi_dec_inline(const ws_abi_view *v, size_t i, ws_abi_view *out)
	__attribute__((warn_unused_result));

#endif
