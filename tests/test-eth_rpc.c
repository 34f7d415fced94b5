/* test-eth_rpc.c: the JSON-RPC response parser and the hex decoders on good
 * and tampered answers (wrong id, result and error together, huge numbers,
 * odd-length and non-hex data, missing fields), the chain module's decoders
 * (getChannel return data, claim calldata), and the HTTP transport against
 * a scripted loopback server in a thread: HTTP errors, retries with
 * backoff, no retry for unsafe methods, timeouts, size limits, dropped
 * connections, chunked and close-delimited bodies. */
#include "check.h"
#include "wattstream/abi.h"
#include "wattstream/chain.h"
#include "wattstream/eth_rpc.h"
#include "wattstream/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- parser ---------------------------------------------------------------- */

static int parse(const char *body, uint64_t id, json_t **res, int64_t *code, char **msg,
		 json_t **data)
{
	*res = NULL;
	*msg = NULL;
	*data = NULL;
	return ws_eth_rpc_parse_response(body, strlen(body), id, res, code, msg, data);
}

static void expect_bad(const char *body, uint64_t id)
{
	json_t *res, *data;
	char *msg;
	int64_t code = 0;
	int r = parse(body, id, &res, &code, &msg, &data);
	if (r != WS_ETH_RPC_E_BAD_RESPONSE)
		fprintf(stderr, "accepted: %s\n", body);
	CHECK_INT(r, WS_ETH_RPC_E_BAD_RESPONSE);
	CHECK(res == NULL && msg == NULL && data == NULL);
	json_decref(res);
	json_decref(data);
	free(msg);
}

static void test_parser(void)
{
	json_t *res, *data;
	char *msg;
	int64_t code;

	CHECK_INT(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\"}", 7, &res, &code,
			&msg, &data), 0);
	CHECK_STR(json_string_value(res), "0x1");
	json_decref(res);

	/* a null result is a result (receipt not yet mined) */
	CHECK_INT(parse("{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":null}", 3, &res, &code, &msg,
			&data), 0);
	CHECK(json_is_null(res));
	json_decref(res);

	CHECK_INT(parse("{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":3,\"message\":"
			"\"execution reverted\",\"data\":\"0x08c379a0\"}}", 9, &res, &code, &msg,
			&data), WS_ETH_RPC_E_RPC);
	CHECK_INT(code, 3);
	CHECK_STR(msg, "execution reverted");
	CHECK_STR(json_string_value(data), "0x08c379a0");
	free(msg);
	json_decref(data);

	CHECK_INT(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":"
			"\"Method not found\"}}", 1, &res, &code, &msg, &data), WS_ETH_RPC_E_RPC);
	CHECK_INT(code, -32601);
	CHECK(data == NULL);
	free(msg);

	/* the node could not read our id: only an error may carry id null */
	CHECK_INT(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			"\"message\":\"Parse error\"}}", 4, &res, &code, &msg, &data),
		  WS_ETH_RPC_E_RPC);
	free(msg);

	/* tampered envelopes */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":\"0x1\"}", 7);      /* wrong id */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":\"0x1\"}", 7);  /* id as text */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7.0,\"result\":\"0x1\"}", 7);     /* id as real */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":\"0x1\"}", 18446744073709551615ull);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"0x1\"}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"result\":\"0x1\"}", 7);               /* no id */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999999,\"result\":1}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\",\"error\":{\"code\":1,"
		   "\"message\":\"x\"}}", 7);                                      /* both */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7}", 7);                          /* neither */
	expect_bad("{\"jsonrpc\":\"1.0\",\"id\":7,\"result\":\"0x1\"}", 7);
	expect_bad("{\"id\":7,\"result\":\"0x1\"}", 7);                           /* no version */
	expect_bad("{\"jsonrpc\":2.0,\"id\":7,\"result\":\"0x1\"}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"id\":8,\"result\":\"0x1\"}", 7); /* duplicate */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"message\":\"x\"}}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":\"1\",\"message\":\"x\"}}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1.5,\"message\":\"x\"}}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1}}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":\"boom\"}", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1,\"message\":\"a\\u0000b\"}}", 7);
	expect_bad("[{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\"}]", 7);      /* batch */
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\"} trailing", 7);
	expect_bad("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\"", 7);        /* cut short */
	expect_bad("", 7);
	expect_bad("<html>502 Bad Gateway</html>", 7);
	expect_bad("null", 7);
	/* an embedded NUL ends the JSON text early */
	json_t *r2 = NULL, *d2 = NULL;
	char *m2 = NULL;
	int64_t c2;
	CHECK_INT(ws_eth_rpc_parse_response("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1}\0x", 38, 7,
					    &r2, &c2, &m2, &d2), WS_ETH_RPC_E_BAD_RESPONSE);
}

