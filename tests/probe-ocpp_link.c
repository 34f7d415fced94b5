/* probe-ocpp_link.c: hosts one ocpp_link on an lws loop for the
 * integration tests (tests/integration/ocpp_link.test.mjs).
 *
 * Settings come from flags; it sends a BootNotification on every connect
 * (unless --no-boot), and reads commands from stdin, one per line:
 *   call <Action> <json>            queue a CALL
 *   reply <id> <json>               answer a held inbound CALL (--manual)
 *   reply-error <id> <Code> <desc>  answer it with a CALLERROR
 *   authkey <key>                   reconfigure with a new AuthorizationKey
 *   stop                            ocpp_link_stop()
 *   quit                            exit 0
 * Inbound CALLs are answered at once with the --reply Action=JSON given for
 * the action (else CALLERROR NotSupported), or held with --manual.
 * Every event is one JSON line on stdout ({"event":"connected"}, ...).
 * Cost: nothing worth measuring; test tool only. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "ocpp_messages.h"
#include "wattstream/log.h"
#include "wattstream/ocpp_link.h"

#define MAX_REPLIES 32

struct probe {
	struct lws_context *ctx;
	struct ocpp_link *link;
	struct ocpp_link_config cfg;
	bool boot, manual;
	const char *reply_action[MAX_REPLIES];
	json_t *reply_json[MAX_REPLIES];
	unsigned n_replies;
	char line[300000];
	size_t line_len;
	bool quit;
};

static volatile sig_atomic_t stop_signal;
static struct lws_context *signal_ctx;

static void emit(json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(ev);
}

static void on_answer(void *cb_user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "result", "id", a->id,
			       "action", a->action->name, "status", ocpp_link_status_str(a->status));
	(void)cb_user;
	(void)link;
	if (a->payload)
		json_object_set(ev, "payload", (json_t *)a->payload);
	if (a->status != OCPP_LINK_OK) {
		json_object_set_new(ev, "error_code", json_string(a->error_code_str ? a->error_code_str
								  : ocpp_error_code_str(a->error_code)));
		json_object_set_new(ev, "error_desc", json_string(a->error_desc));
	}
	/* prove the decoded struct is there: re-encode it */
	if (a->conf) {
		json_t *re = a->action->conf_encode(a->conf);
		json_object_set_new(ev, "decoded", re ? re : json_null());
	}
	emit(ev);
}

static void do_call(struct probe *p, const char *action, json_t *payload)
{
	char id[OCPP_RPC_ID_MAX + 1];
	struct ocpp_err err;
	int r = ocpp_link_call(p->link, action, payload, on_answer, p, id, &err);

	if (r == 0)
		emit(json_pack("{s:s, s:s, s:s}", "event", "queued", "id", id, "action", action));
	else
		emit(json_pack("{s:s, s:s, s:i, s:s}", "event", "call_refused", "action", action,
			       "rc", r, "desc", r == OCPP_LINK_E_INVALID ? err.desc : ""));
}

static void on_connected(void *user, struct ocpp_link *link)
{
	struct probe *p = user;

	(void)link;
	emit(json_pack("{s:s}", "event", "connected"));
	if (p->boot) {
		json_t *b = json_pack("{s:s, s:s}", "chargePointVendor", "wattstream",
				      "chargePointModel", "probe");
		do_call(p, "BootNotification", b);
		json_decref(b);
	}
}

static void on_disconnected(void *user, struct ocpp_link *link, const struct ocpp_link_disconnect *d)
{
	(void)user;
	(void)link;
	char text[300];

	emit(json_pack("{s:s, s:s, s:i, s:i, s:s, s:b, s:i, s:s}", "event", "disconnected",
		       "reason", ocpp_link_reason_str(d->reason), "http_status", d->http_status,
		       "close_code", d->close_code, "detail", d->detail ? d->detail : "",
		       "will_retry", d->will_retry, "retry_ms", (int)d->retry_ms,
		       "text", ocpp_link_describe(d, text, sizeof(text))));
}

