/* ocpp_link.c: the OCPP 1.6-J WebSocket client of the charge point.
 *
 * One lws client connection on a vhost of its own (the vhost carries the
 * TLS settings of the security profile; a new one is made when they
 * change).  Outbound CALLs wait in a bounded FIFO and go out one at a time;
 * inbound frames go through ocpp_rpc_parse() and the generated decoders, and
 * whatever is invalid is answered here.  Three lws_sul timers live in the
 * link: reconnect backoff, the in-flight CALL's timeout, and the ping.
 *
 * Cost: per connection one vhost (an SSL_CTX for profiles 2/3); per frame a
 * jansson parse and decode, linear in its size; received fragments are
 * assembled in one buffer (8 KiB kept, grown by doubling for a longer frame
 * up to OCPP_RPC_FRAME_MAX + 1 bytes and released after it; longer frames
 * are cut there and refused as FormationViolation).  Every outbound
 * frame is one malloc; at most OCPP_LINK_QUEUE_MAX CALLs wait. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "ocpp_messages.h"
#include "wattstream/log.h"
#include "wattstream/ocpp_link.h"

#define CALL_TIMEOUT_DEFAULT_S   30
#define BACKOFF_MIN_DEFAULT_MS   1000
#define BACKOFF_MAX_DEFAULT_MS   60000
#define CLOSE_GRACE_S            3     /* a local close that does not finish is killed */
#define HOST_MAX                 256
#define RX_BUF_KEEP              8192  /* bytes of receive buffer kept between frames */
#define PATH_MAX_LEN             (OCPP_LINK_URL_MAX + 3 * OCPP_LINK_IDENTITY_MAX + 2)

enum link_state {
	LINK_S_WAITING,     /* no socket; sul_retry armed (or about to be) */
	LINK_S_CONNECTING,  /* wsi exists, not yet established */
	LINK_S_UP,          /* established with ocpp1.6 */
	LINK_S_STOPPED,     /* ocpp_link_stop(): no socket wanted */
};

static const char *const state_names[] = { "waiting", "connecting", "up", "stopped" };

/* An outbound frame, LWS_PRE bytes of headroom in front as lws_write() wants. */
struct out_frame {
	struct out_frame *next;
	size_t len;
	unsigned char buf[];
};

/* An outbound CALL, queued or in flight. */
struct out_call {
	struct out_call *next;
	char id[OCPP_RPC_ID_MAX + 1];
	const struct ocpp_action *action;
	char *frame;
	size_t len;
	ocpp_link_answer_fn cb;
	void *cb_user;
};

/* The settings, owned copies. */
struct link_cfg {
	char *url, *identity, *authkey, *ca, *cert, *key;
	int profile;
	unsigned ping_s, timeout_s, bo_min_ms, bo_max_ms;
	/* parsed from url + identity */
	bool tls;
	char host[HOST_MAX];     /* for the socket (no brackets) */
	char host_hdr[HOST_MAX + 8]; /* Host header / SNI / name checked */
	int port;
	char path[PATH_MAX_LEN];
};

struct ocpp_link {
	struct lws_context *ctx;
	struct lws_vhost *vhost, *vhost_old;
	struct lws *wsi;             /* the connection, once lws has told us */
	bool sock;                   /* an attempt or connection exists */
	struct ocpp_link_ops ops;
	void *user;
	struct link_cfg cfg;
	enum link_state state;
	unsigned attempt;            /* failed attempts since the last success */

	/* local close in progress: why, and whether to reconnect at once */
	bool closing;
	enum ocpp_link_reason close_reason;
	bool reconnect_now;
	int peer_close_code;         /* from the server's close frame, 0 if none */
	char fail_detail[160];

	struct ocpp_rpc_idgen idgen;
	struct out_call *q_head, *q_tail;
	unsigned q_len;
	struct out_call *inflight;

	struct out_frame *w_head, *w_tail;
	bool ping_due, awaiting_pong;

	/* the one unanswered inbound CALL */
	bool in_busy;
	char in_id[OCPP_RPC_ID_MAX + 1];
	const struct ocpp_action *in_action;
	void *in_req;

	char *rx;
	size_t rx_len, rx_cap;
	bool rx_binary;

	lws_sorted_usec_list_t sul_retry, sul_timeout, sul_ping;
};

static unsigned vhost_serial;

static int link_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len);

/* The protocol list is static so that a vhost that outlives its link (lws
 * destroys vhosts lazily) never points into freed memory; the link is
 * found through the wsi's opaque user data, cleared on free. */
