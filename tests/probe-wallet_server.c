/* probe-wallet_server.c: hosts one wallet_server on an lws loop with a
 * trivial owner, for tests/integration/wallet_server.test.mjs.
 *
 * The owner sends a (fake, unsigned) `hello` on connect; answers `start` on
 * connector 1 or 2 with a session and a first invoice (other connectors:
 * unknown_connector; a second start on a connection: connector_busy);
 * accepts any voucher of the connection's live session that is above the
 * last one (else unknown_session / voucher_wrong_channel /
 * voucher_not_higher), and answers `stop` with `ended` and a final receipt.
 * It marks the connection as holding a session while one runs.  No money
 * logic: this exercises the transport only.
 *
 * Every event is one JSON line on stdout: {"event":"listening","port":N},
 * {"event":"connected","conn":K,"remote":"127.0.0.1"},
 * {"event":"message","conn":K,"type":"start",...}, {"event":"closed","conn":K}.
 * SIGTERM/SIGINT stop it.
 *
 * usage: probe-wallet_server [--port N] [--address A] [--idle-ms N]
 *        [--rate N] [--per-address N] [--bad N] [--cert F --key F] [--path P]
 *        (--port default: any free port) */
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/hex.h"
#include "wattstream/wallet_server.h"

struct probe_conn {
	unsigned id;
	bool session;
	uint8_t session_id[32];
	uint8_t channel_id[32];
	uint32_t connector;
	ws_u256 highest;
};

static struct lws_context *ctx;
static volatile sig_atomic_t stop;
static unsigned next_id = 1;

static void emit(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
	json_decref(o);
}

static void send_owned(struct wallet_conn *c, json_t *o, int r)
{
	if (r < 0) {
		fprintf(stderr, "probe: cannot encode: %s\n", strerror(-r));
		return;
	}
	r = wallet_server_send(c, o);
	if (r < 0)
		fprintf(stderr, "probe: cannot send: %s\n", strerror(-r));
	json_decref(o);
}

static void on_connected(void *user, struct wallet_conn *c)
{
	struct probe_conn *pc = calloc(1, sizeof(*pc));
	json_t *o = NULL;

	if (!pc) {
		wallet_server_close(c, 1011, "out of memory");
		return;
	}
	pc->id = next_id++;
	wallet_server_set_user(c, pc);
	emit(json_pack("{s:s,s:I,s:s}", "event", "connected", "conn", (json_int_t)pc->id,
		       "remote", wallet_server_remote(c)));

	static const struct wallet_connector_status cs[2] = { { 1, "Available" },
							       { 2, "Available" } };
	struct wallet_hello h = { .max_sessions_per_channel = 1, .n_connectors = 2,
				  .connectors = cs };
	memset(h.station, 0x51, 20);
	memset(h.channels, 0xc1, 20);
	memset(h.registry, 0x7e, 20);
	memcpy(h.offer.station, h.station, 20);
	memset(h.offer.payee, 0x9a, 20);
	memset(h.offer.token, 0x70, 20);
	h.chain_id = ws_u256_from_u64(31337);
	h.min_deposit = ws_u256_from_u64(3000000);
	h.offer.price_per_kwh = ws_u256_from_u64(300000);
	h.offer.increment_wh = 100;
	h.offer.prepaid_increments = 1;
	h.offer.grace_s = 30;
	h.offer.valid_from_s = 1700000000;
	h.offer.valid_until_s = 1800000000;
	h.offer.location = "u33db2";
	h.offer.endpoint = "ws://127.0.0.1/wallet";
	h.offer.nonce = 1;
	int r = wallet_msg_encode_hello(&o, &h);
	send_owned(c, o, r);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char s[WS_HEX_STR_SIZE(65)];

	ws_hex_format(p, n, s, sizeof(s));
	return json_string(s);
}

static void on_start(struct wallet_conn *c, struct probe_conn *pc, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	json_t *o = NULL;
	int r;

	if (m->start.connector != 1 && m->start.connector != 2) {
		wallet_server_send_error(c, id, WALLET_ERR_UNKNOWN_CONNECTOR, "no such connector");
		return;
	}
	if (pc->session) {
		wallet_server_send_error(c, id, WALLET_ERR_CONNECTOR_BUSY, "a session runs");
		return;
	}
	pc->session = true;
	pc->connector = m->start.connector;
	memcpy(pc->channel_id, m->start.channel_id, 32);
	memset(pc->session_id, 0, 32);
	pc->session_id[0] = 0x5e;
	pc->session_id[31] = (uint8_t)pc->id;
	pc->highest = ws_u256_from_u64(0);
	wallet_server_set_session(c, true);

	struct wallet_session_info si = { .id = id, .connector = pc->connector,
					  .id_tag = "WSPROBE0000000001", .meter_start_mwh = 1000 };
	memcpy(si.session, pc->session_id, 32);
	memcpy(si.channel_id, pc->channel_id, 32);
	r = wallet_msg_encode_session(&o, &si);
	send_owned(c, o, r);
	struct wallet_invoice inv = { .increments = 1, .meter_mwh = 1000 };
	memcpy(inv.session, pc->session_id, 32);
	inv.amount = ws_u256_from_u64(30000);
	r = wallet_msg_encode_invoice(&o, &inv);
	send_owned(c, o, r);
}

