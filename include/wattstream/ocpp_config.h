/* ocpp_config.h: the OCPP 1.6 configuration keys of the charge point
 * (spec chapter 9 with the 2019-12 errata, Security Whitepaper chapter 7)
 * and the vendor keys other modules register.
 *
 * One table of key definitions (type, access, reboot flag, default,
 * limits); values are kept as canonical strings ("true"/"false", decimal
 * integers without leading zeros, comma-separated lists without blanks).
 * Every value the Central System sets through ChangeConfiguration is
 * written to the store (table ocpp_config) before it takes effect and
 * loaded again at start; everything else is the default, which the daemon
 * may replace at start from its INI file (ocpp_config_set_default).
 *
 * Key names are CiString50: looked up case-insensitively, reported with
 * their canonical spelling.  AuthorizationKey is write-only: no report ever
 * contains it, and the change callback is given its name, never its value.
 * Pure module: no logging, no I/O except the store; single-threaded (event
 * loop).  See docs/ocpp-config.md. */
#ifndef WATTSTREAM_OCPP_CONFIG_H
#define WATTSTREAM_OCPP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_store;
struct ocpp_config;

#define OCPP_CONFIG_KEY_MAX    50   /* CiString50Type: key of Get/ChangeConfiguration */
#define OCPP_CONFIG_VALUE_MAX  500  /* CiString500Type: value of Get/ChangeConfiguration */
#define OCPP_CONFIG_VENDOR_MAX 64   /* vendor keys that can be registered */

/* Results.  0 and OCPP_CONFIG_REBOOT_REQUIRED mean the value was stored;
 * the others are expected outcomes the caller answers with. */
enum ocpp_config_result {
	OCPP_CONFIG_OK = 0,			/* ChangeConfiguration: Accepted */
	OCPP_CONFIG_REBOOT_REQUIRED = 1,	/* stored, active after restart */
	OCPP_CONFIG_E_REJECTED = 2,		/* bad value, read-only key, validator said no */
	OCPP_CONFIG_E_NOT_SUPPORTED = 3,	/* unknown key */
	OCPP_CONFIG_E_TOO_MANY_KEYS = 4,	/* GetConfiguration with more than GetConfigurationMaxKeys */
	OCPP_CONFIG_E_INVALID = 5,		/* bad definition given to register/set_default */
	OCPP_CONFIG_E_EXISTS = 6,		/* register: the name is taken */
};

/* "Accepted", "RebootRequired", "Rejected", "NotSupported" for the first
 * four results (ChangeConfiguration.conf status); NULL otherwise. */
const char *ocpp_config_status_str(int result);

enum ocpp_config_type {
	OCPP_CONFIG_BOOL = 1,	/* "true" / "false", parsed case-insensitively */
	OCPP_CONFIG_INT,	/* decimal, optional '-', within [min, max] */
	OCPP_CONFIG_STRING,	/* printable ASCII, length within [min_len, max_len] */
	OCPP_CONFIG_CSL,	/* comma-separated list of members, at most max_items */
};

enum ocpp_config_access {
	OCPP_CONFIG_R = 1,	/* read-only: ChangeConfiguration is Rejected */
	OCPP_CONFIG_RW,		/* read-write */
	OCPP_CONFIG_W,		/* write-only: never reported (AuthorizationKey) */
};

#define OCPP_CONFIG_F_REBOOT 0x1u /* a change is answered RebootRequired */

/* Extra check on a value that already passed its type check.  Returns 0 to
 * accept, nonzero to reject.  old is the value in force. */
typedef int (*ocpp_config_check_fn)(void *userdata, const char *key,
				    const char *old, const char *value);

struct ocpp_config_def {
	const char *name;		/* at most OCPP_CONFIG_KEY_MAX chars */
	enum ocpp_config_type type;
	enum ocpp_config_access access;
	unsigned flags;			/* OCPP_CONFIG_F_* */
	const char *default_value;	/* must pass the checks below */
	int64_t min, max;		/* OCPP_CONFIG_INT */
	size_t min_len, max_len;	/* OCPP_CONFIG_STRING; max_len <= 500 */
	/* OCPP_CONFIG_CSL: allowed members (NULL-terminated; NULL: any token
	 * of printable ASCII without ','), and the item limit: max_items, or,
	 * if max_items_key is set, the integer value of that key. */
	const char *const *members;
	size_t max_items;
	const char *max_items_key;
	ocpp_config_check_fn check;	/* optional */
	void *check_userdata;
};

/* Called after a change took effect (not for RebootRequired).  key is the
 * canonical name; read the value with the accessors below. */
typedef void (*ocpp_config_notify_fn)(void *userdata, const char *key);

/* Order at start: ocpp_config_new(), ocpp_config_set_default() for what
 * the INI file fixes (NumberOfConnectors...), ocpp_config_load(), then
 * ocpp_config_register() of vendor keys at any time.
 *
 * Builds the standard table with its defaults.  store may be NULL: nothing
 * is persisted (tests).  Returns 0 and *ret, or -ENOMEM.  The store must
 * outlive cfg. */
