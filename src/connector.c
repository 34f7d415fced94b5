/* connector.c: the connector state machine (see connector.h).  One
 * transition function; every state change is logged.  O(1) per event. */
#include "wattstream/connector.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wattstream/contactor.h"
#include "wattstream/log.h"
#include "wattstream/modbus_link.h"

static const char *const state_names[] = {
	[CONN_STARTING] = "starting",
	[CONN_READY] = "ready",
	[CONN_CLOSING] = "closing",
	[CONN_ENERGIZED] = "energized",
	[CONN_OPENING] = "opening",
	[CONN_FAULTED] = "faulted",
};

const char *connector_state_name(enum connector_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[s] : "?";
}

const char *connector_result_str(int r)
{
	switch (r) {
	case CONNECTOR_OK: return "ok";
	case CONNECTOR_E_FAULTED: return "connector is faulted";
	case CONNECTOR_E_BUSY: return "connector is busy";
	case CONNECTOR_E_STALE: return "no fresh meter reading";
	}
	return "?";
}

static void set_state(struct ws_connector *c, enum connector_state to)
{
	enum connector_state from = c->state;
	if (from == to)
		return;
	c->state = to;
	ws_info("connector %u: %s -> %s%s%s", c->id, connector_state_name(from),
		connector_state_name(to), c->faults ? ": " : "",
		c->faults ? c->fault_detail : "");
	if (c->ops->state_changed)
		c->ops->state_changed(c->user, c, from);
}

static void command(struct ws_connector *c, bool closed, uint64_t now_us)
{
	c->want_closed = closed;
	c->seq++;
	if (!closed)
		c->open_cmd_us = now_us;
	c->ops->contactor_command(c->user, c, closed, c->seq);
}

/* retry: true when the fault is raised again because the contactor reads
 * closed against an open command: command open once more.  An unreachable
 * contactor is not hammered with commands (each would cost a timeout on a
 * shared bus): the periodic read-back tells when to try again. */
static void raise_fault(struct ws_connector *c, enum connector_fault f,
			const char *detail, bool retry, uint64_t now_us)
{
	bool was = c->faults & f;

	c->faults |= f;
	snprintf(c->fault_detail, sizeof(c->fault_detail), "%s", detail);
	c->session[0] = '\0';
	if (!was || c->want_closed || retry)
		command(c, false, now_us);
	if (!was) {
		ws_err("connector %u: fault: %s; contactor opened", c->id, detail);
		if (c->ops->fault)
			c->ops->fault(c->user, c, f, true, detail);
	}
	set_state(c, CONN_FAULTED);
}

static void clear_fault(struct ws_connector *c, enum connector_fault f,
			const char *detail)
{
	if (!(c->faults & f))
		return;
	c->faults &= ~(unsigned)f;
	ws_notice("connector %u: %s", c->id, detail);
	if (c->ops->fault)
		c->ops->fault(c->user, c, f, false, detail);
}

/* FAULTED -> READY once nothing is wrong and the contactor is known open. */
static void maybe_recover(struct ws_connector *c)
{
	if (c->state == CONN_FAULTED && !c->faults && c->have_reading &&
	    c->known && !c->closed && c->acked_seq == c->seq)
		set_state(c, CONN_READY);
}

static void on_reading(struct ws_connector *c, const struct bus_msg *m, uint64_t now_us)
{
	c->last_read_latency_us = m->done_us - m->started_us;
	enum meter_verdict v = meter_check(c->have_reading ? &c->last : NULL,
					   &m->reading, &c->cfg->limits);
	if (v != METER_OK) {
		c->readings_bad++;
		if (v != c->last_verdict)
			ws_warn("connector %u: dropped a meter reading: %s (%.3f Wh after %.3f Wh)",
				c->id, meter_verdict_str(v),
				m->reading.value[WS_Q_ENERGY_WH],
				c->have_reading ? c->last.value[WS_Q_ENERGY_WH] : 0.0);
		c->last_verdict = v;
		return;
	}
	if (c->last_verdict != METER_OK || c->last_read_err)
		ws_notice("connector %u: meter readings are good again", c->id);
	c->last_verdict = METER_OK;
	c->last_read_err = 0;
	c->readings_ok++;
	c->last = m->reading;
	c->have_reading = true;
	if (m->reading.ev_plugged != c->ev_plugged && m->reading.ev_plugged >= 0)
		ws_info("connector %u: EV %s", c->id, m->reading.ev_plugged ? "plugged in" : "unplugged");
	c->ev_plugged = m->reading.ev_plugged;
	c->last_good_us = now_us;
	if (c->ops->reading)
		c->ops->reading(c->user, c);
	clear_fault(c, CONN_FAULT_METER, "meter is back");
	if (c->state == CONN_STARTING && !c->faults)
		set_state(c, CONN_READY);
	maybe_recover(c);
}

