/* test-ocpp_config.c: the key table against spec chapter 9, parsing of the
 * spec's types with malformed values, every Rejected / NotSupported path,
 * GetConfiguration (all, some, unknown, write-only, too many), vendor keys,
 * RebootRequired, and persistence across store_close/store_open including
 * tampered stored values. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "wattstream/ocpp_config.h"
#include "wattstream/store.h"

static char notified[64];
static int n_notified;

static void on_change(void *userdata, const char *key)
{
	(void)userdata;
	snprintf(notified, sizeof(notified), "%s", key);
	n_notified++;
}

static int refuse_three(void *userdata, const char *key, const char *old, const char *value)
{
	(void)userdata;
	(void)key;
	(void)old;
	return strcmp(value, "3") == 0;
}

static int tariff_check(void *userdata, const char *key, const char *old, const char *value)
{
	int *calls = userdata;
	(void)key;
	(void)old;
	(*calls)++;
	return strcmp(value, "EUR") != 0 && strcmp(value, "USD") != 0;
}

/* The 21 keys chapter 9.1 marks "required", with the spec's access. */
static const struct {
	const char *name;
	bool readonly;
} core_required[] = {
	{ "AuthorizeRemoteTxRequests", false },	/* R or RW: we chose RW */
	{ "ClockAlignedDataInterval", false },
	{ "ConnectionTimeOut", false },
	{ "ConnectorPhaseRotation", false },
	{ "GetConfigurationMaxKeys", true },
	{ "HeartbeatInterval", false },
	{ "LocalAuthorizeOffline", false },
	{ "LocalPreAuthorize", false },
	{ "MeterValuesAlignedData", false },
	{ "MeterValuesSampledData", false },
	{ "MeterValueSampleInterval", false },
	{ "NumberOfConnectors", true },
	{ "ResetRetries", false },
	{ "StopTransactionOnEVSideDisconnect", false },
	{ "StopTransactionOnInvalidId", false },
	{ "StopTxnAlignedData", false },
	{ "StopTxnSampledData", false },
	{ "SupportedFeatureProfiles", true },
	{ "TransactionMessageAttempts", false },
	{ "TransactionMessageRetryInterval", false },
	{ "UnlockConnectorOnEVSideDisconnect", false },
};

static const struct ocpp_config_kv *report_find(const struct ocpp_config_report *r,
						const char *key)
{
	for (size_t i = 0; i < r->n_known; i++)
		if (strcmp(r->known[i].key, key) == 0)
			return &r->known[i];
	return NULL;
}

