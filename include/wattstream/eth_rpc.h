/* eth_rpc.h: Ethereum JSON-RPC 2.0 client over HTTP(S) on the caller's
 * libwebsockets loop, and the strict parsers of what a node answers.
 *
 * One ws_eth_rpc is one endpoint (URL).  Calls are queued in order and at
 * most max_in_flight run at once, each on its own HTTP/1.1 POST.  Each
 * attempt has a timeout; transport failures (connect error, timeout,
 * connection lost, HTTP 408/429/5xx without a JSON-RPC answer) are retried
 * with exponential backoff up to max_retries times, but only for methods
 * that are safe to repeat (see ws_eth_rpc_retry_safe()).  A JSON-RPC error
 * answered by the node is a result, never retried here.
 *
 * Every response is untrusted: the envelope must be exactly one JSON-RPC
 * 2.0 response object with our id and exactly one of `result` or
 * `error{code,message[,data]}`; bodies above max_response_bytes are cut off.
 *
 * Callbacks run on the loop thread.  A callback may start new calls; it
 * must not free the ws_eth_rpc it was called from (free it from a timer or
 * after lws_service returns). */
#ifndef WATTSTREAM_ETH_RPC_H
#define WATTSTREAM_ETH_RPC_H

#include "wattstream/u256.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws_context;
typedef struct ws_eth_rpc ws_eth_rpc;

/* Outcomes of a call (positive: expected, the caller handles them). */
enum {
	WS_ETH_RPC_E_RPC = 1,       /* the node answered a JSON-RPC error (code/message set) */
	WS_ETH_RPC_E_TRANSPORT = 2, /* connect failed or connection lost, retries used up */
	WS_ETH_RPC_E_TIMEOUT = 3,   /* no complete answer in time, retries used up */
	WS_ETH_RPC_E_HTTP = 4,      /* HTTP status other than 200 without a JSON-RPC error */
	WS_ETH_RPC_E_TOO_BIG = 5,   /* response body above max_response_bytes */
	WS_ETH_RPC_E_BAD_RESPONSE = 6, /* not a valid JSON-RPC 2.0 response to this call */
	WS_ETH_RPC_E_CANCELLED = 7, /* the client was freed before the answer */
};

/* Short English name of a WS_ETH_RPC_E_* code or -errno. */
const char *ws_eth_rpc_strerror(int code);

#define WS_ETH_RPC_DEFAULT_TIMEOUT_MS 10000
#define WS_ETH_RPC_DEFAULT_MAX_IN_FLIGHT 4
#define WS_ETH_RPC_DEFAULT_MAX_RETRIES 3
#define WS_ETH_RPC_DEFAULT_BACKOFF_MS 250        /* doubled per retry */
#define WS_ETH_RPC_MAX_BACKOFF_MS 10000
#define WS_ETH_RPC_DEFAULT_MAX_RESPONSE (4u << 20) /* bytes */
#define WS_ETH_RPC_DEFAULT_MAX_QUEUE 256          /* calls waiting */

struct ws_eth_rpc_config {
	const char *url;          /* http://host[:port][/path] or https://... */
	const char *ca_file;      /* PEM CA bundle for https; NULL: the system's */
	bool insecure;            /* https without certificate checks (tests only) */
	unsigned timeout_ms;      /* per attempt; 0: default */
	unsigned max_in_flight;   /* 0: default */
	unsigned max_retries;     /* transport retries per call; 0: default, use
				   * no_retry for none */
	bool no_retry;
	unsigned backoff_ms;      /* first retry delay; 0: default */
	size_t max_response_bytes; /* 0: default */
	unsigned max_queue;       /* 0: default */
};

/* What a call ended with; valid only during the callback. */
struct ws_eth_rpc_reply {
	int err;                 /* 0 or WS_ETH_RPC_E_* or -errno */
	const json_t *result;    /* err == 0: the `result` member (may be json null) */
	int64_t rpc_code;        /* err == E_RPC: error.code */
	const char *rpc_message; /* err == E_RPC: error.message ("" if absent) */
	const json_t *rpc_data;  /* err == E_RPC: error.data or NULL */
	int http_status;         /* last HTTP status seen, 0 if none */
	unsigned attempts;       /* HTTP requests made for this call (>= 1) */
	const char *detail;      /* short diagnostic for errors, never NULL */
};

