/* eth_rpc.c: JSON-RPC 2.0 over HTTP(S) with the libwebsockets HTTP client,
 * on the loop that owns everything else (see eth_rpc.h for the contract).
 *
 * Each call is one POST on its own connection (no keep-alive: a node's
 * answer then can never be confused with another call's, and a dead
 * connection costs one attempt, not a queue).  Calls wait in a FIFO; at most
 * max_in_flight connections are open.  One lws_sul per call serves as the
 * attempt timeout and then as the backoff timer; one more per client starts
 * queued calls outside of the caller's stack, so callbacks never re-enter.
 * Cost per call: one TCP (+TLS) handshake, the body in memory (bounded by
 * max_response_bytes), one jansson parse. */
#include "wattstream/eth_rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/hex.h"
#include "wattstream/log.h"

#define RPC_PROTOCOL "ws-eth-rpc"
#define RPC_RX_CHUNK 4096

enum req_state { REQ_QUEUED, REQ_INFLIGHT, REQ_BACKOFF };

struct rpc_req {
	struct rpc_req *prev, *next;	/* all calls of the client */
	struct rpc_req *qnext;		/* FIFO of calls waiting for a slot */
	ws_eth_rpc *rpc;
	uint64_t id;
	char *method;
	unsigned char *body;		/* LWS_PRE headroom + JSON */
	size_t body_len;
	ws_eth_rpc_cb cb;
	void *user;
	enum req_state state;
	lws_sorted_usec_list_t sul;	/* attempt timeout, then backoff */
	struct lws *wsi;		/* current attempt, NULL when none */
	bool retry_ok;
	bool in_connect;		/* inside lws_client_connect_via_info */
	int connect_err;		/* failure reported during in_connect */
	unsigned attempts;
	int http_status;
	bool close_delimited;		/* no Content-Length, not chunked */
	char *rx;
	size_t rx_len, rx_cap;
	char detail[128];
};

struct ws_eth_rpc {
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	char *url_copy;			/* lws_parse_uri cuts it in pieces */
	const char *host;
	char *host_header;		/* host[:port] */
	char *path;			/* with the leading '/' */
	int port;
	int ssl_flags;
	unsigned timeout_ms, max_in_flight, max_retries, backoff_ms, max_queue;
	size_t max_response;
	uint64_t next_id;
	unsigned in_flight, n_pending;
	struct rpc_req *all;
	struct rpc_req *qhead, *qtail;
	lws_sorted_usec_list_t kick_sul;
};

static int rpc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			void *in, size_t len);

/* static: a vhost may outlive the client by a few loop turns */
static const struct lws_protocols rpc_protocols[] = {
	{ .name = RPC_PROTOCOL, .callback = rpc_callback },
	{ 0 }
};

const char *ws_eth_rpc_strerror(int code)
{
	switch (code) {
	case 0: return "ok";
	case WS_ETH_RPC_E_RPC: return "node answered an error";
	case WS_ETH_RPC_E_TRANSPORT: return "connection failed";
	case WS_ETH_RPC_E_TIMEOUT: return "timed out";
	case WS_ETH_RPC_E_HTTP: return "HTTP error";
	case WS_ETH_RPC_E_TOO_BIG: return "response too big";
	case WS_ETH_RPC_E_BAD_RESPONSE: return "malformed response";
	case WS_ETH_RPC_E_CANCELLED: return "cancelled";
	default: return code < 0 ? strerror(-code) : "unknown";
	}
}

bool ws_eth_rpc_retry_safe(const char *method)
{
	/* Reads change nothing.  eth_sendRawTransaction is listed on purpose:
	 * the raw bytes carry a fixed nonce and signature, so a second copy
	 * is the same transaction (same hash); the node either accepts the
	 * copy that got lost or answers "already known" / "nonce too low",
	 * which the caller resolves by looking up the receipt of the hash. */
	static const char *const safe[] = {
		"eth_chainId", "eth_blockNumber", "eth_getTransactionCount",
		"eth_maxPriorityFeePerGas", "eth_gasPrice", "eth_getBlockByNumber",
		"eth_feeHistory", "eth_estimateGas", "eth_call",
		"eth_getTransactionReceipt", "eth_getTransactionByHash",
		"eth_getLogs", "eth_getBalance", "eth_getCode", "net_version",
		"web3_clientVersion", "eth_sendRawTransaction",
	};
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strcmp(method, safe[i]) == 0)
			return true;
	return false;
}

