/* chain.c: typed Ethereum calls and the station's WattstreamChannels calls
 * over eth_rpc (see chain.h).
 *
 * Each public call is one heap "op" that walks a few steps, one JSON-RPC
 * call at a time, and ends by calling its callback once.  A claim is the
 * longest: chain id (cached after the first), pending nonce, tip, base fee,
 * gas estimate, sign, send, then receipt polls on an lws_sul timer.  Every
 * field taken from a node goes through eth_rpc's strict decoders; ABI
 * return data through abi's bounded decoder.
 * Cost: a few small allocations per op; a claim makes 5-6 round trips plus
 * one receipt poll per receipt_poll_ms until mined. */
#include "wattstream/chain.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/abi.h"
#include "wattstream/address.h"
#include "wattstream/eth_tx.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"
#include "wattstream/log.h"

#define CHAIN_MAX_RETURN_BYTES (64u << 10)
#define CHAIN_MAX_LOG_DATA (64u << 10)
#define CHAIN_MAX_LOGS 10000
#define CHAIN_MAX_CLAIMS 256
#define CHAIN_MAX_FILTER_IDS 1024
#define CHAIN_FALLBACK_TIP_WEI 1000000000ull /* 1 gwei */
#define CHAIN_FEE_HISTORY_BLOCKS "0x5"

enum op_step {
	S_U64, S_TIP, S_FEEHIST, S_BASEFEE, S_CALL, S_SEND, S_RECEIPT, S_LOGS,
	S_CLAIM_CHAINID, S_CLAIM_NONCE, S_CLAIM_ESTIMATE, S_CLAIM_SEND,
};
enum op_kind { OP_U64, OP_FEES, OP_CALL, OP_SEND, OP_RECEIPT, OP_LOGS, OP_CHANNEL,
	       OP_CLAIM, OP_CLOSES };
enum u64_kind { U64_PLAIN, U64_CHAIN_ID }; /* calloc gives U64_PLAIN */

struct chain_op {
	struct chain_op *prev, *next;
	ws_chain *c;
	enum op_kind kind;
	enum op_step step;
	enum u64_kind u64_kind;
	void (*cb)(void);	/* cast back per kind */
	void *user;
	lws_sorted_usec_list_t sul;	/* receipt poll */
	uint64_t deadline_us;
	uint8_t hash[32];		/* tx hash: send, receipt, claim */
	uint8_t id[32];			/* channel id of OP_CHANNEL */
	struct ws_chain_fees fees;
	/* claim */
	uint8_t contract[20];
	uint8_t seckey[32];
	uint8_t from[20];
	uint8_t *calldata;
	size_t calldata_len;
	uint64_t chain_id, nonce, gas_limit;
	uint8_t *raw;
	size_t raw_len;
};

struct ws_chain {
	struct lws_context *ctx;
	ws_eth_rpc *rpc;
	uint64_t chain_id;		/* configured, or learnt (0: unknown) */
	bool chain_id_fixed;
	unsigned poll_ms, wait_ms;
	uint32_t gas_margin_pct, fee_mult;
	ws_u256 fee_cap;
	struct chain_op *ops;
};

const char *ws_chain_strerror(int code)
{
	switch (code) {
	case WS_CHAIN_E_BAD_VALUE: return "malformed value in the node's answer";
	case WS_CHAIN_E_NOT_MINED: return "transaction not mined in time";
	case WS_CHAIN_E_REVERTED: return "transaction reverted";
	case WS_CHAIN_E_NO_CHANNEL: return "no such channel";
	case WS_CHAIN_E_WRONG_CHAIN: return "node is on another chain";
	case WS_CHAIN_E_NO_BASEFEE: return "chain has no EIP-1559 base fee";
	default: return ws_eth_rpc_strerror(code);
	}
}

/* ---- ops ------------------------------------------------------------------ */

static struct chain_op *op_new(ws_chain *c, enum op_kind kind, void (*cb)(void), void *user)
{
	struct chain_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->c = c;
	op->kind = kind;
	op->cb = cb;
	op->user = user;
	op->next = c->ops;
	if (c->ops)
		c->ops->prev = op;
	c->ops = op;
	return op;
}

static void op_free(struct chain_op *op)
{
	ws_chain *c = op->c;
	lws_sul_cancel(&op->sul);
	if (op->prev)
		op->prev->next = op->next;
	else
		c->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	explicit_bzero(op->seckey, sizeof(op->seckey));
	free(op->calldata);
	free(op->raw);
	free(op);
}

static void op_rpc_cb(void *user, const struct ws_eth_rpc_reply *rep);

/* Issues one JSON-RPC call for op (params stolen). */
static int op_call(struct chain_op *op, enum op_step step, const char *method, json_t *params)
{
	op->step = step;
	return ws_eth_rpc_call(op->c->rpc, method, params, op_rpc_cb, op);
}

static json_t *hex_json(const void *p, size_t n)
{
	size_t cap = WS_HEX_STR_SIZE(n);
	char *s = malloc(cap);
	if (!s)
		return NULL;
	json_t *j = NULL;
	if (ws_hex_format(p, n, s, cap) == 0)
		j = json_string(s);
	free(s);
	return j;
}