static void test_quantities(void)
{
	uint64_t v;
	ws_u256 u;
	json_t *j;

#define Q64(text, want_r, want_v) do { \
	j = json_string(text); v = 12345; \
	CHECK_INT(ws_eth_rpc_quantity_u64(j, &v), want_r); \
	if ((want_r) == 0) CHECK(v == (uint64_t)(want_v)); else CHECK_INT(v, 12345); \
	json_decref(j); } while (0)

	Q64("0x0", 0, 0);
	Q64("0x1", 0, 1);
	Q64("0x7a69", 0, 31337);
	Q64("0xDEADbeef", 0, 0xdeadbeef);
	Q64("0xffffffffffffffff", 0, UINT64_MAX);
	Q64("0x10000000000000000", -ERANGE, 0);      /* 2^64 */
	Q64("0x", -EINVAL, 0);                        /* no digits */
	Q64("0x01", -EINVAL, 0);                      /* leading zero */
	Q64("0x00", -EINVAL, 0);
	Q64("1", -EINVAL, 0);                         /* no prefix */
	Q64("0X1", -EINVAL, 0);
	Q64("0xg", -EINVAL, 0);
	Q64(" 0x1", -EINVAL, 0);
	Q64("0x1 ", -EINVAL, 0);
	Q64("-0x1", -EINVAL, 0);
	Q64("", -EINVAL, 0);
	j = json_integer(5);
	CHECK_INT(ws_eth_rpc_quantity_u64(j, &v), -EINVAL);   /* a number, not a quantity */
	json_decref(j);
	CHECK_INT(ws_eth_rpc_quantity_u64(NULL, &v), -EINVAL); /* missing field */
	j = json_stringn("0x1\0", 4);
	CHECK_INT(ws_eth_rpc_quantity_u64(j, &v), -EINVAL);   /* embedded NUL */
	json_decref(j);

	char huge[80] = "0x";
	memset(huge + 2, 'f', 64);
	huge[66] = 0;
	j = json_string(huge);
	CHECK_INT(ws_eth_rpc_quantity_u256(j, &u), 0);
	CHECK(u.w[0] == UINT64_MAX && u.w[3] == UINT64_MAX);
	json_decref(j);
	huge[66] = 'f';
	huge[67] = 0;
	j = json_string(huge);
	CHECK_INT(ws_eth_rpc_quantity_u256(j, &u), -ERANGE); /* 2^260 - 1 */
	json_decref(j);
	j = json_string("0x1234567890abcdef1");
	CHECK_INT(ws_eth_rpc_quantity_u256(j, &u), 0);
	CHECK(u.w[0] == 0x234567890abcdef1ull && u.w[1] == 1 && u.w[2] == 0);
	json_decref(j);

	char s[67];
	ws_u256 x = { { 0x234567890abcdef1ull, 1, 0, 0 } };
	ws_eth_rpc_format_quantity_u256(&x, s);
	CHECK_STR(s, "0x1234567890abcdef1");
	x = ws_u256_from_u64(0);
	ws_eth_rpc_format_quantity_u256(&x, s);
	CHECK_STR(s, "0x0");
	char s64[19];
	ws_eth_rpc_format_quantity_u64(31337, s64);
	CHECK_STR(s64, "0x7a69");
}

