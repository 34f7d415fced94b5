/* wallet.c: wattstream-wallet, the simulated driver's wallet
 * (docs/wallet.md, protocol: docs/wallet-protocol.md).
 *
 * One libwebsockets loop carries both the WebSocket to the station and the
 * JSON-RPC calls to the chain (ws_chain).  The wallet connects, checks the
 * station's signed offer (EIP-712 signature, then isLive in the registry),
 * opens, tops up or reuses a channel with its own EIP-1559 transactions,
 * starts a session and pays every invoice whose arithmetic it could check
 * against the offer and its own receipts, with vouchers signed by a random
 * session key.  Every receipt's signature and amounts are checked; one bad
 * receipt stops the payments.  At the end the bill goes to stdout as one
 * JSON object; progress lines go to stderr.
 *
 * Cost: one voucher = one EIP-712 digest (3 Keccak permutations) and one
 * ECDSA signature; one receipt check = one digest and one public-key
 * recovery.  Memory: the receipts of the session (kept for the bill).
 *
 * Misbehaviour flags (for the station's tests) each change exactly one
 * thing on the wire; see docs/wallet.md. */
#include "wallet_check.h"

#include "wattstream/abi.h"
#include "wattstream/address.h"
#include "wattstream/chain.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/eth_tx.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"
#include "wattstream/u256.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WALLET_SUBPROTOCOL "wattstream.wallet.1"
#define WALLET_MSG_MAX 4096             /* bytes per message, both ways */
#define WALLET_STOP_TIMEOUT_MS 20000    /* wait for `ended` after `stop` */
#define WALLET_HELLO_TIMEOUT_MS 15000
#define WALLET_LINGER_MS 3000          /* for the close handshake at the end */
#define OFFER_TUPLE "(address,address,address,uint256,uint32,uint32,uint32,uint64,uint64," \
	"string,string,uint64)"

/* exit statuses */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct opts {
	const char *rpc, *deployment, *key_env, *station, *ca, *session_key_file;
	bool have_channel, have_deposit, have_mint, have_max_amount;
	uint8_t channel[32];
	ws_u256 deposit, mint, max_amount;
	unsigned connector;
	uint64_t max_mwh;              /* 0: no limit */
	/* misbehaviour */
	long stop_paying_after;        /* -1: never */
	unsigned pay_late_ms;
	bool pay_less, replay_old, sign_with_stranger, request_close_after, permit;
	bool have_other_channel;
	uint8_t other_channel[32];
	unsigned flood;
};

struct frame {
	struct frame *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE headroom, then the text */
};

struct late_voucher {
	lws_sorted_usec_list_t sul; /* first: container of the timer */
	struct late_voucher *next;
	struct wallet *w;
	char *text;
};

enum wstate {
	W_CONNECTING, W_HELLO, W_CHECK_OFFER, W_CHAIN, W_STARTING, W_RUNNING, W_STOPPING,
	W_ENDED, W_CLOSE_TX, W_DONE,
};

struct txjob {
	const char *what;
	uint8_t to[20];
	uint8_t *data;
	size_t len;
	uint64_t gas;
	struct ws_chain_fees fees;
	void (*done)(struct wallet *w, int err, const struct ws_chain_receipt *rc);
};

struct wallet {
	struct opts o;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws *wsi;
	ws_chain *chain;
	enum wstate st;
	int exit_code;
	const char *end_reason;        /* for the bill */
	json_t *errors;                /* array of strings */

	uint8_t key[32], addr[20];     /* the driver (channel sender) */
	uint8_t skey[32], saddr[20];   /* the session key */
	bool use_skey;                 /* vouchers by the session key (else the sender) */
	uint8_t stranger[32];

	uint64_t chain_id;
	uint8_t channels[20], registry[20], token[20];
	uint8_t voucher_ds[32], receipt_ds[32], offer_ds[32];
	struct wallet_offer offer;
	bool have_offer;

	uint8_t channel_id[32];
	bool have_channel;
	ws_u256 deposit;
	uint8_t permit_ds[32];         /* the token's EIP-2612 domain separator */
	bool have_nonce;
	uint64_t nonce;
	struct txjob tx;
	json_t *txs;                   /* [{what, hash, gasUsed}] */

	/* session */
	struct wallet_ledger l;        /* session, amounts, meter per receipts */
	bool have_session;
	unsigned vouchers_sent, vouchers_accepted, vouchers_rejected, invoices;
	char *first_voucher;           /* text, for --replay-old */
	char *last_voucher;            /* text, for --flood */
	bool flooded, stop_sent, receipt_bad;
	bool distrust;                 /* a bad receipt or invoice: pay nothing more */
	bool channel_ok, reconnected;  /* channel ready; second connection made */
	json_t *receipts;              /* verified receipts */
	json_t *final_receipt;
	ws_u256 allowance_amount;
	uint64_t allowance_mwh;
	struct late_voucher *late;
	lws_sorted_usec_list_t sul_stop, sul_hello, sul_linger;
	bool linger_over;              /* done: stop waiting for the socket to close */

	/* socket */
	struct frame *w_head, *w_tail;
	bool closing;
	char *rx;
	size_t rx_len;
	bool rx_too_big, rx_binary;
	char url_buf[512];
};

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_ctx;

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "wallet %lld.%03ld: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void finish(struct wallet *w, int code, const char *reason);
static void fail(struct wallet *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note_error(struct wallet *w, const char *msg)
{
	json_array_append_new(w->errors, json_string(msg));
	progress("ERROR: %s", msg);
}

static void fail(struct wallet *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note_error(w, msg);
	finish(w, EXIT_FAIL, "error");
}

static const char *hex32(const uint8_t b[32], char out[WS_HEX_STR_SIZE(32)])
{
	ws_hex_format(b, 32, out, WS_HEX_STR_SIZE(32));
	return out;
}

static const char *dec(const ws_u256 *v, char out[WS_U256_DEC_SIZE])
{
	ws_u256_to_dec(v, out, WS_U256_DEC_SIZE);
	return out;
}

/* ---- socket output -------------------------------------------------------- */

static void send_text(struct wallet *w, const char *text)
{
	size_t n = strlen(text);
	struct frame *f = malloc(sizeof(*f) + LWS_PRE + n);

	if (!f) {
		fail(w, "out of memory");
		return;
	}
	f->next = NULL;
	f->len = n;
	memcpy(f->buf + LWS_PRE, text, n);
	if (w->w_tail)
		w->w_tail->next = f;
	else
		w->w_head = f;
	w->w_tail = f;
	if (w->wsi)
		lws_callback_on_writable(w->wsi);
}

/* Serializes and queues obj (reference stolen); returns the text sent
 * (malloc'd) if keep, else NULL. */
static char *send_json(struct wallet *w, json_t *obj, bool keep)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s) {
		fail(w, "out of memory");
		return NULL;
	}
	send_text(w, s);
	if (keep)
		return s;
	free(s);
	return NULL;
}

static void close_socket(struct wallet *w)
{
	if (w->wsi && !w->closing) {
		w->closing = true;
		lws_callback_on_writable(w->wsi);
	}
}

/* ---- the end ----------------------------------------------------------------- */

