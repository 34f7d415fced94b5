/* test-pay_sign.c: offers against the contract's vectors, receipts against
 * ethers' known answers (signatures byte for byte: both use RFC 6979),
 * session ids and idTags. */
#include <string.h>

#include "check.h"
#include "vectors.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"
#include "wattstream/pay_sign.h"

static uint64_t u64_of(json_t *o, const char *k)
{
	ws_u256 v;
	uint64_t out = 0;
	CHECK_INT(ws_u256_from_dec(&v, vectors_str(o, k)), 0);
	CHECK_INT(ws_u256_to_u64(&v, &out), 0);
	return out;
}

static void domain_of(json_t *d, const char *expect_name, uint8_t sep[32])
{
	ws_eip712_domain dom = { .name = vectors_str(d, "name"), .version = vectors_str(d, "version") };
	CHECK_STR(dom.name, expect_name);
	CHECK_INT(ws_u256_from_dec(&dom.chain_id, vectors_str(d, "chainId")), 0);
	CHECK_INT(ws_address_parse(vectors_str(d, "verifyingContract"), dom.verifying_contract), 0);
	ws_eip712_domain_separator(&dom, sep);
}

static void test_offers(void)
{
	json_t *j = vectors_load("eip712-offers.json"), *c;
	size_t i, valid = 0;
	uint8_t sep[32], want[32], got[32];

	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_STR(vectors_str(j, "offerType"), PAY_OFFER_TYPE);
	domain_of(json_object_get(j, "domain"), PAY_OFFER_DOMAIN_NAME, sep);
	CHECK_INT(ws_hex_parse(vectors_str(j, "domainSeparator"), want, 32), 0);
	CHECK_MEM(sep, want, 32);
	json_array_foreach(json_object_get(j, "cases"), i, c) {
		if (!json_is_true(json_object_get(c, "valid")))
			continue;	/* tampered signatures: the eip712 test covers them */
		json_t *o = json_object_get(c, "offer");
		struct pay_offer off = { 0 };
		CHECK_INT(ws_address_parse(vectors_str(o, "station"), off.station), 0);
		CHECK_INT(ws_address_parse(vectors_str(o, "payee"), off.payee), 0);
		CHECK_INT(ws_address_parse(vectors_str(o, "token"), off.token), 0);
		CHECK_INT(ws_u256_from_dec(&off.price_per_kwh, vectors_str(o, "pricePerKWh")), 0);
		off.increment_wh = (uint32_t)u64_of(o, "incrementWh");
		off.prepaid_increments = (uint32_t)u64_of(o, "prepaidIncrements");
		off.grace_seconds = (uint32_t)u64_of(o, "graceSeconds");
		off.valid_from = u64_of(o, "validFrom");
		off.valid_until = u64_of(o, "validUntil");
		snprintf(off.location, sizeof(off.location), "%s", vectors_str(o, "location"));
		snprintf(off.endpoint, sizeof(off.endpoint), "%s", vectors_str(o, "endpoint"));
		off.nonce = u64_of(o, "nonce");
		pay_offer_hash(&off, got);
		CHECK_INT(ws_hex_parse(vectors_str(c, "structHash"), want, 32), 0);
		CHECK_MEM(got, want, 32);
		/* what we sign recovers to a key of ours */
		uint8_t sk[32] = { [31] = 7 }, sig[65], digest[32], who[20], pub[64], me[20];
		CHECK_INT(pay_offer_sign(sep, &off, sk, sig), 0);
		ws_eip712_digest(sep, got, digest);
		CHECK_INT(ws_hex_parse(vectors_str(c, "digest"), want, 32), 0);
		CHECK_MEM(digest, want, 32);
		CHECK_INT(ws_ecsig_recover_address(digest, sig, 65, who), 0);
		CHECK_INT(ws_ecsig_pubkey(sk, pub), 0);
		ws_address_from_pubkey(pub, me);
		CHECK_MEM(who, me, 20);
		valid++;
	}
	CHECK(valid >= 2);
	json_decref(j);
}

