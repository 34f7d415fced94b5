/* test-eip712.c: EIP-712 hashing and voucher verification.
 *
 * 1. The EIP-712 specification's "Ether Mail" example, built with the
 *    generic struct helpers (nested struct, strings, addresses).
 * 2. Voucher cases from tests/vectors/eth-kat.json (made by ethers).
 * 3. Voucher cases from tests/vectors/eip712-vouchers.json, whose verdicts
 *    come from the deployed contract: the C verifier must agree on every
 *    one.  That file is written by the contracts side; while it is missing
 *    this test reports one failed check.
 * Every case recomputes domainSeparator, structHash and digest from the
 * fields and compares them with the file before checking the verdict. */
#include "check.h"
#include "vectors.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

static void test_type_hash(void)
{
	uint8_t h[32];
	ws_eip712_type_hash(WS_EIP712_VOUCHER_TYPE, h);
	CHECK_MEM(h, ws_eip712_voucher_type_hash, 32);
}

static void test_ether_mail(void)
{
	static const char mail_type[] =
		"Mail(Person from,Person to,string contents)Person(string name,address wallet)";
	static const char person_type[] = "Person(string name,address wallet)";
	uint8_t cow[20], bob[20], from[32], to[32], mail[32], dsep[32], digest[32], want[32];
	ws_eip712_struct s;
	ws_eip712_domain dom = { .name = "Ether Mail", .version = "1",
				 .chain_id = ws_u256_from_u64(1) };

	CHECK_INT(ws_address_parse("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", dom.verifying_contract), 0);
	CHECK_INT(ws_address_parse("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", cow), 0);
	CHECK_INT(ws_address_parse("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", bob), 0);

	ws_eip712_domain_separator(&dom, dsep);
	CHECK_INT(ws_hex_parse("0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f", want, 32), 0);
	CHECK_MEM(dsep, want, 32);

	ws_eip712_struct_init(&s, person_type);
	ws_eip712_struct_string(&s, "Cow");
	ws_eip712_struct_address(&s, cow);
	ws_eip712_struct_final(&s, from);
	ws_eip712_struct_init(&s, person_type);
	ws_eip712_struct_string(&s, "Bob");
	ws_eip712_struct_address(&s, bob);
	ws_eip712_struct_final(&s, to);
	ws_eip712_struct_init(&s, mail_type);
	ws_eip712_struct_word(&s, from);
	ws_eip712_struct_word(&s, to);
	ws_eip712_struct_string(&s, "Hello, Bob!");
	ws_eip712_struct_final(&s, mail);
	CHECK_INT(ws_hex_parse("0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e", want, 32), 0);
	CHECK_MEM(mail, want, 32);

	ws_eip712_digest(dsep, mail, digest);
	CHECK_INT(ws_hex_parse("0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2", want, 32), 0);
	CHECK_MEM(digest, want, 32);

	/* the specification's signature by keccak256("cow") recovers Cow */
	uint8_t sig[65], who[20], sk[32], mine[65];
	CHECK_INT(ws_hex_parse("0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
			       "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c", sig, 65), 0);
	CHECK_INT(ws_ecsig_recover_address(digest, sig, 65, who), 0);
	CHECK_MEM(who, cow, 20);
	ws_keccak256("cow", 3, sk);
	CHECK_INT(ws_ecsig_sign(sk, digest, mine), 0);
	CHECK_MEM(mine, sig, 65);

	/* the helpers cover the other atomic types: a bool and a uint64 */
	uint8_t a[32], b[32];
	ws_eip712_struct_init(&s, "T(bool b,uint64 n)");
	ws_eip712_struct_bool(&s, true);
	ws_eip712_struct_u64(&s, 7);
	ws_eip712_struct_final(&s, a);
	ws_eip712_struct_init(&s, "T(bool b,uint64 n)");
	ws_eip712_struct_u64(&s, 1);
	ws_eip712_struct_bytes(&s, "", 0); /* not the same encoding as 7 */
	ws_eip712_struct_final(&s, b);
	CHECK(memcmp(a, b, 32) != 0);
}

/* One case of the shared voucher vector format: hashes recomputed from the
 * fields must match, and the C verdict must equal the file's "valid". */