static void test_data(void)
{
	uint8_t b[4], *p;
	size_t n;
	json_t *j;

	j = json_string("0x0102aAbB");
	CHECK_INT(ws_eth_rpc_data_fixed(j, b, 4), 0);
	CHECK(b[0] == 1 && b[3] == 0xbb);
	CHECK_INT(ws_eth_rpc_data_fixed(j, b, 3), -ERANGE);
	CHECK_INT(ws_eth_rpc_data_alloc(j, 3, &p, &n), -ERANGE);
	CHECK_INT(ws_eth_rpc_data_alloc(j, 4, &p, &n), 0);
	CHECK_INT(n, 4);
	free(p);
	json_decref(j);

	const char *bad[] = { "0x123", "0x12g4", "1234", "0x12 34", "", "0x-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_string(bad[i]);
		CHECK_INT(ws_eth_rpc_data_fixed(j, b, 2), -EINVAL);
		CHECK_INT(ws_eth_rpc_data_alloc(j, 16, &p, &n), -EINVAL);
		json_decref(j);
	}
	j = json_string("0x");
	CHECK_INT(ws_eth_rpc_data_alloc(j, 16, &p, &n), 0);
	CHECK_INT(n, 0);
	free(p);
	json_decref(j);
	j = json_true();
	CHECK_INT(ws_eth_rpc_data_alloc(j, 16, &p, &n), -EINVAL);
	json_decref(j);
	CHECK_INT(ws_eth_rpc_data_fixed(NULL, b, 4), -EINVAL);
}

/* ---- chain decoders ----------------------------------------------------------- */

static void word_addr(uint8_t *w, uint8_t fill)
{
	memset(w, 0, 32);
	memset(w + 12, fill, 20);
}

static void test_channel_decode(void)
{
	uint8_t d[7 * 32];
	struct ws_chain_channel ch;

	word_addr(d, 0x11);
	memset(d + 32, 0, 32);
	d[63] = 0x2a;			/* closeRequestedAt 42 */
	word_addr(d + 64, 0x22);
	word_addr(d + 96, 0x33);
	word_addr(d + 128, 0x44);
	memset(d + 160, 0, 32);
	d[191] = 100;			/* deposit */
	memset(d + 192, 0, 32);
	d[223] = 40;			/* claimed */
	CHECK_INT(ws_chain_decode_channel(d, sizeof(d), &ch), 0);
	CHECK(ch.sender[0] == 0x11 && ch.receiver[19] == 0x22 && ch.token[0] == 0x33 &&
	      ch.session_key[0] == 0x44);
	CHECK(ch.close_requested_at == 42);
	CHECK(ch.deposit.w[0] == 100 && ch.claimed.w[0] == 40);

	CHECK_INT(ws_chain_decode_channel(d, sizeof(d) - 1, &ch), WS_CHAIN_E_BAD_VALUE);
	CHECK_INT(ws_chain_decode_channel(d, 0, &ch), WS_CHAIN_E_BAD_VALUE);
	uint8_t t[7 * 32 + 32];
	memcpy(t, d, sizeof(d));
	memset(t + sizeof(d), 0, 32);
	CHECK_INT(ws_chain_decode_channel(t, sizeof(t), &ch), WS_CHAIN_E_BAD_VALUE);

	memcpy(t, d, sizeof(d));
	t[0] = 1;			/* dirty address word */
	CHECK_INT(ws_chain_decode_channel(t, sizeof(d), &ch), WS_CHAIN_E_BAD_VALUE);
	memcpy(t, d, sizeof(d));
	t[32 + 23] = 1;			/* closeRequestedAt above uint64 */
	CHECK_INT(ws_chain_decode_channel(t, sizeof(d), &ch), WS_CHAIN_E_BAD_VALUE);
	memcpy(t, d, sizeof(d));
	t[160 + 15] = 1;		/* deposit above uint128 */
	CHECK_INT(ws_chain_decode_channel(t, sizeof(d), &ch), WS_CHAIN_E_BAD_VALUE);
	memcpy(t, d, sizeof(d));
	t[223] = 101;			/* claimed above deposit */
	CHECK_INT(ws_chain_decode_channel(t, sizeof(d), &ch), WS_CHAIN_E_BAD_VALUE);
}

