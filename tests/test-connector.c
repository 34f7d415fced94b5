/* test-connector.c: the connector state machine driven by hand: start-up,
 * session close/open, meter fail-safe and recovery, contactor mismatch,
 * stale acks, refusals.  Time is passed in; nothing else runs. */
#include "check.h"
#include "wattstream/connector.h"
#include "wattstream/contactor.h"

static struct {
	int commands;
	bool last_closed;
	uint32_t last_seq;
	int faults_raised, faults_cleared;
	int readings;
} seen;

static void on_command(void *u, struct ws_connector *c, bool closed, uint32_t seq)
{
	seen.commands++;
	seen.last_closed = closed;
	seen.last_seq = seq;
}

static void on_fault(void *u, struct ws_connector *c, enum connector_fault f,
		     bool raised, const char *detail)
{
	if (raised)
		seen.faults_raised++;
	else
		seen.faults_cleared++;
}

static void on_reading(void *u, struct ws_connector *c)
{
	seen.readings++;
}

static const struct connector_ops ops = {
	.contactor_command = on_command,
	.fault = on_fault,
	.reading = on_reading,
};

static struct bus_msg reading(double wh, uint64_t t)
{
	struct bus_msg m = { .size = sizeof(m), .kind = BUS_MSG_READING,
			     .started_us = t - 500, .done_us = t };
	m.reading.t_us = t;
	m.reading.have = 1u << WS_Q_ENERGY_WH | 1u << WS_Q_POWER_W;
	m.reading.value[WS_Q_ENERGY_WH] = wh;
	m.reading.value[WS_Q_POWER_W] = 11000;
	return m;
}

static struct bus_msg contactor(enum bus_msg_kind kind, uint32_t seq, bool closed, int err)
{
	struct bus_msg m = { .size = sizeof(m), .kind = (uint16_t)kind, .seq = seq,
			     .closed = closed, .err = err, .done_us = 1 };
	return m;
}

#define S(x) (uint64_t)((x) * 1000000.0)