static void print_bill(struct wallet *w)
{
	char b1[WS_HEX_STR_SIZE(32)], a[WS_U256_DEC_SIZE];
	json_t *bill = json_object();
	ws_u256 due = w->l.base, amount;

	json_object_set_new(bill, "ok", json_boolean(w->exit_code == EXIT_OK));
	json_object_set_new(bill, "reason", json_string(w->end_reason ? w->end_reason : "error"));
	if (w->have_offer) {
		char s[WS_ADDRESS_STR_SIZE];
		ws_address_format(w->offer.station, s);
		json_object_set_new(bill, "station", json_string(s));
		json_object_set_new(bill, "pricePerKWh", json_string(dec(&w->offer.price, a)));
		json_object_set_new(bill, "incrementWh", json_integer((json_int_t)w->offer.increment_wh));
	}
	if (w->have_channel)
		json_object_set_new(bill, "channelId", json_string(hex32(w->channel_id, b1)));
	json_object_set_new(bill, "connector", json_integer(w->o.connector));
	if (w->have_session) {
		json_object_set_new(bill, "session", json_string(hex32(w->l.session, b1)));
		json_object_set_new(bill, "base", json_string(dec(&w->l.base, a)));
	}
	if (w->final_receipt) {
		wallet_json_amount(w->final_receipt, "amountDue", &due);
	} else if (json_array_size(w->receipts)) {
		wallet_json_amount(json_array_get(w->receipts, json_array_size(w->receipts) - 1),
			"amountDue", &due);
	}
	json_object_set_new(bill, "energyMwh", json_integer((json_int_t)w->l.delivered));
	if (ws_u256_sub(&amount, &due, &w->l.base) != 0)
		amount = ws_u256_from_u64(0);
	json_object_set_new(bill, "amount", json_string(dec(&amount, a)));
	json_object_set_new(bill, "amountDue", json_string(dec(&due, a)));
	json_object_set_new(bill, "paid", json_string(dec(&w->l.last_signed, a)));
	json_object_set_new(bill, "vouchers", json_integer(w->vouchers_sent));
	json_object_set_new(bill, "vouchersAccepted", json_integer(w->vouchers_accepted));
	json_object_set_new(bill, "vouchersRejected", json_integer(w->vouchers_rejected));
	json_object_set_new(bill, "invoices", json_integer(w->invoices));
	json_object_set_new(bill, "receiptsVerified", json_integer((json_int_t)json_array_size(w->receipts)));
	json_object_set_new(bill, "receiptBad", json_boolean(w->receipt_bad));
	json_object_set_new(bill, "finalReceipt", w->final_receipt ? json_incref(w->final_receipt)
								   : json_null());
	json_object_set_new(bill, "receipts", json_incref(w->receipts));
	json_object_set_new(bill, "transactions", json_incref(w->txs));
	json_object_set_new(bill, "errors", json_incref(w->errors));
	json_dumpf(bill, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(bill);
}

static void start_request_close(struct wallet *w);

static void linger_cb(lws_sorted_usec_list_t *sul)
{
	struct wallet *w = lws_container_of(sul, struct wallet, sul_linger);
	w->linger_over = true;
}

/* Ends the run: the bill, then (--request-close-after) the close request. */
static void finish(struct wallet *w, int code, const char *reason)
{
	if (w->st == W_DONE || w->st == W_CLOSE_TX)
		return;
	if (code > w->exit_code)
		w->exit_code = code;
	if (!w->end_reason)
		w->end_reason = reason;
	lws_sul_cancel(&w->sul_hello);
	lws_sul_cancel(&w->sul_stop);
	close_socket(w);
	/* a station that never completes the close handshake does not hold us */
	lws_sul_schedule(w->ctx, 0, &w->sul_linger, linger_cb, WALLET_LINGER_MS * 1000);
	if (w->o.request_close_after && w->have_channel && w->have_session && code == EXIT_OK) {
		w->st = W_CLOSE_TX;
		start_request_close(w);
		return;
	}
	w->st = W_DONE;
	print_bill(w);
}

/* ---- transactions: nonce, fees, estimate, sign, send, receipt ------------- */

static void tx_end(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	void (*done)(struct wallet *, int, const struct ws_chain_receipt *) = w->tx.done;
	free(w->tx.data);
	w->tx.data = NULL;
	done(w, err, rc);
}

static void tx_on_receipt(void *user, int err, const struct ws_chain_receipt *rc)
{
	struct wallet *w = user;
	char h[WS_HEX_STR_SIZE(32)];

	if (rc) {
		json_t *t = json_pack("{s:s, s:s, s:I, s:b}", "what", w->tx.what,
				      "hash", hex32(rc->tx_hash, h), "gasUsed",
				      (json_int_t)rc->gas_used, "status", rc->status);
		json_array_append_new(w->txs, t);
		progress("%s mined in block %" PRIu64 ", gas %" PRIu64 "%s", w->tx.what,
			 rc->block_number, rc->gas_used, rc->status ? "" : " (REVERTED)");
	}
	tx_end(w, err, rc);
}

static void tx_on_sent(void *user, int err, const uint8_t hash[32])
{
	struct wallet *w = user;
	char h[WS_HEX_STR_SIZE(32)];

	if (err) {
		tx_end(w, err, NULL);
		return;
	}
	w->nonce++;
	progress("%s sent: %s", w->tx.what, hex32(hash, h));
	if (ws_chain_wait_receipt(w->chain, hash, tx_on_receipt, w) < 0)
		tx_end(w, -ENOMEM, NULL);
}

static void tx_on_gas(void *user, int err, uint64_t gas)
{
	struct wallet *w = user;
	ws_eth_tx tx;
	uint8_t *raw = NULL, hash[32];
	size_t raw_len;
	int r;

	if (err) {
		tx_end(w, err, NULL);
		return;
	}
	memset(&tx, 0, sizeof(tx));
	tx.chain_id = w->chain_id;
	tx.nonce = w->nonce;
	tx.max_priority_fee_per_gas = w->tx.fees.max_priority_fee;
	tx.max_fee_per_gas = w->tx.fees.max_fee;
	tx.gas_limit = gas + gas / 4;
	tx.has_to = true;
	memcpy(tx.to, w->tx.to, 20);
	tx.data = w->tx.data;
	tx.data_len = w->tx.len;
	r = ws_eth_tx_sign(&tx, w->key, &raw, &raw_len, hash);
	if (r == 0)
		r = ws_chain_send_raw(w->chain, raw, raw_len, tx_on_sent, w);
	free(raw);
	if (r)
		tx_end(w, r < 0 ? r : -EINVAL, NULL);
}

static void tx_on_fees(void *user, int err, const struct ws_chain_fees *f)
{
	struct wallet *w = user;

	if (err) {
		tx_end(w, err, NULL);
		return;
	}
	w->tx.fees = *f;
	if (ws_chain_estimate_gas(w->chain, w->addr, w->tx.to, w->tx.data, w->tx.len,
				  tx_on_gas, w) < 0)
		tx_end(w, -ENOMEM, NULL);
}

static void tx_on_nonce(void *user, int err, uint64_t nonce)
{
	struct wallet *w = user;

	if (err) {
		tx_end(w, err, NULL);
		return;
	}
	w->nonce = nonce;
	w->have_nonce = true;
	if (ws_chain_fees(w->chain, tx_on_fees, w) < 0)
		tx_end(w, -ENOMEM, NULL);
}

/* Sends one transaction from the driver's key; data is taken over. */
static void tx_send(struct wallet *w, const char *what, const uint8_t to[20], uint8_t *data,
		    size_t len, void (*done)(struct wallet *, int, const struct ws_chain_receipt *))
{
	int r;

	memset(&w->tx, 0, sizeof(w->tx));
	w->tx.what = what;
	memcpy(w->tx.to, to, 20);
	w->tx.data = data;
	w->tx.len = len;
	w->tx.done = done;
	progress("sending %s", what);
	if (w->have_nonce)
		r = ws_chain_fees(w->chain, tx_on_fees, w);
	else
		r = ws_chain_nonce(w->chain, w->addr, tx_on_nonce, w);
	if (r < 0) {
		free(w->tx.data);
		w->tx.data = NULL;
		fail(w, "%s: cannot queue the call: %s", what, strerror(-r));
	}
}

static const char *chain_err(int err)
{
	return err < 0 ? strerror(-err) : ws_chain_strerror(err);
}

/* ---- the channel -------------------------------------------------------------- */

static void send_start(struct wallet *w);
static void channel_ready(struct wallet *w);

static uint8_t *calldata_addr_u256(const char *sig, const uint8_t a[20], const ws_u256 *v,
				   size_t *len)
{
	ws_abi_enc e;
	uint8_t *out = NULL;

	if (ws_abi_enc_init(&e, sig) != 0)
		return NULL;
	ws_abi_enc_address(&e, a);
	ws_abi_enc_u256(&e, v);
	if (ws_abi_enc_finish(&e, &out, len) != 0)
		out = NULL;
	return out;
}

static void on_channel_read(void *user, int err, const struct ws_chain_channel *ch)
{
	struct wallet *w = user;
	char a[WS_U256_DEC_SIZE];

	if (err) {
		fail(w, "channel: cannot read it: %s", chain_err(err));
		return;
	}
	if (memcmp(ch->sender, w->addr, 20) != 0) {
		fail(w, "channel: its sender is not our key");
		return;
	}
	if (memcmp(ch->receiver, w->offer.payee, 20) != 0) {
		fail(w, "channel: its receiver is not the offer's payee");
		return;
	}
	if (memcmp(ch->token, w->offer.token, 20) != 0) {
		fail(w, "channel: its token is not the offer's token");
		return;
	}
	if (ch->close_requested_at) {
		fail(w, "channel: a close was requested");
		return;
	}
	w->deposit = ch->deposit;
	/* vouchers by the session key when ours is the channel's, else by the sender */
	w->use_skey = !ws_address_is_zero(ch->session_key) &&
		      memcmp(ch->session_key, w->saddr, 20) == 0;
	if (!w->use_skey)
		progress("vouchers will be signed by the sender key (the session key is not the channel's)");
	progress("channel ready, deposit %s", dec(&w->deposit, a));
	channel_ready(w);
}

static void read_channel(struct wallet *w)
{
	if (ws_chain_get_channel(w->chain, w->channels, w->channel_id, on_channel_read, w) < 0)
		fail(w, "channel: cannot queue the call");
}

static void on_topped_up(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	(void)rc;
	if (err) {
		fail(w, "topUp failed: %s", chain_err(err));
		return;
	}
	read_channel(w);
}

static void on_opened(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	uint8_t topic[32];
	char h[WS_HEX_STR_SIZE(32)];

	if (err) {
		fail(w, "open failed: %s", chain_err(err));
		return;
	}
	ws_keccak256("ChannelOpened(bytes32,address,address,address,address,uint256)",
		     strlen("ChannelOpened(bytes32,address,address,address,address,uint256)"),
		     topic);
	for (size_t i = 0; i < rc->n_logs; i++) {
		const struct ws_chain_log *l = &rc->logs[i];
		if (memcmp(l->address, w->channels, 20) == 0 && l->n_topics == 4 &&
		    memcmp(l->topics[0], topic, 32) == 0) {
			memcpy(w->channel_id, l->topics[1], 32);
			w->have_channel = true;
			progress("channel opened: %s", hex32(w->channel_id, h));
			read_channel(w);
			return;
		}
	}
	fail(w, "open: no ChannelOpened event in the receipt");
}

static void after_approve(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	uint8_t *data;
	size_t len;
	ws_abi_enc e;

	(void)rc;
	if (err) {
		fail(w, "approve failed: %s", chain_err(err));
		return;
	}
	if (w->have_channel) {
		if (ws_abi_enc_init(&e, "topUp(bytes32,uint256)") != 0)
			goto nomem;
		ws_abi_enc_word(&e, w->channel_id);
		ws_abi_enc_u256(&e, &w->o.deposit);
		if (ws_abi_enc_finish(&e, &data, &len) != 0)
			goto nomem;
		tx_send(w, "topUp", w->channels, data, len, on_topped_up);
		return;
	}
	if (ws_abi_enc_init(&e, "open(address,address,address,uint256)") != 0)
		goto nomem;
	ws_abi_enc_address(&e, w->offer.payee);
	ws_abi_enc_address(&e, w->offer.token);
	ws_abi_enc_address(&e, w->saddr);
	ws_abi_enc_u256(&e, &w->o.deposit);
	if (ws_abi_enc_finish(&e, &data, &len) != 0)
		goto nomem;
	tx_send(w, "open", w->channels, data, len, on_opened);
	return;
nomem:
	fail(w, "cannot encode the call");
}

/* ---- openWithPermit: one transaction instead of approve + open ---------- */

static void permit_on_nonce(void *user, int err, const uint8_t *p, size_t len)
{
	struct wallet *w = user;
	ws_abi_view v = { p, len };
	ws_u256 nonce, deadline = ws_u256_from_u64(now_unix_ms() / 1000 + 3600);
	ws_eip712_struct st;
	uint8_t h[32], digest[32], sig[65], *data;
	size_t dlen;
	ws_abi_enc e;

	if (err || ws_abi_dec_u256(&v, 0, &nonce) != 0) {
		fail(w, "permit: cannot read the token's nonces(): %s",
		     err ? chain_err(err) : "malformed answer");
		return;
	}
	ws_eip712_struct_init(&st, "Permit(address owner,address spender,uint256 value,"
			      "uint256 nonce,uint256 deadline)");
	ws_eip712_struct_address(&st, w->addr);
	ws_eip712_struct_address(&st, w->channels);
	ws_eip712_struct_u256(&st, &w->o.deposit);
	ws_eip712_struct_u256(&st, &nonce);
	ws_eip712_struct_u256(&st, &deadline);
	ws_eip712_struct_final(&st, h);
	ws_eip712_digest(w->permit_ds, h, digest);
	if (ws_ecsig_sign(w->key, digest, sig) != 0) {
		fail(w, "permit: cannot sign");
		return;
	}
	if (ws_abi_enc_init(&e, "openWithPermit(address,address,address,uint256,uint256,"
			    "uint8,bytes32,bytes32)") != 0)
		goto nomem;
	ws_abi_enc_address(&e, w->offer.payee);
	ws_abi_enc_address(&e, w->offer.token);
	ws_abi_enc_address(&e, w->saddr);
	ws_abi_enc_u256(&e, &w->o.deposit);
	ws_abi_enc_u256(&e, &deadline);
	ws_abi_enc_u64(&e, sig[64]);
	ws_abi_enc_word(&e, sig);
	ws_abi_enc_word(&e, sig + 32);
	explicit_bzero(sig, sizeof(sig));
	if (ws_abi_enc_finish(&e, &data, &dlen) != 0)
		goto nomem;
	tx_send(w, "openWithPermit", w->channels, data, dlen, on_opened);
	return;
nomem:
	fail(w, "cannot encode openWithPermit");
}

static void permit_on_ds(void *user, int err, const uint8_t *p, size_t len)
{
	struct wallet *w = user;
	ws_abi_view v = { p, len };
	ws_abi_enc e;
	uint8_t *data;
	size_t dlen;
	int r;

	if (err || ws_abi_dec_word(&v, 0, w->permit_ds) != 0) {
		fail(w, "permit: the token has no DOMAIN_SEPARATOR() (EIP-2612): %s",
		     err ? chain_err(err) : "malformed answer");
		return;
	}
	r = ws_abi_enc_init(&e, "nonces(address)");
	if (r == 0) {
		ws_abi_enc_address(&e, w->addr);
		r = ws_abi_enc_finish(&e, &data, &dlen);
	}
	if (r == 0) {
		r = ws_chain_call(w->chain, w->offer.token, data, dlen, permit_on_nonce, w);
		free(data);
	}
	if (r)
		fail(w, "permit: cannot query the token");
}

static void open_with_permit(struct wallet *w)
{
	uint8_t sel[4];

	ws_abi_selector("DOMAIN_SEPARATOR()", sel);
	if (ws_chain_call(w->chain, w->offer.token, sel, 4, permit_on_ds, w) != 0)
		fail(w, "permit: cannot query the token");
}

static void approve(struct wallet *w)
{
	size_t len;
	uint8_t *data = calldata_addr_u256("approve(address,uint256)", w->channels,
					   &w->o.deposit, &len);
	if (!data) {
		fail(w, "cannot encode approve");
		return;
	}
	tx_send(w, "approve", w->offer.token, data, len, after_approve);
}

static void after_mint(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	(void)rc;
	if (err) {
		fail(w, "mint failed: %s", chain_err(err));
		return;
	}
	if (w->o.permit && !w->have_channel)
		open_with_permit(w);
	else if (w->o.have_deposit)
		approve(w);
	else
		read_channel(w);
}

/* The offer checked out: get a channel. */
static void chain_steps(struct wallet *w)
{
	w->st = W_CHAIN;
	if (w->o.have_mint) {
		size_t len;
		uint8_t *data = calldata_addr_u256("mint(address,uint256)", w->addr, &w->o.mint,
						   &len);
		if (!data) {
			fail(w, "cannot encode mint");
			return;
		}
		tx_send(w, "mint", w->offer.token, data, len, after_mint);
	} else if (w->o.permit && !w->have_channel) {
		open_with_permit(w);
	} else if (w->o.have_deposit) {
		approve(w);
	} else {
		read_channel(w);
	}
}

static int connect_station(struct wallet *w);

/* The channel is funded and checked.  Transactions can outlast the
 * station's idle limit (60 s without a session): if the station closed the
 * connection meanwhile, connect again once; the new hello must carry the
 * same offer. */
static void channel_ready(struct wallet *w)
{
	if (w->st != W_CHAIN)
		return;
	w->channel_ok = true;
	if (w->wsi) {
		send_start(w);
		return;
	}
	if (w->reconnected) {
		fail(w, "the station closed the connection again before the session");
		return;
	}
	w->reconnected = true;
	progress("connecting again to start the session");
	if (connect_station(w) != 0)
		fail(w, "cannot connect to %s", w->o.station);
}

static void on_close_requested(struct wallet *w, int err, const struct ws_chain_receipt *rc)
{
	(void)rc;
	if (err) {
		note_error(w, "requestClose failed");
		progress("requestClose: %s", chain_err(err));
		if (w->exit_code < EXIT_FAIL)
			w->exit_code = EXIT_FAIL;
	} else {
		progress("close requested on-chain");
	}
	w->st = W_DONE;
	print_bill(w);
}

static void start_request_close(struct wallet *w)
{
	ws_abi_enc e;
	uint8_t *data;
	size_t len;

	if (ws_abi_enc_init(&e, "requestClose(bytes32)") != 0)
		goto fail;
	ws_abi_enc_word(&e, w->channel_id);
	if (ws_abi_enc_finish(&e, &data, &len) != 0)
		goto fail;
	tx_send(w, "requestClose", w->channels, data, len, on_close_requested);
	return;
fail:
	on_close_requested(w, -ENOMEM, NULL);
}

/* ---- the offer -------------------------------------------------------------- */

static void on_is_live(void *user, int err, const uint8_t *p, size_t len)
{
	struct wallet *w = user;
	ws_abi_view v = { p, len };
	bool live;

	if (w->st != W_CHECK_OFFER)
		return;
	if (err) {
		fail(w, "offer: registry isLive call failed: %s", chain_err(err));
		return;
	}
	if (ws_abi_dec_bool(&v, 0, &live) != 0) {
		fail(w, "offer: malformed isLive answer");
		return;
	}
	if (!live) {
		fail(w, "offer: not live in the registry (withdrawn, superseded, expired or never published)");
		return;
	}
	progress("offer is live in the registry");
	if (w->channel_ok) {           /* hello of a second connection */
		w->st = W_CHAIN;
		channel_ready(w);
		return;
	}
	chain_steps(w);
}

static int check_offer_live(struct wallet *w)
{
	const struct wallet_offer *o = &w->offer;
	ws_abi_enc e;
	uint8_t *data;
	size_t len;
	int r;

	r = ws_abi_enc_init(&e, "isLive(" OFFER_TUPLE ")");
	if (r)
		return r;
	ws_abi_enc_tuple_begin(&e);
	ws_abi_enc_address(&e, o->station);
	ws_abi_enc_address(&e, o->payee);
	ws_abi_enc_address(&e, o->token);
	ws_abi_enc_u256(&e, &o->price);
	ws_abi_enc_u64(&e, o->increment_wh);
	ws_abi_enc_u64(&e, o->prepaid);
	ws_abi_enc_u64(&e, o->grace_s);
	ws_abi_enc_u64(&e, o->valid_from);
	ws_abi_enc_u64(&e, o->valid_until);
	ws_abi_enc_string(&e, o->location);
	ws_abi_enc_string(&e, o->endpoint);
	ws_abi_enc_u64(&e, o->nonce);
	ws_abi_enc_tuple_end(&e);
	r = ws_abi_enc_finish(&e, &data, &len);
	if (r)
		return r;
	r = ws_chain_call(w->chain, w->registry, data, len, on_is_live, w);
	free(data);
	return r;
}

static void on_hello(struct wallet *w, const json_t *m)
{
	uint8_t station[20], channels[20], registry[20];
	const char *cid = wallet_json_str(m, "chainId");
	const json_t *proto = json_object_get(m, "protocol"), *conns;
	uint64_t now_s = now_unix_ms() / 1000, chain_id = 0;
	ws_u256 cid_v;
	bool conn_listed = false;
	size_t i;
	json_t *c;
	int r;

	lws_sul_cancel(&w->sul_hello);
	if (!json_is_integer(proto) || json_integer_value(proto) != 1) {
		fail(w, "hello: not protocol 1");
		return;
	}
	if (wallet_json_addr(m, "station", station) || wallet_json_addr(m, "channels", channels) ||
	    wallet_json_addr(m, "registry", registry) || !cid || ws_u256_from_dec(&cid_v, cid) ||
	    ws_u256_to_u64(&cid_v, &chain_id)) {
		fail(w, "hello: malformed station, chainId, channels or registry");
		return;
	}
	if (chain_id != w->chain_id || memcmp(channels, w->channels, 20) ||
	    memcmp(registry, w->registry, 20)) {
		fail(w, "hello: chain %" PRIu64 " / contracts are not those of our deployment",
		     chain_id);
		return;
	}
	if (w->have_offer) {
		/* a second connection: the offer the channel was made for, or nothing */
		struct wallet_offer again = { 0 };
		uint8_t d1[32], d2[32];
		int pr = wallet_offer_parse(json_object_get(m, "offer"), &again);
		if (pr == 0) {
			wallet_offer_digest(w->offer_ds, &again, d1);
			wallet_offer_digest(w->offer_ds, &w->offer, d2);
		}
		wallet_offer_clear(&again);
		if (pr != 0 || memcmp(d1, d2, 32) != 0) {
			fail(w, "hello: the station changed its offer between connections");
			return;
		}
	} else if (wallet_offer_parse(json_object_get(m, "offer"), &w->offer) != 0) {
		wallet_offer_clear(&w->offer);
		fail(w, "hello: malformed offer");
		return;
	}
	w->have_offer = true;
	r = wallet_offer_verify(w->offer_ds, &w->offer);
	if (r != 0) {
		fail(w, "offer: bad signature (%s)", wallet_check_strerror(r));
		return;
	}
	if (memcmp(station, w->offer.station, 20) != 0) {
		fail(w, "hello: station is not the offer's station");
		return;
	}
	if (now_s < w->offer.valid_from || now_s >= w->offer.valid_until) {
		fail(w, "offer: outside its validity window");
		return;
	}
	if (strcmp(w->offer.endpoint, w->o.station) != 0)
		progress("note: the offer's endpoint %s is not the URL we connected to",
			 w->offer.endpoint);
	conns = json_object_get(m, "connectors");
	json_array_foreach(conns, i, c) {
		const json_t *n = json_object_get(c, "connector");
		if (json_is_integer(n) && json_integer_value(n) == (json_int_t)w->o.connector)
			conn_listed = true;
	}
	if (!conn_listed)
		progress("note: connector %u is not in the station's list", w->o.connector);
	{
		char a[WS_U256_DEC_SIZE];
		progress("offer signature checks out: %s per kWh, %" PRIu64 " Wh increments, "
			 "%" PRIu64 " prepaid, %" PRIu64 " s grace",
			 dec(&w->offer.price, a), w->offer.increment_wh, w->offer.prepaid,
			 w->offer.grace_s);
	}
	w->st = W_CHECK_OFFER;
	r = check_offer_live(w);
	if (r)
		fail(w, "offer: cannot query the registry: %s", strerror(-r));
}

/* ---- the session ------------------------------------------------------------- */

static void send_start(struct wallet *w)
{
	char h[WS_HEX_STR_SIZE(32)];

	w->st = W_STARTING;
	progress("starting a session on connector %u", w->o.connector);
	send_json(w, json_pack("{s:s, s:s, s:i, s:s}", "type", "start", "id", "s1", "connector",
			       (int)w->o.connector, "channelId", hex32(w->channel_id, h)), false);
}

static void stop_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct wallet *w = lws_container_of(sul, struct wallet, sul_stop);
	note_error(w, "no `ended` from the station after stop");
	finish(w, EXIT_FAIL, "stop_timeout");
}

