/* wallet_check_test.c: unit test of sim/wallet_check.c, the wallet's checks
 * of offers, invoices and receipts.  Offers run on the contracts' vectors
 * (tests/vectors/eip712-offers.json: the registry's verdict), receipts on
 * tests/vectors/receipts.json (ethers' digests and signatures); then every
 * receipt field tampered (caught by the signature), every rule broken with
 * a fresh valid signature (caught by the rule), malformed encodings, and
 * the rounding of the price arithmetic. */
#include "wallet_check.h"

#include "check.h"
#include "vectors.h"

#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int u256_dec_eq(const ws_u256 *v, const char *s)
{
	ws_u256 w;
	return ws_u256_from_dec(&w, s) == 0 && ws_u256_cmp(v, &w) == 0;
}

static void domain_sep(json_t *dom, uint8_t out[32])
{
	ws_eip712_domain d;
	memset(&d, 0, sizeof(d));
	d.name = vectors_str(dom, "name");
	d.version = vectors_str(dom, "version");
	CHECK(ws_u256_from_dec(&d.chain_id, vectors_str(dom, "chainId")) == 0);
	CHECK(ws_address_parse(vectors_str(dom, "verifyingContract"), d.verifying_contract) == 0);
	ws_eip712_domain_separator(&d, out);
}

/* ---- price arithmetic ------------------------------------------------------ */

static void test_price(void)
{
	ws_u256 p = ws_u256_from_u64(300000), out, max;

	CHECK(wallet_price_of_mwh(&p, 0, &out) == 0 && u256_dec_eq(&out, "0"));
	CHECK(wallet_price_of_mwh(&p, 1, &out) == 0 && u256_dec_eq(&out, "1"));      /* 0.3 up */
	CHECK(wallet_price_of_mwh(&p, 100000, &out) == 0 && u256_dec_eq(&out, "30000"));
	CHECK(wallet_price_of_mwh(&p, 712345, &out) == 0 && u256_dec_eq(&out, "213704"));
	p = ws_u256_from_u64(1);
	CHECK(wallet_price_of_mwh(&p, 999999, &out) == 0 && u256_dec_eq(&out, "1"));
	CHECK(wallet_price_of_mwh(&p, 1000000, &out) == 0 && u256_dec_eq(&out, "1"));
	CHECK(wallet_price_of_mwh(&p, 1000001, &out) == 0 && u256_dec_eq(&out, "2"));
	CHECK(ws_u256_from_dec(&max, "115792089237316195423570985008687907853269984665640564039457584007913129639935") == 0);
	CHECK(wallet_price_of_mwh(&max, 2, &out) == -ERANGE);
	CHECK(wallet_price_of_mwh(&max, 1, &out) == -ERANGE); /* + 999999 overflows */
}

/* ---- offers --------------------------------------------------------------- */

/* The vector's offer (numbers as decimal strings) in the hello's JSON form.
 * A number beyond 2^53 has no exact JSON form in the protocol: it stays a
 * string (which the parser must refuse) and *unsafe is set. */
static json_t *offer_json(json_t *o, const char *sig, bool *unsafe)
{
	json_t *j = json_deep_copy(o);
	const char *ints[] = { "incrementWh", "prepaidIncrements", "graceSeconds", "validFrom",
			       "validUntil" };

	*unsafe = false;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		unsigned long long v = strtoull(vectors_str(o, ints[i]), NULL, 10);
		if (v > 9007199254740991ULL)
			*unsafe = true;
		else
			json_object_set_new(j, ints[i], json_integer((json_int_t)v));
	}
	json_object_set_new(j, "signature", json_string(sig));
	return j;
}

