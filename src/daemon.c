/* daemon.c: wattstreamd's wiring.  The event loop is libwebsockets'; the
 * bus workers' messages arrive through one pipe adopted into it; each
 * connector has a timer (lws_sul) for its fail-safe deadline and, for
 * contactors driven from the loop (GPIO, none), its periodic read-back.
 * The control socket commands are implemented here (docs/control.md).
 * Nothing here blocks but SQLite commits (one fsync each, throttled for
 * meter readings to one per connector per STORE_READING_EVERY_S). */
#include "wattstream/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "wattstream/bus_worker.h"
#include "wattstream/clock.h"
#include "wattstream/connector.h"
#include "wattstream/contactor.h"
#include "wattstream/control.h"
#include "wattstream/log.h"
#include "wattstream/ocpp_config.h"
#include "wattstream/ocpp_cp.h"
#include "wattstream/pay_station.h"
#include "wattstream/parse.h"
#include "wattstream/store.h"
#include "ws-build-config.h"

#define STORE_READING_EVERY_S 10	/* last reading persisted at most this often */
#define SHUTDOWN_OPEN_WAIT_US 2000000	/* wait for contactors to confirm open */

struct ws_daemon;

struct daemon_connector {
	struct ws_connector c;
	struct ws_daemon *d;
	lws_sorted_usec_list_t sul;		/* fail-safe deadline / read-back */
	struct ws_contactor *contactor;
	struct bus_worker *contactor_worker;	/* NULL: driven from the loop */
	int64_t fault_id[2];			/* store ids of active faults */
	uint64_t saved_us;			/* last reading persisted */
	char auth_tag[21];			/* idTag being authorized, "" none */
	/* an authorized idTag waiting for the EV (ConnectionTimeOut) */
	char wait_tag[21];			/* "" none */
	uint64_t wait_until_us;
	lws_sorted_usec_list_t wait_sul;
};

struct ws_daemon {
	const struct ws_config *cfg;
	struct lws_context *lws;
	struct lws_vhost *vhost;
	struct lws_protocols protocols[2];
	struct ws_store *store;
	struct ws_control *control;
	struct ocpp_cp *ocpp;		/* NULL: OCPP off */
	struct pay_station *pay;	/* NULL: payments off */
	int pipe_rd, pipe_wr;
	struct lws *pipe_wsi;
	unsigned char rx[sizeof(struct bus_msg) * 16];
	size_t rx_len;
	unsigned n_workers;
	struct bus_worker *worker[WS_MAX_BUSES];
	int worker_bus[WS_MAX_BUSES];
	unsigned n_conn;
	struct daemon_connector conn[WS_MAX_CONNECTORS];
	lws_sorted_usec_list_t watchdog_sul;
	uint64_t watchdog_usec;
	bool ready_sent;
	bool reset_requested;
	char status[256];
	uint64_t started_us;
};

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_lws;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (signal_lws)
		lws_cancel_service(signal_lws);
}

/* ---- systemd ------------------------------------------------------- */

static void update_status(struct ws_daemon *d)
{
	char s[256] = "";
	size_t n = 0;
	bool all_started = true;

	if (d->ocpp)
		n += (size_t)snprintf(s, sizeof(s), "ocpp %s, ",
				      ocpp_cp_state_name(ocpp_cp_state(d->ocpp)));
	for (unsigned i = 0; i < d->n_conn; i++) {
		const struct ws_connector *c = &d->conn[i].c;
		if (c->state == CONN_STARTING)
			all_started = false;
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sconnector %u %s", i ? ", " : "",
				      c->id, connector_state_name(c->state));
		if (n >= sizeof(s))
			break;
	}
	if (strcmp(s, d->status) != 0) {
		snprintf(d->status, sizeof(d->status), "%s", s);
		sd_notifyf(0, "STATUS=%s", s);
	}
	/* ready once the store is open and every meter has answered or been
	 * found dead: the state of each connector is then known */
	if (all_started && !d->ready_sent) {
		d->ready_sent = true;
		sd_notify(0, "READY=1");
		ws_notice("ready: %s", s);
	}
}

static void watchdog_cb(lws_sorted_usec_list_t *sul)
{
	struct ws_daemon *d = lws_container_of(sul, struct ws_daemon, watchdog_sul);
	uint64_t now = ws_clock_mono_us();
	bool alive = true;

	for (unsigned i = 0; i < d->n_workers; i++) {
		const struct ws_bus_config *b = &d->cfg->bus[d->worker_bus[i]];
		/* a worker goes round at least once per timeout + poll */
		uint64_t limit = 3000000 + 2ull * b->timeout_ms * 1000;
		uint64_t age = now - bus_worker_heartbeat_us(d->worker[i]);
		if (age > limit) {
			ws_crit("%s: worker stuck for %llu ms; withholding the watchdog",
				bus_worker_describe(d->worker[i]),
				(unsigned long long)(age / 1000));
			alive = false;
		}
	}
	if (alive)
		sd_notify(0, "WATCHDOG=1");
	lws_sul_schedule(d->lws, 0, &d->watchdog_sul, watchdog_cb,
			 (lws_usec_t)d->watchdog_usec / 2);
}

/* ---- connectors ------------------------------------------------------ */