/* ---- parsers ------------------------------------------------------------ */

/* The string of v if it is a JSON string without NUL bytes, else NULL. */
static const char *plain_string(const json_t *v, size_t *len)
{
	if (!json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n)
		return NULL;
	*len = n;
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks a QUANTITY's text; returns the digits and their count. */
static int quantity_digits(const json_t *v, const char **digits, size_t *n)
{
	size_t len;
	const char *s = plain_string(v, &len);
	if (!s || len < 3 || s[0] != '0' || s[1] != 'x')
		return -EINVAL;
	s += 2;
	len -= 2;
	for (size_t i = 0; i < len; i++)
		if (hexval(s[i]) < 0)
			return -EINVAL;
	if (len > 1 && s[0] == '0')
		return -EINVAL;	/* one spelling per value, as the spec says */
	*digits = s;
	*n = len;
	return 0;
}

int ws_eth_rpc_quantity_u64(const json_t *v, uint64_t *out)
{
	const char *d;
	size_t n;
	int r = quantity_digits(v, &d, &n);
	if (r < 0)
		return r;
	if (n > 16)
		return -ERANGE;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 4) | (uint64_t)hexval(d[i]);
	*out = x;
	return 0;
}

int ws_eth_rpc_quantity_u256(const json_t *v, ws_u256 *out)
{
	const char *d;
	size_t n;
	int r = quantity_digits(v, &d, &n);
	if (r < 0)
		return r;
	if (n > 64)
		return -ERANGE;
	ws_u256 x = { { 0, 0, 0, 0 } };
	for (size_t i = 0; i < n; i++) {
		size_t pos = n - 1 - i; /* nibble index from the least significant */
		x.w[pos / 16] |= (uint64_t)hexval(d[i]) << (4 * (pos % 16));
	}
	*out = x;
	return 0;
}

int ws_eth_rpc_data_fixed(const json_t *v, uint8_t *out, size_t len)
{
	size_t n;
	const char *s = plain_string(v, &n);
	if (!s || n < 2 || s[0] != '0' || s[1] != 'x')
		return -EINVAL;
	return ws_hex_parse(s, out, len);
}

int ws_eth_rpc_data_alloc(const json_t *v, size_t max, uint8_t **out, size_t *len)
{
	size_t n;
	const char *s = plain_string(v, &n);
	if (!s || n < 2 || s[0] != '0' || s[1] != 'x')
		return -EINVAL;
	if ((n - 2) / 2 > max)
		return -ERANGE;
	return ws_hex_parse_alloc(s, out, len);
}

void ws_eth_rpc_format_quantity_u64(uint64_t v, char out[19])
{
	snprintf(out, 19, "0x%" PRIx64, v);
}

void ws_eth_rpc_format_quantity_u256(const ws_u256 *v, char out[67])
{
	char *p = out;
	bool started = false;
	*p++ = '0';
	*p++ = 'x';
	for (int i = 63; i >= 0; i--) {
		unsigned nib = (unsigned)(v->w[i / 16] >> (4 * (i % 16))) & 0xf;
		if (!nib && !started && i)
			continue;
		started = true;
		*p++ = "0123456789abcdef"[nib];
	}
	*p = '\0';
}

int ws_eth_rpc_parse_response(const char *body, size_t len, uint64_t id,
			      json_t **result, int64_t *err_code, char **err_message,
			      json_t **err_data)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	int r = WS_ETH_RPC_E_BAD_RESPONSE;

	if (!root || !json_is_object(root))
		goto fail;
	size_t vlen;
	const char *ver = plain_string(json_object_get(root, "jsonrpc"), &vlen);
	if (!ver || strcmp(ver, "2.0") != 0)
		goto fail;
	json_t *jid = json_object_get(root, "id");
	json_t *res = json_object_get(root, "result");
	json_t *err = json_object_get(root, "error");
	if (!jid || (res && err) || (!res && !err))
		goto fail;
	if (json_is_null(jid)) {
		/* the node could not read our id: only an error may say so */
		if (!err)
			goto fail;
	} else if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
		   (uint64_t)json_integer_value(jid) != id) {
		goto fail;
	}
	if (res) {
		*result = json_incref(res);
		json_decref(root);
		return 0;
	}
	json_t *code = json_object_get(err, "code");
	json_t *msg = json_object_get(err, "message");
	size_t mlen;
	const char *m = plain_string(msg, &mlen);
	if (!json_is_object(err) || !json_is_integer(code) || !m)
		goto fail;
	char *mcopy = strdup(m);
	if (!mcopy) {
		r = -ENOMEM;
		goto fail;
	}
	json_t *data = json_object_get(err, "data");
	*err_code = json_integer_value(code);
	*err_message = mcopy;
	*err_data = data ? json_incref(data) : NULL;
	json_decref(root);
	return WS_ETH_RPC_E_RPC;
