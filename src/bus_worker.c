/* bus_worker.c: one thread per Modbus bus.  Each turn of its loop does at
 * most one piece of I/O, and pending contactor commands always go first, so
 * a cut waits for at most the one request already on the wire.  Meter
 * reads take one Modbus request per block of the read plan.  Memory: fixed,
 * WS_MAX_CONNECTORS slots per worker. */
#include "wattstream/bus_worker.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wattstream/clock.h"
#include "wattstream/contactor.h"
#include "wattstream/log.h"
#include "wattstream/modbus_link.h"

struct meter_slot {
	unsigned connector;
	uint8_t unit;
	struct ws_meter_profile profile;
	struct ws_read_plan plan;
	struct ws_ev_sense_config ev;
	uint64_t poll_us;
	uint64_t next_us;
	unsigned failures;	/* consecutive */
};

struct contactor_slot {
	unsigned connector;
	struct ws_contactor *c;
	uint64_t poll_us;
	uint64_t next_us;
	bool pending;		/* a command waits */
	bool want_closed;
	uint32_t want_seq;
	uint32_t done_seq;	/* last command executed */
	unsigned failures;	/* consecutive failed read-backs */
};

/* A device that stopped answering costs a full timeout per request; on a
 * shared bus that would starve its healthy neighbours.  After this many
 * failures in a row it is polled at most every DEAD_POLL_US. */
#define DEAD_AFTER_FAILURES 3
#define DEAD_POLL_US 1000000ull

static uint64_t next_poll(uint64_t now, uint64_t poll_us, unsigned failures)
{
	if (failures >= DEAD_AFTER_FAILURES && poll_us < DEAD_POLL_US)
		return now + DEAD_POLL_US;
	return now + poll_us;
}

struct bus_worker {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	int out_fd;
	struct modbus_link *link;
	char what[320];
	unsigned n_meters, n_contactors;
	struct meter_slot meter[WS_MAX_CONNECTORS];
	struct contactor_slot contactor[WS_MAX_CONNECTORS];
	_Atomic uint64_t heartbeat_us;
	_Atomic uint64_t dropped;
};

int bus_worker_new(struct bus_worker **ret, const struct ws_bus_config *bus, int out_fd)
{
	struct bus_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = modbus_link_new(&w->link, bus);
	if (r < 0) {
		free(w);
		return r;
	}
	snprintf(w->what, sizeof(w->what), "bus %s (%s)", bus->name,
		 modbus_link_describe(w->link));
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	int fl = fcntl(out_fd, F_GETFL);
	if (fl >= 0)
		fcntl(out_fd, F_SETFL, fl | O_NONBLOCK);
	w->out_fd = out_fd;
	atomic_store(&w->heartbeat_us, ws_clock_mono_us());
	*ret = w;
	return 0;
}

int bus_worker_add_meter(struct bus_worker *w, unsigned connector,
			 const struct ws_connector_config *cc)
{
	if (w->n_meters >= WS_MAX_CONNECTORS)
		return -ENOSPC;
	struct meter_slot *m = &w->meter[w->n_meters++];
	m->connector = connector;
	m->unit = (uint8_t)cc->meter_unit;
	m->profile = cc->profile;
	m->plan = cc->plan;
	m->ev = cc->ev_sense;
	m->poll_us = (uint64_t)cc->poll_ms * 1000;
	m->next_us = 0;
	return 0;
}

int bus_worker_add_contactor(struct bus_worker *w, unsigned connector,
			     struct ws_contactor *c, uint32_t poll_ms)
{
	if (w->n_contactors >= WS_MAX_CONNECTORS)
		return -ENOSPC;
	struct contactor_slot *s = &w->contactor[w->n_contactors++];
	memset(s, 0, sizeof(*s));
	s->connector = connector;
	s->c = c;
	s->poll_us = (uint64_t)poll_ms * 1000;
	return 0;
}

static void post(struct bus_worker *w, struct bus_msg *msg)
{
	msg->size = sizeof(*msg);
	ssize_t n = write(w->out_fd, msg, sizeof(*msg));
	if (n != (ssize_t)sizeof(*msg))
		atomic_fetch_add(&w->dropped, 1);
}

/* The EV-present signal: 1, 0, or -1 when not sensed or unreadable (a
 * reading is still good without it). */
static int8_t read_ev_sense(struct bus_worker *w, const struct meter_slot *m)
{
	bool on = false;
	uint16_t v = 0;
	int r;

	if (m->ev.kind != WS_EV_SENSE_MODBUS)
		return -1;
	switch (m->ev.reg) {
	case WS_EVREG_DISCRETE:
	case WS_EVREG_COIL:
		r = modbus_link_read_bit(w->link, (uint8_t)m->ev.unit, (uint16_t)m->ev.address,
					 m->ev.reg == WS_EVREG_DISCRETE, &on);
		break;
	case WS_EVREG_INPUT:
	case WS_EVREG_HOLDING:
		r = modbus_link_read_registers(w->link, (uint8_t)m->ev.unit,
					       m->ev.reg == WS_EVREG_INPUT ? WS_FN_INPUT : WS_FN_HOLDING,
					       (uint16_t)m->ev.address, 1, &v);
		on = v != 0;
		break;
	default:
		return -1;
	}
	return r < 0 ? -1 : (int8_t)on;
}

