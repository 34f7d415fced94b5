/* probe-chain.c: a test program that hosts a libwebsockets loop the way
 * wattstreamd does and runs chain client commands, one at a time, printing
 * one JSON line per command on stdout.  Commands come from the command line
 * (each argument one command; exits after the last) or, without arguments,
 * from stdin lines (prints {"ready":true} first; exits at EOF or "quit").
 * Used by tests/integration/chain.test.mjs; the command list is in
 * docs/chain-client.md.  Cost: one process, one connection per call. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wattstream/address.h"
#include "wattstream/chain.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"

#define PROBE_MAX_ARGS 64
#define PROBE_MAX_CLAIMS 32

struct probe {
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	ws_chain *chain;
	char **script;		/* argv mode */
	int n_script, next_script;
	char line[65536];
	size_t line_len;
	char *pending[256];	/* stdin lines not yet run */
	unsigned n_pending;
	bool busy, eof, done;
	char cmd[32];
	uint8_t seckey[32];
	lws_sorted_usec_list_t next_sul; /* runs the next command off any callback stack */
};

static struct probe P;

static void next_command(void);

static void emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
	json_decref(o);
}

static void next_cb(lws_sorted_usec_list_t *sul)
{
	next_command();
}

/* Not next_command() directly: a command such as "url" frees the chain
 * client, which must not happen inside one of its callbacks. */
static void schedule_next(void)
{
	lws_sul_schedule(P.ctx, 0, &P.next_sul, next_cb, 1);
}

static void finish(json_t *o)
{
	emit(o);
	P.busy = false;
	schedule_next();
}

static json_t *result_obj(int err)
{
	json_t *o = json_pack("{s:s, s:b}", "cmd", P.cmd, "ok", err == 0);
	if (err) {
		json_object_set_new(o, "err", json_integer(err));
		json_object_set_new(o, "error", json_string(ws_chain_strerror(err)));
	}
	return o;
}

static void fail_usage(const char *why)
{
	json_t *o = json_pack("{s:s, s:b, s:s}", "cmd", P.cmd, "ok", 0, "error", why);
	finish(o);
}

static json_t *hex_j(const void *p, size_t n)
{
	char s[WS_HEX_STR_SIZE(64)];
	if (n > 64 || ws_hex_format(p, n, s, sizeof(s)))
		return json_null();
	return json_string(s);
}

static json_t *addr_j(const uint8_t a[20])
{
	char s[WS_ADDRESS_STR_SIZE];
	ws_address_format(a, s);
	return json_string(s);
}

static json_t *dec_j(const ws_u256 *v)
{
	char s[WS_U256_DEC_SIZE];
	ws_u256_to_dec(v, s, sizeof(s));
	return json_string(s);
}

/* ---- callbacks ------------------------------------------------------------ */

static void on_u64(void *user, int err, uint64_t v)
{
	json_t *o = result_obj(err);
	if (!err)
		json_object_set_new(o, "value", json_integer((json_int_t)v));
	finish(o);
}

static void on_fees(void *user, int err, const struct ws_chain_fees *f)
{
	json_t *o = result_obj(err);
	if (!err) {
		json_object_set_new(o, "baseFee", dec_j(&f->base_fee));
		json_object_set_new(o, "tip", dec_j(&f->max_priority_fee));
		json_object_set_new(o, "maxFee", dec_j(&f->max_fee));
		json_object_set_new(o, "tipFallback", json_boolean(f->tip_from_fallback));
	}
	finish(o);
}

static void on_bytes(void *user, int err, const uint8_t *p, size_t n)
{
	json_t *o = result_obj(err);
	if (p) {
		char *s = malloc(WS_HEX_STR_SIZE(n));
		if (s && ws_hex_format(p, n, s, WS_HEX_STR_SIZE(n)) == 0)
			json_object_set_new(o, "data", json_string(s));
		free(s);
	}
	finish(o);
}

