/* abi.c: ABI head/tail encoding and bounds-checked decoding.
 *
 * Each open tuple or array is a frame with its own head and tail buffers.
 * A dynamic member leaves an offset word in the head that is relative to
 * the tail; when the frame closes, the final head size is added to those
 * words (the fixups) and head||tail becomes one member of the parent.
 * Cost: every byte is copied once per nesting level, which for calldata of
 * a few kB is negligible next to the RPC round trip. */
#include "wattstream/abi.h"
#include "wattstream/keccak.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct abi_buf {
	uint8_t *p;
	size_t len, cap;
};

struct ws_abi_frame {
	struct abi_buf head, tail;
	size_t *fix; /* head positions of offset words, tail-relative until closed */
	size_t nfix, capfix;
	size_t count; /* members added */
	bool is_array;
};

void ws_abi_selector(const char *signature, uint8_t out[4])
{
	uint8_t h[32];
	ws_keccak256(signature, strlen(signature), h);
	memcpy(out, h, 4);
}

static int buf_put(struct abi_buf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX / 4 - b->len)
		return -ENOMEM;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void frame_free(ws_abi_frame *f)
{
	free(f->head.p);
	free(f->tail.p);
	free(f->fix);
	memset(f, 0, sizeof(*f));
}

static void u64_word(uint64_t v, uint8_t w[32])
{
	memset(w, 0, 32);
	for (int i = 0; i < 8; i++)
		w[31 - i] = (uint8_t)(v >> (8 * i));
}

int ws_abi_enc_init(ws_abi_enc *e, const char *signature)
{
	memset(e, 0, sizeof(*e));
	e->frames = calloc(WS_ABI_MAX_DEPTH + 1, sizeof(*e->frames));
	if (!e->frames)
		return e->err = -ENOMEM;
	if (signature) {
		ws_abi_selector(signature, e->selector);
		e->has_selector = true;
	}
	return 0;
}

void ws_abi_enc_release(ws_abi_enc *e)
{
	if (e->frames)
		for (int i = 0; i <= WS_ABI_MAX_DEPTH; i++)
			frame_free(&e->frames[i]);
	free(e->frames);
	memset(e, 0, sizeof(*e));
}

static void enc_fail(ws_abi_enc *e, int r)
{
	if (!e->err)
		e->err = r;
}

static void enc_static(ws_abi_enc *e, const uint8_t w[32])
{
	if (e->err)
		return;
	ws_abi_frame *f = &e->frames[e->depth];
	int r = buf_put(&f->head, w, 32);
	if (r < 0)
		return enc_fail(e, r);
	f->count++;
}

/* Adds a dynamic member whose encoding is p[n] (then q[m]) to the current
 * frame: an offset word in the head, the data in the tail. */
static void enc_dynamic(ws_abi_enc *e, const void *p, size_t n, const void *q, size_t m)
{
	uint8_t w[32];
	if (e->err)
		return;
	ws_abi_frame *f = &e->frames[e->depth];
	if (f->nfix == f->capfix) {
		size_t cap = f->capfix ? 2 * f->capfix : 8;
		size_t *nf = realloc(f->fix, cap * sizeof(*nf));
		if (!nf)
			return enc_fail(e, -ENOMEM);
		f->fix = nf;
		f->capfix = cap;
	}
	f->fix[f->nfix++] = f->head.len;
	u64_word(f->tail.len, w);
	int r = buf_put(&f->head, w, 32);
	if (r == 0)
		r = buf_put(&f->tail, p, n);
	if (r == 0)
		r = buf_put(&f->tail, q, m);
	if (r < 0)
		return enc_fail(e, r);
	f->count++;
}

void ws_abi_enc_word(ws_abi_enc *e, const uint8_t word[32])
{
	enc_static(e, word);
}

void ws_abi_enc_u256(ws_abi_enc *e, const ws_u256 *v)
{
	uint8_t w[32];
	ws_u256_to_be(v, w);
	enc_static(e, w);
}

void ws_abi_enc_u64(ws_abi_enc *e, uint64_t v)
{
	uint8_t w[32];
	u64_word(v, w);
	enc_static(e, w);
}

void ws_abi_enc_address(ws_abi_enc *e, const uint8_t addr[20])
{
	uint8_t w[32] = { 0 };
	memcpy(w + 12, addr, 20);
	enc_static(e, w);
}

