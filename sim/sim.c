/* sim.c: wattstream-sim, the simulated charger: per connector an Eastron
 * SDM630 meter, a contactor and an EV (ev_model.c), served over Modbus TCP
 * with one unit id per connector, and steered by line commands on stdin and
 * on an optional Unix control socket.  docs/sim.md is the reference.
 *
 * One thread, one pselect() loop over the Modbus listener and clients, the
 * control listener and clients, and stdin.  libmodbus reads and answers one
 * request at a time on whichever client socket is ready (modbus_set_socket);
 * a delayed answer is parked in its client and sent when due, so other
 * clients keep being served.  Simulated time is the monotonic clock times
 * --time-scale; every connector is integrated before each request, each
 * command and at least every SIM_TICK_MS.  Cost: O(clients) per wakeup and
 * a few hundred bytes written into a register table per answer.
 */
#include "ev_model.h"
#include "wattstream/log.h"
#include "ws-build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAX_CONNECTORS   16
#define SIM_MAX_MB_CLIENTS   64
#define SIM_MAX_CTL_CLIENTS  16
#define SIM_TICK_MS          50      /* longest wait between integrations */
#define SIM_LINE_MAX         512     /* control line, newline included */
#define SIM_MAX_DELAY_MS     600000
#define SIM_BYTE_TIMEOUT_US  200000  /* gap allowed inside one Modbus frame */

/* Register map (SDM630 input registers, float32 ABCD: two registers,
 * high word first) and the contactor. */
#define REG_INPUT_COUNT      0x200   /* 0x0000..0x01FF mapped */
#define REG_VOLTAGE_L1       0x0000
#define REG_CURRENT_L1       0x0006
#define REG_POWER_L1         0x000C
#define REG_POWER_TOTAL      0x0034
#define REG_FREQUENCY        0x0046
#define REG_IMPORT_KWH       0x0048
#define REG_EXPORT_KWH       0x004A
#define REG_TOTAL_KWH        0x0156
#define REG_CONTACTOR        0x1000  /* holding register mirror of coil 0 */
#define COIL_CONTACTOR       0
#define INPUT_EV_PLUGGED     0       /* discrete input: 1 while an EV is plugged in */

#define PHASE_VOLTAGE_V      230.0
#define GRID_FREQUENCY_HZ    50.0
#define CORRUPT_BACKWARDS_KWH 1.0    /* how far below the last value */
#define CORRUPT_JUMP_KWH     1000.0

/* Modbus TCP request layout: MBAP header (7 bytes, unit id last), then
 * function code and data. */
#define MB_UNIT   6
#define MB_FC     7

enum corrupt_mode { CORRUPT_OFF, CORRUPT_BACKWARDS, CORRUPT_JUMP, CORRUPT_NAN };
static const char *const corrupt_names[] = {
	"off", "backwards", "jump", "nan",
};

struct connector {
	int unit;
	struct ev_model ev;
	bool coil;                   /* contactor closed */
	unsigned coil_changes;
	bool frozen;
	unsigned delay_ms;
	enum corrupt_mode corrupt;
	float backwards_kwh;         /* shown while corrupt == BACKWARDS */
	modbus_mapping_t *map;
};

struct mb_client {
	int fd;                      /* -1: free slot */
	bool pending;                /* a delayed answer is parked here */
	int req_len;
	uint64_t due_us;             /* monotonic, real time */
	uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
	char peer[INET_ADDRSTRLEN + 8];
};

struct ctl_client {
	int fd;                      /* -1: free slot / closed */
	bool overflow;               /* discarding a line that was too long */
	size_t len;
	char buf[SIM_LINE_MAX];
};

struct sim_opts {
	int connectors;
	int port;
	const char *host;
	double time_scale;
	double power_kw;
	double capacity_kwh;
	double soc_pct;
	bool plugged;
	double energy_kwh;
	const char *control;
};