static void send_stop(struct wallet *w, const char *why)
{
	char h[WS_HEX_STR_SIZE(32)];

	if (w->stop_sent)
		return;
	if (!w->have_session || w->st >= W_ENDED) {
		finish(w, w->exit_code, why);
		return;
	}
	w->stop_sent = true;
	w->st = W_STOPPING;
	progress("stopping: %s", why);
	send_json(w, json_pack("{s:s, s:s, s:s}", "type", "stop", "id", "x", "session",
			       hex32(w->l.session, h)), false);
	lws_sul_schedule(w->ctx, 0, &w->sul_stop, stop_timeout_cb,
			 (lws_usec_t)WALLET_STOP_TIMEOUT_MS * 1000);
}

static void on_session(struct wallet *w, const json_t *m)
{
	uint8_t ch[32];
	uint64_t conn;
	const char *id = wallet_json_str(m, "id"), *tag = wallet_json_str(m, "idTag");
	char a[WS_U256_DEC_SIZE], b[WS_U256_DEC_SIZE];

	if (w->st != W_STARTING || !id || strcmp(id, "s1") != 0) {
		fail(w, "session: unexpected");
		return;
	}
	wallet_ledger_init(&w->l, &w->offer);
	memcpy(w->l.channel, w->channel_id, 32);
	if (wallet_json_hex(m, "session", w->l.session, 32) || wallet_json_hex(m, "channelId", ch, 32) ||
	    wallet_json_uint(m, "connector", &conn) || wallet_json_amount(m, "base", &w->l.base) ||
	    wallet_json_amount(m, "highest", &w->l.highest_start) || wallet_json_uint(m, "meterStartMwh", &w->l.meter_start) ||
	    !tag) {
		fail(w, "session: malformed");
		return;
	}
	if (memcmp(ch, w->channel_id, 32) != 0 || conn != w->o.connector) {
		fail(w, "session: not our channel or connector");
		return;
	}
	if (ws_u256_cmp(&w->l.base, &w->deposit) > 0) {
		fail(w, "session: base above our deposit");
		return;
	}
	w->have_session = true;
	w->l.last_meter = w->l.meter_start;
	w->st = W_RUNNING;
	progress("session started, idTag %s, base %s, highest %s, meter %" PRIu64 " mWh", tag,
		 dec(&w->l.base, a), dec(&w->l.highest_start, b), w->l.meter_start);
}