static json_t *quantity_json(uint64_t v)
{
	char s[19];
	ws_eth_rpc_format_quantity_u64(v, s);
	return json_string(s);
}

/* ---- finishing each kind -------------------------------------------------- */

static void finish_u64(struct chain_op *op, int err, uint64_t v)
{
	((ws_chain_u64_cb)op->cb)(op->user, err, v);
	op_free(op);
}

static void finish_fees(struct chain_op *op, int err)
{
	((ws_chain_fees_cb)op->cb)(op->user, err, err ? NULL : &op->fees);
	op_free(op);
}

static void finish_bytes(struct chain_op *op, int err, const uint8_t *p, size_t n)
{
	((ws_chain_bytes_cb)op->cb)(op->user, err, p, n);
	op_free(op);
}

static void finish_hash(struct chain_op *op, int err)
{
	((ws_chain_hash_cb)op->cb)(op->user, err, err ? NULL : op->hash);
	op_free(op);
}

static void finish_logs(struct chain_op *op, int err, const struct ws_chain_log *l, size_t n);

static void finish_claim(struct chain_op *op, int err, const struct ws_chain_receipt *rc)
{
	struct ws_chain_tx_result t = { .receipt = rc, .nonce = op->nonce,
					.gas_limit = op->gas_limit };
	memcpy(t.tx_hash, op->hash, 32);
	/* before the send there is no transaction to speak of */
	((ws_chain_tx_cb)op->cb)(op->user, err, op->raw ? &t : NULL);
	op_free(op);
}

static void finish_receipt(struct chain_op *op, int err, const struct ws_chain_receipt *rc)
{
	if (op->kind == OP_CLAIM) {
		finish_claim(op, err, rc);
		return;
	}
	((ws_chain_receipt_cb)op->cb)(op->user, err, rc);
	op_free(op);
}

/* Ends op with err, whatever its kind (for failures at any step). */
static void op_fail(struct chain_op *op, int err)
{
	switch (op->kind) {
	case OP_U64: finish_u64(op, err, 0); break;
	case OP_FEES: finish_fees(op, err); break;
	case OP_CALL: finish_bytes(op, err, NULL, 0); break;
	case OP_SEND: finish_hash(op, err); break;
	case OP_RECEIPT: finish_receipt(op, err, NULL); break;
	case OP_LOGS:
	case OP_CLOSES: finish_logs(op, err, NULL, 0); break;
	case OP_CHANNEL:
		((ws_chain_channel_cb)op->cb)(op->user, err, NULL);
		op_free(op);
		break;
	case OP_CLAIM: finish_claim(op, err, NULL); break;
	}
}

/* ---- decoding ------------------------------------------------------------- */

static int decode_log(const json_t *o, struct ws_chain_log *l, uint8_t **data)
{
	json_t *topics = json_object_get(o, "topics");
	json_t *removed = json_object_get(o, "removed");
	size_t i;
	json_t *t;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o) || !json_is_array(topics) || json_array_size(topics) > 4)
		return WS_CHAIN_E_BAD_VALUE;
	if (ws_eth_rpc_data_fixed(json_object_get(o, "address"), l->address, 20) ||
	    ws_eth_rpc_quantity_u64(json_object_get(o, "blockNumber"), &l->block_number) ||
	    ws_eth_rpc_quantity_u64(json_object_get(o, "logIndex"), &l->log_index) ||
	    ws_eth_rpc_data_fixed(json_object_get(o, "transactionHash"), l->tx_hash, 32))
		return WS_CHAIN_E_BAD_VALUE;
	json_array_foreach(topics, i, t) {
		if (ws_eth_rpc_data_fixed(t, l->topics[i], 32))
			return WS_CHAIN_E_BAD_VALUE;
	}
	l->n_topics = (unsigned)json_array_size(topics);
	if (removed && !json_is_boolean(removed))
		return WS_CHAIN_E_BAD_VALUE;
	l->removed = removed && json_is_true(removed);
	int r = ws_eth_rpc_data_alloc(json_object_get(o, "data"), CHAIN_MAX_LOG_DATA, data,
				      &l->data_len);
	if (r == -ENOMEM)
		return r;
	if (r)
		return WS_CHAIN_E_BAD_VALUE;
	l->data = *data;
	return 0;
}

/* Decodes a JSON array of logs into a malloc'd array (+ their data). */
static int decode_logs(const json_t *arr, struct ws_chain_log **out, uint8_t ***bufs, size_t *n)
{
	size_t count = json_array_size(arr);
	if (!json_is_array(arr) || count > CHAIN_MAX_LOGS)
		return WS_CHAIN_E_BAD_VALUE;
	struct ws_chain_log *logs = calloc(count ? count : 1, sizeof(*logs));
	uint8_t **data = calloc(count ? count : 1, sizeof(*data));
	int r = 0;
	if (!logs || !data) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		r = decode_log(json_array_get(arr, i), &logs[i], &data[i]);
		if (r)
			goto fail;
	}
	*out = logs;
	*bufs = data;
	*n = count;
	return 0;
fail:
	for (size_t i = 0; data && i < count; i++)
		free(data[i]);
	free(data);
	free(logs);
	return r;
}

static void free_logs(struct ws_chain_log *logs, uint8_t **bufs, size_t n)
{
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(logs);
}