struct sim {
	struct sim_opts o;
	modbus_t *mb;
	int listen_fd;
	int ctl_fd;
	bool ctl_bound;              /* we created o.control and must unlink */
	uint64_t start_us;
	bool quit;
	struct connector conn[SIM_MAX_CONNECTORS];
	struct mb_client mbc[SIM_MAX_MB_CLIENTS];
	struct ctl_client ctl[SIM_MAX_CTL_CLIENTS];
	struct ctl_client in;        /* stdin; replies go to stdout */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Simulated time: always computed from the start, so it never drifts. */
static uint64_t sim_now_us(const struct sim *s)
{
	return (uint64_t)((double)(mono_us() - s->start_us) * s->o.time_scale);
}

static void sim_integrate(struct sim *s)
{
	uint64_t now = sim_now_us(s);
	for (int i = 0; i < s->o.connectors; i++) {
		struct connector *c = &s->conn[i];
		/* EV_MODEL_E_TIME cannot happen: now is monotonic. */
		(void)ev_model_advance(&c->ev, c->coil, now);
	}
}

static struct connector *sim_connector(struct sim *s, long unit)
{
	if (unit < 1 || unit > s->o.connectors)
		return NULL;
	return &s->conn[unit - 1];
}

/* ---- the meter ---------------------------------------------------------- */

static double true_register_kwh(const struct sim *s, const struct connector *c)
{
	return s->o.energy_kwh + c->ev.energy_wh / 1000.0;
}

static float register_energy_kwh(const struct sim *s, const struct connector *c)
{
	switch (c->corrupt) {
	case CORRUPT_OFF:
		return (float)true_register_kwh(s, c);
	case CORRUPT_BACKWARDS:
		return c->backwards_kwh;
	case CORRUPT_JUMP:
		return (float)(true_register_kwh(s, c) + CORRUPT_JUMP_KWH);
	case CORRUPT_NAN:
		return NAN;
	}
	abort();
}

/* ABCD: high word (bits 31..16) first, each word big-endian on the wire
 * (libmodbus does the byte order of a register).  libmodbus 3.1.6's
 * modbus_set_float_abcd() gets this wrong, hence by hand. */
static void put_float(uint16_t *regs, int addr, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof(bits));
	regs[addr] = (uint16_t)(bits >> 16);
	regs[addr + 1] = (uint16_t)(bits & 0xFFFFu);
}

static void meter_fill(const struct sim *s, struct connector *c)
{
	uint16_t *r = c->map->tab_input_registers;
	double p = ev_model_power_w(&c->ev, c->coil);
	float kwh = register_energy_kwh(s, c);

	memset(r, 0, REG_INPUT_COUNT * sizeof(*r));
	for (int ph = 0; ph < 3; ph++) {
		put_float(r, REG_VOLTAGE_L1 + 2 * ph, (float)PHASE_VOLTAGE_V);
		put_float(r, REG_CURRENT_L1 + 2 * ph,
			  (float)(p / 3.0 / PHASE_VOLTAGE_V));
		put_float(r, REG_POWER_L1 + 2 * ph, (float)(p / 3.0));
	}
	put_float(r, REG_POWER_TOTAL, (float)p);
	put_float(r, REG_FREQUENCY, (float)GRID_FREQUENCY_HZ);
	put_float(r, REG_IMPORT_KWH, kwh);
	put_float(r, REG_EXPORT_KWH, 0.0f);
	put_float(r, REG_TOTAL_KWH, kwh);
	c->map->tab_bits[0] = c->coil;
	c->map->tab_registers[0] = c->coil;
	/* the EVSE controller's view of the control pilot: EV connected */
	c->map->tab_input_bits[0] = c->ev.plugged;
}

static void contactor_set(struct sim *s, struct connector *c, bool closed,
			  const char *by)
{
	if (c->coil == closed)
		return;
	sim_integrate(s); /* energy up to now counted under the old state */
	c->coil = closed;
	c->coil_changes++;
	ws_info("unit %d: contactor %s by %s (change %u, energy %.3f Wh)",
		c->unit, closed ? "closed" : "opened", by, c->coil_changes,
		c->ev.energy_wh);
}

/* ---- Modbus clients ----------------------------------------------------- */

static void mb_client_close(struct mb_client *cl, const char *why)
{
	ws_info("modbus client %s disconnected (%s)", cl->peer, why);
	close(cl->fd);
	cl->fd = -1;
	cl->pending = false;
}

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The contactor register only takes 0 and 1: returns the value a write in
 * req would leave in it, or -1 if the request does not write it. */
static long contactor_register_write(const struct connector *c,
				     const uint8_t *req, int len)
{
	switch (req[MB_FC]) {
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		if (len >= 12 && be16(req + 8) == REG_CONTACTOR)
			return be16(req + 10);
		break;
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		if (len >= 15 && be16(req + 8) == REG_CONTACTOR &&
		    be16(req + 10) == 1)
			return be16(req + 13);
		break;
	case MODBUS_FC_MASK_WRITE_REGISTER:
		if (len >= 14 && be16(req + 8) == REG_CONTACTOR) {
			unsigned and_m = be16(req + 10), or_m = be16(req + 12);
			return ((c->coil & and_m) | (or_m & ~and_m)) & 0xFFFFu;
		}
		break;
	case MODBUS_FC_WRITE_AND_READ_REGISTERS:
		if (len >= 19 && be16(req + 12) == REG_CONTACTOR &&
		    be16(req + 14) == 1)
			return be16(req + 17);
		break;
	default:
		break;
	}
	return -1;
}