static void post_msg(struct ws_daemon *d, struct bus_msg *m)
{
	m->size = sizeof(*m);
	if (write(d->pipe_wr, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		ws_err("internal message lost: %s", strerror(errno));
}

static void op_command(void *user, struct ws_connector *c, bool closed, uint32_t seq)
{
	struct ws_daemon *d = user;
	struct daemon_connector *dc = &d->conn[c->index];

	if (dc->contactor_worker) {
		bus_worker_command(dc->contactor_worker, c->index, closed, seq);
		return;
	}
	/* GPIO and "none" are fast: run now, but deliver the result through
	 * the pipe so that the state machine is never re-entered */
	struct bus_msg m = { .kind = BUS_MSG_CONTACTOR_ACK, .connector = (uint16_t)c->index,
			     .seq = seq, .commanded = closed };
	bool readback = false;
	m.started_us = ws_clock_mono_us();
	m.err = contactor_set(dc->contactor, NULL, closed, &readback);
	m.closed = readback;
	m.done_us = ws_clock_mono_us();
	post_msg(d, &m);
}

static const char *fault_kind(enum connector_fault f)
{
	return f == CONN_FAULT_METER ? "meter" : "contactor";
}

static void op_fault(void *user, struct ws_connector *c, enum connector_fault f,
		     bool raised, const char *detail)
{
	struct ws_daemon *d = user;
	struct daemon_connector *dc = &d->conn[c->index];
	int slot = f == CONN_FAULT_METER ? 0 : 1;
	int64_t now = ws_clock_wall_ms();

	if (raised) {
		if (store_fault_raise(d->store, c->id, fault_kind(f), detail, now,
				      &dc->fault_id[slot]) < 0)
			ws_err("connector %u: cannot record fault: %s", c->id,
			       sqlite3_errmsg(store_db(d->store)));
	} else if (dc->fault_id[slot]) {
		if (store_fault_clear(d->store, dc->fault_id[slot], now, "recovered") < 0)
			ws_err("connector %u: cannot record fault recovery", c->id);
		dc->fault_id[slot] = 0;
	}
}

static void save_reading(struct ws_daemon *d, struct daemon_connector *dc)
{
	if (!dc->c.have_reading)
		return;
	if (store_save_reading(d->store, dc->c.id, ws_clock_wall_ms(), &dc->c.last) < 0)
		ws_err("connector %u: cannot store the last reading", dc->c.id);
	dc->saved_us = ws_clock_mono_us();
}

static void wait_cb(lws_sorted_usec_list_t *sul);

static void op_reading(void *user, struct ws_connector *c)
{
	struct ws_daemon *d = user;
	struct daemon_connector *dc = &d->conn[c->index];

	/* plug state and power feed the OCPP status (cheap when unchanged) */
	ocpp_cp_connector_changed(d->ocpp, c->id);
	pay_station_reading(d->pay, c->id);
	/* the EV an authorized idTag waits for: its session begins from the
	 * loop, not inside the state machine's reading */
	if (dc->wait_tag[0] && c->ev_plugged == 1)
		lws_sul_schedule(d->lws, 0, &dc->wait_sul, wait_cb, 1);

	if (!dc->saved_us || ws_clock_mono_us() - dc->saved_us >= STORE_READING_EVERY_S * 1000000ull)
		save_reading(d, dc);
}

static void op_state(void *user, struct ws_connector *c, enum connector_state from)
{
	struct ws_daemon *d = user;
	update_status(d);
	ocpp_cp_connector_changed(d->ocpp, c->id);
	pay_station_connector_changed(d->pay, c->id);
}

static void cp_connector_info(void *user, unsigned id, struct ocpp_cp_connector_info *info)
{
	struct ws_daemon *d = user;
	const struct ws_connector *c = &d->conn[id - 1].c;

	info->faulted_meter = c->faults & CONN_FAULT_METER;
	info->faulted_contactor = c->faults & CONN_FAULT_CONTACTOR;
	info->fault_detail = c->fault_detail;
	info->energized = c->state == CONN_ENERGIZED;
	/* an idTag waiting for the EV holds the connector too: Preparing */
	info->session = c->session[0] != '\0' || d->conn[id - 1].wait_tag[0];
	info->ev_plugged = c->ev_plugged;
	info->power_w = c->have_reading && WS_READING_HAS(&c->last, WS_Q_POWER_W) ?
			c->last.value[WS_Q_POWER_W] : 0.0;
	info->reading = c->have_reading ? &c->last : NULL;
}

static void cp_stop_session(void *user, unsigned id, const char *reason)
{
	struct ws_daemon *d = user;
	connector_fsm(&d->conn[id - 1].c, CEV_OPEN_REQUEST, reason, ws_clock_mono_us());
	pay_station_session_stopped(d->pay, id, reason);
}

static void cp_state_changed(void *user, enum ocpp_cp_state state)
{
	update_status(user);
}

static int session_begin(struct ws_daemon *d, struct daemon_connector *dc, const char *tag);

/* The tariff as vendor configuration keys, so the operator sets it from the
 * Central System (docs/payments.md). */
#define KEY_PRICE "WattstreamPricePerKWh"
#define KEY_INCREMENT "WattstreamIncrementWh"
#define KEY_PREPAID "WattstreamPrepaidIncrements"
#define KEY_GRACE "WattstreamGraceSeconds"
#define KEY_MIN_DEPOSIT "WattstreamMinDeposit"

static void apply_tariff_keys(struct ws_daemon *d)
{
	if (!d->ocpp || !d->pay)
		return;
	int r = pay_station_set_tariff(d->pay, (uint64_t)ocpp_cp_key_int(d->ocpp, KEY_PRICE),
				       (uint32_t)ocpp_cp_key_int(d->ocpp, KEY_INCREMENT),
				       (uint32_t)ocpp_cp_key_int(d->ocpp, KEY_PREPAID),
				       (uint32_t)ocpp_cp_key_int(d->ocpp, KEY_GRACE),
				       (uint64_t)ocpp_cp_key_int(d->ocpp, KEY_MIN_DEPOSIT));
	if (r < 0)
		ws_err("payment: the tariff keys do not make a valid tariff; the old one stays");
}

static int register_tariff_keys(struct ws_daemon *d)
{
	static char defaults[5][24];
	const struct ws_payment_config *p = &d->cfg->payment;
	snprintf(defaults[0], sizeof(defaults[0]), "%llu", (unsigned long long)p->price_per_kwh);
	snprintf(defaults[1], sizeof(defaults[1]), "%u", p->increment_wh);
	snprintf(defaults[2], sizeof(defaults[2]), "%u", p->prepaid_increments);
	snprintf(defaults[3], sizeof(defaults[3]), "%u", p->grace_s);
	snprintf(defaults[4], sizeof(defaults[4]), "%llu", (unsigned long long)p->min_deposit);
	const struct ocpp_config_def defs[] = {
		{ .name = KEY_PRICE, .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
		  .default_value = defaults[0], .min = 1, .max = INT64_MAX },
		{ .name = KEY_INCREMENT, .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
		  .default_value = defaults[1], .min = 1, .max = 100000 },
		{ .name = KEY_PREPAID, .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
		  .default_value = defaults[2], .min = 1, .max = 100 },
		{ .name = KEY_GRACE, .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
		  .default_value = defaults[3], .min = 0, .max = 3600 },
		{ .name = KEY_MIN_DEPOSIT, .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
		  .default_value = defaults[4], .min = 0, .max = INT64_MAX },
	};
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		int r = ocpp_cp_register_key(d->ocpp, &defs[i]);
		if (r != 0) {
			ws_err("payment: cannot register the configuration key %s (%d)", defs[i].name, r);
			return -EINVAL;
		}
	}
	return 0;
}

static void cp_key_changed(void *user, const char *key)
{
	apply_tariff_keys(user);
}

static void pay_report(void *user, unsigned id, const char *totals)
{
	struct ws_daemon *d = user;
	if (d->ocpp && ocpp_cp_data_transfer(d->ocpp, id, "PaymentTotals", totals) != 0)
		ws_err("payment: connector %u: totals not queued for the Central System", id);
}

static int wait_begin(struct ws_daemon *d, struct daemon_connector *dc, const char *tag);

/* RemoteStartTransaction: as a local idTag, also waiting for the EV. */
static bool cp_start_session(void *user, unsigned id, const char *id_tag)
{
	struct ws_daemon *d = user;
	struct daemon_connector *dc = &d->conn[id - 1];
	if (dc->c.ev_plugged == 0)
		return wait_begin(d, dc, id_tag) == 0;
	return session_begin(d, dc, id_tag) == 0;
}

static void cp_reset(void *user, bool hard)
{
	struct ws_daemon *d = user;
	ws_notice("%s reset: restarting", hard ? "hard" : "soft");
	d->reset_requested = true;
	stop_requested = 1;
	lws_cancel_service(d->lws);
}

static const struct ocpp_cp_ops cp_ops = {
	.connector_info = cp_connector_info,
	.state_changed = cp_state_changed,
	.stop_session = cp_stop_session,
	.start_session = cp_start_session,
	.reset = cp_reset,
	.key_changed = cp_key_changed,
};

/* ---- paid sessions (pay_station.c) ----------------------------------------------- */

static void pay_connector_info(void *user, unsigned id, struct pay_connector_info *out)
{
	struct ws_daemon *d = user;
	const struct ws_connector *c = &d->conn[id - 1].c;

	out->ready = c->state == CONN_READY && !c->faults && !d->conn[id - 1].wait_tag[0];
	out->faulted = c->faults != 0;
	/* a reserved connector takes no paid session: the driver who
	 * reserved it comes with an idTag */
	out->operative = ocpp_cp_connector_operative(d->ocpp, id) &&
			 !ocpp_cp_connector_reserved(d->ocpp, id);
	out->ev_plugged = c->ev_plugged;
	out->reading = c->have_reading ? &c->last : NULL;
}

static int pay_close(void *user, unsigned id, const char *session)
{
	struct ws_daemon *d = user;
	struct ws_connector *c = &d->conn[id - 1].c;
	if (c->state == CONN_CLOSING || c->state == CONN_ENERGIZED)
		return 0;
	return connector_fsm(c, CEV_CLOSE_REQUEST, session, ws_clock_mono_us());
}

static void pay_open(void *user, unsigned id, const char *reason)
{
	struct ws_daemon *d = user;
	connector_fsm(&d->conn[id - 1].c, CEV_OPEN_REQUEST, reason, ws_clock_mono_us());
}

static int pay_tx_start(void *user, unsigned id, const char *id_tag, double meter_wh)
{
	struct ws_daemon *d = user;
	return d->ocpp ? ocpp_cp_transaction_start(d->ocpp, id, id_tag, meter_wh) : 0;
}

static void pay_tx_stop(void *user, unsigned id, double meter_wh, const char *reason)
{
	struct ws_daemon *d = user;
	if (d->ocpp && ocpp_cp_transaction_active(d->ocpp, id))
		ocpp_cp_transaction_stop(d->ocpp, id, meter_wh, reason);
}

static const struct pay_station_ops pay_ops = {
	.connector_info = pay_connector_info,
	.close = pay_close,
	.open = pay_open,
	.tx_start = pay_tx_start,
	.tx_stop = pay_tx_stop,
	.report = pay_report,
};

/* ---- sessions started by an idTag (the sim's RFID reader) ------------------- */

static double energy_now(const struct ws_connector *c)
{
	return c->have_reading ? c->last.value[WS_Q_ENERGY_WH] : 0.0;
}

/* Closes the contactor and, with OCPP on, starts the transaction. */
/* A reservation (ReserveNow) for another idTag holds the connector: the
 * contactor stays open and no wait for the EV begins. */
static bool reserved_for_other(struct ws_daemon *d, struct daemon_connector *dc, const char *tag)
{
	if (!d->ocpp || ocpp_cp_may_start(d->ocpp, dc->c.id, tag))
		return false;
	ws_notice("connector %u: idTag %s: the connector is reserved for another idTag", dc->c.id,
		  tag);
	return true;
}

static int session_begin(struct ws_daemon *d, struct daemon_connector *dc, const char *tag)
{
	if (reserved_for_other(d, dc, tag))
		return -EACCES;
	int r = connector_fsm(&dc->c, CEV_CLOSE_REQUEST, tag, ws_clock_mono_us());
	if (r != CONNECTOR_OK)
		return r;
	if (d->ocpp && ocpp_cp_transaction_start(d->ocpp, dc->c.id, tag, energy_now(&dc->c)) < 0) {
		connector_fsm(&dc->c, CEV_OPEN_REQUEST, "transaction not recorded", ws_clock_mono_us());
		return -EIO;
	}
	return 0;
}

/* ConnectionTimeOut (OCPP 1.6 9.1.6, errata 3.21): an authorized idTag
 * with no EV plugged in holds the connector in Preparing for that many
 * seconds; the session begins when the EV comes, else it is cancelled and
 * the connector is Available again.  -EAGAIN when ConnectionTimeOut is 0
 * (no waiting). */
static int wait_begin(struct ws_daemon *d, struct daemon_connector *dc, const char *tag)
{
	int64_t s = d->ocpp ? ocpp_cp_key_int(d->ocpp, "ConnectionTimeOut") : 0;

	if (reserved_for_other(d, dc, tag))
		return -EACCES;
	if (s <= 0) {
		ws_notice("connector %u: idTag %s: no EV plugged in (ConnectionTimeOut 0: no waiting)",
			  dc->c.id, tag);
		return -EAGAIN;
	}
	snprintf(dc->wait_tag, sizeof(dc->wait_tag), "%s", tag);
	dc->wait_until_us = ws_clock_mono_us() + (uint64_t)s * 1000000;
	lws_sul_schedule(d->lws, 0, &dc->wait_sul, wait_cb, (lws_usec_t)s * LWS_US_PER_SEC);
	ws_notice("connector %u: idTag %s authorized; waiting up to %lld s for the EV",
		  dc->c.id, tag, (long long)s);
	ocpp_cp_connector_changed(d->ocpp, dc->c.id);
	return 0;
}

static void wait_cancel(struct ws_daemon *d, struct daemon_connector *dc, const char *why)
{
	ws_notice("connector %u: idTag %s: session cancelled (%s)", dc->c.id, dc->wait_tag, why);
	dc->wait_tag[0] = '\0';
	lws_sul_cancel(&dc->wait_sul);
	ocpp_cp_connector_changed(d->ocpp, dc->c.id);
}

static void wait_cb(lws_sorted_usec_list_t *sul)
{
	struct daemon_connector *dc = lws_container_of(sul, struct daemon_connector, wait_sul);
	struct ws_daemon *d = dc->d;
	char tag[sizeof(dc->wait_tag)];
	uint64_t now = ws_clock_mono_us();

	if (!dc->wait_tag[0])
		return;
	if (dc->c.ev_plugged != 1) {
		if (now >= dc->wait_until_us)
			wait_cancel(d, dc, "no EV plugged in within ConnectionTimeOut");
		else
			lws_sul_schedule(d->lws, 0, &dc->wait_sul, wait_cb,
					 (lws_usec_t)(dc->wait_until_us - now));
		return;
	}
	if (!ocpp_cp_connector_operative(d->ocpp, dc->c.id)) {
		wait_cancel(d, dc, "the Central System made the connector Unavailable");
		return;
	}
	memcpy(tag, dc->wait_tag, sizeof(tag));
	dc->wait_tag[0] = '\0';
	ws_info("connector %u: EV plugged in for idTag %s", dc->c.id, tag);
	int r = session_begin(d, dc, tag);
	if (r != 0) {
		ws_warn("connector %u: EV plugged in but the session of idTag %s cannot begin: %s",
			dc->c.id, tag, r > 0 ? connector_result_str(r) : strerror(-r));
		ocpp_cp_connector_changed(d->ocpp, dc->c.id);
	}
}

static void on_authorized(void *user, unsigned id, bool accepted, const char *status)
{
	struct ws_daemon *d = user;
	struct daemon_connector *dc = &d->conn[id - 1];
	char tag[sizeof(dc->auth_tag)];

	memcpy(tag, dc->auth_tag, sizeof(tag));
	dc->auth_tag[0] = '\0';
	if (!accepted) {
		ws_notice("connector %u: idTag %s not authorized (%s)", id, tag, status);
		return;
	}
	if (dc->c.ev_plugged == 0) {
		wait_begin(d, dc, tag);
		return;
	}
	int r = session_begin(d, dc, tag);
	if (r != 0)
		ws_warn("connector %u: idTag %s authorized (%s) but the session cannot begin: %s",
			id, tag, status, r > 0 ? connector_result_str(r) : strerror(-r));
}

/* Opens the contactor and ends the transaction: its StopTransaction
 * carries the meter reading taken after the contactor opened (ocpp_tx.c).
 * An idTag still waiting for the EV is cancelled. */
static void session_end(struct ws_daemon *d, struct daemon_connector *dc, const char *reason)
{
	if (dc->wait_tag[0])
		wait_cancel(d, dc, reason);
	/* the transaction ends first, so that the contactor opening is
	 * reported as its end (Finishing), not as a session starting */
	if (d->ocpp && ocpp_cp_transaction_active(d->ocpp, dc->c.id))
		ocpp_cp_transaction_stop(d->ocpp, dc->c.id, energy_now(&dc->c), reason);
	connector_fsm(&dc->c, CEV_OPEN_REQUEST, reason, ws_clock_mono_us());
	pay_station_session_stopped(d->pay, dc->c.id, reason);
}

static const struct connector_ops connector_ops = {
	.contactor_command = op_command,
	.fault = op_fault,
	.state_changed = op_state,
	.reading = op_reading,
};

static void tick_cb(lws_sorted_usec_list_t *sul);

static void schedule_tick(struct daemon_connector *dc, uint64_t now)
{
	uint64_t next = connector_deadline_us(&dc->c);
	uint64_t poll = (uint64_t)dc->c.cfg->poll_ms * 1000;

	/* past the deadline (already faulted): look again a poll later */
	if (next <= now)
		next = now + poll;
	/* loop-driven contactors are read back every poll */
	if (!dc->contactor_worker && next > now + poll)
		next = now + poll;
	lws_sul_schedule(dc->d->lws, 0, &dc->sul, tick_cb, (lws_usec_t)(next - now));
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct daemon_connector *dc = lws_container_of(sul, struct daemon_connector, sul);
	uint64_t now = ws_clock_mono_us();

	connector_fsm(&dc->c, CEV_TICK, NULL, now);
	if (!dc->contactor_worker) {
		struct bus_msg m = { .kind = BUS_MSG_CONTACTOR_STATE,
				     .connector = (uint16_t)dc->c.index, .seq = dc->c.seq };
		bool closed = false;
		m.started_us = now;
		m.err = contactor_get(dc->contactor, NULL, &closed);
		m.closed = closed;
		m.done_us = ws_clock_mono_us();
		post_msg(dc->d, &m);
	}
	schedule_tick(dc, now);
}

/* ---- messages from the workers ------------------------------------------ */

static void drain_pipe(struct ws_daemon *d)
{
	for (;;) {
		ssize_t n = read(d->pipe_rd, d->rx + d->rx_len, sizeof(d->rx) - d->rx_len);
		if (n <= 0)
			break;
		d->rx_len += (size_t)n;
		size_t off = 0;
		uint64_t now = ws_clock_mono_us();
		while (d->rx_len - off >= sizeof(struct bus_msg)) {
			struct bus_msg m;
			memcpy(&m, d->rx + off, sizeof(m));
			off += sizeof(m);
			if (m.size != sizeof(m) || m.connector >= d->n_conn) {
				ws_crit("malformed worker message (size %u, connector %u)",
					m.size, m.connector);
				continue;
			}
			connector_fsm(&d->conn[m.connector].c, CEV_BUS_MSG, &m, now);
			/* a good reading moves the fail-safe deadline */
			if (m.kind == BUS_MSG_READING)
				schedule_tick(&d->conn[m.connector], now);
		}
		memmove(d->rx, d->rx + off, d->rx_len - off);
		d->rx_len -= off;
	}
}

static int pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	struct ws_daemon *d = lws_get_protocol(wsi) ? lws_get_protocol(wsi)->user : NULL;

	if (reason == LWS_CALLBACK_RAW_RX_FILE && d)
		drain_pipe(d);
	return 0;
}

