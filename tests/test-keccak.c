/* test-keccak.c: Keccak-256 against fixed known answers (the empty string,
 * "abc", inputs around the 136-byte rate) and the ethers-made vectors of
 * tests/vectors/eth-kat.json, one-shot and fed in uneven pieces. */
#include "check.h"
#include "vectors.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"

#include <jansson.h>
#include <stdlib.h>

static void check_hash(const void *in, size_t len, const char *want_hex)
{
	uint8_t want[32], got[32];
	CHECK_INT(ws_hex_parse(want_hex, want, 32), 0);
	ws_keccak256(in, len, got);
	CHECK_MEM(got, want, 32);

	/* the same input in pieces of 1, 7, 135, 136 and 137 bytes */
	static const size_t steps[] = { 1, 7, 135, 136, 137 };
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		ws_keccak k;
		const uint8_t *p = in;
		ws_keccak_init(&k);
		for (size_t off = 0; off < len; off += steps[s])
			ws_keccak_update(&k, p + off, len - off < steps[s] ? len - off : steps[s]);
		ws_keccak_final(&k, got);
		CHECK_MEM(got, want, 32);
	}
}

static void test_fixed(void)
{
	check_hash("", 0, "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
	check_hash("abc", 3, "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
	/* keccak256 of a transfer(address,uint256) signature: its selector a9059cbb */
	uint8_t h[32];
	ws_keccak256("transfer(address,uint256)", 25, h);
	CHECK(h[0] == 0xa9 && h[1] == 0x05 && h[2] == 0x9c && h[3] == 0xbb);

	/* SHA3-256("") starts a7ffc6f8: Keccak must not equal it */
	ws_keccak256("", 0, h);
	CHECK(h[0] != 0xa7);

	/* 200 zero bytes crosses one rate boundary */
	uint8_t z[200] = { 0 };
	uint8_t a[32], b[32];
	ws_keccak256(z, 200, a);
	ws_keccak256(z, 199, b);
	CHECK(memcmp(a, b, 32) != 0);
}

static void test_kat(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	CHECK(kat != NULL);
	if (!kat)
		return;
	json_t *cases = json_object_get(kat, "keccak"), *c;
	size_t i, n = 0;
	CHECK(json_array_size(cases) >= 8);
	json_array_foreach(cases, i, c) {
		uint8_t *in;
		size_t len;
		int r = ws_hex_parse_alloc(json_string_value(json_object_get(c, "input")), &in, &len);
		CHECK_INT(r, 0);
		if (r)
			continue;
		check_hash(in, len, json_string_value(json_object_get(c, "hash")));
		if (len == 200)
			n++;
		free(in);
	}
	CHECK_INT(n, 1); /* the 200-byte case is among them */
	json_decref(kat);
}

int main(void)
{
	test_fixed();
	test_kat();
	return check_done();
}
