/* test-wallet_msg.c: the wallet protocol's messages.  Every wallet ->
 * station message in its valid form and in every malformed variant we could
 * think of (bad hex, wrong lengths, amounts with leading zeros or above
 * 2^256-1, signatures of the wrong shape, unknown/missing members, wrong
 * JSON types, oversized ids), each with the exact §3.8 error code; and every
 * station -> wallet encoder, checked member by member. */
#include "check.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"
#include "wattstream/wallet_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define CH "0x1111111111111111111111111111111111111111111111111111111111111111"
#define SE "0x2222222222222222222222222222222222222222222222222222222222222222"

static char sig_hex[WS_HEX_STR_SIZE(65)];	/* a valid low-S signature */
static uint8_t sig_bytes[65];

static void make_signature(void)
{
	uint8_t key[32], digest[32];

	memset(key, 0x42, sizeof(key));
	memset(digest, 0x5a, sizeof(digest));
	CHECK_INT(ws_ecsig_sign(key, digest, sig_bytes), 0);
	CHECK_INT(ws_hex_format(sig_bytes, 65, sig_hex, sizeof(sig_hex)), 0);
}

/* Parses text; returns the wallet_err (0 when valid), -1 for "not JSON". */
static int parse_code(const char *text, struct wallet_msg *m)
{
	struct wallet_msg_error e;
	int r = wallet_msg_parse(text, strlen(text), m, &e);

	if (r == 0)
		return 0;
	if (r == WALLET_MSG_E_JSON)
		return -1;
	if (r != WALLET_MSG_E_INVALID)
		return -100;
	CHECK(e.code != WALLET_ERR_NONE);
	CHECK(e.message[0] != '\0');
	return (int)e.code;
}

static char *voucher_with(const char *session, const char *channel, const char *amount,
			  const char *sig, const char *extra)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
		 "{\"type\":\"voucher\",\"id\":\"v7\",\"session\":%s,\"channelId\":%s,"
		 "\"amount\":%s,\"signature\":%s%s}",
		 session, channel, amount, sig, extra ? extra : "");
	return buf;
}

static char *q(const char *s)
{
	static char bufs[4][600];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, sizeof(bufs[0]), "\"%s\"", s);
	return b;
}

static void test_valid(void)
{
	struct wallet_msg m;

	CHECK_INT(parse_code("{\"type\":\"start\",\"id\":\"s1\",\"connector\":1,\"channelId\":\"" CH "\"}", &m), 0);
	CHECK_INT(m.type, WALLET_MSG_START);
	CHECK(m.has_id);
	CHECK_STR(m.id, "s1");
	CHECK_INT(m.start.connector, 1);
	CHECK_INT(m.start.channel_id[0], 0x11);
	CHECK_INT(m.start.channel_id[31], 0x11);

	/* without id; connector 0 and large ones are the owner's to refuse */
	CHECK_INT(parse_code("{\"connector\":0,\"channelId\":\"" CH "\",\"type\":\"start\"}", &m), 0);
	CHECK(!m.has_id);
	CHECK_STR(m.id, "");
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":2147483647,\"channelId\":\"" CH "\"}", &m), 0);
	CHECK_INT(m.start.connector, 2147483647);

	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("180000"), q(sig_hex), NULL), &m), 0);
	CHECK_INT(m.type, WALLET_MSG_VOUCHER);
	CHECK_STR(m.id, "v7");
	CHECK_INT(m.voucher.session[0], 0x22);
	CHECK_INT(m.voucher.channel_id[0], 0x11);
	CHECK_INT(m.voucher.amount.w[0], 180000);
	CHECK_INT(m.voucher.amount.w[1], 0);
	CHECK_MEM(m.voucher.signature, sig_bytes, 65);

	/* upper-case hex and the largest amount */
	CHECK_INT(parse_code(voucher_with(q("0xABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD"), q(CH),
		q("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
		q(sig_hex), NULL), &m), 0);
	CHECK_INT(m.voucher.session[0], 0xab);
	CHECK(m.voucher.amount.w[3] == UINT64_MAX && m.voucher.amount.w[0] == UINT64_MAX);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("0"), q(sig_hex), NULL), &m), 0);
	CHECK(ws_u256_is_zero(&m.voucher.amount));

	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"x\",\"session\":\"" SE "\"}", &m), 0);
	CHECK_INT(m.type, WALLET_MSG_STOP);
	CHECK_INT(m.stop.session[5], 0x22);
	CHECK_INT(parse_code("  {\"type\":\"stop\",\"session\":\"" SE "\"}\n", &m), 0);

	/* ids: 1 and 36 characters, multi-byte characters counted as one */
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"a\",\"session\":\"" SE "\"}", &m), 0);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"123456789012345678901234567890123456\",\"session\":\"" SE "\"}", &m), 0);
	CHECK_INT(strlen(m.id), 36);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
			     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
			     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
			     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\",\"session\":\"" SE "\"}", &m), 0);
	CHECK_INT(strlen(m.id), 72);
	/* emoji: 4 UTF-8 bytes each, 36 of them fill the buffer exactly */
	char big[1024] = "{\"type\":\"stop\",\"session\":\"" SE "\",\"id\":\"";
	for (int i = 0; i < 36; i++)
		strcat(big, "\xf0\x9f\x94\x8c");
	strcat(big, "\"}");
	CHECK_INT(parse_code(big, &m), 0);
	CHECK_INT(strlen(m.id), 144);
}