int ocpp_config_new(struct ocpp_config **ret, struct ws_store *store);
struct ocpp_config *ocpp_config_free(struct ocpp_config *cfg);

/* Loads the values the Central System set before.  A stored value that
 * does not pass today's checks (tampered file, limits lowered, key now
 * read-only) is ignored: the default stays.  Returns 0 or -EIO / -ENOMEM. */
int ocpp_config_load(struct ocpp_config *cfg);

/* Registers a vendor key (the tariff keys of the payments module...).  The
 * definition's strings must stay valid for cfg's lifetime (static tables).
 * After ocpp_config_load(), its stored value is loaded at once.  Returns 0,
 * OCPP_CONFIG_E_INVALID (bad name, type, limits or default),
 * OCPP_CONFIG_E_EXISTS, or -errno. */
int ocpp_config_register(struct ocpp_config *cfg, const struct ocpp_config_def *def);

/* Replaces a key's default (the daemon's INI values: NumberOfConnectors,
 * SupportedFeatureProfiles...).  A value the Central System set stays in
 * force.  Returns 0, OCPP_CONFIG_E_NOT_SUPPORTED or OCPP_CONFIG_E_INVALID
 * (the value does not pass the key's checks). */
int ocpp_config_set_default(struct ocpp_config *cfg, const char *key, const char *value);

/* Sets (replaces) an extra check of a key, run after its built-in ones:
 * SecurityProfile's prerequisites (certificates present) are the daemon's
 * to know.  Returns 0 or OCPP_CONFIG_E_NOT_SUPPORTED. */
int ocpp_config_set_check(struct ocpp_config *cfg, const char *key,
			  ocpp_config_check_fn check, void *userdata);

void ocpp_config_set_notify(struct ocpp_config *cfg, ocpp_config_notify_fn fn,
			    void *userdata);

/* The value in force, by (case-insensitive) name, write-only keys
 * included: the transport needs AuthorizationKey.  Returns 0 and *value
 * (owned by cfg, valid until the next change of that key) or
 * OCPP_CONFIG_E_NOT_SUPPORTED. */
int ocpp_config_get(struct ocpp_config *cfg, const char *key, const char **value);

/* Typed accessors for keys the caller knows exist with that type; a wrong
 * name or type is a programming error and gives 0 / false / "". */
int64_t ocpp_config_int(struct ocpp_config *cfg, const char *key);
bool ocpp_config_bool(struct ocpp_config *cfg, const char *key);
const char *ocpp_config_str(struct ocpp_config *cfg, const char *key);
/* Whether the CSL key's value contains item (exact match). */
bool ocpp_config_list_has(struct ocpp_config *cfg, const char *key, const char *item);

/* GetConfiguration.conf, pointing into cfg (valid until the next change)
 * and into the request's key strings (unknown). */
struct ocpp_config_kv {
	const char *key;
	bool readonly;
	const char *value;
};

struct ocpp_config_report {
	struct ocpp_config_kv *known;
	size_t n_known;
	const char **unknown;	/* unknownKey, as the request spelled them */
	size_t n_unknown;
};

/* GetConfiguration.req: n_keys == 0 reports every readable key; otherwise
 * each requested key once, readable keys in known, unknown and write-only
 * ones in unknown (the CSMS cannot tell a hidden key from a missing one).
 * Returns 0 and fills *out (free with ocpp_config_report_clear),
 * OCPP_CONFIG_E_TOO_MANY_KEYS when n_keys > GetConfigurationMaxKeys (the
 * caller answers a CALLERROR OccurenceConstraintViolation), or -ENOMEM. */
int ocpp_config_get_configuration(struct ocpp_config *cfg, const char *const *keys,
				  size_t n_keys, struct ocpp_config_report *out);
void ocpp_config_report_clear(struct ocpp_config_report *r);

/* ChangeConfiguration.req.  Checks the value against the key's type, limits
 * and check function, writes it to the store, makes it the value in force
 * and calls the notify callback.  Returns OCPP_CONFIG_OK (Accepted),
 * OCPP_CONFIG_REBOOT_REQUIRED (stored; the value in force changes at the
 * next start), OCPP_CONFIG_E_REJECTED, OCPP_CONFIG_E_NOT_SUPPORTED, or
 * -EIO when the store failed (nothing changed; answer Rejected). */
int ocpp_config_change(struct ocpp_config *cfg, const char *key, const char *value)
	__attribute__((warn_unused_result));

/* Parsers of the spec's types, exported for the other OCPP modules.
 * Return 0 or OCPP_CONFIG_E_REJECTED. */
int ocpp_config_parse_bool(const char *s, bool *ret) __attribute__((warn_unused_result));
int ocpp_config_parse_int(const char *s, int64_t *ret) __attribute__((warn_unused_result));

/* The measurands of OCPP 1.6 section 7.31 (NULL-terminated), and the ones
 * this charge point's meter provides (what the four measurand lists
 * accept, each optionally with a phase suffix: ".L1", ".L1-N" ...). */
extern const char *const ocpp_config_measurands[];
extern const char *const ocpp_config_measurands_supported[];

#endif