static void test_table(struct ocpp_config *cfg)
{
	struct ocpp_config_report r;
	const struct ocpp_config_kv *kv;

	CHECK_INT(sizeof(core_required) / sizeof(core_required[0]), 21);
	CHECK_INT(ocpp_config_get_configuration(cfg, NULL, 0, &r), 0);
	for (size_t i = 0; i < 21; i++) {
		kv = report_find(&r, core_required[i].name);
		CHECK(kv != NULL);
		if (kv)
			CHECK_INT(kv->readonly, core_required[i].readonly);
	}
	/* optional keys present because the functions are there */
	CHECK(report_find(&r, "AllowOfflineTxForUnknownId") != NULL);
	CHECK(report_find(&r, "AuthorizationCacheEnabled") != NULL);
	CHECK(report_find(&r, "WebSocketPingInterval") != NULL);
	CHECK(report_find(&r, "LocalAuthListEnabled") != NULL);
	CHECK(report_find(&r, "SecurityProfile") != NULL);
	/* the keys of profiles not implemented are absent: a key promises its function */
	CHECK(report_find(&r, "ChargeProfileMaxStackLevel") == NULL);
	CHECK(report_find(&r, "ReserveConnectorZeroSupported") != NULL);
	CHECK(report_find(&r, "CpoName") == NULL);
	/* absent on purpose (no lighting) and write-only */
	CHECK(report_find(&r, "BlinkRepeat") == NULL);
	CHECK(report_find(&r, "AuthorizationKey") == NULL);
	/* every report fits GetConfiguration.conf */
	for (size_t i = 0; i < r.n_known; i++) {
		CHECK(strlen(r.known[i].key) <= OCPP_CONFIG_KEY_MAX);
		CHECK(strlen(r.known[i].value) <= OCPP_CONFIG_VALUE_MAX);
	}
	CHECK(r.n_known <= (size_t)ocpp_config_int(cfg, "GetConfigurationMaxKeys"));
	CHECK_INT(r.n_unknown, 0);
	ocpp_config_report_clear(&r);

	/* defaults through the typed accessors */
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 300);
	CHECK_INT(ocpp_config_int(cfg, "heartbeatinterval"), 300);	/* CiString */
	CHECK_INT(ocpp_config_int(cfg, "TransactionMessageAttempts"), 3);
	CHECK_INT(ocpp_config_int(cfg, "NumberOfConnectors"), 1);
	CHECK_INT(ocpp_config_bool(cfg, "LocalAuthorizeOffline"), 1);
	CHECK_INT(ocpp_config_bool(cfg, "AllowOfflineTxForUnknownId"), 0);
	CHECK_STR(ocpp_config_str(cfg, "MeterValuesSampledData"), "Energy.Active.Import.Register");
	CHECK_STR(ocpp_config_str(cfg, "StopTxnSampledData"), "");
	CHECK(ocpp_config_list_has(cfg, "SupportedFeatureProfiles", "Core"));
	CHECK(ocpp_config_list_has(cfg, "SupportedFeatureProfiles", "RemoteTrigger"));
	CHECK(ocpp_config_list_has(cfg, "SupportedFeatureProfiles", "LocalAuthListManagement"));
	CHECK(!ocpp_config_list_has(cfg, "SupportedFeatureProfiles", "SmartCharging"));
	CHECK(!ocpp_config_list_has(cfg, "SupportedFeatureProfiles", "Cor"));
	/* wrong type or name: the neutral value */
	CHECK_INT(ocpp_config_int(cfg, "LocalPreAuthorize"), 0);
	CHECK_INT(ocpp_config_int(cfg, "NoSuchKey"), 0);
	CHECK_INT(ocpp_config_bool(cfg, "HeartbeatInterval"), 0);
	CHECK_STR(ocpp_config_str(cfg, "NoSuchKey"), "");
	/* measurand tables: the supported ones are real measurands (+ phase) */
	for (int i = 0; ocpp_config_measurands_supported[i]; i++) {
		const char *m = ocpp_config_measurands_supported[i];
		bool found = false;
		for (int j = 0; ocpp_config_measurands[j]; j++) {
			size_t l = strlen(ocpp_config_measurands[j]);
			if (strncmp(m, ocpp_config_measurands[j], l) == 0 &&
			    (m[l] == '\0' || m[l] == '.'))
				found = true;
		}
		CHECK(found);
	}
}

