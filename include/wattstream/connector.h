/* connector.h: one charging connector's controller state machine.
 *
 * It keeps the last good meter reading, drives the contactor through
 * numbered commands whose read-back it checks, and fails safe: a meter that
 * gives no good reading for failsafe_ms, or a contactor whose read-back
 * disagrees, opens the contactor and marks the connector FAULTED.  It
 * recovers by itself when the meter and contactor are healthy again, but it
 * never closes the contactor on its own: closing needs a session (an
 * authorized CLOSE_REQUEST).
 *
 * Time comes in as now_us; effects go out through struct connector_ops, so
 * tests drive it without threads, sockets or clocks. */
#ifndef WATTSTREAM_CONNECTOR_H
#define WATTSTREAM_CONNECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/bus_worker.h"
#include "wattstream/config.h"
#include "wattstream/meter.h"

enum connector_state {
	CONN_STARTING,	/* waiting for the first good reading */
	CONN_READY,	/* healthy, contactor open, no session */
	CONN_CLOSING,	/* session authorized, close commanded */
	CONN_ENERGIZED,	/* contactor confirmed closed */
	CONN_OPENING,	/* open commanded, waiting for the read-back */
	CONN_FAULTED,	/* meter or contactor fault: contactor opened */
};

enum connector_event {
	CEV_TICK,		/* time passed (arg NULL): checks the fail-safe deadline */
	CEV_BUS_MSG,		/* arg: const struct bus_msg * from the worker */
	CEV_CLOSE_REQUEST,	/* arg: const char *session id */
	CEV_OPEN_REQUEST,	/* arg: const char *reason */
};

enum connector_fault {
	CONN_FAULT_METER = 1u << 0,
	CONN_FAULT_CONTACTOR = 1u << 1,
};

enum connector_result {
	CONNECTOR_OK = 0,
	CONNECTOR_E_FAULTED = 1,	/* close refused: connector faulted */
	CONNECTOR_E_BUSY = 2,		/* close refused: not READY */
	CONNECTOR_E_STALE = 3,		/* close refused: no fresh reading */
};

struct ws_connector;

struct connector_ops {
	/* Command the contactor (closed or open), numbered seq. */
	void (*contactor_command)(void *user, struct ws_connector *c, bool closed,
				  uint32_t seq);
	/* A fault was raised or cleared (kind: "meter", "contactor"). */
	void (*fault)(void *user, struct ws_connector *c, enum connector_fault f,
		      bool raised, const char *detail);
	/* The state changed (after the change). */
	void (*state_changed)(void *user, struct ws_connector *c,
			      enum connector_state from);
	/* A good reading was accepted. */
	void (*reading)(void *user, struct ws_connector *c);
};

#define CONNECTOR_SESSION_MAX 64

struct ws_connector {
	unsigned index;			/* 0-based */
	unsigned id;			/* OCPP connector id, index + 1 */
	const struct ws_connector_config *cfg;
	const struct connector_ops *ops;
	void *user;

	enum connector_state state;
	unsigned faults;		/* enum connector_fault bits */
	char fault_detail[160];

	bool have_reading;
	struct ws_reading last;		/* last good reading */
	int ev_plugged;			/* 1, 0, -1 unknown: from the last good reading */
	uint64_t last_good_us;		/* when it arrived (or start) */
	uint64_t started_us;

	bool want_closed;		/* last commanded state */
	uint32_t seq;			/* last command number */
	uint32_t acked_seq;		/* last command confirmed */
	bool known;			/* read-back state known */
	bool closed;			/* last read-back */
	uint64_t open_cmd_us;		/* when the last open was commanded */

	char session[CONNECTOR_SESSION_MAX];

	/* counters, for status and benchmarks */
	uint64_t readings_ok, readings_bad, read_failures;
	enum meter_verdict last_verdict;
	int last_read_err;
	uint64_t last_read_latency_us;
	uint64_t last_cut_us;		/* open commanded -> read back open */
};

/* Initializes c (index 0-based) and commands the contactor open: the
 * controller never trusts a state it did not set. */
void connector_init(struct ws_connector *c, unsigned index,
		    const struct ws_connector_config *cfg,
		    const struct connector_ops *ops, void *user, uint64_t now_us);

/* Feeds one event.  Returns CONNECTOR_OK or, for CEV_CLOSE_REQUEST, the
 * reason it was refused. */
int connector_fsm(struct ws_connector *c, enum connector_event ev,
		  const void *arg, uint64_t now_us);

/* Monotonic time at which CEV_TICK must be fed next at the latest. */
uint64_t connector_deadline_us(const struct ws_connector *c);

const char *connector_state_name(enum connector_state s);
const char *connector_result_str(int r);

#endif
