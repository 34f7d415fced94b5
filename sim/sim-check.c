/* sim-check.c: self-check of wattstream-sim against its contract
 * (docs/sim.md): register layout and float word order, contactor coil and
 * holding-register mirror, exceptions, unit ids, freeze, delay while other
 * clients are served, corruption, EV commands, malformed commands on the
 * control socket and stdin, clean exit on SIGTERM and on "quit", and
 * refused bad flags.
 *
 * usage: sim-check PATH/TO/wattstream-sim
 * Starts the sims itself (--port 0, control socket in a fresh temporary
 * folder), waits for "READY port=N", and stops each by its PID.  Takes
 * about 4 s, mostly the waits for timeouts and delays it checks.
 */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCALE        360.0     /* --time-scale: 1 real s = 6 simulated min */
#define POWER_W      11000.0
#define START_KWH    1234.5
#define WAIT_MS      5000      /* upper bound for anything that must happen */

static const char *sim_path;
static char tmpdir[64], ctl_path[96];

struct child {
	pid_t pid;
	int in_fd;   /* the sim's stdin */
	int out_fd;  /* the sim's stdout */
	int port;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reads one line from fd within timeout_ms.  Returns its length, or -1. */
static int read_line(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t len = 0;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (len + 1 < n) {
		uint64_t t = now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (t >= end || poll(&p, 1, (int)(end - t)) <= 0)
			return -1;
		ssize_t r = read(fd, buf + len, 1); /* byte-wise: keep the rest */
		if (r <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (int)len;
		}
		len++;
	}
	return -1;
}

/* Starts the sim with extra args; waits for READY unless expect_ready is
 * false.  Returns 0 or -1. */
static int sim_start(struct child *ch, const char *const *extra,
		     bool expect_ready)
{
	int in[2], out[2];
	const char *argv[32];
	int n = 0;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	argv[n++] = sim_path;
	argv[n++] = "--log-level";
	argv[n++] = "warning";
	for (int i = 0; extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	ch->pid = fork();
	if (ch->pid < 0)
		return -1;
	if (ch->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execv(sim_path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	ch->port = -1;
	if (!expect_ready)
		return 0;
	char line[128];
	if (read_line(ch->out_fd, line, sizeof(line), WAIT_MS) < 0 ||
	    sscanf(line, "READY port=%d", &ch->port) != 1)
		return -1;
	return 0;
}

/* Waits for the child's exit within timeout_ms; returns the exit status,
 * 128+signal, or -1 on timeout (then kills it by PID). */
static int sim_wait(struct child *ch, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(ch->pid, &st, WNOHANG);
		if (r == ch->pid)
			break;
		if (now_ms() >= end) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, &st, 0);
			close(ch->in_fd);
			close(ch->out_fd);
			return -1;
		}
		sleep_ms(10);
	}
	close(ch->in_fd);
	close(ch->out_fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- control socket --------------------------------------------------- */

static int ctl_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ctl_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends cmd (a newline is added) and reads the one reply line. */
static const char *ctl(int fd, const char *cmd)
{
	static char reply[1024];
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    write(fd, line, (size_t)n) != n ||
	    read_line(fd, reply, sizeof(reply), WAIT_MS) < 0)
		snprintf(reply, sizeof(reply), "(no reply)");
	return reply;
}

static bool ok(const char *reply)
{
	return strncmp(reply, "{\"ok\":true", 10) == 0;
}

static bool err(const char *reply)
{
	return strncmp(reply, "{\"ok\":false,\"error\":\"", 21) == 0 &&
	       strcmp(reply + strlen(reply) - 2, "\"}") == 0;
}

/* A number field of a status reply; NAN if absent or null. */
static double field(const char *reply, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(reply, k);
	if (!p)
		return NAN;
	p += strlen(k);
	if (strncmp(p, "true", 4) == 0)
		return 1;
	if (strncmp(p, "false", 5) == 0)
		return 0;
	char *end;
	double v = strtod(p, &end);
	return end == p ? NAN : v;
}

static double status(int fd, int unit, const char *key)
{
	char cmd[32];
	snprintf(cmd, sizeof(cmd), "status %d", unit);
	return field(ctl(fd, cmd), key);
}

/* ---- Modbus ---------------------------------------------------------- */

static modbus_t *mb_open(int port, int unit)
{
	modbus_t *mb = modbus_new_tcp("127.0.0.1", port);
	if (!mb)
		return NULL;
	modbus_set_slave(mb, unit);
	modbus_set_response_timeout(mb, 1, 0);
	if (modbus_connect(mb) < 0) {
		modbus_free(mb);
		return NULL;
	}
	return mb;
}

static void mb_close(modbus_t *mb)
{
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

/* The float at addr, decoded by hand: high word first. */
static float reg_float(modbus_t *mb, int addr)
{
	uint16_t r[2];
	if (modbus_read_input_registers(mb, addr, 2, r) != 2)
		return -12345.0f;
	uint32_t bits = (uint32_t)r[0] << 16 | r[1];
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static uint32_t bits_of(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof(b));
	return b;
}

/* Read input registers on a raw socket: MBAP tid, unit; returns 0/-1. */
static int raw_request(int fd, uint16_t tid, uint8_t unit, uint16_t addr,
		       uint16_t count)
{
	uint8_t q[12] = {
		tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, 0x04,
		addr >> 8, addr & 0xFF, count >> 8, count & 0xFF,
	};
	return write(fd, q, sizeof(q)) == (ssize_t)sizeof(q) ? 0 : -1;
}

/* Waits up to timeout_ms for an answer; returns its length or -1. */
static int raw_answer(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	sleep_ms(5); /* the rest of a small frame on loopback */
	ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
	return r > 0 ? (int)r : -1;
}

static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- the checks --------------------------------------------------------- */

static void check_layout(modbus_t *mb)
{
	uint16_t r[0x58];

	CHECK_INT(modbus_read_input_registers(mb, 0, 0x4C, r), 0x4C);
	/* 230.0f = 0x43660000 high word first, 50.0f = 0x42480000,
	 * 1234.5f = 0x449A5000. */
	for (int ph = 0; ph < 3; ph++) {
		CHECK_INT(r[2 * ph], 0x4366);
		CHECK_INT(r[2 * ph + 1], 0x0000);
	}
	CHECK_INT(r[0x46], 0x4248);
	CHECK_INT(r[0x47], 0x0000);
	CHECK_INT(r[0x48], 0x449A);
	CHECK_INT(r[0x49], 0x5000);
	CHECK_NEAR(modbus_get_float_abcd(&r[0x48]), START_KWH, 0);
	CHECK_INT(r[0x4A], 0);
	CHECK_INT(r[0x4B], 0);
	/* Contactor open: no current, no power; unlisted registers are 0. */
	for (int a = 0x06; a < 0x12; a++)
		CHECK_INT(r[a], 0);
	CHECK_INT(r[0x34], 0);
	CHECK_INT(r[0x20], 0);
	CHECK_INT(r[0x36], 0);
	CHECK_NEAR(reg_float(mb, 0x156), START_KWH, 0);

	/* Mapped range ends at 0x01FF. */
	CHECK_INT(modbus_read_input_registers(mb, 0x1FE, 2, r), 2);
	CHECK_INT(modbus_read_input_registers(mb, 0x1FF, 2, r), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_read_input_registers(mb, 0x200, 1, r), -1);
	CHECK_INT(errno, EMBXILADD);
	/* Discrete input 0 only (EV plugged); coil 0 and holding 0x1000. */
	uint8_t b[2];
	CHECK_INT(modbus_read_input_bits(mb, 0, 1, b), 1);
	CHECK_INT(b[0], 1);	/* plugged at start */
	CHECK_INT(modbus_read_input_bits(mb, 1, 1, b), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_read_bits(mb, 0, 2, b), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_write_bit(mb, 1, 1), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_read_registers(mb, 0x0FFF, 1, r), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_write_register(mb, 0x1001, 1), -1);
	CHECK_INT(errno, EMBXILADD);
	CHECK_INT(modbus_read_registers(mb, 0x0000, 1, r), -1);
	CHECK_INT(errno, EMBXILADD);
}

static void check_contactor(modbus_t *mb, int cfd)
{
	uint8_t b = 9;
	uint16_t h = 9;

	CHECK_INT(modbus_read_bits(mb, 0, 1, &b), 1);
	CHECK_INT(b, 0);
	CHECK_INT(modbus_read_registers(mb, 0x1000, 1, &h), 1);
	CHECK_INT(h, 0);

	/* Close by coil, see it in the register and in status. */
	CHECK_INT(modbus_write_bit(mb, 0, 1), 1);
	CHECK_INT(modbus_read_registers(mb, 0x1000, 1, &h), 1);
	CHECK_INT(h, 1);
	CHECK_INT(status(cfd, 1, "coil"), 1);
	CHECK_INT(status(cfd, 1, "coil_changes"), 1);
	/* Energy flows: wait for it, then check the instantaneous values. */
	uint64_t end = now_ms() + WAIT_MS;
	while (!(status(cfd, 1, "true_energy_wh") > 0) && now_ms() < end)
		sleep_ms(10);
	CHECK(status(cfd, 1, "true_energy_wh") > 0);
	CHECK_NEAR(reg_float(mb, 0x34), POWER_W, 0);
	CHECK_INT(bits_of(reg_float(mb, 0x0C)), bits_of((float)(POWER_W / 3)));
	CHECK_INT(bits_of(reg_float(mb, 0x10)), bits_of((float)(POWER_W / 3)));
	CHECK_INT(bits_of(reg_float(mb, 0x06)),
		  bits_of((float)(POWER_W / 3 / 230)));
	CHECK_INT(bits_of(reg_float(mb, 0x0A)),
		  bits_of((float)(POWER_W / 3 / 230)));

	/* Rate follows --time-scale: Wh per real second = P * SCALE / 3600. */
	double e0 = status(cfd, 1, "true_energy_wh");
	uint64_t t0 = now_ms();
	sleep_ms(300);
	double e1 = status(cfd, 1, "true_energy_wh");
	double expect = POWER_W * SCALE / 3600.0 * (double)(now_ms() - t0) / 1000;
	CHECK(e1 - e0 > 0.5 * expect && e1 - e0 < 1.5 * expect);

	/* Open by register; the coil follows; energy stops. */
	CHECK_INT(modbus_write_register(mb, 0x1000, 0), 1);
	CHECK_INT(modbus_read_bits(mb, 0, 1, &b), 1);
	CHECK_INT(b, 0);
	CHECK_INT(status(cfd, 1, "coil_changes"), 2);
	double ea = status(cfd, 1, "true_energy_wh");
	sleep_ms(120);
	double eb = status(cfd, 1, "true_energy_wh");
	CHECK_NEAR(eb, ea, 0);
	CHECK_INT(bits_of(reg_float(mb, 0x34)), 0);
	/* The register shows start + true energy, and status agrees. */
	float reg = reg_float(mb, 0x48);
	CHECK_INT(bits_of(reg), bits_of((float)(START_KWH + eb / 1000)));
	CHECK_NEAR(status(cfd, 1, "register_energy_kwh"), (double)reg, 0);
	CHECK_INT(bits_of(reg_float(mb, 0x156)), bits_of(reg));

	/* Only 0 and 1 are valid in the register; nothing changes. */
	CHECK_INT(modbus_write_register(mb, 0x1000, 2), -1);
	CHECK_INT(errno, EMBXILVAL);
	uint16_t two = 0x0100;
	CHECK_INT(modbus_write_registers(mb, 0x1000, 1, &two), -1);
	CHECK_INT(errno, EMBXILVAL);
	CHECK_INT(status(cfd, 1, "coil"), 0);
	CHECK_INT(status(cfd, 1, "coil_changes"), 2);
	/* Function 16 and 15 work too; writing the same state is no change. */
	uint16_t one = 1;
	CHECK_INT(modbus_write_registers(mb, 0x1000, 1, &one), 1);
	CHECK_INT(status(cfd, 1, "coil"), 1);
	CHECK_INT(modbus_write_bit(mb, 0, 1), 1);
	CHECK_INT(status(cfd, 1, "coil_changes"), 3);
	uint8_t zero = 0;
	CHECK_INT(modbus_write_bits(mb, 0, 1, &zero), 1);
	CHECK_INT(status(cfd, 1, "coil"), 0);
	CHECK_INT(status(cfd, 1, "coil_changes"), 4);
}

static void check_units(int port, int cfd)
{
	modbus_t *u2 = mb_open(port, 2);
	CHECK(u2 != NULL);
	if (!u2)
		return;
	CHECK_NEAR(reg_float(u2, 0x48), START_KWH, 0);
	CHECK_INT(status(cfd, 2, "coil"), 0);
	mb_close(u2);

	/* Units 0 and 3 (of 2) get no answer; the link stays usable. */
	int fd = raw_connect(port);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	uint8_t a[64];
	CHECK_INT(raw_request(fd, 0x1111, 3, 0x48, 2), 0);
	CHECK_INT(raw_request(fd, 0x2222, 0, 0x48, 2), 0);
	CHECK_INT(raw_answer(fd, a, sizeof(a), 300), -1);
	CHECK_INT(raw_request(fd, 0x3333, 1, 0x48, 2), 0);
	int n = raw_answer(fd, a, sizeof(a), WAIT_MS);
	CHECK_INT(n, 13);
	if (n == 13) {
		CHECK_INT(a[0] << 8 | a[1], 0x3333);
		CHECK_INT(a[6], 1);
		CHECK_INT(a[7], 0x04);
		CHECK_INT(a[8], 4);
	}
	close(fd);
}

static void check_freeze_delay(int port, modbus_t *mb, int cfd)
{
	uint16_t r[2];
	modbus_t *u2 = mb_open(port, 2);
	CHECK(u2 != NULL);
	if (!u2)
		return;
	modbus_set_response_timeout(mb, 0, 500000);
	modbus_set_response_timeout(u2, 0, 500000);

	CHECK(ok(ctl(cfd, "freeze 1 on")));
	CHECK_INT(status(cfd, 1, "frozen"), 1);
	CHECK_INT(modbus_read_input_registers(mb, 0x48, 2, r), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK_INT(modbus_read_input_registers(u2, 0x48, 2, r), 2);
	CHECK(ok(ctl(cfd, "freeze 1 off")));
	CHECK_INT(modbus_read_input_registers(mb, 0x48, 2, r), 2);
	CHECK(ok(ctl(cfd, "freeze all on")));
	CHECK_INT(modbus_read_input_registers(u2, 0x48, 2, r), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK_INT(modbus_write_bit(mb, 0, 1), -1); /* frozen: not applied */
	CHECK_INT(status(cfd, 1, "coil"), 0);
	CHECK(ok(ctl(cfd, "freeze all off")));
	CHECK_INT(modbus_read_input_registers(u2, 0x48, 2, r), 2);
	CHECK_INT(status(cfd, 2, "frozen"), 0);

	/* Unit 1 answers after 1000 ms; unit 2 on another link is served
	 * meanwhile, before unit 1's answer is there.  (Bounds are loose: the
	 * machine may be busy.) */
	CHECK(ok(ctl(cfd, "delay 1 1000")));
	CHECK_INT(status(cfd, 1, "delay_ms"), 1000);
	int fd = raw_connect(port);
	CHECK(fd >= 0);
	if (fd >= 0) {
		uint8_t a[64];
		uint64_t t0 = now_ms();
		CHECK_INT(raw_request(fd, 7, 1, 0x48, 2), 0);
		CHECK_INT(modbus_read_input_registers(u2, 0x48, 2, r), 2);
		CHECK(now_ms() - t0 < 800);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		CHECK_INT(poll(&p, 1, 0), 0); /* unit 1 not answered yet */
		int n = raw_answer(fd, a, sizeof(a), WAIT_MS);
		uint64_t took = now_ms() - t0;
		CHECK_INT(n, 13);
		CHECK(took >= 1000 && took < 4000);
		close(fd);
	}
	CHECK(ok(ctl(cfd, "delay 1 0")));
	modbus_set_response_timeout(mb, 1, 0);
	mb_close(u2);
}

static void check_corrupt(modbus_t *mb, int cfd)
{
	double e = status(cfd, 1, "true_energy_wh");
	float r0 = reg_float(mb, 0x48);

	CHECK(ok(ctl(cfd, "corrupt 1 backwards")));
	float rb = reg_float(mb, 0x48);
	CHECK(rb < r0);
	CHECK(reg_float(mb, 0x156) < r0);
	CHECK(ok(ctl(cfd, "corrupt 1 jump")));
	CHECK_NEAR(reg_float(mb, 0x48), (double)r0 + 1000, 0.01);
	CHECK(ok(ctl(cfd, "corrupt 1 nan")));
	CHECK(isnan(reg_float(mb, 0x48)));
	const char *st = ctl(cfd, "status 1");
	CHECK(strstr(st, "\"register_energy_kwh\":null") != NULL);
	CHECK_NEAR(field(st, "true_energy_wh"), e, 0);
	CHECK(ok(ctl(cfd, "corrupt 1 off")));
	CHECK_INT(bits_of(reg_float(mb, 0x48)), bits_of(r0));
	CHECK_NEAR(status(cfd, 1, "true_energy_wh"), e, 0);
}

static void check_ev(modbus_t *mb, int cfd)
{
	CHECK(ok(ctl(cfd, "unplug 1")));
	CHECK_INT(modbus_write_bit(mb, 0, 1), 1);
	double e = status(cfd, 1, "true_energy_wh");
	sleep_ms(100);
	CHECK_NEAR(status(cfd, 1, "true_energy_wh"), e, 0);
	CHECK_NEAR(reg_float(mb, 0x34), 0, 0);
	CHECK_INT(status(cfd, 1, "plugged"), 0);
	CHECK(ok(ctl(cfd, "plug 1")));
	CHECK_NEAR(reg_float(mb, 0x34), POWER_W, 0);
	CHECK(ok(ctl(cfd, "power 1 22")));
	CHECK_NEAR(reg_float(mb, 0x34), 22000, 0);
	CHECK_NEAR(status(cfd, 1, "requested_w"), 22000, 0);
	/* Taper: at 90 % half the requested power (SoC moves a little). */
	CHECK(ok(ctl(cfd, "soc 1 90")));
	CHECK_NEAR(reg_float(mb, 0x34), 11000, 100);
	CHECK(ok(ctl(cfd, "soc 1 100")));
	CHECK_NEAR(reg_float(mb, 0x34), 0, 0);
	e = status(cfd, 1, "true_energy_wh");
	sleep_ms(60);
	CHECK_NEAR(status(cfd, 1, "true_energy_wh"), e, 0);
	CHECK(ok(ctl(cfd, "capacity 1 80")));
	CHECK_NEAR(status(cfd, 1, "capacity_wh"), 80000, 0);
	CHECK(ok(ctl(cfd, "soc 1 20")));
	CHECK(ok(ctl(cfd, "power 1 11")));
	CHECK_INT(modbus_write_bit(mb, 0, 0), 1);
}

static void check_malformed(int cfd)
{
	static const char *const bad[] = {
		"bogus", "status", "status 1 2", "status 0", "status 3",
		"status -1", "status 1.0", "status x", "status 99999999999999999999",
		"plug", "plug 1 2", "power 1", "power 1 abc", "power 1 350.1",
		"power 1 -1", "power 1 nan", "power 1 inf", "power 1 0x10",
		"power 9 1", "soc 1 101", "soc 1 -0.5", "soc 1 1e999",
		"capacity 1 0", "capacity 1 -3", "capacity 1 1001",
		"freeze 1", "freeze 1 maybe", "freeze 7 on", "freeze any on",
		"corrupt 1", "corrupt 1 sideways", "corrupt 5 nan",
		"delay 1 -1", "delay 1 1.5", "delay 1 600001", "delay 1",
		"quit now", "a b c d e f", "STATUS 1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = ctl(cfd, bad[i]);
		if (!err(r))
			fprintf(stderr, "  command '%s' -> %s\n", bad[i], r);
		CHECK(err(r));
	}
	/* A line longer than the buffer: one error, then normal service. */
	char big[2001];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(err(ctl(cfd, big)));
	CHECK(ok(ctl(cfd, "status 1")));
	/* A NUL byte inside a line. */
	const char nul[] = "status\0 1\n";
	CHECK_INT(write(cfd, nul, sizeof(nul) - 1), (ssize_t)sizeof(nul) - 1);
	char r[512];
	CHECK(read_line(cfd, r, sizeof(r), WAIT_MS) > 0 && err(r));
	/* Blank lines get no reply; CRLF is accepted; several commands in
	 * one write get one reply each, in order. */
	const char multi[] = "\n  \nstatus 2\r\nstatus 1\n";
	CHECK_INT(write(cfd, multi, sizeof(multi) - 1), (ssize_t)sizeof(multi) - 1);
	CHECK(read_line(cfd, r, sizeof(r), WAIT_MS) > 0 && field(r, "unit") == 2);
	CHECK(read_line(cfd, r, sizeof(r), WAIT_MS) > 0 && field(r, "unit") == 1);
	/* The sim survived all of it. */
	CHECK(ok(ctl(cfd, "status 2")));
}

/* Sends a raw frame (MBAP header built here: tid 0x0101, length from pdu)
 * and returns the answer's length (or -1 for none within timeout_ms). */
static int raw_pdu(int fd, uint8_t unit, const uint8_t *pdu, size_t n,
		   uint8_t *ans, size_t an, int timeout_ms)
{
	uint8_t q[300] = { 0x01, 0x01, 0, 0, (uint8_t)((n + 1) >> 8),
			   (uint8_t)(n + 1), unit };
	memcpy(q + 7, pdu, n);
	if (write(fd, q, 7 + n) != (ssize_t)(7 + n))
		return -1;
	return raw_answer(fd, ans, an, timeout_ms);
}

/* Hostile and unusual frames: answered with the right exception or the
 * link dropped, never a crash; the sim keeps serving others. */
static void check_raw_frames(int port, int cfd)
{
	uint8_t a[300];
	int fd = raw_connect(port);
	CHECK(fd >= 0);
	if (fd < 0)
		return;

	/* Unknown function: Illegal Function exception. */
	static const uint8_t f63[] = { 0x63, 0, 0 };
	CHECK_INT(raw_pdu(fd, 1, f63, sizeof(f63), a, sizeof(a), WAIT_MS), 9);
	CHECK_INT(a[7], 0xE3);
	CHECK_INT(a[8], 1);
	/* Write multiple registers with quantity 0: Illegal Data Value. */
	static const uint8_t q0[] = { 0x10, 0x10, 0x00, 0, 0, 0 };
	CHECK_INT(raw_pdu(fd, 1, q0, sizeof(q0), a, sizeof(a), WAIT_MS), 9);
	CHECK_INT(a[7], 0x90);
	CHECK_INT(a[8], 3);
	/* Mask write on the contactor: (0 & 0) | (1 & ~0) = 1 closes it;
	 * an OR mask of 2 would leave 2: refused. */
	static const uint8_t mw1[] = { 0x16, 0x10, 0x00, 0, 0, 0, 1 };
	CHECK_INT(raw_pdu(fd, 1, mw1, sizeof(mw1), a, sizeof(a), WAIT_MS), 14);
	CHECK_INT(status(cfd, 1, "coil"), 1);
	static const uint8_t mw2[] = { 0x16, 0x10, 0x00, 0, 0, 0, 2 };
	CHECK_INT(raw_pdu(fd, 1, mw2, sizeof(mw2), a, sizeof(a), WAIT_MS), 9);
	CHECK_INT(a[8], 3);
	/* Write-and-read (0x17): write 0 to the contactor, read it back. */
	static const uint8_t wr[] = { 0x17, 0x10, 0x00, 0, 1, 0x10, 0x00,
				      0, 1, 2, 0, 0 };
	CHECK_INT(raw_pdu(fd, 1, wr, sizeof(wr), a, sizeof(a), WAIT_MS), 11);
	CHECK_INT(a[9] << 8 | a[10], 0);
	CHECK_INT(status(cfd, 1, "coil"), 0);
	static const uint8_t wr5[] = { 0x17, 0x10, 0x00, 0, 1, 0x10, 0x00,
				       0, 1, 2, 0, 5 };
	CHECK_INT(raw_pdu(fd, 1, wr5, sizeof(wr5), a, sizeof(a), WAIT_MS), 9);
	CHECK_INT(a[8], 3);
	CHECK_INT(status(cfd, 1, "coil"), 0);
	/* Read of 126 input registers (limit 125): Illegal Data Value. */
	static const uint8_t big[] = { 0x04, 0, 0, 0, 126 };
	CHECK_INT(raw_pdu(fd, 1, big, sizeof(big), a, sizeof(a), WAIT_MS), 9);
	CHECK_INT(a[8], 3);
	close(fd);

	/* A truncated frame, then a frame whose byte count promises more
	 * than comes, then 300 bytes of noise: each on its own link. */
	fd = raw_connect(port);
	if (fd >= 0) {
		CHECK_INT(write(fd, "\x01\x02\x00", 3), 3);
		close(fd);
	}
	fd = raw_connect(port);
	if (fd >= 0) {
		static const uint8_t part[] = { 0x10, 0x10, 0x00, 0, 100, 200,
						1, 2 };
		CHECK_INT(raw_pdu(fd, 1, part, sizeof(part), a, sizeof(a), 600),
			  -1);
		close(fd);
	}
	fd = raw_connect(port);
	if (fd >= 0) {
		uint8_t noise[300];
		uint32_t x = 12345;
		for (size_t i = 0; i < sizeof(noise); i++) {
			x = x * 1103515245u + 12345u;
			noise[i] = (uint8_t)(x >> 16);
		}
		CHECK_INT(write(fd, noise, sizeof(noise)), (ssize_t)sizeof(noise));
		raw_answer(fd, a, sizeof(a), 300);
		close(fd);
	}
	/* Still serving, contactor unchanged. */
	modbus_t *mb = mb_open(port, 1);
	CHECK(mb != NULL);
	if (mb) {
		CHECK_NEAR(reg_float(mb, 0x46), 50.0, 0);
		mb_close(mb);
	}
	CHECK_INT(status(cfd, 1, "coil"), 0);
}

static void check_second_client_and_stdin(struct child *ch)
{
	int c2 = ctl_connect();
	CHECK(c2 >= 0);
	if (c2 >= 0) {
		CHECK(ok(ctl(c2, "status 2")));
		close(c2);
	}
	const char cmd[] = "status 2\nbogus\n";
	CHECK_INT(write(ch->in_fd, cmd, sizeof(cmd) - 1), (ssize_t)sizeof(cmd) - 1);
	char r[512];
	CHECK(read_line(ch->out_fd, r, sizeof(r), WAIT_MS) > 0 && ok(r) &&
	      field(r, "unit") == 2);
	CHECK(read_line(ch->out_fd, r, sizeof(r), WAIT_MS) > 0 && err(r));
}

static void check_exits(void)
{
	struct child ch;
	struct stat st;

	/* quit on the control socket: exit 0, socket removed. */
	const char *const a1[] = { "--port", "0", "--control", ctl_path, NULL };
	CHECK_INT(sim_start(&ch, a1, true), 0);
	int fd = ctl_connect();
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ok(ctl(fd, "quit")));
		close(fd);
	}
	CHECK_INT(sim_wait(&ch, WAIT_MS), 0);
	CHECK(lstat(ctl_path, &st) < 0);

	/* End of stdin is no reason to stop; SIGINT is, with exit 0. */
	const char *const a2[] = { "--port", "0", NULL };
	CHECK_INT(sim_start(&ch, a2, true), 0);
	close(ch.in_fd);
	ch.in_fd = open("/dev/null", O_RDONLY);
	sleep_ms(100);
	CHECK_INT(waitpid(ch.pid, NULL, WNOHANG), 0);
	kill(ch.pid, SIGINT);
	CHECK_INT(sim_wait(&ch, WAIT_MS), 0);

	/* Bad flags: refused with an error, no READY. */
	static const char *const bad[][3] = {
		{ "--connectors", "17", NULL }, { "--connectors", "0", NULL },
		{ "--port", "65536", NULL }, { "--port", "-1", NULL },
		{ "--host", "localhost", NULL }, { "--power-kw", "351", NULL },
		{ "--soc", "101", NULL }, { "--time-scale", "0", NULL },
		{ "--capacity-kwh", "0", NULL }, { "--bogus", NULL, NULL },
		{ "--energy-kwh", "nan", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *a[5] = { "--port", "0", bad[i][0], bad[i][1], NULL };
		CHECK_INT(sim_start(&ch, a, false), 0);
		int rc = sim_wait(&ch, WAIT_MS);
		if (rc != 1 && rc != 2)
			fprintf(stderr, "  flags %s %s -> exit %d\n", bad[i][0],
				bad[i][1] ? bad[i][1] : "", rc);
		CHECK(rc == 1 || rc == 2);
	}
}

int main(int argc, char **argv)
{
	struct child ch;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/wattstream-sim\n", argv[0]);
		return 2;
	}
	sim_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sim-check.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ctl_path, sizeof(ctl_path), "%s/ctl.sock", tmpdir);

	const char *const args[] = {
		"--port", "0", "--connectors", "2", "--time-scale", "360",
		"--power-kw", "11", "--capacity-kwh", "60", "--soc", "20",
		"--energy-kwh", "1234.5", "--control", ctl_path, NULL,
	};
	if (sim_start(&ch, args, true) < 0) {
		fprintf(stderr, "sim did not become ready\n");
		if (ch.pid > 0)
			sim_wait(&ch, 0);
		rmdir(tmpdir);
		return 1;
	}
	int cfd = ctl_connect();
	modbus_t *mb = mb_open(ch.port, 1);
	CHECK(cfd >= 0);
	CHECK(mb != NULL);
	if (cfd >= 0 && mb) {
		check_layout(mb);
		check_contactor(mb, cfd);
		check_units(ch.port, cfd);
		check_freeze_delay(ch.port, mb, cfd);
		check_corrupt(mb, cfd);
		check_ev(mb, cfd);
		check_malformed(cfd);
		check_raw_frames(ch.port, cfd);
		check_second_client_and_stdin(&ch);
	}
	/* A second sim may not take over a live control socket. */
	struct child other;
	const char *const again[] = { "--port", "0", "--control", ctl_path, NULL };
	CHECK_INT(sim_start(&other, again, false), 0);
	CHECK_INT(sim_wait(&other, WAIT_MS), 1);
	if (cfd >= 0)
		CHECK(ok(ctl(cfd, "status 1")));

	mb_close(mb);
	if (cfd >= 0)
		close(cfd);
	kill(ch.pid, SIGTERM);
	CHECK_INT(sim_wait(&ch, WAIT_MS), 0);
	struct stat st;
	CHECK(lstat(ctl_path, &st) < 0); /* removed on exit */

	check_exits();
	unlink(ctl_path);
	rmdir(tmpdir);
	return check_done();
}