int ws_chain_decode_channel(const uint8_t *p, size_t len, struct ws_chain_channel *out)
{
	ws_abi_view v = { p, len };
	struct ws_chain_channel ch;

	/* a static struct returns inline: exactly seven words */
	if (len != 7 * 32)
		return WS_CHAIN_E_BAD_VALUE;
	memset(&ch, 0, sizeof(ch));
	if (ws_abi_dec_address(&v, 0, ch.sender) ||
	    ws_abi_dec_u64(&v, 1, &ch.close_requested_at) ||
	    ws_abi_dec_address(&v, 2, ch.receiver) ||
	    ws_abi_dec_address(&v, 3, ch.token) ||
	    ws_abi_dec_address(&v, 4, ch.session_key) ||
	    ws_abi_dec_u256(&v, 5, &ch.deposit) ||
	    ws_abi_dec_u256(&v, 6, &ch.claimed))
		return WS_CHAIN_E_BAD_VALUE;
	/* uint128 fields; the contract never claims above the deposit */
	if (ch.deposit.w[2] || ch.deposit.w[3] || ch.claimed.w[2] || ch.claimed.w[3] ||
	    ws_u256_cmp(&ch.claimed, &ch.deposit) > 0)
		return WS_CHAIN_E_BAD_VALUE;
	*out = ch;
	return 0;
}

static int decode_receipt(const json_t *o, const uint8_t want[32], struct ws_chain_receipt *rc,
			  struct ws_chain_log **logs, uint8_t ***bufs)
{
	uint64_t status;
	json_t *egp = json_object_get(o, "effectiveGasPrice");

	memset(rc, 0, sizeof(*rc));
	if (!json_is_object(o) ||
	    ws_eth_rpc_data_fixed(json_object_get(o, "transactionHash"), rc->tx_hash, 32) ||
	    memcmp(rc->tx_hash, want, 32) != 0 ||
	    ws_eth_rpc_quantity_u64(json_object_get(o, "status"), &status) || status > 1 ||
	    ws_eth_rpc_quantity_u64(json_object_get(o, "blockNumber"), &rc->block_number) ||
	    ws_eth_rpc_quantity_u64(json_object_get(o, "gasUsed"), &rc->gas_used) ||
	    (egp && ws_eth_rpc_quantity_u256(egp, &rc->effective_gas_price)))
		return WS_CHAIN_E_BAD_VALUE;
	rc->status = status == 1;
	int r = decode_logs(json_object_get(o, "logs"), logs, bufs, &rc->n_logs);
	if (r)
		return r;
	rc->logs = *logs;
	return 0;
}

int ws_chain_check_logs(const json_t *arr, size_t *n_logs)
{
	struct ws_chain_log *logs = NULL;
	uint8_t **bufs = NULL;
	size_t n = 0;
	int r = decode_logs(arr, &logs, &bufs, &n);
	if (r == 0 && n_logs)
		*n_logs = n;
	free_logs(logs, bufs, n);
	return r;
}

int ws_chain_check_receipt(const json_t *obj, const uint8_t tx_hash[32], size_t *n_logs)
{
	struct ws_chain_receipt rc;
	struct ws_chain_log *logs = NULL;
	uint8_t **bufs = NULL;
	int r = decode_receipt(obj, tx_hash, &rc, &logs, &bufs);
	if (r == 0) {
		if (n_logs)
			*n_logs = rc.n_logs;
		free_logs(logs, bufs, rc.n_logs);
	}
	return r;
}

/* ---- receipt polling ------------------------------------------------------ */

static void receipt_poll(struct chain_op *op);

static void poll_cb(lws_sorted_usec_list_t *sul)
{
	receipt_poll(lws_container_of(sul, struct chain_op, sul));
}

static void receipt_poll(struct chain_op *op)
{
	json_t *params = json_pack("[o]", hex_json(op->hash, 32));
	int r = params ? op_call(op, S_RECEIPT, "eth_getTransactionReceipt", params) : -ENOMEM;
	if (r)
		finish_receipt(op, r, NULL);
}

static void receipt_again(struct chain_op *op, int last_err)
{
	uint64_t now = (uint64_t)lws_now_usecs();
	if (now >= op->deadline_us) {
		finish_receipt(op, last_err ? last_err : WS_CHAIN_E_NOT_MINED, NULL);
		return;
	}
	uint64_t wait = (uint64_t)op->c->poll_ms * 1000;
	if (wait > op->deadline_us - now)
		wait = op->deadline_us - now;
	lws_sul_schedule(op->c->ctx, 0, &op->sul, poll_cb, (lws_usec_t)wait);
}

static void receipt_start(struct chain_op *op)
{
	op->deadline_us = (uint64_t)lws_now_usecs() + (uint64_t)op->c->wait_ms * 1000;
	receipt_poll(op);
}

