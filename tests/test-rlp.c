/* test-rlp.c: RLP encoding against ethers' (tests/vectors/eth-kat.json),
 * decoding back to the same structure, and rejection of truncated and
 * non-canonical encodings. */
#include "check.h"
#include "vectors.h"
#include "wattstream/hex.h"
#include "wattstream/rlp.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

/* A JSON value is a hex string (bytes) or an array (list). */
static void enc_json(ws_rlp_enc *e, json_t *v)
{
	if (json_is_array(v)) {
		json_t *x;
		size_t i;
		ws_rlp_enc_list_begin(e);
		json_array_foreach(v, i, x)
			enc_json(e, x);
		ws_rlp_enc_list_end(e);
		return;
	}
	uint8_t *b = NULL;
	size_t n = 0;
	CHECK_INT(ws_hex_parse_alloc(json_string_value(v), &b, &n), 0);
	ws_rlp_enc_bytes(e, b, n);
	free(b);
}

/* 1 if the decoded item equals the JSON value, recursively. */
static int same(const ws_rlp_item *it, json_t *v)
{
	if (json_is_array(v)) {
		if (!it->is_list)
			return 0;
		size_t off = 0, i = 0;
		ws_rlp_item sub;
		int r;
		while ((r = ws_rlp_next(it, &off, &sub)) == 0) {
			if (i >= json_array_size(v) || !same(&sub, json_array_get(v, i)))
				return 0;
			i++;
		}
		return r == WS_RLP_END && i == json_array_size(v);
	}
	uint8_t *b = NULL;
	size_t n = 0;
	if (it->is_list || ws_hex_parse_alloc(json_string_value(v), &b, &n) != 0)
		return 0;
	int ok = n == it->len && (n == 0 || memcmp(b, it->p, n) == 0);
	free(b);
	return ok;
}

static void test_kat(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	json_t *c;
	size_t i;
	CHECK(kat != NULL);
	if (!kat)
		return;
	CHECK(json_array_size(json_object_get(kat, "rlp")) >= 10);
	json_array_foreach(json_object_get(kat, "rlp"), i, c) {
		ws_rlp_enc e;
		uint8_t *out = NULL, *want = NULL;
		size_t n = 0, wn = 0;
		ws_rlp_enc_init(&e);
		enc_json(&e, json_object_get(c, "value"));
		CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), 0);
		CHECK_INT(ws_hex_parse_alloc(json_string_value(json_object_get(c, "encoded")), &want, &wn), 0);
		CHECK_INT(n, wn);
		if (out && want && n == wn)
			CHECK_MEM(out, want, n);
		ws_rlp_item it;
		CHECK_INT(ws_rlp_decode_all(want, wn, &it), 0);
		CHECK(same(&it, json_object_get(c, "value")));
		free(out);
		free(want);
	}
	CHECK(json_array_size(json_object_get(kat, "rlpInts")) >= 8);
	json_array_foreach(json_object_get(kat, "rlpInts"), i, c) {
		ws_u256 v, back;
		ws_rlp_enc e;
		uint8_t *out = NULL, *want = NULL;
		size_t n = 0, wn = 0;
		CHECK_INT(ws_u256_from_dec(&v, json_string_value(json_object_get(c, "value"))), 0);
		ws_rlp_enc_init(&e);
		ws_rlp_enc_u256(&e, &v);
		CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), 0);
		CHECK_INT(ws_hex_parse_alloc(json_string_value(json_object_get(c, "encoded")), &want, &wn), 0);
		CHECK(n == wn && memcmp(out, want, n) == 0);
		ws_rlp_item it;
		CHECK_INT(ws_rlp_decode_all(out, n, &it), 0);
		CHECK_INT(ws_rlp_item_u256(&it, &back), 0);
		CHECK_INT(ws_u256_cmp(&v, &back), 0);
		uint64_t u;
		if (v.w[1] == 0 && v.w[2] == 0 && v.w[3] == 0) {
			CHECK_INT(ws_rlp_item_u64(&it, &u), 0);
			CHECK(u == v.w[0]);
		} else {
			CHECK_INT(ws_rlp_item_u64(&it, &u), -ERANGE);
		}
		free(out);
		free(want);
	}
	json_decref(kat);
}

static int dec_hex(const char *hex)
{
	uint8_t buf[128];
	size_t n;
	ws_rlp_item it;
	if (ws_hex_parse_var(hex, buf, sizeof(buf), &n) != 0)
		return -999;
	return ws_rlp_decode_all(buf, n, &it);
}