static void test_not_json(void)
{
	struct wallet_msg m;

	CHECK_INT(parse_code("", &m), -1);
	CHECK_INT(parse_code("{", &m), -1);
	CHECK_INT(parse_code("{\"type\":\"stop\",}", &m), -1);
	CHECK_INT(parse_code("{'type':'stop'}", &m), -1);
	CHECK_INT(parse_code("{\"type\":\"stop\"} {}", &m), -1);
	CHECK_INT(parse_code("nul", &m), -1);
	CHECK_INT(parse_code("{\"type\":\"st\xff\"}", &m), -1);	/* not UTF-8 */
	CHECK_INT(parse_code("{\"type\":\"\xc0\xaf\"}", &m), -1);	/* overlong */
	/* a raw NUL inside the frame */
	struct wallet_msg_error e;
	CHECK_INT(wallet_msg_parse("{\"type\":\"stop\"}\0", 16, &m, &e), WALLET_MSG_E_JSON);
	CHECK_INT(wallet_msg_parse(NULL, 0, &m, &e), -EINVAL);
}

static void test_bad_request(void)
{
	struct wallet_msg m;
	char buf[8192];
	const int BR = WALLET_ERR_BAD_REQUEST;

	/* valid JSON that is not an object */
	CHECK_INT(parse_code("[]", &m), BR);
	CHECK_INT(parse_code("\"start\"", &m), BR);
	CHECK_INT(parse_code("42", &m), BR);
	CHECK_INT(parse_code("null", &m), BR);
	CHECK_INT(parse_code("{}", &m), BR);
	/* type */
	CHECK_INT(parse_code("{\"type\":\"hello\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"Start\",\"connector\":1,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":1,\"connector\":1,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":null}", &m), BR);
	CHECK_INT(parse_code("{\"type\":[\"start\"]}", &m), BR);
	CHECK_INT(parse_code("{\"connector\":1,\"channelId\":\"" CH "\"}", &m), BR);
	/* duplicate member, NUL escape, huge numbers, deep nesting */
	CHECK_INT(parse_code("{\"type\":\"stop\",\"type\":\"stop\",\"session\":\"" SE "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"a\\u0000b\",\"session\":\"" SE "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":99999999999999999999999,\"channelId\":\"" CH "\"}", &m), BR);
	memset(buf, '[', 3000);
	buf[3000] = '\0';
	CHECK_INT(parse_code(buf, &m), BR);
	/* size */
	snprintf(buf, sizeof(buf), "{\"type\":\"stop\",\"session\":\"" SE "\",\"x\":\"%04100d\"}", 0);
	struct wallet_msg_error e;
	CHECK_INT(wallet_msg_parse(buf, strlen(buf), &m, &e), WALLET_MSG_E_INVALID);
	CHECK_INT(e.code, BR);
	CHECK(strstr(e.message, "4096") != NULL);

	/* unknown members, also those of other types */
	CHECK_INT(parse_code("{\"type\":\"stop\",\"session\":\"" SE "\",\"extra\":1}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"session\":\"" SE "\",\"connector\":1}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1,\"channelId\":\"" CH "\",\"session\":\"" SE "\"}", &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), q(sig_hex), ",\"Amount\":\"1\""), &m), BR);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"session\":\"" SE "\",\"\":1}", &m), BR);

	/* missing members */
	CHECK_INT(parse_code("{\"type\":\"start\",\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"stop\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"voucher\",\"channelId\":\"" CH "\",\"amount\":\"1\",\"signature\":\"0x00\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"voucher\",\"session\":\"" SE "\",\"amount\":\"1\",\"signature\":\"0x00\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"voucher\",\"session\":\"" SE "\",\"channelId\":\"" CH "\",\"signature\":\"0x00\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"voucher\",\"session\":\"" SE "\",\"channelId\":\"" CH "\",\"amount\":\"1\"}", &m), BR);

	/* wrong JSON types */
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":\"1\",\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1.0,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1e0,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":true,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":null,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":-1,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":2147483648,\"channelId\":\"" CH "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1,\"channelId\":[\"" CH "\"]}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"start\",\"connector\":1,\"channelId\":null}", &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), "180000", q(sig_hex), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), "1.8e5", q(sig_hex), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with("1", q(CH), q("1"), q(sig_hex), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), "{}", q("1"), q(sig_hex), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), "null", NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), "65", NULL), &m), BR);

	/* bad hex and wrong lengths of bytes32 */
	const char *bad32[] = {
		"1111111111111111111111111111111111111111111111111111111111111111",	/* no 0x */
		"0x111111111111111111111111111111111111111111111111111111111111111",	/* 63 digits */
		"0x11111111111111111111111111111111111111111111111111111111111111",	/* 31 bytes */
		"0x111111111111111111111111111111111111111111111111111111111111111111", /* 33 bytes */
		"0x111111111111111111111111111111111111111111111111111111111111111g",
		"0x 111111111111111111111111111111111111111111111111111111111111111",
		" 0x1111111111111111111111111111111111111111111111111111111111111111",
		"0x",
		"",
	};
	for (size_t i = 0; i < sizeof(bad32) / sizeof(bad32[0]); i++) {
		CHECK_INT(parse_code(voucher_with(q(bad32[i]), q(CH), q("1"), q(sig_hex), NULL), &m), BR);
		CHECK_INT(parse_code(voucher_with(q(SE), q(bad32[i]), q("1"), q(sig_hex), NULL), &m), BR);
		snprintf(buf, sizeof(buf), "{\"type\":\"stop\",\"session\":\"%s\"}", bad32[i]);
		CHECK_INT(parse_code(buf, &m), BR);
		snprintf(buf, sizeof(buf), "{\"type\":\"start\",\"connector\":1,\"channelId\":\"%s\"}", bad32[i]);
		CHECK_INT(parse_code(buf, &m), BR);
	}

	/* amounts: leading zeros, signs, spaces, other notations, 2^256 */
	const char *bad_amounts[] = {
		"00", "01", "0180000", "+1", "-1", " 1", "1 ", "1.0", "1e5", "0x10", "",
		"１", "1_000",
		"115792089237316195423570985008687907853269984665640564039457584007913129639936",
		"999999999999999999999999999999999999999999999999999999999999999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad_amounts) / sizeof(bad_amounts[0]); i++)
		CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q(bad_amounts[i]), q(sig_hex), NULL), &m), BR);

	/* signature that is not hex at all */
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), q("zz"), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), q(sig_hex + 2), NULL), &m), BR);
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("1"), q("0x123"), NULL), &m), BR);

	/* ids: empty, 37 characters, wrong types */
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"\",\"session\":\"" SE "\"}", &m), BR);
	CHECK(!m.has_id);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"1234567890123456789012345678901234567\",\"session\":\"" SE "\"}", &m), BR);
	CHECK(!m.has_id);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":7,\"session\":\"" SE "\"}", &m), BR);
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":null,\"session\":\"" SE "\"}", &m), BR);
	snprintf(buf, sizeof(buf), "{\"type\":\"stop\",\"id\":\"%03000d\",\"session\":\"" SE "\"}", 0);
	CHECK_INT(parse_code(buf, &m), BR);
	char emoji[1024] = "{\"type\":\"stop\",\"session\":\"" SE "\",\"id\":\"";
	for (int i = 0; i < 37; i++)
		strcat(emoji, "\xf0\x9f\x94\x8c");
	strcat(emoji, "\"}");
	CHECK_INT(parse_code(emoji, &m), BR);

	/* a refused message keeps its valid id for the error */
	CHECK_INT(parse_code("{\"type\":\"stop\",\"id\":\"k9\"}", &m), BR);
	CHECK(m.has_id);
	CHECK_STR(m.id, "k9");
	CHECK_INT(parse_code("{\"type\":\"nope\",\"id\":\"k8\"}", &m), BR);
	CHECK_STR(m.id, "k8");

	/* the error message never echoes raw bytes: quotes and controls are masked */
	const char *nasty = "{\"type\":\"x\\\"\\n\\u00e9\"}";
	CHECK_INT(wallet_msg_parse(nasty, strlen(nasty), &m, &e), WALLET_MSG_E_INVALID);
	CHECK(strchr(e.message, '"') == NULL && strchr(e.message, '\n') == NULL);
	json_t *j = json_string(e.message);	/* valid UTF-8 */
	CHECK(j != NULL);
	json_decref(j);
}

