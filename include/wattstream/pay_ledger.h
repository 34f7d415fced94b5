/* pay_ledger.h: the station's money state per payment channel, in the
 * store: the highest voucher (what the station can claim), the total
 * billed for delivered energy (the next session's base), the total already
 * claimed on-chain, and the deny list.
 *
 * A voucher is verified against the channel's on-chain state and written
 * durably (one fsync'd commit) BEFORE pay_ledger_accept() returns, so the
 * caller grants the energy it buys only once it cannot be lost.  Single-
 * threaded (event loop).  O(1) statements per call. */
#ifndef WATTSTREAM_PAY_LEDGER_H
#define WATTSTREAM_PAY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wattstream/chain.h"
#include "wattstream/u256.h"

struct ws_store;

/* Outcomes of pay_ledger_accept(), in the wallet protocol's terms. */
enum pay_ledger_result {
	PAY_LEDGER_OK = 0,
	PAY_LEDGER_E_BAD_SIGNATURE = 1,	/* voucher_bad_signature */
	PAY_LEDGER_E_HIGH_S,		/* voucher_high_s */
	PAY_LEDGER_E_BAD_V,		/* voucher_bad_v */
	PAY_LEDGER_E_WRONG_SIGNER,	/* voucher_wrong_signer */
	PAY_LEDGER_E_WRONG_CHANNEL,	/* voucher_wrong_channel */
	PAY_LEDGER_E_NOT_HIGHER,	/* voucher_not_higher */
	PAY_LEDGER_E_OVER_DEPOSIT,	/* voucher_over_deposit */
};

/* The wallet protocol's error code for a result ("voucher_high_s"...). */
const char *pay_ledger_error_code(int r);

struct pay_ledger_channel {
	uint8_t id[32];
	bool have_voucher;
	ws_u256 highest;		/* highest voucher amount, 0 if none */
	uint8_t highest_sig[65];
	int64_t highest_ms;
	ws_u256 billed;			/* sum of the sessions' bills */
	ws_u256 claimed;		/* claimed on-chain by us */
	bool denied;
	char deny_reason[64];
};

/* Reads the channel's record (all zero if the station never saw it).
 * Returns 0 or -EIO. */
int pay_ledger_get(struct ws_store *s, const uint8_t id[32], struct pay_ledger_channel *out)
	__attribute__((warn_unused_result));

/* Verifies the voucher (EIP-712 in the channels domain, low S, v 27/28,
 * signed by ch's session key or sender, for ch, above the highest held, at
 * most ch's deposit) and stores it durably.  expected_id: the session's
 * channel.  Returns PAY_LEDGER_OK, a PAY_LEDGER_E_* code, or -EIO (storage
 * failed: nothing is granted). */
int pay_ledger_accept(struct ws_store *s, const uint8_t domain_sep[32],
		      const struct ws_chain_channel *ch, const uint8_t expected_id[32],
		      const uint8_t voucher_id[32], const ws_u256 *amount,
		      const uint8_t *sig, size_t sig_len, int64_t now_ms)
	__attribute__((warn_unused_result));

/* A session ended: its bill is the channel's new billed total. */
int pay_ledger_set_billed(struct ws_store *s, const uint8_t id[32], const ws_u256 *billed)
	__attribute__((warn_unused_result));
/* A claim of amount was mined. */
int pay_ledger_set_claimed(struct ws_store *s, const uint8_t id[32], const ws_u256 *claimed)
	__attribute__((warn_unused_result));
/* Puts the channel on the deny list (a session on it ended unpaid). */
int pay_ledger_deny(struct ws_store *s, const uint8_t id[32], const char *reason)
	__attribute__((warn_unused_result));

/* Channels whose highest voucher is above what was claimed: what
 * settlement claims and the watchtower guards.  Fills out[0..max);
 * returns how many, or -EIO. */
int pay_ledger_unclaimed(struct ws_store *s, struct pay_ledger_channel *out, int max);

#endif