void ws_abi_enc_bool(ws_abi_enc *e, bool v)
{
	ws_abi_enc_u64(e, v ? 1 : 0);
}

void ws_abi_enc_bytes(ws_abi_enc *e, const void *p, size_t n)
{
	if (e->err)
		return;
	if (n > SIZE_MAX / 4)
		return enc_fail(e, -ENOMEM);
	size_t padded = (n + 31) / 32 * 32;
	uint8_t *tmp = calloc(1, 32 + padded);
	if (!tmp)
		return enc_fail(e, -ENOMEM);
	u64_word(n, tmp);
	if (n)
		memcpy(tmp + 32, p, n);
	enc_dynamic(e, tmp, 32 + padded, NULL, 0);
	free(tmp);
}

void ws_abi_enc_string(ws_abi_enc *e, const char *s)
{
	ws_abi_enc_bytes(e, s, strlen(s));
}

static void enc_open(ws_abi_enc *e, bool is_array)
{
	if (e->err)
		return;
	if (e->depth == WS_ABI_MAX_DEPTH)
		return enc_fail(e, -EINVAL);
	e->depth++;
	e->frames[e->depth].is_array = is_array;
}

void ws_abi_enc_tuple_begin(ws_abi_enc *e)
{
	enc_open(e, false);
}

void ws_abi_enc_array_begin(ws_abi_enc *e)
{
	enc_open(e, true);
}

/* Adds the head size to every tail-relative offset of f. */
static void frame_fixup(ws_abi_frame *f)
{
	for (size_t i = 0; i < f->nfix; i++) {
		uint8_t *w = f->head.p + f->fix[i];
		uint64_t v = 0;
		for (int j = 24; j < 32; j++)
			v = v << 8 | w[j];
		u64_word(v + f->head.len, w);
	}
}

static void enc_close(ws_abi_enc *e, bool is_array)
{
	if (e->err)
		return;
	if (e->depth == 0 || e->frames[e->depth].is_array != is_array)
		return enc_fail(e, -EINVAL);
	ws_abi_frame *c = &e->frames[e->depth];
	e->depth--;
	ws_abi_frame *f = &e->frames[e->depth];

	if (!is_array && c->nfix == 0) {
		/* all members static: the tuple is static and sits in the head */
		int r = buf_put(&f->head, c->head.p, c->head.len);
		if (r < 0)
			enc_fail(e, r);
		else
			f->count++;
		frame_free(c);
		return;
	}
	frame_fixup(c);
	if (is_array) {
		uint8_t w[32];
		u64_word(c->count, w);
		struct abi_buf all = { 0 };
		int r = buf_put(&all, w, 32);
		if (r == 0)
			r = buf_put(&all, c->head.p, c->head.len);
		if (r == 0)
			enc_dynamic(e, all.p, all.len, c->tail.p, c->tail.len);
		else
			enc_fail(e, r);
		free(all.p);
	} else {
		enc_dynamic(e, c->head.p, c->head.len, c->tail.p, c->tail.len);
	}
	frame_free(c);
}

void ws_abi_enc_tuple_end(ws_abi_enc *e)
{
	enc_close(e, false);
}

void ws_abi_enc_array_end(ws_abi_enc *e)
{
	enc_close(e, true);
}

int ws_abi_enc_finish(ws_abi_enc *e, uint8_t **out, size_t *len)
{
	struct abi_buf all = { 0 };
	int r = e->err;
	if (!r && e->depth != 0)
		r = -EINVAL;
	if (r)
		goto fail;
	ws_abi_frame *f = &e->frames[0];
	frame_fixup(f);
	if (e->has_selector)
		r = buf_put(&all, e->selector, 4);
	if (r == 0)
		r = buf_put(&all, f->head.p, f->head.len);
	if (r == 0)
		r = buf_put(&all, f->tail.p, f->tail.len);
	if (r == 0 && !all.p && !(all.p = malloc(1))) /* 0 bytes: still a buffer */
		r = -ENOMEM;
	if (r)
		goto fail;
	*out = all.p;
	*len = all.len;
	ws_abi_enc_release(e);
	return 0;
fail:
	free(all.p);
	ws_abi_enc_release(e);
	return r;
}

/* ---- decoding ---- */

static const uint8_t *view_word(const ws_abi_view *v, size_t i)
{
	if (i >= v->len / 32)
		return NULL;
	return v->p + 32 * i;
}