static void on_channel(void *user, int err, const struct ws_chain_channel *ch)
{
	json_t *o = result_obj(err);
	if (ch) {
		json_object_set_new(o, "id", hex_j(ch->id, 32));
		json_object_set_new(o, "sender", addr_j(ch->sender));
		json_object_set_new(o, "closeRequestedAt",
				    json_integer((json_int_t)ch->close_requested_at));
		json_object_set_new(o, "receiver", addr_j(ch->receiver));
		json_object_set_new(o, "token", addr_j(ch->token));
		json_object_set_new(o, "sessionKey", addr_j(ch->session_key));
		json_object_set_new(o, "deposit", dec_j(&ch->deposit));
		json_object_set_new(o, "claimed", dec_j(&ch->claimed));
	}
	finish(o);
}

static json_t *receipt_j(const struct ws_chain_receipt *rc)
{
	json_t *logs = json_array();
	for (size_t i = 0; i < rc->n_logs; i++) {
		json_t *t = json_array();
		for (unsigned k = 0; k < rc->logs[i].n_topics; k++)
			json_array_append_new(t, hex_j(rc->logs[i].topics[k], 32));
		json_array_append_new(logs, json_pack("{s:o, s:o, s:I}", "address",
			addr_j(rc->logs[i].address), "topics", t, "dataLen",
			(json_int_t)rc->logs[i].data_len));
	}
	return json_pack("{s:o, s:b, s:I, s:I, s:o, s:o}", "tx", hex_j(rc->tx_hash, 32),
			 "status", rc->status, "block", (json_int_t)rc->block_number,
			 "gasUsed", (json_int_t)rc->gas_used, "gasPrice",
			 dec_j(&rc->effective_gas_price), "logs", logs);
}

static void on_receipt(void *user, int err, const struct ws_chain_receipt *rc)
{
	json_t *o = result_obj(err);
	if (rc)
		json_object_set_new(o, "receipt", receipt_j(rc));
	finish(o);
}

static void on_hash(void *user, int err, const uint8_t hash[32])
{
	json_t *o = result_obj(err);
	if (hash)
		json_object_set_new(o, "tx", hex_j(hash, 32));
	finish(o);
}

static void on_tx(void *user, int err, const struct ws_chain_tx_result *t)
{
	explicit_bzero(P.seckey, sizeof(P.seckey));
	json_t *o = result_obj(err);
	if (t) {
		json_object_set_new(o, "tx", hex_j(t->tx_hash, 32));
		json_object_set_new(o, "nonce", json_integer((json_int_t)t->nonce));
		json_object_set_new(o, "gasLimit", json_integer((json_int_t)t->gas_limit));
		if (t->receipt)
			json_object_set_new(o, "receipt", receipt_j(t->receipt));
	}
	finish(o);
}

static void on_closes(void *user, int err, const struct ws_chain_close_request *r, size_t n)
{
	json_t *o = result_obj(err);
	if (!err) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:o, s:o, s:I}",
				"channelId", hex_j(r[i].channel_id, 32),
				"settleAfter", dec_j(&r[i].settle_after),
				"block", (json_int_t)r[i].block_number));
		json_object_set_new(o, "requests", a);
	}
	finish(o);
}

/* ---- commands ------------------------------------------------------------- */

static int parse_addr(const char *s, uint8_t a[20])
{
	return s && ws_address_parse(s, a) == 0 ? 0 : -1;
}

static int parse_b32(const char *s, uint8_t b[32])
{
	return s && ws_hex_parse(s, b, 32) == 0 ? 0 : -1;
}

static int cmd_url(char **av, int ac)
{
	struct ws_chain_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	if (ac < 2)
		return -EINVAL;
	cfg.rpc.url = av[1];
	/* url URL [timeout_ms] [retries] [receipt_timeout_ms] [option...] */
	if (ac > 2)
		cfg.rpc.timeout_ms = (unsigned)strtoul(av[2], NULL, 10);
	if (ac > 3) {
		cfg.rpc.max_retries = (unsigned)strtoul(av[3], NULL, 10);
		cfg.rpc.no_retry = cfg.rpc.max_retries == 0;
		cfg.rpc.backoff_ms = 100;
	}
	if (ac > 4)
		cfg.receipt_timeout_ms = (unsigned)strtoul(av[4], NULL, 10);
	/* options: ca=PEM_FILE | insecure (https), chain=ID (expected chain id) */
	for (int i = 5; i < ac; i++) {
		if (strncmp(av[i], "ca=", 3) == 0)
			cfg.rpc.ca_file = av[i] + 3;
		else if (strcmp(av[i], "insecure") == 0)
			cfg.rpc.insecure = true;
		else if (strncmp(av[i], "chain=", 6) == 0)
			cfg.chain_id = strtoull(av[i] + 6, NULL, 10);
		else
			return -EINVAL;
	}
	cfg.receipt_poll_ms = 100;
	P.chain = ws_chain_free(P.chain);
	int r = ws_chain_new(&P.chain, P.ctx, &cfg);
	finish(result_obj(r));
	return 0;
}

