/* test-abi.c: ABI calldata against ethers' encodings (tests/vectors/
 * eth-kat.json), decoding those encodings back, and rejection of return
 * data that is truncated, points outside itself or is not canonical.
 *
 * The test walks each case's type strings ("uint256", "bytes[]",
 * "(bytes32,uint256,bytes)[]"…) and drives the encoder and the decoder
 * with them, so each case exercises the API the way the daemon will. */
#include "check.h"
#include "vectors.h"
#include "wattstream/abi.h"
#include "wattstream/address.h"
#include "wattstream/hex.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

/* ---- type strings ---- */

static int is_array_type(const char *t, char *elem, size_t size)
{
	size_t n = strlen(t);
	if (n < 3 || strcmp(t + n - 2, "[]") != 0 || n - 2 >= size)
		return 0;
	memcpy(elem, t, n - 2);
	elem[n - 2] = '\0';
	return 1;
}

/* Splits "(a,(b,c)[],d)" into its top-level members; returns their count. */
static size_t tuple_members(const char *t, char out[][128], size_t max)
{
	size_t n = strlen(t), k = 0, start = 1;
	int depth = 0;
	if (t[0] != '(' || t[n - 1] != ')')
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (t[i] == '(')
			depth++;
		else if (t[i] == ')' && depth > 0)
			depth--;
		else if ((t[i] == ',' && depth == 0) || i == n - 1) {
			if (k < max && i - start < 128) {
				memcpy(out[k], t + start, i - start);
				out[k][i - start] = '\0';
				k++;
			}
			start = i + 1;
		}
	}
	return k;
}

static int is_dynamic(const char *t)
{
	char elem[128], mem[16][128];
	if (strcmp(t, "bytes") == 0 || strcmp(t, "string") == 0 || is_array_type(t, elem, sizeof(elem)))
		return 1;
	size_t k = tuple_members(t, mem, 16);
	for (size_t i = 0; i < k; i++)
		if (is_dynamic(mem[i]))
			return 1;
	return 0;
}

/* Head words a value of type t takes in its parent (static tuples inline). */
static size_t head_words(const char *t)
{
	char mem[16][128];
	if (is_dynamic(t) || t[0] != '(')
		return 1;
	size_t k = tuple_members(t, mem, 16), w = 0;
	for (size_t i = 0; i < k; i++)
		w += head_words(mem[i]);
	return w;
}

/* ---- encoding ---- */

static void enc_value(ws_abi_enc *e, const char *t, json_t *v)
{
	char elem[128], mem[16][128];
	size_t k, i;
	json_t *x;

	if (is_array_type(t, elem, sizeof(elem))) {
		ws_abi_enc_array_begin(e);
		json_array_foreach(v, i, x)
			enc_value(e, elem, x);
		ws_abi_enc_array_end(e);
	} else if ((k = tuple_members(t, mem, 16)) > 0) {
		CHECK_INT(k, json_array_size(v));
		ws_abi_enc_tuple_begin(e);
		for (i = 0; i < k; i++)
			enc_value(e, mem[i], json_array_get(v, i));
		ws_abi_enc_tuple_end(e);
	} else if (strncmp(t, "uint", 4) == 0) {
		ws_u256 u;
		CHECK_INT(ws_u256_from_dec(&u, json_string_value(v)), 0);
		if (strcmp(t, "uint256") == 0)
			ws_abi_enc_u256(e, &u);
		else
			ws_abi_enc_u64(e, u.w[0]);
	} else if (strcmp(t, "address") == 0) {
		uint8_t a[20];
		CHECK_INT(ws_address_parse(json_string_value(v), a), 0);
		ws_abi_enc_address(e, a);
	} else if (strcmp(t, "bool") == 0) {
		ws_abi_enc_bool(e, json_is_true(v));
	} else if (strcmp(t, "bytes32") == 0) {
		uint8_t w[32];
		CHECK_INT(ws_hex_parse(json_string_value(v), w, 32), 0);
		ws_abi_enc_word(e, w);
	} else if (strcmp(t, "bytes") == 0) {
		uint8_t *b = NULL;
		size_t n = 0;
		CHECK_INT(ws_hex_parse_alloc(json_string_value(v), &b, &n), 0);
		ws_abi_enc_bytes(e, b, n);
		free(b);
	} else if (strcmp(t, "string") == 0) {
		ws_abi_enc_string(e, json_string_value(v));
	} else {
		fprintf(stderr, "test-abi: unknown type %s\n", t);
		CHECK(0);
	}
}

