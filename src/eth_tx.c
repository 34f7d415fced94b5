/* eth_tx.c: EIP-1559 transaction encoding and signing.  Cost: two RLP
 * encodings of the fields (a copy of the calldata each), two Keccak-256
 * hashes and one ECDSA signature (which dominates). */
#include "wattstream/eth_tx.h"
#include "wattstream/ecsig.h"
#include "wattstream/keccak.h"
#include "wattstream/rlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ETH_TX_TYPE_1559 0x02

static void tx_fields(ws_rlp_enc *e, const ws_eth_tx *tx)
{
	ws_rlp_enc_u64(e, tx->chain_id);
	ws_rlp_enc_u64(e, tx->nonce);
	ws_rlp_enc_u256(e, &tx->max_priority_fee_per_gas);
	ws_rlp_enc_u256(e, &tx->max_fee_per_gas);
	ws_rlp_enc_u64(e, tx->gas_limit);
	ws_rlp_enc_bytes(e, tx->to, tx->has_to ? 20 : 0);
	ws_rlp_enc_u256(e, &tx->value);
	ws_rlp_enc_bytes(e, tx->data, tx->data_len);
	ws_rlp_enc_list_begin(e); /* accessList: empty */
	ws_rlp_enc_list_end(e);
}

/* Encodes 0x02 || rlp([fields, (sig)]) into *out. */
static int tx_encode(const ws_eth_tx *tx, const uint8_t *sig, uint8_t **out, size_t *len)
{
	ws_rlp_enc e;
	uint8_t type = ETH_TX_TYPE_1559;

	ws_rlp_enc_init(&e);
	ws_rlp_enc_raw(&e, &type, 1);
	ws_rlp_enc_list_begin(&e);
	tx_fields(&e, tx);
	if (sig) {
		ws_rlp_enc_u64(&e, (uint64_t)(sig[64] - 27)); /* yParity */
		/* r and s are integers: minimal big-endian, no leading zeros */
		ws_u256 r, s;
		ws_u256_from_be(&r, sig);
		ws_u256_from_be(&s, sig + 32);
		ws_rlp_enc_u256(&e, &r);
		ws_rlp_enc_u256(&e, &s);
	}
	ws_rlp_enc_list_end(&e);
	return ws_rlp_enc_finish(&e, out, len);
}

int ws_eth_tx_signing_hash(const ws_eth_tx *tx, uint8_t hash[32])
{
	uint8_t *buf;
	size_t len;
	int r = tx_encode(tx, NULL, &buf, &len);
	if (r < 0)
		return r;
	ws_keccak256(buf, len, hash);
	free(buf);
	return 0;
}

int ws_eth_tx_serialize(const ws_eth_tx *tx, const uint8_t sig[65],
			uint8_t **raw, size_t *raw_len, uint8_t hash[32])
{
	uint8_t *buf;
	size_t len;
	if (sig[64] != 27 && sig[64] != 28)
		return -EINVAL;
	int r = tx_encode(tx, sig, &buf, &len);
	if (r < 0)
		return r;
	if (hash)
		ws_keccak256(buf, len, hash);
	*raw = buf;
	*raw_len = len;
	return 0;
}

int ws_eth_tx_sign(const ws_eth_tx *tx, const uint8_t seckey[32],
		   uint8_t **raw, size_t *raw_len, uint8_t hash[32])
{
	uint8_t digest[32], sig[65];
	int r = ws_eth_tx_signing_hash(tx, digest);
	if (r < 0)
		return r;
	r = ws_ecsig_sign(seckey, digest, sig);
	if (r < 0)
		return r;
	return ws_eth_tx_serialize(tx, sig, raw, raw_len, hash);
}