static void mb_answer(struct sim *s, struct mb_client *cl)
{
	struct connector *c = sim_connector(s, cl->req[MB_UNIT]);
	int fc = cl->req[MB_FC];

	cl->pending = false;
	if (!c || c->frozen)
		return; /* frozen while the answer was parked: swallow it */
	sim_integrate(s);
	meter_fill(s, c);
	modbus_set_socket(s->mb, cl->fd);

	long v = contactor_register_write(c, cl->req, cl->req_len);
	if (v > 1) {
		if (modbus_reply_exception(s->mb, cl->req,
					   MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE) < 0)
			mb_client_close(cl, modbus_strerror(errno));
		return;
	}
	int rc = modbus_reply(s->mb, cl->req, cl->req_len, c->map);
	int err = errno;
	/* A real device acts on a write even if its answer gets lost. */
	if (fc == MODBUS_FC_WRITE_SINGLE_COIL ||
	    fc == MODBUS_FC_WRITE_MULTIPLE_COILS)
		contactor_set(s, c, c->map->tab_bits[0] != 0, "Modbus coil write");
	else if (fc == MODBUS_FC_WRITE_SINGLE_REGISTER ||
		 fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS ||
		 fc == MODBUS_FC_MASK_WRITE_REGISTER ||
		 fc == MODBUS_FC_WRITE_AND_READ_REGISTERS)
		contactor_set(s, c, c->map->tab_registers[0] != 0,
			      "Modbus register write");
	if (rc < 0)
		mb_client_close(cl, modbus_strerror(err));
}

static void mb_client_readable(struct sim *s, struct mb_client *cl)
{
	modbus_set_socket(s->mb, cl->fd);
	int n = modbus_receive(s->mb, cl->req);
	if (n < 0) {
		mb_client_close(cl, errno == ECONNRESET ? "closed"
			       : modbus_strerror(errno));
		return;
	}
	if (n == 0)
		return; /* libmodbus: not for us (never on TCP) */
	sim_integrate(s);
	struct connector *c = sim_connector(s, cl->req[MB_UNIT]);
	if (!c) {
		ws_debug("modbus client %s: unit %u: no such unit, no answer",
			 cl->peer, cl->req[MB_UNIT]);
		return;
	}
	if (c->frozen) {
		ws_debug("unit %d frozen: request dropped", c->unit);
		return;
	}
	cl->req_len = n;
	if (c->delay_ms) {
		cl->pending = true;
		cl->due_us = mono_us() + (uint64_t)c->delay_ms * 1000u;
		return;
	}
	mb_answer(s, cl);
}

static void mb_accept(struct sim *s)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &alen,
			 SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			ws_warn("accept on Modbus port: %s", strerror(errno));
		return;
	}
	struct mb_client *cl = NULL;
	for (int i = 0; i < SIM_MAX_MB_CLIENTS && fd < FD_SETSIZE; i++)
		if (s->mbc[i].fd < 0) {
			cl = &s->mbc[i];
			break;
		}
	if (!cl) {
		ws_warn("modbus client refused: already %d clients",
			SIM_MAX_MB_CLIENTS);
		close(fd);
		return;
	}
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	*cl = (struct mb_client){ .fd = fd };
	snprintf(cl->peer, sizeof(cl->peer), "%s:%u", ip, ntohs(a.sin_port));
	ws_info("modbus client %s connected", cl->peer);
}

/* ---- control commands --------------------------------------------------- */

/* Strict number parsing: the whole token, digits/sign/point/exponent only
 * (no "inf", "nan", hex), finite, within [lo, hi]. */
