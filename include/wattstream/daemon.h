/* daemon.h: wattstreamd as an object: it wires the configuration, the
 * store, the bus workers, the connectors, the control socket and systemd
 * notification onto one libwebsockets event loop. */
#ifndef WATTSTREAM_DAEMON_H
#define WATTSTREAM_DAEMON_H

#include "wattstream/config.h"

struct ws_daemon;

/* Opens the store, starts the workers and the control socket.  Logs the
 * reason and returns -errno (or a positive store code) on failure. */
int daemon_new(struct ws_daemon **ret, const struct ws_config *cfg);

#define DAEMON_RESET 1	/* daemon_run(): the Central System asked for a Reset */

/* Runs the event loop until SIGTERM or SIGINT; then opens every contactor
 * (waiting up to 2 s for the read-back) and returns 0, or DAEMON_RESET
 * when the process must start again (main re-executes itself). */
int daemon_run(struct ws_daemon *d);

struct ws_daemon *daemon_free(struct ws_daemon *d);

#endif