fail:
	json_decref(root);
	return r;
}

/* ---- requests ----------------------------------------------------------- */

static void req_free(struct rpc_req *q)
{
	ws_eth_rpc *r = q->rpc;

	lws_sul_cancel(&q->sul);
	if (q->wsi) {
		lws_set_opaque_user_data(q->wsi, NULL);
		lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		q->wsi = NULL;
	}
	if (q->prev)
		q->prev->next = q->next;
	else
		r->all = q->next;
	if (q->next)
		q->next->prev = q->prev;
	r->n_pending--;
	free(q->method);
	free(q->body);
	free(q->rx);
	free(q);
}

static void schedule_kick(ws_eth_rpc *r);

/* The call is over: tell the caller, forget it. */
static void req_complete(struct rpc_req *q, int err)
{
	struct ws_eth_rpc_reply rep = {
		.err = err, .http_status = q->http_status, .attempts = q->attempts,
		.detail = q->detail, .rpc_message = "",
	};
	json_t *result = NULL, *data = NULL;
	char *msg = NULL;

	if (err == 0) {
		int p = ws_eth_rpc_parse_response(q->rx ? q->rx : "", q->rx_len, q->id,
						  &result, &rep.rpc_code, &msg, &data);
		bool http_ok = q->http_status == 200;
		if (p == 0 && http_ok) {
			rep.result = result;
		} else if (p == WS_ETH_RPC_E_RPC) {
			/* nodes answer some errors with 4xx/5xx and a JSON-RPC body */
			rep.err = WS_ETH_RPC_E_RPC;
			rep.rpc_message = msg;
			rep.rpc_data = data;
			snprintf(q->detail, sizeof(q->detail), "error %" PRId64 ": %.100s",
				 rep.rpc_code, msg);
		} else if (!http_ok) {
			rep.err = WS_ETH_RPC_E_HTTP;
			snprintf(q->detail, sizeof(q->detail), "HTTP status %d", q->http_status);
		} else {
			rep.err = p < 0 ? p : WS_ETH_RPC_E_BAD_RESPONSE;
			snprintf(q->detail, sizeof(q->detail), "malformed JSON-RPC response");
		}
	}
	if (q->cb)
		q->cb(q->user, &rep);
	json_decref(result);
	json_decref(data);
	free(msg);
	req_free(q);
}