static bool parse_num(const char *tok, double lo, double hi, double *out)
{
	if (!tok || !*tok || strspn(tok, "0123456789.+-eE") != strlen(tok))
		return false;
	char *end;
	errno = 0;
	double v = strtod(tok, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_unit(const struct sim *s, const char *tok, long *unit)
{
	double v;
	if (!tok || strspn(tok, "0123456789") != strlen(tok) ||
	    !parse_num(tok, 1, s->o.connectors, &v))
		return false;
	*unit = (long)v;
	return true;
}

static int parse_onoff(const char *tok)
{
	if (tok && strcmp(tok, "on") == 0)
		return 1;
	if (tok && strcmp(tok, "off") == 0)
		return 0;
	return -1;
}

/* JSON number, or null for NaN (JSON has no NaN). */
static void json_num(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.17g", v);
	else
		snprintf(buf, n, "null");
}

static void cmd_status(struct sim *s, struct connector *c, char *out,
		       size_t n)
{
	char reg[40];
	json_num(reg, sizeof(reg), (double)register_energy_kwh(s, c));
	snprintf(out, n,
		 "{\"ok\":true,\"unit\":%d,\"true_energy_wh\":%.17g,"
		 "\"register_energy_kwh\":%s,\"power_w\":%.17g,\"coil\":%d,"
		 "\"plugged\":%s,\"soc\":%.17g,\"requested_w\":%.17g,"
		 "\"capacity_wh\":%.17g,\"coil_changes\":%u,\"frozen\":%s,"
		 "\"delay_ms\":%u,\"corrupt\":\"%s\"}",
		 c->unit, c->ev.energy_wh, reg,
		 ev_model_power_w(&c->ev, c->coil), c->coil ? 1 : 0,
		 c->ev.plugged ? "true" : "false", c->ev.soc_pct,
		 c->ev.requested_w, c->ev.capacity_wh, c->coil_changes,
		 c->frozen ? "true" : "false", c->delay_ms,
		 corrupt_names[c->corrupt]);
}

#define CMD_ERR(msg) do { \
	snprintf(out, n, "{\"ok\":false,\"error\":\"%s\"}", msg); \
	return; \
} while (0)

/* Executes one command line (NUL-terminated, no newline) and writes one
 * JSON reply line (without newline) to out. */
static void cmd_exec(struct sim *s, char *line, char *out, size_t n)
{
	char *tok[5] = { 0 }, *save = NULL;
	int nt = 0;
	for (char *t = strtok_r(line, " \t\r", &save); t;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (nt == 4)
			CMD_ERR("too many arguments");
		tok[nt++] = t;
	}
	if (nt == 0)
		CMD_ERR("empty command");

	sim_integrate(s); /* every command acts at "now" */
	const char *cmd = tok[0];
	if (strcmp(cmd, "quit") == 0) {
		if (nt != 1)
			CMD_ERR("usage: quit");
		s->quit = true;
		snprintf(out, n, "{\"ok\":true}");
		return;
	}

	struct { const char *name; int args; const char *usage; } const cmds[] = {
		{ "plug", 1, "usage: plug U" },
		{ "unplug", 1, "usage: unplug U" },
		{ "power", 2, "usage: power U KW" },
		{ "soc", 2, "usage: soc U PCT" },
		{ "capacity", 2, "usage: capacity U KWH" },
		{ "freeze", 2, "usage: freeze U|all on|off" },
		{ "corrupt", 2, "usage: corrupt U backwards|jump|nan|off" },
		{ "delay", 2, "usage: delay U MS" },
		{ "status", 1, "usage: status U" },
	};
	size_t k;
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (strcmp(cmd, cmds[k].name) == 0)
			break;
	if (k == sizeof(cmds) / sizeof(cmds[0]))
		CMD_ERR("unknown command");
	if (nt != 1 + cmds[k].args)
		CMD_ERR(cmds[k].usage);

	if (strcmp(cmd, "freeze") == 0) {
		int on = parse_onoff(tok[2]);
		long unit = 0;
		if (on < 0)
			CMD_ERR(cmds[k].usage);
		if (strcmp(tok[1], "all") != 0 && !parse_unit(s, tok[1], &unit))
			CMD_ERR("no such unit");
		for (int i = 0; i < s->o.connectors; i++)
			if (unit == 0 || unit == s->conn[i].unit)
				s->conn[i].frozen = on;
		ws_info("unit %s: meter %s", tok[1], on ? "frozen" : "answering");
		if (unit)
			snprintf(out, n, "{\"ok\":true,\"unit\":%ld}", unit);
		else
			snprintf(out, n, "{\"ok\":true,\"unit\":\"all\"}");
		return;
	}

	long unit;
	if (!parse_unit(s, tok[1], &unit))
		CMD_ERR("no such unit");
	struct connector *c = sim_connector(s, unit);
	double v;

	if (strcmp(cmd, "status") == 0) {
		cmd_status(s, c, out, n);
		return;
	} else if (strcmp(cmd, "plug") == 0 || strcmp(cmd, "unplug") == 0) {
		bool p = cmd[0] == 'p';
		ev_model_set_plugged(&c->ev, p);
		ws_info("unit %ld: EV %s", unit, p ? "plugged in" : "unplugged");
	} else if (strcmp(cmd, "power") == 0) {
		if (!parse_num(tok[2], 0, EV_MODEL_MAX_POWER_W / 1000.0, &v) ||
		    ev_model_set_requested_w(&c->ev, v * 1000.0))
			CMD_ERR("power must be 0..350 kW");
		ws_info("unit %ld: EV requests %.3f kW", unit, v);
	} else if (strcmp(cmd, "soc") == 0) {
		if (!parse_num(tok[2], 0, 100, &v) ||
		    ev_model_set_soc_pct(&c->ev, v))
			CMD_ERR("soc must be 0..100 %");
		ws_info("unit %ld: SoC set to %.3f %%", unit, v);
	} else if (strcmp(cmd, "capacity") == 0) {
		if (!parse_num(tok[2], 0, EV_MODEL_MAX_CAPACITY_WH / 1000.0, &v) ||
		    ev_model_set_capacity_wh(&c->ev, v * 1000.0))
			CMD_ERR("capacity must be >0..1000 kWh");
		ws_info("unit %ld: battery capacity %.3f kWh", unit, v);
	} else if (strcmp(cmd, "delay") == 0) {
		if (strspn(tok[2], "0123456789") != strlen(tok[2]) ||
		    !parse_num(tok[2], 0, SIM_MAX_DELAY_MS, &v))
			CMD_ERR("delay must be 0..600000 ms");
		c->delay_ms = (unsigned)v;
		ws_info("unit %ld: answers delayed by %u ms", unit, c->delay_ms);
	} else if (strcmp(cmd, "corrupt") == 0) {
		int m;
		for (m = CORRUPT_OFF; m <= CORRUPT_NAN; m++)
			if (strcmp(tok[2], corrupt_names[m]) == 0)
				break;
		if (m > CORRUPT_NAN)
			CMD_ERR(cmds[k].usage);
		if (m == CORRUPT_BACKWARDS)
			c->backwards_kwh = register_energy_kwh(s, c) -
					   (float)CORRUPT_BACKWARDS_KWH;
		c->corrupt = (enum corrupt_mode)m;
		ws_info("unit %ld: energy register corruption %s", unit,
			corrupt_names[m]);
	}
	snprintf(out, n, "{\"ok\":true,\"unit\":%ld}", unit);
}

static void ctl_close(struct ctl_client *cc)
{
	if (cc->fd > STDIN_FILENO)
		close(cc->fd);
	cc->fd = -1;
}

/* Sends one reply line; a control socket client that cannot take it at
 * once (it stopped reading) is dropped rather than stalling the loop.
 * stdin's replies go to stdout. */
static void ctl_reply(struct sim *s, struct ctl_client *cc, const char *msg)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s\n", msg);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort(); /* replies are bounded by construction */
	if (cc == &s->in) {
		fputs(line, stdout);
		fflush(stdout);
		return;
	}
	if (send(cc->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		ws_info("control client dropped: %s", strerror(errno));
		ctl_close(cc);
	}
}

static void ctl_line(struct sim *s, struct ctl_client *cc, char *line,
		     size_t len)
{
	char out[768];
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strspn(line, " \t") == len)
		return; /* blank lines are no commands */
	if (memchr(line, '\0', len)) {
		snprintf(out, sizeof(out),
			 "{\"ok\":false,\"error\":\"NUL byte in command\"}");
	} else {
		cmd_exec(s, line, out, sizeof(out));
	}
	ctl_reply(s, cc, out);
}