static void on_contactor(struct ws_connector *c, const struct bus_msg *m, uint64_t now_us)
{
	char detail[160];

	if (m->seq != c->seq)
		return;	/* about an older command: a newer one is on its way */
	if (m->err < 0) {
		snprintf(detail, sizeof(detail), "contactor unreachable: %s",
			 modbus_link_strerror(m->err));
		raise_fault(c, CONN_FAULT_CONTACTOR, detail, false, now_us);
		return;
	}
	/* the worker has run command m->seq (an ack, or a read-back taken
	 * after it, also after a failed attempt): what it read is the state
	 * that command left */
	c->known = true;
	c->closed = m->closed;
	c->acked_seq = m->seq;
	if ((bool)m->closed != c->want_closed) {
		snprintf(detail, sizeof(detail),
			 "contactor reads %s but was commanded %s",
			 m->closed ? "closed" : "open", c->want_closed ? "closed" : "open");
		raise_fault(c, CONN_FAULT_CONTACTOR, detail, m->closed && !c->want_closed, now_us);
		return;
	}
	if (m->kind == BUS_MSG_CONTACTOR_ACK && !c->want_closed && c->open_cmd_us)
		c->last_cut_us = m->done_us > c->open_cmd_us ? m->done_us - c->open_cmd_us : 0;
	if (!c->want_closed)
		clear_fault(c, CONN_FAULT_CONTACTOR, "contactor is open and answers again");

	switch (c->state) {
	case CONN_CLOSING:
		if (c->closed)
			set_state(c, CONN_ENERGIZED);
		break;
	case CONN_OPENING:
		if (!c->closed) {
			c->session[0] = '\0';
			set_state(c, CONN_READY);
		}
		break;
	case CONN_FAULTED:
		maybe_recover(c);
		break;
	default:
		break;
	}
}

int connector_fsm(struct ws_connector *c, enum connector_event ev,
		  const void *arg, uint64_t now_us)
{
	switch (ev) {
	case CEV_TICK:
		if (now_us >= connector_deadline_us(c) && !(c->faults & CONN_FAULT_METER)) {
			char detail[160];
			snprintf(detail, sizeof(detail),
				 "no good meter reading for %u ms%s%s", c->cfg->failsafe_ms,
				 c->last_read_err ? ": " : "",
				 c->last_read_err ? modbus_link_strerror(c->last_read_err) :
				 c->last_verdict ? ": " : "");
			if (!c->last_read_err && c->last_verdict)
				strncat(detail, meter_verdict_str(c->last_verdict),
					sizeof(detail) - strlen(detail) - 1);
			raise_fault(c, CONN_FAULT_METER, detail, false, now_us);
		}
		return CONNECTOR_OK;

	case CEV_BUS_MSG: {
		const struct bus_msg *m = arg;
		switch (m->kind) {
		case BUS_MSG_READING:
			on_reading(c, m, now_us);
			break;
		case BUS_MSG_READ_FAILED:
			c->read_failures++;
			if (c->last_read_err != m->err)
				ws_warn("connector %u: meter read failed: %s", c->id,
					modbus_link_strerror(m->err));
			c->last_read_err = m->err;
			break;
		case BUS_MSG_CONTACTOR_ACK:
		case BUS_MSG_CONTACTOR_STATE:
			on_contactor(c, m, now_us);
			break;
		default:
			ws_err("connector %u: unknown bus message kind %u", c->id, m->kind);
			break;
		}
		return CONNECTOR_OK;
	}

	case CEV_CLOSE_REQUEST: {
		const char *session = arg;
		if (c->state == CONN_FAULTED || c->faults)
			return CONNECTOR_E_FAULTED;
		if (c->state != CONN_READY)
			return CONNECTOR_E_BUSY;
		if (!c->have_reading || now_us - c->last_good_us > (uint64_t)c->cfg->failsafe_ms * 1000)
			return CONNECTOR_E_STALE;
		snprintf(c->session, sizeof(c->session), "%s", session ? session : "");
		ws_info("connector %u: closing for session %s", c->id, c->session);
		command(c, true, now_us);
		set_state(c, CONN_CLOSING);
		return CONNECTOR_OK;
	}

	case CEV_OPEN_REQUEST: {
		const char *reason = arg ? arg : "requested";
		switch (c->state) {
		case CONN_CLOSING:
		case CONN_ENERGIZED:
			ws_info("connector %u: opening (%s)", c->id, reason);
			command(c, false, now_us);
			set_state(c, CONN_OPENING);
			break;
		case CONN_READY:
		case CONN_STARTING:
		case CONN_OPENING:
		case CONN_FAULTED:
			/* already open or opening; open again to be sure */
			command(c, false, now_us);
			break;
		}
		return CONNECTOR_OK;
	}
	}
	ws_crit("connector %u: unknown event %d", c->id, (int)ev);
	return -EINVAL;
}

void connector_init(struct ws_connector *c, unsigned index,
		    const struct ws_connector_config *cfg,
		    const struct connector_ops *ops, void *user, uint64_t now_us)
{
	memset(c, 0, sizeof(*c));
	c->index = index;
	c->id = index + 1;
	c->cfg = cfg;
	c->ops = ops;
	c->user = user;
	c->state = CONN_STARTING;
	c->ev_plugged = -1;
	c->started_us = now_us;
	c->last_good_us = now_us;
	command(c, false, now_us);
}

uint64_t connector_deadline_us(const struct ws_connector *c)
{
	return c->last_good_us + (uint64_t)c->cfg->failsafe_ms * 1000;
}
