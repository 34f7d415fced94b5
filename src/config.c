/* config.c: the INI configuration, parsed with inih and checked against a
 * table of keys per section kind.  The same tables print the effective
 * configuration, so --check-config and the reference cannot drift apart.
 *
 * Our own line reader feeds inih: it counts lines (inih's handler gets no
 * line number in Debian's build), strips leading blanks (so an indented key
 * is a key, never a silent "continuation" of the previous value) and turns
 * lines longer than inih's 200-byte limit into errors instead of letting
 * inih split them.  Cost: one pass over the file; no allocation. */
#include "wattstream/config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "wattstream/address.h"
#include "wattstream/log.h"
#include "wattstream/parse.h"
#include "ws-build-config.h"

enum key_type { K_STR, K_U32, K_BOOL, K_DOUBLE, K_ENUM, K_I32, K_SECRET, K_U64 };

struct key_def {
	const char *name;
	enum key_type type;
	size_t off;
	size_t size;			/* K_STR: buffer size */
	double min, max;		/* K_U32, K_I32, K_DOUBLE */
	const char *const *names;	/* K_ENUM: NULL-terminated */
};

#define STR(n, s, f) { n, K_STR, offsetof(s, f), sizeof(((s *)0)->f), 0, 0, NULL }
#define SECRET(n, s, f) { n, K_SECRET, offsetof(s, f), sizeof(((s *)0)->f), 0, 0, NULL }
#define U32(n, s, f, lo, hi) { n, K_U32, offsetof(s, f), 0, lo, hi, NULL }
#define U64(n, s, f, lo, hi) { n, K_U64, offsetof(s, f), 0, lo, hi, NULL }
#define I32(n, s, f, lo, hi) { n, K_I32, offsetof(s, f), 0, lo, hi, NULL }
#define BOOL(n, s, f) { n, K_BOOL, offsetof(s, f), 0, 0, 0, NULL }
#define DBL(n, s, f, lo, hi) { n, K_DOUBLE, offsetof(s, f), 0, lo, hi, NULL }
#define ENUM(n, s, f, nm) { n, K_ENUM, offsetof(s, f), 0, 0, 0, nm }

static const char *const log_levels[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", NULL,
};
static const char *const transports[] = { "tcp", "rtu", NULL };
static const char *const parities[] = { "none", "even", "odd", NULL };
static const char *const drivers[] = { "none", "modbus-coil", "gpio", NULL };
static const char *const creg_kinds[] = { "coil", "holding", NULL };
static const char *const ev_senses[] = { "none", "modbus", NULL };
static const char *const ev_regs[] = { "discrete", "coil", "input", "holding", NULL };

static const struct key_def station_keys[] = {
	STR("state_dir", struct ws_config, state_dir),
	STR("control_socket", struct ws_config, control_socket),
	ENUM("log_level", struct ws_config, log_level, log_levels),
	{ 0 },
};

static const struct key_def ocpp_keys[] = {
	STR("url", struct ws_ocpp_config, url),
	STR("identity", struct ws_ocpp_config, identity),
	U32("security_profile", struct ws_ocpp_config, security_profile, 0, 3),
	SECRET("authorization_key", struct ws_ocpp_config, authorization_key),
	STR("ca_file", struct ws_ocpp_config, ca_file),
	STR("client_cert_file", struct ws_ocpp_config, client_cert_file),
	STR("client_key_file", struct ws_ocpp_config, client_key_file),
	STR("vendor", struct ws_ocpp_config, vendor),
	STR("model", struct ws_ocpp_config, model),
	STR("serial", struct ws_ocpp_config, serial),
	{ 0 },
};

static const struct key_def payment_keys[] = {
	BOOL("enabled", struct ws_payment_config, enabled),
	STR("rpc_url", struct ws_payment_config, rpc_url),
	STR("deployment", struct ws_payment_config, deployment),
	STR("listen", struct ws_payment_config, listen),
	U32("port", struct ws_payment_config, port, 1, 65535),
	STR("endpoint", struct ws_payment_config, endpoint),
	U64("price_per_kwh", struct ws_payment_config, price_per_kwh, 1, 1e19),
	U32("increment_wh", struct ws_payment_config, increment_wh, 1, 100000),
	U32("prepaid_increments", struct ws_payment_config, prepaid_increments, 1, 100),
	U32("grace_s", struct ws_payment_config, grace_s, 0, 3600),
	U64("min_deposit", struct ws_payment_config, min_deposit, 0, 1e19),
	STR("location", struct ws_payment_config, location),
	STR("station_key_file", struct ws_payment_config, station_key_file),
	STR("payee_key_file", struct ws_payment_config, payee_key_file),
	STR("payee_address", struct ws_payment_config, payee_address),
	STR("tls_cert_file", struct ws_payment_config, tls_cert_file),
	STR("tls_key_file", struct ws_payment_config, tls_key_file),
	U32("watch_interval_s", struct ws_payment_config, watch_interval_s, 1, 86400),
	U64("claim_threshold", struct ws_payment_config, claim_threshold, 0, 1e19),
	U32("claim_batch_max", struct ws_payment_config, claim_batch_max, 1, 64),
	{ 0 },
};