static void on_receipt(struct chain_op *op, const struct ws_eth_rpc_reply *rep)
{
	if (rep->err == WS_ETH_RPC_E_TRANSPORT || rep->err == WS_ETH_RPC_E_TIMEOUT ||
	    rep->err == WS_ETH_RPC_E_HTTP) {
		receipt_again(op, 0);	/* the node is away: keep waiting */
		return;
	}
	if (rep->err) {
		finish_receipt(op, rep->err, NULL);
		return;
	}
	if (json_is_null(rep->result)) {
		receipt_again(op, 0);
		return;
	}
	struct ws_chain_receipt rc;
	struct ws_chain_log *logs = NULL;
	uint8_t **bufs = NULL;
	int r = decode_receipt(rep->result, op->hash, &rc, &logs, &bufs);
	if (r) {
		finish_receipt(op, r, NULL);
		return;
	}
	size_t n = rc.n_logs;
	finish_receipt(op, rc.status ? 0 : WS_CHAIN_E_REVERTED, &rc);
	free_logs(logs, bufs, n);
}

/* ---- fees ----------------------------------------------------------------- */

static void claim_after_fees(struct chain_op *op);

static void fees_next_basefee(struct chain_op *op)
{
	json_t *params = json_pack("[sb]", "latest", 0);
	int r = params ? op_call(op, S_BASEFEE, "eth_getBlockByNumber", params) : -ENOMEM;
	if (r)
		op_fail(op, r);
}

static void fees_start(struct chain_op *op)
{
	int r = op_call(op, S_TIP, "eth_maxPriorityFeePerGas", json_array());
	if (r)
		op_fail(op, r);
}

/* Median of the first reward column of an eth_feeHistory answer. */
static int fee_history_tip(const json_t *res, ws_u256 *tip)
{
	json_t *reward = json_object_get(res, "reward");
	size_t n = json_array_size(reward), i;
	ws_u256 v[16];
	json_t *row;

	if (!json_is_array(reward) || n == 0 || n > 16)
		return WS_CHAIN_E_BAD_VALUE;
	json_array_foreach(reward, i, row) {
		if (!json_is_array(row) || json_array_size(row) != 1 ||
		    ws_eth_rpc_quantity_u256(json_array_get(row, 0), &v[i]))
			return WS_CHAIN_E_BAD_VALUE;
	}
	for (size_t a = 1; a < n; a++)	/* insertion sort of <= 16 */
		for (size_t b = a; b > 0 && ws_u256_cmp(&v[b - 1], &v[b]) > 0; b--) {
			ws_u256 t = v[b];
			v[b] = v[b - 1];
			v[b - 1] = t;
		}
	*tip = v[n / 2];
	return 0;
}

static void on_fees(struct chain_op *op, const struct ws_eth_rpc_reply *rep)
{
	ws_chain *c = op->c;
	int r;

	switch (op->step) {
	case S_TIP:
		if (rep->err == 0) {
			if (ws_eth_rpc_quantity_u256(rep->result, &op->fees.max_priority_fee)) {
				op_fail(op, WS_CHAIN_E_BAD_VALUE);
				return;
			}
			fees_next_basefee(op);
			return;
		}
		if (rep->err != WS_ETH_RPC_E_RPC) {
			op_fail(op, rep->err);
			return;
		}
		/* the node lacks the method: estimate from recent blocks */
		op->fees.tip_from_fallback = true;
		json_t *params = json_pack("[ss[i]]", CHAIN_FEE_HISTORY_BLOCKS, "latest", 50);
		r = params ? op_call(op, S_FEEHIST, "eth_feeHistory", params) : -ENOMEM;
		if (r)
			op_fail(op, r);
		return;
	case S_FEEHIST:
		if (rep->err && rep->err != WS_ETH_RPC_E_RPC) {
			op_fail(op, rep->err);
			return;
		}
		if (rep->err || fee_history_tip(rep->result, &op->fees.max_priority_fee))
			op->fees.max_priority_fee = ws_u256_from_u64(CHAIN_FALLBACK_TIP_WEI);
		fees_next_basefee(op);
		return;
	case S_BASEFEE: {
		if (rep->err) {
			op_fail(op, rep->err);
			return;
		}
		json_t *bf = json_object_get(rep->result, "baseFeePerGas");
		if (!json_is_object(rep->result)) {
			op_fail(op, WS_CHAIN_E_BAD_VALUE);
			return;
		}
		if (!bf) {
			op_fail(op, WS_CHAIN_E_NO_BASEFEE);
			return;
		}
		if (ws_eth_rpc_quantity_u256(bf, &op->fees.base_fee)) {
			op_fail(op, WS_CHAIN_E_BAD_VALUE);
			return;
		}
		ws_u256 max;
		if (ws_u256_mul_u64(&max, &op->fees.base_fee, c->fee_mult) ||
		    ws_u256_add(&max, &max, &op->fees.max_priority_fee)) {
			op_fail(op, WS_CHAIN_E_BAD_VALUE);
			return;
		}
		if (!ws_u256_is_zero(&c->fee_cap) && ws_u256_cmp(&max, &c->fee_cap) > 0)
			max = c->fee_cap;
		if (ws_u256_cmp(&op->fees.max_priority_fee, &max) > 0)
			op->fees.max_priority_fee = max;
		op->fees.max_fee = max;
		if (op->kind == OP_CLAIM)
			claim_after_fees(op);
		else
			finish_fees(op, 0);
		return;
	}
	default:
		abort();
	}
}

/* ---- claim ---------------------------------------------------------------- */