static void on_call(void *user, struct ocpp_link *link, const char *id,
		    const struct ocpp_action *action, void *req)
{
	struct probe *p = user;
	json_t *re = action->req_encode(req);
	int r;

	emit(json_pack("{s:s, s:s, s:s, s:o}", "event", "call", "id", id, "action", action->name,
		       "payload", re ? re : json_null()));
	if (p->manual)
		return;
	for (unsigned i = 0; i < p->n_replies; i++) {
		if (strcmp(p->reply_action[i], action->name) == 0) {
			struct ocpp_err err;
			r = ocpp_link_reply(link, id, p->reply_json[i], &err);
			emit(json_pack("{s:s, s:s, s:i, s:s}", "event", "replied", "id", id,
				       "rc", r, "desc", r ? err.desc : ""));
			return;
		}
	}
	r = ocpp_link_reply_error(link, id, OCPP_ERR_NOT_SUPPORTED, "probe: no reply configured");
	emit(json_pack("{s:s, s:s, s:i}", "event", "replied", "id", id, "rc", r));
}

static void on_notice(void *user, struct ocpp_link *link, enum ocpp_link_notice what, const char *text)
{
	static const char *const kinds[] = { "refused_call", "unknown_answer", "bad_frame", "pong" };
	(void)user;
	(void)link;
	emit(json_pack("{s:s, s:s, s:s}", "event", "notice", "kind", kinds[what], "text", text));
}

static void command(struct probe *p, char *line)
{
	char *arg = strchr(line, ' ');
	json_error_t jerr;

	if (arg)
		*arg++ = 0;
	if (strcmp(line, "call") == 0 && arg) {
		char *js = strchr(arg, ' ');
		json_t *payload;
		if (js)
			*js++ = 0;
		payload = js ? json_loads(js, JSON_DECODE_ANY, &jerr) : json_object();
		if (!payload) {
			emit(json_pack("{s:s, s:s}", "event", "error", "text", jerr.text));
			return;
		}
		do_call(p, arg, payload);
		json_decref(payload);
	} else if (strcmp(line, "reply") == 0 && arg) {
		char *js = strchr(arg, ' ');
		struct ocpp_err err;
		json_t *result;
		int r;
		if (js)
			*js++ = 0;
		result = js ? json_loads(js, JSON_DECODE_ANY, &jerr) : NULL;
		r = ocpp_link_reply(p->link, arg, result, &err);
		emit(json_pack("{s:s, s:s, s:i, s:s}", "event", "replied", "id", arg, "rc", r,
			       "desc", r ? err.desc : ""));
		json_decref(result);
	} else if (strcmp(line, "reply-error") == 0 && arg) {
		char *code = strchr(arg, ' '), *desc = NULL;
		enum ocpp_error_code c = OCPP_ERR_GENERIC_ERROR;
		int r;
		if (code) {
			*code++ = 0;
			desc = strchr(code, ' ');
			if (desc)
				*desc++ = 0;
			if (ocpp_error_code_parse(code, &c) != 0)
				c = OCPP_ERR_GENERIC_ERROR;
		}
		r = ocpp_link_reply_error(p->link, arg, c, desc);
		emit(json_pack("{s:s, s:s, s:i}", "event", "replied", "id", arg, "rc", r));
	} else if (strcmp(line, "authkey") == 0 && arg) {
		const char *why = NULL;
		int r;
		p->cfg.authorization_key = arg;
		r = ocpp_link_reconfigure(p->link, &p->cfg, &why);
		p->cfg.authorization_key = NULL;
		emit(json_pack("{s:s, s:i, s:s}", "event", "reconfigured", "rc", r, "why", why ? why : ""));
	} else if (strcmp(line, "stop") == 0) {
		ocpp_link_stop(p->link);
		emit(json_pack("{s:s}", "event", "stopped"));
	} else if (strcmp(line, "quit") == 0) {
		p->quit = true;
	} else {
		emit(json_pack("{s:s, s:s}", "event", "error", "text", "unknown command"));
	}
}

