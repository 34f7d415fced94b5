/* contactor.h: the switch that connects a connector to the grid.
 *
 * Drivers: "modbus-coil" (a coil or holding register on a Modbus unit; runs
 * in the bus worker, which passes its link), "gpio" (a libgpiod output line,
 * optionally with an auxiliary-contact input line for read-back; fast enough
 * to run on the event loop) and "none" (no switch: the state is remembered).
 * Every command is read back; a read-back that disagrees is a fault. */
#ifndef WATTSTREAM_CONTACTOR_H
#define WATTSTREAM_CONTACTOR_H

#include <stdbool.h>

#include "wattstream/config.h"

struct modbus_link;
struct ws_contactor;

enum contactor_result {
	CONTACTOR_OK = 0,
	CONTACTOR_E_MISMATCH = 1,	/* read back differs from the command */
};

/* Opens what the driver needs (GPIO lines are requested with the contactor
 * open).  Returns 0 and *ret, or -errno. */
int contactor_new(struct ws_contactor **ret, const struct ws_contactor_config *cfg);
struct ws_contactor *contactor_free(struct ws_contactor *c);

/* True if commands must run in the worker of cfg->bus. */
bool contactor_needs_bus(const struct ws_contactor *c);

/* Commands the contactor closed (true) or open (false) and reads it back
 * into *readback.  link: the bus link for modbus-coil, else NULL.
 * Returns CONTACTOR_OK, CONTACTOR_E_MISMATCH, or -errno if the device
 * could not be reached (then *readback is unknown). */
int contactor_set(struct ws_contactor *c, struct modbus_link *link, bool closed,
		  bool *readback) __attribute__((warn_unused_result));

/* Reads the present state.  Returns 0 or -errno. */
int contactor_get(struct ws_contactor *c, struct modbus_link *link, bool *closed)
	__attribute__((warn_unused_result));

#endif