typedef void (*ws_eth_rpc_cb)(void *user, const struct ws_eth_rpc_reply *reply);

/* Creates a client for cfg->url on the caller's context (which must have
 * been created with LWS_SERVER_OPTION_EXPLICIT_VHOSTS and, for https,
 * LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT); it adds its own vhost.  Returns 0,
 * -EINVAL (bad URL or config), -ENOMEM.  *ret written only on 0. */
int ws_eth_rpc_new(ws_eth_rpc **ret, struct lws_context *ctx,
		   const struct ws_eth_rpc_config *cfg)
	__attribute__((warn_unused_result));

/* Cancels every pending call (their callbacks are NOT called) and frees.
 * Accepts NULL; returns NULL.  Call before lws_context_destroy(). */
ws_eth_rpc *ws_eth_rpc_free(ws_eth_rpc *r);

/* Queues method(params).  params is a JSON array (reference stolen, also on
 * failure; NULL means []).  cb is called exactly once, later, on the loop
 * (never from inside this function).  Returns 0, -EINVAL (params not an
 * array, method empty), -ENOBUFS (queue full), -ENOMEM. */
int ws_eth_rpc_call(ws_eth_rpc *r, const char *method, json_t *params,
		    ws_eth_rpc_cb cb, void *user)
	__attribute__((warn_unused_result));

/* Whether a transport failure of method may be retried: read-only calls,
 * and eth_sendRawTransaction because sending the same signed bytes again
 * is harmless (same nonce, same hash: the node answers "already known" or
 * "nonce too low", or accepts the copy that never arrived). */
bool ws_eth_rpc_retry_safe(const char *method);

/* Calls queued or in flight. */
unsigned ws_eth_rpc_pending(const ws_eth_rpc *r);

/* ---- parsers (pure functions, fuzzed) --------------------------------- */

/* Parses body[len] as the response to request `id`.  Returns 0 and sets
 * *result (a new reference the caller decrefs; may be json null), or
 * WS_ETH_RPC_E_RPC with *err_code, *err_message (malloc'd, caller frees)
 * and *err_data (new reference or NULL), or WS_ETH_RPC_E_BAD_RESPONSE
 * (not JSON, not one object, duplicate keys, jsonrpc != "2.0", other id,
 * both or neither of result/error, malformed error object), or -ENOMEM.
 * Members other than jsonrpc/id/result/error are ignored.
 * Outputs written only with the matching return value. */
int ws_eth_rpc_parse_response(const char *body, size_t len, uint64_t id,
			      json_t **result, int64_t *err_code, char **err_message,
			      json_t **err_data)
	__attribute__((warn_unused_result));

/* QUANTITY: "0x" + 1..N hex digits, no leading zero except "0x0".
 * Returns 0, -EINVAL if malformed or not a string, -ERANGE if too big. */
int ws_eth_rpc_quantity_u64(const json_t *v, uint64_t *out)
	__attribute__((warn_unused_result));
int ws_eth_rpc_quantity_u256(const json_t *v, ws_u256 *out)
	__attribute__((warn_unused_result));

/* DATA of exactly len bytes ("0x" + 2*len digits).  -EINVAL malformed
 * (odd digit count, non-hex, not a string), -ERANGE other length. */
int ws_eth_rpc_data_fixed(const json_t *v, uint8_t *out, size_t len)
	__attribute__((warn_unused_result));
/* DATA of any length up to max bytes, malloc'd (caller frees; non-NULL on
 * success).  -EINVAL, -ERANGE (longer than max), -ENOMEM. */
int ws_eth_rpc_data_alloc(const json_t *v, size_t max, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/* Formats a u64 / u256 as a QUANTITY string into out (>= 67 bytes). */
void ws_eth_rpc_format_quantity_u64(uint64_t v, char out[19]);
void ws_eth_rpc_format_quantity_u256(const ws_u256 *v, char out[67]);

#endif
