/* test-ocpp_codec.c: the codecs generated from ocpp/schemas/: a valid
 * example of every message in both directions decodes and re-encodes to the
 * same JSON, every kind of violation yields the right CALLERROR code and
 * field path, and the errata points (Celcius/Celsius, optional reason). */
#include <stdlib.h>

#include "check.h"
#include "ocpp_messages.h"

#define DT "\"2024-05-01T12:00:00Z\""
#define DT2 "\"2024-05-01T14:30:15.123+02:00\""
#define PROFILE "{\"chargingProfileId\":7,\"transactionId\":12,\"stackLevel\":0," \
	"\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Recurring\"," \
	"\"recurrencyKind\":\"Daily\",\"validFrom\":" DT ",\"validTo\":" DT2 "," \
	"\"chargingSchedule\":" SCHEDULE "}"
#define SCHEDULE "{\"duration\":3600,\"startSchedule\":" DT ",\"chargingRateUnit\":\"A\"," \
	"\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":16.5,\"numberPhases\":3}," \
	"{\"startPeriod\":1800,\"limit\":32}],\"minChargingRate\":6.1}"
#define METERVALUE "{\"timestamp\":" DT ",\"sampledValue\":[{\"value\":\"1234.5\"," \
	"\"context\":\"Sample.Periodic\",\"format\":\"Raw\",\"measurand\":\"Energy.Active.Import.Register\"," \
	"\"phase\":\"L1-N\",\"location\":\"Outlet\",\"unit\":\"kWh\"},{\"value\":\"21\"," \
	"\"measurand\":\"Temperature\",\"unit\":\"Celsius\"},{\"value\":\"22\",\"unit\":\"Celcius\"}]}"
#define IDTAGINFO "{\"status\":\"Accepted\",\"expiryDate\":" DT2 ",\"parentIdTag\":\"PARENT-1\"}"
#define HASHDATA "{\"hashAlgorithm\":\"SHA256\",\"issuerNameHash\":\"aa11\",\"issuerKeyHash\":\"bb22\",\"serialNumber\":\"0123abcd\"}"

struct example {
	const char *action;
	bool conf;
	const char *json;
};

