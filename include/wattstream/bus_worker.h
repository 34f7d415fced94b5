/* bus_worker.h: the thread that owns one Modbus link.
 *
 * libmodbus blocks, so each bus gets a worker thread.  It polls the meters
 * on its bus at their poll period, executes contactor commands before
 * anything else, reads contactors back every poll period, and sends every
 * result to the event loop as a fixed-size struct bus_msg written with one
 * write(2) to a pipe (atomic below PIPE_BUF) that the loop watches.
 * The loop must check msg.size before use. */
#ifndef WATTSTREAM_BUS_WORKER_H
#define WATTSTREAM_BUS_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/config.h"
#include "wattstream/meter.h"

struct bus_worker;
struct ws_contactor;

enum bus_msg_kind {
	BUS_MSG_READING = 1,	/* reading: a meter answered (values unchecked) */
	BUS_MSG_READ_FAILED,	/* err: the meter did not answer */
	BUS_MSG_CONTACTOR_ACK,	/* a command ran: commanded, closed, err */
	BUS_MSG_CONTACTOR_STATE, /* periodic read-back: closed, err */
};

struct bus_msg {
	uint32_t size;		/* sizeof(struct bus_msg) */
	uint16_t kind;		/* enum bus_msg_kind */
	uint16_t connector;	/* index into the config's connectors */
	int32_t err;		/* 0, CONTACTOR_E_MISMATCH, or -errno */
	uint32_t seq;		/* last contactor command executed */
	uint8_t commanded;	/* ACK: the state commanded (1 closed) */
	uint8_t closed;		/* ACK, STATE: the state read back */
	uint64_t started_us;	/* monotonic time the request began */
	uint64_t done_us;	/* monotonic time it completed */
	struct ws_reading reading;
};

/* Creates a worker for bus that writes its messages to out_fd (the write
 * end of a pipe; made non-blocking here).  Returns 0 and *ret, or -errno. */
int bus_worker_new(struct bus_worker **ret, const struct ws_bus_config *bus,
		   int out_fd);

/* Before start: attach connector index's meter or contactor.
 * Return 0, or -ENOSPC beyond WS_MAX_CONNECTORS. */
int bus_worker_add_meter(struct bus_worker *w, unsigned connector,
			 const struct ws_connector_config *cc);
int bus_worker_add_contactor(struct bus_worker *w, unsigned connector,
			     struct ws_contactor *c, uint32_t poll_ms);

/* Starts the thread (with every signal blocked in it). */
int bus_worker_start(struct bus_worker *w);

/* Asks for the contactor of connector to be closed or opened; a newer
 * command replaces one not yet executed.  Never blocks on I/O. */
void bus_worker_command(struct bus_worker *w, unsigned connector, bool closed,
			uint32_t seq);

/* Monotonic time the worker last went round its loop. */
uint64_t bus_worker_heartbeat_us(struct bus_worker *w);

/* Messages that could not be sent because the pipe was full. */
uint64_t bus_worker_dropped(struct bus_worker *w);

const char *bus_worker_describe(const struct bus_worker *w);

/* Stops and joins the thread, closes the link.  Accepts NULL. */
struct bus_worker *bus_worker_free(struct bus_worker *w);

#endif