static void test_signature_shape(void)
{
	struct wallet_msg m;
	uint8_t s[66];
	char h[WS_HEX_STR_SIZE(66)];
	/* n/2 and n of secp256k1 */
	static const uint8_t half_n[32] = {
		0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46,
		0x68, 0x1b, 0x20, 0xa0 };
	static const uint8_t n[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c,
		0xd0, 0x36, 0x41, 0x41 };

#define SIGCODE(len) (ws_hex_format(s, (len), h, sizeof(h)), \
		      parse_code(voucher_with(q(SE), q(CH), q("5"), q(h), NULL), &m))

	memcpy(s, sig_bytes, 65);
	CHECK_INT(SIGCODE(65), 0);
	CHECK_INT(SIGCODE(64), WALLET_ERR_VOUCHER_BAD_SIGNATURE);	/* EIP-2098 */
	CHECK_INT(SIGCODE(0), WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	s[65] = 0;
	CHECK_INT(SIGCODE(66), WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	/* far too long: still a length error, not bad_request */
	char longsig[600] = "0x";
	for (int i = 0; i < 200; i++)
		strcat(longsig, "ab");
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("5"), q(longsig), NULL), &m),
		  WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	/* v */
	for (int v = 0; v < 256; v++) {
		memcpy(s, sig_bytes, 65);
		s[64] = (uint8_t)v;
		int want = v == 27 || v == 28 ? 0 : WALLET_ERR_VOUCHER_BAD_V;
		if (SIGCODE(65) != want) {
			CHECK_INT(SIGCODE(65), want);
			break;
		}
	}
	CHECK(1);
	/* s = n/2 is fine, n/2 + 1 is high */
	memcpy(s, sig_bytes, 65);
	memcpy(s + 32, half_n, 32);
	CHECK_INT(SIGCODE(65), 0);
	s[63] = 0xa1;
	CHECK_INT(SIGCODE(65), WALLET_ERR_VOUCHER_HIGH_S);
	/* the malleable twin of the valid signature: s' = n - s, v flipped */
	memcpy(s, sig_bytes, 65);
	{
		int borrow = 0;
		for (int i = 31; i >= 0; i--) {
			int d = n[i] - sig_bytes[32 + i] - borrow;
			borrow = d < 0;
			s[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
		}
		s[64] = sig_bytes[64] == 27 ? 28 : 27;
	}
	CHECK_INT(SIGCODE(65), WALLET_ERR_VOUCHER_HIGH_S);
	/* r or s zero, r = n */
	memcpy(s, sig_bytes, 65);
	memset(s, 0, 32);
	CHECK_INT(SIGCODE(65), WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	memcpy(s, sig_bytes, 65);
	memset(s + 32, 0, 32);
	CHECK_INT(SIGCODE(65), WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	memcpy(s, sig_bytes, 65);
	memcpy(s, n, 32);
	CHECK_INT(SIGCODE(65), WALLET_ERR_VOUCHER_BAD_SIGNATURE);
	/* a bad member wins over a bad signature: bad_request first */
	memcpy(s, sig_bytes, 65);
	s[64] = 99;
	ws_hex_format(s, 65, h, sizeof(h));
	CHECK_INT(parse_code(voucher_with(q(SE), q(CH), q("01"), q(h), NULL), &m), WALLET_ERR_BAD_REQUEST);
#undef SIGCODE
}

static void test_err_names(void)
{
	CHECK_STR(wallet_err_name(WALLET_ERR_BAD_REQUEST), "bad_request");
	CHECK_STR(wallet_err_name(WALLET_ERR_VOUCHER_OVER_DEPOSIT), "voucher_over_deposit");
	CHECK_STR(wallet_err_name(WALLET_ERR_INTERNAL), "internal");
	CHECK(wallet_err_name(WALLET_ERR_NONE) == NULL);
	CHECK(wallet_err_name(WALLET_ERR__COUNT) == NULL);
	for (int i = 1; i < WALLET_ERR__COUNT; i++) {
		CHECK(wallet_err_name(i) != NULL);
		CHECK_INT(wallet_err_from_name(wallet_err_name(i)), i);
	}
	CHECK_INT(wallet_err_from_name("nope"), WALLET_ERR_NONE);
	CHECK_INT(wallet_err_from_name(NULL), WALLET_ERR_NONE);
	CHECK_INT(WALLET_ERR__COUNT, 23);	/* the 22 codes of §3.8 */
}

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	return s;
}

static void test_encode_station(void)
{
	json_t *o = NULL;
	char *s;
	uint8_t session[32], channel[32];

	memset(session, 0xab, 32);
	memset(channel, 0x11, 32);

	/* error */
	CHECK_INT(wallet_msg_encode_error(&o, "v7", WALLET_ERR_VOUCHER_NOT_HIGHER,
					  "amount 150000 is not above 180000"), 0);
	s = dump(o);
	CHECK_STR(s, "{\"code\":\"voucher_not_higher\",\"id\":\"v7\",\"message\":\"amount 150000 is not above 180000\",\"type\":\"error\"}");
	free(s);
	CHECK_INT(wallet_msg_encode_error(&o, NULL, WALLET_ERR_RATE_LIMITED, NULL), 0);
	s = dump(o);
	CHECK_STR(s, "{\"code\":\"rate_limited\",\"message\":\"rate_limited\",\"type\":\"error\"}");
	free(s);
	o = NULL;
	CHECK_INT(wallet_msg_encode_error(&o, "", WALLET_ERR_INTERNAL, NULL), -EINVAL);
	CHECK_INT(wallet_msg_encode_error(&o, "1234567890123456789012345678901234567", WALLET_ERR_INTERNAL, NULL), -EINVAL);
	CHECK_INT(wallet_msg_encode_error(&o, NULL, WALLET_ERR_NONE, NULL), -EINVAL);
	CHECK_INT(wallet_msg_encode_error(&o, NULL, WALLET_ERR__COUNT, NULL), -EINVAL);
	CHECK_INT(wallet_msg_encode_error(&o, NULL, WALLET_ERR_INTERNAL, "bad \xff utf8"), -EINVAL);
	CHECK(o == NULL);	/* untouched on failure */

	/* session */
	struct wallet_session_info si = { .id = "s1", .connector = 1, .id_tag = "WS3F9C0A12B4E07D51",
					  .meter_start_mwh = 1234500000 };
	memcpy(si.session, session, 32);
	memcpy(si.channel_id, channel, 32);
	si.base = ws_u256_from_u64(120000);
	si.highest = ws_u256_from_u64(150000);
	CHECK_INT(wallet_msg_encode_session(&o, &si), 0);
	s = dump(o);
	CHECK_STR(s, "{\"base\":\"120000\",\"channelId\":\"" CH "\",\"connector\":1,\"highest\":\"150000\","
		  "\"id\":\"s1\",\"idTag\":\"WS3F9C0A12B4E07D51\",\"meterStartMwh\":1234500000,"
		  "\"session\":\"0xabababababababababababababababababababababababababababababababab\",\"type\":\"session\"}");
	free(s);
	si.id = NULL;
	CHECK_INT(wallet_msg_encode_session(&o, &si), 0);
	s = dump(o);
	CHECK(strstr(s, "\"id\"") == NULL);
	free(s);
	si.id_tag = "WS3F9C0A12B4E07D51XYZ";	/* 21 > 20 */
	CHECK_INT(wallet_msg_encode_session(&o, &si), -EINVAL);
	si.id_tag = "WS1";
	si.meter_start_mwh = UINT64_C(1) << 53;
	CHECK_INT(wallet_msg_encode_session(&o, &si), -EINVAL);

	/* invoice */
	struct wallet_invoice inv = { .increments = 2, .delivered_mwh = 100012, .meter_mwh = 1234600012 };
	memcpy(inv.session, session, 32);
	inv.amount = ws_u256_from_u64(180000);
	CHECK_INT(wallet_msg_encode_invoice(&o, &inv), 0);
	s = dump(o);
	CHECK_STR(s, "{\"amount\":\"180000\",\"deliveredMwh\":100012,\"increments\":2,\"meterMwh\":1234600012,"
		  "\"session\":\"0xabababababababababababababababababababababababababababababababab\",\"type\":\"invoice\"}");
	free(s);
	inv.meter_mwh = WALLET_ENERGY_MAX;
	CHECK_INT(wallet_msg_encode_invoice(&o, &inv), 0);
	json_decref(o);
	inv.meter_mwh = WALLET_ENERGY_MAX + 1;
	CHECK_INT(wallet_msg_encode_invoice(&o, &inv), -EINVAL);

	/* accepted, with a 2^256-1 amount */
	struct wallet_accepted acc = { .id = "v7", .allowance_mwh = 200000 };
	memcpy(acc.session, session, 32);
	memset(acc.amount.w, 0xff, sizeof(acc.amount.w));
	CHECK_INT(wallet_msg_encode_accepted(&o, &acc), 0);
	s = dump(o);
	CHECK_STR(s, "{\"allowanceMwh\":200000,\"amount\":\"115792089237316195423570985008687907853269984665640564039457584007913129639935\","
		  "\"id\":\"v7\",\"session\":\"0xabababababababababababababababababababababababababababababababab\",\"type\":\"accepted\"}");
	free(s);

	/* receipt and ended */
	struct wallet_receipt rc = { .seq = 3, .meter_start_mwh = 1234500000, .meter_mwh = 1234800000,
				     .delivered_mwh = 300000, .timestamp_ms = 1764092787000 };
	memcpy(rc.session, session, 32);
	memcpy(rc.channel_id, channel, 32);
	rc.amount_due = ws_u256_from_u64(210000);
	rc.paid = ws_u256_from_u64(240000);
	memcpy(rc.signature, sig_bytes, 65);
	CHECK_INT(wallet_msg_encode_receipt(&o, &rc), 0);
	s = dump(o);
	char want[1024];
	snprintf(want, sizeof(want),
		 "{\"amountDue\":\"210000\",\"channelId\":\"" CH "\",\"deliveredMwh\":300000,\"final\":false,"
		 "\"meterMwh\":1234800000,\"meterStartMwh\":1234500000,\"paid\":\"240000\",\"seq\":3,"
		 "\"session\":\"0xabababababababababababababababababababababababababababababababab\","
		 "\"signature\":\"%s\",\"timestamp\":1764092787000,\"type\":\"receipt\"}", sig_hex);
	CHECK_STR(s, want);
	free(s);
	CHECK_INT(wallet_msg_encode_ended(&o, "x", session, "stopped", &rc), -EINVAL);	/* not final */
	rc.final = true;
	CHECK_INT(wallet_msg_encode_ended(&o, "x", session, "sideways", &rc), -EINVAL);
	CHECK_INT(wallet_msg_encode_ended(&o, "x", session, "stopped", NULL), -EINVAL);
	CHECK_INT(wallet_msg_encode_ended(&o, "x", session, "stopped", &rc), 0);
	json_t *r = json_object_get(o, "receipt");
	CHECK(json_is_true(json_object_get(r, "final")));
	CHECK_STR(json_string_value(json_object_get(o, "reason")), "stopped");
	CHECK_STR(json_string_value(json_object_get(o, "id")), "x");
	CHECK_STR(json_string_value(json_object_get(r, "type")), "receipt");
	json_decref(o);
	rc.timestamp_ms = UINT64_MAX;
	CHECK_INT(wallet_msg_encode_receipt(&o, &rc), -EINVAL);

	/* suspended, resumed */
	CHECK_INT(wallet_msg_encode_suspended(&o, session, "unpaid", 1764092817000), 0);
	s = dump(o);
	CHECK_STR(s, "{\"graceUntil\":1764092817000,\"reason\":\"unpaid\",\"session\":\"0xabababababababababababababababababababababababababababababababab\",\"type\":\"suspended\"}");
	free(s);
	CHECK_INT(wallet_msg_encode_suspended(&o, session, "bored", 1), -EINVAL);
	CHECK_INT(wallet_msg_encode_resumed(&o, session), 0);
	s = dump(o);
	CHECK_STR(s, "{\"session\":\"0xabababababababababababababababababababababababababababababababab\",\"type\":\"resumed\"}");
	free(s);
}

static void test_encode_hello(void)
{
	/* EIP-55 example addresses */
	const char *a_station = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
	const char *a_payee = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
	const char *a_token = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
	const char *a_chan = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb";
	struct wallet_connector_status cs[2] = { { 1, "Available" }, { 2, "Faulted" } };
	struct wallet_hello h = { .max_sessions_per_channel = 1, .n_connectors = 2, .connectors = cs };
	json_t *o = NULL;

	CHECK_INT(ws_address_parse(a_station, h.station), 0);
	CHECK_INT(ws_address_parse(a_chan, h.channels), 0);
	CHECK_INT(ws_address_parse(a_token, h.registry), 0);
	memcpy(h.offer.station, h.station, 20);
	CHECK_INT(ws_address_parse(a_payee, h.offer.payee), 0);
	CHECK_INT(ws_address_parse(a_token, h.offer.token), 0);
	h.chain_id = ws_u256_from_u64(31337);
	h.min_deposit = ws_u256_from_u64(3000000);
	h.offer.price_per_kwh = ws_u256_from_u64(300000);
	h.offer.increment_wh = 100;
	h.offer.prepaid_increments = 1;
	h.offer.grace_s = 30;
	h.offer.valid_from_s = 1700000000;
	h.offer.valid_until_s = 1800000000;
	h.offer.location = "u33db2";
	h.offer.endpoint = "wss://station.example.net:8443/wallet";
	h.offer.nonce = 7;
	memcpy(h.offer.signature, sig_bytes, 65);

	CHECK_INT(wallet_msg_encode_hello(&o, &h), 0);
	CHECK_STR(json_string_value(json_object_get(o, "type")), "hello");
	CHECK_INT(json_integer_value(json_object_get(o, "protocol")), 1);
	CHECK_STR(json_string_value(json_object_get(o, "station")), a_station);
	CHECK_STR(json_string_value(json_object_get(o, "channels")), a_chan);
	CHECK_STR(json_string_value(json_object_get(o, "chainId")), "31337");
	CHECK_STR(json_string_value(json_object_get(o, "minDeposit")), "3000000");
	CHECK_INT(json_integer_value(json_object_get(o, "maxSessionsPerChannel")), 1);
	json_t *of = json_object_get(o, "offer");
	CHECK_STR(json_string_value(json_object_get(of, "payee")), a_payee);
	CHECK_STR(json_string_value(json_object_get(of, "token")), a_token);
	CHECK_STR(json_string_value(json_object_get(of, "pricePerKWh")), "300000");
	CHECK_STR(json_string_value(json_object_get(of, "nonce")), "7");
	CHECK_STR(json_string_value(json_object_get(of, "signature")), sig_hex);
	CHECK_INT(json_integer_value(json_object_get(of, "validUntil")), 1800000000);
	CHECK_INT(json_object_size(of), 13);
	json_t *c = json_object_get(o, "connectors");
	CHECK_INT(json_array_size(c), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "status")), "Faulted");
	CHECK_INT(json_object_size(o), 10);
	/* every address the station writes is checksummed and parses back */
	uint8_t back[20];
	CHECK_INT(ws_address_parse(json_string_value(json_object_get(o, "registry")), back), 0);
	CHECK_MEM(back, h.registry, 20);
	json_decref(o);

	o = NULL;
	h.offer.location = NULL;
	CHECK_INT(wallet_msg_encode_hello(&o, &h), -EINVAL);
	h.offer.location = "u33db2";
	cs[1].status = NULL;
	CHECK_INT(wallet_msg_encode_hello(&o, &h), -EINVAL);
	CHECK(o == NULL);
}