static int cmd_claim(char **av, int ac)
{
	/* claim CONTRACT SECKEY (ID AMOUNT SIG open|close)+ */
	struct ws_chain_claim cl[PROBE_MAX_CLAIMS];
	struct ws_chain_signer s;
	uint8_t contract[20], pub[64];
	size_t n = 0;

	if (ac < 7 || (ac - 3) % 4 || (ac - 3) / 4 > PROBE_MAX_CLAIMS ||
	    parse_addr(av[1], contract) || ws_hex_parse(av[2], P.seckey, 32) ||
	    ws_ecsig_pubkey(P.seckey, pub))
		return -EINVAL;
	ws_address_from_pubkey(pub, s.address);
	s.seckey = P.seckey;
	for (int i = 3; i < ac; i += 4, n++) {
		memset(&cl[n], 0, sizeof(cl[n]));
		if (parse_b32(av[i], cl[n].channel_id) || ws_u256_from_dec(&cl[n].amount, av[i + 1]) ||
		    ws_hex_parse(av[i + 2], cl[n].sig, 65))
			return -EINVAL;
		cl[n].close = strcmp(av[i + 3], "close") == 0;
	}
	return ws_chain_claim(P.chain, contract, &s, cl, n, on_tx, NULL);
}

static int run(char **av, int ac)
{
	uint8_t a[20], b[32];
	const char *c = av[0];

	if (strcmp(c, "url") == 0)
		return cmd_url(av, ac);
	if (strcmp(c, "quit") == 0) {
		P.done = true;
		return 0;
	}
	if (!P.chain)
		return -ENOTCONN;
	if (strcmp(c, "chainid") == 0)
		return ws_chain_chain_id(P.chain, on_u64, NULL);
	if (strcmp(c, "block") == 0)
		return ws_chain_block_number(P.chain, on_u64, NULL);
	if (strcmp(c, "nonce") == 0)
		return parse_addr(ac > 1 ? av[1] : NULL, a) ? -EINVAL :
		       ws_chain_nonce(P.chain, a, on_u64, NULL);
	if (strcmp(c, "fees") == 0)
		return ws_chain_fees(P.chain, on_fees, NULL);
	if (strcmp(c, "call") == 0 || strcmp(c, "send") == 0 || strcmp(c, "estimate") == 0) {
		uint8_t *data = NULL;
		size_t n = 0;
		int r;
		if (strcmp(c, "send") == 0) {
			if (ac != 2 || ws_hex_parse_alloc(av[1], &data, &n))
				return -EINVAL;
			r = ws_chain_send_raw(P.chain, data, n, on_hash, NULL);
		} else {
			if (ac != 3 || parse_addr(av[1], a) || ws_hex_parse_alloc(av[2], &data, &n))
				return -EINVAL;
			r = c[0] == 'c' ? ws_chain_call(P.chain, a, data, n, on_bytes, NULL) :
			    ws_chain_estimate_gas(P.chain, NULL, a, data, n, on_u64, NULL);
		}
		free(data);
		return r;
	}
	if (strcmp(c, "receipt") == 0)
		return parse_b32(ac > 1 ? av[1] : NULL, b) ? -EINVAL :
		       ws_chain_wait_receipt(P.chain, b, on_receipt, NULL);
	if (strcmp(c, "channel") == 0)
		return ac != 3 || parse_addr(av[1], a) || parse_b32(av[2], b) ? -EINVAL :
		       ws_chain_get_channel(P.chain, a, b, on_channel, NULL);
	if (strcmp(c, "claim") == 0)
		return cmd_claim(av, ac);
	if (strcmp(c, "closes") == 0) {
		/* closes CONTRACT FROM_BLOCK [ID...] */
		uint8_t ids[PROBE_MAX_ARGS][32];
		if (ac < 3 || ac - 3 > PROBE_MAX_ARGS || parse_addr(av[1], a))
			return -EINVAL;
		for (int i = 3; i < ac; i++)
			if (parse_b32(av[i], ids[i - 3]))
				return -EINVAL;
		return ws_chain_close_requests(P.chain, a, strtoull(av[2], NULL, 10),
					       (const uint8_t (*)[32])ids, (size_t)(ac - 3),
					       on_closes, NULL);
	}
	return -ENOSYS;
}

