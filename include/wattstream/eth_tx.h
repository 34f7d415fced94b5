/* eth_tx.h: EIP-1559 (type 2) transactions: signing hash, signature, raw
 * serialization and transaction hash, for the calls the station sends
 * (claims, offer publication, dispute answers).
 *
 *   signing hash = keccak256(0x02 || rlp([chainId, nonce,
 *       maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
 *       accessList]))
 *   raw          = 0x02 || rlp([... same nine fields ..., yParity, r, s])
 *   tx hash      = keccak256(raw)
 *
 * The access list is always empty. */
#ifndef WATTSTREAM_ETH_TX_H
#define WATTSTREAM_ETH_TX_H

#include "wattstream/u256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_eth_tx {
	uint64_t chain_id;
	uint64_t nonce;
	ws_u256 max_priority_fee_per_gas; /* wei */
	ws_u256 max_fee_per_gas;          /* wei */
	uint64_t gas_limit;
	bool has_to;                      /* false: contract creation */
	uint8_t to[20];
	ws_u256 value;                    /* wei */
	const uint8_t *data;              /* calldata, borrowed */
	size_t data_len;
} ws_eth_tx;

/* Hash the sender signs.  Returns 0 or -ENOMEM. */
int ws_eth_tx_signing_hash(const ws_eth_tx *tx, uint8_t hash[32])
	__attribute__((warn_unused_result));

/* Serializes tx with the signature sig = r||s||v (v 27/28, as
 * ws_ecsig_sign() writes).  *raw is malloc'd (caller frees); hash (may be
 * NULL) receives the tx hash.  Returns 0, -EINVAL if v is not 27/28, or
 * -ENOMEM. */
int ws_eth_tx_serialize(const ws_eth_tx *tx, const uint8_t sig[65],
			uint8_t **raw, size_t *raw_len, uint8_t hash[32])
	__attribute__((warn_unused_result));

/* Signs tx with seckey and serializes it (signing hash, ws_ecsig_sign,
 * ws_eth_tx_serialize).  Returns 0, -EINVAL (bad key), or -ENOMEM. */
int ws_eth_tx_sign(const ws_eth_tx *tx, const uint8_t seckey[32],
		   uint8_t **raw, size_t *raw_len, uint8_t hash[32])
	__attribute__((warn_unused_result));

#endif