static void check_voucher_case(json_t *c, size_t idx, const char *file)
{
	json_t *d = json_object_get(c, "domain"), *v = json_object_get(c, "voucher");
	ws_eip712_domain dom = { .name = vectors_str(d, "name"), .version = vectors_str(d, "version") };
	uint8_t want[32], got[32], dsep[32], channel[32], sk[20], sender[20], rec[20], rec_want[20];
	uint8_t sig[128];
	size_t sig_len = 0;
	ws_u256 amount;
	int bad = 0;

	bad |= ws_u256_from_dec(&dom.chain_id, vectors_str(d, "chainId")) != 0;
	bad |= ws_address_parse(vectors_str(d, "verifyingContract"), dom.verifying_contract) != 0;
	bad |= ws_hex_parse(vectors_str(v, "channelId"), channel, 32) != 0;
	bad |= ws_u256_from_dec(&amount, vectors_str(v, "amount")) != 0;
	bad |= ws_address_parse(vectors_str(c, "sessionKey"), sk) != 0;
	bad |= ws_address_parse(vectors_str(c, "sender"), sender) != 0;
	bad |= ws_hex_parse_var(vectors_str(c, "signature"), sig, sizeof(sig), &sig_len) != 0;
	if (bad) {
		fprintf(stderr, "%s case %zu (%s): unreadable fields\n", file, idx, vectors_str(c, "name"));
		CHECK(!bad);
		return;
	}

	ws_eip712_domain_separator(&dom, dsep);
	CHECK_INT(ws_hex_parse(vectors_str(c, "domainSeparator"), want, 32), 0);
	CHECK_MEM(dsep, want, 32);
	CHECK_INT(ws_hex_parse(vectors_str(c, "typeHash"), want, 32), 0);
	CHECK_MEM(ws_eip712_voucher_type_hash, want, 32);
	ws_eip712_voucher_hash(channel, &amount, got);
	CHECK_INT(ws_hex_parse(vectors_str(c, "structHash"), want, 32), 0);
	CHECK_MEM(got, want, 32);
	ws_eip712_voucher_digest(dsep, channel, &amount, got);
	CHECK_INT(ws_hex_parse(vectors_str(c, "digest"), want, 32), 0);
	CHECK_MEM(got, want, 32);

	/* A channel the contract does not know has no authorized signers
	 * (its stored sessionKey and sender are zero): the C verifier is only
	 * given signers the daemon looked up, so check it with none. */
	int no_channel = strcmp(vectors_str(c, "reason"), "no-channel") == 0;
	int r = ws_eip712_voucher_verify(dsep, channel, &amount, sig, sig_len,
					 no_channel ? NULL : sk, no_channel ? NULL : sender, rec);
	int valid = json_is_true(json_object_get(c, "valid"));
	if ((r == 0) != valid)
		fprintf(stderr, "%s case %zu (%s): C says %s, file says %s (%s)\n", file, idx,
			vectors_str(c, "name"), ws_eip712_strerror(r), valid ? "valid" : "invalid",
			vectors_str(c, "reason"));
	CHECK_INT(r == 0, valid);
	CHECK(r >= 0);
	/* where a key was recovered, it is the same one */
	const char *recs = json_string_value(json_object_get(c, "recovered"));
	if (recs && (r == 0 || r == WS_EIP712_E_WRONG_SIGNER)) {
		CHECK_INT(ws_address_parse(recs, rec_want), 0);
		CHECK_MEM(rec, rec_want, 20);
	}
}

static size_t run_voucher_file(json_t *j, const char *file)
{
	json_t *c;
	size_t i, valid = 0, invalid = 0;
	CHECK_STR(vectors_str(j, "voucherType"), WS_EIP712_VOUCHER_TYPE);
	json_t *cases = json_object_get(j, json_object_get(j, "cases") ? "cases" : "vouchers");
	json_array_foreach(cases, i, c) {
		check_voucher_case(c, i, file);
		if (json_is_true(json_object_get(c, "valid")))
			valid++;
		else
			invalid++;
	}
	/* a file that tests only one side proves little */
	CHECK(valid >= 1);
	CHECK(invalid >= 1);
	return valid + invalid;
}

static void test_kat_vouchers(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	CHECK(kat != NULL);
	if (!kat)
		return;
	CHECK(run_voucher_file(kat, "eth-kat.json") >= 20);
	json_decref(kat);
}

