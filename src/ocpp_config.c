/* ocpp_config.c: the charge point's OCPP configuration keys.
 *
 * A flat array of keys, looked up by a linear case-insensitive scan: about
 * fifty keys, read a few times per minute, so a scan (well under a
 * microsecond) beats keeping a hash.  Values are canonical strings parsed
 * on read by the typed accessors.  A change is one INSERT OR REPLACE in the
 * store (one WAL fsync, about a millisecond on flash); loading is one
 * SELECT per key at start. */
#include "wattstream/ocpp_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wattstream/store.h"

struct key {
	struct ocpp_config_def def;
	char *value;		/* in force */
	char *dflt;		/* default (owned) */
	bool stored;		/* value set by the Central System, in the store */
	ocpp_config_check_fn extra;	/* the daemon's, from set_check() */
	void *extra_userdata;
};

struct ocpp_config {
	struct ws_store *store;
	struct key *keys;
	size_t n, cap;
	bool loaded;		/* ocpp_config_load() ran: register() loads at once */
	ocpp_config_notify_fn notify;
	void *notify_userdata;
};

const char *const ocpp_config_measurands[] = {
	"Current.Export", "Current.Import", "Current.Offered",
	"Energy.Active.Export.Register", "Energy.Active.Import.Register",
	"Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
	"Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
	"Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval",
	"Frequency", "Power.Active.Export", "Power.Active.Import", "Power.Factor",
	"Power.Offered", "Power.Reactive.Export", "Power.Reactive.Import", "RPM",
	"SoC", "Temperature", "Voltage", NULL,
};

/* What the meter reads (enum ws_quantity): total import energy and power,
 * current and voltage (to neutral) per phase.  Errata 3.14.4: a list
 * naming anything else is Rejected. */
const char *const ocpp_config_measurands_supported[] = {
	"Energy.Active.Import.Register", "Power.Active.Import",
	"Current.Import", "Current.Import.L1", "Current.Import.L2", "Current.Import.L3",
	"Voltage", "Voltage.L1", "Voltage.L2", "Voltage.L3",
	"Voltage.L1-N", "Voltage.L2-N", "Voltage.L3-N", NULL,
};

static const char *const feature_profiles[] = {
	"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation",
	"SmartCharging", "RemoteTrigger", NULL,
};
static const char *const phase_rotations[] = {
	"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR", NULL,
};

static int check_phase_rotation(void *userdata, const char *key, const char *old,
				const char *value);
static int check_security_profile(void *userdata, const char *key, const char *old,
				  const char *value);

#define B(n, acc, d) { .name = n, .type = OCPP_CONFIG_BOOL, .access = acc, .default_value = d }
#define I(n, acc, d, lo, hi) { .name = n, .type = OCPP_CONFIG_INT, .access = acc, \
	.default_value = d, .min = lo, .max = hi }
#define MEAS(n, d, maxkey) { .name = n, .type = OCPP_CONFIG_CSL, .access = OCPP_CONFIG_RW, \
	.default_value = d, .members = ocpp_config_measurands_supported, .max_items_key = maxkey }
#define DAY_S 86400

/* Chapter 9 (edition 2 + errata 2019-12) and Security Whitepaper chapter 7.
 * Core keys the spec marks required: all 21.  Optional keys are listed only
 * where the charge point has the function (chapter 9: a present optional
 * key promises it); absent on purpose: BlinkRepeat, LightIntensity (no
 * lighting), MaxEnergyOnInvalidId, SupportedFeatureProfilesMaxLength
 * (errata 3.80), ConnectorSwitch3to1PhaseSupported, and the keys of the
 * profiles not implemented (SmartCharging, FirmwareManagement)
 * and of the whitepaper's certificate management (CpoName,
 * CertificateStoreMaxLength, ...): SupportedFeatureProfiles lists only what
 * the charge point does. */