static void test_parsers(void)
{
	bool b = false;
	int64_t v = 0;

	CHECK_INT(ocpp_config_parse_bool("TRUE", &b), 0);
	CHECK(b);
	CHECK_INT(ocpp_config_parse_bool("fAlSe", &b), 0);
	CHECK(!b);
	const char *bad_bool[] = { "", "1", "0", "yes", "true ", " true", "tru", "truee", NULL };
	for (int i = 0; bad_bool[i]; i++)
		CHECK_INT(ocpp_config_parse_bool(bad_bool[i], &b), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_parse_bool(NULL, &b), OCPP_CONFIG_E_REJECTED);

	CHECK_INT(ocpp_config_parse_int("0", &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(ocpp_config_parse_int("-42", &v), 0);
	CHECK_INT(v, -42);
	CHECK_INT(ocpp_config_parse_int("007", &v), 0);
	CHECK_INT(v, 7);
	CHECK_INT(ocpp_config_parse_int("9223372036854775807", &v), 0);
	CHECK(v == INT64_MAX);
	const char *bad_int[] = { "", "-", "+5", " 5", "5 ", "0x10", "1e3", "1.0", "12a",
				  "9223372036854775808", "99999999999999999999", "--1", NULL };
	for (int i = 0; bad_int[i]; i++)
		CHECK_INT(ocpp_config_parse_int(bad_int[i], &v), OCPP_CONFIG_E_REJECTED);
}

static void test_change(struct ocpp_config *cfg)
{
	const char *v;
	char big[OCPP_CONFIG_VALUE_MAX + 2];

	ocpp_config_set_notify(cfg, on_change, NULL);
	CHECK_INT(ocpp_config_change(cfg, "HeartbeatInterval", "120"), OCPP_CONFIG_OK);
	CHECK_STR(notified, "HeartbeatInterval");
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 120);
	CHECK_INT(ocpp_config_change(cfg, "heartbeatINTERVAL", "0060"), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_get(cfg, "HeartbeatInterval", &v), 0);
	CHECK_STR(v, "60");	/* canonical form */
	CHECK_INT(ocpp_config_change(cfg, "LocalPreAuthorize", "TRUE"), OCPP_CONFIG_OK);
	CHECK_STR(ocpp_config_str(cfg, "LocalPreAuthorize"), "true");
	CHECK(ocpp_config_bool(cfg, "LocalPreAuthorize"));

	/* NotSupported */
	CHECK_INT(ocpp_config_change(cfg, "NoSuchKey", "1"), OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_change(cfg, NULL, "1"), OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_change(cfg, "", "1"), OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_change(cfg, "BlinkRepeat", "3"), OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_change(cfg, "HeartbeatIntervalHeartbeatIntervalHeartbeatIntervalX",
				     "5"), OCPP_CONFIG_E_NOT_SUPPORTED);

	/* Rejected: read-only keys */
	n_notified = 0;
	CHECK_INT(ocpp_config_change(cfg, "NumberOfConnectors", "2"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "GetConfigurationMaxKeys", "5"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "SupportedFeatureProfiles", "Core"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_int(cfg, "NumberOfConnectors"), 1);

	/* Rejected: malformed integers and out of range */
	const char *bad_int[] = { "", "abc", "12a", " 5", "+5", "0x10", "1e3", "3.5",
				  "99999999999999999999", "-1", "86401", NULL };
	for (int i = 0; bad_int[i]; i++)
		CHECK_INT(ocpp_config_change(cfg, "HeartbeatInterval", bad_int[i]),
			  OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "HeartbeatInterval", NULL), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WebSocketPingInterval", "-5"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "TransactionMessageAttempts", "0"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 60);

	/* Rejected: booleans */
	const char *bad_bool[] = { "1", "yes", "", "true ", "on", NULL };
	for (int i = 0; bad_bool[i]; i++)
		CHECK_INT(ocpp_config_change(cfg, "LocalAuthorizeOffline", bad_bool[i]),
			  OCPP_CONFIG_E_REJECTED);

	/* Rejected: any value too long or with control characters (a string
	 * key of 1..64 printable characters, as a vendor would register it) */
	static const struct ocpp_config_def name_key = {
		.name = "WattstreamTestName", .type = OCPP_CONFIG_STRING,
		.access = OCPP_CONFIG_RW, .default_value = "", .min_len = 1, .max_len = 64,
	};
	CHECK_INT(ocpp_config_register(cfg, &name_key), 0);
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestName", big), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestName", "Acme\nCharging"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestName", "Acme \xc3\xa9"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestName", ""), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestName", "Acme Charging B.V."), OCPP_CONFIG_OK);
	CHECK_INT(n_notified, 1);

	/* measurand lists: members, blanks, repeats, empty items, length */
	CHECK_INT(ocpp_config_change(cfg, "MeterValuesSampledData",
				     "Energy.Active.Import.Register, Power.Active.Import,Current.Import.L1"),
		  OCPP_CONFIG_OK);
	CHECK_STR(ocpp_config_str(cfg, "MeterValuesSampledData"),
		  "Energy.Active.Import.Register,Power.Active.Import,Current.Import.L1");
	CHECK(ocpp_config_list_has(cfg, "MeterValuesSampledData", "Power.Active.Import"));
	CHECK(!ocpp_config_list_has(cfg, "MeterValuesSampledData", "Power.Active"));
	const char *bad_list[] = {
		"SoC",				/* a real measurand the meter lacks: errata 3.14.4 */
		"Energy.Active.Import.Register,Temperature",
		"Foo",
		"energy.active.import.register",	/* enumerations are case-sensitive */
		"Energy.Active.Import.Register,,Power.Active.Import",
		"Energy.Active.Import.Register,",
		",Energy.Active.Import.Register",
		"Power.Active.Import,Power.Active.Import",
		"Current.Import.L4",
		"Voltage.L1-L2",
		NULL,
	};
	for (int i = 0; bad_list[i]; i++)
		CHECK_INT(ocpp_config_change(cfg, "MeterValuesSampledData", bad_list[i]),
			  OCPP_CONFIG_E_REJECTED);
	CHECK_STR(ocpp_config_str(cfg, "MeterValuesSampledData"),
		  "Energy.Active.Import.Register,Power.Active.Import,Current.Import.L1");
	/* errata 3.14.5: an empty list is allowed */
	CHECK_INT(ocpp_config_change(cfg, "StopTxnSampledData", ""), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_change(cfg, "StopTxnAlignedData", "Energy.Active.Import.Register"),
		  OCPP_CONFIG_OK);
	/* the item limit is the value of the ...MaxLength key */
	CHECK_INT(ocpp_config_set_default(cfg, "MeterValuesAlignedDataMaxLength", "2"), 0);
	CHECK_INT(ocpp_config_change(cfg, "MeterValuesAlignedData",
				     "Voltage.L1-N,Voltage.L2-N"), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_change(cfg, "MeterValuesAlignedData",
				     "Voltage.L1-N,Voltage.L2-N,Voltage.L3-N"), OCPP_CONFIG_E_REJECTED);

	/* ConnectorPhaseRotation: "<connector>.<rotation>" up to NumberOfConnectors */
	CHECK_INT(ocpp_config_change(cfg, "ConnectorPhaseRotation", "0.RST,1.RTS"), OCPP_CONFIG_OK);
	const char *bad_rot[] = { "2.RST", "1.XYZ", "RST", ".RST", "1.", "-1.RST", "a.RST",
				  "1.RST,1.RST", "1.RST,1.RTS", "1.rst", "1.RST;0.RST", NULL };
	for (int i = 0; bad_rot[i]; i++)
		CHECK_INT(ocpp_config_change(cfg, "ConnectorPhaseRotation", bad_rot[i]),
			  OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_set_default(cfg, "NumberOfConnectors", "2"), 0);
	CHECK_INT(ocpp_config_change(cfg, "ConnectorPhaseRotation", "1.RST,2.NotApplicable"),
		  OCPP_CONFIG_OK);

	/* SecurityProfile only goes up; the daemon's check runs after */
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "1"), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "0"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "4"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_set_check(cfg, "SecurityProfile", refuse_three, NULL), 0);
	CHECK_INT(ocpp_config_set_check(cfg, "NoSuchKey", refuse_three, NULL),
		  OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "3"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "2"), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_change(cfg, "SecurityProfile", "1"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_int(cfg, "SecurityProfile"), 2);

	/* AuthorizationKey: 16..40 printable characters, write-only */
	CHECK_INT(ocpp_config_change(cfg, "AuthorizationKey", "0123456789abcde"),
		  OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "AuthorizationKey",
				     "0123456789abcdef0123456789abcdef012345678"),
		  OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "AuthorizationKey", "0123456789abcdef\x01"),
		  OCPP_CONFIG_E_REJECTED);
	n_notified = 0;
	CHECK_INT(ocpp_config_change(cfg, "AuthorizationKey", "s3cr3t-basic-auth-pw"), OCPP_CONFIG_OK);
	CHECK_STR(notified, "AuthorizationKey");
	CHECK_INT(ocpp_config_get(cfg, "AuthorizationKey", &v), 0);
	CHECK_STR(v, "s3cr3t-basic-auth-pw");
	CHECK_INT(ocpp_config_get(cfg, "NoSuchKey", &v), OCPP_CONFIG_E_NOT_SUPPORTED);

	CHECK_STR(ocpp_config_status_str(OCPP_CONFIG_OK), "Accepted");
	CHECK_STR(ocpp_config_status_str(OCPP_CONFIG_REBOOT_REQUIRED), "RebootRequired");
	CHECK_STR(ocpp_config_status_str(OCPP_CONFIG_E_REJECTED), "Rejected");
	CHECK_STR(ocpp_config_status_str(OCPP_CONFIG_E_NOT_SUPPORTED), "NotSupported");
	CHECK(ocpp_config_status_str(OCPP_CONFIG_E_TOO_MANY_KEYS) == NULL);
}

