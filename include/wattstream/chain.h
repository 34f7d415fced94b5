/* chain.h: typed Ethereum calls on top of eth_rpc, and the station's calls
 * to the WattstreamChannels contract (docs/chain-client.md).
 *
 * Every call is asynchronous: it returns at once (0, or -errno if it
 * cannot even be queued: then its callback is never called) and later calls
 * its callback exactly once on the loop.  The callback gets `err`: 0, a
 * WS_ETH_RPC_E_* code (transport, node error, malformed answer), or a
 * WS_CHAIN_E_* code below.  Pointers handed to a callback are valid only
 * during it.  Nothing blocks; waiting for a receipt is a timer on the loop.
 * Freeing the ws_chain cancels its calls without calling them back (not
 * from inside one of its callbacks). */
#ifndef WATTSTREAM_CHAIN_H
#define WATTSTREAM_CHAIN_H

#include "wattstream/eth_rpc.h"
#include "wattstream/u256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_chain ws_chain;

enum {
	/* 1..7 are WS_ETH_RPC_E_* */
	WS_CHAIN_E_BAD_VALUE = 20,   /* a field of the answer is malformed or out of range */
	WS_CHAIN_E_NOT_MINED = 21,   /* no receipt before the wait deadline */
	WS_CHAIN_E_REVERTED = 22,    /* mined with status 0 (receipt given anyway) */
	WS_CHAIN_E_NO_CHANNEL = 23,  /* getChannel: sender is zero (never opened or closed) */
	WS_CHAIN_E_WRONG_CHAIN = 24, /* the node's chain id is not the configured one */
	WS_CHAIN_E_NO_BASEFEE = 25,  /* the chain has no EIP-1559 base fee */
};

/* Short English name of any code a chain callback can give. */
const char *ws_chain_strerror(int code);

struct ws_chain_config {
	struct ws_eth_rpc_config rpc;
	uint64_t chain_id;            /* expected; 0: accept what the node says */
	unsigned receipt_poll_ms;     /* 0: 1000 */
	unsigned receipt_timeout_ms;  /* 0: 180000 */
	uint32_t gas_margin_pct;      /* gas limit = estimate * (100 + this) / 100; 0: 25 */
	uint32_t max_fee_multiplier;  /* maxFee = base fee * this + tip; 0: 2 */
	ws_u256 max_fee_cap;          /* refuse to pay more per gas; zero: no cap */
};

/* Creates the client (see ws_eth_rpc_new for ctx).  0, -EINVAL, -ENOMEM. */
int ws_chain_new(ws_chain **ret, struct lws_context *ctx, const struct ws_chain_config *cfg)
	__attribute__((warn_unused_result));
ws_chain *ws_chain_free(ws_chain *c);
ws_eth_rpc *ws_chain_rpc(ws_chain *c);

/* ---- plain calls -------------------------------------------------------- */

typedef void (*ws_chain_u64_cb)(void *user, int err, uint64_t value);

/* eth_chainId (and remembers it; a mismatch with cfg.chain_id is
 * WS_CHAIN_E_WRONG_CHAIN). */
int ws_chain_chain_id(ws_chain *c, ws_chain_u64_cb cb, void *user)
	__attribute__((warn_unused_result));
int ws_chain_block_number(ws_chain *c, ws_chain_u64_cb cb, void *user)
	__attribute__((warn_unused_result));
/* eth_getTransactionCount(addr, "pending"). */
int ws_chain_nonce(ws_chain *c, const uint8_t addr[20], ws_chain_u64_cb cb, void *user)
	__attribute__((warn_unused_result));

struct ws_chain_fees {
	ws_u256 base_fee;             /* of the latest block */
	ws_u256 max_priority_fee;     /* tip */
	ws_u256 max_fee;              /* base_fee * multiplier + tip */
	bool tip_from_fallback;       /* eth_maxPriorityFeePerGas failed: from eth_feeHistory */
};
typedef void (*ws_chain_fees_cb)(void *user, int err, const struct ws_chain_fees *f);
/* eth_maxPriorityFeePerGas (falls back to the median reward of
 * eth_feeHistory over 5 blocks, then to 1 gwei) and the latest block's
 * baseFeePerGas. */