static void test_contract_vouchers(void)
{
	json_t *j = vectors_load("eip712-vouchers.json");
	if (!j) {
		fprintf(stderr, "FAIL: tests/vectors/eip712-vouchers.json (from the contracts) "
			"is missing: the C verifier is not yet checked against the contract\n");
		CHECK(j != NULL);
		return;
	}
	size_t n = run_voucher_file(j, "eip712-vouchers.json");
	printf("eip712-vouchers.json: %zu cases\n", n);
	json_decref(j);
}

/* The Offer struct of tests/vectors/eip712-offers.json (contracts side),
 * hashed with the generic helpers: shows a new struct is a few lines, and
 * checks them on a struct with strings and every integer width.  The file
 * is optional here (the contracts own the Offer checks). */
static void test_offer_vectors(void)
{
	json_t *j = vectors_load("eip712-offers.json"), *c;
	size_t i, n = 0;
	if (!j) {
		printf("eip712-offers.json absent: Offer hashing not checked\n");
		return;
	}
	const char *type = vectors_str(j, "offerType");
	json_t *d = json_object_get(j, "domain");
	ws_eip712_domain dom = { .name = vectors_str(d, "name"), .version = vectors_str(d, "version") };
	uint8_t dsep[32], want[32], got[32], digest[32];
	CHECK_INT(ws_u256_from_dec(&dom.chain_id, vectors_str(d, "chainId")), 0);
	CHECK_INT(ws_address_parse(vectors_str(d, "verifyingContract"), dom.verifying_contract), 0);
	ws_eip712_domain_separator(&dom, dsep);
	CHECK_INT(ws_hex_parse(vectors_str(j, "domainSeparator"), want, 32), 0);
	CHECK_MEM(dsep, want, 32);
	ws_eip712_type_hash(type, got);
	CHECK_INT(ws_hex_parse(vectors_str(j, "typeHash"), want, 32), 0);
	CHECK_MEM(got, want, 32);

	json_array_foreach(json_object_get(j, "cases"), i, c) {
		json_t *o = json_object_get(c, "offer");
		static const char *const addrs[] = { "station", "payee", "token" };
		static const char *const ints[] = { "pricePerKWh", "incrementWh", "prepaidIncrements",
						    "graceSeconds", "validFrom", "validUntil" };
		uint8_t a[3][20], sig[128], who[20];
		ws_u256 v[6], nonce;
		size_t sig_len = 0;
		int bad = 0;
		for (int k = 0; k < 3; k++)
			bad |= ws_address_parse(vectors_str(o, addrs[k]), a[k]) != 0;
		for (int k = 0; k < 6; k++)
			bad |= ws_u256_from_dec(&v[k], vectors_str(o, ints[k])) != 0;
		bad |= ws_u256_from_dec(&nonce, vectors_str(o, "nonce")) != 0;
		bad |= ws_hex_parse_var(vectors_str(c, "signature"), sig, sizeof(sig), &sig_len) != 0;
		CHECK(!bad);
		if (bad)
			continue;

		ws_eip712_struct s;
		ws_eip712_struct_init(&s, type);
		for (int k = 0; k < 3; k++)
			ws_eip712_struct_address(&s, a[k]);
		for (int k = 0; k < 6; k++)
			ws_eip712_struct_u256(&s, &v[k]);
		ws_eip712_struct_string(&s, vectors_str(o, "location"));
		ws_eip712_struct_string(&s, vectors_str(o, "endpoint"));
		ws_eip712_struct_u256(&s, &nonce);
		ws_eip712_struct_final(&s, got);
		CHECK_INT(ws_hex_parse(vectors_str(c, "structHash"), want, 32), 0);
		CHECK_MEM(got, want, 32);
		ws_eip712_digest(dsep, got, digest);
		CHECK_INT(ws_hex_parse(vectors_str(c, "digest"), want, 32), 0);
		CHECK_MEM(digest, want, 32);

		/* valid = recovers (OpenZeppelin rules) to offer.station */
		int r = ws_ecsig_recover_address(digest, sig, sig_len, who);
		int ok = r == 0 && memcmp(who, a[0], 20) == 0;
		int valid = json_is_true(json_object_get(c, "valid"));
		if (ok != valid)
			fprintf(stderr, "eip712-offers.json case %zu (%s): C %s, file %s (%s)\n", i,
				vectors_str(c, "name"), ok ? "valid" : "invalid", valid ? "valid" : "invalid",
				vectors_str(c, "reason"));
		CHECK_INT(ok, valid);
		n++;
	}
	printf("eip712-offers.json: %zu cases\n", n);
	json_decref(j);
}