/* At least one example per action and direction; most set every field. */
static const struct example examples[] = {
	{ "Authorize", false, "{\"idTag\":\"ABCDEF0123456789ABCD\"}" },
	{ "Authorize", true, "{\"idTagInfo\":" IDTAGINFO "}" },
	{ "BootNotification", false, "{\"chargePointVendor\":\"wattstream\",\"chargePointModel\":\"WS-1\","
	  "\"chargePointSerialNumber\":\"SN1\",\"chargeBoxSerialNumber\":\"CB1\",\"firmwareVersion\":\"0.1.0\","
	  "\"iccid\":\"8931\",\"imsi\":\"2620\",\"meterType\":\"SDM630\",\"meterSerialNumber\":\"M1\"}" },
	{ "BootNotification", false, "{\"chargePointVendor\":\"v\",\"chargePointModel\":\"m\"}" },
	{ "BootNotification", true, "{\"status\":\"Accepted\",\"currentTime\":" DT ",\"interval\":300}" },
	{ "CancelReservation", false, "{\"reservationId\":5}" },
	{ "CancelReservation", true, "{\"status\":\"Rejected\"}" },
	{ "CertificateSigned", false, "{\"certificateChain\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"}" },
	{ "CertificateSigned", true, "{\"status\":\"Accepted\"}" },
	{ "ChangeAvailability", false, "{\"connectorId\":0,\"type\":\"Inoperative\"}" },
	{ "ChangeAvailability", true, "{\"status\":\"Scheduled\"}" },
	{ "ChangeConfiguration", false, "{\"key\":\"HeartbeatInterval\",\"value\":\"300\"}" },
	{ "ChangeConfiguration", true, "{\"status\":\"RebootRequired\"}" },
	{ "ClearCache", false, "{}" },
	{ "ClearCache", true, "{\"status\":\"Accepted\"}" },
	{ "ClearChargingProfile", false, "{\"id\":7,\"connectorId\":1,\"chargingProfilePurpose\":\"TxDefaultProfile\",\"stackLevel\":2}" },
	{ "ClearChargingProfile", false, "{}" },
	{ "ClearChargingProfile", true, "{\"status\":\"Unknown\"}" },
	{ "DataTransfer", false, "{\"vendorId\":\"org.wattstream\",\"messageId\":\"payment\",\"data\":\"{\\\"wei\\\":\\\"1\\\"}\"}" },
	{ "DataTransfer", true, "{\"status\":\"UnknownVendorId\",\"data\":\"\"}" },
	{ "DeleteCertificate", false, "{\"certificateHashData\":" HASHDATA "}" },
	{ "DeleteCertificate", true, "{\"status\":\"NotFound\"}" },
	{ "DiagnosticsStatusNotification", false, "{\"status\":\"Uploading\"}" },
	{ "DiagnosticsStatusNotification", true, "{}" },
	{ "ExtendedTriggerMessage", false, "{\"requestedMessage\":\"SignChargePointCertificate\",\"connectorId\":1}" },
	{ "ExtendedTriggerMessage", true, "{\"status\":\"NotImplemented\"}" },
	{ "FirmwareStatusNotification", false, "{\"status\":\"Installed\"}" },
	{ "FirmwareStatusNotification", true, "{}" },
	{ "GetCompositeSchedule", false, "{\"connectorId\":1,\"duration\":86400,\"chargingRateUnit\":\"W\"}" },
	{ "GetCompositeSchedule", true, "{\"status\":\"Accepted\",\"connectorId\":1,\"scheduleStart\":" DT ",\"chargingSchedule\":" SCHEDULE "}" },
	{ "GetCompositeSchedule", true, "{\"status\":\"Rejected\"}" },
	{ "GetConfiguration", false, "{\"key\":[\"HeartbeatInterval\",\"MeterValueSampleInterval\"]}" },
	{ "GetConfiguration", false, "{}" },
	{ "GetConfiguration", true, "{\"configurationKey\":[{\"key\":\"HeartbeatInterval\",\"readonly\":false,\"value\":\"300\"},"
	  "{\"key\":\"NumberOfConnectors\",\"readonly\":true}],\"unknownKey\":[\"Foo\"]}" },
	{ "GetDiagnostics", false, "{\"location\":\"ftp://user:pw@example.com/diag/\",\"retries\":3,\"retryInterval\":60,"
	  "\"startTime\":" DT ",\"stopTime\":" DT2 "}" },
	{ "GetDiagnostics", true, "{\"fileName\":\"diag-2024.tar.gz\"}" },
	{ "GetInstalledCertificateIds", false, "{\"certificateType\":\"CentralSystemRootCertificate\"}" },
	{ "GetInstalledCertificateIds", true, "{\"status\":\"Accepted\",\"certificateHashData\":[" HASHDATA "," HASHDATA "]}" },
	{ "GetLocalListVersion", false, "{}" },
	{ "GetLocalListVersion", true, "{\"listVersion\":-1}" },
	{ "GetLog", false, "{\"log\":{\"remoteLocation\":\"https://example.com/logs\",\"oldestTimestamp\":" DT ",\"latestTimestamp\":" DT2 "},"
	  "\"logType\":\"SecurityLog\",\"requestId\":9,\"retries\":1,\"retryInterval\":30}" },
	{ "GetLog", true, "{\"status\":\"AcceptedCanceled\",\"filename\":\"security.log\"}" },
	{ "Heartbeat", false, "{}" },
	{ "Heartbeat", true, "{\"currentTime\":" DT2 "}" },
	{ "InstallCertificate", false, "{\"certificateType\":\"ManufacturerRootCertificate\",\"certificate\":\"-----BEGIN CERTIFICATE-----\"}" },
	{ "InstallCertificate", true, "{\"status\":\"Failed\"}" },
	{ "LogStatusNotification", false, "{\"status\":\"Uploaded\",\"requestId\":9}" },
	{ "LogStatusNotification", true, "{}" },
	{ "MeterValues", false, "{\"connectorId\":1,\"transactionId\":12,\"meterValue\":[" METERVALUE "," METERVALUE "]}" },
	{ "MeterValues", true, "{}" },
	{ "RemoteStartTransaction", false, "{\"connectorId\":1,\"idTag\":\"TAG1\",\"chargingProfile\":" PROFILE "}" },
	{ "RemoteStartTransaction", true, "{\"status\":\"Accepted\"}" },
	{ "RemoteStopTransaction", false, "{\"transactionId\":12}" },
	{ "RemoteStopTransaction", true, "{\"status\":\"Rejected\"}" },
	{ "ReserveNow", false, "{\"connectorId\":0,\"expiryDate\":" DT ",\"idTag\":\"TAG1\",\"parentIdTag\":\"P\",\"reservationId\":4}" },
	{ "ReserveNow", true, "{\"status\":\"Occupied\"}" },
	{ "Reset", false, "{\"type\":\"Soft\"}" },
	{ "Reset", true, "{\"status\":\"Accepted\"}" },
	{ "SecurityEventNotification", false, "{\"type\":\"FirmwareUpdated\",\"timestamp\":" DT ",\"techInfo\":\"v2\"}" },
	{ "SecurityEventNotification", true, "{}" },
	{ "SendLocalList", false, "{\"listVersion\":3,\"localAuthorizationList\":[{\"idTag\":\"A\",\"idTagInfo\":" IDTAGINFO "},"
	  "{\"idTag\":\"B\"}],\"updateType\":\"Differential\"}" },
	{ "SendLocalList", true, "{\"status\":\"VersionMismatch\"}" },
	{ "SetChargingProfile", false, "{\"connectorId\":1,\"csChargingProfiles\":" PROFILE "}" },
	{ "SetChargingProfile", true, "{\"status\":\"NotSupported\"}" },
	{ "SignCertificate", false, "{\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\"}" },
	{ "SignCertificate", true, "{\"status\":\"Rejected\"}" },
	{ "SignedFirmwareStatusNotification", false, "{\"status\":\"InvalidSignature\",\"requestId\":2}" },
	{ "SignedFirmwareStatusNotification", true, "{}" },
	{ "SignedUpdateFirmware", false, "{\"retries\":2,\"retryInterval\":10,\"requestId\":2,\"firmware\":{\"location\":\"https://fw.example.com/1.bin\","
	  "\"retrieveDateTime\":" DT ",\"installDateTime\":" DT2 ",\"signingCertificate\":\"PEM\",\"signature\":\"c2ln\"}}" },
	{ "SignedUpdateFirmware", true, "{\"status\":\"RevokedCertificate\"}" },
	{ "StartTransaction", false, "{\"connectorId\":1,\"idTag\":\"TAG1\",\"meterStart\":123456,\"reservationId\":4,\"timestamp\":" DT "}" },
	{ "StartTransaction", true, "{\"idTagInfo\":{\"status\":\"ConcurrentTx\"},\"transactionId\":-2147483648}" },
	{ "StatusNotification", false, "{\"connectorId\":0,\"errorCode\":\"PowerMeterFailure\",\"info\":\"meter silent\",\"status\":\"Faulted\","
	  "\"timestamp\":" DT ",\"vendorId\":\"org.wattstream\",\"vendorErrorCode\":\"E42\"}" },
	{ "StatusNotification", true, "{}" },
	{ "StopTransaction", false, "{\"idTag\":\"TAG1\",\"meterStop\":2147483647,\"timestamp\":" DT ",\"transactionId\":12,"
	  "\"reason\":\"DeAuthorized\",\"transactionData\":[" METERVALUE "]}" },
	{ "StopTransaction", false, "{\"meterStop\":0,\"timestamp\":" DT ",\"transactionId\":12}" },
	{ "StopTransaction", true, "{\"idTagInfo\":" IDTAGINFO "}" },
	{ "StopTransaction", true, "{}" },
	{ "TriggerMessage", false, "{\"requestedMessage\":\"MeterValues\",\"connectorId\":2}" },
	{ "TriggerMessage", true, "{\"status\":\"Accepted\"}" },
	{ "UnlockConnector", false, "{\"connectorId\":1}" },
	{ "UnlockConnector", true, "{\"status\":\"UnlockFailed\"}" },
	{ "UpdateFirmware", false, "{\"location\":\"https://fw.example.com/fw.bin\",\"retries\":3,\"retrieveDate\":" DT ",\"retryInterval\":120}" },
	{ "UpdateFirmware", true, "{}" },
};
#define N_EXAMPLES (sizeof(examples) / sizeof(examples[0]))

