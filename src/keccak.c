/* keccak.c: Keccak-256 sponge (rate 136 bytes, capacity 512 bits) over
 * nettle's Keccak-f[1600] permutation.  Input is buffered one block at a
 * time, XORed into the state as little-endian lanes, then permuted: one
 * permutation per 136 input bytes plus one for the final padded block. */
#include "wattstream/keccak.h"

#include <string.h>

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void keccak_absorb_block(ws_keccak *k)
{
	for (size_t i = 0; i < WS_KECCAK256_RATE / 8; i++)
		k->state.a[i] ^= load_le64(k->block + 8 * i);
	sha3_permute(&k->state);
	k->pos = 0;
}

void ws_keccak_init(ws_keccak *k)
{
	memset(k, 0, sizeof(*k));
}

void ws_keccak_update(ws_keccak *k, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		size_t n = WS_KECCAK256_RATE - k->pos;
		if (n > len)
			n = len;
		memcpy(k->block + k->pos, p, n);
		k->pos += n;
		p += n;
		len -= n;
		if (k->pos == WS_KECCAK256_RATE)
			keccak_absorb_block(k);
	}
}

void ws_keccak_final(ws_keccak *k, uint8_t out[WS_KECCAK256_SIZE])
{
	/* Keccak pad10*1 with domain byte 0x01 (SHA3 would use 0x06) */
	memset(k->block + k->pos, 0, WS_KECCAK256_RATE - k->pos);
	k->block[k->pos] ^= 0x01;
	k->block[WS_KECCAK256_RATE - 1] ^= 0x80;
	keccak_absorb_block(k);
	for (size_t i = 0; i < WS_KECCAK256_SIZE; i++)
		out[i] = (uint8_t)(k->state.a[i / 8] >> (8 * (i % 8)));
}

void ws_keccak256(const void *data, size_t len, uint8_t out[WS_KECCAK256_SIZE])
{
	ws_keccak k;
	ws_keccak_init(&k);
	ws_keccak_update(&k, data, len);
	ws_keccak_final(&k, out);
}