static void test_malformed(void)
{
	CHECK_INT(dec_hex("0x"), -EBADMSG);             /* nothing */
	CHECK_INT(dec_hex("0x83646f"), -EBADMSG);       /* string truncated */
	CHECK_INT(dec_hex("0xc3"), -EBADMSG);           /* list truncated */
	CHECK_INT(dec_hex("0x8100"), -EBADMSG);         /* 0x00 must be itself */
	CHECK_INT(dec_hex("0x817f"), -EBADMSG);         /* 0x7f must be itself */
	CHECK_INT(dec_hex("0x8180"), 0);                /* 0x80 needs the prefix */
	CHECK_INT(dec_hex("0xb800"), -EBADMSG);         /* long form for 0 bytes */
	CHECK_INT(dec_hex("0xb837"), -EBADMSG);         /* long form for 55 bytes */
	CHECK_INT(dec_hex("0xb90038"), -EBADMSG);       /* length with leading zero */
	CHECK_INT(dec_hex("0xbf"), -EBADMSG);           /* 8 length bytes missing */
	CHECK_INT(dec_hex("0xbfffffffffffffffff"), -EBADMSG); /* absurd length */
	CHECK_INT(dec_hex("0xf800"), -EBADMSG);         /* list: long form for 0 */
	CHECK_INT(dec_hex("0xc0c0"), -EBADMSG);         /* trailing bytes */
	CHECK_INT(dec_hex("0xc0"), 0);
	CHECK_INT(dec_hex("0x80"), 0);

	/* an item inside a list that overruns the list */
	uint8_t buf[] = { 0xc2, 0x83, 'a', 'b' };
	ws_rlp_item list, it = { .is_list = false, .p = buf, .len = 1 };
	size_t off = 0;
	CHECK_INT(ws_rlp_decode_all(buf, sizeof(buf), &list), -EBADMSG); /* trailing 'b' */
	CHECK_INT(ws_rlp_decode_all(buf, sizeof(buf) - 1, &list), 0);
	CHECK_INT(ws_rlp_next(&list, &off, &it), -EBADMSG); /* 0x83 wants 3 bytes, 1 left */
	CHECK_INT(off, 0);
	CHECK_INT(ws_rlp_next(&it, &off, &it), -EINVAL);    /* not a list */

	/* integers with a leading zero byte are not canonical */
	uint8_t z[] = { 0x82, 0x00, 0x01 };
	CHECK_INT(ws_rlp_decode_all(z, sizeof(z), &it), 0);
	ws_u256 v;
	CHECK_INT(ws_rlp_item_u256(&it, &v), -EBADMSG);
	uint8_t l[] = { 0xc0 };
	CHECK_INT(ws_rlp_decode_all(l, 1, &it), 0);
	CHECK_INT(ws_rlp_item_u256(&it, &v), -EBADMSG);
	uint8_t big[34] = { 0xa1, 0x01 }; /* 33-byte integer */
	CHECK_INT(ws_rlp_decode_all(big, sizeof(big), &it), 0);
	CHECK_INT(ws_rlp_item_u256(&it, &v), -ERANGE);
}

static void test_encoder_errors(void)
{
	ws_rlp_enc e;
	uint8_t *out = (uint8_t *)"x";
	size_t n = 7;
	ws_rlp_enc_init(&e);
	ws_rlp_enc_list_begin(&e);
	CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), -EINVAL); /* unclosed */
	CHECK_INT(n, 7);
	ws_rlp_enc_init(&e);
	ws_rlp_enc_list_end(&e);
	CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), -EINVAL); /* end without begin */
	ws_rlp_enc_init(&e);
	for (int i = 0; i <= WS_RLP_MAX_DEPTH; i++)
		ws_rlp_enc_list_begin(&e);
	CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), -EINVAL); /* too deep */
	ws_rlp_enc_init(&e);
	CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), 0);       /* nothing: 0 bytes */
	CHECK_INT(n, 0);
	free(out);
	/* u64 boundaries */
	ws_rlp_enc_init(&e);
	ws_rlp_enc_u64(&e, 0);
	ws_rlp_enc_u64(&e, 0x7f);
	ws_rlp_enc_u64(&e, 0x80);
	ws_rlp_enc_u64(&e, UINT64_MAX);
	CHECK_INT(ws_rlp_enc_finish(&e, &out, &n), 0);
	const uint8_t want[] = { 0x80, 0x7f, 0x81, 0x80, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	CHECK_INT(n, sizeof(want));
	CHECK_MEM(out, want, sizeof(want));
	free(out);
	ws_rlp_enc_init(&e);
	ws_rlp_enc_bytes(&e, "abc", 3);
	ws_rlp_enc_release(&e); /* unfinished encoder frees cleanly */
}

int main(void)
{
	test_kat();
	test_malformed();
	test_encoder_errors();
	return check_done();
}