static void test_offer_vectors(void)
{
	json_t *v = vectors_load("eip712-offers.json"), *c;
	uint8_t ds[32], want[32], digest[32];
	size_t i, n_valid = 0, n_invalid = 0;

	CHECK(v != NULL);
	if (!v)
		return;
	domain_sep(json_object_get(v, "domain"), ds);
	CHECK(ws_hex_parse(vectors_str(v, "domainSeparator"), want, 32) == 0);
	CHECK_MEM(ds, want, 32);
	json_array_foreach(json_object_get(v, "cases"), i, c) {
		struct wallet_offer o;
		bool unsafe, valid = json_is_true(json_object_get(c, "valid"));
		json_t *j = offer_json(json_object_get(c, "offer"), vectors_str(c, "signature"), &unsafe);
		int pr, r = -1;

		memset(&o, 0, sizeof(o));
		pr = wallet_offer_parse(j, &o);
		if (unsafe) {
			/* e.g. validUntil = 2^64-1: not a protocol offer */
			CHECK(pr == -EINVAL);
			wallet_offer_clear(&o);
			json_decref(j);
			continue;
		}
		if (pr == 0) {
			wallet_offer_digest(ds, &o, digest);
			CHECK(ws_hex_parse(vectors_str(c, "digest"), want, 32) == 0);
			CHECK_MEM(digest, want, 32);
			r = wallet_offer_verify(ds, &o);
		}
		if ((r == 0) != valid)
			fprintf(stderr, "offer case %s: parse %d verify %d, registry says %d\n",
				vectors_str(c, "name"), pr, r, valid);
		CHECK((r == 0) == valid);
		if (!valid && pr == 0)
			CHECK(r == WALLET_E_SIGNATURE || r == WALLET_E_SIGNER);
		valid ? n_valid++ : n_invalid++;
		wallet_offer_clear(&o);
		json_decref(j);
	}
	CHECK(n_valid >= 1 && n_invalid >= 5);
	json_decref(v);
}

static void test_offer_malformed(void)
{
	json_t *v = vectors_load("eip712-offers.json");
	json_t *c0, *base;
	struct {
		const char *field;
		json_t *value; /* NULL: remove the field */
	} bad[] = {
		{ "station", NULL },
		{ "station", json_string("0x8c3cb740c7fac8c1e1bcadd489ec726dae6eacec00") },
		{ "station", json_string("0x8C3cb740C7fac8c1E1BCaDD489eC726dae6EaCEC") }, /* bad checksum */
		{ "pricePerKWh", json_string("0") },
		{ "pricePerKWh", json_string("0x10") },
		{ "pricePerKWh", json_string("012") },
		{ "pricePerKWh", json_integer(350000) },
		{ "incrementWh", json_integer(0) },
		{ "incrementWh", json_integer(4294967296LL) },
		{ "incrementWh", json_string("100") },
		{ "prepaidIncrements", json_integer(0) },
		{ "graceSeconds", json_integer(-1) },
		{ "validUntil", json_real(1.5) },
		{ "nonce", json_integer(1) },
		{ "nonce", json_string("18446744073709551616") },
		{ "location", json_null() },
		{ "signature", json_string("0x1234") },
	};

	CHECK(v != NULL);
	if (!v)
		return;
	bool unsafe;

	c0 = json_array_get(json_object_get(v, "cases"), 0);
	base = offer_json(json_object_get(c0, "offer"), vectors_str(c0, "signature"), &unsafe);
	CHECK(!unsafe);
	{
		struct wallet_offer o;
		memset(&o, 0, sizeof(o));
		CHECK(wallet_offer_parse(base, &o) == 0);
		wallet_offer_clear(&o);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_deep_copy(base);
		struct wallet_offer o;
		int r;

		if (bad[i].value)
			json_object_set_new(j, bad[i].field, bad[i].value);
		else
			json_object_del(j, bad[i].field);
		memset(&o, 0, sizeof(o));
		r = wallet_offer_parse(j, &o);
		if (r != -EINVAL)
			fprintf(stderr, "malformed offer case %zu (%s) gave %d\n", i, bad[i].field, r);
		CHECK(r == -EINVAL);
		wallet_offer_clear(&o);
		json_decref(j);
	}
	{
		struct wallet_offer o;
		json_t *x = json_string("x");
		memset(&o, 0, sizeof(o));
		CHECK(wallet_offer_parse(x, &o) == -EINVAL);
		json_decref(x);
	}
	json_decref(base);
	json_decref(v);
}