static void claim_after_fees(struct chain_op *op)
{
	json_t *tx = json_pack("{s:o, s:o, s:o}", "from", hex_json(op->from, 20),
			       "to", hex_json(op->contract, 20),
			       "data", hex_json(op->calldata, op->calldata_len));
	json_t *params = tx ? json_pack("[o]", tx) : NULL;
	int r = params ? op_call(op, S_CLAIM_ESTIMATE, "eth_estimateGas", params) : -ENOMEM;
	if (r)
		op_fail(op, r);
}

static void claim_send(struct chain_op *op, uint64_t estimate)
{
	ws_chain *c = op->c;
	ws_eth_tx tx;
	int r;

	if (estimate > UINT64_MAX / (100 + c->gas_margin_pct)) {
		op_fail(op, WS_CHAIN_E_BAD_VALUE);
		return;
	}
	op->gas_limit = estimate * (100 + c->gas_margin_pct) / 100;
	memset(&tx, 0, sizeof(tx));
	tx.chain_id = op->chain_id;
	tx.nonce = op->nonce;
	tx.max_priority_fee_per_gas = op->fees.max_priority_fee;
	tx.max_fee_per_gas = op->fees.max_fee;
	tx.gas_limit = op->gas_limit;
	tx.has_to = true;
	memcpy(tx.to, op->contract, 20);
	tx.data = op->calldata;
	tx.data_len = op->calldata_len;
	r = ws_eth_tx_sign(&tx, op->seckey, &op->raw, &op->raw_len, op->hash);
	explicit_bzero(op->seckey, sizeof(op->seckey));
	if (r) {
		op_fail(op, r);
		return;
	}
	json_t *params = json_pack("[o]", hex_json(op->raw, op->raw_len));
	r = params ? op_call(op, S_CLAIM_SEND, "eth_sendRawTransaction", params) : -ENOMEM;
	if (r)
		op_fail(op, r);
}

/* Whether a send error only says that this very transaction already
 * reached the node (our own retry, or a copy from an earlier attempt). */
static bool send_already_there(const struct ws_eth_rpc_reply *rep)
{
	if (rep->err != WS_ETH_RPC_E_RPC || !rep->rpc_message)
		return false;
	if (strcasestr(rep->rpc_message, "already known") ||
	    strcasestr(rep->rpc_message, "already imported"))
		return true;
	/* after a retry, "nonce too low" means the first copy got in; the
	 * receipt wait tells whether it was ours */
	return rep->attempts > 1 && strcasestr(rep->rpc_message, "nonce too low");
}

/* Node's hash for a sent raw transaction, checked against ours. */
static int sent_hash(const struct ws_eth_rpc_reply *rep, const uint8_t ours[32])
{
	uint8_t h[32];
	if (send_already_there(rep))
		return 0;
	if (rep->err)
		return rep->err;
	if (ws_eth_rpc_data_fixed(rep->result, h, 32) || memcmp(h, ours, 32) != 0)
		return WS_CHAIN_E_BAD_VALUE;
	return 0;
}

static void on_claim(struct chain_op *op, const struct ws_eth_rpc_reply *rep)
{
	ws_chain *c = op->c;
	uint64_t v;
	int r;

	if (op->step == S_CLAIM_SEND) {
		r = sent_hash(rep, op->hash);
		if (r) {
			op_fail(op, r);
			return;
		}
		receipt_start(op);
		return;
	}
	if (rep->err) {
		op_fail(op, rep->err);
		return;
	}
	if (ws_eth_rpc_quantity_u64(rep->result, &v)) {
		op_fail(op, WS_CHAIN_E_BAD_VALUE);
		return;
	}
	switch (op->step) {
	case S_CLAIM_CHAINID:
		if (c->chain_id_fixed && c->chain_id != v) {
			op_fail(op, WS_CHAIN_E_WRONG_CHAIN);
			return;
		}
		c->chain_id = v;
		op->chain_id = v;
		json_t *params = json_pack("[os]", hex_json(op->from, 20), "pending");
		r = params ? op_call(op, S_CLAIM_NONCE, "eth_getTransactionCount", params) : -ENOMEM;
		if (r)
			op_fail(op, r);
		return;
	case S_CLAIM_NONCE:
		op->nonce = v;
		fees_start(op);
		return;
	case S_CLAIM_ESTIMATE:
		claim_send(op, v);
		return;
	default:
		abort();
	}
}

/* ---- the JSON-RPC callback ------------------------------------------------ */

static void on_closes(struct chain_op *op, const struct ws_chain_log *logs, size_t n);

