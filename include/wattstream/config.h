/* config.h: the installer's configuration, read from an INI file
 * (default /etc/wattstream/wattstreamd.conf; reference: docs/configuration.md).
 *
 * Every key has a built-in default, so an absent file gives the embedded
 * defaults: one connector metered by an SDM630 on Modbus TCP 127.0.0.1:1502,
 * unit 1, with its contactor on coil 0 of the same unit (the simulator).
 * Unknown sections and keys, duplicates and bad values are errors reported
 * with their line number; nothing is silently ignored. */
#ifndef WATTSTREAM_CONFIG_H
#define WATTSTREAM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wattstream/meter.h"
#include "wattstream/meter_profile.h"

#define WS_CONFIG_DEFAULT_PATH "/etc/wattstream/wattstreamd.conf"

#define WS_MAX_CONNECTORS 16
#define WS_MAX_BUSES 8
#define WS_MAX_PROFILES 8
#define WS_NAME_MAX 32
#define WS_HOST_MAX 256
#define WS_SOCKPATH_MAX 108	/* sun_path */

enum ws_transport { WS_TRANSPORT_TCP, WS_TRANSPORT_RTU };

struct ws_bus_config {
	char name[WS_NAME_MAX];
	int line;			/* of its section, 0 if built in */
	enum ws_transport transport;
	char host[WS_HOST_MAX];		/* tcp */
	uint32_t port;			/* tcp */
	char device[PATH_MAX];		/* rtu, e.g. /dev/ttyUSB0 */
	uint32_t baud;			/* rtu */
	int parity;			/* rtu: 0 none, 1 even, 2 odd */
	uint32_t data_bits;		/* rtu */
	uint32_t stop_bits;		/* rtu */
	uint32_t timeout_ms;		/* response timeout of one request */
};

enum ws_contactor_driver {
	WS_CONTACTOR_NONE,
	WS_CONTACTOR_MODBUS_COIL,	/* a coil or a holding register */
	WS_CONTACTOR_GPIO,
};

enum ws_contactor_register { WS_CREG_COIL, WS_CREG_HOLDING };

struct ws_contactor_config {
	enum ws_contactor_driver driver;
	char bus_name[WS_NAME_MAX];	/* modbus-coil; default: the meter's bus */
	int bus;			/* index into buses, resolved */
	uint32_t unit;			/* default: the meter's unit */
	enum ws_contactor_register reg;
	uint32_t address;
	char gpio_chip[64];		/* gpio: chip name, path or number */
	uint32_t gpio_line;
	bool gpio_active_low;
	int32_t gpio_feedback_line;	/* auxiliary contact input, -1 none */
};

enum ws_ev_sense { WS_EV_SENSE_NONE, WS_EV_SENSE_MODBUS };
enum ws_ev_sense_register {
	WS_EVREG_DISCRETE,	/* discrete input, function 02: non-zero = EV connected */
	WS_EVREG_COIL,		/* coil, function 01 */
	WS_EVREG_INPUT,		/* input register, function 04 */
	WS_EVREG_HOLDING,	/* holding register, function 03 */
};

/* How the controller learns that an EV is plugged in (the EVSE controller's
 * control-pilot state), read on the meter's bus with every meter poll. */
struct ws_ev_sense_config {
	enum ws_ev_sense kind;
	enum ws_ev_sense_register reg;
	uint32_t unit;			/* default: the meter's unit */
	uint32_t address;
};

struct ws_connector_config {
	unsigned id;			/* OCPP connector id, 1..N */
	int line;
	char meter_bus_name[WS_NAME_MAX];
	int meter_bus;			/* index into buses, resolved */
	uint32_t meter_unit;
	char meter_profile_name[WS_NAME_MAX];
	struct ws_meter_profile profile;	/* resolved */
	struct ws_read_plan plan;		/* resolved */
	uint32_t poll_ms;		/* meter poll period */
	uint32_t failsafe_ms;		/* no good reading this long: fault */
	double max_power_kw;
	struct ws_meter_limits limits;	/* resolved */
	struct ws_contactor_config contactor;
	struct ws_ev_sense_config ev_sense;
};