static void test_get_configuration(struct ocpp_config *cfg)
{
	struct ocpp_config_report r;
	const char *keys[] = { "heartbeatinterval", "NoSuchKey", "AuthorizationKey",
			       "NumberOfConnectors", "HeartbeatInterval" };
	const char *many[65];

	CHECK_INT(ocpp_config_get_configuration(cfg, keys, 5, &r), 0);
	CHECK_INT(r.n_known, 2);	/* the repeated key is reported once */
	if (r.n_known == 2) {
		CHECK_STR(r.known[0].key, "HeartbeatInterval");
		CHECK_STR(r.known[0].value, "60");
		CHECK(!r.known[0].readonly);
		CHECK_STR(r.known[1].key, "NumberOfConnectors");
		CHECK(r.known[1].readonly);
	}
	CHECK_INT(r.n_unknown, 2);
	if (r.n_unknown == 2) {
		CHECK_STR(r.unknown[0], "NoSuchKey");
		CHECK_STR(r.unknown[1], "AuthorizationKey");	/* write-only: never shown */
	}
	for (size_t i = 0; i < r.n_known; i++)
		CHECK(strstr(r.known[i].value, "s3cr3t") == NULL);
	ocpp_config_report_clear(&r);
	CHECK(r.known == NULL && r.n_known == 0);

	/* no keys: everything readable, never the secret */
	CHECK_INT(ocpp_config_get_configuration(cfg, NULL, 0, &r), 0);
	for (size_t i = 0; i < r.n_known; i++) {
		CHECK(strcmp(r.known[i].key, "AuthorizationKey") != 0);
		CHECK(strstr(r.known[i].value, "s3cr3t") == NULL);
	}
	ocpp_config_report_clear(&r);

	/* more keys than GetConfigurationMaxKeys (64) */
	for (int i = 0; i < 65; i++)
		many[i] = "HeartbeatInterval";
	CHECK_INT(ocpp_config_get_configuration(cfg, many, 65, &r), OCPP_CONFIG_E_TOO_MANY_KEYS);
	CHECK_INT(ocpp_config_get_configuration(cfg, many, 64, &r), 0);
	CHECK_INT(r.n_known, 1);
	ocpp_config_report_clear(&r);
}