/* Returns 0 if the meter answered. */
static int read_meter(struct bus_worker *w, struct meter_slot *m)
{
	static_assert(sizeof(struct bus_msg) <= 512, "bus_msg must stay below PIPE_BUF");
	uint16_t data[WS_PLAN_MAX_READS][WS_MODBUS_MAX_READ];
	const uint16_t *ptr[WS_PLAN_MAX_READS];
	struct bus_msg msg = { .connector = (uint16_t)m->connector };

	msg.started_us = ws_clock_mono_us();
	for (unsigned i = 0; i < m->plan.n; i++) {
		const struct ws_read_block *b = &m->plan.block[i];
		int r = modbus_link_read_registers(w->link, m->unit, b->function,
						   b->start, b->count, data[i]);
		if (r < 0) {
			msg.kind = BUS_MSG_READ_FAILED;
			msg.err = r;
			msg.done_us = ws_clock_mono_us();
			post(w, &msg);
			return r;
		}
		ptr[i] = data[i];
	}
	msg.reading.ev_plugged = read_ev_sense(w, m);
	msg.kind = BUS_MSG_READING;
	msg.done_us = ws_clock_mono_us();
	msg.reading.t_us = msg.done_us;
	for (int q = 0; q < WS_Q_COUNT; q++) {
		const struct ws_register *reg = &m->profile.reg[q];
		const uint16_t *words;
		if (!reg->present || !(words = meter_plan_locate(&m->plan, ptr, reg)))
			continue;
		if (meter_decode(words, reg->type, reg->order, reg->scale,
				 &msg.reading.value[q]) == 0)
			msg.reading.have |= 1u << q;
	}
	post(w, &msg);
	return 0;
}

/* Returns the driver's result (negative: the device did not answer). */
static int run_contactor(struct bus_worker *w, struct contactor_slot *s,
			 bool command, bool closed, uint32_t seq)
{
	struct bus_msg msg = { .connector = (uint16_t)s->connector };
	bool readback = false;

	msg.started_us = ws_clock_mono_us();
	if (command) {
		msg.kind = BUS_MSG_CONTACTOR_ACK;
		msg.err = contactor_set(s->c, w->link, closed, &readback);
		msg.commanded = closed;
	} else {
		msg.kind = BUS_MSG_CONTACTOR_STATE;
		msg.err = contactor_get(s->c, w->link, &readback);
	}
	msg.closed = readback;
	msg.seq = seq;
	msg.done_us = ws_clock_mono_us();
	post(w, &msg);
	return msg.err;
}

static void *run(void *arg)
{
	struct bus_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		uint64_t now = ws_clock_mono_us(), next = now + 1000000;
		bool did = false;

		atomic_store(&w->heartbeat_us, now);
		/* commands first: a cut must not wait behind meter reads */
		for (unsigned i = 0; i < w->n_contactors && !did; i++) {
			struct contactor_slot *s = &w->contactor[i];
			if (!s->pending)
				continue;
			bool closed = s->want_closed;
			uint32_t seq = s->want_seq;
			s->pending = false;
			pthread_mutex_unlock(&w->lock);
			run_contactor(w, s, true, closed, seq);
			pthread_mutex_lock(&w->lock);
			s->done_seq = seq;
			s->next_us = ws_clock_mono_us() + s->poll_us;
			did = true;
		}
		for (unsigned i = 0; i < w->n_meters && !did; i++) {
			struct meter_slot *m = &w->meter[i];
			if (m->next_us > now) {
				if (m->next_us < next)
					next = m->next_us;
				continue;
			}
			pthread_mutex_unlock(&w->lock);
			int r = read_meter(w, m);
			pthread_mutex_lock(&w->lock);
			m->failures = r < 0 ? m->failures + 1 : 0;
			/* keep the cadence, but never burst to catch up */
			m->next_us += m->poll_us;
			if (m->next_us < now || m->failures >= DEAD_AFTER_FAILURES)
				m->next_us = next_poll(now, m->poll_us, m->failures);
			did = true;
		}
		for (unsigned i = 0; i < w->n_contactors && !did; i++) {
			struct contactor_slot *s = &w->contactor[i];
			if (s->next_us > now) {
				if (s->next_us < next)
					next = s->next_us;
				continue;
			}
			uint32_t seq = s->done_seq;
			pthread_mutex_unlock(&w->lock);
			int r = run_contactor(w, s, false, false, seq);
			pthread_mutex_lock(&w->lock);
			s->failures = r < 0 ? s->failures + 1 : 0;
			s->next_us = next_poll(now, s->poll_us, s->failures);
			did = true;
		}
		if (did || w->stop)
			continue;
		struct timespec ts = {
			.tv_sec = (time_t)(next / 1000000),
			.tv_nsec = (long)(next % 1000000) * 1000,
		};
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int bus_worker_start(struct bus_worker *w)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&w->thread, NULL, run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	w->started = true;
	return 0;
}

void bus_worker_command(struct bus_worker *w, unsigned connector, bool closed,
			uint32_t seq)
{
	pthread_mutex_lock(&w->lock);
	for (unsigned i = 0; i < w->n_contactors; i++) {
		struct contactor_slot *s = &w->contactor[i];
		if (s->connector != connector)
			continue;
		s->pending = true;
		s->want_closed = closed;
		s->want_seq = seq;
	}
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

uint64_t bus_worker_heartbeat_us(struct bus_worker *w)
{
	return atomic_load(&w->heartbeat_us);
}

uint64_t bus_worker_dropped(struct bus_worker *w)
{
	return atomic_load(&w->dropped);
}

const char *bus_worker_describe(const struct bus_worker *w)
{
	return w->what;
}

struct bus_worker *bus_worker_free(struct bus_worker *w)
{
	if (!w)
		return NULL;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	modbus_link_free(w->link);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}