/* ---- invoices ----------------------------------------------------------------- */

static void test_invoice(void)
{
	struct wallet_offer o;
	struct wallet_ledger l;
	ws_u256 a;

	memset(&o, 0, sizeof(o));
	o.price = ws_u256_from_u64(300000);
	o.increment_wh = 100;
	o.prepaid = 1;
	wallet_ledger_init(&l, &o);
	l.base = ws_u256_from_u64(120000);
	a = ws_u256_from_u64(150000);
	CHECK(wallet_check_invoice(&l, 1, &a) == 0);
	a = ws_u256_from_u64(150001);
	CHECK(wallet_check_invoice(&l, 1, &a) == WALLET_E_AMOUNT);
	a = ws_u256_from_u64(149999);
	CHECK(wallet_check_invoice(&l, 1, &a) == WALLET_E_AMOUNT);
	a = ws_u256_from_u64(180000);
	CHECK(wallet_check_invoice(&l, 2, &a) == 0);           /* completed 0 + prepaid 1 + 1 */
	a = ws_u256_from_u64(210000);
	CHECK(wallet_check_invoice(&l, 3, &a) == WALLET_E_AHEAD);
	l.completed = 1;
	CHECK(wallet_check_invoice(&l, 3, &a) == 0);
	a = ws_u256_from_u64(0);
	CHECK(wallet_check_invoice(&l, UINT64_MAX / 1000, &a) == WALLET_E_AMOUNT); /* overflow */
}

/* ---- receipts ----------------------------------------------------------------- */

/* A receipt vector (numbers as decimal strings) in the protocol's JSON. */
static json_t *receipt_json(json_t *r, const char *sig)
{
	const char *ints[] = { "seq", "meterStartMwh", "meterMwh", "deliveredMwh", "timestamp" };
	json_t *j = json_object();

	json_object_set_new(j, "type", json_string("receipt"));
	json_object_set_new(j, "session", json_string(vectors_str(r, "sessionId")));
	json_object_set_new(j, "channelId", json_string(vectors_str(r, "channelId")));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		const char *s = vectors_str(r, ints[i]);
		unsigned long long v = strtoull(s, NULL, 10);
		/* beyond 2^53 a JSON number cannot carry it exactly: keep the text */
		json_object_set_new(j, ints[i], v > 9007199254740991ULL ? json_string(s)
									: json_integer((json_int_t)v));
	}
	json_object_set_new(j, "amountDue", json_string(vectors_str(r, "amountDue")));
	json_object_set_new(j, "paid", json_string(vectors_str(r, "paid")));
	json_object_set_new(j, "final", json_boolean(json_is_true(json_object_get(r, "final"))));
	json_object_set_new(j, "signature", json_string(sig));
	return j;
}