static void late_cb(lws_sorted_usec_list_t *sul)
{
	struct late_voucher *lv = (struct late_voucher *)sul, **pp;
	struct wallet *w = lv->w;

	for (pp = &w->late; *pp; pp = &(*pp)->next)
		if (*pp == lv) {
			*pp = lv->next;
			break;
		}
	if (w->wsi && !w->closing) {
		progress("sending the voucher late (--pay-late-ms %u)", w->o.pay_late_ms);
		send_text(w, lv->text);
	}
	free(lv->text);
	free(lv);
}

/* Signs and sends a voucher for amount (cumulative). */
static void pay(struct wallet *w, const ws_u256 *amount)
{
	uint8_t digest[32], sig[65];
	const uint8_t *channel = w->o.have_other_channel ? w->o.other_channel : w->channel_id;
	const uint8_t *key = w->o.sign_with_stranger ? w->stranger : w->use_skey ? w->skey : w->key;
	char h[WS_HEX_STR_SIZE(32)], sh[WS_HEX_STR_SIZE(65)], a[WS_U256_DEC_SIZE], id[24];
	char sess[WS_HEX_STR_SIZE(32)], *text;
	json_t *m;

	if (w->o.replay_old && w->first_voucher) {
		/* --replay-old: the first voucher again, byte for byte */
		progress("replaying the first voucher instead of paying (--replay-old)");
		send_text(w, w->first_voucher);
		w->vouchers_sent++;
		return;
	}
	ws_eip712_voucher_digest(w->voucher_ds, channel, amount, digest);
	if (ws_ecsig_sign(key, digest, sig) != 0) {
		fail(w, "cannot sign the voucher");
		return;
	}
	ws_hex_format(sig, 65, sh, sizeof(sh));
	snprintf(id, sizeof(id), "v%u", w->vouchers_sent + 1);
	m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "voucher", "id", id, "session",
		      hex32(w->l.session, sess), "channelId", hex32(channel, h), "amount",
		      dec(amount, a), "signature", sh);
	if (!m) {
		fail(w, "out of memory");
		return;
	}
	text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!text) {
		fail(w, "out of memory");
		return;
	}
	w->vouchers_sent++;
	if (!w->o.have_other_channel && !w->o.sign_with_stranger)
		w->l.last_signed = *amount;
	progress("voucher %s: %s%s%s", id, a, w->o.sign_with_stranger ? " (stranger's key)" : "",
		 w->o.have_other_channel ? " (other channel)" : "");
	if (!w->first_voucher)
		w->first_voucher = strdup(text);
	free(w->last_voucher);
	w->last_voucher = strdup(text);
	if (w->o.pay_late_ms) {
		struct late_voucher *lv = calloc(1, sizeof(*lv));
		if (!lv) {
			free(text);
			fail(w, "out of memory");
			return;
		}
		lv->w = w;
		lv->text = text;
		lv->next = w->late;
		w->late = lv;
		lws_sul_schedule(w->ctx, 0, &lv->sul, late_cb, (lws_usec_t)w->o.pay_late_ms * 1000);
		return;
	}
	send_text(w, text);
	free(text);
}