static const struct lws_protocols link_protocols[] = {
	{ .name = OCPP_LINK_SUBPROTOCOL, .callback = link_callback,
	  .rx_buffer_size = 16384 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Pings are ours (sul_ping): keep lws' idle validity checks out of it. */
static const lws_retry_bo_t link_retry_policy = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

const char *ocpp_link_reason_str(enum ocpp_link_reason r)
{
	switch (r) {
	case OCPP_LINK_R_CONNECT:     return "connect";
	case OCPP_LINK_R_TLS:         return "tls";
	case OCPP_LINK_R_HTTP:        return "http";
	case OCPP_LINK_R_SUBPROTOCOL: return "subprotocol";
	case OCPP_LINK_R_CLOSED:      return "closed";
	case OCPP_LINK_R_PING:        return "ping";
	case OCPP_LINK_R_PROTOCOL:    return "protocol";
	case OCPP_LINK_R_LOCAL:       return "local";
	}
	return "?";
}

const char *ocpp_link_status_str(enum ocpp_link_status s)
{
	switch (s) {
	case OCPP_LINK_OK:           return "ok";
	case OCPP_LINK_CALLERROR:    return "callerror";
	case OCPP_LINK_BAD_RESULT:   return "bad_result";
	case OCPP_LINK_TIMEOUT:      return "timeout";
	case OCPP_LINK_DISCONNECTED: return "disconnected";
	}
	return "?";
}

char *ocpp_link_describe(const struct ocpp_link_disconnect *d, char *buf, size_t len)
{
	char what[200], retry[48];
	const char *detail = d->detail && *d->detail ? d->detail : NULL;

	switch (d->reason) {
	case OCPP_LINK_R_HTTP:
		snprintf(what, sizeof(what), "refused with HTTP %d%s", d->http_status,
			 d->http_status == 404 ? " (identity unknown to the CSMS)" :
			 d->http_status == 401 ? " (authorization failed)" : "");
		break;
	case OCPP_LINK_R_CLOSED:
		snprintf(what, sizeof(what), "closed (code %d%s)", d->close_code,
			 d->close_code == 1006 ? ", connection lost" : "");
		break;
	case OCPP_LINK_R_SUBPROTOCOL:
		snprintf(what, sizeof(what), "refused: the server did not select ocpp1.6");
		break;
	case OCPP_LINK_R_PING:
		snprintf(what, sizeof(what), "dropped: no pong to our ping");
		break;
	default:
		snprintf(what, sizeof(what), "%s failure%s%s", ocpp_link_reason_str(d->reason),
			 detail ? ": " : "", detail ? detail : "");
		break;
	}
	if (d->will_retry)
		snprintf(retry, sizeof(retry), ", retry in %u ms", d->retry_ms);
	else
		snprintf(retry, sizeof(retry), ", stopped");
	if (len)
		snprintf(buf, len, "%s%s", what, retry);
	return buf;
}

/* ---- settings -------------------------------------------------------------- */

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void cfg_clear(struct link_cfg *c)
{
	free(c->url);
	free(c->identity);
	wipe_free(c->authkey);
	free(c->ca);
	free(c->cert);
	free(c->key);
	explicit_bzero(c, sizeof(*c));
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Splits "ws[s]://host[:port][/path]" and appends "/" + the percent-encoded
 * identity to the path.  Returns 0 or OCPP_LINK_E_CONFIG with *why. */
static int cfg_parse_url(struct link_cfg *c, const char **why)
{
	const char *u = c->url, *h, *hend, *p;
	size_t n;

	if (strncasecmp(u, "ws://", 5) == 0) {
		c->tls = false;
		h = u + 5;
	} else if (strncasecmp(u, "wss://", 6) == 0) {
		c->tls = true;
		h = u + 6;
	} else {
		*why = "url must start with ws:// or wss://";
		return OCPP_LINK_E_CONFIG;
	}
	p = h + strcspn(h, "/?#");
	if (strpbrk(h, "?#")) {
		*why = "url must not carry a query or fragment";
		return OCPP_LINK_E_CONFIG;
	}
	if (*h == '[') {                        /* [v6 literal] */
		hend = memchr(h, ']', (size_t)(p - h));
		if (!hend) {
			*why = "url: unterminated [ in host";
			return OCPP_LINK_E_CONFIG;
		}
		n = (size_t)(hend - h - 1);
		if (n == 0 || n >= sizeof(c->host))
			goto bad_host;
		memcpy(c->host, h + 1, n);
		c->host[n] = 0;
		hend++;
	} else {
		hend = h;
		while (hend < p && *hend != ':')
			hend++;
		n = (size_t)(hend - h);
		if (n == 0 || n >= sizeof(c->host))
			goto bad_host;
		memcpy(c->host, h, n);
		c->host[n] = 0;
		if (strchr(c->host, '@')) {
			*why = "url must not carry user information";
			return OCPP_LINK_E_CONFIG;
		}
	}
	c->port = c->tls ? 443 : 80;
	if (hend < p && *hend == ':') {
		char *e;
		long v = strtol(hend + 1, &e, 10);
		if (e == hend + 1 || e != p || v < 1 || v > 65535) {
			*why = "url: bad port";
			return OCPP_LINK_E_CONFIG;
		}
		c->port = (int)v;
	} else if (hend != p) {
		goto bad_host;
	}
	/* Host header as in the URL (with its port); lws strips ":port" for
	 * SNI and the certificate name check. */
	n = (size_t)(p - h);
	if (n >= sizeof(c->host_hdr))
		goto bad_host;
	memcpy(c->host_hdr, h, n);
	c->host_hdr[n] = 0;

	/* path: as given, without a trailing '/', then "/" + identity */
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	if (n + 2 + 3 * strlen(c->identity) >= sizeof(c->path)) {
		*why = "url too long";
		return OCPP_LINK_E_CONFIG;
	}
	memcpy(c->path, p, n);
	c->path[n++] = '/';
	for (const unsigned char *s = (const unsigned char *)c->identity; *s; s++) {
		if (unreserved(*s)) {
			c->path[n++] = (char)*s;
		} else {
			snprintf(c->path + n, 4, "%%%02X", *s);
			n += 3;
		}
	}
	c->path[n] = 0;
	return 0;
bad_host:
	*why = "url: bad host";
	return OCPP_LINK_E_CONFIG;
}

static int file_readable(const char *f)
{
	return f && *f && access(f, R_OK) == 0;
}

/* Checks *in and fills *c (owned copies).  On failure *c is cleared. */
static int cfg_load(struct link_cfg *c, const struct ocpp_link_config *in,
		    const char **why)
{
	size_t idlen;
	int r;

	memset(c, 0, sizeof(*c));
	*why = NULL;
	if (!in->url || strlen(in->url) > OCPP_LINK_URL_MAX) {
		*why = "url missing or too long";
		return OCPP_LINK_E_CONFIG;
	}
	for (const unsigned char *s = (const unsigned char *)in->url; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f) {
			*why = "url holds a space, control or non-ASCII character";
			return OCPP_LINK_E_CONFIG;
		}
	idlen = in->identity ? strlen(in->identity) : 0;
	if (idlen == 0 || idlen > OCPP_LINK_IDENTITY_MAX) {
		*why = "identity must be 1..48 characters";
		return OCPP_LINK_E_CONFIG;
	}
	for (const unsigned char *s = (const unsigned char *)in->identity; *s; s++)
		if (*s < 0x20 || *s == 0x7f) {
			*why = "identity holds a control character";
			return OCPP_LINK_E_CONFIG;
		}
	if (in->security_profile < 0 || in->security_profile > 3) {
		*why = "security profile must be 0..3";
		return OCPP_LINK_E_CONFIG;
	}
	if (in->security_profile == 1 || in->security_profile == 2) {
		size_t kl = in->authorization_key ? strlen(in->authorization_key) : 0;
		if (kl == 0 || kl > OCPP_LINK_AUTHKEY_MAX) {
			*why = "security profiles 1 and 2 need an AuthorizationKey (1..64 bytes)";
			return OCPP_LINK_E_CONFIG;
		}
		if (strchr(in->identity, ':')) {
			/* RFC 7617: the user-id of Basic auth cannot hold ':' */
			*why = "identity must not contain ':' with Basic authentication";
			return OCPP_LINK_E_CONFIG;
		}
	}
	if (in->security_profile >= 2 && !file_readable(in->ca_file)) {
		*why = "security profiles 2 and 3 need a readable CA file";
		return OCPP_LINK_E_CONFIG;
	}
	if (in->security_profile == 3 &&
	    (!file_readable(in->client_cert_file) || !file_readable(in->client_key_file))) {
		*why = "security profile 3 needs readable client certificate and key files";
		return OCPP_LINK_E_CONFIG;
	}

	c->profile = in->security_profile;
	c->ping_s = in->ping_interval_s;
	c->timeout_s = in->call_timeout_s ? in->call_timeout_s : CALL_TIMEOUT_DEFAULT_S;
	c->bo_min_ms = in->backoff_min_ms ? in->backoff_min_ms : BACKOFF_MIN_DEFAULT_MS;
	c->bo_max_ms = in->backoff_max_ms ? in->backoff_max_ms : BACKOFF_MAX_DEFAULT_MS;
	if (c->bo_max_ms < c->bo_min_ms)
		c->bo_max_ms = c->bo_min_ms;
	if ((r = dup_opt(in->url, &c->url)) < 0 ||
	    (r = dup_opt(in->identity, &c->identity)) < 0 ||
	    (r = dup_opt(c->profile == 1 || c->profile == 2 ? in->authorization_key : NULL,
			 &c->authkey)) < 0 ||
	    (r = dup_opt(c->profile >= 2 ? in->ca_file : NULL, &c->ca)) < 0 ||
	    (r = dup_opt(c->profile == 3 ? in->client_cert_file : NULL, &c->cert)) < 0 ||
	    (r = dup_opt(c->profile == 3 ? in->client_key_file : NULL, &c->key)) < 0)
		goto fail;
	r = cfg_parse_url(c, why);
	if (r)
		goto fail;
	if (c->tls != (c->profile >= 2)) {
		*why = c->tls ? "wss:// needs security profile 2 or 3"
			      : "security profiles 2 and 3 need a wss:// url";
		r = OCPP_LINK_E_CONFIG;
		goto fail;
	}
	return 0;
fail:
	cfg_clear(c);
	return r;
}

static int vhost_create(struct ocpp_link *link, const struct link_cfg *c,
			struct lws_vhost **ret)
{
	struct lws_context_creation_info info;
	char name[32];

	memset(&info, 0, sizeof(info));
	snprintf(name, sizeof(name), "ocpp-link-%u", ++vhost_serial);
	info.vhost_name = name;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = link_protocols;
	if (c->tls) {
		/* lws sets up the client SSL_CTX of a vhost only with this */
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
			       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
		info.client_ssl_ca_filepath = c->ca;
		info.client_ssl_cert_filepath = c->cert;
		info.client_ssl_private_key_filepath = c->key;
		/* Security whitepaper: TLS 1.2 or higher */
		info.ssl_client_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
					      SSL_OP_NO_TLSv1_1;
	}
	*ret = lws_create_vhost(link->ctx, &info);
	return *ret ? 0 : -EIO;
}

/* ---- small helpers ---------------------------------------------------------- */

static void sul_cancel(struct ocpp_link *link, lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(link->ctx, 0, sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
}

static void set_state(struct ocpp_link *link, enum link_state s)
{
	if (link->state != s)
		ws_debug("ocpp_link %s: %s -> %s", link->cfg.identity,
			 state_names[link->state], state_names[s]);
	link->state = s;
}

static void notice(struct ocpp_link *link, enum ocpp_link_notice what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void notice(struct ocpp_link *link, enum ocpp_link_notice what, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ws_debug("ocpp_link %s: %s", link->cfg.identity, text);
	if (link->ops.notice)
		link->ops.notice(link->user, link, what, text);
}

static uint32_t random_u32(struct ocpp_link *link)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		lws_get_random(link->ctx, &v, sizeof(v));
	return v;
}

/* Queues a malloc'd frame of len bytes for writing (takes a copy). */
static int write_frame(struct ocpp_link *link, const char *frame, size_t len)
{
	struct out_frame *f;

	if (!link->wsi || link->state != LINK_S_UP)
		return OCPP_LINK_E_OFFLINE;
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return -ENOMEM;
	f->next = NULL;
	f->len = len;
	memcpy(f->buf + LWS_PRE, frame, len);
	if (link->w_tail)
		link->w_tail->next = f;
	else
		link->w_head = f;
	link->w_tail = f;
	lws_callback_on_writable(link->wsi);
	return 0;
}

static void send_error(struct ocpp_link *link, const char *id,
		       enum ocpp_error_code code, const char *desc)
{
	char *frame = NULL;

	if (ocpp_rpc_encode_error(id, code, desc, &frame) == 0)
		(void)write_frame(link, frame, strlen(frame));
	free(frame);
}

static void out_call_free(struct out_call *c)
{
	if (c) {
		free(c->frame);
		free(c);
	}
}

static void answer(struct ocpp_link *link, struct out_call *c,
		   struct ocpp_link_answer *a)
{
	a->id = c->id;
	a->action = c->action;
	if (!a->error_desc)
		a->error_desc = "";
	ws_debug("ocpp_link %s: CALL %s %s: %s", link->cfg.identity, c->action->name,
		 c->id, ocpp_link_status_str(a->status));
	c->cb(c->cb_user, link, a);
}

static void timeout_cb(lws_sorted_usec_list_t *sul);

/* Sends the next queued CALL if none is in flight. */
static void send_next(struct ocpp_link *link)
{
	struct out_call *c;

	if (link->state != LINK_S_UP || link->inflight || !link->q_head)
		return;
	c = link->q_head;
	link->q_head = c->next;
	if (!link->q_head)
		link->q_tail = NULL;
	link->q_len--;
	c->next = NULL;
	link->inflight = c;
	/* Out of memory here leaves the CALL unsent: it then times out like
	 * a lost one, and its callback is not called from inside
	 * ocpp_link_call(). */
	(void)write_frame(link, c->frame, c->len);
	lws_sul_schedule(link->ctx, 0, &link->sul_timeout, timeout_cb,
			 (lws_usec_t)link->cfg.timeout_s * LWS_USEC_PER_SEC);
}

/* Ends the in-flight CALL with *a, then sends the next. */
static void finish_inflight(struct ocpp_link *link, struct ocpp_link_answer *a)
{
	struct out_call *c = link->inflight;

	link->inflight = NULL;
	sul_cancel(link, &link->sul_timeout);
	answer(link, c, a);
	out_call_free(c);
	send_next(link);
}

static void timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_link *link = lws_container_of(sul, struct ocpp_link, sul_timeout);
	struct ocpp_link_answer a = { .status = OCPP_LINK_TIMEOUT,
				      .error_desc = "no answer in time" };

	if (link->inflight)
		finish_inflight(link, &a);
}

static void ping_cb(lws_sorted_usec_list_t *sul);
static void retry_cb(lws_sorted_usec_list_t *sul);

static void inbound_forget(struct ocpp_link *link)
{
	if (link->in_req) {
		link->in_action->req_free(link->in_req);
		free(link->in_req);
	}
	link->in_req = NULL;
	link->in_action = NULL;
	link->in_busy = false;
	link->in_id[0] = 0;
}

static void drop_queues(struct ocpp_link *link, bool report)
{
	struct out_call *c;
	struct out_frame *f;

	while ((f = link->w_head)) {
		link->w_head = f->next;
		free(f);
	}
	link->w_tail = NULL;
	/* in flight first, then the queue in order */
	while ((c = link->inflight ? link->inflight : link->q_head)) {
		if (c == link->inflight) {
			link->inflight = NULL;
		} else {
			link->q_head = c->next;
			link->q_len--;
		}
		if (report) {
			struct ocpp_link_answer a = { .status = OCPP_LINK_DISCONNECTED,
						      .error_desc = "connection lost" };
			answer(link, c, &a);
		}
		out_call_free(c);
	}
	link->q_tail = NULL;
	link->q_len = 0;
	inbound_forget(link);
	free(link->rx);
	link->rx = NULL;
	link->rx_len = link->rx_cap = 0;
}

/* The wsi is gone (failed attempt or closed connection): report, clean up
 * and schedule the next attempt. */
static void link_gone(struct ocpp_link *link, struct ocpp_link_disconnect *d)
{
	unsigned delay = 0;

	link->wsi = NULL;
	link->sock = false;
	sul_cancel(link, &link->sul_timeout);
	sul_cancel(link, &link->sul_ping);
	link->ping_due = link->awaiting_pong = false;
	if (link->closing) {
		d->reason = link->close_reason;
		d->http_status = 0;
	}
	if (link->state == LINK_S_STOPPED) {
		delay = 0;
	} else if (link->reconnect_now) {
		set_state(link, LINK_S_WAITING);
		lws_sul_schedule(link->ctx, 0, &link->sul_retry, retry_cb, 1);
	} else {
		uint64_t base = (uint64_t)link->cfg.bo_min_ms << (link->attempt < 20 ? link->attempt : 20);
		if (base > link->cfg.bo_max_ms)
			base = link->cfg.bo_max_ms;
		/* full delay halved plus a random half: [base/2, base] */
		delay = (unsigned)(base / 2 + random_u32(link) % (base - base / 2 + 1));
		if (delay == 0)
			delay = 1;
		link->attempt++;
		set_state(link, LINK_S_WAITING);
		lws_sul_schedule(link->ctx, 0, &link->sul_retry, retry_cb,
				 (lws_usec_t)delay * 1000);
	}
	d->retry_ms = delay;
	d->will_retry = link->state != LINK_S_STOPPED;
	link->closing = false;
	link->reconnect_now = false;
	ws_debug("ocpp_link %s: disconnected (%s, http %d, close %d, %s), retry in %u ms",
		 link->cfg.identity, ocpp_link_reason_str(d->reason), d->http_status,
		 d->close_code, d->detail ? d->detail : "", delay);
	drop_queues(link, true);
	if (link->ops.disconnected)
		link->ops.disconnected(link->user, link, d);
}

/* Closes the current connection from the loop (not from inside its
 * callback): a close frame when up, a kill otherwise. */
static void link_close(struct ocpp_link *link, enum ocpp_link_reason why)
{
	if (!link->wsi)
		return;
	if (!link->closing) {
		link->closing = true;
		link->close_reason = why;
	}
	if (link->state == LINK_S_UP) {
		lws_callback_on_writable(link->wsi);
		lws_set_timeout(link->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
	} else {
		lws_set_timeout(link->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

static void connect_now(struct ocpp_link *link)
{
	struct lws_client_connect_info i;
	struct lws *w;

	memset(&i, 0, sizeof(i));
	i.context = link->ctx;
	i.vhost = link->vhost;
	i.address = link->cfg.host;
	i.port = link->cfg.port;
	i.ssl_connection = link->cfg.tls ? LCCSCF_USE_SSL : 0;
	i.path = link->cfg.path;
	i.host = link->cfg.host_hdr;
	i.protocol = OCPP_LINK_SUBPROTOCOL;
	i.local_protocol_name = OCPP_LINK_SUBPROTOCOL;
	i.ietf_version_or_minus_one = -1;
	i.opaque_user_data = link;
	i.retry_and_idle_policy = &link_retry_policy;

	link->peer_close_code = 0;
	link->fail_detail[0] = 0;
	set_state(link, LINK_S_CONNECTING);
	ws_debug("ocpp_link %s: connecting to %s:%d%s (profile %d)", link->cfg.identity,
		 link->cfg.host, link->cfg.port, link->cfg.path, link->cfg.profile);
	link->sock = true;
	link->wsi = NULL;
	w = lws_client_connect_via_info(&i);
	if (w && link->sock) {
		link->wsi = w;
	} else if (!w) {
		/* lws may already have reported CONNECTION_ERROR; if not,
		 * report here */
		if (link->sock) {
			struct ocpp_link_disconnect d = { .reason = OCPP_LINK_R_CONNECT,
							  .detail = "connect failed" };
			link_gone(link, &d);
		}
	}
}

static void retry_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_link *link = lws_container_of(sul, struct ocpp_link, sul_retry);

	if (link->state != LINK_S_WAITING || link->sock)
		return;
	if (link->vhost_old) {
		lws_vhost_destroy(link->vhost_old);
		link->vhost_old = NULL;
	}
	connect_now(link);
}

static void ping_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_link *link = lws_container_of(sul, struct ocpp_link, sul_ping);

	if (link->state != LINK_S_UP || !link->wsi)
		return;
	if (link->awaiting_pong) {
		link_close(link, OCPP_LINK_R_PING);
		return;
	}
	link->ping_due = true;
	link->awaiting_pong = true;
	lws_callback_on_writable(link->wsi);
	lws_sul_schedule(link->ctx, 0, &link->sul_ping, ping_cb,
			 (lws_usec_t)link->cfg.ping_s * LWS_USEC_PER_SEC);
}

/* ---- inbound ------------------------------------------------------------------ */

static void refuse_call(struct ocpp_link *link, const char *id, const char *action,
			enum ocpp_error_code code, const char *desc)
{
	notice(link, OCPP_LINK_N_REFUSED_CALL, "CALL %s %s refused: %s: %s",
	       action && *action ? action : "?", id, ocpp_error_code_str(code), desc);
	send_error(link, id, code, desc);
}

static void on_call(struct ocpp_link *link, struct ocpp_rpc_msg *msg)
{
	const struct ocpp_action *a = ocpp_action_find(msg->action);
	struct ocpp_rpc_perr perr;
	char desc[160];
	void *req;
	int r;

	if (!a) {       /* ocpp_rpc_parse() refuses these; belt and braces */
		refuse_call(link, msg->id, msg->action, OCPP_ERR_NOT_IMPLEMENTED, "unknown action");
		return;
	}
	if (!(a->senders & OCPP_SENDER_CS)) {
		snprintf(desc, sizeof(desc), "%s is sent by the charge point, not to it", a->name);
		refuse_call(link, msg->id, a->name, OCPP_ERR_NOT_SUPPORTED, desc);
		return;
	}
	if (link->in_busy) {
		snprintf(desc, sizeof(desc),
			 "CALL %s is still unanswered; one CALL at a time (OCPP-J 4.1.1)",
			 link->in_id);
		refuse_call(link, msg->id, a->name, OCPP_ERR_GENERIC_ERROR, desc);
		return;
	}
	req = calloc(1, a->req_size ? a->req_size : 1);
	if (!req) {
		refuse_call(link, msg->id, a->name, OCPP_ERR_INTERNAL_ERROR, "out of memory");
		return;
	}
	r = ocpp_rpc_decode_call(msg, req, &perr);
	if (r != 0) {
		free(req);
		if (r == OCPP_E_INVALID)
			refuse_call(link, msg->id, a->name, perr.code, perr.err.desc);
		else
			refuse_call(link, msg->id, a->name, OCPP_ERR_INTERNAL_ERROR,
				    "cannot decode the request");
		return;
	}
	link->in_busy = true;
	snprintf(link->in_id, sizeof(link->in_id), "%s", msg->id);
	link->in_action = a;
	link->in_req = req;
	link->ops.call(link->user, link, link->in_id, a, req);
}

static void on_answer(struct ocpp_link *link, struct ocpp_rpc_msg *msg)
{
	struct out_call *c = link->inflight;
	const struct ocpp_action *act = c ? c->action : NULL;
	struct ocpp_link_answer a = { 0 };
	struct ocpp_err err;
	void *conf;
	int r;

	if (!c || strcmp(c->id, msg->id) != 0) {
		notice(link, OCPP_LINK_N_UNKNOWN_ANSWER, "%s for unknown id %s ignored",
		       msg->type == OCPP_MSG_CALLRESULT ? "CALLRESULT" : "CALLERROR", msg->id);
		return;
	}
	if (msg->type == OCPP_MSG_CALLERROR) {
		a.status = OCPP_LINK_CALLERROR;
		a.error_code = msg->error_code;
		a.error_code_str = msg->error_code_str;
		a.error_desc = msg->error_description ? msg->error_description : "";
		finish_inflight(link, &a);
		return;
	}
	conf = calloc(1, act->conf_size ? act->conf_size : 1);
	if (!conf) {
		a.status = OCPP_LINK_BAD_RESULT;
		a.error_code = OCPP_ERR_INTERNAL_ERROR;
		a.error_desc = "out of memory decoding the result";
		finish_inflight(link, &a);
		return;
	}
	ocpp_rt_begin(&err);
	r = act->conf_decode(msg->payload, conf, &err);
	if (r == 0) {
		a.status = OCPP_LINK_OK;
		a.payload = msg->payload;
		a.conf = conf;
		finish_inflight(link, &a);
		act->conf_free(conf);
	} else {
		char desc[300];
		snprintf(desc, sizeof(desc), "%sResponse: %s", act->name, err.desc);
		a.status = OCPP_LINK_BAD_RESULT;
		a.error_code = r == OCPP_E_INVALID ? err.code : OCPP_ERR_INTERNAL_ERROR;
		a.error_desc = desc;
		notice(link, OCPP_LINK_N_BAD_FRAME, "CALLRESULT %s fails the schema: %s",
		       msg->id, desc);
		finish_inflight(link, &a);
	}
	free(conf);
}

static void on_frame(struct ocpp_link *link, const char *buf, size_t len)
{
	struct ocpp_rpc_msg msg;
	struct ocpp_rpc_perr perr;
	int r;

	memset(&msg, 0, sizeof(msg));
	r = ocpp_rpc_parse(buf, len, &msg, &perr);
	if (r == OCPP_E_INVALID) {
		if (perr.can_answer) {
			refuse_call(link, perr.id, NULL, perr.code, perr.err.desc);
		} else if ((perr.type == OCPP_MSG_CALLRESULT || perr.type == OCPP_MSG_CALLERROR) &&
			   link->inflight && strcmp(perr.id, link->inflight->id) == 0) {
			struct ocpp_link_answer a = { .status = OCPP_LINK_BAD_RESULT,
						      .error_code = perr.code,
						      .error_desc = perr.err.desc };
			notice(link, OCPP_LINK_N_BAD_FRAME, "malformed answer to %s: %s",
			       perr.id, perr.err.desc);
			finish_inflight(link, &a);
		} else {
			notice(link, OCPP_LINK_N_BAD_FRAME, "frame ignored: %s: %s",
			       ocpp_error_code_str(perr.code), perr.err.desc);
		}
		return;
	}
	if (r < 0) {
		notice(link, OCPP_LINK_N_BAD_FRAME, "frame dropped: %s", strerror(-r));
		return;
	}
	if (msg.type == OCPP_MSG_CALL)
		on_call(link, &msg);
	else
		on_answer(link, &msg);
	ocpp_rpc_msg_clear(&msg);
}

/* Collects fragments; a frame longer than OCPP_RPC_FRAME_MAX is kept to
 * OCPP_RPC_FRAME_MAX + 1 bytes, which ocpp_rpc_parse() refuses by size. */
static int on_rx(struct ocpp_link *link, struct lws *wsi, const char *in, size_t len)
{
	const size_t cap = OCPP_RPC_FRAME_MAX + 1;
	size_t take;

	if (lws_is_first_fragment(wsi)) {
		link->rx_len = 0;
		link->rx_binary = lws_frame_is_binary(wsi);
	}
	take = len;
	if (take > cap - link->rx_len)
		take = cap - link->rx_len;
	if (link->rx_len + take > link->rx_cap) {
		size_t n = link->rx_cap ? link->rx_cap : RX_BUF_KEEP;
		char *p;
		while (n < link->rx_len + take)
			n *= 2;
		if (n > cap)
			n = cap;
		p = realloc(link->rx, n);
		if (!p)
			return -ENOMEM;
		link->rx = p;
		link->rx_cap = n;
	}
	memcpy(link->rx + link->rx_len, in, take);
	link->rx_len += take;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	if (link->rx_binary) {
		/* OCPP-J is text frames only */
		notice(link, OCPP_LINK_N_BAD_FRAME, "binary frame ignored");
	} else {
		on_frame(link, link->rx, link->rx_len);
	}
	link->rx_len = 0;
	/* keep memory small while idle: release a buffer that grew */
	if (link->rx_cap > RX_BUF_KEEP) {
		free(link->rx);
		link->rx = NULL;
		link->rx_cap = 0;
	}
	return 0;
}

/* ---- lws callback ----------------------------------------------------------------- */

static int add_basic_auth(struct ocpp_link *link, unsigned char **p, unsigned char *end)
{
	char cred[OCPP_LINK_IDENTITY_MAX + OCPP_LINK_AUTHKEY_MAX + 2];
	char hdr[6 + 4 * (sizeof(cred) + 2) / 3 + 4];
	int n, r = 0;

	n = snprintf(cred, sizeof(cred), "%s:%s", link->cfg.identity, link->cfg.authkey);
	memcpy(hdr, "Basic ", 6);
	n = lws_b64_encode_string(cred, n, hdr + 6, (int)sizeof(hdr) - 6);
	if (n < 0 || lws_add_http_header_by_token(link->wsi ? link->wsi : NULL,
						   WSI_TOKEN_HTTP_AUTHORIZATION,
						   (unsigned char *)hdr, n + 6, p, end))
		r = -1;
	explicit_bzero(cred, sizeof(cred));
	explicit_bzero(hdr, sizeof(hdr));
	return r;
}

static void classify_failure(struct ocpp_link *link, struct lws *wsi, const char *in,
			     struct ocpp_link_disconnect *d)
{
	int status = wsi ? (int)lws_http_client_http_response(wsi) : 0;

	snprintf(link->fail_detail, sizeof(link->fail_detail), "%s", in ? in : "");
	d->detail = link->fail_detail;
	if (status > 0 && status != 101) {
		d->reason = OCPP_LINK_R_HTTP;
		d->http_status = status;
	} else if (in && strstr(in, "PROTOCOL")) {
		/* lws' own check: the server selected a protocol we did not offer */
		d->reason = OCPP_LINK_R_SUBPROTOCOL;
	} else if (in && (strcasestr(in, "tls") || strcasestr(in, "ssl") ||
			  strcasestr(in, "cert"))) {
		d->reason = OCPP_LINK_R_TLS;
	} else {
		d->reason = OCPP_LINK_R_CONNECT;
	}
}

static int link_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct ocpp_link *link = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	struct ocpp_link_disconnect d = { 0 };
	char proto[64];

	(void)user;
	/* one attempt or connection per link at a time: any wsi carrying the
	 * link is the current one (lws may call back before connect returns) */
	if (!link || !link->sock)
		return 0;
	link->wsi = wsi;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (link->cfg.profile == 1 || link->cfg.profile == 2)
			return add_basic_auth(link, (unsigned char **)in,
					      *(unsigned char **)in + len);
		return 0;

	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		/* lws 4.1 takes a missing Sec-WebSocket-Protocol as "the first
		 * protocol": insist on the server's explicit choice */
		if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 ||
		    strcmp(proto, OCPP_LINK_SUBPROTOCOL) != 0) {
			link->closing = true;
			link->close_reason = OCPP_LINK_R_SUBPROTOCOL;
			snprintf(link->fail_detail, sizeof(link->fail_detail),
				 "server selected no ocpp1.6 subprotocol");
			return 1;
		}
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (link->closing && link->close_reason == OCPP_LINK_R_SUBPROTOCOL)
			d.detail = link->fail_detail;
		else
			classify_failure(link, wsi, in, &d);
		link_gone(link, &d);
		return 0;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (link->closing) {    /* stop/reconfigure while connecting */
			lws_callback_on_writable(wsi);
			return 0;
		}
		link->attempt = 0;
		set_state(link, LINK_S_UP);
		if (link->cfg.ping_s)
			lws_sul_schedule(link->ctx, 0, &link->sul_ping, ping_cb,
					 (lws_usec_t)link->cfg.ping_s * LWS_USEC_PER_SEC);
		if (link->ops.connected)
			link->ops.connected(link->user, link);
		send_next(link);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (link->closing)
			return 0;
		if (on_rx(link, wsi, in, len) < 0) {
			link->closing = true;
			link->close_reason = OCPP_LINK_R_PROTOCOL;
			return -1;
		}
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		link->awaiting_pong = false;
		notice(link, OCPP_LINK_N_PONG, "pong");
		return 0;

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (in && len >= 2)
			link->peer_close_code = ((unsigned char *)in)[0] << 8 |
						((unsigned char *)in)[1];
		return 0;

	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct out_frame *f;
		if (link->closing) {
			lws_close_reason(wsi, link->close_reason == OCPP_LINK_R_PING
					 ? LWS_CLOSE_STATUS_GOINGAWAY : LWS_CLOSE_STATUS_NORMAL,
					 NULL, 0);
			return -1;
		}
		if (link->ping_due) {
			unsigned char pbuf[LWS_PRE + 1];
			link->ping_due = false;
			if (lws_write(wsi, pbuf + LWS_PRE, 0, LWS_WRITE_PING) < 0)
				return -1;
		} else if ((f = link->w_head)) {
			link->w_head = f->next;
			if (!link->w_head)
				link->w_tail = NULL;
			int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
			free(f);
			if (n < 0)
				return -1;
		}
		if (link->w_head || link->ping_due)
			lws_callback_on_writable(wsi);
		return 0;
	}

	case LWS_CALLBACK_CLIENT_CLOSED:
		d.reason = OCPP_LINK_R_CLOSED;
		d.close_code = link->peer_close_code ? link->peer_close_code : 1006;
		d.detail = "";
		link_gone(link, &d);
		return 0;

	default:
		return 0;
	}
}

/* ---- API ----------------------------------------------------------------------- */

int ocpp_link_new(struct ocpp_link **ret, struct lws_context *ctx,
		  const struct ocpp_link_config *cfg,
		  const struct ocpp_link_ops *ops, void *user, const char **why)
{
	struct ocpp_link *link;
	const char *w = NULL;
	uint8_t seed[6];
	int r;

	if (!ctx || !cfg || !ops || !ops->call) {
		if (why)
			*why = "context, config, ops and ops->call are required";
		return -EINVAL;
	}
	link = calloc(1, sizeof(*link));
	if (!link)
		return -ENOMEM;
	link->ctx = ctx;
	link->ops = *ops;
	link->user = user;
	r = cfg_load(&link->cfg, cfg, &w);
	if (r) {
		if (why)
			*why = w;
		goto fail;
	}
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		lws_get_random(ctx, seed, sizeof(seed));
	ocpp_rpc_idgen_init(&link->idgen, seed);
	r = vhost_create(link, &link->cfg, &link->vhost);
	if (r) {
		if (why)
			*why = "cannot create the vhost / TLS context (certificate or key files?)";
		goto fail;
	}
	link->state = LINK_S_WAITING;
	lws_sul_schedule(ctx, 0, &link->sul_retry, retry_cb, 1);
	*ret = link;
	return 0;
fail:
	cfg_clear(&link->cfg);
	free(link);
	return r;
}

struct ocpp_link *ocpp_link_free(struct ocpp_link *link)
{
	if (!link)
		return NULL;
	sul_cancel(link, &link->sul_retry);
	sul_cancel(link, &link->sul_timeout);
	sul_cancel(link, &link->sul_ping);
	if (link->wsi) {
		/* no callback may reach the link from here on */
		link->sock = false;
		lws_set_opaque_user_data(link->wsi, NULL);
		lws_set_timeout(link->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		link->wsi = NULL;
	}
	drop_queues(link, false);
	if (link->vhost_old)
		lws_vhost_destroy(link->vhost_old);
	if (link->vhost)
		lws_vhost_destroy(link->vhost);
	cfg_clear(&link->cfg);
	free(link);
	return NULL;
}

int ocpp_link_reconfigure(struct ocpp_link *link, const struct ocpp_link_config *cfg,
			  const char **why)
{
	struct link_cfg c;
	struct lws_vhost *vh;
	const char *w = NULL;
	int r;

	r = cfg_load(&c, cfg, &w);
	if (r) {
		if (why)
			*why = w;
		return r;
	}
	r = vhost_create(link, &c, &vh);
	if (r) {
		if (why)
			*why = "cannot create the vhost / TLS context (certificate or key files?)";
		cfg_clear(&c);
		return r;
	}
	if (link->vhost_old)            /* a reconfigure before the last one connected */
		lws_vhost_destroy(link->vhost_old);
	link->vhost_old = link->vhost;
	link->vhost = vh;
	cfg_clear(&link->cfg);
	link->cfg = c;
	link->attempt = 0;
	if (link->sock) {
		if (link->state == LINK_S_STOPPED)
			set_state(link, LINK_S_CONNECTING);
		link->reconnect_now = true;
		link_close(link, OCPP_LINK_R_LOCAL);
	} else {
		set_state(link, LINK_S_WAITING);
		lws_sul_schedule(link->ctx, 0, &link->sul_retry, retry_cb, 1);
	}
	return 0;
}

void ocpp_link_stop(struct ocpp_link *link)
{
	sul_cancel(link, &link->sul_retry);
	if (link->sock) {
		link->reconnect_now = false;
		link_close(link, OCPP_LINK_R_LOCAL);
	}
	set_state(link, LINK_S_STOPPED);
}

bool ocpp_link_is_connected(const struct ocpp_link *link)
{
	return link && link->state == LINK_S_UP && link->wsi && !link->closing;
}

int ocpp_link_call(struct ocpp_link *link, const char *action, const json_t *payload,
		   ocpp_link_answer_fn cb, void *cb_user, char id_out[OCPP_RPC_ID_MAX + 1],
		   struct ocpp_err *err)
{
	struct ocpp_err e;
	const struct ocpp_action *a;
	struct out_call *c = NULL;
	json_t *empty = NULL;
	void *req = NULL;
	int r;

	if (!err)
		err = &e;
	ocpp_rt_begin(err);
	if (!cb)
		return -EINVAL;
	if (!ocpp_link_is_connected(link))
		return OCPP_LINK_E_OFFLINE;
	if (link->q_len >= OCPP_LINK_QUEUE_MAX)
		return OCPP_LINK_E_FULL;
	a = action ? ocpp_action_find(action) : NULL;
	if (!a || !(a->senders & OCPP_SENDER_CP)) {
		err->code = OCPP_ERR_NOT_SUPPORTED;
		snprintf(err->desc, sizeof(err->desc), "%s is not an action the charge point sends",
			 action ? action : "(null)");
		return OCPP_LINK_E_INVALID;
	}
	if (!payload)
		payload = empty = json_object();
	if (!payload)
		return -ENOMEM;
	/* self-check: what the CSMS would refuse is not sent */
	req = calloc(1, a->req_size ? a->req_size : 1);
	if (!req) {
		r = -ENOMEM;
		goto fail;
	}
	r = a->req_decode(payload, req, err);
	if (r == 0)
		a->req_free(req);
	else if (r == OCPP_E_INVALID)
		r = OCPP_LINK_E_INVALID;
	if (r)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto fail;
	}
	ocpp_rpc_idgen_next(&link->idgen, c->id);
	c->action = a;
	c->cb = cb;
	c->cb_user = cb_user;
	r = ocpp_rpc_encode_call(c->id, a->name, payload, &c->frame);
	if (r)
		goto fail;
	c->len = strlen(c->frame);
	if (c->len > OCPP_LINK_OUT_MAX) {
		err->code = OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION;
		snprintf(err->desc, sizeof(err->desc), "frame of %zu bytes is over the limit", c->len);
		r = OCPP_LINK_E_INVALID;
		goto fail;
	}
	if (id_out)
		memcpy(id_out, c->id, sizeof(c->id));
	if (link->q_tail)
		link->q_tail->next = c;
	else
		link->q_head = c;
	link->q_tail = c;
	link->q_len++;
	free(req);
	json_decref(empty);
	send_next(link);
	return 0;
fail:
	out_call_free(c);
	free(req);
	json_decref(empty);
	return r;
}

int ocpp_link_reply(struct ocpp_link *link, const char *id, const json_t *result,
		    struct ocpp_err *err)
{
	struct ocpp_err e;
	json_t *empty = NULL;
	char *frame = NULL;
	void *conf = NULL;
	int r;

	if (!err)
		err = &e;
	ocpp_rt_begin(err);
	if (!link->in_busy || !id || strcmp(id, link->in_id) != 0)
		return OCPP_LINK_E_UNKNOWN_ID;
	if (!result)
		result = empty = json_object();
	conf = calloc(1, link->in_action->conf_size ? link->in_action->conf_size : 1);
	if (!result || !conf) {
		r = -ENOMEM;
		goto fail;
	}
	r = link->in_action->conf_decode(result, conf, err);
	if (r == 0) {
		link->in_action->conf_free(conf);
		r = ocpp_rpc_encode_result(id, result, &frame);
		if (r == 0 && strlen(frame) > OCPP_LINK_OUT_MAX) {
			err->code = OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION;
			snprintf(err->desc, sizeof(err->desc), "result frame over the limit");
			r = OCPP_E_INVALID;
		}
	}
	if (r == OCPP_E_INVALID) {
		char desc[300];
		snprintf(desc, sizeof(desc), "our %sResponse would be invalid", link->in_action->name);
		send_error(link, id, OCPP_ERR_INTERNAL_ERROR, desc);
		r = OCPP_LINK_E_INVALID;
	} else if (r == 0) {
		r = write_frame(link, frame, strlen(frame));
		if (r == OCPP_LINK_E_OFFLINE)
			r = 0;  /* closing: the reply is lost with the connection */
	}
	if (r >= 0)
		inbound_forget(link);
fail:
	free(frame);
	free(conf);
	json_decref(empty);
	return r;
}

int ocpp_link_reply_error(struct ocpp_link *link, const char *id,
			  enum ocpp_error_code code, const char *desc)
{
	char *frame = NULL;
	int r;

	if (!link->in_busy || !id || strcmp(id, link->in_id) != 0)
		return OCPP_LINK_E_UNKNOWN_ID;
	r = ocpp_rpc_encode_error(id, code, desc, &frame);
	if (r)
		return r;
	r = write_frame(link, frame, strlen(frame));
	free(frame);
	if (r < 0)
		return r;
	inbound_forget(link);
	return 0;
}