static const struct ocpp_config_def std_keys[] = {
	/* Core, required */
	B("AuthorizeRemoteTxRequests", OCPP_CONFIG_RW, "false"),
	I("ClockAlignedDataInterval", OCPP_CONFIG_RW, "0", 0, DAY_S),
	I("ConnectionTimeOut", OCPP_CONFIG_RW, "60", 0, DAY_S),
	{ .name = "ConnectorPhaseRotation", .type = OCPP_CONFIG_CSL, .access = OCPP_CONFIG_RW,
	  .default_value = "1.Unknown", .max_items_key = "ConnectorPhaseRotationMaxLength",
	  .check = check_phase_rotation },
	I("GetConfigurationMaxKeys", OCPP_CONFIG_R, "64", 1, 1000),
	I("HeartbeatInterval", OCPP_CONFIG_RW, "300", 0, DAY_S),
	B("LocalAuthorizeOffline", OCPP_CONFIG_RW, "true"),
	B("LocalPreAuthorize", OCPP_CONFIG_RW, "false"),
	MEAS("MeterValuesAlignedData", "Energy.Active.Import.Register", "MeterValuesAlignedDataMaxLength"),
	MEAS("MeterValuesSampledData", "Energy.Active.Import.Register", "MeterValuesSampledDataMaxLength"),
	I("MeterValueSampleInterval", OCPP_CONFIG_RW, "60", 0, DAY_S),
	I("NumberOfConnectors", OCPP_CONFIG_R, "1", 1, 64),
	I("ResetRetries", OCPP_CONFIG_RW, "3", 0, 100),
	B("StopTransactionOnEVSideDisconnect", OCPP_CONFIG_RW, "true"),
	B("StopTransactionOnInvalidId", OCPP_CONFIG_RW, "true"),
	MEAS("StopTxnAlignedData", "", "StopTxnAlignedDataMaxLength"),
	MEAS("StopTxnSampledData", "", "StopTxnSampledDataMaxLength"),
	{ .name = "SupportedFeatureProfiles", .type = OCPP_CONFIG_CSL, .access = OCPP_CONFIG_R,
	  .default_value = "Core,LocalAuthListManagement,Reservation,RemoteTrigger",
	  .members = feature_profiles, .max_items = 6 },
	I("TransactionMessageAttempts", OCPP_CONFIG_RW, "3", 1, 100),
	I("TransactionMessageRetryInterval", OCPP_CONFIG_RW, "60", 0, DAY_S),
	B("UnlockConnectorOnEVSideDisconnect", OCPP_CONFIG_RW, "true"),
	/* Core, optional */
	B("AllowOfflineTxForUnknownId", OCPP_CONFIG_RW, "false"),
	B("AuthorizationCacheEnabled", OCPP_CONFIG_RW, "true"),
	I("ConnectorPhaseRotationMaxLength", OCPP_CONFIG_R, "65", 1, 65),
	I("MessageTimeout", OCPP_CONFIG_RW, "30", 1, 3600),	/* errata 3.82 */
	I("MeterValuesAlignedDataMaxLength", OCPP_CONFIG_R, "13", 1, 64),
	I("MeterValuesSampledDataMaxLength", OCPP_CONFIG_R, "13", 1, 64),
	I("MinimumStatusDuration", OCPP_CONFIG_RW, "0", 0, 3600),
	I("StopTransactionMaxMeterValues", OCPP_CONFIG_R, "500", 2, 10000), /* errata 3.89 */
	I("StopTxnAlignedDataMaxLength", OCPP_CONFIG_R, "13", 1, 64),
	I("StopTxnSampledDataMaxLength", OCPP_CONFIG_R, "13", 1, 64),
	I("WebSocketPingInterval", OCPP_CONFIG_RW, "60", 0, DAY_S),
	/* Local Auth List Management */
	B("LocalAuthListEnabled", OCPP_CONFIG_RW, "true"),
	I("LocalAuthListMaxLength", OCPP_CONFIG_R, "1000", 0, 100000),
	I("SendLocalListMaxLength", OCPP_CONFIG_R, "100", 0, 100000),
	/* Reservation */
	B("ReserveConnectorZeroSupported", OCPP_CONFIG_R, "false"),
	/* Security Whitepaper edition 2, chapter 7 */
	{ .name = "AuthorizationKey", .type = OCPP_CONFIG_STRING, .access = OCPP_CONFIG_W,
	  .default_value = "", .min_len = 16, .max_len = 40 },
	{ .name = "SecurityProfile", .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
	  .default_value = "0", .min = 0, .max = 3, .check = check_security_profile },
};

#define N_STD (sizeof(std_keys) / sizeof(std_keys[0]))

const char *ocpp_config_status_str(int result)
{
	switch (result) {
	case OCPP_CONFIG_OK: return "Accepted";
	case OCPP_CONFIG_REBOOT_REQUIRED: return "RebootRequired";
	case OCPP_CONFIG_E_REJECTED: return "Rejected";
	case OCPP_CONFIG_E_NOT_SUPPORTED: return "NotSupported";
	default: return NULL;
	}
}