/* §6: a station whose invoices or receipts do not check out gets nothing
 * more; the run ends with a failure status. */
static void bad_station(struct wallet *w, const char *why)
{
	w->distrust = true;
	if (w->exit_code < EXIT_FAIL)
		w->exit_code = EXIT_FAIL;
	send_stop(w, why);
}

static void on_invoice(struct wallet *w, const json_t *m)
{
	uint8_t sess[32];
	uint64_t inc, delivered, meter;
	ws_u256 amount, cap, pay_amount, one = ws_u256_from_u64(1), spent;
	int r;
	char a[WS_U256_DEC_SIZE], b[WS_U256_DEC_SIZE];
	const ws_u256 *held;

	if (w->st != W_RUNNING && w->st != W_STOPPING)
		return;
	if (wallet_json_hex(m, "session", sess, 32) || memcmp(sess, w->l.session, 32) ||
	    wallet_json_uint(m, "increments", &inc) || wallet_json_amount(m, "amount", &amount) ||
	    wallet_json_uint(m, "deliveredMwh", &delivered) || wallet_json_uint(m, "meterMwh", &meter)) {
		note_error(w, "invoice: malformed or not our session; not paid");
		return;
	}
	w->invoices++;
	if (w->st == W_STOPPING)
		return;
	r = wallet_check_invoice(&w->l, inc, &amount);
	if (r == WALLET_E_AMOUNT) {
		note_error(w, "invoice: amount does not match the offer's price; not paid");
		progress("invoice for %" PRIu64 " increments asks %s", inc, dec(&amount, a));
		bad_station(w, "bad invoice");
		return;
	}
	if (r) {
		note_error(w, "invoice: asks for more increments than delivered + prepaid; not paid");
		bad_station(w, "bad invoice");
		return;
	}
	progress("invoice %" PRIu64 " increments: %s (delivered %" PRIu64 " mWh)", inc,
		 dec(&amount, a), delivered);
	if (w->distrust) {
		progress("not paying: this station's receipts or invoices did not check out");
		return;
	}
	if (w->o.stop_paying_after >= 0 && w->vouchers_sent >= (unsigned long)w->o.stop_paying_after) {
		progress("not paying (--stop-paying-after %ld)", w->o.stop_paying_after);
		return;
	}
	/* already covered by credit or an earlier voucher? */
	held = ws_u256_cmp(&w->l.last_signed, &w->l.highest_start) > 0 ? &w->l.last_signed
								     : &w->l.highest_start;
	if (ws_u256_cmp(&amount, held) <= 0 && !w->o.replay_old) {
		progress("invoice already covered by %s", dec(held, b));
		return;
	}
	if (ws_u256_cmp(&amount, &w->deposit) > 0) {
		note_error(w, "invoice above the channel's deposit; not paid");
		send_stop(w, "deposit used up");
		return;
	}
	if (w->o.have_max_amount && (ws_u256_sub(&spent, &amount, &w->l.base) ||
				     ws_u256_cmp(&spent, &w->o.max_amount) > 0)) {
		progress("invoice would exceed --max-amount %s", dec(&w->o.max_amount, b));
		send_stop(w, "max amount");
		return;
	}
	pay_amount = amount;
	if (w->o.pay_less) {
		/* --pay-less: one base unit below the invoice */
		if (ws_u256_sub(&cap, &amount, &one) == 0)
			pay_amount = cap;
		progress("paying one unit less than invoiced (--pay-less)");
	}
	pay(w, &pay_amount);
}