static bool http_status_retriable(int s)
{
	return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

static void backoff_cb(lws_sorted_usec_list_t *sul);
static void timeout_cb(lws_sorted_usec_list_t *sul);

/* The current attempt is over (err 0: a whole HTTP answer is in q->rx).
 * Detaches the connection; then retries, or completes the call. */
static void attempt_end(struct rpc_req *q, int err, const char *detail)
{
	ws_eth_rpc *r = q->rpc;

	lws_sul_cancel(&q->sul);
	if (q->wsi) {
		lws_set_opaque_user_data(q->wsi, NULL);
		lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		q->wsi = NULL;
	}
	if (q->state == REQ_INFLIGHT)
		r->in_flight--;
	q->state = REQ_BACKOFF;
	schedule_kick(r);
	if (detail)
		snprintf(q->detail, sizeof(q->detail), "%s", detail);

	bool transient = err == WS_ETH_RPC_E_TRANSPORT || err == WS_ETH_RPC_E_TIMEOUT;
	/* an HTTP error that a JSON-RPC error body does not explain */
	if (err == 0 && http_status_retriable(q->http_status)) {
		json_t *res = NULL, *data = NULL;
		char *msg = NULL;
		int64_t code;
		int p = ws_eth_rpc_parse_response(q->rx ? q->rx : "", q->rx_len, q->id,
						  &res, &code, &msg, &data);
		json_decref(res);
		json_decref(data);
		free(msg);
		if (p != WS_ETH_RPC_E_RPC) {
			transient = true;
			err = WS_ETH_RPC_E_HTTP;
			snprintf(q->detail, sizeof(q->detail), "HTTP status %d", q->http_status);
		}
	}
	if (transient && q->retry_ok && q->attempts <= r->max_retries) {
		uint64_t delay_ms = (uint64_t)r->backoff_ms << (q->attempts - 1 < 16 ? q->attempts - 1 : 16);
		if (delay_ms > WS_ETH_RPC_MAX_BACKOFF_MS)
			delay_ms = WS_ETH_RPC_MAX_BACKOFF_MS;
		ws_debug("eth_rpc %s #%" PRIu64 ": %s; retry %u in %" PRIu64 " ms", q->method,
			 q->id, q->detail, q->attempts, delay_ms);
		lws_sul_schedule(r->ctx, 0, &q->sul, backoff_cb, (lws_usec_t)delay_ms * 1000);
		return;
	}
	if (err == WS_ETH_RPC_E_HTTP) {
		/* keep the body: req_complete reports the HTTP error */
		err = 0;
	}
	req_complete(q, err);
}

static void attempt_start(struct rpc_req *q)
{
	ws_eth_rpc *r = q->rpc;
	struct lws_client_connect_info ci;

	q->attempts++;
	q->http_status = 0;
	q->close_delimited = false;
	q->rx_len = 0;
	q->connect_err = 0;
	q->detail[0] = '\0';
	q->state = REQ_INFLIGHT;
	r->in_flight++;
	lws_sul_schedule(r->ctx, 0, &q->sul, timeout_cb, (lws_usec_t)r->timeout_ms * 1000);

	memset(&ci, 0, sizeof(ci));
	ci.context = r->ctx;
	ci.vhost = r->vhost;
	ci.address = r->host;
	ci.host = r->host_header;
	ci.port = r->port;
	ci.path = r->path;
	ci.method = "POST";
	ci.protocol = RPC_PROTOCOL;
	ci.local_protocol_name = RPC_PROTOCOL;
	ci.alpn = "http/1.1";
	ci.ssl_connection = r->ssl_flags | LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	ci.opaque_user_data = q;
	ci.pwsi = &q->wsi;

	q->in_connect = true;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	q->in_connect = false;
	if (!wsi || q->connect_err) {
		if (!wsi)
			q->wsi = NULL;
		attempt_end(q, WS_ETH_RPC_E_TRANSPORT, q->detail[0] ? q->detail : "connect failed");
		return;
	}
	q->wsi = wsi;
}

static void dispatch(ws_eth_rpc *r)
{
	while (r->qhead && r->in_flight < r->max_in_flight) {
		struct rpc_req *q = r->qhead;
		r->qhead = q->qnext;
		if (!r->qhead)
			r->qtail = NULL;
		q->qnext = NULL;
		attempt_start(q);
	}
}

static void kick_cb(lws_sorted_usec_list_t *sul)
{
	dispatch(lws_container_of(sul, ws_eth_rpc, kick_sul));
}

static void schedule_kick(ws_eth_rpc *r)
{
	if (r->qhead)
		lws_sul_schedule(r->ctx, 0, &r->kick_sul, kick_cb, 1);
}

static void enqueue(ws_eth_rpc *r, struct rpc_req *q)
{
	q->state = REQ_QUEUED;
	q->qnext = NULL;
	if (r->qtail)
		r->qtail->qnext = q;
	else
		r->qhead = q;
	r->qtail = q;
	schedule_kick(r);
}

static void backoff_cb(lws_sorted_usec_list_t *sul)
{
	struct rpc_req *q = lws_container_of(sul, struct rpc_req, sul);
	enqueue(q->rpc, q);
}

static void timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct rpc_req *q = lws_container_of(sul, struct rpc_req, sul);
	char d[64];
	snprintf(d, sizeof(d), "no answer within %u ms", q->rpc->timeout_ms);
	attempt_end(q, WS_ETH_RPC_E_TIMEOUT, d);
}

/* A failure seen in an lws callback: defer it while inside connect(). */
static void attempt_failed(struct rpc_req *q, int err, const char *detail)
{
	if (q->in_connect) {
		q->connect_err = err ? err : WS_ETH_RPC_E_TRANSPORT;
		snprintf(q->detail, sizeof(q->detail), "%s", detail ? detail : "closed");
		if (q->wsi) {
			lws_set_opaque_user_data(q->wsi, NULL);
			q->wsi = NULL;
		}
		return;
	}
	attempt_end(q, err, detail);
}