static const struct ocpp_config_def tariff_reboot = {
	.name = "WattstreamTestReboot", .type = OCPP_CONFIG_INT, .access = OCPP_CONFIG_RW,
	.flags = OCPP_CONFIG_F_REBOOT, .default_value = "10", .min = 1, .max = 100,
};

static int tariff_calls;
static const char *const vendor_members[] = { "A", "B", "C", NULL };

static void test_vendor(struct ocpp_config *cfg)
{
	struct ocpp_config_def d = {
		.name = "WattstreamTariffCurrency", .type = OCPP_CONFIG_STRING,
		.access = OCPP_CONFIG_RW, .default_value = "EUR", .min_len = 3, .max_len = 3,
		.check = tariff_check, .check_userdata = &tariff_calls,
	};
	struct ocpp_config_def bad;

	CHECK_INT(ocpp_config_register(cfg, &d), 0);
	CHECK_INT(ocpp_config_register(cfg, &d), OCPP_CONFIG_E_EXISTS);
	bad = d;
	bad.name = "heartbeatinterval";
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_EXISTS);
	bad.name = "Bad,Name";
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.name = "";
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.name = "ThisNameIsLongerThanFiftyCharactersWhichCiString50Forbids";
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.name = "WattstreamBad";
	bad.default_value = "EURO";	/* longer than max_len */
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.default_value = NULL;
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad = (struct ocpp_config_def){ .name = "WattstreamBadInt", .type = OCPP_CONFIG_INT,
		.access = OCPP_CONFIG_RW, .default_value = "5", .min = 10, .max = 1 };
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.min = 0;
	bad.max = 4;	/* default out of range */
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad.type = (enum ocpp_config_type)42;
	CHECK_INT(ocpp_config_register(cfg, &bad), OCPP_CONFIG_E_INVALID);
	bad = (struct ocpp_config_def){ .name = "WattstreamList", .type = OCPP_CONFIG_CSL,
		.access = OCPP_CONFIG_RW, .default_value = "A,B", .members = vendor_members,
		.max_items = 2 };
	CHECK_INT(ocpp_config_register(cfg, &bad), 0);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamList", "A,B,C"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamList", "D"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamList", "C"), OCPP_CONFIG_OK);

	CHECK_STR(ocpp_config_str(cfg, "WattstreamTariffCurrency"), "EUR");
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTariffCurrency", "GBP"), OCPP_CONFIG_E_REJECTED);
	CHECK(tariff_calls > 0);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTariffCurrency", "USDX"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTariffCurrency", "USD"), OCPP_CONFIG_OK);
	CHECK_STR(ocpp_config_str(cfg, "WattstreamTariffCurrency"), "USD");

	/* a key that needs a reboot: stored, not in force until the next start */
	CHECK_INT(ocpp_config_register(cfg, &tariff_reboot), 0);
	n_notified = 0;
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestReboot", "20"), OCPP_CONFIG_REBOOT_REQUIRED);
	CHECK_INT(ocpp_config_change(cfg, "WattstreamTestReboot", "200"), OCPP_CONFIG_E_REJECTED);
	CHECK_INT(ocpp_config_int(cfg, "WattstreamTestReboot"), 10);
	CHECK_INT(n_notified, 0);
}