/* ---- control socket commands (docs/control.md) ---------------------------- */

static json_t *reading_json(const struct ws_connector *c, uint64_t now)
{
	json_t *o = json_object();
	const struct ws_reading *r = &c->last;

	if (!c->have_reading)
		return o;
	json_object_set_new(o, "age_ms", json_integer((json_int_t)((now - c->last_good_us) / 1000)));
	json_object_set_new(o, "energy_wh", json_real(r->value[WS_Q_ENERGY_WH]));
	if (WS_READING_HAS(r, WS_Q_POWER_W))
		json_object_set_new(o, "power_w", json_real(r->value[WS_Q_POWER_W]));
	json_t *cur = json_array(), *volt = json_array();
	for (int p = 0; p < 3; p++) {
		int qc = WS_Q_CURRENT_L1_A + p, qv = WS_Q_VOLTAGE_L1_V + p;
		if (WS_READING_HAS(r, qc))
			json_array_append_new(cur, json_real(r->value[qc]));
		if (WS_READING_HAS(r, qv))
			json_array_append_new(volt, json_real(r->value[qv]));
	}
	json_object_set_new(o, "current_a", cur);
	json_object_set_new(o, "voltage_v", volt);
	return o;
}

static json_t *connector_json(const struct ws_connector *c, uint64_t now)
{
	json_t *faults = json_array();
	if (c->faults & CONN_FAULT_METER)
		json_array_append_new(faults, json_string("meter"));
	if (c->faults & CONN_FAULT_CONTACTOR)
		json_array_append_new(faults, json_string("contactor"));
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I}",
			 "connector", (int)c->id,
			 "state", connector_state_name(c->state),
			 "ev", c->ev_plugged < 0 ? "unknown" : c->ev_plugged ? "plugged" : "unplugged",
			 "faults", faults,
			 "fault_detail", c->faults ? c->fault_detail : "",
			 "contactor", !c->known ? "unknown" : c->closed ? "closed" : "open",
			 "session", c->session[0] ? json_string(c->session) : json_null(),
			 "reading", reading_json(c, now),
			 "readings_ok", (json_int_t)c->readings_ok,
			 "readings_bad", (json_int_t)c->readings_bad,
			 "read_failures", (json_int_t)c->read_failures,
			 "read_latency_us", (json_int_t)c->last_read_latency_us,
			 "cut_latency_us", (json_int_t)c->last_cut_us);
}