/* Reads what is there and runs every complete line.  At end of input a
 * last unterminated line still runs. */
static void ctl_readable(struct sim *s, struct ctl_client *cc)
{
	ssize_t r = read(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - 1 - cc->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	bool eof = r <= 0;
	if (!eof)
		cc->len += (size_t)r;

	size_t start = 0;
	for (;;) {
		char *nl = memchr(cc->buf + start, '\n', cc->len - start);
		if (!nl)
			break;
		size_t l = (size_t)(nl - (cc->buf + start));
		*nl = '\0';
		if (cc->overflow)
			cc->overflow = false; /* tail of a too-long line */
		else
			ctl_line(s, cc, cc->buf + start, l);
		start += l + 1;
		if (cc->fd < 0)
			return;
	}
	memmove(cc->buf, cc->buf + start, cc->len - start);
	cc->len -= start;
	if (cc->len == sizeof(cc->buf) - 1) {
		if (!cc->overflow)
			ctl_reply(s, cc,
				  "{\"ok\":false,\"error\":\"line too long\"}");
		cc->overflow = true;
		cc->len = 0;
	}
	if (!eof || cc->fd < 0)
		return;
	if (cc->len && !cc->overflow) {
		cc->buf[cc->len] = '\0';
		ctl_line(s, cc, cc->buf, cc->len);
	}
	cc->len = 0;
	if (cc != &s->in)
		ws_info("control client disconnected");
	ctl_close(cc);
}

static void ctl_accept(struct sim *s)
{
	int fd = accept4(s->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			ws_warn("accept on control socket: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < SIM_MAX_CTL_CLIENTS && fd < FD_SETSIZE; i++)
		if (s->ctl[i].fd < 0) {
			s->ctl[i] = (struct ctl_client){ .fd = fd };
			ws_info("control client connected");
			return;
		}
	ws_warn("control client refused: already %d", SIM_MAX_CTL_CLIENTS);
	close(fd);
}

/* ---- start, loop, stop -------------------------------------------------- */

static int ctl_listen(struct sim *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(s->o.control) >= sizeof(a.sun_path)) {
		ws_err("control socket path too long: %s", s->o.control);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, s->o.control);
	s->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->ctl_fd < 0)
		return -errno;
	/* A stale socket of an earlier run may be replaced; a live one (some
	 * sim still answers on it) or any other file may not. */
	if (lstat(s->o.control, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) ||
		    connect(s->ctl_fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			ws_err("control path %s exists and is %s", s->o.control,
			       S_ISSOCK(st.st_mode) ? "in use" : "no socket");
			return -EEXIST;
		}
		unlink(s->o.control);
	}
	if (bind(s->ctl_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->ctl_fd, 8) < 0) {
		int r = -errno;
		ws_err("control socket %s: %s", s->o.control, strerror(-r));
		return r;
	}
	s->ctl_bound = true;
	return 0;
}

static int mb_listen(struct sim *s, int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct in_addr check;

	/* libmodbus would take any string starting with '0' as "any". */
	if (inet_pton(AF_INET, s->o.host, &check) != 1) {
		ws_err("--host must be an IPv4 address: %s", s->o.host);
		return -EINVAL;
	}
	s->mb = modbus_new_tcp(s->o.host, s->o.port);
	if (!s->mb) {
		int r = -errno;
		ws_err("modbus_new_tcp: %s", modbus_strerror(-r));
		return r;
	}
	modbus_set_byte_timeout(s->mb, 0, SIM_BYTE_TIMEOUT_US);
	s->listen_fd = modbus_tcp_listen(s->mb, SIM_MAX_MB_CLIENTS);
	if (s->listen_fd < 0) {
		int r = -errno;
		ws_err("listen on %s:%d: %s", s->o.host, s->o.port,
		       modbus_strerror(errno));
		return r;
	}
	if (getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) < 0)
		return -errno;
	*port = ntohs(a.sin_port);
	return 0;
}

