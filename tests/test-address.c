/* test-address.c: EIP-55 formatting and parsing (lower, upper, checksummed
 * mixed case accepted; a wrong checksum and malformed text rejected). */
#include "check.h"
#include "vectors.h"
#include "wattstream/address.h"
#include "wattstream/hex.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

/* EIP-55's own examples */
static const char *const eip55_examples[] = {
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
};

static void check_checksummed(const char *s)
{
	uint8_t a[20], b[20] = { 0 };
	char out[WS_ADDRESS_STR_SIZE], lower[43], upper[43];

	CHECK_INT(ws_address_parse(s, a), 0);
	ws_address_format(a, out);
	CHECK_STR(out, s);
	for (int i = 0; i < 42; i++) {
		lower[i] = (char)tolower((unsigned char)s[i]);
		upper[i] = i < 2 ? s[i] : (char)toupper((unsigned char)s[i]);
	}
	lower[42] = upper[42] = '\0';
	CHECK_INT(ws_address_parse(lower, b), 0);
	CHECK_MEM(a, b, 20);
	memset(b, 0, sizeof(b));
	CHECK_INT(ws_address_parse(upper, b), 0);
	CHECK_MEM(a, b, 20);

	/* flipping the case of one letter breaks a mixed-case checksum (if
	 * the result is still mixed case) */
	char t[43];
	for (int i = 2; i < 42; i++) {
		if (!isalpha((unsigned char)s[i]))
			continue;
		memcpy(t, s, 43);
		t[i] = (char)(islower((unsigned char)t[i]) ? toupper((unsigned char)t[i])
							  : tolower((unsigned char)t[i]));
		bool lo = false, up = false;
		for (int j = 2; j < 42; j++) {
			lo |= islower((unsigned char)t[j]) != 0;
			up |= isupper((unsigned char)t[j]) != 0;
		}
		memset(b, 0x77, sizeof(b));
		CHECK_INT(ws_address_parse(t, b), (lo && up) ? WS_ADDRESS_E_CHECKSUM : 0);
		if (lo && up)
			CHECK(b[0] == 0x77 && b[19] == 0x77); /* untouched */
	}
}

static void test_examples(void)
{
	for (size_t i = 0; i < sizeof(eip55_examples) / sizeof(eip55_examples[0]); i++)
		check_checksummed(eip55_examples[i]);
}

static void test_kat(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	json_t *c;
	size_t i;
	CHECK(kat != NULL);
	if (!kat)
		return;
	CHECK(json_array_size(json_object_get(kat, "eip55")) >= 8);
	json_array_foreach(json_object_get(kat, "eip55"), i, c) {
		const char *cs = json_string_value(json_object_get(c, "checksummed"));
		const char *lo = json_string_value(json_object_get(c, "lower"));
		uint8_t a[20];
		char out[WS_ADDRESS_STR_SIZE];
		CHECK(cs && lo);
		if (!cs || !lo)
			continue;
		CHECK_INT(ws_address_parse(lo, a), 0);
		ws_address_format(a, out);
		CHECK_STR(out, cs);
		check_checksummed(cs);
	}
	json_decref(kat);
}

static void test_malformed(void)
{
	uint8_t a[20];
	static const char *const bad[] = {
		"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",          /* no prefix */
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",                    /* 39 digits */
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",                 /* 21 bytes */
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",                   /* not hex */
		"0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",                   /* 0X */
		" 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(ws_address_parse(bad[i], a), -EINVAL);
	CHECK_INT(ws_address_parse("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", a), WS_ADDRESS_E_CHECKSUM);

	uint8_t z[20] = { 0 };
	CHECK(ws_address_is_zero(z));
	z[19] = 1;
	CHECK(!ws_address_is_zero(z));
}

static void test_from_pubkey(void)
{
	/* private key 1: its public key is the generator G */
	uint8_t pub[64], a[20], want[20];
	CHECK_INT(ws_hex_parse("0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
			       "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8", pub, 64), 0);
	CHECK_INT(ws_address_parse("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf", want), 0);
	ws_address_from_pubkey(pub, a);
	CHECK_MEM(a, want, 20);
}

int main(void)
{
	test_examples();
	test_kat();
	test_malformed();
	test_from_pubkey();
	return check_done();
}