/* The wallet side's encoder writes what the parser accepts, field for field. */
static void test_roundtrip(void)
{
	struct wallet_msg in = { .type = WALLET_MSG_VOUCHER, .has_id = true }, out;
	struct wallet_msg_error e;
	json_t *o;

	strcpy(in.id, "v1");
	memset(in.voucher.session, 0x33, 32);
	memset(in.voucher.channel_id, 0x44, 32);
	in.voucher.amount = ws_u256_from_u64(987654321);
	memcpy(in.voucher.signature, sig_bytes, 65);
	CHECK_INT(wallet_msg_encode(&o, &in), 0);
	char *s = dump(o);
	CHECK_INT(wallet_msg_parse(s, strlen(s), &out, &e), 0);
	CHECK_MEM(&in, &out, sizeof(in));
	free(s);

	memset(&in, 0, sizeof(in));
	in.type = WALLET_MSG_START;
	in.start.connector = 3;
	memset(in.start.channel_id, 0x55, 32);
	CHECK_INT(wallet_msg_encode(&o, &in), 0);
	s = dump(o);
	CHECK_INT(wallet_msg_parse(s, strlen(s), &out, &e), 0);
	CHECK_MEM(&in, &out, sizeof(in));
	free(s);

	memset(&in, 0, sizeof(in));
	in.type = WALLET_MSG_STOP;
	in.has_id = true;
	strcpy(in.id, "x");
	memset(in.stop.session, 0x66, 32);
	CHECK_INT(wallet_msg_encode(&o, &in), 0);
	s = dump(o);
	CHECK_INT(wallet_msg_parse(s, strlen(s), &out, &e), 0);
	CHECK_MEM(&in, &out, sizeof(in));
	free(s);

	in.type = 0;
	CHECK_INT(wallet_msg_encode(&o, &in), -EINVAL);
	in.type = WALLET_MSG_STOP;
	in.id[0] = '\0';	/* has_id with an empty id */
	CHECK_INT(wallet_msg_encode(&o, &in), -EINVAL);
}