int ws_chain_fees(ws_chain *c, ws_chain_fees_cb cb, void *user)
	__attribute__((warn_unused_result));

/* eth_estimateGas({from, to, data}); from may be NULL. */
int ws_chain_estimate_gas(ws_chain *c, const uint8_t *from, const uint8_t to[20],
			  const uint8_t *data, size_t len, ws_chain_u64_cb cb, void *user)
	__attribute__((warn_unused_result));

typedef void (*ws_chain_bytes_cb)(void *user, int err, const uint8_t *p, size_t len);
/* eth_call({to, data}, "latest"); the return data (at most 64 KiB).  A
 * revert is WS_ETH_RPC_E_RPC (the revert data, if any, is passed as p). */
int ws_chain_call(ws_chain *c, const uint8_t to[20], const uint8_t *data, size_t len,
		  ws_chain_bytes_cb cb, void *user)
	__attribute__((warn_unused_result));

typedef void (*ws_chain_hash_cb)(void *user, int err, const uint8_t hash[32]);
/* eth_sendRawTransaction.  The hash given is the node's, checked against
 * keccak256(raw). */
int ws_chain_send_raw(ws_chain *c, const uint8_t *raw, size_t len, ws_chain_hash_cb cb,
		      void *user)
	__attribute__((warn_unused_result));

/* One log entry (eth_getLogs or a receipt). */
struct ws_chain_log {
	uint8_t address[20];
	uint8_t topics[4][32];
	unsigned n_topics;
	const uint8_t *data;
	size_t data_len;
	uint64_t block_number;
	uint64_t log_index;
	uint8_t tx_hash[32];
	bool removed;
};

struct ws_chain_receipt {
	uint8_t tx_hash[32];
	bool status;                  /* true: success */
	uint64_t block_number;
	uint64_t gas_used;
	ws_u256 effective_gas_price;
	const struct ws_chain_log *logs;
	size_t n_logs;
};
typedef void (*ws_chain_receipt_cb)(void *user, int err, const struct ws_chain_receipt *rc);
/* Polls eth_getTransactionReceipt every receipt_poll_ms until mined or
 * receipt_timeout_ms (WS_CHAIN_E_NOT_MINED).  Transport errors while
 * polling are ridden out until the deadline.  status 0 gives
 * WS_CHAIN_E_REVERTED with the receipt. */
int ws_chain_wait_receipt(ws_chain *c, const uint8_t hash[32], ws_chain_receipt_cb cb,
			  void *user)
	__attribute__((warn_unused_result));

struct ws_chain_log_filter {
	const uint8_t *address;       /* 20 bytes or NULL */
	/* topics[i]: n_topic_alts[i] alternatives (OR); 0 = any */
	const uint8_t (*topic_alts[4])[32];
	size_t n_topic_alts[4];
	uint64_t from_block, to_block;
	bool to_latest;               /* to_block = "latest" */
};
typedef void (*ws_chain_logs_cb)(void *user, int err, const struct ws_chain_log *logs,
				 size_t n);
/* eth_getLogs (at most 10000 entries in one answer). */
int ws_chain_get_logs(ws_chain *c, const struct ws_chain_log_filter *f,
		      ws_chain_logs_cb cb, void *user)
	__attribute__((warn_unused_result));

/* ---- WattstreamChannels --------------------------------------------------- */

/* getChannel(bytes32) -> (address sender, uint64 closeRequestedAt, address
 * receiver, address token, address sessionKey, uint128 deposit, uint128
 * claimed) */
struct ws_chain_channel {
	uint8_t id[32];
	uint8_t sender[20];
	uint64_t close_requested_at;  /* unix s, 0: none */
	uint8_t receiver[20];
	uint8_t token[20];
	uint8_t session_key[20];      /* zero: only the sender signs */
	ws_u256 deposit;              /* < 2^128 */
	ws_u256 claimed;              /* <= deposit */
};
typedef void (*ws_chain_channel_cb)(void *user, int err, const struct ws_chain_channel *ch);
/* Reads a channel; sender zero gives WS_CHAIN_E_NO_CHANNEL (with ch). */
int ws_chain_get_channel(ws_chain *c, const uint8_t contract[20], const uint8_t id[32],
			 ws_chain_channel_cb cb, void *user)
	__attribute__((warn_unused_result));
