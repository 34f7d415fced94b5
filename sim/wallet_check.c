/* wallet_check.c: the wallet's checks of offers, invoices and receipts (see
 * wallet_check.h).  All energy is integer mWh and all money u256 base
 * units, so the wallet's arithmetic is the station's to the unit.  Cost per
 * receipt: one EIP-712 digest (a few Keccak permutations) and one
 * secp256k1 public-key recovery; no allocation. */
#include "wallet_check.h"

#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OFFER_TYPE "Offer(address station,address payee,address token,uint256 pricePerKWh," \
	"uint32 incrementWh,uint32 prepaidIncrements,uint32 graceSeconds,uint64 validFrom," \
	"uint64 validUntil,string location,string endpoint,uint64 nonce)"
#define RECEIPT_TYPE "Receipt(bytes32 channelId,bytes32 sessionId,uint64 seq," \
	"uint64 meterStartMwh,uint64 meterMwh,uint64 deliveredMwh,uint256 amountDue," \
	"uint256 paid,uint64 timestamp,bool final)"
#define MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1: JSON integers */

const char *wallet_check_strerror(int code)
{
	switch (code) {
	case 0: return "ok";
	case WALLET_E_MALFORMED: return "malformed";
	case WALLET_E_SIGNATURE: return "bad signature";
	case WALLET_E_SIGNER: return "not signed by the station key";
	case WALLET_E_SESSION: return "other session or channel";
	case WALLET_E_SEQ: return "sequence number goes back";
	case WALLET_E_METER_START: return "meterStartMwh is not the session's";
	case WALLET_E_METER_BACK: return "meter reading goes back";
	case WALLET_E_DELIVERED: return "deliveredMwh is not meterMwh - meterStartMwh";
	case WALLET_E_AMOUNT: return "amount does not match the offer's price";
	case WALLET_E_PAID: return "paid is above any voucher we signed";
	case WALLET_E_FINAL: return "final flag out of place";
	case WALLET_E_AHEAD: return "more increments than delivered + prepaid";
	default: return code < 0 ? strerror(-code) : "unknown";
	}
}

/* ---- JSON fields (untrusted) ---------------------------------------------- */

const char *wallet_json_str(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int wallet_json_addr(const json_t *o, const char *k, uint8_t out[20])
{
	const char *s = wallet_json_str(o, k);
	return s && ws_address_parse(s, out) == 0 ? 0 : -EINVAL;
}

int wallet_json_hex(const json_t *o, const char *k, uint8_t *out, size_t n)
{
	const char *s = wallet_json_str(o, k);
	return s && ws_hex_parse(s, out, n) == 0 ? 0 : -EINVAL;
}

int wallet_json_amount(const json_t *o, const char *k, ws_u256 *out)
{
	const char *s = wallet_json_str(o, k);
	return s && ws_u256_from_dec(out, s) == 0 ? 0 : -EINVAL;
}

int wallet_json_uint(const json_t *o, const char *k, uint64_t *out)
{
	const json_t *v = json_object_get(o, k);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MAX_SAFE_INT)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* ---- offer ------------------------------------------------------------------ */

int wallet_offer_parse(const json_t *j, struct wallet_offer *o)
{
	const char *loc = wallet_json_str(j, "location"), *ep = wallet_json_str(j, "endpoint"), *nonce = wallet_json_str(j, "nonce");
	ws_u256 n;

	if (!json_is_object(j) || wallet_json_addr(j, "station", o->station) || wallet_json_addr(j, "payee", o->payee) ||
	    wallet_json_addr(j, "token", o->token) || wallet_json_amount(j, "pricePerKWh", &o->price) ||
	    wallet_json_uint(j, "incrementWh", &o->increment_wh) || wallet_json_uint(j, "prepaidIncrements", &o->prepaid) ||
	    wallet_json_uint(j, "graceSeconds", &o->grace_s) || wallet_json_uint(j, "validFrom", &o->valid_from) ||
	    wallet_json_uint(j, "validUntil", &o->valid_until) || !loc || !ep || !nonce ||
	    ws_u256_from_dec(&n, nonce) || ws_u256_to_u64(&n, &o->nonce) ||
	    wallet_json_hex(j, "signature", o->sig, sizeof(o->sig)))
		return -EINVAL;
	/* the registry's ranges: uint32 terms, a price, at least one prepaid */
	if (o->increment_wh == 0 || o->increment_wh > UINT32_MAX || o->prepaid == 0 ||
	    o->prepaid > UINT32_MAX || o->grace_s > UINT32_MAX || ws_u256_is_zero(&o->price))
		return -EINVAL;
	o->location = strdup(loc);
	o->endpoint = strdup(ep);
	return o->location && o->endpoint ? 0 : -ENOMEM;
}

void wallet_offer_clear(struct wallet_offer *o)
{
	free(o->location);
	free(o->endpoint);
	memset(o, 0, sizeof(*o));
}

void wallet_offer_digest(const uint8_t ds[32], const struct wallet_offer *o, uint8_t out[32])
{
	ws_eip712_struct s;
	uint8_t h[32];

	ws_eip712_struct_init(&s, OFFER_TYPE);
	ws_eip712_struct_address(&s, o->station);
	ws_eip712_struct_address(&s, o->payee);
	ws_eip712_struct_address(&s, o->token);
	ws_eip712_struct_u256(&s, &o->price);
	ws_eip712_struct_u64(&s, o->increment_wh);
	ws_eip712_struct_u64(&s, o->prepaid);
	ws_eip712_struct_u64(&s, o->grace_s);
	ws_eip712_struct_u64(&s, o->valid_from);
	ws_eip712_struct_u64(&s, o->valid_until);
	ws_eip712_struct_string(&s, o->location ? o->location : "");
	ws_eip712_struct_string(&s, o->endpoint ? o->endpoint : "");
	ws_eip712_struct_u64(&s, o->nonce);
	ws_eip712_struct_final(&s, h);
	ws_eip712_digest(ds, h, out);
}

/* Wraps ws_ecsig's codes: 0 and the signer, or WALLET_E_SIGNATURE. */
static int recover(const uint8_t digest[32], const uint8_t sig[65], uint8_t signer[20])
{
	int r = ws_ecsig_recover_address(digest, sig, 65, signer);
	return r < 0 ? r : r > 0 ? WALLET_E_SIGNATURE : 0;
}

int wallet_offer_verify(const uint8_t ds[32], const struct wallet_offer *o)
{
	uint8_t digest[32], signer[20];
	int r;

	wallet_offer_digest(ds, o, digest);
	r = recover(digest, o->sig, signer);
	if (r)
		return r;
	return memcmp(signer, o->station, 20) == 0 ? 0 : WALLET_E_SIGNER;
}

/* ---- money ------------------------------------------------------------------ */

int wallet_price_of_mwh(const ws_u256 *price, uint64_t mwh, ws_u256 *out)
{
	ws_u256 t, add = ws_u256_from_u64(999999);
	uint64_t rem;
	int r;

	r = ws_u256_mul_u64(&t, price, mwh);
	if (r == 0)
		r = ws_u256_add(&t, &t, &add);
	if (r == 0)
		r = ws_u256_div_u64(out, &rem, &t, 1000000);
	return r;
}

void wallet_ledger_init(struct wallet_ledger *l, const struct wallet_offer *o)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->station, o->station, 20);
	l->price = o->price;
	l->increment_wh = o->increment_wh;
	l->prepaid = o->prepaid;
	l->last_seq = -1;
}