static const struct key_def bus_keys[] = {
	ENUM("transport", struct ws_bus_config, transport, transports),
	STR("host", struct ws_bus_config, host),
	U32("port", struct ws_bus_config, port, 1, 65535),
	STR("device", struct ws_bus_config, device),
	U32("baud", struct ws_bus_config, baud, 300, 921600),
	ENUM("parity", struct ws_bus_config, parity, parities),
	U32("data_bits", struct ws_bus_config, data_bits, 5, 8),
	U32("stop_bits", struct ws_bus_config, stop_bits, 1, 2),
	U32("timeout_ms", struct ws_bus_config, timeout_ms, 10, 10000),
	{ 0 },
};

static const struct key_def connector_keys[] = {
	STR("meter_bus", struct ws_connector_config, meter_bus_name),
	U32("meter_unit", struct ws_connector_config, meter_unit, 0, 247),
	STR("meter_profile", struct ws_connector_config, meter_profile_name),
	U32("meter_poll_ms", struct ws_connector_config, poll_ms, 100, 60000),
	U32("meter_failsafe_ms", struct ws_connector_config, failsafe_ms, 200, 600000),
	DBL("max_power_kw", struct ws_connector_config, max_power_kw, 0.1, 1000),
	ENUM("contactor", struct ws_connector_config, contactor.driver, drivers),
	STR("contactor_bus", struct ws_connector_config, contactor.bus_name),
	U32("contactor_unit", struct ws_connector_config, contactor.unit, 0, 247),
	ENUM("contactor_register", struct ws_connector_config, contactor.reg, creg_kinds),
	U32("contactor_address", struct ws_connector_config, contactor.address, 0, 65535),
	STR("gpio_chip", struct ws_connector_config, contactor.gpio_chip),
	U32("gpio_line", struct ws_connector_config, contactor.gpio_line, 0, 4095),
	BOOL("gpio_active_low", struct ws_connector_config, contactor.gpio_active_low),
	I32("gpio_feedback_line", struct ws_connector_config, contactor.gpio_feedback_line, -1, 4095),
	ENUM("ev_sense", struct ws_connector_config, ev_sense.kind, ev_senses),
	ENUM("ev_sense_register", struct ws_connector_config, ev_sense.reg, ev_regs),
	U32("ev_sense_unit", struct ws_connector_config, ev_sense.unit, 0, 247),
	U32("ev_sense_address", struct ws_connector_config, ev_sense.address, 0, 65535),
	{ 0 },
};

/* keys given, one bit per key of a table: at most 32 keys per table */

/* Parser state across inih callbacks. */
struct parse_state {
	struct ws_config *cfg;
	struct ws_config_errors *errs;
	const char *name;
	int line;
	/* reader input: a FILE or a string */
	FILE *file;
	const char *text;
	/* keys seen per section instance, for duplicates */
	uint32_t seen_station;
	uint32_t seen_ocpp;
	uint32_t seen_payment;
	uint32_t seen_bus[WS_MAX_BUSES];
	uint32_t seen_conn[WS_MAX_CONNECTORS];
	uint32_t seen_profile[WS_MAX_PROFILES];
	char bad_section[128];	/* last unknown section, reported once */
};