static void test_receipts(void)
{
	json_t *j = vectors_load("receipts.json"), *c;
	size_t i, n = 0;
	uint8_t sep[32], want[32], got[32], sk[32], sig[65], want_sig[65];

	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_STR(vectors_str(j, "receiptType"), PAY_RECEIPT_TYPE);
	domain_of(json_object_get(j, "domain"), PAY_RECEIPT_DOMAIN_NAME, sep);
	CHECK_INT(ws_hex_parse(vectors_str(j, "domainSeparator"), want, 32), 0);
	CHECK_MEM(sep, want, 32);
	CHECK_INT(ws_hex_parse(vectors_str(j, "privateKey"), sk, 32), 0);
	json_array_foreach(json_object_get(j, "cases"), i, c) {
		json_t *r = json_object_get(c, "receipt");
		struct pay_receipt rc = { 0 };
		CHECK_INT(ws_hex_parse(vectors_str(r, "channelId"), rc.channel_id, 32), 0);
		CHECK_INT(ws_hex_parse(vectors_str(r, "sessionId"), rc.session_id, 32), 0);
		rc.seq = u64_of(r, "seq");
		rc.meter_start_mwh = u64_of(r, "meterStartMwh");
		rc.meter_mwh = u64_of(r, "meterMwh");
		rc.delivered_mwh = u64_of(r, "deliveredMwh");
		CHECK_INT(ws_u256_from_dec(&rc.amount_due, vectors_str(r, "amountDue")), 0);
		CHECK_INT(ws_u256_from_dec(&rc.paid, vectors_str(r, "paid")), 0);
		rc.timestamp_ms = u64_of(r, "timestamp");
		rc.final = json_is_true(json_object_get(r, "final"));
		pay_receipt_hash(&rc, got);
		CHECK_INT(ws_hex_parse(vectors_str(c, "structHash"), want, 32), 0);
		CHECK_MEM(got, want, 32);
		CHECK_INT(pay_receipt_sign(sep, &rc, sk, sig), 0);
		CHECK_INT(ws_hex_parse(vectors_str(c, "signature"), want_sig, 65), 0);
		CHECK_MEM(sig, want_sig, 65);
		/* any changed field changes the digest */
		rc.final = !rc.final;
		pay_receipt_hash(&rc, got);
		CHECK(memcmp(got, want, 32) != 0);
		n++;
	}
	CHECK_INT(n, 3);
	json_decref(j);
}

static void test_names(void)
{
	uint8_t secret[32] = { 1, 2, 3 }, secret2[32] = { 9 }, ch[32] = { 0xab }, ch2[32] = { 0xac };
	uint8_t station[20] = { 0x11 }, id1[32], id2[32], id3[32];
	char t1[21], t2[21], t3[21], t4[21];

	pay_id_tag(secret, ch, t1);
	pay_id_tag(secret, ch, t2);
	pay_id_tag(secret, ch2, t3);
	pay_id_tag(secret2, ch, t4);
	CHECK_INT(strlen(t1), 20);	/* OCPP idTag is CiString20 */
	CHECK(strncmp(t1, "WS", 2) == 0);
	CHECK_STR(t1, t2);		/* stable per channel */
	CHECK(strcmp(t1, t3) != 0);	/* differs per channel */
	CHECK(strcmp(t1, t4) != 0);	/* and per station secret */
	for (int i = 2; i < 20; i++)
		CHECK((t1[i] >= '0' && t1[i] <= '9') || (t1[i] >= 'A' && t1[i] <= 'F'));

	pay_session_id(station, ch, 1, 1000, id1);
	pay_session_id(station, ch, 1, 1001, id2);
	pay_session_id(station, ch, 2, 1000, id3);
	CHECK(memcmp(id1, id2, 32) != 0);
	CHECK(memcmp(id1, id3, 32) != 0);
}

int main(void)
{
	test_offers();
	test_receipts();
	test_names();
	return check_done();
}