static void op_rpc_cb(void *user, const struct ws_eth_rpc_reply *rep)
{
	struct chain_op *op = user;
	ws_chain *c = op->c;
	uint64_t v;

	switch (op->step) {
	case S_U64:
		if (rep->err) {
			finish_u64(op, rep->err, 0);
		} else if (ws_eth_rpc_quantity_u64(rep->result, &v)) {
			finish_u64(op, WS_CHAIN_E_BAD_VALUE, 0);
		} else if (op->u64_kind == U64_CHAIN_ID && c->chain_id_fixed && v != c->chain_id) {
			finish_u64(op, WS_CHAIN_E_WRONG_CHAIN, v);
		} else {
			if (op->u64_kind == U64_CHAIN_ID)
				c->chain_id = v;
			finish_u64(op, 0, v);
		}
		return;
	case S_TIP:
	case S_FEEHIST:
	case S_BASEFEE:
		on_fees(op, rep);
		return;
	case S_CALL: {
		uint8_t *p = NULL;
		size_t n = 0;
		int r = rep->err;
		const json_t *src = r == 0 ? rep->result :
				    r == WS_ETH_RPC_E_RPC ? rep->rpc_data : NULL;
		/* a revert's data, when the node gives it, is passed on */
		if (src && ws_eth_rpc_data_alloc(src, CHAIN_MAX_RETURN_BYTES, &p, &n) && r == 0)
			r = WS_CHAIN_E_BAD_VALUE;
		if (op->kind == OP_CHANNEL) {
			struct ws_chain_channel ch;
			if (r == 0)
				r = ws_chain_decode_channel(p, n, &ch);
			if (r == 0) {
				memcpy(ch.id, op->id, 32);
				if (ws_address_is_zero(ch.sender))
					r = WS_CHAIN_E_NO_CHANNEL;
			}
			((ws_chain_channel_cb)op->cb)(op->user, r,
						      r == 0 || r == WS_CHAIN_E_NO_CHANNEL ? &ch : NULL);
			op_free(op);
		} else {
			finish_bytes(op, r, p, n);
		}
		free(p);
		return;
	}
	case S_SEND: {
		int r = sent_hash(rep, op->hash);
		finish_hash(op, r);
		return;
	}
	case S_RECEIPT:
		on_receipt(op, rep);
		return;
	case S_LOGS: {
		struct ws_chain_log *logs = NULL;
		uint8_t **bufs = NULL;
		size_t n = 0;
		int r = rep->err ? rep->err : decode_logs(rep->result, &logs, &bufs, &n);
		if (op->kind == OP_CLOSES)
			r ? finish_logs(op, r, NULL, 0) : on_closes(op, logs, n);
		else
			finish_logs(op, r, logs, n);
		free_logs(logs, bufs, n);
		return;
	}
	case S_CLAIM_CHAINID:
	case S_CLAIM_NONCE:
	case S_CLAIM_ESTIMATE:
	case S_CLAIM_SEND:
		on_claim(op, rep);
		return;
	}
	abort();
}

static void finish_logs(struct chain_op *op, int err, const struct ws_chain_log *l, size_t n)
{
	if (op->kind == OP_CLOSES)
		((ws_chain_close_cb)op->cb)(op->user, err, NULL, 0);
	else
		((ws_chain_logs_cb)op->cb)(op->user, err, l, n);
	op_free(op);
}

static void on_closes(struct chain_op *op, const struct ws_chain_log *logs, size_t n)
{
	uint8_t topic0[32];
	struct ws_chain_close_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t k = 0;
	int err = 0;

	if (!reqs) {
		finish_logs(op, -ENOMEM, NULL, 0);
		return;
	}
	ws_keccak256("CloseRequested(bytes32,uint256)", 31, topic0);
	for (size_t i = 0; i < n; i++) {
		const struct ws_chain_log *l = &logs[i];
		if (l->removed)
			continue;
		/* the node filtered by these; a log that does not match is a lie */
		if (memcmp(l->address, op->contract, 20) != 0 || l->n_topics != 2 ||
		    memcmp(l->topics[0], topic0, 32) != 0 || l->data_len != 32) {
			err = WS_CHAIN_E_BAD_VALUE;
			break;
		}
		memcpy(reqs[k].channel_id, l->topics[1], 32);
		ws_u256_from_be(&reqs[k].settle_after, l->data);
		reqs[k].block_number = l->block_number;
		memcpy(reqs[k].tx_hash, l->tx_hash, 32);
		k++;
	}
	((ws_chain_close_cb)op->cb)(op->user, err, err ? NULL : reqs, err ? 0 : k);
	free(reqs);
	op_free(op);
}

/* ---- public API ----------------------------------------------------------- */

int ws_chain_new(ws_chain **ret, struct lws_context *ctx, const struct ws_chain_config *cfg)
{
	ws_chain *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = ws_eth_rpc_new(&c->rpc, ctx, &cfg->rpc);
	if (r) {
		free(c);
		return r;
	}
	c->ctx = ctx;
	c->chain_id = cfg->chain_id;
	c->chain_id_fixed = cfg->chain_id != 0;
	c->poll_ms = cfg->receipt_poll_ms ? cfg->receipt_poll_ms : 1000;
	c->wait_ms = cfg->receipt_timeout_ms ? cfg->receipt_timeout_ms : 180000;
	c->gas_margin_pct = cfg->gas_margin_pct ? cfg->gas_margin_pct : 25;
	c->fee_mult = cfg->max_fee_multiplier ? cfg->max_fee_multiplier : 2;
	c->fee_cap = cfg->max_fee_cap;
	*ret = c;
	return 0;
}

ws_chain *ws_chain_free(ws_chain *c)
{
	if (!c)
		return NULL;
	/* first the client, so that no answer reaches a freed op */
	c->rpc = ws_eth_rpc_free(c->rpc);
	while (c->ops)
		op_free(c->ops);
	free(c);
	return NULL;
}

ws_eth_rpc *ws_chain_rpc(ws_chain *c)
{
	return c->rpc;
}

