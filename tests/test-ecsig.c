/* test-ecsig.c: secp256k1 signing and recovery.  Signatures of fixed
 * digests with fixed keys must equal ethers' (RFC 6979) byte for byte;
 * recovery must reject exactly what OpenZeppelin's tryRecover rejects. */
#include "check.h"
#include "vectors.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

static const char *const N_HEX = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
static const char *const HALF_N_HEX = "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0";

static void test_keys(json_t *kat)
{
	json_t *c;
	size_t i;
	CHECK(json_array_size(json_object_get(kat, "keys")) >= 5);
	json_array_foreach(json_object_get(kat, "keys"), i, c) {
		uint8_t sk[32], pub_want[65], pub[64], addr[20], addr_want[20];
		CHECK_INT(ws_hex_parse(vectors_str(c, "privateKey"), sk, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "publicKey"), pub_want, 65), 0);
		CHECK_INT(ws_address_parse(vectors_str(c, "address"), addr_want), 0);
		CHECK_INT(ws_ecsig_pubkey(sk, pub), 0);
		CHECK_MEM(pub, pub_want + 1, 64);
		ws_address_from_pubkey(pub, addr);
		CHECK_MEM(addr, addr_want, 20);
	}
	/* 0 and n are not keys */
	uint8_t sk[32] = { 0 }, pub[64];
	CHECK_INT(ws_ecsig_pubkey(sk, pub), -EINVAL);
	CHECK_INT(ws_hex_parse(N_HEX, sk, 32), 0);
	CHECK_INT(ws_ecsig_pubkey(sk, pub), -EINVAL);
	uint8_t d[32] = { 1 }, sig[65];
	CHECK_INT(ws_ecsig_sign(sk, d, sig), -EINVAL);
}

static void test_signatures(json_t *kat)
{
	json_t *c;
	size_t i;
	CHECK(json_array_size(json_object_get(kat, "signatures")) >= 10);
	json_array_foreach(json_object_get(kat, "signatures"), i, c) {
		uint8_t sk[32], d[32], want[65], sig[65], addr[20], addr_want[20];
		CHECK_INT(ws_hex_parse(vectors_str(c, "privateKey"), sk, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "digest"), d, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "signature"), want, 65), 0);
		CHECK_INT(ws_address_parse(vectors_str(c, "address"), addr_want), 0);
		CHECK_INT(ws_ecsig_sign(sk, d, sig), 0);
		CHECK_MEM(sig, want, 65); /* RFC 6979: identical to ethers */
		CHECK_INT(ws_ecsig_recover_address(d, sig, 65, addr), 0);
		CHECK_MEM(addr, addr_want, 20);
	}
}