/* Signs j (protocol JSON) with key in domain ds, as a station would. */
static void sign_receipt(json_t *j, const uint8_t ds[32], const uint8_t key[32])
{
	ws_eip712_struct s;
	uint8_t b[32], h[32], digest[32], sig[65];
	ws_u256 v;
	char hex[WS_HEX_STR_SIZE(65)];

	ws_eip712_struct_init(&s, "Receipt(bytes32 channelId,bytes32 sessionId,uint64 seq,"
			      "uint64 meterStartMwh,uint64 meterMwh,uint64 deliveredMwh,"
			      "uint256 amountDue,uint256 paid,uint64 timestamp,bool final)");
	CHECK(ws_hex_parse(vectors_str(j, "channelId"), b, 32) == 0);
	ws_eip712_struct_word(&s, b);
	CHECK(ws_hex_parse(vectors_str(j, "session"), b, 32) == 0);
	ws_eip712_struct_word(&s, b);
	ws_eip712_struct_u64(&s, (uint64_t)json_integer_value(json_object_get(j, "seq")));
	ws_eip712_struct_u64(&s, (uint64_t)json_integer_value(json_object_get(j, "meterStartMwh")));
	ws_eip712_struct_u64(&s, (uint64_t)json_integer_value(json_object_get(j, "meterMwh")));
	ws_eip712_struct_u64(&s, (uint64_t)json_integer_value(json_object_get(j, "deliveredMwh")));
	CHECK(ws_u256_from_dec(&v, vectors_str(j, "amountDue")) == 0);
	ws_eip712_struct_u256(&s, &v);
	CHECK(ws_u256_from_dec(&v, vectors_str(j, "paid")) == 0);
	ws_eip712_struct_u256(&s, &v);
	ws_eip712_struct_u64(&s, (uint64_t)json_integer_value(json_object_get(j, "timestamp")));
	ws_eip712_struct_bool(&s, json_is_true(json_object_get(j, "final")));
	ws_eip712_struct_final(&s, h);
	ws_eip712_digest(ds, h, digest);
	CHECK(ws_ecsig_sign(key, digest, sig) == 0);
	ws_hex_format(sig, 65, hex, sizeof(hex));
	json_object_set_new(j, "signature", json_string(hex));
}

/* A ledger in which the first receipt vector (price 300000, base 0) is
 * the next good receipt. */
static void ledger_for(struct wallet_ledger *l, json_t *j, const uint8_t station[20])
{
	struct wallet_offer o;

	memset(&o, 0, sizeof(o));
	memcpy(o.station, station, 20);
	o.price = ws_u256_from_u64(300000);
	o.increment_wh = 100;
	o.prepaid = 1;
	wallet_ledger_init(l, &o);
	CHECK(ws_hex_parse(vectors_str(j, "session"), l->session, 32) == 0);
	CHECK(ws_hex_parse(vectors_str(j, "channelId"), l->channel, 32) == 0);
	l->meter_start = (uint64_t)json_integer_value(json_object_get(j, "meterStartMwh"));
	l->last_meter = l->meter_start;
	CHECK(ws_u256_from_dec(&l->highest_start, vectors_str(j, "paid")) == 0);
}