static void test_verify_codes(void)
{
	uint8_t sk_session[32], sk_sender[32], sk_other[32], pub[64];
	uint8_t a_session[20], a_sender[20], a_other[20], zero[20] = { 0 };
	uint8_t dsep[32], channel[32], digest[32], sig[65], t[65], rec[20];
	ws_u256 amount = ws_u256_from_u64(123456);
	ws_eip712_domain dom = { .name = "Wattstream", .version = "1",
				 .chain_id = ws_u256_from_u64(31337) };

	memset(dom.verifying_contract, 0x42, 20);
	memset(channel, 0xc1, 32);
	ws_eip712_domain_separator(&dom, dsep);
	CHECK_INT(ws_ecsig_keygen(sk_session), 0);
	CHECK_INT(ws_ecsig_keygen(sk_sender), 0);
	CHECK_INT(ws_ecsig_keygen(sk_other), 0);
	CHECK_INT(ws_ecsig_pubkey(sk_session, pub), 0);
	ws_address_from_pubkey(pub, a_session);
	CHECK_INT(ws_ecsig_pubkey(sk_sender, pub), 0);
	ws_address_from_pubkey(pub, a_sender);
	CHECK_INT(ws_ecsig_pubkey(sk_other, pub), 0);
	ws_address_from_pubkey(pub, a_other);

	ws_eip712_voucher_digest(dsep, channel, &amount, digest);
	CHECK_INT(ws_ecsig_sign(sk_session, digest, sig), 0);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, a_session, a_sender, rec), 0);
	CHECK_MEM(rec, a_session, 20);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, NULL, a_session, NULL), 0);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, a_sender, a_other, rec),
		  WS_EIP712_E_WRONG_SIGNER);
	CHECK_MEM(rec, a_session, 20);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, NULL, NULL, NULL),
		  WS_EIP712_E_WRONG_SIGNER);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, zero, zero, NULL),
		  WS_EIP712_E_WRONG_SIGNER);

	/* the sender's own signature is accepted too */
	uint8_t sig2[65];
	CHECK_INT(ws_ecsig_sign(sk_sender, digest, sig2), 0);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig2, 65, a_session, a_sender, NULL), 0);

	/* any field changed after signing */
	ws_u256 more = ws_u256_from_u64(123457);
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &more, sig, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_WRONG_SIGNER);
	channel[31] ^= 1;
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_WRONG_SIGNER);
	channel[31] ^= 1;
	uint8_t dsep2[32];
	dom.chain_id = ws_u256_from_u64(1);
	ws_eip712_domain_separator(&dom, dsep2);
	CHECK_INT(ws_eip712_voucher_verify(dsep2, channel, &amount, sig, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_WRONG_SIGNER);

	/* malformed signatures */
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, sig, 64, a_session, a_sender, NULL),
		  WS_EIP712_E_BAD_SIGNATURE);
	memcpy(t, sig, 65);
	t[64] = 1;
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, t, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_BAD_V);
	memcpy(t, sig, 65);
	memset(t + 32, 0xff, 32); /* s >= n */
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, t, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_BAD_SIGNATURE);
	memcpy(t, sig, 65);
	t[32] |= 0x80; /* s > n/2 but < n */
	t[33] = 0;
	CHECK_INT(ws_eip712_voucher_verify(dsep, channel, &amount, t, 65, a_session, a_sender, NULL),
		  WS_EIP712_E_HIGH_S);
	CHECK_STR(ws_eip712_strerror(WS_EIP712_E_WRONG_SIGNER),
		  "signed by neither the session key nor the sender");
	explicit_bzero(sk_session, 32);
	explicit_bzero(sk_sender, 32);
	explicit_bzero(sk_other, 32);
}

int main(void)
{
	test_type_hash();
	test_ether_mail();
	test_verify_codes();
	test_kat_vouchers();
	test_contract_vouchers();
	test_offer_vectors();
	return check_done();
}