static void run_line(char *line)
{
	char *av[PROBE_MAX_ARGS + 8];
	int ac = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r", &save); t && ac < (int)(sizeof(av) / sizeof(av[0]));
	     t = strtok_r(NULL, " \t\r", &save))
		av[ac++] = t;
	if (ac == 0)
		return;
	snprintf(P.cmd, sizeof(P.cmd), "%s", av[0]);
	P.busy = true;
	int r = run(av, ac);
	if (r == -EINVAL)
		fail_usage("bad arguments");
	else if (r == -ENOTCONN)
		fail_usage("no url yet");
	else if (r == -ENOSYS)
		fail_usage("unknown command");
	else if (r < 0)
		fail_usage(strerror(-r));
	else if (P.done)
		P.busy = false;
}

static void next_command(void)
{
	while (!P.busy && !P.done) {
		if (P.script) {
			if (P.next_script >= P.n_script) {
				P.done = true;
				break;
			}
			char *copy = strdup(P.script[P.next_script++]);
			if (!copy) {
				P.done = true;
				break;
			}
			run_line(copy);
			free(copy);
			continue;
		}
		if (P.n_pending == 0) {
			if (P.eof)
				P.done = true;
			break;
		}
		char *l = P.pending[0];
		memmove(P.pending, P.pending + 1, --P.n_pending * sizeof(P.pending[0]));
		run_line(l);
		free(l);
	}
	if (P.done)
		lws_cancel_service(P.ctx);
}

static void read_stdin(void)
{
	char buf[4096];
	ssize_t n = read(0, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			P.eof = true;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (P.line_len < sizeof(P.line) - 1)
				P.line[P.line_len++] = buf[i];
			continue;
		}
		P.line[P.line_len] = '\0';
		P.line_len = 0;
		if (P.n_pending < sizeof(P.pending) / sizeof(P.pending[0]))
			if ((P.pending[P.n_pending] = strdup(P.line)))
				P.n_pending++;
	}
	schedule_next();
}

static int stdin_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	if (reason == LWS_CALLBACK_RAW_RX_FILE)
		read_stdin();
	else if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		P.eof = true;
		schedule_next();
	}
	return 0;
}

static const struct lws_protocols probe_protocols[] = {
	{ .name = "probe-stdin", .callback = stdin_callback },
	{ 0 }
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;

	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	P.ctx = lws_create_context(&info);
	if (!P.ctx) {
		fprintf(stderr, "probe-chain: cannot create the loop\n");
		return 1;
	}
	if (argc > 1) {
		P.script = argv + 1;
		P.n_script = argc - 1;
	} else {
		memset(&info, 0, sizeof(info));
		info.vhost_name = "probe";
		info.port = CONTEXT_PORT_NO_LISTEN;
		info.protocols = probe_protocols;
		P.vhost = lws_create_vhost(P.ctx, &info);
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		lws_sock_file_fd_type fd = { .filefd = 0 };
		if (!P.vhost || !lws_adopt_descriptor_vhost(P.vhost, LWS_ADOPT_RAW_FILE_DESC, fd,
							    "probe-stdin", NULL)) {
			fprintf(stderr, "probe-chain: cannot watch stdin\n");
			lws_context_destroy(P.ctx);
			return 1;
		}
		emit(json_pack("{s:b}", "ready", 1));
	}
	schedule_next();
	while (!P.done && lws_service(P.ctx, 0) >= 0)
		;
	P.chain = ws_chain_free(P.chain);
	for (unsigned i = 0; i < P.n_pending; i++)
		free(P.pending[i]);
	lws_context_destroy(P.ctx);
	return 0;
}