static void add_error(struct ws_config_errors *errs, const char *name, int line,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_error(struct ws_config_errors *errs, const char *name, int line,
		      const char *fmt, ...)
{
	va_list ap;
	char text[256];

	if (errs->n >= WS_CONFIG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(errs->msg[errs->n++], sizeof(errs->msg[0]), "%s:%d: %s",
			 name, line, text);
	else
		snprintf(errs->msg[errs->n++], sizeof(errs->msg[0]), "%s: %s",
			 name, text);
}

static int set_key(struct parse_state *st, const struct key_def *keys,
		   void *base, uint32_t *seen, const char *section,
		   const char *key, const char *value)
{
	for (int i = 0; keys[i].name; i++) {
		const struct key_def *k = &keys[i];
		void *p = (char *)base + k->off;
		int r = 0;

		if (strcmp(k->name, key) != 0)
			continue;
		if (*seen & (1u << i)) {
			add_error(st->errs, st->name, st->line,
				  "[%s] %s given twice", section, key);
			return 0;
		}
		*seen |= 1u << i;
		switch (k->type) {
		case K_STR:
		case K_SECRET:
			r = ws_strcpy(p, k->size, value);
			if (r == 0 && !value[0])
				r = -EINVAL;
			break;
		case K_U32:
			r = ws_parse_u32(value, (uint32_t)k->min, (uint32_t)k->max, p);
			break;
		case K_U64:
			r = ws_parse_u64(value, (uint64_t)k->min,
					 k->max >= 1.8e19 ? UINT64_MAX : (uint64_t)k->max, p);
			break;
		case K_I32: {
			int64_t v;
			r = ws_parse_i64(value, (int64_t)k->min, (int64_t)k->max, &v);
			if (r == 0)
				*(int32_t *)p = (int32_t)v;
			break;
		}
		case K_BOOL:
			r = ws_parse_bool(value, p);
			break;
		case K_DOUBLE:
			r = ws_parse_double(value, k->min, k->max, p);
			break;
		case K_ENUM:
			r = -EINVAL;
			for (int j = 0; k->names[j]; j++)
				if (strcmp(k->names[j], value) == 0) {
					*(int *)p = j;
					r = 0;
				}
			break;
		}
		if (r == 0)
			return 0;
		switch (k->type) {
		case K_STR:
		case K_SECRET:
			add_error(st->errs, st->name, st->line,
				  "[%s] %s: %s", section, key,
				  value[0] ? "value too long" : "empty value");
			break;
		case K_U32:
		case K_U64:
		case K_I32:
			add_error(st->errs, st->name, st->line,
				  "[%s] %s = '%s': expected an integer from %.0f to %.0f",
				  section, key, value, k->min, k->max);
			break;
		case K_DOUBLE:
			add_error(st->errs, st->name, st->line,
				  "[%s] %s = '%s': expected a number from %g to %g",
				  section, key, value, k->min, k->max);
			break;
		case K_BOOL:
			add_error(st->errs, st->name, st->line,
				  "[%s] %s = '%s': expected true or false",
				  section, key, value);
			break;
		case K_ENUM: {
			char list[160] = "";
			for (int j = 0; k->names[j]; j++) {
				strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, k->names[j], sizeof(list) - strlen(list) - 1);
			}
			add_error(st->errs, st->name, st->line,
				  "[%s] %s = '%s': expected one of %s",
				  section, key, value, list);
			break;
		}
		}
		return 0;
	}
	add_error(st->errs, st->name, st->line, "[%s] unknown key '%s'", section, key);
	return 0;
}

static int key_index(const struct key_def *keys, const char *name)
{
	for (int i = 0; keys[i].name; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return 31;
}

static void bus_defaults(struct ws_bus_config *b, const char *name, int line)
{
	memset(b, 0, sizeof(*b));
	ws_strcpy(b->name, sizeof(b->name), name);
	b->line = line;
	b->transport = WS_TRANSPORT_TCP;
	strcpy(b->host, "127.0.0.1");
	b->port = 1502;
	strcpy(b->device, "/dev/ttyUSB0");
	b->baud = 9600;
	b->parity = 0;
	b->data_bits = 8;
	b->stop_bits = 1;
	b->timeout_ms = 500;
}

static void connector_defaults(struct ws_connector_config *c, unsigned id, int line)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->line = line;
	strcpy(c->meter_bus_name, "default");
	c->meter_unit = id;
	strcpy(c->meter_profile_name, "sdm630");
	c->poll_ms = 200;
	c->failsafe_ms = 2000;
	c->max_power_kw = 350;
	c->contactor.driver = WS_CONTACTOR_MODBUS_COIL;
	c->contactor.bus = -1;
	c->contactor.reg = WS_CREG_COIL;
	c->contactor.address = 0;
	strcpy(c->contactor.gpio_chip, "gpiochip0");
	c->contactor.gpio_feedback_line = -1;
}

/* systemd passes StateDirectory= and RuntimeDirectory= in the environment
 * (colon-separated lists); they make the natural defaults. */
static void dir_from_env(char *dst, size_t size, const char *var,
			 const char *fallback, const char *suffix)
{
	const char *v = getenv(var);
	char buf[PATH_MAX];
	size_t n;

	if (!v || !v[0] || v[0] != '/') {
		snprintf(dst, size, "%s%s", fallback, suffix);
		return;
	}
	n = strcspn(v, ":");
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if ((size_t)snprintf(dst, size, "%s%s", buf, suffix) >= size)
		snprintf(dst, size, "%s%s", fallback, suffix);
}

void ws_config_defaults(struct ws_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	dir_from_env(cfg->state_dir, sizeof(cfg->state_dir), "STATE_DIRECTORY",
		     "/var/lib/wattstream", "");
	dir_from_env(cfg->control_socket, sizeof(cfg->control_socket),
		     "RUNTIME_DIRECTORY", "/run/wattstream", "/control.sock");
	cfg->log_level = LOG_INFO;
	strcpy(cfg->ocpp.identity, "wattstream-1");
	strcpy(cfg->ocpp.vendor, "wattstream");
	strcpy(cfg->ocpp.model, "wattstream");
	struct ws_payment_config *p = &cfg->payment;
	strcpy(p->rpc_url, "http://127.0.0.1:8545");
	strcpy(p->listen, "127.0.0.1");
	p->port = 8443;
	p->price_per_kwh = 300000;	/* 0.30 of a 6-decimal token */
	p->increment_wh = 100;
	p->prepaid_increments = 1;
	p->grace_s = 30;
	p->min_deposit = 3000000;	/* 10 kWh at the default price */
	p->watch_interval_s = 60;	/* far inside any sane challenge period */
	p->claim_batch_max = 16;	/* about 0.6 M gas per claimMany */
}

static int find_bus(const struct ws_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_buses; i++)
		if (strcmp(cfg->bus[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int find_profile(const struct ws_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int find_connector(const struct ws_config *cfg, unsigned id)
{
	for (unsigned i = 0; i < cfg->n_connectors; i++)
		if (cfg->conn[i].id == id)
			return (int)i;
	return -1;
}

static bool valid_name(const char *s)
{
	if (!s[0] || strlen(s) >= WS_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* Creates (or finds) the instance a section header names.  Returns the
 * instance index, or -1 after reporting an error. */
static int section_instance(struct parse_state *st, const char *section, bool create)
{
	struct ws_config *cfg = st->cfg;
	const char *dot = strchr(section, '.');
	const char *arg = dot ? dot + 1 : "";
	size_t kind = dot ? (size_t)(dot - section) : strlen(section);

	if (kind == 7 && strncmp(section, "station", 7) == 0 && !dot)
		return 0;
	if (kind == 4 && strncmp(section, "ocpp", 4) == 0 && !dot)
		return 0;
	if (kind == 7 && strncmp(section, "payment", 7) == 0 && !dot)
		return 0;
	if (kind == 3 && strncmp(section, "bus", 3) == 0 && dot) {
		int i = find_bus(cfg, arg);
		if (i >= 0 || !create)
			return i;
		if (!valid_name(arg)) {
			add_error(st->errs, st->name, st->line,
				  "[%s]: a bus name is 1-31 letters, digits, '-' or '_'", section);
			return -1;
		}
		if (cfg->n_buses >= WS_MAX_BUSES) {
			add_error(st->errs, st->name, st->line,
				  "[%s]: at most %d buses", section, WS_MAX_BUSES);
			return -1;
		}
		bus_defaults(&cfg->bus[cfg->n_buses], arg, st->line);
		return (int)cfg->n_buses++;
	}
	if (kind == 9 && strncmp(section, "connector", 9) == 0 && dot) {
		uint32_t id;
		if (ws_parse_u32(arg, 1, WS_MAX_CONNECTORS, &id) != 0 || arg[0] == '0') {
			if (create)
				add_error(st->errs, st->name, st->line,
					  "[%s]: connectors are numbered 1 to %d",
					  section, WS_MAX_CONNECTORS);
			return -1;
		}
		int i = find_connector(cfg, id);
		if (i >= 0 || !create)
			return i;
		connector_defaults(&cfg->conn[cfg->n_connectors], id, st->line);
		return (int)cfg->n_connectors++;
	}
	if (kind == 7 && strncmp(section, "profile", 7) == 0 && dot) {
		int i = find_profile(cfg, arg);
		if (i >= 0 || !create)
			return i;
		if (!valid_name(arg) || meter_profile_builtin(arg)) {
			add_error(st->errs, st->name, st->line,
				  "[%s]: a profile name is 1-31 letters, digits, '-' or '_' and not a built-in profile's", section);
			return -1;
		}
		if (cfg->n_profiles >= WS_MAX_PROFILES) {
			add_error(st->errs, st->name, st->line,
				  "[%s]: at most %d profiles", section, WS_MAX_PROFILES);
			return -1;
		}
		memset(&cfg->profiles[cfg->n_profiles], 0, sizeof(cfg->profiles[0]));
		ws_strcpy(cfg->profiles[cfg->n_profiles].name, WS_PROFILE_NAME_MAX, arg);
		cfg->profile_line[cfg->n_profiles] = st->line;
		return (int)cfg->n_profiles++;
	}
	if (create && strcmp(st->bad_section, section) != 0) {
		add_error(st->errs, st->name, st->line,
			  "unknown section [%s] (expected [station], [ocpp], [payment], [bus.NAME], [connector.N] or [profile.NAME])",
			  section);
		ws_strcpy(st->bad_section, sizeof(st->bad_section), section);
	}
	return -1;
}

/* "input 0x0048 float32 abcd 1000": function, address, type, word order, scale */
static int parse_register(const char *value, struct ws_register *r)
{
	char fn[16], addr[16], type[16], order[16], scale[32], extra[2];
	int f, t, o;
	uint32_t a;
	double s;

	if (sscanf(value, "%15s %15s %15s %15s %31s %1s", fn, addr, type, order,
		   scale, extra) != 5)
		return -EINVAL;
	if ((f = meter_reg_function_parse(fn)) < 0 ||
	    ws_parse_u32(addr, 0, 65535, &a) != 0 ||
	    (t = meter_reg_type_parse(type)) < 0 ||
	    (o = meter_word_order_parse(order)) < 0 ||
	    ws_parse_double(scale, -1e12, 1e12, &s) != 0 || s == 0)
		return -EINVAL;
	if (a + meter_reg_type_words((enum ws_reg_type)t) > 65536)
		return -EINVAL;
	*r = (struct ws_register){ true, (enum ws_reg_function)f, (uint16_t)a,
				   (enum ws_reg_type)t, (enum ws_word_order)o, s };
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_state *st = user;
	struct ws_config *cfg = st->cfg;
	int i;

	if (!section[0]) {
		add_error(st->errs, st->name, st->line,
			  "key '%s' outside any section", name);
		return 1;
	}
	i = section_instance(st, section, true);
	if (i < 0)
		return 1;
	switch (section[0]) {
	case 'o':
		set_key(st, ocpp_keys, &cfg->ocpp, &st->seen_ocpp, section, name, value);
		break;
	case 's':
		set_key(st, station_keys, cfg, &st->seen_station, section, name, value);
		break;
	case 'b':
		set_key(st, bus_keys, &cfg->bus[i], &st->seen_bus[i], section, name, value);
		break;
	case 'c':
		set_key(st, connector_keys, &cfg->conn[i], &st->seen_conn[i], section,
			name, value);
		break;
	case 'p':
		if (section[1] == 'a') {	/* [payment] */
			set_key(st, payment_keys, &cfg->payment, &st->seen_payment, section,
				name, value);
			break;
		}
		{
		int q = meter_quantity_parse(name);
		if (q < 0) {
			add_error(st->errs, st->name, st->line,
				  "[%s] unknown quantity '%s' (expected energy_wh, power_w, current_l1_a..l3_a, voltage_l1_v..l3_v)",
				  section, name);
			break;
		}
		if (st->seen_profile[i] & (1u << q)) {
			add_error(st->errs, st->name, st->line,
				  "[%s] %s given twice", section, name);
			break;
		}
		st->seen_profile[i] |= 1u << q;
		if (parse_register(value, &cfg->profiles[i].reg[q]) != 0)
			add_error(st->errs, st->name, st->line,
				  "[%s] %s = '%s': expected 'FUNCTION ADDRESS TYPE ORDER SCALE' like 'input 0x0048 float32 abcd 1000' (see docs/configuration.md)",
				  section, name, value);
		break;
	}
	}
	return 1;
}

/* inih line reader: see the comment at the top of the file. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	char line[1024];
	size_t n = 0;
	bool too_long = false;

	for (;;) {
		int c;
		if (st->file) {
			c = fgetc(st->file);
		} else {
			c = *st->text ? (unsigned char)*st->text++ : EOF;
		}
		if (c == EOF) {
			if (n == 0 && !too_long)
				return NULL;
			break;
		}
		if (c == '\n')
			break;
		if (c == '\0') {
			too_long = true;	/* binary junk: reject the line */
			continue;
		}
		if (n < sizeof(line) - 1)
			line[n++] = (char)c;
		else
			too_long = true;
	}
	line[n] = '\0';
	st->line++;

	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (too_long || strlen(p) + 2 > (size_t)num) {
		add_error(st->errs, st->name, st->line,
			  too_long && n >= sizeof(line) - 1 ? "line too long" :
			  too_long ? "line contains a NUL byte" :
			  "line too long (at most %d characters)", num - 2);
		p = (char *)";";
	} else if (p[0] == '[') {
		/* register the section now so that an empty section counts
		 * and errors in it carry its line */
		char sec[128];
		const char *end = strchr(p, ']');
		if (end && (size_t)(end - p - 1) < sizeof(sec)) {
			memcpy(sec, p + 1, (size_t)(end - p - 1));
			sec[end - p - 1] = '\0';
			section_instance(st, sec, true);
		}
	}
	snprintf(str, (size_t)num, "%s\n", p);
	return str;
}

static void validate(struct parse_state *st)
{
	struct ws_config *cfg = st->cfg;
	const char *nm = st->name;

	if (cfg->state_dir[0] != '/')
		add_error(st->errs, nm, 0, "[station] state_dir must be an absolute path");
	if (cfg->control_socket[0] != '/')
		add_error(st->errs, nm, 0, "[station] control_socket must be an absolute path");

	const struct ws_ocpp_config *o = &cfg->ocpp;
	if (o->url[0] && strncmp(o->url, "ws://", 5) != 0 && strncmp(o->url, "wss://", 6) != 0)
		add_error(st->errs, nm, 0, "[ocpp] url must start with ws:// or wss://");
	if (o->url[0] && o->security_profile >= 2 && strncmp(o->url, "wss://", 6) != 0)
		add_error(st->errs, nm, 0, "[ocpp] security_profile %u needs a wss:// url",
			  o->security_profile);
	if (o->url[0] && o->security_profile <= 1 && strncmp(o->url, "wss://", 6) == 0)
		add_error(st->errs, nm, 0, "[ocpp] a wss:// url needs security_profile 2 or 3");
	if (o->security_profile >= 2 && !o->ca_file[0])
		add_error(st->errs, nm, 0, "[ocpp] security_profile %u needs ca_file",
			  o->security_profile);
	if (o->security_profile == 3 && (!o->client_cert_file[0] || !o->client_key_file[0]))
		add_error(st->errs, nm, 0, "[ocpp] security_profile 3 needs client_cert_file and client_key_file");
	/* no authorization_key with profile 1 or 2 is not an error here: the
	 * Central System may have set AuthorizationKey (kept in the store) */

	const struct ws_payment_config *pc = &cfg->payment;
	if (pc->enabled && !pc->deployment[0])
		add_error(st->errs, nm, 0, "[payment] enabled needs deployment (the contracts' deployment JSON)");
	if (pc->enabled && strncmp(pc->rpc_url, "http://", 7) != 0 &&
	    strncmp(pc->rpc_url, "https://", 8) != 0)
		add_error(st->errs, nm, 0, "[payment] rpc_url must start with http:// or https://");
	if (!pc->tls_cert_file[0] != !pc->tls_key_file[0])
		add_error(st->errs, nm, 0, "[payment] tls_cert_file and tls_key_file go together");
	if (pc->payee_address[0]) {
		uint8_t a[20];
		if (pc->payee_key_file[0])
			add_error(st->errs, nm, 0,
				  "[payment] payee_address and payee_key_file exclude each other (the payee is either a key here or an address whose claims another machine submits)");
		int ar = ws_address_parse(pc->payee_address, a);
		if (ar != 0 || ws_address_is_zero(a))
			add_error(st->errs, nm, 0, "[payment] payee_address must be 0x and 40 hex digits%s",
				  ar == WS_ADDRESS_E_CHECKSUM ? " (mixed case that is not its EIP-55 checksum)" :
				  ar == 0 ? ", not the zero address" : "");
	}
	/* payments without [ocpp] are allowed: sessions are then local only */

	if (cfg->n_connectors == 0)
		connector_defaults(&cfg->conn[cfg->n_connectors++], 1, 0);
	/* connectors must be 1..N: OCPP numbers them so */
	for (unsigned id = 1; id <= cfg->n_connectors; id++)
		if (find_connector(cfg, id) < 0)
			add_error(st->errs, nm, 0,
				  "connectors must be numbered from 1 without gaps: [connector.%u] is missing",
				  id);
	/* sort connectors by id so conn[i].id == i + 1 */
	for (unsigned i = 1; i < cfg->n_connectors; i++)
		for (unsigned j = i; j > 0 && cfg->conn[j - 1].id > cfg->conn[j].id; j--) {
			struct ws_connector_config t = cfg->conn[j];
			cfg->conn[j] = cfg->conn[j - 1];
			cfg->conn[j - 1] = t;
		}

	for (unsigned i = 0; i < cfg->n_connectors; i++) {
		struct ws_connector_config *c = &cfg->conn[i];
		int line = c->line;

		c->meter_bus = find_bus(cfg, c->meter_bus_name);
		if (c->meter_bus < 0 && strcmp(c->meter_bus_name, "default") == 0 &&
		    cfg->n_buses < WS_MAX_BUSES) {
			bus_defaults(&cfg->bus[cfg->n_buses], "default", 0);
			c->meter_bus = (int)cfg->n_buses++;
		}
		if (c->meter_bus < 0)
			add_error(st->errs, nm, line,
				  "[connector.%u] meter_bus '%s': no [bus.%s] section",
				  c->id, c->meter_bus_name, c->meter_bus_name);

		const struct ws_meter_profile *p = meter_profile_builtin(c->meter_profile_name);
		int pi = find_profile(cfg, c->meter_profile_name);
		if (p) {
			c->profile = *p;
		} else if (pi >= 0) {
			c->profile = cfg->profiles[pi];
		} else {
			add_error(st->errs, nm, line,
				  "[connector.%u] meter_profile '%s': not a built-in profile (sdm630, sdm120, sdm72, abb-b23) and no [profile.%s] section",
				  c->id, c->meter_profile_name, c->meter_profile_name);
		}
		if ((p || pi >= 0) && meter_profile_plan(&c->profile, &c->plan) != 0)
			add_error(st->errs, nm, pi >= 0 ? cfg->profile_line[pi] : line,
				  "profile '%s' has no energy_wh register",
				  c->meter_profile_name);
		if (c->meter_unit == 0 && c->meter_bus >= 0 &&
		    cfg->bus[c->meter_bus].transport == WS_TRANSPORT_RTU)
			add_error(st->errs, nm, line,
				  "[connector.%u] meter_unit 0 is the RTU broadcast address", c->id);
		if (c->failsafe_ms < 2 * c->poll_ms)
			add_error(st->errs, nm, line,
				  "[connector.%u] meter_failsafe_ms (%u) must be at least twice meter_poll_ms (%u)",
				  c->id, c->failsafe_ms, c->poll_ms);
		c->limits.max_power_w = c->max_power_kw * 1000.0;
		c->limits.max_voltage_v = 1000.0;
		c->limits.max_current_a = c->max_power_kw * 1000.0 / 100.0 + 16.0;

		if (!(st->seen_conn[i] & (1u << key_index(connector_keys, "ev_sense_unit"))))
			c->ev_sense.unit = c->meter_unit;

		struct ws_contactor_config *k = &c->contactor;
		if (k->driver == WS_CONTACTOR_MODBUS_COIL) {
			if (!k->bus_name[0])
				memcpy(k->bus_name, c->meter_bus_name, sizeof(k->bus_name));
			if (!(st->seen_conn[i] & (1u << key_index(connector_keys, "contactor_unit"))))
				k->unit = c->meter_unit;
			k->bus = find_bus(cfg, k->bus_name);
			if (k->bus < 0)
				add_error(st->errs, nm, line,
					  "[connector.%u] contactor_bus '%s': no [bus.%s] section",
					  c->id, k->bus_name, k->bus_name);
		} else if (k->driver == WS_CONTACTOR_GPIO) {
#if !WS_HAVE_GPIOD
			add_error(st->errs, nm, line,
				  "[connector.%u] contactor = gpio: this build has no libgpiod support",
				  c->id);
#endif
			if (k->gpio_feedback_line == (int32_t)k->gpio_line)
				add_error(st->errs, nm, line,
					  "[connector.%u] gpio_feedback_line must differ from gpio_line", c->id);
		}
	}
	/* two connectors must not drive the same contactor */
	for (unsigned i = 0; i < cfg->n_connectors; i++)
		for (unsigned j = i + 1; j < cfg->n_connectors; j++) {
			const struct ws_contactor_config *a = &cfg->conn[i].contactor,
							 *b = &cfg->conn[j].contactor;
			if (a->driver == WS_CONTACTOR_MODBUS_COIL && a->driver == b->driver &&
			    a->bus == b->bus && a->unit == b->unit && a->reg == b->reg &&
			    a->address == b->address)
				add_error(st->errs, nm, cfg->conn[j].line,
					  "[connector.%u] drives the same contactor as [connector.%u]",
					  cfg->conn[j].id, cfg->conn[i].id);
			if (a->driver == WS_CONTACTOR_GPIO && a->driver == b->driver &&
			    strcmp(a->gpio_chip, b->gpio_chip) == 0 &&
			    a->gpio_line == b->gpio_line)
				add_error(st->errs, nm, cfg->conn[j].line,
					  "[connector.%u] uses the same GPIO line as [connector.%u]",
					  cfg->conn[j].id, cfg->conn[i].id);
		}
	for (unsigned i = 0; i < cfg->n_buses; i++) {
		const struct ws_bus_config *b = &cfg->bus[i];
		if (b->transport == WS_TRANSPORT_RTU && b->device[0] != '/')
			add_error(st->errs, nm, b->line,
				  "[bus.%s] device must be an absolute path", b->name);
	}
}

static int load(struct parse_state *st)
{
	int r = ini_parse_stream(reader, st, handler, st);
	if (r > 0) {
		bool reported = false;
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "%s:%d:", st->name, r);
		for (unsigned i = 0; i < st->errs->n; i++)
			if (strncmp(st->errs->msg[i], prefix, strlen(prefix)) == 0)
				reported = true;
		if (!reported)
			add_error(st->errs, st->name, r,
				  "syntax error (expected '[section]', 'key = value' or a comment)");
	} else if (r < 0) {
		add_error(st->errs, st->name, 0, "cannot parse");
	}
	validate(st);
	return st->errs->n ? -EINVAL : 0;
}

int ws_config_load_string(struct ws_config *cfg, const char *text,
			  const char *name, struct ws_config_errors *errs)
{
	struct parse_state st = { .cfg = cfg, .errs = errs, .name = name, .text = text };

	errs->n = 0;
	ws_config_defaults(cfg);
	ws_strcpy(cfg->path, sizeof(cfg->path), name);
	return load(&st);
}

int ws_config_load(struct ws_config *cfg, const char *path, bool must_exist,
		   struct ws_config_errors *errs)
{
	struct parse_state st = { .cfg = cfg, .errs = errs, .name = path };
	int r;

	errs->n = 0;
	ws_config_defaults(cfg);
	st.file = fopen(path, "re");
	if (!st.file) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			cfg->path[0] = '\0';
			return load(&(struct parse_state){ .cfg = cfg, .errs = errs,
							   .name = "(defaults)", .text = "" });
		}
		return r;
	}
	if (ws_strcpy(cfg->path, sizeof(cfg->path), path) != 0) {
		fclose(st.file);
		return -ENAMETOOLONG;
	}
	r = load(&st);
	fclose(st.file);
	return r;
}

/* shortest of %.15g and %.17g that reads back to the same double */
static void print_double(FILE *out, double v)
{
	char buf[40];
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, out);
}