/* Decodes json as action's request or response; returns the decoder's
 * result and, on success, the re-encoded JSON in *again. */
static int roundtrip(const char *action, bool conf, const char *json,
		     json_t **again, struct ocpp_err *err)
{
	const struct ocpp_action *a = ocpp_action_find(action);
	if (!a)
		return -1;
	json_t *j = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!j) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		return -1;
	}
	void *s = calloc(1, conf ? a->conf_size : a->req_size);
	int r = (conf ? a->conf_decode : a->req_decode)(j, s, err);
	if (r == 0 && again)
		*again = (conf ? a->conf_encode : a->req_encode)(s);
	(conf ? a->conf_free : a->req_free)(s);
	free(s);
	json_decref(j);
	return r;
}

static void test_examples(void)
{
	for (size_t i = 0; i < N_EXAMPLES; i++) {
		const struct example *e = &examples[i];
		struct ocpp_err err;
		json_t *again = NULL;
		int r = roundtrip(e->action, e->conf, e->json, &again, &err);
		if (r != 0)
			fprintf(stderr, "%s%s: %s\n", e->action, e->conf ? "Response" : "", err.desc);
		CHECK_INT(r, 0);
		json_t *orig = json_loads(e->json, 0, NULL);
		int same = again && json_equal(orig, again);
		if (!same) {
			char *d = again ? json_dumps(again, JSON_COMPACT) : NULL;
			fprintf(stderr, "re-encoded %s differs: %s\n", e->action, d ? d : "(null)");
			free(d);
		}
		CHECK(same);
		json_decref(orig);
		json_decref(again);
	}
	/* Every action of the table has an example each way. */
	for (size_t a = 0; a < ocpp_actions_count; a++) {
		bool req = false, conf = false;
		for (size_t i = 0; i < N_EXAMPLES; i++)
			if (strcmp(examples[i].action, ocpp_actions[a].name) == 0)
				*(examples[i].conf ? &conf : &req) = true;
		if (!req || !conf)
			fprintf(stderr, "no example for %s\n", ocpp_actions[a].name);
		CHECK(req && conf);
	}
	CHECK_INT(ocpp_actions_count, 39);
}