static void reply_json(struct control_conn *conn, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	control_reply(conn, s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
	free(s);
	json_decref(o);
}

static void reply_error(struct control_conn *conn, const char *msg)
{
	reply_json(conn, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static struct daemon_connector *arg_connector(struct ws_daemon *d, struct control_conn *conn,
					      const char *arg)
{
	uint32_t id;
	if (!arg || ws_parse_u32(arg, 1, d->n_conn, &id) != 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "expected a connector number from 1 to %u", d->n_conn);
		reply_error(conn, msg);
		return NULL;
	}
	return &d->conn[id - 1];
}

static bool valid_session(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= CONNECTOR_SESSION_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == '"' || *s == '\\' || *s > '~')
			return false;
	return true;
}

static void control_command(void *user, struct control_conn *conn, char *line)
{
	struct ws_daemon *d = user;
	uint64_t now = ws_clock_mono_us();
	char *save = NULL;
	char *cmd = strtok_r(line, " \t", &save);
	char *a1 = cmd ? strtok_r(NULL, " \t", &save) : NULL;
	char *a2 = a1 ? strtok_r(NULL, " \t", &save) : NULL;
	char *extra = a2 ? strtok_r(NULL, " \t", &save) : NULL;
	struct daemon_connector *dc;

	if (!cmd)
		return;	/* empty line */
	if (extra) {
		reply_error(conn, "too many arguments");
		return;
	}
	if (strcmp(cmd, "help") == 0) {
		reply_json(conn, json_pack("{s:b, s:[s,s,s,s,s,s,s,s,s]}", "ok", 1, "commands",
					   "status", "reading N", "start N IDTAG", "stop N",
					   "close N SESSION", "open N", "faults [N]", "claims", "help"));
	} else if (strcmp(cmd, "status") == 0) {
		json_t *arr = json_array();
		for (unsigned i = 0; i < d->n_conn; i++)
			json_array_append_new(arr, connector_json(&d->conn[i].c, now));
		for (unsigned i = 0; d->pay && i < d->n_conn; i++) {
			json_t *p = pay_station_status(d->pay, i + 1);
			json_object_set_new(json_array_get(arr, i), "payment", p ? p : json_null());
		}
		for (unsigned i = 0; d->ocpp && i < d->n_conn; i++) {
			json_object_set_new(json_array_get(arr, i), "ocpp_status",
					    json_string(ocpp_cp_connector_status(d->ocpp, i + 1)));
			json_object_set_new(json_array_get(arr, i), "transaction",
					    json_boolean(ocpp_cp_transaction_active(d->ocpp, i + 1)));
		}
		reply_json(conn, json_pack("{s:b, s:s, s:b, s:I, s:s, s:o}", "ok", 1,
					   "version", WS_VERSION, "ready", d->ready_sent,
					   "uptime_s", (json_int_t)((now - d->started_us) / 1000000),
					   "ocpp", d->ocpp ? ocpp_cp_state_name(ocpp_cp_state(d->ocpp)) : "off",
					   "connectors", arr));
	} else if (strcmp(cmd, "reading") == 0) {
		if (!(dc = arg_connector(d, conn, a1)))
			return;
		if (!dc->c.have_reading) {
			reply_error(conn, "no good reading yet");
			return;
		}
		json_t *o = reading_json(&dc->c, now);
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "connector", json_integer(dc->c.id));
		reply_json(conn, o);
	} else if (strcmp(cmd, "close") == 0) {
		if (!(dc = arg_connector(d, conn, a1)))
			return;
		if (!valid_session(a2)) {
			reply_error(conn, "expected a session id: 1-63 printable characters without quotes");
			return;
		}
		int r = connector_fsm(&dc->c, CEV_CLOSE_REQUEST, a2, now);
		if (r != CONNECTOR_OK) {
			char msg[160];
			snprintf(msg, sizeof(msg), "connector %u: %s", dc->c.id, connector_result_str(r));
			reply_error(conn, msg);
			return;
		}
		reply_json(conn, json_pack("{s:b, s:i, s:s}", "ok", 1, "connector", (int)dc->c.id,
					   "state", connector_state_name(dc->c.state)));
	} else if (strcmp(cmd, "start") == 0) {
		if (!(dc = arg_connector(d, conn, a1)))
			return;
		if (!a2 || strlen(a2) > 20 || !valid_session(a2)) {
			reply_error(conn, "expected an idTag: 1-20 printable characters");
			return;
		}
		if (dc->auth_tag[0] || dc->wait_tag[0] ||
		    (d->ocpp && ocpp_cp_transaction_active(d->ocpp, dc->c.id)) ||
		    pay_station_session_active(d->pay, dc->c.id) || dc->c.state != CONN_READY) {
			reply_error(conn, dc->c.faults ? "connector is faulted" : "connector is busy");
			return;
		}
		/* with OCPP, the driver may plug in after the idTag, within
		 * ConnectionTimeOut; without, or with 0, the EV comes first */
		if (dc->c.ev_plugged == 0 &&
		    (!d->ocpp || ocpp_cp_key_int(d->ocpp, "ConnectionTimeOut") <= 0)) {
			reply_error(conn, "no EV plugged in");
			return;
		}
		if (!ocpp_cp_connector_operative(d->ocpp, dc->c.id)) {
			reply_error(conn, "connector is Unavailable (set by the Central System)");
			return;
		}
		if (!d->ocpp) {
			int r = session_begin(d, dc, a2);
			if (r != 0) {
				reply_error(conn, r > 0 ? connector_result_str(r) : strerror(-r));
				return;
			}
			reply_json(conn, json_pack("{s:b, s:i, s:s}", "ok", 1, "connector",
						   (int)dc->c.id, "state", "closing"));
			return;
		}
		snprintf(dc->auth_tag, sizeof(dc->auth_tag), "%s", a2);
		if (ocpp_cp_authorize(d->ocpp, dc->c.id, a2, on_authorized, d) < 0) {
			dc->auth_tag[0] = '\0';
			reply_error(conn, "cannot authorize");
			return;
		}
		reply_json(conn, json_pack("{s:b, s:i, s:s}", "ok", 1, "connector", (int)dc->c.id,
					   "state", "authorizing"));
	} else if (strcmp(cmd, "stop") == 0) {
		if (a2) {
			reply_error(conn, "too many arguments");
			return;
		}
		if (!(dc = arg_connector(d, conn, a1)))
			return;
		session_end(d, dc, "Local");
		reply_json(conn, json_pack("{s:b, s:i, s:s}", "ok", 1, "connector", (int)dc->c.id,
					   "state", connector_state_name(dc->c.state)));
	} else if (strcmp(cmd, "open") == 0) {
		if (a2) {
			reply_error(conn, "too many arguments");
			return;
		}
		if (!(dc = arg_connector(d, conn, a1)))
			return;
		connector_fsm(&dc->c, CEV_OPEN_REQUEST, "control socket", now);
		reply_json(conn, json_pack("{s:b, s:i, s:s}", "ok", 1, "connector", (int)dc->c.id,
					   "state", connector_state_name(dc->c.state)));
	} else if (strcmp(cmd, "claims") == 0) {
		/* the claims another machine submits (payee_address) */
		if (a1) {
			reply_error(conn, "claims takes no argument");
			return;
		}
		if (!d->pay) {
			reply_error(conn, "payments are off");
			return;
		}
		reply_json(conn, pay_station_claims(d->pay));
	} else if (strcmp(cmd, "faults") == 0) {
		uint32_t id = 0;
		if (a1 && ws_parse_u32(a1, 1, d->n_conn, &id) != 0) {
			reply_error(conn, "expected a connector number, or none for all");
			return;
		}
		struct store_fault f[50];
		int n = store_fault_list(d->store, id, f, 50);
		if (n < 0) {
			reply_error(conn, "cannot read the fault history");
			return;
		}
		json_t *arr = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:I, s:i, s:s, s:s, s:I, s:o, s:o}",
				"id", (json_int_t)f[i].id, "connector", (int)f[i].connector,
				"kind", f[i].kind, "detail", f[i].detail,
				"raised_ms", (json_int_t)f[i].raised_ms,
				"cleared_ms", f[i].cleared_ms ? json_integer(f[i].cleared_ms) : json_null(),
				"cleared_by", f[i].cleared_by[0] ? json_string(f[i].cleared_by) : json_null()));
		reply_json(conn, json_pack("{s:b, s:o}", "ok", 1, "faults", arr));
	} else {
		reply_error(conn, "unknown command (try: help)");
	}
}