static void on_accepted(struct wallet *w, const json_t *m)
{
	uint8_t sess[32];
	char a[WS_U256_DEC_SIZE];

	if (wallet_json_hex(m, "session", sess, 32) || memcmp(sess, w->l.session, 32) ||
	    wallet_json_amount(m, "amount", &w->allowance_amount) || wallet_json_uint(m, "allowanceMwh", &w->allowance_mwh)) {
		note_error(w, "accepted: malformed");
		return;
	}
	w->vouchers_accepted++;
	progress("accepted %s, allowance %" PRIu64 " mWh", dec(&w->allowance_amount, a),
		 w->allowance_mwh);
	if (w->o.flood && !w->flooded && w->last_voucher) {
		/* --flood N: N copies of the voucher just accepted, in one burst */
		w->flooded = true;
		progress("flooding %u messages (--flood)", w->o.flood);
		for (unsigned i = 0; i < w->o.flood; i++)
			send_text(w, w->last_voucher);
	}
}

static void bad_receipt(struct wallet *w, const char *why)
{
	char msg[160];

	w->receipt_bad = true;
	snprintf(msg, sizeof(msg), "bad receipt: %s; no more payments", why);
	note_error(w, msg);
	bad_station(w, "bad receipt");
}

static void on_receipt(struct wallet *w, json_t *m)
{
	char a[WS_U256_DEC_SIZE];
	ws_u256 due;
	int r;

	if (w->st != W_RUNNING && w->st != W_STOPPING)
		return;
	r = wallet_check_receipt(&w->l, w->receipt_ds, m, false);
	if (r) {
		bad_receipt(w, wallet_check_strerror(r));
		return;
	}
	json_array_append(w->receipts, m);
	wallet_json_amount(m, "amountDue", &due);
	progress("receipt %" PRId64 ": %" PRIu64 " mWh, due %s", w->l.last_seq, w->l.delivered,
		 dec(&due, a));
	if (w->o.max_mwh && w->l.delivered >= w->o.max_mwh)
		send_stop(w, "--max-kwh reached");
}

static void on_ended(struct wallet *w, json_t *m)
{
	uint8_t sess[32];
	const char *reason = wallet_json_str(m, "reason");
	int bad;
	json_t *r = json_object_get(m, "receipt");
	static char reason_buf[32];

	if (!w->have_session || wallet_json_hex(m, "session", sess, 32) || memcmp(sess, w->l.session, 32) || !reason) {
		note_error(w, "ended: malformed or not our session");
		return;
	}
	lws_sul_cancel(&w->sul_stop);
	snprintf(reason_buf, sizeof(reason_buf), "%s", reason);
	progress("session ended: %s", reason_buf);
	bad = wallet_check_receipt(&w->l, w->receipt_ds, r, true);
	if (bad) {
		bad_receipt(w, wallet_check_strerror(bad));
	} else {
		w->final_receipt = json_incref(r);
		json_array_append(w->receipts, r);
	}
	w->st = W_ENDED;
	finish(w, bad ? EXIT_FAIL : EXIT_OK, reason_buf);
}

static void on_error_msg(struct wallet *w, const json_t *m)
{
	const char *code = wallet_json_str(m, "code"), *msg = wallet_json_str(m, "message"), *id = wallet_json_str(m, "id");
	char line[300];

	snprintf(line, sizeof(line), "station error %s%s%s: %s", code ? code : "?",
		 id ? " for " : "", id ? id : "", msg ? msg : "");
	progress("%s", line);
	if (id && id[0] == 'v') {
		w->vouchers_rejected++;
		json_array_append_new(w->errors, json_string(line));
		return;
	}
	if (w->st == W_STARTING && id && !strcmp(id, "s1")) {
		note_error(w, line);
		finish(w, EXIT_FAIL, "refused");
		return;
	}
	json_array_append_new(w->errors, json_string(line));
}

static void on_message(struct wallet *w, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type;

	if (!json_is_object(m) || !(type = wallet_json_str(m, "type"))) {
		json_decref(m);
		if (w->st == W_HELLO) {
			fail(w, "the station's first message is not a protocol message");
			return;
		}
		/* later garbage pays nothing and changes nothing */
		note_error(w, "station sent something that is not a protocol message");
		return;
	}
	if (w->st == W_HELLO) {
		if (strcmp(type, "hello") == 0)
			on_hello(w, m);
		else
			fail(w, "first message is not hello but %s", type);
	} else if (!strcmp(type, "session")) {
		on_session(w, m);
	} else if (!strcmp(type, "invoice")) {
		on_invoice(w, m);
	} else if (!strcmp(type, "accepted")) {
		on_accepted(w, m);
	} else if (!strcmp(type, "receipt")) {
		on_receipt(w, m);
	} else if (!strcmp(type, "suspended")) {
		progress("suspended: %s", wallet_json_str(m, "reason") ? wallet_json_str(m, "reason") : "?");
	} else if (!strcmp(type, "resumed")) {
		progress("resumed");
	} else if (!strcmp(type, "ended")) {
		on_ended(w, m);
	} else if (!strcmp(type, "error")) {
		on_error_msg(w, m);
	} else {
		progress("ignoring a message of type %s", type);
	}
	json_decref(m);
}

/* ---- the WebSocket ----------------------------------------------------------- */

static void check_stop_flags(struct wallet *w)
{
	if (stop_requested && !w->stop_sent && w->st != W_DONE && w->st != W_CLOSE_TX) {
		if (w->have_session && w->st < W_ENDED)
			send_stop(w, "asked to stop");
		else if (w->st < W_STARTING || w->st == W_CHAIN)
			finish(w, EXIT_FAIL, "interrupted");
	}
}

static struct wallet *the_wallet;