static int rx_append(struct rpc_req *q, const void *in, size_t len)
{
	size_t max = q->rpc->max_response;
	if (len > max || q->rx_len > max - len)
		return WS_ETH_RPC_E_TOO_BIG;
	if (q->rx_len + len + 1 > q->rx_cap) {
		size_t cap = q->rx_cap ? q->rx_cap : 1024;
		while (cap < q->rx_len + len + 1)
			cap *= 2;
		char *n = realloc(q->rx, cap);
		if (!n)
			return -ENOMEM;
		q->rx = n;
		q->rx_cap = cap;
	}
	memcpy(q->rx + q->rx_len, in, len);
	q->rx_len += len;
	q->rx[q->rx_len] = '\0';
	return 0;
}

static int rpc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			void *in, size_t len)
{
	struct rpc_req *q = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (q) {
			char d[100];
			snprintf(d, sizeof(d), "connect: %.80s", in ? (const char *)in : "failed");
			lws_set_opaque_user_data(wsi, NULL);
			q->wsi = NULL;
			attempt_failed(q, WS_ETH_RPC_E_TRANSPORT, d);
		}
		return 0;

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		if (!q)
			return -1;
		unsigned char **p = in, *end = *p + len;
		char cl[24];
		int n = snprintf(cl, sizeof(cl), "%zu", q->body_len);
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
				(const unsigned char *)"application/json", 16, p, end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
				(const unsigned char *)cl, n, p, end))
			return -1;
		lws_client_http_body_pending(wsi, 1);
		lws_callback_on_writable(wsi);
		return 0;
	}

	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		if (!q)
			return -1;
		if (lws_write(wsi, q->body + LWS_PRE, q->body_len, LWS_WRITE_HTTP_FINAL) !=
		    (int)q->body_len)
			return -1;
		lws_client_http_body_pending(wsi, 0);
		return 0;

	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		if (!q)
			return -1;
		q->http_status = (int)lws_http_client_http_response(wsi);
		q->close_delimited =
			!lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) &&
			!lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
		return 0;

	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		if (!q)
			return -1;
		char buf[LWS_PRE + RPC_RX_CHUNK];
		char *px = buf + LWS_PRE;
		int n = RPC_RX_CHUNK;
		if (lws_http_client_read(wsi, &px, &n) < 0)
			return -1;
		return 0;
	}

	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: {
		if (!q)
			return -1;
		int e = rx_append(q, in, len);
		if (e) {
			char d[64];
			snprintf(d, sizeof(d), "response above %zu bytes", q->rpc->max_response);
			lws_set_opaque_user_data(wsi, NULL);
			q->wsi = NULL;
			attempt_failed(q, e, d);
			return -1;
		}
		return 0;
	}

	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (q) {
			lws_set_opaque_user_data(wsi, NULL);
			q->wsi = NULL;
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			attempt_end(q, 0, NULL);
		}
		return 0;

	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (q) {
			lws_set_opaque_user_data(wsi, NULL);
			q->wsi = NULL;
			/* a body delimited by the server closing (no length,
			 * not chunked) is complete; anything else was cut short */
			if (q->http_status && q->close_delimited)
				attempt_failed(q, 0, NULL);
			else
				attempt_failed(q, WS_ETH_RPC_E_TRANSPORT,
					       q->http_status ? "connection closed before the body"
							      : "connection closed before an answer");
		}
		return 0;

	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- client ------------------------------------------------------------- */