static void test_roundtrip_and_tampering(void)
{
	uint8_t sk[32], pub[64], rpub[64], d[32], sig[65], t[65], addr[20], raddr[20];
	uint8_t n[32], half[32];
	CHECK_INT(ws_hex_parse(N_HEX, n, 32), 0);
	CHECK_INT(ws_hex_parse(HALF_N_HEX, half, 32), 0);

	CHECK_INT(ws_ecsig_keygen(sk), 0);
	CHECK_INT(ws_ecsig_pubkey(sk, pub), 0);
	ws_address_from_pubkey(pub, addr);
	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)(i * 13);

	CHECK_INT(ws_ecsig_sign(sk, d, sig), 0);
	CHECK(sig[64] == 27 || sig[64] == 28);
	CHECK(memcmp(sig + 32, half, 32) <= 0); /* low-S */
	CHECK_INT(ws_ecsig_recover(d, sig, 65, rpub), 0);
	CHECK_MEM(rpub, pub, 64);
	CHECK_INT(ws_ecsig_check(sig, 65), 0);

	/* deterministic: same key and digest give the same signature */
	CHECK_INT(ws_ecsig_sign(sk, d, t), 0);
	CHECK_MEM(t, sig, 65);

	/* length */
	memset(rpub, 0xee, sizeof(rpub));
	CHECK_INT(ws_ecsig_recover(d, sig, 64, rpub), WS_ECSIG_E_LENGTH);
	CHECK_INT(ws_ecsig_recover(d, sig, 0, rpub), WS_ECSIG_E_LENGTH);
	uint8_t longer[66];
	memcpy(longer, sig, 65);
	longer[65] = 0;
	CHECK_INT(ws_ecsig_recover(d, longer, 66, rpub), WS_ECSIG_E_LENGTH);

	/* v */
	static const uint8_t bad_v[] = { 0, 1, 26, 29, 35, 255 };
	for (size_t i = 0; i < sizeof(bad_v); i++) {
		memcpy(t, sig, 65);
		t[64] = bad_v[i];
		CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_V);
	}
	/* the other v recovers someone else (or nobody) */
	memcpy(t, sig, 65);
	t[64] = sig[64] == 27 ? 28 : 27;
	int r = ws_ecsig_recover_address(d, t, 65, raddr);
	CHECK(r == WS_ECSIG_E_RECOVER || (r == 0 && memcmp(raddr, addr, 20) != 0));

	/* r, s = 0 or >= n */
	memcpy(t, sig, 65);
	memset(t, 0, 32);
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_RANGE);
	memcpy(t, sig, 65);
	memset(t + 32, 0, 32);
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_RANGE);
	memcpy(t, sig, 65);
	memcpy(t, n, 32);
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_RANGE);
	memset(t, 0xff, 32);
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_RANGE);
	memcpy(t, sig, 65);
	memcpy(t + 32, n, 32);
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_RANGE);

	/* high-S twin (n - s, flipped v): valid for raw ECDSA, rejected here */
	memcpy(t, sig, 65);
	int borrow = 0;
	for (int i = 31; i >= 0; i--) {
		int x = n[i] - sig[32 + i] - borrow;
		borrow = x < 0;
		t[32 + i] = (uint8_t)(x + (borrow ? 256 : 0));
	}
	t[64] = sig[64] == 27 ? 28 : 27;
	CHECK_INT(ws_ecsig_recover(d, t, 65, rpub), WS_ECSIG_E_HIGH_S);
	/* s exactly n/2 is still low; n/2 + 1 is high */
	memcpy(t, sig, 65);
	memcpy(t + 32, half, 32);
	CHECK(ws_ecsig_check(t, 65) == 0);
	t[63]++;
	CHECK_INT(ws_ecsig_check(t, 65), WS_ECSIG_E_HIGH_S);

	/* a different digest recovers a different address */
	d[0] ^= 1;
	r = ws_ecsig_recover_address(d, sig, 65, raddr);
	CHECK(r == WS_ECSIG_E_RECOVER || (r == 0 && memcmp(raddr, addr, 20) != 0));
	d[0] ^= 1;

	/* r that is no x coordinate on the curve: x = 5 has no point? try a few */
	int unrecoverable = 0;
	for (uint8_t x = 1; x < 40 && !unrecoverable; x++) {
		memcpy(t, sig, 65);
		memset(t, 0, 32);
		t[31] = x;
		unrecoverable = ws_ecsig_recover(d, t, 65, rpub) == WS_ECSIG_E_RECOVER;
	}
	CHECK(unrecoverable);

	CHECK_STR(ws_ecsig_strerror(WS_ECSIG_E_HIGH_S), "high-S signature");
	explicit_bzero(sk, sizeof(sk));
}

static void test_keygen_distinct(void)
{
	uint8_t a[32], b[32];
	CHECK_INT(ws_ecsig_keygen(a), 0);
	CHECK_INT(ws_ecsig_keygen(b), 0);
	CHECK(memcmp(a, b, 32) != 0);
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
}

int main(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	CHECK(kat != NULL);
	if (kat) {
		test_keys(kat);
		test_signatures(kat);
		json_decref(kat);
	}
	test_roundtrip_and_tampering();
	test_keygen_distinct();
	return check_done();
}