/* Starts a one-call op; on failure frees it (no callback). */
static int start(struct chain_op *op, enum op_step step, const char *method, json_t *params)
{
	if (!op) {
		json_decref(params);
		return -ENOMEM;
	}
	if (!params) {
		op_free(op);
		return -ENOMEM;
	}
	int r = op_call(op, step, method, params);
	if (r)
		op_free(op);
	return r;
}

int ws_chain_chain_id(ws_chain *c, ws_chain_u64_cb cb, void *user)
{
	struct chain_op *op = op_new(c, OP_U64, (void (*)(void))cb, user);
	if (op)
		op->u64_kind = U64_CHAIN_ID;
	return start(op, S_U64, "eth_chainId", json_array());
}

int ws_chain_block_number(ws_chain *c, ws_chain_u64_cb cb, void *user)
{
	return start(op_new(c, OP_U64, (void (*)(void))cb, user), S_U64, "eth_blockNumber",
		     json_array());
}

int ws_chain_nonce(ws_chain *c, const uint8_t addr[20], ws_chain_u64_cb cb, void *user)
{
	return start(op_new(c, OP_U64, (void (*)(void))cb, user), S_U64,
		     "eth_getTransactionCount", json_pack("[os]", hex_json(addr, 20), "pending"));
}

int ws_chain_fees(ws_chain *c, ws_chain_fees_cb cb, void *user)
{
	return start(op_new(c, OP_FEES, (void (*)(void))cb, user), S_TIP,
		     "eth_maxPriorityFeePerGas", json_array());
}