/* ---- decoding: returns 1 if the value at head word i equals v ---- */

static int dec_value(const ws_abi_view *view, size_t i, const char *t, json_t *v);

static int dec_members(const ws_abi_view *tv, char mem[][128], size_t k, json_t *v)
{
	size_t at = 0;
	int ok = k == json_array_size(v);
	for (size_t j = 0; j < k && ok; j++) {
		ok = dec_value(tv, at, mem[j], json_array_get(v, j));
		at += head_words(mem[j]);
	}
	return ok;
}

static int dec_value(const ws_abi_view *view, size_t i, const char *t, json_t *v)
{
	char elem[128], mem[16][128];
	size_t k;

	if (is_array_type(t, elem, sizeof(elem))) {
		ws_abi_view ev;
		size_t count;
		if (ws_abi_dec_array(view, i, &ev, &count) != 0 || count != json_array_size(v))
			return 0;
		for (size_t j = 0; j < count; j++)
			if (!dec_value(&ev, j * head_words(elem), elem, json_array_get(v, j)))
				return 0;
		return 1;
	}
	if ((k = tuple_members(t, mem, 16)) > 0) {
		ws_abi_view tv;
		int r = is_dynamic(t) ? ws_abi_dec_tuple(view, i, &tv) : ws_abi_dec_inline(view, i, &tv);
		return r == 0 && dec_members(&tv, mem, k, v);
	}
	if (strncmp(t, "uint", 4) == 0) {
		ws_u256 got, want;
		if (ws_abi_dec_u256(view, i, &got) != 0 || ws_u256_from_dec(&want, json_string_value(v)) != 0)
			return 0;
		if (strcmp(t, "uint256") != 0) {
			uint64_t u;
			if (ws_abi_dec_u64(view, i, &u) != 0 || u != want.w[0])
				return 0;
		}
		return ws_u256_cmp(&got, &want) == 0;
	}
	if (strcmp(t, "address") == 0) {
		uint8_t got[20], want[20];
		return ws_abi_dec_address(view, i, got) == 0 &&
		       ws_address_parse(json_string_value(v), want) == 0 && memcmp(got, want, 20) == 0;
	}
	if (strcmp(t, "bool") == 0) {
		bool b;
		return ws_abi_dec_bool(view, i, &b) == 0 && b == json_is_true(v);
	}
	if (strcmp(t, "bytes32") == 0) {
		uint8_t got[32], want[32];
		return ws_abi_dec_word(view, i, got) == 0 &&
		       ws_hex_parse(json_string_value(v), want, 32) == 0 && memcmp(got, want, 32) == 0;
	}
	if (strcmp(t, "bytes") == 0) {
		const uint8_t *p;
		size_t n, wn;
		uint8_t *want = NULL;
		if (ws_abi_dec_bytes(view, i, &p, &n) != 0 ||
		    ws_hex_parse_alloc(json_string_value(v), &want, &wn) != 0)
			return 0;
		int ok = n == wn && (n == 0 || memcmp(p, want, n) == 0);
		free(want);
		return ok;
	}
	if (strcmp(t, "string") == 0) {
		char *s = NULL;
		if (ws_abi_dec_string(view, i, &s) != 0)
			return 0;
		int ok = strcmp(s, json_string_value(v)) == 0;
		free(s);
		return ok;
	}
	return 0;
}