struct violation {
	const char *action;
	bool conf;
	const char *json;
	enum ocpp_error_code code;
	const char *path;
};

#define FV OCPP_ERR_FORMATION_VIOLATION
#define PV OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION
#define OV OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION
#define TV OCPP_ERR_TYPE_CONSTRAINT_VIOLATION

static const struct violation violations[] = {
	/* payload shape */
	{ "Heartbeat", false, "[]", FV, "" },
	{ "Heartbeat", false, "\"x\"", FV, "" },
	{ "Heartbeat", false, "{\"extra\":1}", FV, "extra" },
	{ "Reset", false, "{\"type\":\"Hard\",\"Type\":\"Soft\"}", FV, "Type" },
	{ "RemoteStartTransaction", false, "{\"idTag\":\"T\",\"chargingProfile\":{\"chargingProfileId\":1,\"stackLevel\":0,"
	  "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
	  "\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":1,\"bogus\":true}]}}}", FV,
	  "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].bogus" },
	/* required fields and array sizes */
	{ "Reset", false, "{}", OV, "type" },
	{ "BootNotification", false, "{\"chargePointVendor\":\"v\"}", OV, "chargePointModel" },
	{ "BootNotification", true, "{\"status\":\"Accepted\",\"currentTime\":" DT "}", OV, "interval" },
	{ "MeterValues", false, "{\"connectorId\":1,\"meterValue\":[]}", OV, "meterValue" },
	{ "MeterValues", false, "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":" DT ",\"sampledValue\":[]}]}", OV,
	  "meterValue[0].sampledValue" },
	{ "MeterValues", false, "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":" DT ",\"sampledValue\":[{\"unit\":\"Wh\"}]}]}", OV,
	  "meterValue[0].sampledValue[0].value" },
	{ "StopTransaction", false, "{\"timestamp\":" DT ",\"transactionId\":1}", OV, "meterStop" },
	{ "SetChargingProfile", false, "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
	  "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
	  "\"chargingSchedulePeriod\":[]}}}", OV, "csChargingProfiles.chargingSchedule.chargingSchedulePeriod" },
	/* JSON types */
	{ "ChangeAvailability", false, "{\"connectorId\":\"1\",\"type\":\"Operative\"}", TV, "connectorId" },
	{ "ChangeAvailability", false, "{\"connectorId\":1.5,\"type\":\"Operative\"}", TV, "connectorId" },
	{ "ChangeAvailability", false, "{\"connectorId\":1,\"type\":3}", TV, "type" },
	{ "ChangeAvailability", false, "{\"connectorId\":null,\"type\":\"Operative\"}", TV, "connectorId" },
	{ "ChangeConfiguration", false, "{\"key\":[\"a\"],\"value\":\"1\"}", TV, "key" },
	{ "GetConfiguration", false, "{\"key\":\"HeartbeatInterval\"}", TV, "key" },
	{ "GetConfiguration", false, "{\"key\":[\"a\",7]}", TV, "key[1]" },
	{ "GetConfiguration", true, "{\"configurationKey\":[{\"key\":\"a\",\"readonly\":\"false\"}]}", TV, "configurationKey[0].readonly" },
	{ "Authorize", true, "{\"idTagInfo\":\"Accepted\"}", TV, "idTagInfo" },
	{ "SetChargingProfile", false, "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
	  "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
	  "\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":\"16\"}]}}}", TV,
	  "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit" },
	{ "DataTransfer", false, "{\"vendorId\":\"v\",\"data\":{\"a\":1}}", TV, "data" },
	/* values */
	{ "Reset", false, "{\"type\":\"hard\"}", PV, "type" },
	{ "ChangeAvailability", false, "{\"connectorId\":-1,\"type\":\"Operative\"}", PV, "connectorId" },
	{ "UnlockConnector", false, "{\"connectorId\":0}", PV, "connectorId" },
	{ "RemoteStopTransaction", false, "{\"transactionId\":2147483648}", PV, "transactionId" },
	{ "RemoteStopTransaction", false, "{\"transactionId\":-2147483649}", PV, "transactionId" },
	{ "SendLocalList", false, "{\"listVersion\":0,\"updateType\":\"Full\"}", PV, "listVersion" },
	{ "Authorize", false, "{\"idTag\":\"ABCDEF0123456789ABCDE\"}", PV, "idTag" },
	{ "ChangeConfiguration", false, "{\"key\":\"k\\u0000x\",\"value\":\"1\"}", PV, "key" },
	{ "BootNotification", true, "{\"status\":\"Accepted\",\"currentTime\":\"2024-05-01 12:00:00Z\",\"interval\":300}", PV, "currentTime" },
	{ "BootNotification", true, "{\"status\":\"Accepted\",\"currentTime\":\"2024-05-01T12:00:00\",\"interval\":300}", PV, "currentTime" },
	{ "BootNotification", true, "{\"status\":\"Accepted\",\"currentTime\":\"2023-02-29T12:00:00Z\",\"interval\":300}", PV, "currentTime" },
	{ "BootNotification", true, "{\"status\":\"Busy\",\"currentTime\":" DT ",\"interval\":300}", PV, "status" },
	{ "GetCompositeSchedule", false, "{\"connectorId\":1,\"duration\":60,\"chargingRateUnit\":\"kW\"}", PV, "chargingRateUnit" },
	{ "SetChargingProfile", false, "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
	  "\"chargingProfilePurpose\":\"TxProfile\",\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
	  "\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":16.25}]}}}", PV,
	  "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit" },
	{ "MeterValues", false, "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":" DT ",\"sampledValue\":[{\"value\":\"1\",\"unit\":\"Kelvin\"}]}]}",
	  PV, "meterValue[0].sampledValue[0].unit" },
	{ "UpdateFirmware", false, "{\"location\":\"not a uri\",\"retrieveDate\":" DT "}", PV, "location" },
	{ "UpdateFirmware", false, "{\"location\":\"https://x/fw.bin\",\"retrieveDate\":" DT ",\"retries\":-1}", PV, "retries" },
	{ "SecurityEventNotification", false, "{\"type\":\"" "0123456789012345678901234567890123456789012345678901" "\",\"timestamp\":" DT "}",
	  PV, "type" },
};