int ocpp_config_parse_bool(const char *s, bool *ret)
{
	if (!s)
		return OCPP_CONFIG_E_REJECTED;
	if (strcasecmp(s, "true") == 0)
		*ret = true;
	else if (strcasecmp(s, "false") == 0)
		*ret = false;
	else
		return OCPP_CONFIG_E_REJECTED;
	return 0;
}

int ocpp_config_parse_int(const char *s, int64_t *ret)
{
	const char *p = s;
	bool neg = false;
	uint64_t v = 0;

	if (!p)
		return OCPP_CONFIG_E_REJECTED;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (!*p)
		return OCPP_CONFIG_E_REJECTED;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return OCPP_CONFIG_E_REJECTED;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > (uint64_t)INT64_MAX)	/* one digit at a time: no wrap */
			return OCPP_CONFIG_E_REJECTED;
	}
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static struct key *find(struct ocpp_config *cfg, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < cfg->n; i++)
		if (strcasecmp(cfg->keys[i].def.name, name) == 0)
			return &cfg->keys[i];
	return NULL;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool member_of(const char *const *members, const char *item, size_t len)
{
	for (; *members; members++)
		if (strlen(*members) == len && memcmp(*members, item, len) == 0)
			return true;
	return false;
}

static size_t max_items(struct ocpp_config *cfg, const struct ocpp_config_def *d)
{
	if (d->max_items_key) {
		struct key *k = find(cfg, d->max_items_key);
		int64_t v;
		if (!k)
			return SIZE_MAX;	/* a vendor key naming no key: no limit */
		if (ocpp_config_parse_int(k->value, &v) == 0 && v > 0)
			return (size_t)v;
		return 0;
	}
	return d->max_items ? d->max_items : SIZE_MAX;
}

/* Checks value against d's type and limits and writes its canonical form
 * to out[OCPP_CONFIG_VALUE_MAX + 1].  Returns 0 or OCPP_CONFIG_E_REJECTED. */
static int canonical(struct ocpp_config *cfg, const struct ocpp_config_def *d,
		     const char *value, char *out)
{
	size_t len;

	if (!value || (len = strlen(value)) > OCPP_CONFIG_VALUE_MAX || !printable(value))
		return OCPP_CONFIG_E_REJECTED;
	switch (d->type) {
	case OCPP_CONFIG_BOOL: {
		bool b;
		if (ocpp_config_parse_bool(value, &b) != 0)
			return OCPP_CONFIG_E_REJECTED;
		strcpy(out, b ? "true" : "false");
		return 0;
	}
	case OCPP_CONFIG_INT: {
		int64_t v;
		if (ocpp_config_parse_int(value, &v) != 0 || v < d->min || v > d->max)
			return OCPP_CONFIG_E_REJECTED;
		snprintf(out, OCPP_CONFIG_VALUE_MAX + 1, "%" PRId64, v);
		return 0;
	}
	case OCPP_CONFIG_STRING:
		if (len < d->min_len || len > d->max_len)
			return OCPP_CONFIG_E_REJECTED;
		memcpy(out, value, len + 1);
		return 0;
	case OCPP_CONFIG_CSL: {
		/* items trimmed of blanks, none empty, no repeats */
		size_t n = 0, o = 0, limit = max_items(cfg, d);
		const char *p = value;
		out[0] = '\0';
		if (strspn(value, " \t") == len)
			return 0;	/* the empty list (errata 3.14.5) */
		for (;;) {
			const char *end = strchr(p, ',');
			size_t il;
			if (!end)
				end = p + strlen(p);
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			il = (size_t)(end - p);
			while (il && (p[il - 1] == ' ' || p[il - 1] == '\t'))
				il--;
			if (il == 0)
				return OCPP_CONFIG_E_REJECTED;
			if (d->members && !member_of(d->members, p, il))
				return OCPP_CONFIG_E_REJECTED;
			/* repeated item? */
			for (size_t s = 0; s < o;) {
				size_t e = s;
				while (e < o && out[e] != ',')
					e++;
				if (e - s == il && memcmp(out + s, p, il) == 0)
					return OCPP_CONFIG_E_REJECTED;
				s = e + 1;
			}
			if (++n > limit)
				return OCPP_CONFIG_E_REJECTED;
			if (o)
				out[o++] = ',';
			memcpy(out + o, p, il);	/* o + il <= len: fits */
			o += il;
			out[o] = '\0';
			if (!*end)
				break;
			p = end + 1;
		}
		return 0;
	}
	}
	return OCPP_CONFIG_E_REJECTED;
}