static void on_voucher(struct wallet_conn *c, struct probe_conn *pc, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	json_t *o = NULL;
	int r;

	if (!pc->session || memcmp(m->voucher.session, pc->session_id, 32) != 0) {
		wallet_server_send_error(c, id, WALLET_ERR_UNKNOWN_SESSION, "no such session");
		return;
	}
	if (memcmp(m->voucher.channel_id, pc->channel_id, 32) != 0) {
		wallet_server_send_error(c, id, WALLET_ERR_VOUCHER_WRONG_CHANNEL, "another channel");
		return;
	}
	if (ws_u256_cmp(&m->voucher.amount, &pc->highest) <= 0) {
		wallet_server_send_error(c, id, WALLET_ERR_VOUCHER_NOT_HIGHER, "not above the last");
		return;
	}
	pc->highest = m->voucher.amount;
	struct wallet_accepted a = { .id = id, .amount = pc->highest, .allowance_mwh = 100000 };
	memcpy(a.session, pc->session_id, 32);
	r = wallet_msg_encode_accepted(&o, &a);
	send_owned(c, o, r);
}

static void on_stop(struct wallet_conn *c, struct probe_conn *pc, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	json_t *o = NULL;
	int r;

	if (!pc->session || memcmp(m->stop.session, pc->session_id, 32) != 0) {
		wallet_server_send_error(c, id, WALLET_ERR_UNKNOWN_SESSION, "no such session");
		return;
	}
	struct wallet_receipt rc = { .seq = 1, .meter_start_mwh = 1000, .meter_mwh = 1000,
				     .timestamp_ms = 1764092787000, .final = true };
	memcpy(rc.session, pc->session_id, 32);
	memcpy(rc.channel_id, pc->channel_id, 32);
	rc.paid = pc->highest;
	r = wallet_msg_encode_ended(&o, id, pc->session_id, "stopped", &rc);
	send_owned(c, o, r);
	pc->session = false;
	wallet_server_set_session(c, false);
}

static void on_message(void *user, struct wallet_conn *c, const struct wallet_msg *m)
{
	struct probe_conn *pc = wallet_server_get_user(c);
	static const char *const names[] = { [WALLET_MSG_START] = "start",
					     [WALLET_MSG_VOUCHER] = "voucher",
					     [WALLET_MSG_STOP] = "stop" };
	json_t *ev = json_pack("{s:s,s:I,s:s}", "event", "message", "conn", (json_int_t)pc->id,
			       "type", names[m->type]);

	if (m->has_id)
		json_object_set_new(ev, "id", json_string(m->id));
	switch (m->type) {
	case WALLET_MSG_START:
		json_object_set_new(ev, "connector", json_integer(m->start.connector));
		json_object_set_new(ev, "channelId", hex_json(m->start.channel_id, 32));
		emit(ev);
		on_start(c, pc, m);
		break;
	case WALLET_MSG_VOUCHER: {
		char amount[WS_U256_DEC_SIZE];
		ws_u256_to_dec(&m->voucher.amount, amount, sizeof(amount));
		json_object_set_new(ev, "amount", json_string(amount));
		json_object_set_new(ev, "signature", hex_json(m->voucher.signature, 65));
		emit(ev);
		on_voucher(c, pc, m);
		break;
	}
	case WALLET_MSG_STOP:
		emit(ev);
		on_stop(c, pc, m);
		break;
	}
}

static void on_closed(void *user, struct wallet_conn *c)
{
	struct probe_conn *pc = wallet_server_get_user(c);

	if (!pc)
		return;
	emit(json_pack("{s:s,s:I}", "event", "closed", "conn", (json_int_t)pc->id));
	free(pc);
	wallet_server_set_user(c, NULL);
}

static const struct wallet_server_ops ops = {
	.connected = on_connected,
	.message = on_message,
	.closed = on_closed,
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (ctx)
		lws_cancel_service(ctx);
}

int main(int argc, char **argv)
{
	struct wallet_server_config cfg = { .port = -1 };
	struct lws_context_creation_info info;
	struct wallet_server *srv = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (strcmp(k, "--port") == 0)
			cfg.port = atoi(v);
		else if (strcmp(k, "--address") == 0)
			cfg.address = v;
		else if (strcmp(k, "--idle-ms") == 0)
			cfg.idle_ms = (unsigned)atoi(v);
		else if (strcmp(k, "--rate") == 0)
			cfg.rate_per_s = (unsigned)atoi(v);
		else if (strcmp(k, "--per-address") == 0)
			cfg.max_per_address = (unsigned)atoi(v);
		else if (strcmp(k, "--bad") == 0)
			cfg.max_bad_requests = (unsigned)atoi(v);
		else if (strcmp(k, "--cert") == 0)
			cfg.cert_file = v;
		else if (strcmp(k, "--key") == 0)
			cfg.key_file = v;
		else if (strcmp(k, "--path") == 0)
			cfg.path = v;
		else {
			fprintf(stderr, "probe: unknown option %s\n", k);
			return 2;
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "probe: cannot create the loop\n");
		return 1;
	}
	int r = wallet_server_new(&srv, ctx, &cfg, &ops, NULL);
	if (r < 0) {
		fprintf(stderr, "probe: cannot listen: %s\n", strerror(-r));
		lws_context_destroy(ctx);
		return 1;
	}
	emit(json_pack("{s:s,s:i,s:b}", "event", "listening", "port", wallet_server_port(srv),
		       "tls", cfg.cert_file != NULL));
	while (!stop && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	srv = wallet_server_free(srv);
	emit(json_pack("{s:s}", "event", "stopped"));
	return 0;
}