static void test_violations(void)
{
	for (size_t i = 0; i < sizeof(violations) / sizeof(violations[0]); i++) {
		const struct violation *v = &violations[i];
		struct ocpp_err err;
		int r = roundtrip(v->action, v->conf, v->json, NULL, &err);
		CHECK_INT(r, OCPP_E_INVALID);
		if (r != OCPP_E_INVALID) {
			fprintf(stderr, "  accepted: %s %s\n", v->action, v->json);
			continue;
		}
		if (err.code != v->code)
			fprintf(stderr, "  %s: %s\n", v->json, err.desc);
		CHECK_STR(ocpp_error_code_str(err.code), ocpp_error_code_str(v->code));
		CHECK_STR(err.path, v->path);
		/* The description names the field. */
		CHECK(strstr(err.desc, v->path[0] ? v->path : "payload") == err.desc);
	}
}

/* Arrays are bounded; long property names do not overflow the path. */
static void test_bounds(void)
{
	struct ocpp_err err;
	json_t *keys = json_array();
	for (int i = 0; i <= OCPP_ARRAY_MAX; i++)
		json_array_append_new(keys, json_string("k"));
	json_t *j = json_pack("{s:o}", "key", keys);
	struct ocpp_get_configuration_req gc;
	CHECK_INT(ocpp_get_configuration_req_decode(j, &gc, &err), OCPP_E_INVALID);
	CHECK_INT(err.code, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION);
	CHECK_STR(err.path, "key");
	CHECK_INT(gc.n_key, 0);
	json_array_remove(keys, 0);
	CHECK_INT(ocpp_get_configuration_req_decode(j, &gc, &err), 0);
	CHECK_INT(gc.n_key, OCPP_ARRAY_MAX);
	CHECK_STR(gc.key[OCPP_ARRAY_MAX - 1], "k");
	ocpp_get_configuration_req_free(&gc);
	json_decref(j);

	char name[301];
	memset(name, 'x', 300);
	name[300] = '\0';
	name[5] = '\n';
	j = json_pack("{s:i}", name, 1);
	struct ocpp_heartbeat_req hb;
	CHECK_INT(ocpp_heartbeat_req_decode(j, &hb, &err), OCPP_E_INVALID);
	CHECK_INT(err.code, OCPP_ERR_FORMATION_VIOLATION);
	CHECK_INT(strlen(err.path), sizeof(err.path) - 1);
	CHECK(strncmp(err.path, "xxxxx?xxx", 9) == 0);
	CHECK(strchr(err.desc, '\n') == NULL);
	json_decref(j);

	/* A failure deep inside frees what was decoded before it. */
	j = json_loads("{\"connectorId\":1,\"meterValue\":[" METERVALUE "," METERVALUE ",{\"timestamp\":" DT ","
		       "\"sampledValue\":[{\"value\":\"1\"},{\"value\":2}]}]}", 0, NULL);
	struct ocpp_meter_values_req mv;
	CHECK_INT(ocpp_meter_values_req_decode(j, &mv, &err), OCPP_E_INVALID);
	CHECK_INT(err.code, OCPP_ERR_TYPE_CONSTRAINT_VIOLATION);
	CHECK_STR(err.path, "meterValue[2].sampledValue[1].value");
	CHECK(mv.meter_value == NULL);
	json_decref(j);
}

