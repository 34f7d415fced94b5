/* pay_sign.c: EIP-712 hashing and signing of offers and receipts, session
 * ids and idTags (see pay_sign.h).  One keccak per field plus one per
 * struct; signing is one secp256k1 signature. */
#include "wattstream/pay_sign.h"

#include <errno.h>
#include <string.h>

#include "wattstream/ecsig.h"
#include "wattstream/keccak.h"

void pay_offer_hash(const struct pay_offer *o, uint8_t out[32])
{
	ws_eip712_struct s;

	ws_eip712_struct_init(&s, PAY_OFFER_TYPE);
	ws_eip712_struct_address(&s, o->station);
	ws_eip712_struct_address(&s, o->payee);
	ws_eip712_struct_address(&s, o->token);
	ws_eip712_struct_u256(&s, &o->price_per_kwh);
	ws_eip712_struct_u64(&s, o->increment_wh);
	ws_eip712_struct_u64(&s, o->prepaid_increments);
	ws_eip712_struct_u64(&s, o->grace_seconds);
	ws_eip712_struct_u64(&s, o->valid_from);
	ws_eip712_struct_u64(&s, o->valid_until);
	ws_eip712_struct_string(&s, o->location);
	ws_eip712_struct_string(&s, o->endpoint);
	ws_eip712_struct_u64(&s, o->nonce);
	ws_eip712_struct_final(&s, out);
}

void pay_receipt_hash(const struct pay_receipt *r, uint8_t out[32])
{
	ws_eip712_struct s;

	ws_eip712_struct_init(&s, PAY_RECEIPT_TYPE);
	ws_eip712_struct_word(&s, r->channel_id);
	ws_eip712_struct_word(&s, r->session_id);
	ws_eip712_struct_u64(&s, r->seq);
	ws_eip712_struct_u64(&s, r->meter_start_mwh);
	ws_eip712_struct_u64(&s, r->meter_mwh);
	ws_eip712_struct_u64(&s, r->delivered_mwh);
	ws_eip712_struct_u256(&s, &r->amount_due);
	ws_eip712_struct_u256(&s, &r->paid);
	ws_eip712_struct_u64(&s, r->timestamp_ms);
	ws_eip712_struct_bool(&s, r->final);
	ws_eip712_struct_final(&s, out);
}

static int sign(const uint8_t domain_sep[32], const uint8_t hash[32],
		const uint8_t seckey[32], uint8_t sig[65])
{
	uint8_t digest[32];
	ws_eip712_digest(domain_sep, hash, digest);
	return ws_ecsig_sign(seckey, digest, sig) == 0 ? 0 : -EINVAL;
}

int pay_offer_sign(const uint8_t domain_sep[32], const struct pay_offer *o,
		   const uint8_t seckey[32], uint8_t sig[65])
{
	uint8_t h[32];
	pay_offer_hash(o, h);
	return sign(domain_sep, h, seckey, sig);
}

int pay_receipt_sign(const uint8_t domain_sep[32], const struct pay_receipt *r,
		     const uint8_t seckey[32], uint8_t sig[65])
{
	uint8_t h[32];
	pay_receipt_hash(r, h);
	return sign(domain_sep, h, seckey, sig);
}

static void put_u64_be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

void pay_session_id(const uint8_t station[20], const uint8_t channel_id[32],
		    unsigned connector, uint64_t start_ms, uint8_t out[32])
{
	uint8_t buf[20 + 32 + 8 + 8];
	memcpy(buf, station, 20);
	memcpy(buf + 20, channel_id, 32);
	put_u64_be(buf + 52, connector);
	put_u64_be(buf + 60, start_ms);
	ws_keccak256(buf, sizeof(buf), out);
}

void pay_id_tag(const uint8_t secret[32], const uint8_t channel_id[32], char out[21])
{
	static const char hexu[] = "0123456789ABCDEF";
	uint8_t buf[64], h[32];

	memcpy(buf, secret, 32);
	memcpy(buf + 32, channel_id, 32);
	ws_keccak256(buf, sizeof(buf), h);
	explicit_bzero(buf, sizeof(buf));
	out[0] = 'W';
	out[1] = 'S';
	for (int i = 0; i < 9; i++) {
		out[2 + 2 * i] = hexu[h[i] >> 4];
		out[3 + 2 * i] = hexu[h[i] & 15];
	}
	out[20] = '\0';
}