static void print_keys(FILE *out, const struct key_def *keys, const void *base)
{
	for (int i = 0; keys[i].name; i++) {
		const struct key_def *k = &keys[i];
		const void *p = (const char *)base + k->off;
		switch (k->type) {
		case K_STR:
			if (((const char *)p)[0])
				fprintf(out, "%s = %s\n", k->name, (const char *)p);
			break;
		case K_SECRET:
			if (((const char *)p)[0])
				fprintf(out, "; %s is set (not shown)\n", k->name);
			break;
		case K_U32:
			fprintf(out, "%s = %u\n", k->name, *(const uint32_t *)p);
			break;
		case K_U64:
			fprintf(out, "%s = %llu\n", k->name,
				(unsigned long long)*(const uint64_t *)p);
			break;
		case K_I32:
			fprintf(out, "%s = %d\n", k->name, *(const int32_t *)p);
			break;
		case K_BOOL:
			fprintf(out, "%s = %s\n", k->name, *(const bool *)p ? "true" : "false");
			break;
		case K_DOUBLE:
			fprintf(out, "%s = ", k->name);
			print_double(out, *(const double *)p);
			fputc('\n', out);
			break;
		case K_ENUM:
			fprintf(out, "%s = %s\n", k->name, k->names[*(const int *)p]);
			break;
		}
	}
}