static void test_errata(void)
{
	struct ocpp_err err;
	json_t *j = json_loads("{\"connectorId\":1,\"meterValue\":[" METERVALUE "]}", 0, NULL);
	struct ocpp_meter_values_req mv;
	CHECK_INT(ocpp_meter_values_req_decode(j, &mv, &err), 0);
	CHECK_INT(mv.n_meter_value, 1);
	CHECK_INT(mv.meter_value[0].n_sampled_value, 3);
	CHECK_INT(mv.meter_value[0].sampled_value[1].unit, OCPP_UNIT_OF_MEASURE_CELSIUS);
	CHECK_INT(mv.meter_value[0].sampled_value[2].unit, OCPP_UNIT_OF_MEASURE_CELCIUS);
	CHECK_STR(ocpp_unit_of_measure_str(mv.meter_value[0].sampled_value[2].unit), "Celcius");
	CHECK(mv.meter_value[0].sampled_value[0].has_phase);
	CHECK_INT(mv.meter_value[0].sampled_value[0].phase, OCPP_PHASE_L1_N);
	CHECK(!mv.meter_value[0].sampled_value[1].has_phase);
	CHECK_STR(mv.meter_value[0].sampled_value[0].value, "1234.5");
	CHECK_INT(mv.meter_value[0].timestamp.unix_ms, 1714564800000LL);
	ocpp_meter_values_req_free(&mv);
	CHECK_INT(mv.n_meter_value, 0);
	ocpp_meter_values_req_free(NULL);
	json_decref(j);

	/* StopTransaction without reason (errata 2.5): valid, reason absent. */
	j = json_loads("{\"meterStop\":10,\"timestamp\":" DT2 ",\"transactionId\":3}", 0, NULL);
	struct ocpp_stop_transaction_req st;
	CHECK_INT(ocpp_stop_transaction_req_decode(j, &st, &err), 0);
	CHECK(!st.has_reason);
	CHECK(!st.has_id_tag);
	CHECK_INT(st.meter_stop, 10);
	CHECK_INT(st.timestamp.unix_ms, 1714566615123LL);
	CHECK_STR(st.timestamp.str, "2024-05-01T14:30:15.123+02:00");
	json_t *again = ocpp_stop_transaction_req_encode(&st);
	CHECK(json_equal(j, again));
	CHECK(json_object_get(again, "reason") == NULL);
	json_decref(again);
	ocpp_stop_transaction_req_free(&st);
	json_decref(j);

	/* BootNotification interval must be an integer (errata 2.3). */
	j = json_loads("{\"status\":\"Pending\",\"currentTime\":" DT ",\"interval\":30.5}", 0, NULL);
	struct ocpp_boot_notification_conf bc;
	CHECK_INT(ocpp_boot_notification_conf_decode(j, &bc, &err), OCPP_E_INVALID);
	CHECK_INT(err.code, OCPP_ERR_TYPE_CONSTRAINT_VIOLATION);
	json_decref(j);
	/* ... while 30.0 is an integer to JavaScript validators. */
	j = json_loads("{\"status\":\"Pending\",\"currentTime\":" DT ",\"interval\":30.0}", 0, NULL);
	CHECK_INT(ocpp_boot_notification_conf_decode(j, &bc, &err), 0);
	CHECK_INT(bc.interval, 30);
	CHECK_INT(bc.status, OCPP_REGISTRATION_STATUS_PENDING);
	ocpp_boot_notification_conf_free(&bc);
	json_decref(j);
}