static json_t *call_object(const uint8_t *from, const uint8_t to[20], const uint8_t *data,
			   size_t len)
{
	json_t *o = json_pack("{s:o, s:o}", "to", hex_json(to, 20), "data", hex_json(data, len));
	if (o && from && json_object_set_new(o, "from", hex_json(from, 20))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int ws_chain_estimate_gas(ws_chain *c, const uint8_t *from, const uint8_t to[20],
			  const uint8_t *data, size_t len, ws_chain_u64_cb cb, void *user)
{
	json_t *o = call_object(from, to, data, len);
	return start(op_new(c, OP_U64, (void (*)(void))cb, user), S_U64, "eth_estimateGas",
		     o ? json_pack("[o]", o) : NULL);
}

int ws_chain_call(ws_chain *c, const uint8_t to[20], const uint8_t *data, size_t len,
		  ws_chain_bytes_cb cb, void *user)
{
	json_t *o = call_object(NULL, to, data, len);
	return start(op_new(c, OP_CALL, (void (*)(void))cb, user), S_CALL, "eth_call",
		     o ? json_pack("[os]", o, "latest") : NULL);
}

int ws_chain_send_raw(ws_chain *c, const uint8_t *raw, size_t len, ws_chain_hash_cb cb,
		      void *user)
{
	struct chain_op *op = op_new(c, OP_SEND, (void (*)(void))cb, user);
	if (op)
		ws_keccak256(raw, len, op->hash);
	return start(op, S_SEND, "eth_sendRawTransaction", json_pack("[o]", hex_json(raw, len)));
}

int ws_chain_wait_receipt(ws_chain *c, const uint8_t hash[32], ws_chain_receipt_cb cb,
			  void *user)
{
	struct chain_op *op = op_new(c, OP_RECEIPT, (void (*)(void))cb, user);
	if (!op)
		return -ENOMEM;
	memcpy(op->hash, hash, 32);
	op->deadline_us = (uint64_t)lws_now_usecs() + (uint64_t)c->wait_ms * 1000;
	return start(op, S_RECEIPT, "eth_getTransactionReceipt", json_pack("[o]", hex_json(hash, 32)));
}

static json_t *filter_json(const struct ws_chain_log_filter *f)
{
	json_t *o = json_object(), *topics = json_array();
	size_t used = 0;

	if (!o || !topics)
		goto fail;
	for (size_t i = 0; i < 4; i++)
		if (f->n_topic_alts[i])
			used = i + 1;
	for (size_t i = 0; i < used; i++) {
		if (!f->n_topic_alts[i]) {
			if (json_array_append_new(topics, json_null()))
				goto fail;
			continue;
		}
		json_t *alts = json_array();
		if (json_array_append_new(topics, alts))
			goto fail;
		for (size_t k = 0; k < f->n_topic_alts[i]; k++)
			if (json_array_append_new(alts, hex_json(f->topic_alts[i][k], 32)))
				goto fail;
	}
	if (json_object_set_new(o, "topics", topics)) {
		topics = NULL;
		goto fail;
	}
	topics = NULL;
	if ((f->address && json_object_set_new(o, "address", hex_json(f->address, 20))) ||
	    json_object_set_new(o, "fromBlock", quantity_json(f->from_block)) ||
	    json_object_set_new(o, "toBlock", f->to_latest ? json_string("latest") :
					      quantity_json(f->to_block)))
		goto fail;
	return o;
fail:
	json_decref(topics);
	json_decref(o);
	return NULL;
}

int ws_chain_get_logs(ws_chain *c, const struct ws_chain_log_filter *f, ws_chain_logs_cb cb,
		      void *user)
{
	json_t *o = filter_json(f);
	return start(op_new(c, OP_LOGS, (void (*)(void))cb, user), S_LOGS, "eth_getLogs",
		     o ? json_pack("[o]", o) : NULL);
}

int ws_chain_get_channel(ws_chain *c, const uint8_t contract[20], const uint8_t id[32],
			 ws_chain_channel_cb cb, void *user)
{
	uint8_t data[4 + 32];
	ws_abi_selector("getChannel(bytes32)", data);
	memcpy(data + 4, id, 32);
	struct chain_op *op = op_new(c, OP_CHANNEL, (void (*)(void))cb, user);
	if (op)
		memcpy(op->id, id, 32);
	json_t *o = call_object(NULL, contract, data, sizeof(data));
	return start(op, S_CALL, "eth_call", o ? json_pack("[os]", o, "latest") : NULL);
}

int ws_chain_claim_calldata(const struct ws_chain_claim *claims, size_t n, uint8_t **out,
			    size_t *len)
{
	ws_abi_enc e;
	int r;

	if (n == 0 || n > CHAIN_MAX_CLAIMS)
		return -EINVAL;
	if (n == 1) {
		r = ws_abi_enc_init(&e, "claim(bytes32,uint256,bytes,bool)");
		if (r)
			return r;
		ws_abi_enc_word(&e, claims[0].channel_id);
		ws_abi_enc_u256(&e, &claims[0].amount);
		ws_abi_enc_bytes(&e, claims[0].sig, 65);
		ws_abi_enc_bool(&e, claims[0].close);
		return ws_abi_enc_finish(&e, out, len);
	}
	r = ws_abi_enc_init(&e, "claimMany((bytes32,uint256,bytes,bool)[])");
	if (r)
		return r;
	ws_abi_enc_array_begin(&e);
	for (size_t i = 0; i < n; i++) {
		ws_abi_enc_tuple_begin(&e);
		ws_abi_enc_word(&e, claims[i].channel_id);
		ws_abi_enc_u256(&e, &claims[i].amount);
		ws_abi_enc_bytes(&e, claims[i].sig, 65);
		ws_abi_enc_bool(&e, claims[i].close);
		ws_abi_enc_tuple_end(&e);
	}
	ws_abi_enc_array_end(&e);
	return ws_abi_enc_finish(&e, out, len);
}

/* Sends a transaction calling contract with calldata (taken over by the op). */
static int send_call(ws_chain *c, const uint8_t contract[20], const struct ws_chain_signer *s,
		     uint8_t *calldata, size_t len, ws_chain_tx_cb cb, void *user)
{
	struct chain_op *op;
	int r;

	op = op_new(c, OP_CLAIM, (void (*)(void))cb, user);
	if (!op) {
		free(calldata);
		return -ENOMEM;
	}
	op->calldata = calldata;
	op->calldata_len = len;
	memcpy(op->contract, contract, 20);
	memcpy(op->seckey, s->seckey, 32);
	memcpy(op->from, s->address, 20);
	/* the chain id goes into the signature: ask the node each time (one
	 * round trip per claim), so a node switched to another chain is
	 * noticed before anything is signed */
	r = op_call(op, S_CLAIM_CHAINID, "eth_chainId", json_array());
	if (r)
		op_free(op);
	return r;
}

int ws_chain_claim(ws_chain *c, const uint8_t contract[20], const struct ws_chain_signer *s,
		   const struct ws_chain_claim *claims, size_t n, ws_chain_tx_cb cb, void *user)
{
	uint8_t *calldata;
	size_t len;
	int r;

	if (!s || !s->seckey)
		return -EINVAL;
	r = ws_chain_claim_calldata(claims, n, &calldata, &len);
	if (r)
		return r;
	return send_call(c, contract, s, calldata, len, cb, user);
}

int ws_chain_send_call(ws_chain *c, const uint8_t contract[20], const struct ws_chain_signer *s,
		       const uint8_t *calldata, size_t len, ws_chain_tx_cb cb, void *user)
{
	if (!s || !s->seckey || !calldata || !len)
		return -EINVAL;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, calldata, len);
	return send_call(c, contract, s, copy, len, cb, user);
}

int ws_chain_close_requests(ws_chain *c, const uint8_t contract[20], uint64_t from_block,
			    const uint8_t (*ids)[32], size_t n_ids, ws_chain_close_cb cb,
			    void *user)
{
	uint8_t topic0[32];
	const uint8_t (*t0)[32] = (const uint8_t (*)[32])topic0;
	struct ws_chain_log_filter f;

	if (n_ids > CHAIN_MAX_FILTER_IDS)
		return -EINVAL;
	ws_keccak256("CloseRequested(bytes32,uint256)", 31, topic0);
	memset(&f, 0, sizeof(f));
	f.address = contract;
	f.topic_alts[0] = t0;
	f.n_topic_alts[0] = 1;
	f.topic_alts[1] = ids;
	f.n_topic_alts[1] = n_ids;
	f.from_block = from_block;
	f.to_latest = true;
	struct chain_op *op = op_new(c, OP_CLOSES, (void (*)(void))cb, user);
	if (op)
		memcpy(op->contract, contract, 20);
	json_t *o = filter_json(&f);
	return start(op, S_LOGS, "eth_getLogs", o ? json_pack("[o]", o) : NULL);
}