int main(void)
{
	struct ws_config cfg;
	struct ws_config_errors errs;
	struct ws_connector c;
	struct bus_msg m;

	CHECK_INT(ws_config_load_string(&cfg, "[connector.1]\nmax_power_kw = 11\n", "t", &errs), 0);
	connector_init(&c, 0, &cfg.conn[0], &ops, NULL, S(0));
	/* starts by commanding open */
	CHECK_INT(seen.commands, 1);
	CHECK(!seen.last_closed);
	CHECK_INT(c.state, CONN_STARTING);
	/* no session before the first reading */
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s1", S(0.1)), CONNECTOR_E_BUSY);

	m = contactor(BUS_MSG_CONTACTOR_ACK, 1, false, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(0.1));
	m = reading(1000, S(0.2));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(0.2));
	CHECK_INT(c.state, CONN_READY);
	CHECK_INT(seen.readings, 1);

	/* a session closes the contactor; the ack confirms it */
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s1", S(0.3)), CONNECTOR_OK);
	CHECK_INT(c.state, CONN_CLOSING);
	CHECK(seen.last_closed);
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s2", S(0.3)), CONNECTOR_E_BUSY);
	/* a periodic read-back from before the command is ignored */
	m = contactor(BUS_MSG_CONTACTOR_STATE, 1, false, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(0.31));
	CHECK_INT(c.state, CONN_CLOSING);
	m = contactor(BUS_MSG_CONTACTOR_ACK, 2, true, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(0.32));
	CHECK_INT(c.state, CONN_ENERGIZED);
	CHECK_STR(c.session, "s1");

	/* readings keep the fail-safe away; a bad one does not */
	m = reading(1001, S(1.0));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(1.0));
	m = reading(999, S(1.5));	/* backwards: dropped */
	connector_fsm(&c, CEV_BUS_MSG, &m, S(1.5));
	CHECK_INT(c.readings_bad, 1);
	CHECK_NEAR(c.last.value[WS_Q_ENERGY_WH], 1001, 0);
	m = reading(1500, S(2.0));	/* 499 Wh in 1 s at 11 kW: a jump */
	connector_fsm(&c, CEV_BUS_MSG, &m, S(2.0));
	CHECK_INT(c.readings_bad, 2);
	connector_fsm(&c, CEV_TICK, NULL, S(2.9));
	CHECK_INT(c.state, CONN_ENERGIZED);
	CHECK(connector_deadline_us(&c) == S(3.0));

	/* meter silent for failsafe_ms (2 s): fault, contactor opened */
	int cmds = seen.commands;
	connector_fsm(&c, CEV_TICK, NULL, S(3.0));
	CHECK_INT(c.state, CONN_FAULTED);
	CHECK(c.faults & CONN_FAULT_METER);
	CHECK_INT(seen.faults_raised, 1);
	CHECK_INT(seen.commands, cmds + 1);
	CHECK(!seen.last_closed);
	CHECK_STR(c.session, "");
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s3", S(3.1)), CONNECTOR_E_FAULTED);
	/* a second tick does not raise it again */
	connector_fsm(&c, CEV_TICK, NULL, S(4.0));
	CHECK_INT(seen.faults_raised, 1);

	/* contactor confirms open; the meter comes back: READY, but open */
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, false, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(4.1));
	CHECK_INT(c.state, CONN_FAULTED);
	m = reading(1002, S(5.0));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(5.0));
	CHECK_INT(c.state, CONN_READY);
	CHECK_INT(seen.faults_cleared, 1);
	CHECK(!seen.last_closed);	/* never closed by itself */

	/* contactor welded: commanded open, reads closed */
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s4", S(5.1)), CONNECTOR_OK);
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, true, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(5.2));
	CHECK_INT(c.state, CONN_ENERGIZED);
	connector_fsm(&c, CEV_OPEN_REQUEST, "stop", S(6.0));
	CHECK_INT(c.state, CONN_OPENING);
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, true, CONTACTOR_E_MISMATCH);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.01));
	CHECK_INT(c.state, CONN_FAULTED);
	CHECK(c.faults & CONN_FAULT_CONTACTOR);
	CHECK(!seen.last_closed);	/* open commanded again */
	/* it opens at last */
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, false, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.1));
	m = reading(1003, S(6.2));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.2));
	CHECK_INT(c.state, CONN_READY);

	/* the contactor changes behind our back: periodic read-back catches it */
	m = contactor(BUS_MSG_CONTACTOR_STATE, seen.last_seq, true, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.3));
	CHECK_INT(c.state, CONN_FAULTED);
	/* and an unreachable contactor is a fault too */
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, false, -110);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.4));
	CHECK_INT(c.state, CONN_FAULTED);
	/* no new command for an unreachable contactor: the read-back decides */
	uint32_t cmd_seq = seen.last_seq;
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, false, -110);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.45));
	CHECK_INT(seen.last_seq, cmd_seq);
	/* the device answers again: a read-back after the failed command */
	m = contactor(BUS_MSG_CONTACTOR_STATE, seen.last_seq, false, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.5));
	m = reading(1003, S(6.6));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(6.6));
	CHECK_INT(c.state, CONN_READY);

	/* a stale reading (older than the fail-safe) refuses a session */
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s5", S(8.7)), CONNECTOR_E_STALE);
	/* open cut latency is measured from the command to the ack */
	m = reading(1003, S(8.8));
	connector_fsm(&c, CEV_BUS_MSG, &m, S(8.8));
	CHECK_INT(connector_fsm(&c, CEV_CLOSE_REQUEST, "s5", S(8.8)), CONNECTOR_OK);
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, true, 0);
	connector_fsm(&c, CEV_BUS_MSG, &m, S(8.9));
	connector_fsm(&c, CEV_OPEN_REQUEST, NULL, S(9.0));
	m = contactor(BUS_MSG_CONTACTOR_ACK, seen.last_seq, false, 0);
	m.done_us = S(9.0) + 1500;
	connector_fsm(&c, CEV_BUS_MSG, &m, S(9.01));
	CHECK_INT(c.state, CONN_READY);
	CHECK_INT(c.last_cut_us, 1500);
	return check_done();
}