static void test_encode_struct(void)
{
	struct ocpp_status_notification_req sn = { 0 };
	sn.connector_id = 1;
	sn.error_code = OCPP_CHARGE_POINT_ERROR_CODE_NO_ERROR;
	sn.status = OCPP_CHARGE_POINT_STATUS_SUSPENDED_EVSE;
	sn.has_timestamp = true;
	ocpp_datetime_set(&sn.timestamp, 1714564800123LL);
	json_t *j = ocpp_status_notification_req_encode(&sn);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(s, "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"SuspendedEVSE\","
		  "\"timestamp\":\"2024-05-01T12:00:00.123Z\"}");
	free(s);
	json_decref(j);
	/* An enum value out of range cannot be encoded. */
	sn.status = (enum ocpp_charge_point_status)99;
	CHECK(ocpp_status_notification_req_encode(&sn) == NULL);

	enum ocpp_reason reason;
	CHECK_INT(ocpp_reason_parse("EVDisconnected", &reason), 0);
	CHECK_INT(reason, OCPP_REASON_EV_DISCONNECTED);
	CHECK_INT(ocpp_reason_parse("evdisconnected", &reason), OCPP_E_INVALID);
	CHECK(ocpp_reason_str(OCPP_REASON__COUNT) == NULL);
	CHECK(ocpp_action_find("Nope") == NULL);
	CHECK(ocpp_action_find("") == NULL);
	const struct ocpp_action *a = ocpp_action_find("DataTransfer");
	CHECK(a && a->senders == (OCPP_SENDER_CP | OCPP_SENDER_CS));
	a = ocpp_action_find("Reset");
	CHECK(a && a->senders == OCPP_SENDER_CS && strcmp(a->profile, "Core") == 0);
}