static void test_claim_calldata(void)
{
	struct ws_chain_claim cl[2];
	uint8_t *out, sel[4];
	size_t len;

	memset(cl, 0, sizeof(cl));
	memset(cl[0].channel_id, 0xaa, 32);
	cl[0].amount = ws_u256_from_u64(1000);
	memset(cl[0].sig, 0x55, 65);
	cl[0].close = true;
	CHECK_INT(ws_chain_claim_calldata(cl, 1, &out, &len), 0);
	/* selector, id, amount, offset, close, length 65, 3 words of signature */
	CHECK_INT(len, 4 + 32 * 8);
	ws_abi_selector("claim(bytes32,uint256,bytes,bool)", sel);
	CHECK_MEM(out, sel, 4);
	ws_abi_view v = { out + 4, len - 4 };
	const uint8_t *p;
	size_t n;
	bool b;
	uint64_t amt;
	CHECK_INT(ws_abi_dec_u64(&v, 1, &amt), 0);
	CHECK(amt == 1000);
	CHECK_INT(ws_abi_dec_bytes(&v, 2, &p, &n), 0);
	CHECK_INT(n, 65);
	CHECK_INT(ws_abi_dec_bool(&v, 3, &b), 0);
	CHECK(b);
	free(out);

	cl[1] = cl[0];
	cl[1].close = false;
	CHECK_INT(ws_chain_claim_calldata(cl, 2, &out, &len), 0);
	ws_abi_selector("claimMany((bytes32,uint256,bytes,bool)[])", sel);
	CHECK_MEM(out, sel, 4);
	ws_abi_view a = { out + 4, len - 4 }, elems, t1;
	size_t count;
	CHECK_INT(ws_abi_dec_array(&a, 0, &elems, &count), 0);
	CHECK_INT(count, 2);
	CHECK_INT(ws_abi_dec_tuple(&elems, 1, &t1), 0);
	CHECK_INT(ws_abi_dec_bool(&t1, 3, &b), 0);
	CHECK(!b);
	free(out);
	CHECK_INT(ws_chain_claim_calldata(cl, 0, &out, &len), -EINVAL);
}

/* ---- transport against a scripted server ----------------------------------- */

static int srv_fd;
static int srv_port;
static int flaky_count;

static void srv_send(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;
	while (off < n) {
		ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void srv_reply(int fd, int status, const char *body, const char *extra)
{
	char head[512];
	snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status, strlen(body),
		 extra ? extra : "");
	srv_send(fd, head);
	srv_send(fd, body);
}

/* Reads one request; returns the path (static buffer) and the JSON id. */
static const char *srv_read(int fd, long long *id)
{
	static char buf[65536];
	size_t len = 0;
	char *hdr_end = NULL;
	size_t need = 0;
	while (len < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r <= 0)
			return NULL;
		len += (size_t)r;
		buf[len] = 0;
		if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "content-length:");
			need = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (hdr_end && len >= need)
			break;
	}
	char *idp = strstr(hdr_end ? hdr_end : buf, "\"id\":");
	*id = idp ? strtoll(idp + 5, NULL, 10) : -1;
	static char path[128];
	if (sscanf(buf, "POST %127s ", path) != 1)
		return NULL;
	return path;
}

static void *srv_main(void *arg)
{
	for (;;) {
		int fd = accept(srv_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		long long id;
		const char *path = srv_read(fd, &id);
		char body[256];
		if (!path) {
			close(fd);
			continue;
		}
		snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"0x10\"}", id);
		if (strcmp(path, "/ok") == 0) {
			srv_reply(fd, 200, body, NULL);
		} else if (strcmp(path, "/quit") == 0) {
			close(fd);
			return NULL;
		} else if (strcmp(path, "/wrongid") == 0) {
			snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"0x10\"}",
				 id + 1);
			srv_reply(fd, 200, body, NULL);
		} else if (strcmp(path, "/http500") == 0) {
			srv_reply(fd, 500, "oops", NULL);
		} else if (strcmp(path, "/http404") == 0) {
			srv_reply(fd, 404, "not here", NULL);
		} else if (strcmp(path, "/http500rpc") == 0) {
			snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":"
				 "{\"code\":-32000,\"message\":\"header not found\"}}", id);
			srv_reply(fd, 500, body, NULL);
		} else if (strcmp(path, "/flaky") == 0) {
			if (flaky_count++ == 0)
				srv_reply(fd, 503, "busy", NULL);
			else
				srv_reply(fd, 200, body, NULL);
		} else if (strcmp(path, "/big") == 0) {
			srv_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
			char chunk[4096];
			memset(chunk, ' ', sizeof(chunk) - 1);
			chunk[sizeof(chunk) - 1] = 0;
			for (int i = 0; i < 244; i++)
				srv_send(fd, chunk);
		} else if (strcmp(path, "/hang") == 0) {
			char c;
			(void)!recv(fd, &c, 1, 0); /* until the client gives up */
		} else if (strcmp(path, "/close") == 0) {
			/* nothing */
		} else if (strcmp(path, "/chunked") == 0) {
			char head[512];
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				 "\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(body), body);
			srv_send(fd, head);
		} else if (strcmp(path, "/noclen") == 0) {
			srv_send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
			srv_send(fd, body);
		} else {
			srv_reply(fd, 400, "?", NULL);
		}
		close(fd);
	}
}

