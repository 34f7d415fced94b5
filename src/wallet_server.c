/* wallet_server.c: the wallet endpoint's WebSocket server on the daemon's
 * lws loop.  Each connection keeps its state in lws' per-session memory: a
 * fixed 4096-byte receive buffer (fragments are joined there; a message
 * that would not fit closes the connection), a ring of the last
 * `rate_per_s` message times (the rate limit is a sliding one-second
 * window), a bounded queue of outgoing texts (one lws_write per WRITEABLE),
 * and an idle timer (lws_sul) that runs while the owner says there is no
 * session.  Cost per message: one copy in, one jansson parse, one copy out;
 * per connection about 4.9 KB plus what waits to be sent. */
#include "wattstream/wallet_server.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/clock.h"

#define RATE_RING_MAX 64		/* largest rate_per_s honoured */
#define CLOSE_LINGER_S 5		/* a closing wallet that does not read is cut */
/* lws' own opcode for a close frame (LWS_WRITE_CLOSE in lws 4.1's private
 * header): the public lws_close_reason() closes the socket at once, see
 * send_close_frame() */
#define WALLET_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char buf[];		/* LWS_PRE headroom, then the text */
};

struct wallet_conn {
	struct lws *wsi;
	struct wallet_server *srv;	/* NULL until established */
	struct wallet_conn *prev, *next;
	void *user;
	char remote[64];
	lws_sorted_usec_list_t idle_sul;
	bool has_session;
	bool closing;
	bool close_sent;		/* our close frame is out: wait for theirs */
	int close_code;
	char close_reason[64];
	unsigned bad_requests;
	uint64_t rate_ring[RATE_RING_MAX];	/* times of recent messages, us */
	unsigned rate_pos, rate_count;
	struct out_msg *out_head, *out_tail;
	unsigned out_count;
	size_t rx_len;
	char rx[WALLET_MSG_MAX_BYTES + 1];
};

struct wallet_server {
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct lws_protocols protocols[2];
	struct wallet_server_config cfg;
	struct wallet_server_ops ops;
	void *user;
	struct wallet_conn *conns;	/* established connections */
	unsigned n_conns;
};

/* ---- per-connection helpers ------------------------------------------ */

static void conn_close(struct wallet_conn *c, int code, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
	lws_sul_cancel(&c->idle_sul);
	/* a wallet that never reads would keep the socket: cut it anyway */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_LINGER_S);
	lws_callback_on_writable(c->wsi);
}

static void idle_cb(lws_sorted_usec_list_t *sul)
{
	struct wallet_conn *c = lws_container_of(sul, struct wallet_conn, idle_sul);

	conn_close(c, LWS_CLOSE_STATUS_NORMAL, "idle without a session");
}

static void idle_restart(struct wallet_conn *c)
{
	if (c->closing || c->has_session || !c->srv)
		return;
	lws_sul_schedule(c->srv->ctx, 0, &c->idle_sul, idle_cb,
			 (lws_usec_t)c->srv->cfg.idle_ms * LWS_US_PER_MS);
}

static void out_free_all(struct wallet_conn *c)
{
	struct out_msg *m = c->out_head;

	while (m) {
		struct out_msg *n = m->next;
		free(m);
		m = n;
	}
	c->out_head = c->out_tail = NULL;
	c->out_count = 0;
}