static void test_datetime(void)
{
	struct ocpp_datetime dt;
	static const char *const good[] = {
		"1970-01-01T00:00:00Z", "2024-02-29T23:59:60Z", "2024-05-01t12:00:00.5z",
		"2024-05-01T12:00:00.123456789-05:30", "9999-12-31T23:59:59Z",
	};
	static const char *const bad[] = {
		"", "2024-05-01", "2024-05-01T12:00Z", "2024-13-01T00:00:00Z",
		"2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z",
		"2024-05-01T12:00:00.1234567890Z", "2024-05-01T12:00:00+0200",
		"2024-05-01T12:00:00+02:00x", "2024-05-01T12:00:00 Z", "+2024-05-01T12:00:00Z",
		"2024-05-01T12:00:00+24:00", "2024-5-01T12:00:00Z",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_INT(ocpp_datetime_parse(good[i], &dt), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = ocpp_datetime_parse(bad[i], &dt);
		if (r == 0)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK_INT(r, OCPP_E_INVALID);
	}
	CHECK_INT(ocpp_datetime_parse("2024-05-01T12:00:00.5-01:00", &dt), 0);
	CHECK_INT(dt.unix_ms, 1714564800000LL + 3600000 + 500);
	ocpp_datetime_set(&dt, 0);
	CHECK_STR(dt.str, "1970-01-01T00:00:00.000Z");
	ocpp_datetime_set(&dt, -1);
	CHECK_STR(dt.str, "1969-12-31T23:59:59.999Z");
	struct ocpp_datetime back;
	ocpp_datetime_set(&dt, 1709251199999LL);
	CHECK_STR(dt.str, "2024-02-29T23:59:59.999Z");
	CHECK_INT(ocpp_datetime_parse(dt.str, &back), 0);
	CHECK_INT(back.unix_ms, 1709251199999LL);
}

int main(void)
{
	test_examples();
	test_violations();
	test_bounds();
	test_errata();
	test_encode_struct();
	test_datetime();
	return check_done();
}
