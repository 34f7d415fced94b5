/* modbus_link.h: one Modbus link (a TCP connection or an RS-485 port) and the
 * requests the controller makes on it.  The only place that converts
 * libmodbus' "-1 and errno" convention: every function here returns 0 or a
 * negative errno (libmodbus' own codes, EMBXILFUN.., are positive errno-style
 * values above MODBUS_ENOBASE; modbus_link_strerror() prints all of them).
 *
 * Blocking: each call waits up to the bus' timeout_ms.  Use it from one
 * thread only (the bus worker).  A failed request on TCP drops the
 * connection, so the next request starts from a clean stream. */
#ifndef WATTSTREAM_MODBUS_LINK_H
#define WATTSTREAM_MODBUS_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/config.h"
#include "wattstream/meter_profile.h"

struct modbus_link;

/* Creates a link for bus (not connected yet: the first request connects).
 * Returns 0 and *ret, or -errno. */
int modbus_link_new(struct modbus_link **ret, const struct ws_bus_config *bus);
struct modbus_link *modbus_link_free(struct modbus_link *l);

int modbus_link_read_registers(struct modbus_link *l, uint8_t unit,
			       enum ws_reg_function fn, uint16_t addr,
			       uint16_t count, uint16_t *out)
	__attribute__((warn_unused_result));
/* discrete: true reads a discrete input (function 02), false a coil (01) */
int modbus_link_read_bit(struct modbus_link *l, uint8_t unit, uint16_t addr,
			 bool discrete, bool *on) __attribute__((warn_unused_result));
int modbus_link_read_coil(struct modbus_link *l, uint8_t unit, uint16_t addr,
			  bool *on) __attribute__((warn_unused_result));
int modbus_link_write_coil(struct modbus_link *l, uint8_t unit, uint16_t addr,
			   bool on) __attribute__((warn_unused_result));
int modbus_link_write_register(struct modbus_link *l, uint8_t unit,
			       uint16_t addr, uint16_t value)
	__attribute__((warn_unused_result));

/* Text for an error returned above (negative errno or libmodbus code). */
const char *modbus_link_strerror(int err);

/* "tcp 127.0.0.1:1502" or "rtu /dev/ttyUSB0 9600 8N1" */
const char *modbus_link_describe(const struct modbus_link *l);

#endif