static int connectors_init(struct sim *s)
{
	for (int i = 0; i < s->o.connectors; i++) {
		struct connector *c = &s->conn[i];
		c->unit = i + 1;
		if (ev_model_init(&c->ev, s->o.plugged, s->o.power_kw * 1000.0,
				  s->o.capacity_kwh * 1000.0, s->o.soc_pct, 0))
			return -EINVAL;
		c->map = modbus_mapping_new_start_address(
			COIL_CONTACTOR, 1, INPUT_EV_PLUGGED, 1, REG_CONTACTOR, 1,
			0, REG_INPUT_COUNT);
		if (!c->map)
			return -ENOMEM;
	}
	return 0;
}

static void sim_free(struct sim *s)
{
	for (int i = 0; i < SIM_MAX_MB_CLIENTS; i++)
		if (s->mbc[i].fd >= 0)
			close(s->mbc[i].fd);
	for (int i = 0; i < SIM_MAX_CTL_CLIENTS; i++)
		ctl_close(&s->ctl[i]);
	for (int i = 0; i < SIM_MAX_CONNECTORS; i++)
		modbus_mapping_free(s->conn[i].map);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	if (s->ctl_bound)
		unlink(s->o.control);
	if (s->mb) {
		modbus_set_socket(s->mb, -1); /* its sockets are closed above */
		modbus_free(s->mb);
	}
}

static void fd_watch(int fd, fd_set *set, int *maxfd)
{
	FD_SET(fd, set);
	if (fd > *maxfd)
		*maxfd = fd;
}