/* Decodes getChannel's return data (exported for tests and the fuzzer).
 * 0 or WS_CHAIN_E_BAD_VALUE (wrong size, dirty address words, values out
 * of their Solidity type's range, claimed > deposit). */
int ws_chain_decode_channel(const uint8_t *p, size_t len, struct ws_chain_channel *out)
	__attribute__((warn_unused_result));

/* Decodes a JSON array of logs / a receipt object as the calls above do
 * and discards the result: for tests and the fuzzer.  0, WS_CHAIN_E_BAD_VALUE
 * or -ENOMEM; *n_logs (may be NULL) gets the count. */
int ws_chain_check_logs(const json_t *arr, size_t *n_logs)
	__attribute__((warn_unused_result));
int ws_chain_check_receipt(const json_t *obj, const uint8_t tx_hash[32], size_t *n_logs)
	__attribute__((warn_unused_result));

struct ws_chain_claim {
	uint8_t channel_id[32];
	ws_u256 amount;               /* cumulative voucher amount */
	uint8_t sig[65];
	bool close;
};
struct ws_chain_signer {
	const uint8_t *seckey;        /* 32 bytes: the payee key; borrowed for the call */
	uint8_t address[20];          /* its address (the channels' receiver) */
};
struct ws_chain_tx_result {
	uint8_t tx_hash[32];
	const struct ws_chain_receipt *receipt; /* NULL if not mined */
	uint64_t nonce;
	uint64_t gas_limit;
};
typedef void (*ws_chain_tx_cb)(void *user, int err, const struct ws_chain_tx_result *tx);

/* Claims with one voucher (claim) or many (claimMany, n > 1): chain id,
 * pending nonce, fees, eth_estimateGas (a revert shows here as
 * WS_ETH_RPC_E_RPC, before any gas is spent), EIP-1559 signing, send,
 * receipt.  The seckey is copied for the duration of the call and wiped.
 * 0 < n <= 256.  Claims are copied. */
int ws_chain_claim(ws_chain *c, const uint8_t contract[20], const struct ws_chain_signer *s,
		   const struct ws_chain_claim *claims, size_t n, ws_chain_tx_cb cb, void *user)
	__attribute__((warn_unused_result));

/* Any other contract call as a transaction, the same way as a claim
 * (offers published in the registry, close requests of the wallet):
 * calldata is copied. */
int ws_chain_send_call(ws_chain *c, const uint8_t contract[20], const struct ws_chain_signer *s,
		       const uint8_t *calldata, size_t len, ws_chain_tx_cb cb, void *user)
	__attribute__((warn_unused_result));

/* The calldata of claim / claimMany (for tests and eth_call dry runs). */
int ws_chain_claim_calldata(const struct ws_chain_claim *claims, size_t n, uint8_t **out,
			    size_t *len)
	__attribute__((warn_unused_result));

struct ws_chain_close_request {
	uint8_t channel_id[32];
	ws_u256 settle_after;         /* unix s */
	uint64_t block_number;
	uint8_t tx_hash[32];
};
typedef void (*ws_chain_close_cb)(void *user, int err,
				  const struct ws_chain_close_request *reqs, size_t n);
/* CloseRequested(bytes32 indexed channelId, uint256 settleAfter) events of
 * `contract` in [from_block, latest] for any of ids[0..n_ids) (n_ids 0:
 * every channel).  Removed (re-org) entries are skipped. */
int ws_chain_close_requests(ws_chain *c, const uint8_t contract[20], uint64_t from_block,
			    const uint8_t (*ids)[32], size_t n_ids, ws_chain_close_cb cb,
			    void *user)
	__attribute__((warn_unused_result));

#endif
