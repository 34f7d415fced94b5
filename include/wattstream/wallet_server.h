/* wallet_server.h: the wallet endpoint's transport (docs/wallet-endpoint.md):
 * a WebSocket server vhost on the daemon's libwebsockets context that phone
 * wallets connect to (docs/wallet-protocol.md §2, §5).
 *
 * The server owns framing and the limits: subprotocol `wattstream.wallet.1`
 * required, text frames of at most 4096 bytes holding one JSON object, 20
 * messages per second per connection, 8 connections per remote address, a
 * 60 s idle timeout for connections without a session, and a close after 5
 * `bad_request`s.  It parses and validates every message (wallet_msg.h) and
 * answers invalid ones itself (handshakes it refuses get HTTP 403, 404,
 * 429 or 503; see docs/wallet-endpoint.md for every case and close code);
 * the owner (the payment logic) sees only
 * valid start/voucher/stop messages and answers them through the send
 * functions below.  One thread: everything runs on the lws loop. */
#ifndef WATTSTREAM_WALLET_SERVER_H
#define WATTSTREAM_WALLET_SERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "wattstream/wallet_msg.h"

struct lws_context;
struct wallet_server;
struct wallet_conn;

/* Defaults used for 0 / NULL members of wallet_server_config. */
#define WALLET_SERVER_ADDRESS_DEFAULT "127.0.0.1"
#define WALLET_SERVER_PORT_DEFAULT 8443
#define WALLET_SERVER_RATE_DEFAULT 20		/* messages per second */
#define WALLET_SERVER_PER_ADDRESS_DEFAULT 8	/* connections */
#define WALLET_SERVER_MAX_CONN_DEFAULT 256	/* connections in all */
#define WALLET_SERVER_IDLE_MS_DEFAULT 60000	/* without a session */
#define WALLET_SERVER_BAD_REQUESTS_DEFAULT 5
#define WALLET_SERVER_OUT_MAX 64		/* queued messages per connection */

struct wallet_server_config {
	const char *address;		/* listen address (IP); NULL: loopback */
	int port;			/* 0: WALLET_SERVER_PORT_DEFAULT; -1: any free port */
	const char *path;		/* URL path to accept, e.g. "/wallet"; NULL: any */
	const char *cert_file;		/* PEM; with key_file: TLS (wss://) */
	const char *key_file;
	unsigned rate_per_s;		/* at most 64 */
	unsigned max_per_address;
	unsigned max_connections;
	unsigned idle_ms;
	unsigned max_bad_requests;
};

/* The owner's callbacks; all are called on the loop.  conn is valid from
 * connected() until closed() returns.  Any of them may call the functions
 * below, including wallet_server_close(). */
struct wallet_server_ops {
	/* A wallet completed the handshake: send `hello` now. */
	void (*connected)(void *user, struct wallet_conn *conn);
	/* One valid wallet message (start, voucher or stop). */
	void (*message)(void *user, struct wallet_conn *conn, const struct wallet_msg *msg);
	/* The connection is gone (either side); forget conn. */
	void (*closed)(void *user, struct wallet_conn *conn);
};

/* Creates the vhost and listens.  cfg and ops are copied (the strings in
 * cfg must stay valid while the server lives).  Returns 0 and *ret;
 * -EINVAL (TLS with only one of cert/key, bad ops), -EADDRNOTAVAIL if the
 * vhost cannot listen (address in use, bad certificate), -ENOMEM. */
int wallet_server_new(struct wallet_server **ret, struct lws_context *ctx,
		      const struct wallet_server_config *cfg,
		      const struct wallet_server_ops *ops, void *user)
	__attribute__((warn_unused_result));

/* Frees the server.  Call it after lws_context_destroy(): the vhost goes
 * with the context, and closed() is called for each connection while the
 * context is destroyed.  Accepts NULL; returns NULL. */
struct wallet_server *wallet_server_free(struct wallet_server *srv);

/* The port the server listens on (useful with port -1), or -1. */
int wallet_server_port(const struct wallet_server *srv);
/* Connections currently established. */
unsigned wallet_server_connections(const struct wallet_server *srv);

/* Queues msg (serialized now; the caller keeps its reference).  Returns 0;
 * -EPIPE if the connection is closing; -EMSGSIZE if the text exceeds
 * WALLET_MSG_MAX_BYTES; -ENOBUFS if the wallet does not read (the
 * connection is then closed, 1008); -ENOMEM. */
int wallet_server_send(struct wallet_conn *conn, const json_t *msg);

/* Encodes and queues an `error` (wallet_msg_encode_error()).  id may be
 * NULL, message may be NULL.  rate_limited also closes the connection
 * (1008) after the error is sent.  Returns as wallet_server_send(), or
 * -EINVAL for a bad id/code. */
int wallet_server_send_error(struct wallet_conn *conn, const char *id,
			     enum wallet_err code, const char *message);

/* Closes the connection after what is queued is sent, with a WebSocket
 * close code (1000 normal, 1008 policy, ...) and a short reason (may be
 * NULL).  closed() follows later, from the loop. */
void wallet_server_close(struct wallet_conn *conn, int close_code, const char *reason);

/* Tells the server whether the connection holds a session: the idle
 * timeout runs only while it does not (restarted on each change). */
void wallet_server_set_session(struct wallet_conn *conn, bool has_session);

void wallet_server_set_user(struct wallet_conn *conn, void *user);
void *wallet_server_get_user(const struct wallet_conn *conn);

/* The peer's IP address as text ("127.0.0.1", "::1"). */
const char *wallet_server_remote(const struct wallet_conn *conn);

#endif