static int stdin_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct probe *p = proto ? proto->user : NULL;
	char buf[4096];
	ssize_t n;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		n = read(0, buf, sizeof(buf));
		if (n <= 0) {
			p->quit = true;
			return -1;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				p->line[p->line_len] = 0;
				if (p->line_len)
					command(p, p->line);
				p->line_len = 0;
			} else if (p->line_len < sizeof(p->line) - 1) {
				p->line[p->line_len++] = buf[i];
			}
		}
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		p->quit = true;
		return 0;
	default:
		return 0;
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void usage(void)
{
	fprintf(stderr, "usage: probe-ocpp_link --url URL --identity ID [--profile N] [--auth-key K]\n"
		"  [--ca F] [--cert F] [--key F] [--ping S] [--timeout S] [--backoff-min MS]\n"
		"  [--backoff-max MS] [--no-boot] [--manual] [--reply Action=JSON]... [--debug]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "identity", required_argument, NULL, 'i' },
		{ "profile", required_argument, NULL, 'p' },
		{ "auth-key", required_argument, NULL, 'a' },
		{ "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ping", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "backoff-min", required_argument, NULL, 'm' },
		{ "backoff-max", required_argument, NULL, 'M' },
		{ "no-boot", no_argument, NULL, 'n' },
		{ "manual", no_argument, NULL, 'H' },
		{ "reply", required_argument, NULL, 'r' },
		{ "debug", no_argument, NULL, 'd' },
		{ 0 }
	};
	static struct probe pr;
	struct probe *p = &pr;
	struct lws_context_creation_info info;
	struct lws_protocols stdin_protos[2];
	struct lws_vhost *vh;
	const struct ocpp_link_ops ops = {
		.connected = on_connected, .disconnected = on_disconnected,
		.call = on_call, .notice = on_notice,
	};
	const char *why = NULL;
	int c, r, rc = 1;

	p->boot = true;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': p->cfg.url = optarg; break;
		case 'i': p->cfg.identity = optarg; break;
		case 'p': p->cfg.security_profile = atoi(optarg); break;
		case 'a': p->cfg.authorization_key = optarg; break;
		case 'C': p->cfg.ca_file = optarg; break;
		case 'c': p->cfg.client_cert_file = optarg; break;
		case 'k': p->cfg.client_key_file = optarg; break;
		case 'P': p->cfg.ping_interval_s = (unsigned)atoi(optarg); break;
		case 't': p->cfg.call_timeout_s = (unsigned)atoi(optarg); break;
		case 'm': p->cfg.backoff_min_ms = (unsigned)atoi(optarg); break;
		case 'M': p->cfg.backoff_max_ms = (unsigned)atoi(optarg); break;
		case 'n': p->boot = false; break;
		case 'H': p->manual = true; break;
		case 'd': ws_log_set_level(LOG_DEBUG); break;
		case 'r': {
			char *eq = strchr(optarg, '=');
			json_error_t jerr;
			if (!eq || p->n_replies == MAX_REPLIES)
				usage();
			*eq = 0;
			p->reply_action[p->n_replies] = optarg;
			p->reply_json[p->n_replies] = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
			if (!p->reply_json[p->n_replies])
				usage();
			p->n_replies++;
			break;
		}
		default:
			usage();
		}
	}
	if (!p->cfg.url || !p->cfg.identity)
		usage();

	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	p->ctx = lws_create_context(&info);
	if (!p->ctx) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	memset(stdin_protos, 0, sizeof(stdin_protos));
	stdin_protos[0].name = "probe-stdin";
	stdin_protos[0].callback = stdin_callback;
	stdin_protos[0].user = p;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "probe";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = stdin_protos;
	vh = lws_create_vhost(p->ctx, &info);
	lws_sock_file_fd_type fd = { .filefd = 0 };
	if (!vh || !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, "probe-stdin", NULL)) {
		fprintf(stderr, "cannot watch stdin\n");
		goto out;
	}
	r = ocpp_link_new(&p->link, p->ctx, &p->cfg, &ops, p, &why);
	if (r) {
		emit(json_pack("{s:s, s:i, s:s}", "event", "config_error", "rc", r, "why", why ? why : ""));
		rc = 3;
		goto out;
	}
	p->cfg.authorization_key = NULL;  /* the link has its copy */
	emit(json_pack("{s:s, s:i}", "event", "ready", "pid", (int)getpid()));

	signal_ctx = p->ctx;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop_signal && !p->quit)
		if (lws_service(p->ctx, 0) < 0)
			break;
	rc = 0;
out:
	p->link = ocpp_link_free(p->link);
	lws_context_destroy(p->ctx);
	for (unsigned i = 0; i < p->n_replies; i++)
		json_decref(p->reply_json[i]);
	emit(json_pack("{s:s}", "event", "exit"));
	return rc;
}