/* A word that must hold a size or offset: fits in 64 bits and <= limit. */
static int word_size(const uint8_t *w, size_t limit, size_t *out)
{
	for (int j = 0; j < 24; j++)
		if (w[j])
			return -EBADMSG;
	uint64_t v = 0;
	for (int j = 24; j < 32; j++)
		v = v << 8 | w[j];
	if (v > limit)
		return -EBADMSG;
	*out = (size_t)v;
	return 0;
}

int ws_abi_dec_word(const ws_abi_view *v, size_t i, uint8_t word[32])
{
	const uint8_t *w = view_word(v, i);
	if (!w)
		return -EBADMSG;
	memcpy(word, w, 32);
	return 0;
}

int ws_abi_dec_u256(const ws_abi_view *v, size_t i, ws_u256 *out)
{
	const uint8_t *w = view_word(v, i);
	if (!w)
		return -EBADMSG;
	ws_u256_from_be(out, w);
	return 0;
}

int ws_abi_dec_u64(const ws_abi_view *v, size_t i, uint64_t *out)
{
	ws_u256 u;
	int r = ws_abi_dec_u256(v, i, &u);
	if (r < 0)
		return r;
	return ws_u256_to_u64(&u, out);
}

int ws_abi_dec_address(const ws_abi_view *v, size_t i, uint8_t addr[20])
{
	const uint8_t *w = view_word(v, i);
	if (!w)
		return -EBADMSG;
	for (int j = 0; j < 12; j++)
		if (w[j])
			return -EBADMSG;
	memcpy(addr, w + 12, 20);
	return 0;
}

int ws_abi_dec_bool(const ws_abi_view *v, size_t i, bool *out)
{
	const uint8_t *w = view_word(v, i);
	if (!w)
		return -EBADMSG;
	for (int j = 0; j < 31; j++)
		if (w[j])
			return -EBADMSG;
	if (w[31] > 1)
		return -EBADMSG;
	*out = w[31];
	return 0;
}

/* Follows the offset in head word i; *off is where the target starts and
 * at least one more word fits behind it. */
static int dec_offset(const ws_abi_view *v, size_t i, size_t *off)
{
	const uint8_t *w = view_word(v, i);
	size_t o;
	if (!w || v->len < 32 || word_size(w, v->len - 32, &o) < 0)
		return -EBADMSG;
	*off = o;
	return 0;
}

int ws_abi_dec_bytes(const ws_abi_view *v, size_t i, const uint8_t **p, size_t *n)
{
	size_t off, len;
	if (dec_offset(v, i, &off) < 0)
		return -EBADMSG;
	if (word_size(v->p + off, v->len - off - 32, &len) < 0)
		return -EBADMSG;
	/* the zero padding to a whole word must be there too (ethers and a
	 * correct node always send it); len <= v->len, so this cannot wrap */
	if ((len + 31) / 32 * 32 > v->len - off - 32)
		return -EBADMSG;
	*p = v->p + off + 32;
	*n = len;
	return 0;
}

int ws_abi_dec_string(const ws_abi_view *v, size_t i, char **out)
{
	const uint8_t *p;
	size_t n;
	int r = ws_abi_dec_bytes(v, i, &p, &n);
	if (r < 0)
		return r;
	if (memchr(p, 0, n))
		return -EBADMSG;
	char *s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	return 0;
}

int ws_abi_dec_array(const ws_abi_view *v, size_t i, ws_abi_view *elems, size_t *count)
{
	size_t off, cnt;
	if (dec_offset(v, i, &off) < 0)
		return -EBADMSG;
	size_t rest = v->len - off - 32;
	/* every element has at least a one-word head */
	if (word_size(v->p + off, rest / 32, &cnt) < 0)
		return -EBADMSG;
	elems->p = v->p + off + 32;
	elems->len = rest;
	*count = cnt;
	return 0;
}

int ws_abi_dec_tuple(const ws_abi_view *v, size_t i, ws_abi_view *out)
{
	size_t off;
	if (dec_offset(v, i, &off) < 0)
		return -EBADMSG;
	out->p = v->p + off;
	out->len = v->len - off;
	return 0;
}

int ws_abi_dec_inline(const ws_abi_view *v, size_t i, ws_abi_view *out)
{
	if (!view_word(v, i))
		return -EBADMSG;
	out->p = v->p + 32 * i;
	out->len = v->len - 32 * i;
	return 0;
}
