/* test-eth_tx.c: EIP-1559 transactions signed in C must equal ethers'
 * (tests/vectors/eth-kat.json) byte for byte: signing hash, raw
 * serialization and transaction hash; a tampered field changes them. */
#include "check.h"
#include "vectors.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eth_tx.h"
#include "wattstream/hex.h"
#include "wattstream/rlp.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

static uint64_t ju64(json_t *o, const char *key)
{
	ws_u256 v = ws_u256_from_u64(0);
	uint64_t u = 0;
	CHECK_INT(ws_u256_from_dec(&v, vectors_str(o, key)), 0);
	CHECK_INT(ws_u256_to_u64(&v, &u), 0);
	return u;
}

static void test_kat(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	json_t *c;
	size_t i;
	CHECK(kat != NULL);
	if (!kat)
		return;
	CHECK(json_array_size(json_object_get(kat, "transactions")) >= 3);
	json_array_foreach(json_object_get(kat, "transactions"), i, c) {
		ws_eth_tx tx = { 0 };
		uint8_t sk[32], want_sh[32], sh[32], want_hash[32], hash[32];
		uint8_t *data = NULL, *want_raw = NULL, *raw = NULL;
		size_t wn = 0, n = 0;

		tx.chain_id = ju64(c, "chainId");
		tx.nonce = ju64(c, "nonce");
		tx.gas_limit = ju64(c, "gasLimit");
		CHECK_INT(ws_u256_from_dec(&tx.max_priority_fee_per_gas, vectors_str(c, "maxPriorityFeePerGas")), 0);
		CHECK_INT(ws_u256_from_dec(&tx.max_fee_per_gas, vectors_str(c, "maxFeePerGas")), 0);
		CHECK_INT(ws_u256_from_dec(&tx.value, vectors_str(c, "value")), 0);
		if (json_is_string(json_object_get(c, "to"))) {
			tx.has_to = true;
			CHECK_INT(ws_address_parse(vectors_str(c, "to"), tx.to), 0);
		}
		CHECK_INT(ws_hex_parse_alloc(vectors_str(c, "data"), &data, &tx.data_len), 0);
		tx.data = data;
		CHECK_INT(ws_hex_parse(vectors_str(c, "privateKey"), sk, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "signingHash"), want_sh, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "hash"), want_hash, 32), 0);
		CHECK_INT(ws_hex_parse_alloc(vectors_str(c, "raw"), &want_raw, &wn), 0);

		CHECK_INT(ws_eth_tx_signing_hash(&tx, sh), 0);
		CHECK_MEM(sh, want_sh, 32);
		CHECK_INT(ws_eth_tx_sign(&tx, sk, &raw, &n, hash), 0);
		CHECK_INT(n, wn);
		if (raw && n == wn)
			CHECK_MEM(raw, want_raw, n);
		CHECK_MEM(hash, want_hash, 32);

		/* the raw tx parses as 0x02 || rlp list of 12 items, and its
		 * signature recovers the sender */
		ws_rlp_item list, it;
		size_t off = 0, items = 0;
		uint8_t sig[65] = { 0 }, from[20], want_from[20];
		CHECK(want_raw[0] == 0x02);
		CHECK_INT(ws_rlp_decode_all(want_raw + 1, wn - 1, &list), 0);
		while (ws_rlp_next(&list, &off, &it) == 0) {
			if (items == 9) {
				uint64_t y = 9;
				CHECK_INT(ws_rlp_item_u64(&it, &y), 0);
				sig[64] = (uint8_t)(27 + y);
			} else if ((items == 10 || items == 11) && it.len <= 32) {
				memcpy(sig + (items - 10) * 32 + 32 - it.len, it.p, it.len);
			}
			items++;
		}
		CHECK_INT(items, 12);
		CHECK_INT(ws_ecsig_recover_address(sh, sig, 65, from), 0);
		CHECK_INT(ws_address_parse(vectors_str(c, "from"), want_from), 0);
		CHECK_MEM(from, want_from, 20);

		/* tampering with any field changes the signing hash */
		ws_eth_tx t = tx;
		t.nonce++;
		CHECK_INT(ws_eth_tx_signing_hash(&t, hash), 0);
		CHECK(memcmp(hash, want_sh, 32) != 0);
		t = tx;
		t.chain_id ^= 1;
		CHECK_INT(ws_eth_tx_signing_hash(&t, hash), 0);
		CHECK(memcmp(hash, want_sh, 32) != 0);
		t = tx;
		t.has_to = !t.has_to;
		CHECK_INT(ws_eth_tx_signing_hash(&t, hash), 0);
		CHECK(memcmp(hash, want_sh, 32) != 0);

		explicit_bzero(sk, sizeof(sk));
		free(data);
		free(raw);
		free(want_raw);
	}
	json_decref(kat);
}

static void test_errors(void)
{
	ws_eth_tx tx = { .chain_id = 1, .gas_limit = 21000 };
	uint8_t sig[65] = { 0 }, sk[32] = { 0 }, *raw = NULL;
	size_t n = 0;
	sig[0] = sig[32] = 1;
	sig[64] = 0; /* v must be 27/28 */
	CHECK_INT(ws_eth_tx_serialize(&tx, sig, &raw, &n, NULL), -EINVAL);
	CHECK(raw == NULL);
	CHECK_INT(ws_eth_tx_sign(&tx, sk, &raw, &n, NULL), -EINVAL); /* zero key */
	CHECK(raw == NULL);
	sig[64] = 28;
	CHECK_INT(ws_eth_tx_serialize(&tx, sig, &raw, &n, NULL), 0);
	CHECK(raw && raw[0] == 0x02);
	free(raw);
}

int main(void)
{
	test_kat();
	test_errors();
	return check_done();
}