static int sim_loop(struct sim *s, const sigset_t *waitmask)
{
	while (!s->quit && !got_signal) {
		fd_set rd;
		int maxfd = -1;
		uint64_t now = mono_us();
		uint64_t wait_us = SIM_TICK_MS * 1000u;

		FD_ZERO(&rd);
		fd_watch(s->listen_fd, &rd, &maxfd);
		if (s->ctl_fd >= 0)
			fd_watch(s->ctl_fd, &rd, &maxfd);
		if (s->in.fd >= 0)
			fd_watch(s->in.fd, &rd, &maxfd);
		for (int i = 0; i < SIM_MAX_CTL_CLIENTS; i++)
			if (s->ctl[i].fd >= 0)
				fd_watch(s->ctl[i].fd, &rd, &maxfd);
		for (int i = 0; i < SIM_MAX_MB_CLIENTS; i++) {
			struct mb_client *cl = &s->mbc[i];
			if (cl->fd < 0)
				continue;
			if (!cl->pending) {
				fd_watch(cl->fd, &rd, &maxfd);
			} else if (cl->due_us <= now) {
				wait_us = 0;
			} else if (cl->due_us - now < wait_us) {
				wait_us = cl->due_us - now;
			}
		}
		struct timespec ts = {
			.tv_sec = (time_t)(wait_us / 1000000u),
			.tv_nsec = (long)(wait_us % 1000000u) * 1000,
		};
		int rc = pselect(maxfd + 1, &rd, NULL, NULL, &ts, waitmask);
		if (rc < 0 && errno != EINTR) {
			ws_err("pselect: %s", strerror(errno));
			return -errno;
		}
		sim_integrate(s);
		if (rc > 0) {
			if (FD_ISSET(s->listen_fd, &rd))
				mb_accept(s);
			if (s->ctl_fd >= 0 && FD_ISSET(s->ctl_fd, &rd))
				ctl_accept(s);
			if (s->in.fd >= 0 && FD_ISSET(s->in.fd, &rd))
				ctl_readable(s, &s->in);
			for (int i = 0; i < SIM_MAX_CTL_CLIENTS && !s->quit; i++)
				if (s->ctl[i].fd >= 0 &&
				    FD_ISSET(s->ctl[i].fd, &rd))
					ctl_readable(s, &s->ctl[i]);
			for (int i = 0; i < SIM_MAX_MB_CLIENTS; i++) {
				struct mb_client *cl = &s->mbc[i];
				if (cl->fd >= 0 && !cl->pending &&
				    FD_ISSET(cl->fd, &rd))
					mb_client_readable(s, cl);
			}
		}
		now = mono_us();
		for (int i = 0; i < SIM_MAX_MB_CLIENTS; i++) {
			struct mb_client *cl = &s->mbc[i];
			if (cl->fd >= 0 && cl->pending && cl->due_us <= now)
				mb_answer(s, cl);
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: wattstream-sim [options]\n"
	      "Simulated charger: per connector an SDM630 meter, a contactor and\n"
	      "an EV, over Modbus TCP (unit id = connector).  Prints\n"
	      "\"READY port=N\" on stdout once listening.\n"
	      "\n"
	      "  --connectors N     connectors = unit ids 1..N (1..16, default 1)\n"
	      "  --host ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
	      "  --port N           TCP port (default 1502; 0 = any free port)\n"
	      "  --time-scale X     simulated seconds per real second (default 1)\n"
	      "  --power-kw KW      power the EV requests (0..350, default 11)\n"
	      "  --capacity-kwh KWH battery capacity (default 60)\n"
	      "  --soc PCT          initial state of charge (default 20)\n"
	      "  --plugged          EV plugged in at start (default)\n"
	      "  --unplugged        no EV at start\n"
	      "  --energy-kwh KWH   meter reading at start (default 1234.5)\n"
	      "  --control PATH     also take commands on this Unix socket\n"
	      "  --log-level LEVEL  err, warning, notice, info (default), debug\n"
	      "  --help, --version\n"
	      "\n"
	      "Commands (stdin and control socket, one JSON reply line each):\n"
	      "  plug U | unplug U | power U KW | soc U PCT | capacity U KWH\n"
	      "  freeze U|all on|off | corrupt U backwards|jump|nan|off\n"
	      "  delay U MS | status U | quit\n"
	      "See docs/sim.md.\n", f);
}

static int parse_opts(int argc, char **argv, struct sim_opts *o)
{
	enum { O_CONN = 256, O_PORT, O_HOST, O_SCALE, O_POWER, O_CAP, O_SOC,
	       O_PLUG, O_UNPLUG, O_ENERGY, O_CONTROL, O_LOG, O_HELP, O_VER };
	static const struct option lo[] = {
		{ "connectors", required_argument, NULL, O_CONN },
		{ "port", required_argument, NULL, O_PORT },
		{ "host", required_argument, NULL, O_HOST },
		{ "time-scale", required_argument, NULL, O_SCALE },
		{ "power-kw", required_argument, NULL, O_POWER },
		{ "capacity-kwh", required_argument, NULL, O_CAP },
		{ "soc", required_argument, NULL, O_SOC },
		{ "plugged", no_argument, NULL, O_PLUG },
		{ "unplugged", no_argument, NULL, O_UNPLUG },
		{ "energy-kwh", required_argument, NULL, O_ENERGY },
		{ "control", required_argument, NULL, O_CONTROL },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VER },
		{ 0 },
	};
	int c, lvl;
	double v;

	*o = (struct sim_opts){
		.connectors = 1, .port = 1502, .host = "127.0.0.1",
		.time_scale = 1.0, .power_kw = 11.0, .capacity_kwh = 60.0,
		.soc_pct = 20.0, .plugged = true, .energy_kwh = 1234.5,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		const char *bad = NULL;
		switch (c) {
		case O_CONN:
			if (strspn(optarg, "0123456789") != strlen(optarg) ||
			    !parse_num(optarg, 1, SIM_MAX_CONNECTORS, &v))
				bad = "--connectors must be 1..16";
			o->connectors = (int)v;
			break;
		case O_PORT:
			if (strspn(optarg, "0123456789") != strlen(optarg) ||
			    !parse_num(optarg, 0, 65535, &v))
				bad = "--port must be 0..65535";
			o->port = (int)v;
			break;
		case O_HOST:
			o->host = optarg;
			break;
		case O_SCALE:
			if (!parse_num(optarg, 1e-6, 1e6, &v))
				bad = "--time-scale must be 0.000001..1000000";
			o->time_scale = v;
			break;
		case O_POWER:
			if (!parse_num(optarg, 0, EV_MODEL_MAX_POWER_W / 1000, &v))
				bad = "--power-kw must be 0..350";
			o->power_kw = v;
			break;
		case O_CAP:
			if (!parse_num(optarg, 1e-3,
				       EV_MODEL_MAX_CAPACITY_WH / 1000, &v))
				bad = "--capacity-kwh must be 0.001..1000";
			o->capacity_kwh = v;
			break;
		case O_SOC:
			if (!parse_num(optarg, 0, 100, &v))
				bad = "--soc must be 0..100";
			o->soc_pct = v;
			break;
		case O_PLUG:
			o->plugged = true;
			break;
		case O_UNPLUG:
			o->plugged = false;
			break;
		case O_ENERGY:
			/* float32 keeps ~0.1 Wh steps only below ~1000 MWh */
			if (!parse_num(optarg, 0, 1e7, &v))
				bad = "--energy-kwh must be 0..10000000";
			o->energy_kwh = v;
			break;
		case O_CONTROL:
			o->control = optarg;
			break;
		case O_LOG:
			lvl = ws_log_level_parse(optarg);
			if (lvl < 0)
				bad = "--log-level: unknown level";
			else
				ws_log_set_level(lvl);
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		case O_VER:
			printf("wattstream-sim %s\n", WS_VERSION);
			exit(0);
		default:
			bad = "unknown option or missing argument";
			break;
		}
		if (bad) {
			fprintf(stderr, "wattstream-sim: %s (see --help)\n",
				bad);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wattstream-sim: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct sim s; /* large; zeroed */
	sigset_t block, waitmask;
	int port = 0, r;

	s.listen_fd = s.ctl_fd = -1;
	for (int i = 0; i < SIM_MAX_MB_CLIENTS; i++)
		s.mbc[i].fd = -1;
	for (int i = 0; i < SIM_MAX_CTL_CLIENTS; i++)
		s.ctl[i].fd = -1;
	/* Without an open stdin (started with 0<&-) only the socket steers. */
	s.in.fd = fcntl(STDIN_FILENO, F_GETFD) < 0 ? -1 : STDIN_FILENO;
	if (parse_opts(argc, argv, &s.o) < 0)
		return 2;

	/* SIGINT/SIGTERM are only delivered inside pselect(), so a signal
	 * can never slip in between the flag test and the wait. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);

	s.start_us = mono_us();
	r = connectors_init(&s);
	if (r < 0) {
		ws_err("Failed to set up connectors: %s", strerror(-r));
		goto fail;
	}
	r = mb_listen(&s, &port);
	if (r < 0)
		goto fail;
	if (s.o.control) {
		r = ctl_listen(&s);
		if (r < 0)
			goto fail;
	}
	ws_info("serving %d connector(s) on %s:%d (time scale %g)%s%s",
		s.o.connectors, s.o.host, port, s.o.time_scale,
		s.o.control ? ", control socket " : "",
		s.o.control ? s.o.control : "");
	printf("READY port=%d\n", port);
	fflush(stdout);

	r = sim_loop(&s, &waitmask);
	if (got_signal)
		ws_info("signal %d: exiting", (int)got_signal);
	else if (s.quit)
		ws_info("quit: exiting");
fail:
	sim_free(&s);
	return r < 0 ? 1 : 0;
}
