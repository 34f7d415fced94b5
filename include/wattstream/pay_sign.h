/* pay_sign.h: what the station signs and the names it derives for a paid
 * session: the EIP-712 Offer of the registry (docs/contracts.md), the
 * EIP-712 Receipt of the wallet protocol (docs/wallet-protocol.md §3.5),
 * the session id, and the pseudonymous OCPP idTag of a channel.
 * Digests are always computed from fields.  Pure; O(size of the strings). */
#ifndef WATTSTREAM_PAY_SIGN_H
#define WATTSTREAM_PAY_SIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/eip712.h"
#include "wattstream/u256.h"

#define PAY_OFFER_TYPE \
	"Offer(address station,address payee,address token,uint256 pricePerKWh," \
	"uint32 incrementWh,uint32 prepaidIncrements,uint32 graceSeconds," \
	"uint64 validFrom,uint64 validUntil,string location,string endpoint,uint64 nonce)"
#define PAY_OFFER_DOMAIN_NAME "Wattstream Offers"
#define PAY_RECEIPT_TYPE \
	"Receipt(bytes32 channelId,bytes32 sessionId,uint64 seq,uint64 meterStartMwh," \
	"uint64 meterMwh,uint64 deliveredMwh,uint256 amountDue,uint256 paid," \
	"uint64 timestamp,bool final)"
#define PAY_RECEIPT_DOMAIN_NAME "Wattstream Receipts"
#define PAY_DOMAIN_VERSION "1"

#define PAY_LOCATION_MAX 64
#define PAY_ENDPOINT_MAX 256

struct pay_offer {
	uint8_t station[20], payee[20], token[20];
	ws_u256 price_per_kwh;
	uint32_t increment_wh, prepaid_increments, grace_seconds;
	uint64_t valid_from, valid_until;	/* Unix seconds */
	char location[PAY_LOCATION_MAX + 1];	/* e.g. a geohash prefix */
	char endpoint[PAY_ENDPOINT_MAX + 1];	/* the wallet endpoint URL */
	uint64_t nonce;
};

struct pay_receipt {
	uint8_t channel_id[32], session_id[32];
	uint64_t seq;
	uint64_t meter_start_mwh, meter_mwh, delivered_mwh;
	ws_u256 amount_due, paid;
	uint64_t timestamp_ms;
	bool final;
};

void pay_offer_hash(const struct pay_offer *o, uint8_t out[32]);
void pay_receipt_hash(const struct pay_receipt *r, uint8_t out[32]);

/* digest = EIP-712 digest in the given domain; sig = 65 bytes r||s||v.
 * Return 0 or -EINVAL (bad key). */
int pay_offer_sign(const uint8_t domain_sep[32], const struct pay_offer *o,
		   const uint8_t seckey[32], uint8_t sig[65]) __attribute__((warn_unused_result));
int pay_receipt_sign(const uint8_t domain_sep[32], const struct pay_receipt *r,
		     const uint8_t seckey[32], uint8_t sig[65]) __attribute__((warn_unused_result));

/* The session id: keccak256(station ‖ channelId ‖ connector (u64) ‖
 * start time ms (u64)), all big-endian: unique per station and start. */
void pay_session_id(const uint8_t station[20], const uint8_t channel_id[32],
		    unsigned connector, uint64_t start_ms, uint8_t out[32]);

/* The OCPP idTag shown to the Central System for a channel: "WS" and the
 * first 18 hex digits (upper case) of keccak256(secret ‖ channelId).
 * Stable per channel and station; without the station's secret nobody can
 * tell which on-chain channel (or wallet) it is.  out: 21 bytes. */
void pay_id_tag(const uint8_t secret[32], const uint8_t channel_id[32], char out[21]);

#endif