struct outcome {
	bool done;
	int err;
	unsigned attempts;
	int http;
	char result[32];
};

static void on_reply(void *user, const struct ws_eth_rpc_reply *rep)
{
	struct outcome *o = user;
	o->done = true;
	o->err = rep->err;
	o->attempts = rep->attempts;
	o->http = rep->http_status;
	if (rep->err == 0 && json_is_string(rep->result))
		snprintf(o->result, sizeof(o->result), "%s", json_string_value(rep->result));
	CHECK(rep->detail != NULL);
}

static struct outcome run_call(struct lws_context *ctx, const char *path, const char *method,
			       int port, unsigned max_response)
{
	char url[128];
	struct ws_eth_rpc_config cfg = { .url = url, .timeout_ms = 400, .max_retries = 2,
					 .backoff_ms = 20, .max_response_bytes = max_response };
	struct outcome o = { 0 };
	ws_eth_rpc *r = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	CHECK_INT(ws_eth_rpc_new(&r, ctx, &cfg), 0);
	if (!r)
		return o;
	CHECK_INT(ws_eth_rpc_call(r, method, NULL, on_reply, &o), 0);
	CHECK(!o.done);	/* never called back from inside the call */
	uint64_t end = (uint64_t)lws_now_usecs() + 10000000;
	while (!o.done && (uint64_t)lws_now_usecs() < end)
		lws_service(ctx, 0);
	CHECK(o.done);
	CHECK_INT(ws_eth_rpc_pending(r), 0);
	ws_eth_rpc_free(r);
	return o;
}

