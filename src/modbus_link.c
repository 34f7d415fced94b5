/* modbus_link.c: libmodbus behind a small interface with one error
 * convention.  Connects lazily and reconnects after any failure on TCP (a
 * late answer to a timed-out request would otherwise be taken for the answer
 * to the next one); on RS-485 it flushes the port instead.  Cost: one
 * request/response per call; no allocation after creation. */
#include "wattstream/modbus_link.h"

#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct modbus_link {
	modbus_t *ctx;
	bool connected;
	bool tcp;
	char what[300];
};

static int fail(struct modbus_link *l)
{
	int err = errno ? errno : EIO;

	if (l->tcp) {
		modbus_close(l->ctx);
		l->connected = false;
	} else {
		modbus_flush(l->ctx);
	}
	return -err;
}

static int ensure_connected(struct modbus_link *l, uint8_t unit)
{
	if (!l->connected) {
		errno = 0;
		if (modbus_connect(l->ctx) != 0) {
			int err = errno ? errno : ECONNREFUSED;
			modbus_close(l->ctx);
			return -err;
		}
		l->connected = true;
	}
	errno = 0;
	if (modbus_set_slave(l->ctx, unit) != 0)
		return -(errno ? errno : EINVAL);
	return 0;
}

int modbus_link_new(struct modbus_link **ret, const struct ws_bus_config *bus)
{
	struct modbus_link *l = calloc(1, sizeof(*l));
	char port[8];

	if (!l)
		return -ENOMEM;
	errno = 0;
	if (bus->transport == WS_TRANSPORT_TCP) {
		snprintf(port, sizeof(port), "%u", bus->port);
		l->ctx = modbus_new_tcp_pi(bus->host, port);
		l->tcp = true;
		snprintf(l->what, sizeof(l->what), "tcp %.200s:%u", bus->host, bus->port);
	} else {
		static const char parity[] = { 'N', 'E', 'O' };
		l->ctx = modbus_new_rtu(bus->device, (int)bus->baud, parity[bus->parity],
					(int)bus->data_bits, (int)bus->stop_bits);
		snprintf(l->what, sizeof(l->what), "rtu %.200s %u %u%c%u", bus->device,
			 bus->baud, bus->data_bits, parity[bus->parity], bus->stop_bits);
	}
	if (!l->ctx) {
		int err = errno ? errno : EINVAL;
		free(l);
		return -err;
	}
	modbus_set_response_timeout(l->ctx, bus->timeout_ms / 1000,
				    (bus->timeout_ms % 1000) * 1000);
	/* wait this long between bytes of one answer before giving up */
	modbus_set_byte_timeout(l->ctx, 0, 100000);
	*ret = l;
	return 0;
}

struct modbus_link *modbus_link_free(struct modbus_link *l)
{
	if (l) {
		if (l->connected)
			modbus_close(l->ctx);
		modbus_free(l->ctx);
		free(l);
	}
	return NULL;
}

int modbus_link_read_registers(struct modbus_link *l, uint8_t unit,
			       enum ws_reg_function fn, uint16_t addr,
			       uint16_t count, uint16_t *out)
{
	int r = ensure_connected(l, unit);
	if (r < 0)
		return r;
	errno = 0;
	if (fn == WS_FN_INPUT)
		r = modbus_read_input_registers(l->ctx, addr, count, out);
	else
		r = modbus_read_registers(l->ctx, addr, count, out);
	if (r != count)
		return fail(l);
	return 0;
}

int modbus_link_read_coil(struct modbus_link *l, uint8_t unit, uint16_t addr, bool *on)
{
	uint8_t bit = 0;
	int r = ensure_connected(l, unit);
	if (r < 0)
		return r;
	errno = 0;
	if (modbus_read_bits(l->ctx, addr, 1, &bit) != 1)
		return fail(l);
	*on = bit != 0;
	return 0;
}

int modbus_link_read_bit(struct modbus_link *l, uint8_t unit, uint16_t addr,
			 bool discrete, bool *on)
{
	uint8_t bit = 0;
	int r = ensure_connected(l, unit);
	if (r < 0)
		return r;
	errno = 0;
	r = discrete ? modbus_read_input_bits(l->ctx, addr, 1, &bit) :
		       modbus_read_bits(l->ctx, addr, 1, &bit);
	if (r != 1)
		return fail(l);
	*on = bit != 0;
	return 0;
}

int modbus_link_write_coil(struct modbus_link *l, uint8_t unit, uint16_t addr, bool on)
{
	int r = ensure_connected(l, unit);
	if (r < 0)
		return r;
	errno = 0;
	if (modbus_write_bit(l->ctx, addr, on ? 1 : 0) != 1)
		return fail(l);
	return 0;
}

int modbus_link_write_register(struct modbus_link *l, uint8_t unit, uint16_t addr,
			       uint16_t value)
{
	int r = ensure_connected(l, unit);
	if (r < 0)
		return r;
	errno = 0;
	if (modbus_write_register(l->ctx, addr, value) != 1)
		return fail(l);
	return 0;
}

const char *modbus_link_strerror(int err)
{
	return modbus_strerror(err < 0 ? -err : err);
}

const char *modbus_link_describe(const struct modbus_link *l)
{
	return l->what;
}
