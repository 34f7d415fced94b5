/* keccak.h: Ethereum's Keccak-256 (the original Keccak padding 0x01, not
 * FIPS 202 SHA3-256's 0x06), as a sponge over nettle's sha3_permute.
 *
 * Rate 136 bytes, 32-byte output.  The context lives on the caller's stack;
 * nothing is allocated. */
#ifndef WATTSTREAM_KECCAK_H
#define WATTSTREAM_KECCAK_H

#include <nettle/sha3.h>
#include <stddef.h>
#include <stdint.h>

#define WS_KECCAK256_SIZE 32
#define WS_KECCAK256_RATE 136 /* bytes absorbed per permutation */

typedef struct ws_keccak {
	struct sha3_state state;
	uint8_t block[WS_KECCAK256_RATE];
	size_t pos; /* bytes buffered in block */
} ws_keccak;

void ws_keccak_init(ws_keccak *k);
void ws_keccak_update(ws_keccak *k, const void *data, size_t len);
/* Writes the digest to out[32]; k must be re-initialised before reuse. */
void ws_keccak_final(ws_keccak *k, uint8_t out[WS_KECCAK256_SIZE]);

/* One-shot: out = keccak256(data[0..len)). */
void ws_keccak256(const void *data, size_t len, uint8_t out[WS_KECCAK256_SIZE]);

#endif