int ws_eth_rpc_new(ws_eth_rpc **ret, struct lws_context *ctx,
		   const struct ws_eth_rpc_config *cfg)
{
	ws_eth_rpc *r = NULL;
	const char *prot, *host, *path;
	int port, e;

	if (!ctx || !cfg || !cfg->url)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->url_copy = strdup(cfg->url);
	if (!r->url_copy) {
		e = -ENOMEM;
		goto fail;
	}
	if (lws_parse_uri(r->url_copy, &prot, &host, &port, &path) || !*host) {
		e = -EINVAL;
		goto fail;
	}
	if (strcmp(prot, "http") == 0) {
		r->ssl_flags = 0;
	} else if (strcmp(prot, "https") == 0) {
		r->ssl_flags = LCCSCF_USE_SSL;
		if (cfg->insecure)
			r->ssl_flags |= LCCSCF_ALLOW_SELFSIGNED |
					LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					LCCSCF_ALLOW_EXPIRED;
	} else {
		e = -EINVAL;
		goto fail;
	}
	r->host = host;
	r->port = port;
	if ((r->ssl_flags && port == 443) || (!r->ssl_flags && port == 80))
		e = asprintf(&r->host_header, "%s", host);
	else
		e = asprintf(&r->host_header, "%s:%d", host, port);
	if (e < 0) {
		r->host_header = NULL;
		e = -ENOMEM;
		goto fail;
	}
	/* lws_parse_uri gives "/" for no path, else the path without its '/' */
	if (asprintf(&r->path, "%s%s", path[0] == '/' ? "" : "/", path) < 0) {
		r->path = NULL;
		e = -ENOMEM;
		goto fail;
	}
	r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : WS_ETH_RPC_DEFAULT_TIMEOUT_MS;
	r->max_in_flight = cfg->max_in_flight ? cfg->max_in_flight : WS_ETH_RPC_DEFAULT_MAX_IN_FLIGHT;
	r->max_retries = cfg->no_retry ? 0 :
			 cfg->max_retries ? cfg->max_retries : WS_ETH_RPC_DEFAULT_MAX_RETRIES;
	r->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : WS_ETH_RPC_DEFAULT_BACKOFF_MS;
	r->max_response = cfg->max_response_bytes ? cfg->max_response_bytes :
			  WS_ETH_RPC_DEFAULT_MAX_RESPONSE;
	r->max_queue = cfg->max_queue ? cfg->max_queue : WS_ETH_RPC_DEFAULT_MAX_QUEUE;
	r->next_id = 1;

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "eth-rpc";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = rpc_protocols;
	info.client_ssl_ca_filepath = cfg->ca_file;
	/* lws 4.1 gives a vhost a client TLS context only with this option */
	if (r->ssl_flags)
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	r->vhost = lws_create_vhost(ctx, &info);
	if (!r->vhost) {
		e = -ENOMEM;
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	free(r->path);
	free(r->host_header);
	free(r->url_copy);
	free(r);
	return e;
}

ws_eth_rpc *ws_eth_rpc_free(ws_eth_rpc *r)
{
	if (!r)
		return NULL;
	lws_sul_cancel(&r->kick_sul);
	while (r->all) {
		struct rpc_req *q = r->all;
		if (q->state == REQ_INFLIGHT)
			r->in_flight--;
		req_free(q);
	}
	if (r->vhost)
		lws_vhost_destroy(r->vhost);
	free(r->path);
	free(r->host_header);
	free(r->url_copy);
	free(r);
	return NULL;
}

unsigned ws_eth_rpc_pending(const ws_eth_rpc *r)
{
	return r ? r->n_pending : 0;
}

int ws_eth_rpc_call(ws_eth_rpc *r, const char *method, json_t *params,
		    ws_eth_rpc_cb cb, void *user)
{
	struct rpc_req *q = NULL;
	json_t *env = NULL;
	char *text = NULL;
	int e;

	if (!params && !(params = json_array()))
		return -ENOMEM;
	if (!r || !method || !*method || !json_is_array(params)) {
		e = -EINVAL;
		goto fail;
	}
	if (r->n_pending >= r->max_queue) {
		e = -ENOBUFS;
		goto fail;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		e = -ENOMEM;
		goto fail;
	}
	q->id = r->next_id++;
	env = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id", (json_int_t)q->id,
			"method", method, "params", params);
	text = env ? json_dumps(env, JSON_COMPACT) : NULL;
	q->method = strdup(method);
	if (!text || !q->method) {
		e = -ENOMEM;
		goto fail;
	}
	q->body_len = strlen(text);
	q->body = malloc(LWS_PRE + q->body_len + 1);
	if (!q->body) {
		e = -ENOMEM;
		goto fail;
	}
	memcpy(q->body + LWS_PRE, text, q->body_len + 1);
	free(text);
	json_decref(env);
	json_decref(params);
	q->rpc = r;
	q->cb = cb;
	q->user = user;
	q->retry_ok = ws_eth_rpc_retry_safe(method);
	q->next = r->all;
	if (r->all)
		r->all->prev = q;
	r->all = q;
	r->n_pending++;
	enqueue(r, q);
	return 0;
fail:
	free(text);
	json_decref(env);
	json_decref(params);
	if (q) {
		free(q->method);
		free(q->body);
		free(q);
	}
	return e;
}