static void test_kat(void)
{
	json_t *kat = vectors_load("eth-kat.json");
	json_t *c;
	size_t i;
	CHECK(kat != NULL);
	if (!kat)
		return;
	CHECK(json_array_size(json_object_get(kat, "abi")) >= 6);
	json_array_foreach(json_object_get(kat, "abi"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *types = json_object_get(c, "types"), *values = json_object_get(c, "values");
		uint8_t *want = NULL, *out = NULL;
		size_t wn = 0, n = 0;
		ws_abi_enc e;

		CHECK_INT(ws_hex_parse_alloc(json_string_value(json_object_get(c, "encoded")), &want, &wn), 0);
		CHECK_INT(ws_abi_enc_init(&e, json_string_value(json_object_get(c, "signature"))), 0);
		for (size_t j = 0; j < json_array_size(types); j++)
			enc_value(&e, json_string_value(json_array_get(types, j)), json_array_get(values, j));
		CHECK_INT(ws_abi_enc_finish(&e, &out, &n), 0);
		int same = out && n == wn && memcmp(out, want, n) == 0;
		if (!same)
			fprintf(stderr, "abi case '%s': encoding differs (%zu vs %zu bytes)\n", name, n, wn);
		CHECK(same);

		/* decode ethers' bytes (after the selector) back to the values */
		ws_abi_view view = { want + 4, wn - 4 };
		char mem[16][128];
		size_t k = json_array_size(types);
		for (size_t j = 0; j < k; j++)
			snprintf(mem[j], sizeof(mem[j]), "%s", json_string_value(json_array_get(types, j)));
		int ok = dec_members(&view, mem, k, values);
		if (!ok)
			fprintf(stderr, "abi case '%s': decoding differs\n", name);
		CHECK(ok);

		/* every truncation of the data must fail cleanly, never read past it */
		for (size_t cut = 0; cut + 4 < wn; cut += 1 + cut / 8) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, want + 4, cut);
			ws_abi_view tv = { copy, cut };
			CHECK(!dec_members(&tv, mem, k, values));
			free(copy);
		}
		free(want);
		free(out);
	}
	json_t *s;
	json_array_foreach(json_object_get(kat, "selectors"), i, s) {
		uint8_t sel[4], want[4];
		ws_abi_selector(json_string_value(json_object_get(s, "signature")), sel);
		CHECK_INT(ws_hex_parse(json_string_value(json_object_get(s, "selector")), want, 4), 0);
		CHECK_MEM(sel, want, 4);
	}
	json_decref(kat);
}

static void word_u64(uint8_t *w, uint64_t v)
{
	memset(w, 0, 32);
	for (int i = 0; i < 8; i++)
		w[31 - i] = (uint8_t)(v >> (8 * i));
}

static void test_malformed(void)
{
	uint8_t d[32 * 6];
	ws_abi_view v = { d, sizeof(d) };
	const uint8_t *p;
	size_t n, cnt;
	ws_abi_view ev;
	uint8_t a[20], w[32];
	bool b;
	uint64_t u;
	char *s;

	memset(d, 0, sizeof(d));
	/* head word 6 does not exist */
	CHECK_INT(ws_abi_dec_word(&v, 6, w), -EBADMSG);
	CHECK_INT(ws_abi_dec_word(&v, SIZE_MAX / 16, w), -EBADMSG);
	CHECK_INT(ws_abi_dec_word(&v, 5, w), 0);

	/* address with dirty high bytes, bool other than 0/1, u64 too big */
	d[11] = 1;
	CHECK_INT(ws_abi_dec_address(&v, 0, a), -EBADMSG);
	d[11] = 0;
	CHECK_INT(ws_abi_dec_address(&v, 0, a), 0);
	d[31] = 2;
	CHECK_INT(ws_abi_dec_bool(&v, 0, &b), -EBADMSG);
	d[31] = 1;
	CHECK_INT(ws_abi_dec_bool(&v, 0, &b), 0);
	CHECK(b);
	d[0] = 1;
	CHECK_INT(ws_abi_dec_bool(&v, 0, &b), -EBADMSG);
	CHECK_INT(ws_abi_dec_u64(&v, 0, &u), -ERANGE);
	d[0] = 0;
	d[23] = 1;
	CHECK_INT(ws_abi_dec_u64(&v, 0, &u), -ERANGE);

	/* bytes: offset beyond the data, offset > 2^64, length beyond */
	memset(d, 0, sizeof(d));
	word_u64(d, 32 * 6);
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), -EBADMSG);
	word_u64(d, 32 * 5 + 1); /* length word would straddle the end */
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), -EBADMSG);
	word_u64(d, 32);
	d[0] = 1; /* offset with high bits */
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), -EBADMSG);
	d[0] = 0;
	word_u64(d + 32, 32 * 4 + 1); /* one byte more than is there */
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), -EBADMSG);
	word_u64(d + 32, 32 * 4 - 1); /* fits, but its padding does not */
	ws_abi_view short_view = { d, sizeof(d) - 1 };
	CHECK_INT(ws_abi_dec_bytes(&short_view, 0, &p, &n), -EBADMSG);
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), 0);
	word_u64(d + 32, 32 * 4);
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), 0);
	CHECK_INT(n, 128);
	CHECK(p == d + 64);
	word_u64(d + 32, UINT64_MAX);
	CHECK_INT(ws_abi_dec_bytes(&v, 0, &p, &n), -EBADMSG);

	/* string with a NUL inside */
	word_u64(d + 32, 3);
	d[64] = 'a';
	d[65] = 0;
	d[66] = 'b';
	CHECK_INT(ws_abi_dec_string(&v, 0, &s), -EBADMSG);
	d[65] = 'x';
	CHECK_INT(ws_abi_dec_string(&v, 0, &s), 0);
	CHECK_STR(s, "axb");
	free(s);

	/* arrays: a count whose heads cannot fit */
	word_u64(d + 32, 4); /* 4 words fit after the count */
	CHECK_INT(ws_abi_dec_array(&v, 0, &ev, &cnt), 0);
	CHECK_INT(cnt, 4);
	word_u64(d + 32, 5);
	CHECK_INT(ws_abi_dec_array(&v, 0, &ev, &cnt), -EBADMSG);
	word_u64(d + 32, UINT64_MAX);
	CHECK_INT(ws_abi_dec_array(&v, 0, &ev, &cnt), -EBADMSG);

	/* an empty view */
	ws_abi_view empty = { d, 0 };
	CHECK_INT(ws_abi_dec_bytes(&empty, 0, &p, &n), -EBADMSG);
	CHECK_INT(ws_abi_dec_array(&empty, 0, &ev, &cnt), -EBADMSG);
	CHECK_INT(ws_abi_dec_tuple(&empty, 0, &ev), -EBADMSG);
	CHECK_INT(ws_abi_dec_inline(&empty, 0, &ev), -EBADMSG);
	ws_abi_view odd = { d, 31 };
	CHECK_INT(ws_abi_dec_word(&odd, 0, w), -EBADMSG);
}

