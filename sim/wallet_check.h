/* wallet_check.h: the wallet's checks of what a station sends it
 * (docs/wallet-protocol.md §3, docs/wallet.md "What it checks"): the signed
 * offer, the invoice arithmetic and every receipt.  Pure functions over
 * parsed JSON and a small ledger; no I/O, no clock.  Used by
 * wattstream-wallet (sim/wallet.c), tested by sim/wallet_check_test.c. */
#ifndef WATTSTREAM_SIM_WALLET_CHECK_H
#define WATTSTREAM_SIM_WALLET_CHECK_H

#include "wattstream/u256.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Expected outcomes: the station sent something a wallet must not pay for. */
enum {
	WALLET_E_MALFORMED = 1,   /* a field is missing or badly encoded */
	WALLET_E_SIGNATURE = 2,   /* not a valid signature (length, v, r/s range, high S) */
	WALLET_E_SIGNER = 3,      /* a valid signature by a key other than the station's */
	WALLET_E_SESSION = 4,     /* another session or channel */
	WALLET_E_SEQ = 5,         /* receipt sequence number not increasing */
	WALLET_E_METER_START = 6, /* meterStartMwh is not the session's */
	WALLET_E_METER_BACK = 7,  /* meter reading goes back */
	WALLET_E_DELIVERED = 8,   /* deliveredMwh != meterMwh - meterStartMwh */
	WALLET_E_AMOUNT = 9,      /* amount does not follow from the offer's price */
	WALLET_E_PAID = 10,       /* paid is above any voucher the station holds from us */
	WALLET_E_FINAL = 11,      /* final flag where it does not belong, or missing on the bill */
	WALLET_E_AHEAD = 12,      /* invoice for more increments than delivered + prepaid + 1 */
};

/* Short English reason for a WALLET_E_* code or -errno. */
const char *wallet_check_strerror(int code);

/* An offer as the hello carries it (contracts.md, OfferRegistry). */
struct wallet_offer {
	uint8_t station[20], payee[20], token[20];
	ws_u256 price;                /* base units per kWh, > 0 */
	uint64_t increment_wh;        /* 1 .. 2^32-1 */
	uint64_t prepaid;             /* 1 .. 2^32-1 */
	uint64_t grace_s, valid_from, valid_until, nonce;
	char *location, *endpoint;    /* owned */
	uint8_t sig[65];
};

/* Parses the hello's offer object into *o (which must be zeroed).  Returns
 * 0, -EINVAL (missing or malformed field, out-of-range term), -ENOMEM.  On
 * error *o may hold strings: call wallet_offer_clear() in every case. */
int wallet_offer_parse(const json_t *j, struct wallet_offer *o)
	__attribute__((warn_unused_result));
void wallet_offer_clear(struct wallet_offer *o);

/* The EIP-712 digest of the offer in the registry's domain. */
void wallet_offer_digest(const uint8_t domain_separator[32], const struct wallet_offer *o,
			 uint8_t out[32]);

/* 0 if o->sig is the station key's (o->station) signature of the offer;
 * WALLET_E_SIGNATURE or WALLET_E_SIGNER otherwise; -ENOMEM. */
int wallet_offer_verify(const uint8_t domain_separator[32], const struct wallet_offer *o)
	__attribute__((warn_unused_result));

/* ceil(mwh * price / 10^6): the money for mwh milliwatt-hours.  0 or
 * -ERANGE (overflow). */
int wallet_price_of_mwh(const ws_u256 *price, uint64_t mwh, ws_u256 *out)
	__attribute__((warn_unused_result));

/* What the wallet knows of the running session. */
struct wallet_ledger {
	uint8_t station[20];          /* the offer's station key */
	uint8_t session[32], channel[32];
	ws_u256 price;                /* of the offer */
	uint64_t increment_wh, prepaid;
	ws_u256 base;                 /* cumulative total owed before this session */
	ws_u256 highest_start;        /* highest voucher the station held at start */
	ws_u256 last_signed;          /* highest voucher we signed for this channel */
	uint64_t meter_start;         /* mWh */
	/* advanced by each good receipt */
	uint64_t last_meter, delivered, completed;
	int64_t last_seq;             /* -1 before the first receipt */
};

/* Starts a ledger for a session (session fields are set by the caller). */
void wallet_ledger_init(struct wallet_ledger *l, const struct wallet_offer *o);

/* Checks an invoice for `increments` increments asking `amount` (the
 * cumulative channel total): amount = base + ceil(increments × incrementWh
 * × 1000 × price / 10^6), increments ≤ completed + prepaid + 1.  Returns 0,
 * WALLET_E_AMOUNT, WALLET_E_AHEAD. */
int wallet_check_invoice(const struct wallet_ledger *l, uint64_t increments,
			 const ws_u256 *amount)
	__attribute__((warn_unused_result));

/* Checks a receipt object (protocol §3.5) signed in the receipt domain;
 * want_final: this is the bill of an `ended` message.  On 0 the ledger
 * advances (last_seq, last_meter, delivered, completed); on any other
 * return it is unchanged.  Returns 0 or a WALLET_E_* code. */
int wallet_check_receipt(struct wallet_ledger *l, const uint8_t domain_separator[32],
			 const json_t *r, bool want_final)
	__attribute__((warn_unused_result));

/* Strict readers of a member k of a JSON object from the station (untrusted):
 * a string (NULL if absent or not a string); an address ("0x" + 40 hex,
 * EIP-55 when mixed case); exactly n bytes of hex; a decimal amount; a
 * non-negative integer below 2^53.  Return 0 or -EINVAL. */
const char *wallet_json_str(const json_t *o, const char *k);
int wallet_json_addr(const json_t *o, const char *k, uint8_t out[20]);
int wallet_json_hex(const json_t *o, const char *k, uint8_t *out, size_t n);
int wallet_json_amount(const json_t *o, const char *k, ws_u256 *out);
int wallet_json_uint(const json_t *o, const char *k, uint64_t *out);

#endif