static int queue_text(struct wallet_conn *c, const char *text, size_t len)
{
	if (len > WALLET_MSG_MAX_BYTES)
		return -EMSGSIZE;
	if (c->out_count >= WALLET_SERVER_OUT_MAX) {
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
		return -ENOBUFS;
	}
	struct out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_count++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static int send_json(struct wallet_conn *c, const json_t *msg)
{
	if (!c || !msg)
		return -EINVAL;
	if (c->closing)
		return -EPIPE;
	char *text = json_dumps(msg, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	int r = queue_text(c, text, strlen(text));
	free(text);
	return r;
}

static int send_error(struct wallet_conn *c, const char *id, enum wallet_err code,
		      const char *message)
{
	json_t *o;
	int r = wallet_msg_encode_error(&o, id, code, message);

	if (r < 0)
		return r;
	r = send_json(c, o);
	json_decref(o);
	if (code == WALLET_ERR_RATE_LIMITED)
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limited");
	return r;
}

/* true if one more message now goes over the rate (sliding 1 s window) */
static bool over_rate(struct wallet_conn *c, uint64_t now_us)
{
	unsigned n = c->srv->cfg.rate_per_s;

	if (c->rate_count == n) {
		/* the oldest of the last n messages */
		uint64_t oldest = c->rate_ring[c->rate_pos];
		if (now_us - oldest < 1000000)
			return true;
	} else {
		c->rate_count++;
	}
	c->rate_ring[c->rate_pos] = now_us;
	c->rate_pos = (c->rate_pos + 1) % n;
	return false;
}

static void on_message(struct wallet_conn *c)
{
	struct wallet_server *srv = c->srv;
	struct wallet_msg msg;
	struct wallet_msg_error err;

	if (over_rate(c, ws_clock_mono_us())) {
		send_error(c, NULL, WALLET_ERR_RATE_LIMITED,
			   "more than the allowed messages per second");
		return;
	}
	int r = wallet_msg_parse(c->rx, c->rx_len, &msg, &err);
	if (r == WALLET_MSG_E_JSON) {
		conn_close(c, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "not JSON");
		return;
	}
	if (r == WALLET_MSG_E_INVALID) {
		send_error(c, msg.has_id ? msg.id : NULL, err.code, err.message);
		if (err.code == WALLET_ERR_BAD_REQUEST &&
		    ++c->bad_requests >= srv->cfg.max_bad_requests)
			conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many bad requests");
		return;
	}
	if (r < 0) {
		send_error(c, NULL, WALLET_ERR_INTERNAL, "out of memory");
		return;
	}
	idle_restart(c);
	srv->ops.message(srv->user, c, &msg);
}

static void on_receive(struct wallet_conn *c, struct lws *wsi, const void *in, size_t len)
{
	bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (c->closing)
		return;
	if (lws_frame_is_binary(wsi)) {
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text frames only");
		return;
	}
	if (c->rx_len + len > WALLET_MSG_MAX_BYTES) {
		conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message above 4096 bytes");
		return;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!last)
		return;
	c->rx[c->rx_len] = '\0';
	on_message(c);
	c->rx_len = 0;
}

/* ---- lws callback ------------------------------------------------------ */

/* The peer's address; an IPv4 peer on a dual-stack socket is written as
 * plain IPv4 so that it counts as one address however it connects. */
static void peer_address(struct lws *wsi, char *out, size_t size)
{
	out[0] = '\0';
	lws_get_peer_simple(wsi, out, size);
	if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static unsigned count_address(const struct wallet_server *srv, const char *addr)
{
	unsigned n = 0;

	for (const struct wallet_conn *c = srv->conns; c; c = c->next)
		if (strcmp(c->remote, addr) == 0)
			n++;
	return n;
}

/* true if the comma-separated header value holds the token exactly */
static bool has_token(const char *list, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tl && memcmp(p, token, tl) == 0)
			return true;
		p = e;
	}
	return false;
}

/* 0 to accept the upgrade, else the HTTP status that refuses it */
static unsigned filter_upgrade(struct wallet_server *srv, struct lws *wsi)
{
	char buf[256], peer[64];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) <= 0 ||
	    lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_PROTOCOL) < 0 ||
	    !has_token(buf, WALLET_SUBPROTOCOL))
		return HTTP_STATUS_FORBIDDEN;	/* not a v1 wallet */
	if (srv->cfg.path) {
		if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) < 0 ||
		    strcmp(buf, srv->cfg.path) != 0)
			return HTTP_STATUS_NOT_FOUND;
	}
	if (srv->n_conns >= srv->cfg.max_connections)
		return HTTP_STATUS_SERVICE_UNAVAILABLE;
	peer_address(wsi, peer, sizeof(peer));
	if (count_address(srv, peer) >= srv->cfg.max_per_address)
		return 429;	/* Too Many Requests */
	return 0;
}

/* Sends our close frame but keeps the socket until the wallet answers with
 * its own (or the linger timeout cuts it).  lws_close_reason() + returning
 * -1 closes the socket at once; the kernel then answers a wallet that is
 * still sending with a reset, which can destroy the error and the close
 * frame before the wallet reads them. */
static int send_close_frame(struct wallet_conn *c)
{
	unsigned char buf[LWS_PRE + 2 + sizeof(c->close_reason)];
	unsigned char *p = buf + LWS_PRE;
	size_t n = strlen(c->close_reason);

	p[0] = (unsigned char)(c->close_code >> 8);
	p[1] = (unsigned char)c->close_code;
	memcpy(p + 2, c->close_reason, n);
	c->close_sent = true;
	return lws_write(c->wsi, p, 2 + n, WALLET_LWS_WRITE_CLOSE) < 0 ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct wallet_server *srv = proto ? proto->user : NULL;
	struct wallet_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		/* a plain HTTP request: this port speaks WebSocket only */
		if (lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
	{
		/* refused with a status the wallet can show; a client offering
		 * only other subprotocols never gets here: lws drops it */
		unsigned status = srv ? filter_upgrade(srv, wsi) : HTTP_STATUS_FORBIDDEN;
		if (status) {
			lws_return_http_status(wsi, status, NULL);
			return 1;
		}
		break;
	}
	case LWS_CALLBACK_ESTABLISHED:
		if (!srv || !c)
			return -1;
		memset(c, 0, offsetof(struct wallet_conn, rx));
		c->wsi = wsi;
		c->srv = srv;
		peer_address(wsi, c->remote, sizeof(c->remote));
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->n_conns++;
		idle_restart(c);
		srv->ops.connected(srv->user, c);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (c && c->srv)
			on_receive(c, wsi, in, len);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		if (!c || !c->srv)
			break;
		struct out_msg *m = c->out_head;
		if (m) {
			if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
				return -1;
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			c->out_count--;
			free(m);
			if (c->out_head || c->closing)
				lws_callback_on_writable(wsi);
			break;
		}
		if (c->closing && !c->close_sent)
			return send_close_frame(c);
		break;
	}
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* the answer to our close frame: do not echo it again */
		if (c && c->srv && c->close_sent)
			return 1;
		break;
	case LWS_CALLBACK_CLOSED:
		if (!c || !c->srv)
			break;
		lws_sul_cancel(&c->idle_sul);
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		srv->n_conns--;
		c->closing = true;	/* sends from closed() fail cleanly */
		srv->ops.closed(srv->user, c);
		out_free_all(c);
		c->srv = NULL;
		break;
	default:
		break;
	}
	return 0;
}