static int wallet_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct wallet *w = the_wallet;
	char proto[64];

	(void)user;
	if (!w)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		check_stop_flags(w);
		return 0;
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 ||
		    strcmp(proto, WALLET_SUBPROTOCOL) != 0) {
			note_error(w, "the station did not select the wattstream.wallet.1 subprotocol");
			return 1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		w->wsi = NULL;
		fail(w, "cannot connect to the station: %s", in ? (const char *)in : "?");
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->wsi = wsi;
		progress("connected to %s", w->o.station);
		if (w->st == W_CONNECTING)
			w->st = W_HELLO;
		if (w->w_head || w->closing)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi)) {
			w->rx_len = 0;
			w->rx_too_big = false;
			w->rx_binary = lws_frame_is_binary(wsi);
		}
		if (w->rx_len + len > WALLET_MSG_MAX)
			w->rx_too_big = true;
		else {
			memcpy(w->rx + w->rx_len, in, len);
			w->rx_len += len;
		}
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			return 0;
		if (w->rx_too_big || w->rx_binary) {
			note_error(w, w->rx_binary ? "station sent a binary frame"
						   : "station sent a message above 4096 bytes");
			lws_close_reason(wsi, w->rx_binary ? LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE
							   : LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 NULL, 0);
			finish(w, EXIT_FAIL, "protocol_error");
			return -1;
		}
		on_message(w, w->rx, w->rx_len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct frame *f = w->w_head;
		if (f) {
			int n;
			w->w_head = f->next;
			if (!w->w_head)
				w->w_tail = NULL;
			n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
			free(f);
			if (n < 0)
				return -1;
			if (w->w_head || w->closing)
				lws_callback_on_writable(wsi);
			return 0;
		}
		if (w->closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		w->wsi = NULL;
		if ((w->st == W_CHAIN || w->st == W_CHECK_OFFER) && !w->reconnected) {
			progress("the station closed the connection while the channel is prepared");
		} else if (w->st < W_ENDED && !w->closing) {
			progress("the station closed the connection");
			note_error(w, "connection closed before the session ended");
			finish(w, EXIT_FAIL, "disconnected");
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols wallet_protocols[] = {
	{ WALLET_SUBPROTOCOL, wallet_callback, 0, WALLET_MSG_MAX, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void hello_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct wallet *w = lws_container_of(sul, struct wallet, sul_hello);
	if (w->st <= W_HELLO)
		fail(w, "no hello from the station in time");
}

static int connect_station(struct wallet *w)
{
	struct lws_client_connect_info i;
	const char *prot, *ads, *path;
	char pathbuf[600];
	int port;

	snprintf(w->url_buf, sizeof(w->url_buf), "%s", w->o.station);
	if (lws_parse_uri(w->url_buf, &prot, &ads, &port, &path) ||
	    (strcmp(prot, "ws") && strcmp(prot, "wss")))
		return -EINVAL;
	snprintf(pathbuf, sizeof(pathbuf), "/%s", path);
	memset(&i, 0, sizeof(i));
	i.context = w->ctx;
	i.vhost = w->vh;
	i.address = ads;
	i.port = port;
	i.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
	i.path = pathbuf;
	i.host = ads;
	i.origin = ads;
	i.protocol = WALLET_SUBPROTOCOL;
	i.local_protocol_name = WALLET_SUBPROTOCOL;
	i.ietf_version_or_minus_one = -1;
	w->st = W_CONNECTING;
	lws_sul_schedule(w->ctx, 0, &w->sul_hello, hello_timeout_cb,
			 (lws_usec_t)WALLET_HELLO_TIMEOUT_MS * 1000);
	if (!lws_client_connect_via_info(&i) && w->st == W_CONNECTING)
		return -ECONNREFUSED;
	return 0;
}

/* ---- setup ------------------------------------------------------------------- */

static int load_deployment(struct wallet *w, const char *file)
{
	json_error_t e;
	json_t *d = json_load_file(file, 0, &e), *c, *t;
	const json_t *cid;
	int r = -EINVAL;

	if (!d) {
		fprintf(stderr, "wattstream-wallet: cannot read %s: %s\n", file, e.text);
		return -EINVAL;
	}
	cid = json_object_get(d, "chainId");
	c = json_object_get(d, "contracts");
	if (!json_is_integer(cid) || json_integer_value(cid) <= 0 ||
	    wallet_json_addr(json_object_get(c, "channels"), "address", w->channels) ||
	    wallet_json_addr(json_object_get(c, "registry"), "address", w->registry))
		goto fail;
	w->chain_id = (uint64_t)json_integer_value(cid);
	t = json_object_get(c, "token");
	if (json_is_object(t) && wallet_json_addr(t, "address", w->token))
		goto fail;
	r = 0;
fail:
	if (r)
		fprintf(stderr, "wattstream-wallet: %s is not a deployment JSON (contracts.md)\n", file);
	json_decref(d);
	return r;
}

static int load_key_hex(const char *text, uint8_t key[32])
{
	char buf[80];
	size_t n = strlen(text);

	while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r'))
		n--;
	if (n >= sizeof(buf))
		return -EINVAL;
	if (n == 64) {
		buf[0] = '0';
		buf[1] = 'x';
		memcpy(buf + 2, text, 64);
		buf[66] = 0;
	} else {
		memcpy(buf, text, n);
		buf[n] = 0;
	}
	{
		uint8_t pub[64];
		int r = ws_hex_parse(buf, key, 32);
		explicit_bzero(buf, sizeof(buf));
		if (r)
			return -EINVAL;
		return ws_ecsig_pubkey(key, pub) == 0 ? 0 : -EINVAL;
	}
}

static int address_of(const uint8_t key[32], uint8_t addr[20])
{
	uint8_t pub[64];
	int r = ws_ecsig_pubkey(key, pub);
	if (r == 0)
		ws_address_from_pubkey(pub, addr);
	return r;
}

/* The session key: from the file when it exists, else random (and written
 * to the file, mode 0600, when one is named). */
static int session_key(struct wallet *w)
{
	const char *f = w->o.session_key_file;
	char buf[128], h[WS_HEX_STR_SIZE(32) + 1]; /* + the newline */
	int fd, r;
	ssize_t n;

	if (f && (fd = open(f, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return -EINVAL;
		buf[n] = 0;
		r = load_key_hex(buf, w->skey);
		explicit_bzero(buf, sizeof(buf));
		if (r)
			return r;
		progress("session key read from %s", f);
		return address_of(w->skey, w->saddr);
	}
	r = ws_ecsig_keygen(w->skey);
	if (r)
		return r;
	if (f) {
		fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		ws_hex_format(w->skey, 32, h, WS_HEX_STR_SIZE(32));
		strcat(h, "\n");
		n = write(fd, h, strlen(h));
		explicit_bzero(h, sizeof(h));
		if (n < 0 || fsync(fd) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		close(fd);
		progress("new session key written to %s", f);
	}
	return address_of(w->skey, w->saddr);
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void *stdin_thread(void *arg)
{
	char line[256];

	(void)arg;
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "stop", 4) == 0 && (line[4] == '\n' || line[4] == 0 ||
						      line[4] == '\r')) {
			stop_requested = 1;
			lws_cancel_service(signal_ctx);
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: wattstream-wallet --rpc URL --deployment FILE --key-env NAME\n"
	      "         --station ws[s]://HOST:PORT/PATH --connector N\n"
	      "         [--channel 0xID] [--deposit AMOUNT [--permit]] [--mint AMOUNT]\n"
	      "         [--session-key-file FILE] [--ca FILE]\n"
	      "         [--max-kwh X] [--max-amount AMOUNT]\n"
	      "       misbehaviour (tests): --stop-paying-after N  --pay-late-ms N  --pay-less\n"
	      "         --replay-old  --sign-with-stranger  --other-channel 0xID  --flood N\n"
	      "         --request-close-after\n"
	      "Prints the bill as JSON on stdout; progress on stderr.  See docs/wallet.md.\n", f);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	enum { O_RPC = 256, O_DEPLOY, O_KEYENV, O_CHANNEL, O_DEPOSIT, O_STATION, O_CONNECTOR,
	       O_MAXKWH, O_MAXAMOUNT, O_SKFILE, O_CA, O_MINT, O_STOPAFTER, O_LATE, O_LESS,
	       O_REPLAY, O_STRANGER, O_OTHER, O_FLOOD, O_RCLOSE, O_PERMIT, O_HELP };
	static const struct option lo[] = {
		{ "rpc", required_argument, NULL, O_RPC },
		{ "deployment", required_argument, NULL, O_DEPLOY },
		{ "key-env", required_argument, NULL, O_KEYENV },
		{ "channel", required_argument, NULL, O_CHANNEL },
		{ "deposit", required_argument, NULL, O_DEPOSIT },
		{ "mint", required_argument, NULL, O_MINT },
		{ "station", required_argument, NULL, O_STATION },
		{ "connector", required_argument, NULL, O_CONNECTOR },
		{ "max-kwh", required_argument, NULL, O_MAXKWH },
		{ "max-amount", required_argument, NULL, O_MAXAMOUNT },
		{ "session-key-file", required_argument, NULL, O_SKFILE },
		{ "ca", required_argument, NULL, O_CA },
		{ "stop-paying-after", required_argument, NULL, O_STOPAFTER },
		{ "pay-late-ms", required_argument, NULL, O_LATE },
		{ "pay-less", no_argument, NULL, O_LESS },
		{ "replay-old", no_argument, NULL, O_REPLAY },
		{ "sign-with-stranger", no_argument, NULL, O_STRANGER },
		{ "other-channel", required_argument, NULL, O_OTHER },
		{ "flood", required_argument, NULL, O_FLOOD },
		{ "request-close-after", no_argument, NULL, O_RCLOSE },
		{ "permit", no_argument, NULL, O_PERMIT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->stop_paying_after = -1;
	o->connector = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_RPC: o->rpc = optarg; break;
		case O_DEPLOY: o->deployment = optarg; break;
		case O_KEYENV: o->key_env = optarg; break;
		case O_STATION: o->station = optarg; break;
		case O_SKFILE: o->session_key_file = optarg; break;
		case O_CA: o->ca = optarg; break;
		case O_CHANNEL:
			if (ws_hex_parse(optarg, o->channel, 32))
				goto bad;
			o->have_channel = true;
			break;
		case O_OTHER:
			if (ws_hex_parse(optarg, o->other_channel, 32))
				goto bad;
			o->have_other_channel = true;
			break;
		case O_DEPOSIT:
			if (ws_u256_from_dec(&o->deposit, optarg) || ws_u256_is_zero(&o->deposit))
				goto bad;
			o->have_deposit = true;
			break;
		case O_MINT:
			if (ws_u256_from_dec(&o->mint, optarg) || ws_u256_is_zero(&o->mint))
				goto bad;
			o->have_mint = true;
			break;
		case O_MAXAMOUNT:
			if (ws_u256_from_dec(&o->max_amount, optarg))
				goto bad;
			o->have_max_amount = true;
			break;
		case O_CONNECTOR:
			if (parse_uint(optarg, 1000000, &v) || v == 0)
				goto bad;
			o->connector = (unsigned)v;
			break;
		case O_MAXKWH: {
			char *end;
			double d = strtod(optarg, &end);
			if (*end || !(d > 0) || d > 1e9)
				goto bad;
			o->max_mwh = (uint64_t)(d * 1e6 + 0.5);
			break;
		}
		case O_STOPAFTER:
			if (parse_uint(optarg, 1000000000, &v))
				goto bad;
			o->stop_paying_after = (long)v;
			break;
		case O_LATE:
			if (parse_uint(optarg, 3600000, &v))
				goto bad;
			o->pay_late_ms = (unsigned)v;
			break;
		case O_FLOOD:
			if (parse_uint(optarg, 100000, &v) || v == 0)
				goto bad;
			o->flood = (unsigned)v;
			break;
		case O_LESS: o->pay_less = true; break;
		case O_REPLAY: o->replay_old = true; break;
		case O_STRANGER: o->sign_with_stranger = true; break;
		case O_RCLOSE: o->request_close_after = true; break;
		case O_PERMIT: o->permit = true; break;
		case O_HELP: usage(stdout); exit(EXIT_OK);
		default: goto bad_silent;
		}
	}
	if (optind != argc || !o->rpc || !o->deployment || !o->key_env || !o->station) {
		fprintf(stderr, "wattstream-wallet: --rpc, --deployment, --key-env and --station are required\n");
		goto bad_silent;
	}
	if (o->permit && (o->have_channel || !o->have_deposit)) {
		fprintf(stderr, "wattstream-wallet: --permit opens a new channel: give --deposit, not --channel\n");
		goto bad_silent;
	}
	if (!o->have_channel && !o->have_deposit) {
		fprintf(stderr, "wattstream-wallet: give --channel (reuse, --deposit tops up) or --deposit (open)\n");
		goto bad_silent;
	}
	return 0;
bad:
	for (const struct option *p = lo; p->name; p++)
		if (p->val == c)
			fprintf(stderr, "wattstream-wallet: bad value for --%s: %s\n", p->name, optarg);
bad_silent:
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static struct wallet W;
	struct wallet *w = &W;
	struct lws_context_creation_info info;
	struct ws_chain_config cc;
	const char *keytext;
	pthread_t th;
	char a[WS_ADDRESS_STR_SIZE];
	int r;

	if (parse_args(&w->o, argc, argv))
		return EXIT_USAGE;
	keytext = getenv(w->o.key_env);
	if (!keytext || load_key_hex(keytext, w->key) || address_of(w->key, w->addr)) {
		fprintf(stderr, "wattstream-wallet: env %s holds no valid private key\n", w->o.key_env);
		return EXIT_USAGE;
	}
	if (load_deployment(w, w->o.deployment))
		return EXIT_USAGE;
	w->errors = json_array();
	w->receipts = json_array();
	w->txs = json_array();
	w->rx = malloc(WALLET_MSG_MAX);
	if (!w->errors || !w->receipts || !w->txs || !w->rx)
		return EXIT_FAIL;
	if (w->o.have_channel) {
		memcpy(w->channel_id, w->o.channel, 32);
		w->have_channel = true;
	}
	r = session_key(w);
	if (r) {
		fprintf(stderr, "wattstream-wallet: session key: %s\n", strerror(-r));
		return EXIT_USAGE;
	}
	w->use_skey = true;
	if (w->o.sign_with_stranger && ws_ecsig_keygen(w->stranger))
		return EXIT_FAIL;
	ws_address_format(w->addr, a);
	progress("driver %s", a);
	ws_address_format(w->saddr, a);
	progress("session key %s", a);

	{
		ws_eip712_domain d = { .chain_id = ws_u256_from_u64(w->chain_id) };
		d.name = "Wattstream";
		d.version = "1";
		memcpy(d.verifying_contract, w->channels, 20);
		ws_eip712_domain_separator(&d, w->voucher_ds);
		d.name = "Wattstream Receipts";
		ws_eip712_domain_separator(&d, w->receipt_ds);
		d.name = "Wattstream Offers";
		memcpy(d.verifying_contract, w->registry, 20);
		ws_eip712_domain_separator(&d, w->offer_ds);
	}

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	w->ctx = lws_create_context(&info);
	if (!w->ctx)
		return EXIT_FAIL;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "wallet";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = wallet_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = w->o.ca;
	w->vh = lws_create_vhost(w->ctx, &info);
	memset(&cc, 0, sizeof(cc));
	cc.rpc.url = w->o.rpc;
	cc.chain_id = w->chain_id;
	cc.receipt_poll_ms = 200;
	if (!w->vh || ws_chain_new(&w->chain, w->ctx, &cc) != 0) {
		fprintf(stderr, "wattstream-wallet: cannot set up the loop or the RPC client (%s)\n",
			w->o.rpc);
		lws_context_destroy(w->ctx);
		return EXIT_USAGE;
	}
	the_wallet = w;
	signal_ctx = w->ctx;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&th, NULL, stdin_thread, NULL) == 0)
		pthread_detach(th);

	r = connect_station(w);
	if (r) {
		fail(w, "cannot connect to %s", w->o.station);
	}
	while (lws_service(w->ctx, 0) >= 0) {
		if (w->st == W_DONE && (!w->wsi || w->linger_over))
			break;
		check_stop_flags(w);
	}

	while (w->late) {
		struct late_voucher *lv = w->late;
		w->late = lv->next;
		lws_sul_cancel(&lv->sul);
		free(lv->text);
		free(lv);
	}
	lws_sul_cancel(&w->sul_stop);
	lws_sul_cancel(&w->sul_hello);
	lws_sul_cancel(&w->sul_linger);
	w->chain = ws_chain_free(w->chain);
	the_wallet = NULL;
	lws_context_destroy(w->ctx);
	while (w->w_head) {
		struct frame *f = w->w_head;
		w->w_head = f->next;
		free(f);
	}
	explicit_bzero(w->key, sizeof(w->key));
	explicit_bzero(w->skey, sizeof(w->skey));
	explicit_bzero(w->stranger, sizeof(w->stranger));
	wallet_offer_clear(&w->offer);
	free(w->first_voucher);
	free(w->last_voucher);
	free(w->rx);
	json_decref(w->final_receipt);
	json_decref(w->receipts);
	json_decref(w->errors);
	json_decref(w->txs);
	return w->exit_code;
}