int wallet_check_invoice(const struct wallet_ledger *l, uint64_t increments,
			 const ws_u256 *amount)
{
	ws_u256 part, expect;

	if (increments > UINT64_MAX / 1000 / l->increment_wh ||
	    wallet_price_of_mwh(&l->price, increments * l->increment_wh * 1000, &part) ||
	    ws_u256_add(&expect, &l->base, &part) || ws_u256_cmp(&expect, amount) != 0)
		return WALLET_E_AMOUNT;
	if (increments > l->completed + l->prepaid + 1)
		return WALLET_E_AHEAD;
	return 0;
}

int wallet_check_receipt(struct wallet_ledger *l, const uint8_t ds[32], const json_t *r,
			 bool want_final)
{
	uint8_t ch[32], sess[32], sig[65], digest[32], h[32], signer[20];
	uint64_t seq, mstart, meter, delivered, ts;
	ws_u256 due, paid, expect, part;
	const json_t *fin = json_object_get(r, "final");
	const ws_u256 *held;
	ws_eip712_struct s;
	int e;

	if (!json_is_object(r) || wallet_json_hex(r, "session", sess, 32) || wallet_json_uint(r, "seq", &seq) ||
	    wallet_json_hex(r, "channelId", ch, 32) || wallet_json_uint(r, "meterStartMwh", &mstart) ||
	    wallet_json_uint(r, "meterMwh", &meter) || wallet_json_uint(r, "deliveredMwh", &delivered) ||
	    wallet_json_amount(r, "amountDue", &due) || wallet_json_amount(r, "paid", &paid) ||
	    wallet_json_uint(r, "timestamp", &ts) || !json_is_boolean(fin) || wallet_json_hex(r, "signature", sig, 65))
		return WALLET_E_MALFORMED;
	/* the digest from the fields, never a hash handed in */
	ws_eip712_struct_init(&s, RECEIPT_TYPE);
	ws_eip712_struct_word(&s, ch);
	ws_eip712_struct_word(&s, sess);
	ws_eip712_struct_u64(&s, seq);
	ws_eip712_struct_u64(&s, mstart);
	ws_eip712_struct_u64(&s, meter);
	ws_eip712_struct_u64(&s, delivered);
	ws_eip712_struct_u256(&s, &due);
	ws_eip712_struct_u256(&s, &paid);
	ws_eip712_struct_u64(&s, ts);
	ws_eip712_struct_bool(&s, json_is_true(fin));
	ws_eip712_struct_final(&s, h);
	ws_eip712_digest(ds, h, digest);
	e = recover(digest, sig, signer);
	if (e)
		return e;
	if (memcmp(signer, l->station, 20) != 0)
		return WALLET_E_SIGNER;
	if (memcmp(sess, l->session, 32) != 0 || memcmp(ch, l->channel, 32) != 0)
		return WALLET_E_SESSION;
	if (seq > INT64_MAX || (int64_t)seq <= l->last_seq)
		return WALLET_E_SEQ;
	if (mstart != l->meter_start)
		return WALLET_E_METER_START;
	if (meter < l->last_meter || meter < mstart)
		return WALLET_E_METER_BACK;
	if (delivered != meter - mstart)
		return WALLET_E_DELIVERED;
	if (wallet_price_of_mwh(&l->price, delivered, &part) || ws_u256_add(&expect, &l->base, &part) ||
	    ws_u256_cmp(&expect, &due) != 0)
		return WALLET_E_AMOUNT;
	held = ws_u256_cmp(&l->last_signed, &l->highest_start) > 0 ? &l->last_signed
								     : &l->highest_start;
	if (ws_u256_cmp(&paid, held) > 0)
		return WALLET_E_PAID;
	if (want_final != json_is_true(fin))
		return WALLET_E_FINAL;
	l->last_seq = (int64_t)seq;
	l->last_meter = meter;
	l->delivered = delivered;
	l->completed = delivered / (l->increment_wh * 1000);
	return 0;
}