void ws_config_print(const struct ws_config *cfg, FILE *out)
{
	fprintf(out, "; effective configuration, from %s\n",
		cfg->path[0] ? cfg->path : "the embedded defaults");
	fprintf(out, "[station]\n");
	print_keys(out, station_keys, cfg);
	fprintf(out, "\n[ocpp]\n");
	print_keys(out, ocpp_keys, &cfg->ocpp);
	fprintf(out, "\n[payment]\n");
	print_keys(out, payment_keys, &cfg->payment);
	for (unsigned i = 0; i < cfg->n_buses; i++) {
		fprintf(out, "\n[bus.%s]\n", cfg->bus[i].name);
		print_keys(out, bus_keys, &cfg->bus[i]);
	}
	for (unsigned i = 0; i < cfg->n_profiles; i++) {
		const struct ws_meter_profile *p = &cfg->profiles[i];
		fprintf(out, "\n[profile.%s]\n", p->name);
		for (int q = 0; q < WS_Q_COUNT; q++) {
			const struct ws_register *r = &p->reg[q];
			if (!r->present)
				continue;
			fprintf(out, "%s = %s 0x%04x %s %s ", meter_quantity_name(q),
				meter_reg_function_name(r->function), r->address,
				meter_reg_type_name(r->type), meter_word_order_name(r->order));
			print_double(out, r->scale);
			fputc('\n', out);
		}
	}
	for (unsigned i = 0; i < cfg->n_connectors; i++) {
		fprintf(out, "\n[connector.%u]\n", cfg->conn[i].id);
		print_keys(out, connector_keys, &cfg->conn[i]);
	}
}