static void test_receipts(void)
{
	json_t *v = vectors_load("receipts.json"), *c, *j0 = NULL;
	uint8_t ds[32], want[32], key[32], station[20], pub[64];
	struct wallet_ledger l;
	size_t i;

	CHECK(v != NULL);
	if (!v)
		return;
	domain_sep(json_object_get(v, "domain"), ds);
	CHECK(ws_hex_parse(vectors_str(v, "domainSeparator"), want, 32) == 0);
	CHECK_MEM(ds, want, 32);
	CHECK(ws_hex_parse(vectors_str(v, "privateKey"), key, 32) == 0);
	CHECK(ws_ecsig_pubkey(key, pub) == 0);
	ws_address_from_pubkey(pub, station);

	/* the vectors: ethers' signatures check out; one beyond JSON's 2^53 is malformed */
	json_array_foreach(json_object_get(v, "cases"), i, c) {
		json_t *r = json_object_get(c, "receipt");
		json_t *j = receipt_json(r, vectors_str(c, "signature"));
		bool final = json_is_true(json_object_get(r, "final"));
		bool huge = json_is_string(json_object_get(j, "seq"));
		int e;

		ledger_for(&l, j, station);
		e = wallet_check_receipt(&l, ds, j, final);
		if (e != (huge ? WALLET_E_MALFORMED : 0))
			fprintf(stderr, "receipt vector %zu: %s\n", i, wallet_check_strerror(e));
		CHECK(e == (huge ? WALLET_E_MALFORMED : 0));
		if (!huge) {
			CHECK(l.last_seq == json_integer_value(json_object_get(j, "seq")));
			CHECK(l.delivered == (uint64_t)json_integer_value(json_object_get(j, "deliveredMwh")));
			/* the test's own signer gives ethers' RFC 6979 signature */
			json_t *k = json_deep_copy(j);
			sign_receipt(k, ds, key);
			CHECK_STR(vectors_str(k, "signature"), vectors_str(c, "signature"));
			json_decref(k);
		}
		if (i == 0)
			j0 = json_incref(j);
		json_decref(j);
	}
	if (!j0)
		goto out;

	/* every field is covered by the signature */
	{
		const char *fields[] = { "session", "channelId", "seq", "meterStartMwh", "meterMwh",
					 "deliveredMwh", "amountDue", "paid", "timestamp", "final" };
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			json_t *j = json_deep_copy(j0), *f = json_object_get(j, fields[i]);
			int e;
			if (json_is_integer(f))
				json_object_set_new(j, fields[i], json_integer(json_integer_value(f) + 1));
			else if (json_is_boolean(f))
				json_object_set_new(j, fields[i], json_boolean(!json_is_true(f)));
			else if (!strcmp(fields[i], "amountDue") || !strcmp(fields[i], "paid"))
				json_object_set_new(j, fields[i], json_string("1"));
			else
				json_object_set_new(j, fields[i], json_string(
					"0x1111111111111111111111111111111111111111111111111111111111111111"));
			ledger_for(&l, j0, station);
			e = wallet_check_receipt(&l, ds, j, false);
			if (e != WALLET_E_SIGNER)
				fprintf(stderr, "tampered %s: %s\n", fields[i], wallet_check_strerror(e));
			CHECK(e == WALLET_E_SIGNER);
			CHECK(l.last_seq == -1);        /* unchanged on failure */
			json_decref(j);
		}
	}

	/* signature forms: stranger, high S, bad v, truncated */
	{
		json_t *j = json_deep_copy(j0);
		uint8_t stranger[32], sig[65];
		char hex[WS_HEX_STR_SIZE(65)];
		memset(stranger, 0x42, 32);
		sign_receipt(j, ds, stranger);
		ledger_for(&l, j0, station);
		CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_SIGNER);

		CHECK(ws_hex_parse(vectors_str(j0, "signature"), sig, 65) == 0);
		sig[64] = 29;
		ws_hex_format(sig, 65, hex, sizeof(hex));
		json_object_set_new(j, "signature", json_string(hex));
		CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_SIGNATURE);
		hex[2 + 128] = 0; /* 64 bytes */
		json_object_set_new(j, "signature", json_string(hex));
		CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_MALFORMED);
		json_decref(j);
	}
	{
		/* high S: s' = n - s, v flipped, computed on 32-byte big-endian words */
		static const uint8_t n[32] = {
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
			0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41 };
		json_t *j = json_deep_copy(j0);
		uint8_t sig[65];
		char hex[WS_HEX_STR_SIZE(65)];
		ws_u256 nn, s, hs;
		CHECK(ws_hex_parse(vectors_str(j0, "signature"), sig, 65) == 0);
		ws_u256_from_be(&nn, n);
		ws_u256_from_be(&s, sig + 32);
		CHECK(ws_u256_sub(&hs, &nn, &s) == 0);
		ws_u256_to_be(&hs, sig + 32);
		sig[64] = sig[64] == 27 ? 28 : 27;
		ws_hex_format(sig, 65, hex, sizeof(hex));
		json_object_set_new(j, "signature", json_string(hex));
		ledger_for(&l, j0, station);
		CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_SIGNATURE);
		json_decref(j);
	}

	/* each rule, with a valid station signature over the broken values */
	{
		struct {
			const char *field;
			json_int_t delta;  /* added to an integer field */
			const char *str;   /* or this string */
			int want;
			bool final;
		} rules[] = {
			{ "session", 0, "0x2222222222222222222222222222222222222222222222222222222222222222", WALLET_E_SESSION, false },
			{ "channelId", 0, "0x2222222222222222222222222222222222222222222222222222222222222222", WALLET_E_SESSION, false },
			{ "meterStartMwh", 1, NULL, WALLET_E_METER_START, false },
			{ "deliveredMwh", 1, NULL, WALLET_E_DELIVERED, false },
			{ "amountDue", 0, "30001", WALLET_E_AMOUNT, false },
			{ "amountDue", 0, "29999", WALLET_E_AMOUNT, false },
			{ "paid", 0, "60001", WALLET_E_PAID, false },
			{ "final", 0, NULL, WALLET_E_FINAL, true },  /* not final but the bill */
		};
		for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
			json_t *j = json_deep_copy(j0);
			int e;
			if (rules[i].str)
				json_object_set_new(j, rules[i].field, json_string(rules[i].str));
			else if (rules[i].delta)
				json_object_set_new(j, rules[i].field, json_integer(
					json_integer_value(json_object_get(j, rules[i].field)) + rules[i].delta));
			sign_receipt(j, ds, key);
			ledger_for(&l, j0, station);
			e = wallet_check_receipt(&l, ds, j, rules[i].final);
			if (e != rules[i].want)
				fprintf(stderr, "rule %zu (%s): %s\n", i, rules[i].field, wallet_check_strerror(e));
			CHECK(e == rules[i].want);
			json_decref(j);
		}
	}

	/* order: a second receipt must advance seq and never read less */
	{
		json_t *j = json_deep_copy(j0);
		ledger_for(&l, j0, station);
		CHECK(wallet_check_receipt(&l, ds, j0, false) == 0);
		CHECK(wallet_check_receipt(&l, ds, j0, false) == WALLET_E_SEQ);  /* same seq again */
		json_object_set_new(j, "seq", json_integer(2));
		json_object_set_new(j, "meterMwh", json_integer(1234599999));
		json_object_set_new(j, "deliveredMwh", json_integer(99999));
		sign_receipt(j, ds, key);
		CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_METER_BACK);
		json_object_set_new(j, "meterMwh", json_integer(1234700000));
		json_object_set_new(j, "deliveredMwh", json_integer(200000));
		json_object_set_new(j, "amountDue", json_string("60000"));
		sign_receipt(j, ds, key);
		CHECK(wallet_check_receipt(&l, ds, j, false) == 0);
		CHECK(l.completed == 2 && l.last_seq == 2);
		json_decref(j);
	}

	/* malformed encodings */
	{
		struct {
			const char *field;
			json_t *value;
		} bad[] = {
			{ "seq", json_string("1") },
			{ "seq", json_integer(-1) },
			{ "meterMwh", json_real(1234600000.0) },
			{ "deliveredMwh", json_integer(9007199254740992LL) },
			{ "amountDue", json_integer(30000) },
			{ "amountDue", json_string("030000") },
			{ "paid", json_string("-1") },
			{ "final", json_string("false") },
			{ "session", json_string("0x1234") },
			{ "signature", json_string("not hex") },
			{ "timestamp", NULL },
		};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			json_t *j = json_deep_copy(j0);
			if (bad[i].value)
				json_object_set_new(j, bad[i].field, bad[i].value);
			else
				json_object_del(j, bad[i].field);
			ledger_for(&l, j0, station);
			CHECK(wallet_check_receipt(&l, ds, j, false) == WALLET_E_MALFORMED);
			json_decref(j);
		}
		ledger_for(&l, j0, station);
		CHECK(wallet_check_receipt(&l, ds, NULL, false) == WALLET_E_MALFORMED);
	}
	json_decref(j0);
out:
	json_decref(v);
}

int main(void)
{
	test_price();
	test_offer_vectors();
	test_offer_malformed();
	test_invoice();
	test_receipts();
	return check_done();
}