/* ---- station -> wallet, decoded ------------------------------------- */

static char *encode_text(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Replaces the first occurrence of from by to in text (into a static buffer). */
static const char *tamper(const char *text, const char *from, const char *to)
{
	static char buf[8192];
	const char *p = strstr(text, from);

	if (!p) {
		CHECK(!"tamper: pattern not found");
		return text;
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	return buf;
}

static int station_code(const char *text)
{
	struct wallet_station_msg m;
	struct wallet_msg_error e;
	int r = wallet_msg_parse_station(text, strlen(text), &m, &e);

	if (r == 0) {
		wallet_station_msg_clear(&m);
		return 0;
	}
	CHECK(m.root == NULL);
	if (r == WALLET_MSG_E_INVALID) {
		CHECK(e.message[0] != '\0');
		return (int)e.code;
	}
	return r == WALLET_MSG_E_JSON ? -1 : -100;
}

static void test_station_parse(void)
{
	const int BR = WALLET_ERR_BAD_REQUEST;
	struct wallet_station_msg m;
	struct wallet_msg_error e;
	json_t *o;
	char *t;

	/* hello: the encoder's output parses back field for field */
	const char *a_station = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
	const char *a_payee = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
	const char *a_token = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
	struct wallet_connector_status cs[1] = { { 1, "Available" } };
	struct wallet_hello h = { .max_sessions_per_channel = 1, .n_connectors = 1, .connectors = cs };
	CHECK_INT(ws_address_parse(a_station, h.station), 0);
	CHECK_INT(ws_address_parse(a_token, h.channels), 0);
	CHECK_INT(ws_address_parse(a_payee, h.registry), 0);
	memcpy(h.offer.station, h.station, 20);
	CHECK_INT(ws_address_parse(a_payee, h.offer.payee), 0);
	CHECK_INT(ws_address_parse(a_token, h.offer.token), 0);
	h.chain_id = ws_u256_from_u64(31337);
	h.min_deposit = ws_u256_from_u64(3000000);
	h.offer.price_per_kwh = ws_u256_from_u64(300000);
	h.offer.increment_wh = 100;
	h.offer.prepaid_increments = 1;
	h.offer.grace_s = 30;
	h.offer.valid_from_s = 1700000000;
	h.offer.valid_until_s = 1800000000;
	h.offer.location = "u33db2";
	h.offer.endpoint = "wss://x/wallet";
	h.offer.nonce = UINT64_MAX;
	memcpy(h.offer.signature, sig_bytes, 65);
	CHECK_INT(wallet_msg_encode_hello(&o, &h), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.type, WALLET_ST_HELLO);
	CHECK_MEM(m.hello.station, h.station, 20);
	CHECK_MEM(m.hello.offer.payee, h.offer.payee, 20);
	CHECK_MEM(m.hello.offer.signature, sig_bytes, 65);
	CHECK(m.hello.offer.nonce == UINT64_MAX);
	CHECK_INT(m.hello.offer.grace_s, 30);
	CHECK_STR(m.hello.offer.endpoint, "wss://x/wallet");
	CHECK_INT(m.hello.n_connectors, 1);
	CHECK_STR(m.hello.connectors[0].status, "Available");
	CHECK_INT(ws_u256_cmp(&m.hello.chain_id, &h.chain_id), 0);
	wallet_station_msg_clear(&m);
	CHECK(m.root == NULL);

	/* EIP-55: all-lowercase and all-uppercase digits are fine, a wrong
	 * mixed case is not; a tampered letter anywhere is caught */
	CHECK_INT(station_code(tamper(t, a_station, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")), 0);
	CHECK_INT(station_code(tamper(t, a_station, "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")), 0);
	CHECK_INT(station_code(tamper(t, a_station, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")), BR);
	CHECK_INT(station_code(tamper(t, a_station, "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")), BR);
	CHECK_INT(station_code(tamper(t, a_payee, "0xFb6916095ca1df60bB79Ce92cE3Ea74c37c5d359")), BR);
	CHECK_INT(station_code(tamper(t, a_token, "0xdbf03B407c01E7cD3CBea99509d93f8DDDC8C6FB")), BR);
	CHECK_INT(wallet_msg_parse_station(tamper(t, a_payee, "0xFb6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
		  strlen(t), &m, &e), WALLET_MSG_E_INVALID);
	CHECK(strstr(e.message, "EIP-55") != NULL);
	/* address lengths and hex */
	CHECK_INT(station_code(tamper(t, a_station, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA")), BR);
	CHECK_INT(station_code(tamper(t, a_station, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00")), BR);
	CHECK_INT(station_code(tamper(t, a_station, "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")), BR);
	CHECK_INT(station_code(tamper(t, a_station, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg")), BR);
	/* other members */
	CHECK_INT(station_code(tamper(t, "\"protocol\":1", "\"protocol\":2")), BR);
	CHECK_INT(station_code(tamper(t, "\"protocol\":1", "\"protocol\":\"1\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"chainId\":\"31337\"", "\"chainId\":31337")), BR);
	CHECK_INT(station_code(tamper(t, "\"chainId\":\"31337\"", "\"chainId\":\"031337\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"pricePerKWh\":\"300000\"", "\"pricePerKWh\":\"-300000\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"nonce\":\"18446744073709551615\"", "\"nonce\":\"18446744073709551616\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"incrementWh\":100", "\"incrementWh\":100.5")), BR);
	CHECK_INT(station_code(tamper(t, "\"incrementWh\":100", "\"incrementWh\":4294967296")), BR);
	CHECK_INT(station_code(tamper(t, "\"validUntil\":1800000000", "\"validUntil\":9007199254740992")), BR);
	CHECK_INT(station_code(tamper(t, "\"location\":\"u33db2\"", "\"location\":null")), BR);
	CHECK_INT(station_code(tamper(t, "\"location\":\"u33db2\",", "")), BR);
	CHECK_INT(station_code(tamper(t, "\"location\":\"u33db2\"", "\"location\":\"u33db2\",\"extra\":1")), BR);
	CHECK_INT(station_code(tamper(t, "\"minDeposit\"", "\"mindeposit\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"connectors\":[", "\"connectors\":[3,")), BR);
	CHECK_INT(station_code(tamper(t, "\"status\":\"Available\"", "\"status\":\"Available\",\"x\":0")), BR);
	CHECK_INT(station_code(tamper(t, "\"signature\":\"0x", "\"signature\":\"0x00")), BR);
	free(t);

	/* session, invoice, accepted, receipt, ended, error, suspended, resumed */
	uint8_t session[32];
	memset(session, 0xab, 32);
	struct wallet_session_info si = { .id = "s1", .connector = 2, .id_tag = "WSTAG", .meter_start_mwh = 5 };
	memcpy(si.session, session, 32);
	si.highest = ws_u256_from_u64(7);
	CHECK_INT(wallet_msg_encode_session(&o, &si), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.type, WALLET_ST_SESSION);
	CHECK_STR(m.session.id, "s1");
	CHECK_STR(m.session.id_tag, "WSTAG");
	CHECK_INT(m.session.connector, 2);
	CHECK_INT(m.session.highest.w[0], 7);
	wallet_station_msg_clear(&m);
	CHECK_INT(station_code(tamper(t, "\"id\":\"s1\"", "\"id\":\"1234567890123456789012345678901234567\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"id\":\"s1\"", "\"id\":\"\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"idTag\":\"WSTAG\"", "\"idTag\":\"WSTAG1234567890123456\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"session\":\"0xab", "\"session\":\"0xabab")), BR);
	free(t);

	struct wallet_invoice inv = { .increments = 3, .delivered_mwh = 1, .meter_mwh = 2 };
	memcpy(inv.session, session, 32);
	inv.amount = ws_u256_from_u64(90000);
	CHECK_INT(wallet_msg_encode_invoice(&o, &inv), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.invoice.increments, 3);
	CHECK_INT(m.invoice.amount.w[0], 90000);
	wallet_station_msg_clear(&m);
	CHECK_INT(station_code(tamper(t, "\"amount\":\"90000\"", "\"amount\":\"090000\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"amount\":\"90000\"",
		"\"amount\":\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"meterMwh\":2", "\"meterMwh\":-2")), BR);
	CHECK_INT(station_code(tamper(t, "\"type\":\"invoice\"", "\"type\":\"invoices\"")), BR);
	free(t);

	struct wallet_accepted acc = { .allowance_mwh = 9 };
	memcpy(acc.session, session, 32);
	CHECK_INT(wallet_msg_encode_accepted(&o, &acc), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK(m.accepted.id == NULL);
	CHECK_INT(m.accepted.allowance_mwh, 9);
	wallet_station_msg_clear(&m);
	free(t);

	struct wallet_receipt rc = { .seq = 4, .meter_start_mwh = 10, .meter_mwh = 20, .delivered_mwh = 10,
				     .timestamp_ms = 1764092787000, .final = true };
	memcpy(rc.session, session, 32);
	rc.paid = ws_u256_from_u64(11);
	memcpy(rc.signature, sig_bytes, 65);
	CHECK_INT(wallet_msg_encode_ended(&o, "x", session, "unpaid", &rc), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.type, WALLET_ST_ENDED);
	CHECK_STR(m.ended.reason, "unpaid");
	CHECK_STR(m.ended.id, "x");
	CHECK(m.ended.receipt.final);
	CHECK_INT(m.ended.receipt.seq, 4);
	CHECK_MEM(m.ended.receipt.signature, sig_bytes, 65);
	wallet_station_msg_clear(&m);
	CHECK_INT(station_code(tamper(t, "\"final\":true", "\"final\":false")), BR);
	CHECK_INT(station_code(tamper(t, "\"final\":true", "\"final\":1")), BR);
	CHECK_INT(station_code(tamper(t, "\"reason\":\"unpaid\"", "\"reason\":\"bored\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"type\":\"receipt\"", "\"type\":\"invoice\"")), BR);
	CHECK_INT(station_code(tamper(t, "\"seq\":4", "\"seq\":4,\"x\":1")), BR);
	free(t);
	rc.final = false;
	CHECK_INT(wallet_msg_encode_receipt(&o, &rc), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.type, WALLET_ST_RECEIPT);
	CHECK(!m.receipt.final);
	wallet_station_msg_clear(&m);
	free(t);

	CHECK_INT(wallet_msg_encode_error(&o, "v7", WALLET_ERR_VOUCHER_HIGH_S, "s too high"), 0);
	t = encode_text(o);
	CHECK_INT(wallet_msg_parse_station(t, strlen(t), &m, &e), 0);
	CHECK_INT(m.error.code, WALLET_ERR_VOUCHER_HIGH_S);
	CHECK_STR(m.error.message, "s too high");
	CHECK_STR(m.error.id, "v7");
	wallet_station_msg_clear(&m);
	CHECK_INT(station_code(tamper(t, "voucher_high_s", "voucher_very_high_s")), BR);
	free(t);

	CHECK_INT(wallet_msg_encode_suspended(&o, session, "unpaid", 99), 0);
	t = encode_text(o);
	CHECK_INT(station_code(t), 0);
	CHECK_INT(station_code(tamper(t, "\"unpaid\"", "\"lunch\"")), BR);
	free(t);
	CHECK_INT(wallet_msg_encode_resumed(&o, session), 0);
	t = encode_text(o);
	CHECK_INT(station_code(t), 0);
	free(t);

	/* not JSON, not objects, wallet messages */
	CHECK_INT(station_code("{"), -1);
	CHECK_INT(station_code("[]"), BR);
	CHECK_INT(station_code("{\"type\":\"start\",\"connector\":1,\"channelId\":\"" CH "\"}"), BR);
	CHECK_INT(station_code("{\"type\":7}"), BR);
}

int main(void)
{
	make_signature();
	test_valid();
	test_not_json();
	test_bad_request();
	test_signature_shape();
	test_err_names();
	test_encode_station();
	test_encode_hello();
	test_roundtrip();
	test_station_parse();
	return check_done();
}