static void test_encoder_errors(void)
{
	ws_abi_enc e;
	uint8_t *out = NULL;
	size_t n = 5;
	CHECK_INT(ws_abi_enc_init(&e, NULL), 0);
	ws_abi_enc_tuple_begin(&e);
	CHECK_INT(ws_abi_enc_finish(&e, &out, &n), -EINVAL); /* unclosed */
	CHECK(out == NULL && n == 5);
	CHECK_INT(ws_abi_enc_init(&e, NULL), 0);
	ws_abi_enc_array_begin(&e);
	ws_abi_enc_tuple_end(&e); /* mismatched */
	CHECK_INT(ws_abi_enc_finish(&e, &out, &n), -EINVAL);
	CHECK_INT(ws_abi_enc_init(&e, NULL), 0);
	for (int i = 0; i <= WS_ABI_MAX_DEPTH; i++)
		ws_abi_enc_tuple_begin(&e);
	CHECK_INT(ws_abi_enc_finish(&e, &out, &n), -EINVAL); /* too deep */
	CHECK_INT(ws_abi_enc_init(&e, NULL), 0);
	CHECK_INT(ws_abi_enc_finish(&e, &out, &n), 0); /* abi.encode() of nothing */
	CHECK_INT(n, 0);
	free(out);

	/* transfer(address,uint256): the classic */
	uint8_t to[20];
	ws_u256 amt = ws_u256_from_u64(1000);
	CHECK_INT(ws_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", to), 0);
	CHECK_INT(ws_abi_enc_init(&e, "transfer(address,uint256)"), 0);
	ws_abi_enc_address(&e, to);
	ws_abi_enc_u256(&e, &amt);
	CHECK_INT(ws_abi_enc_finish(&e, &out, &n), 0);
	CHECK_INT(n, 68);
	CHECK(out[0] == 0xa9 && out[1] == 0x05 && out[2] == 0x9c && out[3] == 0xbb);
	CHECK_MEM(out + 4 + 12, to, 20);
	CHECK(out[66] == 0x03 && out[67] == 0xe8);
	free(out);

	CHECK_INT(ws_abi_enc_init(&e, NULL), 0);
	ws_abi_enc_string(&e, "unfinished");
	ws_abi_enc_release(&e);
}

int main(void)
{
	test_kat();
	test_malformed();
	test_encoder_errors();
	return check_done();
}