static void test_transport(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	pthread_t th;

	srv_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(srv_fd >= 0);
	CHECK_INT(bind(srv_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_INT(listen(srv_fd, 16), 0);
	CHECK_INT(getsockname(srv_fd, (struct sockaddr *)&sa, &sl), 0);
	srv_port = ntohs(sa.sin_port);
	CHECK_INT(pthread_create(&th, NULL, srv_main, NULL), 0);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	lws_set_log_level(0, NULL);
	struct lws_context *ctx = lws_create_context(&info);
	CHECK(ctx != NULL);
	if (!ctx)
		return;

	struct outcome o;
	o = run_call(ctx, "/ok", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, 0);
	CHECK_STR(o.result, "0x10");
	CHECK_INT(o.attempts, 1);
	CHECK_INT(o.http, 200);

	o = run_call(ctx, "/chunked", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, 0);
	CHECK_STR(o.result, "0x10");

	o = run_call(ctx, "/noclen", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, 0);
	CHECK_STR(o.result, "0x10");

	o = run_call(ctx, "/wrongid", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_BAD_RESPONSE);
	CHECK_INT(o.attempts, 1);	/* a lying node is not retried */

	o = run_call(ctx, "/http500", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_HTTP);
	CHECK_INT(o.attempts, 3);	/* 1 + max_retries */
	CHECK_INT(o.http, 500);

	o = run_call(ctx, "/http500", "eth_sendTransaction", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_HTTP);
	CHECK_INT(o.attempts, 1);	/* not a method safe to repeat */

	o = run_call(ctx, "/http500", "eth_sendRawTransaction", srv_port, 0);
	CHECK_INT(o.attempts, 3);	/* same signed bytes: harmless to resend */

	o = run_call(ctx, "/http404", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_HTTP);
	CHECK_INT(o.attempts, 1);

	o = run_call(ctx, "/http500rpc", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_RPC);
	CHECK_INT(o.attempts, 1);

	flaky_count = 0;
	o = run_call(ctx, "/flaky", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, 0);
	CHECK_INT(o.attempts, 2);

	o = run_call(ctx, "/big", "eth_blockNumber", srv_port, 65536);
	CHECK_INT(o.err, WS_ETH_RPC_E_TOO_BIG);
	CHECK_INT(o.attempts, 1);

	o = run_call(ctx, "/close", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_TRANSPORT);
	CHECK_INT(o.attempts, 3);

	o = run_call(ctx, "/hang", "eth_blockNumber", srv_port, 0);
	CHECK_INT(o.err, WS_ETH_RPC_E_TIMEOUT);
	CHECK_INT(o.attempts, 3);

	/* nothing listens there */
	int dead = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in da = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t dl = sizeof(da);
	CHECK_INT(bind(dead, (struct sockaddr *)&da, sizeof(da)), 0);
	CHECK_INT(getsockname(dead, (struct sockaddr *)&da, &dl), 0);
	o = run_call(ctx, "/ok", "eth_blockNumber", ntohs(da.sin_port), 0);
	close(dead);
	CHECK_INT(o.err, WS_ETH_RPC_E_TRANSPORT);
	CHECK_INT(o.attempts, 3);

	/* queue: many calls, bounded in flight, all answered, ids matched */
	{
		char url[128];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", srv_port);
		struct ws_eth_rpc_config cfg = { .url = url, .max_in_flight = 2, .max_queue = 8 };
		ws_eth_rpc *r = NULL;
		struct outcome many[9];
		memset(many, 0, sizeof(many));
		CHECK_INT(ws_eth_rpc_new(&r, ctx, &cfg), 0);
		for (int i = 0; i < 8; i++)
			CHECK_INT(ws_eth_rpc_call(r, "eth_chainId", NULL, on_reply, &many[i]), 0);
		CHECK_INT(ws_eth_rpc_call(r, "eth_chainId", NULL, on_reply, &many[8]), -ENOBUFS);
		CHECK_INT(ws_eth_rpc_call(r, "eth_chainId", json_object(), on_reply, &many[8]), -EINVAL);
		CHECK_INT(ws_eth_rpc_call(r, "", NULL, on_reply, &many[8]), -EINVAL);
		int done = 0;
		uint64_t end = (uint64_t)lws_now_usecs() + 10000000;
		while (done < 8 && (uint64_t)lws_now_usecs() < end) {
			lws_service(ctx, 0);
			done = 0;
			for (int i = 0; i < 8; i++)
				done += many[i].done;
		}
		CHECK_INT(done, 8);
		for (int i = 0; i < 8; i++)
			CHECK_INT(many[i].err, 0);
		/* free with calls pending: no callback, no leak */
		struct outcome late = { 0 };
		CHECK_INT(ws_eth_rpc_call(r, "eth_chainId", NULL, on_reply, &late), 0);
		lws_service(ctx, 0);
		ws_eth_rpc_free(r);
		CHECK(!late.done);
	}

	struct ws_eth_rpc_config bad = { .url = "ftp://127.0.0.1/" };
	ws_eth_rpc *r = NULL;
	CHECK_INT(ws_eth_rpc_new(&r, ctx, &bad), -EINVAL);
	bad.url = "not a url";
	CHECK_INT(ws_eth_rpc_new(&r, ctx, &bad), -EINVAL);
	CHECK(r == NULL);
	CHECK(ws_eth_rpc_free(NULL) == NULL);

	/* stop the server thread */
	o = run_call(ctx, "/quit", "eth_blockNumber", srv_port, 0);
	pthread_join(th, NULL);
	close(srv_fd);
	lws_context_destroy(ctx);
}

int main(void)
{
	test_parser();
	test_quantities();
	test_data();
	test_channel_decode();
	test_claim_calldata();
	test_transport();
	return check_done();
}