/* Type, limits and the key's extra check against the value in force. */
static int validate(struct ocpp_config *cfg, struct key *k, const char *value, char *out)
{
	if (canonical(cfg, &k->def, value, out) != 0)
		return OCPP_CONFIG_E_REJECTED;
	if (k->def.check && k->def.check(k->def.check_userdata, k->def.name,
					  k->value, out) != 0)
		return OCPP_CONFIG_E_REJECTED;
	if (k->extra && k->extra(k->extra_userdata, k->def.name, k->value, out) != 0)
		return OCPP_CONFIG_E_REJECTED;
	return 0;
}

/* "<connector>.<rotation>" items, connector 0 (grid) up to
 * NumberOfConnectors, each connector once. */
static int check_phase_rotation(void *userdata, const char *key, const char *old,
				const char *value)
{
	struct ocpp_config *cfg = userdata;
	int64_t nconn = ocpp_config_int(cfg, "NumberOfConnectors");
	bool seen[65] = { false };	/* NumberOfConnectors <= 64 */
	const char *p = value;

	(void)key;
	(void)old;
	while (*p) {
		const char *dot = strchr(p, '.'), *end = strchr(p, ',');
		char num[8];
		int64_t c;
		if (!end)
			end = p + strlen(p);
		if (!dot || dot > end || dot == p || (size_t)(dot - p) >= sizeof(num))
			return 1;
		memcpy(num, p, (size_t)(dot - p));
		num[dot - p] = '\0';
		if (num[0] == '-' || ocpp_config_parse_int(num, &c) != 0 || c > nconn ||
		    c >= (int64_t)(sizeof(seen) / sizeof(seen[0])) || seen[c])
			return 1;
		seen[c] = true;
		if (!member_of(phase_rotations, dot + 1, (size_t)(end - dot - 1)))
			return 1;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Whitepaper 7.6: the profile only goes up.  The prerequisites of a higher
 * profile (certificates, AuthorizationKey) are checked by the function the
 * daemon adds with set_check(), after this one. */
static int check_security_profile(void *userdata, const char *key, const char *old,
				  const char *value)
{
	int64_t o, v;

	(void)userdata;
	(void)key;
	if (ocpp_config_parse_int(old, &o) != 0 || ocpp_config_parse_int(value, &v) != 0)
		return 1;
	return v < o;
}

static int store_load(struct ocpp_config *cfg, struct key *k)
{
	sqlite3_stmt *st;
	char canon[OCPP_CONFIG_VALUE_MAX + 1];
	int rc;

	if (!cfg->store || k->def.access == OCPP_CONFIG_R)
		return 0;
	if (sqlite3_prepare_v2(store_db(cfg->store),
			       "SELECT value FROM ocpp_config WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, k->def.name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		/* a tampered or outdated value is ignored: the default stays */
		if (v && validate(cfg, k, v, canon) == 0) {
			char *copy = strdup(canon);
			if (!copy) {
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			free(k->value);
			k->value = copy;
			k->stored = true;
		}
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int store_save(struct ocpp_config *cfg, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc;

	if (!cfg->store)
		return 0;
	if (sqlite3_prepare_v2(store_db(cfg->store),
			       "INSERT OR REPLACE INTO ocpp_config(key, value) VALUES (?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Adds a key without loading its stored value. */
static int add(struct ocpp_config *cfg, const struct ocpp_config_def *def)
{
	char canon[OCPP_CONFIG_VALUE_MAX + 1];
	struct key *k;

	if (!def->name || !def->name[0] || strlen(def->name) > OCPP_CONFIG_KEY_MAX ||
	    !printable(def->name) || strchr(def->name, ',') || !def->default_value)
		return OCPP_CONFIG_E_INVALID;
	if (def->access < OCPP_CONFIG_R || def->access > OCPP_CONFIG_W)
		return OCPP_CONFIG_E_INVALID;
	switch (def->type) {
	case OCPP_CONFIG_BOOL:
	case OCPP_CONFIG_CSL:
		break;
	case OCPP_CONFIG_INT:
		if (def->min > def->max)
			return OCPP_CONFIG_E_INVALID;
		break;
	case OCPP_CONFIG_STRING:
		if (def->max_len > OCPP_CONFIG_VALUE_MAX || def->min_len > def->max_len)
			return OCPP_CONFIG_E_INVALID;
		break;
	default:
		return OCPP_CONFIG_E_INVALID;
	}
	if (find(cfg, def->name))
		return OCPP_CONFIG_E_EXISTS;
	if (cfg->n == cfg->cap)
		return OCPP_CONFIG_E_INVALID;	/* more than OCPP_CONFIG_VENDOR_MAX */
	k = &cfg->keys[cfg->n];
	memset(k, 0, sizeof(*k));
	k->def = *def;
	if (k->def.check == check_phase_rotation || k->def.check == check_security_profile)
		k->def.check_userdata = cfg;
	/* "" stands for "not configured" in a string key (AuthorizationKey) */
	if (def->type == OCPP_CONFIG_STRING && !def->default_value[0])
		canon[0] = '\0';
	else if (canonical(cfg, &k->def, def->default_value, canon) != 0)
		return OCPP_CONFIG_E_INVALID;
	k->dflt = strdup(canon);
	k->value = strdup(canon);
	if (!k->dflt || !k->value) {
		free(k->dflt);
		free(k->value);
		return -ENOMEM;
	}
	cfg->n++;
	return 0;
}

int ocpp_config_new(struct ocpp_config **ret, struct ws_store *store)
{
	struct ocpp_config *cfg = calloc(1, sizeof(*cfg));
	int r = -ENOMEM;

	if (!cfg)
		return -ENOMEM;
	cfg->store = store;
	cfg->cap = N_STD + OCPP_CONFIG_VENDOR_MAX;
	cfg->keys = calloc(cfg->cap, sizeof(*cfg->keys));
	if (!cfg->keys)
		goto fail;
	for (size_t i = 0; i < N_STD; i++) {
		r = add(cfg, &std_keys[i]);
		if (r != 0) {
			r = r < 0 ? r : -EINVAL;	/* a broken table is a bug */
			goto fail;
		}
	}
	*ret = cfg;
	return 0;
fail:
	ocpp_config_free(cfg);
	return r;
}

struct ocpp_config *ocpp_config_free(struct ocpp_config *cfg)
{
	if (cfg) {
		for (size_t i = 0; i < cfg->n; i++) {
			free(cfg->keys[i].value);
			free(cfg->keys[i].dflt);
		}
		free(cfg->keys);
		free(cfg);
	}
	return NULL;
}

int ocpp_config_load(struct ocpp_config *cfg)
{
	/* table order: the read-only limits and NumberOfConnectors, which the
	 * list checks read, are never loaded, so the order does not matter */
	for (size_t i = 0; i < cfg->n; i++) {
		int r = store_load(cfg, &cfg->keys[i]);
		if (r < 0)
			return r;
	}
	cfg->loaded = true;
	return 0;
}

int ocpp_config_register(struct ocpp_config *cfg, const struct ocpp_config_def *def)
{
	int r = add(cfg, def);

	if (r != 0 || !cfg->loaded)
		return r;
	r = store_load(cfg, &cfg->keys[cfg->n - 1]);
	if (r < 0) {
		struct key *k = &cfg->keys[--cfg->n];
		free(k->value);
		free(k->dflt);
	}
	return r;
}

int ocpp_config_set_default(struct ocpp_config *cfg, const char *key, const char *value)
{
	char canon[OCPP_CONFIG_VALUE_MAX + 1];
	struct key *k = find(cfg, key);
	char *d, *v = NULL;

	if (!k)
		return OCPP_CONFIG_E_NOT_SUPPORTED;
	if (canonical(cfg, &k->def, value, canon) != 0)
		return OCPP_CONFIG_E_INVALID;
	d = strdup(canon);
	if (!d || (!k->stored && !(v = strdup(canon)))) {
		free(d);
		return -ENOMEM;
	}
	free(k->dflt);
	k->dflt = d;
	if (!k->stored) {
		free(k->value);
		k->value = v;
	}
	return 0;
}

int ocpp_config_set_check(struct ocpp_config *cfg, const char *key,
			  ocpp_config_check_fn check, void *userdata)
{
	struct key *k = find(cfg, key);

	if (!k)
		return OCPP_CONFIG_E_NOT_SUPPORTED;
	k->extra = check;
	k->extra_userdata = userdata;
	return 0;
}

void ocpp_config_set_notify(struct ocpp_config *cfg, ocpp_config_notify_fn fn,
			    void *userdata)
{
	cfg->notify = fn;
	cfg->notify_userdata = userdata;
}

int ocpp_config_get(struct ocpp_config *cfg, const char *key, const char **value)
{
	struct key *k = find(cfg, key);

	if (!k)
		return OCPP_CONFIG_E_NOT_SUPPORTED;
	*value = k->value;
	return 0;
}

int64_t ocpp_config_int(struct ocpp_config *cfg, const char *key)
{
	struct key *k = find(cfg, key);
	int64_t v;

	if (!k || k->def.type != OCPP_CONFIG_INT || ocpp_config_parse_int(k->value, &v) != 0)
		return 0;
	return v;
}

bool ocpp_config_bool(struct ocpp_config *cfg, const char *key)
{
	struct key *k = find(cfg, key);
	bool b;

	if (!k || k->def.type != OCPP_CONFIG_BOOL || ocpp_config_parse_bool(k->value, &b) != 0)
		return false;
	return b;
}

const char *ocpp_config_str(struct ocpp_config *cfg, const char *key)
{
	struct key *k = find(cfg, key);

	return k ? k->value : "";
}

bool ocpp_config_list_has(struct ocpp_config *cfg, const char *key, const char *item)
{
	struct key *k = find(cfg, key);
	size_t il = item ? strlen(item) : 0;

	if (!k || k->def.type != OCPP_CONFIG_CSL || il == 0)
		return false;
	for (const char *p = k->value; *p;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) == il && memcmp(p, item, il) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

int ocpp_config_get_configuration(struct ocpp_config *cfg, const char *const *keys,
				  size_t n_keys, struct ocpp_config_report *out)
{
	struct ocpp_config_report r = { 0 };
	size_t cap = n_keys ? n_keys : cfg->n;

	if (n_keys > (uint64_t)ocpp_config_int(cfg, "GetConfigurationMaxKeys"))
		return OCPP_CONFIG_E_TOO_MANY_KEYS;
	r.known = calloc(cap ? cap : 1, sizeof(*r.known));
	r.unknown = calloc(cap ? cap : 1, sizeof(*r.unknown));
	if (!r.known || !r.unknown) {
		ocpp_config_report_clear(&r);
		return -ENOMEM;
	}
	if (n_keys == 0) {
		for (size_t i = 0; i < cfg->n; i++) {
			struct key *k = &cfg->keys[i];
			if (k->def.access == OCPP_CONFIG_W)
				continue;
			r.known[r.n_known++] = (struct ocpp_config_kv){
				k->def.name, k->def.access == OCPP_CONFIG_R, k->value };
		}
	} else {
		for (size_t i = 0; i < n_keys; i++) {
			struct key *k = find(cfg, keys[i]);
			bool dup = false;
			/* a key asked twice is reported once */
			for (size_t j = 0; j < i && !dup; j++)
				dup = keys[j] && keys[i] && strcasecmp(keys[j], keys[i]) == 0;
			if (dup || !keys[i])
				continue;
			if (!k || k->def.access == OCPP_CONFIG_W)
				r.unknown[r.n_unknown++] = keys[i];
			else
				r.known[r.n_known++] = (struct ocpp_config_kv){
					k->def.name, k->def.access == OCPP_CONFIG_R, k->value };
		}
	}
	*out = r;
	return 0;
}

void ocpp_config_report_clear(struct ocpp_config_report *r)
{
	free(r->known);
	free(r->unknown);
	memset(r, 0, sizeof(*r));
}

int ocpp_config_change(struct ocpp_config *cfg, const char *key, const char *value)
{
	char canon[OCPP_CONFIG_VALUE_MAX + 1];
	struct key *k;
	char *copy;
	int r;

	if (!key || strlen(key) > OCPP_CONFIG_KEY_MAX || !(k = find(cfg, key)))
		return OCPP_CONFIG_E_NOT_SUPPORTED;
	if (k->def.access == OCPP_CONFIG_R)
		return OCPP_CONFIG_E_REJECTED;
	if (validate(cfg, k, value, canon) != 0)
		return OCPP_CONFIG_E_REJECTED;
	copy = strdup(canon);
	if (!copy)
		return -ENOMEM;
	r = store_save(cfg, k->def.name, canon);
	if (r < 0) {
		free(copy);
		return r;
	}
	if (k->def.flags & OCPP_CONFIG_F_REBOOT) {
		free(copy);	/* in force from the next start, read from the store */
		return OCPP_CONFIG_REBOOT_REQUIRED;
	}
	free(k->value);
	k->value = copy;
	k->stored = true;
	if (cfg->notify)
		cfg->notify(cfg->notify_userdata, k->def.name);
	return OCPP_CONFIG_OK;
}
