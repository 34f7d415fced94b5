/* contactor.c: contactor drivers.  A command is one write and one read on
 * the device (two Modbus requests, or two GPIO ioctls).  No allocation after
 * creation. */
#include "wattstream/contactor.h"

#include <errno.h>
#include <stdlib.h>

#include "wattstream/modbus_link.h"
#include "ws-build-config.h"

#if WS_HAVE_GPIOD
#include <gpiod.h>
#endif

struct ws_contactor {
	struct ws_contactor_config cfg;
	bool state;	/* driver "none": the remembered state */
#if WS_HAVE_GPIOD
	struct gpiod_chip *chip;
	struct gpiod_line *out;
	struct gpiod_line *feedback;
#endif
};

int contactor_new(struct ws_contactor **ret, const struct ws_contactor_config *cfg)
{
	struct ws_contactor *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (cfg->driver == WS_CONTACTOR_GPIO) {
#if WS_HAVE_GPIOD
		int flags = cfg->gpio_active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
		errno = 0;
		c->chip = gpiod_chip_open_lookup(cfg->gpio_chip);
		if (!c->chip)
			goto fail_errno;
		c->out = gpiod_chip_get_line(c->chip, cfg->gpio_line);
		if (!c->out || gpiod_line_request_output_flags(c->out, "wattstreamd", flags, 0) != 0)
			goto fail_errno;
		if (cfg->gpio_feedback_line >= 0) {
			c->feedback = gpiod_chip_get_line(c->chip, (unsigned)cfg->gpio_feedback_line);
			if (!c->feedback ||
			    gpiod_line_request_input_flags(c->feedback, "wattstreamd", flags) != 0)
				goto fail_errno;
		}
#else
		r = -ENOTSUP;
		goto fail;
#endif
	}
	*ret = c;
	return 0;

#if WS_HAVE_GPIOD
fail_errno:
	r = errno ? -errno : -ENODEV;
	goto fail;
#endif
fail:
	contactor_free(c);
	return r;
}

struct ws_contactor *contactor_free(struct ws_contactor *c)
{
	if (!c)
		return NULL;
#if WS_HAVE_GPIOD
	/* releasing the output line leaves it as it is: open it first */
	if (c->out && gpiod_line_is_requested(c->out))
		gpiod_line_set_value(c->out, 0);
	if (c->chip)
		gpiod_chip_close(c->chip);	/* releases the lines */
#endif
	free(c);
	return NULL;
}

bool contactor_needs_bus(const struct ws_contactor *c)
{
	return c->cfg.driver == WS_CONTACTOR_MODBUS_COIL;
}

int contactor_get(struct ws_contactor *c, struct modbus_link *link, bool *closed)
{
	switch (c->cfg.driver) {
	case WS_CONTACTOR_NONE:
		*closed = c->state;
		return 0;
	case WS_CONTACTOR_MODBUS_COIL: {
		if (!link)
			return -EINVAL;
		if (c->cfg.reg == WS_CREG_COIL)
			return modbus_link_read_coil(link, (uint8_t)c->cfg.unit,
						     (uint16_t)c->cfg.address, closed);
		uint16_t v;
		int r = modbus_link_read_registers(link, (uint8_t)c->cfg.unit, WS_FN_HOLDING,
						   (uint16_t)c->cfg.address, 1, &v);
		if (r == 0)
			*closed = v != 0;
		return r;
	}
	case WS_CONTACTOR_GPIO: {
#if WS_HAVE_GPIOD
		struct gpiod_line *line = c->feedback ? c->feedback : c->out;
		errno = 0;
		int v = gpiod_line_get_value(line);
		if (v < 0)
			return errno ? -errno : -EIO;
		*closed = v != 0;
		return 0;
#else
		return -ENOTSUP;
#endif
	}
	}
	return -EINVAL;
}

int contactor_set(struct ws_contactor *c, struct modbus_link *link, bool closed,
		  bool *readback)
{
	int r = -EINVAL;

	switch (c->cfg.driver) {
	case WS_CONTACTOR_NONE:
		c->state = closed;
		r = 0;
		break;
	case WS_CONTACTOR_MODBUS_COIL:
		if (!link)
			return -EINVAL;
		if (c->cfg.reg == WS_CREG_COIL)
			r = modbus_link_write_coil(link, (uint8_t)c->cfg.unit,
						   (uint16_t)c->cfg.address, closed);
		else
			r = modbus_link_write_register(link, (uint8_t)c->cfg.unit,
						       (uint16_t)c->cfg.address, closed ? 1 : 0);
		break;
	case WS_CONTACTOR_GPIO:
#if WS_HAVE_GPIOD
		errno = 0;
		r = gpiod_line_set_value(c->out, closed ? 1 : 0) == 0 ? 0 :
		    (errno ? -errno : -EIO);
#else
		r = -ENOTSUP;
#endif
		break;
	}
	if (r < 0)
		return r;
#if WS_HAVE_GPIOD
	/* an auxiliary contact follows the coil mechanically, tens of ms
	 * later: it is checked by the periodic read-back, not right now */
	if (c->cfg.driver == WS_CONTACTOR_GPIO && c->feedback) {
		*readback = closed;
		return CONTACTOR_OK;
	}
#endif
	r = contactor_get(c, link, readback);
	if (r < 0)
		return r;
	return *readback == closed ? CONTACTOR_OK : CONTACTOR_E_MISMATCH;
}