/* ---- life cycle ------------------------------------------------------------- */

static void lws_log_bridge(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		n--;
	ws_log(level == LLL_ERR ? LOG_ERR : level == LLL_WARN ? LOG_WARNING : LOG_DEBUG,
	       "lws: %.*s", (int)n, line);
}

static struct bus_worker *worker_for_bus(struct ws_daemon *d, int bus, int *err)
{
	for (unsigned i = 0; i < d->n_workers; i++)
		if (d->worker_bus[i] == bus)
			return d->worker[i];
	*err = bus_worker_new(&d->worker[d->n_workers], &d->cfg->bus[bus], d->pipe_wr);
	if (*err < 0)
		return NULL;
	d->worker_bus[d->n_workers] = bus;
	return d->worker[d->n_workers++];
}

int daemon_new(struct ws_daemon **ret, const struct ws_config *cfg)
{
	struct ws_daemon *d = calloc(1, sizeof(*d));
	struct lws_context_creation_info info;
	char path[PATH_MAX + 32];
	const char *errmsg;
	int fds[2], r;

	if (!d)
		return -ENOMEM;
	d->cfg = cfg;
	d->pipe_rd = d->pipe_wr = -1;
	d->started_us = ws_clock_mono_us();

	/* store */
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		ws_err("Failed to create state directory '%s': %s", cfg->state_dir, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/wattstream.db", cfg->state_dir);
	r = store_open(&d->store, path, &errmsg);
	if (r != 0) {
		ws_err("Failed to open store '%s': %s", path, errmsg);
		goto fail;
	}
	r = store_fault_clear_all(d->store, ws_clock_wall_ms(), "restart");
	if (r > 0)
		ws_notice("%d fault(s) still active at the last stop; measuring anew", r);

	/* loop */
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	/* lws sizes (and fills) its fd tables by the process fd limit, 16
	 * bytes per fd: 308 KiB of RSS at ulimit -n 20000, 16 MiB it would be
	 * at 1M.  We need the wallet connections (256), control clients (16)
	 * and a few links; systemd's default soft limit is 1024 anyway. */
	info.fd_limit_per_thread = 1024;
	d->lws = lws_create_context(&info);
	if (!d->lws) {
		ws_err("Failed to create the event loop");
		r = -ENOMEM;
		goto fail;
	}
	d->protocols[0] = (struct lws_protocols){ .name = "ws-bus", .callback = pipe_callback,
						  .user = d };
	memset(&info, 0, sizeof(info));
	info.vhost_name = "main";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = d->protocols;
	d->vhost = lws_create_vhost(d->lws, &info);
	if (!d->vhost) {
		ws_err("Failed to create the main vhost");
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	d->pipe_rd = fds[0];
	d->pipe_wr = fds[1];
	lws_sock_file_fd_type fd = { .filefd = d->pipe_rd };
	d->pipe_wsi = lws_adopt_descriptor_vhost(d->vhost, LWS_ADOPT_RAW_FILE_DESC, fd,
						 "ws-bus", NULL);
	if (!d->pipe_wsi) {
		ws_err("Failed to watch the worker pipe");
		r = -EIO;
		goto fail;
	}

	/* connectors, contactors and workers */
	d->n_conn = cfg->n_connectors;
	for (unsigned i = 0; i < cfg->n_connectors; i++) {
		const struct ws_connector_config *cc = &cfg->conn[i];
		struct daemon_connector *dc = &d->conn[i];
		struct bus_worker *w;

		dc->d = d;
		r = contactor_new(&dc->contactor, &cc->contactor);
		if (r < 0) {
			ws_err("connector %u: Failed to set up the contactor: %s", cc->id, strerror(-r));
			goto fail;
		}
		if (!(w = worker_for_bus(d, cc->meter_bus, &r)) ||
		    (r = bus_worker_add_meter(w, i, cc)) < 0) {
			ws_err("connector %u: Failed to set up bus '%s': %s", cc->id,
			       cfg->bus[cc->meter_bus].name, strerror(-r));
			goto fail;
		}
		if (contactor_needs_bus(dc->contactor)) {
			if (!(w = worker_for_bus(d, cc->contactor.bus, &r)) ||
			    (r = bus_worker_add_contactor(w, i, dc->contactor, cc->poll_ms)) < 0) {
				ws_err("connector %u: Failed to set up bus '%s': %s", cc->id,
				       cfg->bus[cc->contactor.bus].name, strerror(-r));
				goto fail;
			}
			dc->contactor_worker = w;
		}
	}
	for (unsigned i = 0; i < d->n_workers; i++) {
		r = bus_worker_start(d->worker[i]);
		if (r < 0) {
			ws_err("Failed to start the worker of %s: %s",
			       bus_worker_describe(d->worker[i]), strerror(-r));
			goto fail;
		}
		ws_info("polling %s", bus_worker_describe(d->worker[i]));
	}
	uint64_t now = ws_clock_mono_us();
	for (unsigned i = 0; i < d->n_conn; i++) {
		connector_init(&d->conn[i].c, i, &cfg->conn[i], &connector_ops, d, now);
		schedule_tick(&d->conn[i], now);
	}

	r = ocpp_cp_new(&d->ocpp, d->lws, cfg, d->store, &cp_ops, d);
	if (r < 0)
		goto fail;

	if (d->ocpp && cfg->payment.enabled && (r = register_tariff_keys(d)) < 0)
		goto fail;
	r = pay_station_new(&d->pay, d->lws, cfg, d->store, &pay_ops, d);
	if (r < 0)
		goto fail;
	apply_tariff_keys(d);	/* a tariff the Central System set before */

	r = control_new(&d->control, d->lws, cfg->control_socket, control_command, d);
	if (r < 0) {
		ws_err("Failed to listen on control socket '%s': %s", cfg->control_socket,
		       strerror(-r));
		goto fail;
	}
	if (sd_watchdog_enabled(0, &d->watchdog_usec) > 0)
		lws_sul_schedule(d->lws, 0, &d->watchdog_sul, watchdog_cb,
				 (lws_usec_t)d->watchdog_usec / 2);
	*ret = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

static bool all_open_confirmed(struct ws_daemon *d)
{
	for (unsigned i = 0; i < d->n_conn; i++) {
		const struct ws_connector *c = &d->conn[i].c;
		if (c->acked_seq != c->seq || !c->known || c->closed)
			return false;
	}
	return true;
}

int daemon_run(struct ws_daemon *d)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	signal_lws = d->lws;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	update_status(d);
	while (!stop_requested)
		if (lws_service(d->lws, 0) < 0)
			break;

	sd_notify(0, "STOPPING=1");
	ws_notice("stopping: opening every contactor");
	uint64_t now = ws_clock_mono_us(), until = now + SHUTDOWN_OPEN_WAIT_US;
	for (unsigned i = 0; i < d->n_conn; i++) {
		connector_fsm(&d->conn[i].c, CEV_OPEN_REQUEST, "shutdown", now);
		/* queued durably: delivered after the restart */
		if (d->ocpp && ocpp_cp_transaction_active(d->ocpp, i + 1))
			ocpp_cp_transaction_stop(d->ocpp, i + 1, energy_now(&d->conn[i].c), "Reboot");
	}
	/* with OCPP on, give the queued StopTransactions a moment to leave */
	while (((d->ocpp && ocpp_cp_queued(d->ocpp)) || !all_open_confirmed(d)) &&
	       ws_clock_mono_us() < until) {
		lws_sul_schedule(d->lws, 0, &d->watchdog_sul, watchdog_cb, 100000);
		lws_service(d->lws, 0);
	}
	if (!all_open_confirmed(d))
		ws_err("stopping: not every contactor confirmed open");
	for (unsigned i = 0; i < d->n_conn; i++)
		save_reading(d, &d->conn[i]);
	signal_lws = NULL;
	return d->reset_requested ? DAEMON_RESET : 0;
}

struct ws_daemon *daemon_free(struct ws_daemon *d)
{
	if (!d)
		return NULL;
	for (unsigned i = 0; i < d->n_workers; i++)
		bus_worker_free(d->worker[i]);
	ocpp_cp_free(d->ocpp);
	pay_station_shutdown(d->pay);
	if (d->lws)
		lws_context_destroy(d->lws);
	pay_station_free(d->pay);
	control_free(d->control);
	for (unsigned i = 0; i < d->n_conn; i++)
		contactor_free(d->conn[i].contactor);
	if (d->pipe_rd >= 0)
		close(d->pipe_rd);
	if (d->pipe_wr >= 0)
		close(d->pipe_wr);
	store_close(d->store);
	free(d);
	return NULL;
}