/* ---- public ------------------------------------------------------------ */

int wallet_server_new(struct wallet_server **ret, struct lws_context *ctx,
		      const struct wallet_server_config *cfg,
		      const struct wallet_server_ops *ops, void *user)
{
	struct lws_context_creation_info info;
	struct wallet_server *srv;
	int r;

	if (!ctx || !cfg || !ops || !ops->connected || !ops->message || !ops->closed ||
	    !cfg->cert_file != !cfg->key_file)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->ctx = ctx;
	srv->cfg = *cfg;
	srv->ops = *ops;
	srv->user = user;
	if (!srv->cfg.address)
		srv->cfg.address = WALLET_SERVER_ADDRESS_DEFAULT;
	if (!srv->cfg.port)
		srv->cfg.port = WALLET_SERVER_PORT_DEFAULT;
	if (!srv->cfg.rate_per_s)
		srv->cfg.rate_per_s = WALLET_SERVER_RATE_DEFAULT;
	if (srv->cfg.rate_per_s > RATE_RING_MAX)
		srv->cfg.rate_per_s = RATE_RING_MAX;
	if (!srv->cfg.max_per_address)
		srv->cfg.max_per_address = WALLET_SERVER_PER_ADDRESS_DEFAULT;
	if (!srv->cfg.max_connections)
		srv->cfg.max_connections = WALLET_SERVER_MAX_CONN_DEFAULT;
	if (!srv->cfg.idle_ms)
		srv->cfg.idle_ms = WALLET_SERVER_IDLE_MS_DEFAULT;
	if (!srv->cfg.max_bad_requests)
		srv->cfg.max_bad_requests = WALLET_SERVER_BAD_REQUESTS_DEFAULT;
	if (srv->cfg.port < -1 || srv->cfg.port > 65535) {
		r = -EINVAL;
		goto fail;
	}

	srv->protocols[0] = (struct lws_protocols){
		.name = WALLET_SUBPROTOCOL,
		.callback = callback,
		.per_session_data_size = sizeof(struct wallet_conn),
		.rx_buffer_size = WALLET_MSG_MAX_BYTES,
		.user = srv,
	};
	memset(&info, 0, sizeof(info));
	info.vhost_name = "wallet";
	info.iface = srv->cfg.address;
	info.port = srv->cfg.port == -1 ? 0 : srv->cfg.port;
	info.protocols = srv->protocols;
	info.ssl_cert_filepath = srv->cfg.cert_file;
	info.ssl_private_key_filepath = srv->cfg.key_file;
	if (srv->cfg.cert_file)
		/* lws reads this per vhost: without it the vhost stays plain */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	srv->vhost = lws_create_vhost(ctx, &info);
	if (!srv->vhost) {
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	*ret = srv;
	return 0;
fail:
	free(srv);
	return r;
}

struct wallet_server *wallet_server_free(struct wallet_server *srv)
{
	/* the vhost went with the context, and every connection with it */
	free(srv);
	return NULL;
}

int wallet_server_port(const struct wallet_server *srv)
{
	return srv && srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : -1;
}

unsigned wallet_server_connections(const struct wallet_server *srv)
{
	return srv ? srv->n_conns : 0;
}

int wallet_server_send(struct wallet_conn *conn, const json_t *msg)
{
	return send_json(conn, msg);
}

int wallet_server_send_error(struct wallet_conn *conn, const char *id,
			     enum wallet_err code, const char *message)
{
	if (!conn)
		return -EINVAL;
	return send_error(conn, id, code, message);
}

void wallet_server_close(struct wallet_conn *conn, int close_code, const char *reason)
{
	if (conn)
		conn_close(conn, close_code, reason);
}

void wallet_server_set_session(struct wallet_conn *conn, bool has_session)
{
	if (!conn)
		return;
	conn->has_session = has_session;
	if (has_session)
		lws_sul_cancel(&conn->idle_sul);
	else
		idle_restart(conn);
}

void wallet_server_set_user(struct wallet_conn *conn, void *user)
{
	if (conn)
		conn->user = user;
}

void *wallet_server_get_user(const struct wallet_conn *conn)
{
	return conn ? conn->user : NULL;
}

const char *wallet_server_remote(const struct wallet_conn *conn)
{
	return conn ? conn->remote : "";
}