static int count_rows(struct ws_store *s)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM ocpp_config", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/ws-test-ocpp_config-XXXXXX", path[128], cmd[200];
	struct ws_store *s = NULL;
	struct ocpp_config *cfg = NULL;
	const char *err;

	test_parsers();
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(ocpp_config_new(&cfg, s), 0);
	CHECK_INT(ocpp_config_load(cfg), 0);
	test_table(cfg);
	test_change(cfg);
	test_get_configuration(cfg);
	test_vendor(cfg);
	CHECK(count_rows(s) > 5);

	/* set_default does not override what the CSMS set, and is checked */
	CHECK_INT(ocpp_config_set_default(cfg, "HeartbeatInterval", "900"), 0);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 60);
	CHECK_INT(ocpp_config_set_default(cfg, "ResetRetries", "abc"), OCPP_CONFIG_E_INVALID);
	CHECK_INT(ocpp_config_set_default(cfg, "NoSuchKey", "1"), OCPP_CONFIG_E_NOT_SUPPORTED);
	CHECK_INT(ocpp_config_set_default(cfg, "ResetRetries", "5"), 0);
	CHECK_INT(ocpp_config_int(cfg, "ResetRetries"), 5);

	/* a store failure changes nothing */
	sqlite3_exec(store_db(s), "ALTER TABLE ocpp_config RENAME TO ocpp_config_away", NULL, NULL, NULL);
	CHECK_INT(ocpp_config_change(cfg, "HeartbeatInterval", "45"), -EIO);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 60);
	sqlite3_exec(store_db(s), "ALTER TABLE ocpp_config_away RENAME TO ocpp_config", NULL, NULL, NULL);
	cfg = ocpp_config_free(cfg);
	s = store_close(s);

	/* restart: what the CSMS set is back, the rest are defaults */
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(ocpp_config_new(&cfg, s), 0);
	CHECK_INT(ocpp_config_set_default(cfg, "NumberOfConnectors", "2"), 0);
	CHECK_INT(ocpp_config_load(cfg), 0);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 60);
	CHECK(ocpp_config_bool(cfg, "LocalPreAuthorize"));
	CHECK_STR(ocpp_config_str(cfg, "MeterValuesSampledData"),
		  "Energy.Active.Import.Register,Power.Active.Import,Current.Import.L1");
	CHECK_STR(ocpp_config_str(cfg, "ConnectorPhaseRotation"), "1.RST,2.NotApplicable");
	CHECK_INT(ocpp_config_int(cfg, "SecurityProfile"), 2);
	CHECK_STR(ocpp_config_str(cfg, "AuthorizationKey"), "s3cr3t-basic-auth-pw");
	CHECK_INT(ocpp_config_int(cfg, "ResetRetries"), 3);	/* set_default is not stored */
	CHECK_INT(ocpp_config_int(cfg, "NumberOfConnectors"), 2);
	/* vendor keys get their stored value when registered after load */
	CHECK_INT(ocpp_config_register(cfg, &tariff_reboot), 0);
	CHECK_INT(ocpp_config_int(cfg, "WattstreamTestReboot"), 20);
	cfg = ocpp_config_free(cfg);

	/* tampered rows: bad values and read-only keys are ignored */
	sqlite3_exec(store_db(s),
		     "UPDATE ocpp_config SET value = 'abc' WHERE key = 'HeartbeatInterval';"
		     "UPDATE ocpp_config SET value = 'SoC' WHERE key = 'MeterValuesSampledData';"
		     "UPDATE ocpp_config SET value = 'maybe' WHERE key = 'LocalPreAuthorize';"
		     "INSERT OR REPLACE INTO ocpp_config VALUES ('NumberOfConnectors', '9');"
		     "INSERT OR REPLACE INTO ocpp_config VALUES ('GetConfigurationMaxKeys', '1');"
		     "INSERT OR REPLACE INTO ocpp_config VALUES ('NoSuchKey', '1');",
		     NULL, NULL, NULL);
	CHECK_INT(ocpp_config_new(&cfg, s), 0);
	CHECK_INT(ocpp_config_load(cfg), 0);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 300);
	CHECK_STR(ocpp_config_str(cfg, "MeterValuesSampledData"), "Energy.Active.Import.Register");
	CHECK(!ocpp_config_bool(cfg, "LocalPreAuthorize"));
	CHECK_INT(ocpp_config_int(cfg, "NumberOfConnectors"), 1);
	CHECK_INT(ocpp_config_int(cfg, "GetConfigurationMaxKeys"), 64);
	/* one connector now: the stored "2.NotApplicable" no longer passes */
	CHECK_STR(ocpp_config_str(cfg, "ConnectorPhaseRotation"), "1.Unknown");
	CHECK_INT(ocpp_config_int(cfg, "SecurityProfile"), 2);
	cfg = ocpp_config_free(cfg);

	/* without a store everything works, nothing is kept */
	CHECK_INT(ocpp_config_new(&cfg, NULL), 0);
	CHECK_INT(ocpp_config_load(cfg), 0);
	CHECK_INT(ocpp_config_change(cfg, "HeartbeatInterval", "10"), OCPP_CONFIG_OK);
	CHECK_INT(ocpp_config_int(cfg, "HeartbeatInterval"), 10);
	cfg = ocpp_config_free(cfg);
	CHECK(ocpp_config_free(NULL) == NULL);

	s = store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