/* [ocpp]: the link to the operator's Central System (docs/ocpp.md). */
struct ws_ocpp_config {
	char url[512];			/* ws:// or wss://; "" = OCPP off */
	char identity[49];		/* charge point identity (ChargeBoxIdentity) */
	uint32_t security_profile;	/* 0..3; the OCPP key SecurityProfile overrides */
	char authorization_key[65];	/* profiles 1, 2: secret, never printed */
	char ca_file[PATH_MAX];		/* profiles 2, 3 */
	char client_cert_file[PATH_MAX]; /* profile 3 */
	char client_key_file[PATH_MAX];	/* profile 3 */
	char vendor[21];		/* BootNotification chargePointVendor */
	char model[21];			/* chargePointModel */
	char serial[26];		/* chargePointSerialNumber, "" = none */
};

/* [payment]: paid charging (docs/payments.md). */
struct ws_payment_config {
	bool enabled;
	char rpc_url[512];		/* Ethereum JSON-RPC endpoint */
	char deployment[PATH_MAX];	/* JSON written by contracts/scripts/deploy.mjs */
	char listen[64];		/* wallet endpoint address */
	uint32_t port;
	char endpoint[257];		/* URL in the offer; "" = ws://listen:port/wallet */
	uint64_t price_per_kwh;		/* token base units */
	uint32_t increment_wh;
	uint32_t prepaid_increments;
	uint32_t grace_s;
	uint64_t min_deposit;		/* token base units */
	char location[65];		/* geohash hint in the offer */
	char station_key_file[PATH_MAX];	/* "" = state_dir/station.key */
	char payee_key_file[PATH_MAX];		/* "" = state_dir/payee.key */
	char payee_address[43];		/* "0x…": claims submitted elsewhere; no payee key */
	char tls_cert_file[PATH_MAX];
	char tls_key_file[PATH_MAX];
	uint32_t watch_interval_s;	/* watchtower: close requests and pending claims */
	uint64_t claim_threshold;	/* partial claim once this much is unclaimed (base units) */
	uint32_t claim_batch_max;	/* channels per claimMany transaction */
};

struct ws_config {
	char path[PATH_MAX];		/* file read, "" if embedded defaults */
	char state_dir[PATH_MAX];
	char control_socket[WS_SOCKPATH_MAX];
	int log_level;			/* syslog priority */
	struct ws_ocpp_config ocpp;
	struct ws_payment_config payment;
	unsigned n_buses;
	struct ws_bus_config bus[WS_MAX_BUSES];
	unsigned n_connectors;
	struct ws_connector_config conn[WS_MAX_CONNECTORS];
	unsigned n_profiles;		/* generic profiles from [profile.NAME] */
	struct ws_meter_profile profiles[WS_MAX_PROFILES];
	int profile_line[WS_MAX_PROFILES];
};

#define WS_CONFIG_MAX_ERRORS 32

struct ws_config_errors {
	unsigned n;
	char msg[WS_CONFIG_MAX_ERRORS][320];	/* "file:line: text" */
};

/* Fills cfg with the embedded defaults (no file). */
void ws_config_defaults(struct ws_config *cfg);

/* Reads the INI file at path over the defaults and validates the result.
 * If the file does not exist and must_exist is false, the embedded defaults
 * are used.  Returns 0, or -EINVAL with errs filled (every error found, up
 * to WS_CONFIG_MAX_ERRORS), or -errno if the file cannot be read. */
int ws_config_load(struct ws_config *cfg, const char *path, bool must_exist,
		   struct ws_config_errors *errs)
	__attribute__((warn_unused_result));

/* Same, from a string (tests, fuzzing).  name is used in messages. */
int ws_config_load_string(struct ws_config *cfg, const char *text,
			  const char *name, struct ws_config_errors *errs)
	__attribute__((warn_unused_result));

/* Writes the effective configuration as an INI file that loads back to the
 * same configuration. */
void ws_config_print(const struct ws_config *cfg, FILE *out);

#endif
