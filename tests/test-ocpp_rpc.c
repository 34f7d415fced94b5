/* test-ocpp_rpc.c: OCPP-J frame parsing (every malformed shape says what to
 * answer, and whether an answer is possible), frame encoding, CALL payload
 * validation through the action table, error code names and message ids. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "ocpp_messages.h"
#include "wattstream/ocpp_rpc.h"

static int parse(const char *s, struct ocpp_rpc_msg *m, struct ocpp_rpc_perr *pe)
{
	return ocpp_rpc_parse(s, strlen(s), m, pe);
}

static void test_parse_good(void)
{
	struct ocpp_rpc_msg m;
	struct ocpp_rpc_perr pe;

	CHECK_INT(parse("[2,\"19223201\",\"BootNotification\",{\"chargePointVendor\":\"VendorX\","
			"\"chargePointModel\":\"SingleSocketCharger\"}]", &m, &pe), 0);
	CHECK_INT(m.type, OCPP_MSG_CALL);
	CHECK_STR(m.id, "19223201");
	CHECK_STR(m.action, "BootNotification");
	CHECK(json_is_object(m.payload));
	struct ocpp_boot_notification_req bn;
	CHECK_INT(ocpp_rpc_decode_call(&m, &bn, &pe), 0);
	CHECK_STR(bn.charge_point_model, "SingleSocketCharger");
	ocpp_boot_notification_req_free(&bn);
	ocpp_rpc_msg_clear(&m);
	CHECK(m.payload == NULL);

	/* Whitespace, null payload taken as {}, 36-character id. */
	CHECK_INT(parse(" [ 2 , \"123456789012345678901234567890123456\" , \"Heartbeat\" , null ]\n", &m, &pe), 0);
	CHECK_INT(json_object_size(m.payload), 0);
	CHECK(json_is_object(m.payload));
	ocpp_rpc_msg_clear(&m);

	CHECK_INT(parse("[3,\"19223201\",{\"status\":\"Accepted\",\"currentTime\":\"2013-02-01T20:53:32.486Z\",\"interval\":300}]",
			&m, &pe), 0);
	CHECK_INT(m.type, OCPP_MSG_CALLRESULT);
	CHECK_STR(m.id, "19223201");
	struct ocpp_boot_notification_conf bc;
	struct ocpp_err err;
	CHECK_INT(ocpp_boot_notification_conf_decode(m.payload, &bc, &err), 0);
	CHECK_INT(bc.interval, 300);
	ocpp_boot_notification_conf_free(&bc);
	ocpp_rpc_msg_clear(&m);

	CHECK_INT(parse("[3,\"a\",null]", &m, &pe), 0);
	CHECK(json_is_object(m.payload));
	ocpp_rpc_msg_clear(&m);

	CHECK_INT(parse("[4,\"162376037\",\"NotSupported\",\"SendLocalList.req not implemented\",{}]", &m, &pe), 0);
	CHECK_INT(m.type, OCPP_MSG_CALLERROR);
	CHECK_INT(m.error_code, OCPP_ERR_NOT_SUPPORTED);
	CHECK_STR(m.error_code_str, "NotSupported");
	CHECK_STR(m.error_description, "SendLocalList.req not implemented");
	CHECK(json_is_object(m.error_details));
	ocpp_rpc_msg_clear(&m);

	/* ocpp-rpc's spelling, an unknown code, details missing or with content. */
	CHECK_INT(parse("[4,\"x\",\"OccurrenceConstraintViolation\",\"\",{\"k\":1}]", &m, &pe), 0);
	CHECK_INT(m.error_code, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION);
	CHECK_INT(json_object_size(m.error_details), 1);
	ocpp_rpc_msg_clear(&m);
	CHECK_INT(parse("[4,\"x\",\"RpcFrameworkError\",\"?\"]", &m, &pe), 0);
	CHECK_INT(m.error_code, OCPP_ERR_GENERIC_ERROR);
	CHECK_STR(m.error_code_str, "RpcFrameworkError");
	ocpp_rpc_msg_clear(&m);
	ocpp_rpc_msg_clear(NULL);
}

struct bad {
	const char *frame;
	bool can_answer;
	enum ocpp_error_code code;
	const char *id; /* id reported in perr ("" if none) */
};

static const struct bad bads[] = {
	/* nothing to answer: no id, not an array, not a CALL, unknown type */
	{ "", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "not json", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "{\"a\":1}", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[2]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[2,17,\"Heartbeat\",{}]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[2,null,\"Heartbeat\",{}]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[5,\"1\",\"Heartbeat\",{}]", false, OCPP_ERR_PROTOCOL_ERROR, "" },
	{ "[\"2\",\"1\",\"Heartbeat\",{}]", false, OCPP_ERR_PROTOCOL_ERROR, "" },
	{ "[2.5,\"1\",\"Heartbeat\",{}]", false, OCPP_ERR_PROTOCOL_ERROR, "" },
	{ "[3,\"r1\",{}, {}]", false, OCPP_ERR_FORMATION_VIOLATION, "r1" },
	{ "[3,\"r1\"]", false, OCPP_ERR_FORMATION_VIOLATION, "r1" },
	{ "[3,\"r1\",[]]", false, OCPP_ERR_FORMATION_VIOLATION, "r1" },
	{ "[4,\"e1\",\"GenericError\"]", false, OCPP_ERR_FORMATION_VIOLATION, "e1" },
	{ "[4,\"e1\",7,\"d\",{}]", false, OCPP_ERR_FORMATION_VIOLATION, "e1" },
	{ "[4,\"e1\",\"GenericError\",\"d\",[]]", false, OCPP_ERR_FORMATION_VIOLATION, "e1" },
	{ "[3,\"r2\",{\"a\":1,\"a\":2}]", false, OCPP_ERR_FORMATION_VIOLATION, "r2" },
	/* a CALL with a usable id gets a CALLERROR */
	{ "[2,\"c1\",\"Heartbeat\"]", true, OCPP_ERR_PROTOCOL_ERROR, "c1" },
	{ "[2,\"c1\",\"Heartbeat\",{},{}]", true, OCPP_ERR_FORMATION_VIOLATION, "c1" },
	{ "[2,\"c1\",42,{}]", true, OCPP_ERR_FORMATION_VIOLATION, "c1" },
	{ "[2,\"c1\",\"FlyToTheMoon\",{}]", true, OCPP_ERR_NOT_IMPLEMENTED, "c1" },
	{ "[2,\"c1\",\"heartbeat\",{}]", true, OCPP_ERR_NOT_IMPLEMENTED, "c1" },
	{ "[2,\"c1\",\"\",{}]", true, OCPP_ERR_NOT_IMPLEMENTED, "c1" },
	{ "[2,\"c1\",\"Heartbeat\",[]]", true, OCPP_ERR_FORMATION_VIOLATION, "c1" },
	{ "[2,\"c1\",\"Heartbeat\",\"{}\"]", true, OCPP_ERR_FORMATION_VIOLATION, "c1" },
	{ "[2,\"\",\"Heartbeat\",{}]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
	{ "[2,\"1234567890123456789012345678901234567\",\"Heartbeat\",{}]", true, OCPP_ERR_FORMATION_VIOLATION,
	  "1234567890123456789012345678901234567" },
	/* broken JSON after a readable id: still answered */
	{ "[2,\"c2\",\"Heartbeat\",{]", true, OCPP_ERR_FORMATION_VIOLATION, "c2" },
	{ "[2, \"c2\",\"Reset\",{\"type\":\"Hard\",\"type\":\"Soft\"}]", true, OCPP_ERR_FORMATION_VIOLATION, "c2" },
	{ "[2,\"c2\",\"Heartbeat\",{\"x\":\"\xff\"}]", true, OCPP_ERR_FORMATION_VIOLATION, "c2" },
	{ "[2,\"c2\",\"Heartbeat\",{\"x\":\"a\\u0000b\"}]", true, OCPP_ERR_FORMATION_VIOLATION, "c2" },
	{ "[2,\"c2\",\"Heartbeat\",{\"x\":1e999}]", true, OCPP_ERR_FORMATION_VIOLATION, "c2" },
	{ "[3,\"r3\",{\"x\":tru}]", false, OCPP_ERR_FORMATION_VIOLATION, "r3" },
	/* an id with an escape cannot be recovered from broken JSON */
	{ "[2,\"c\\\"3\",\"Heartbeat\",{]", false, OCPP_ERR_FORMATION_VIOLATION, "" },
};

static void test_parse_bad(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct ocpp_rpc_msg m;
		memset(&m, 0x5a, sizeof(m));
		struct ocpp_rpc_perr pe;
		int r = parse(b->frame, &m, &pe);
		CHECK_INT(r, OCPP_E_INVALID);
		if (r != OCPP_E_INVALID || pe.can_answer != b->can_answer || pe.code != b->code)
			fprintf(stderr, "  frame %zu %s: %s %s\n", i, b->frame,
				ocpp_error_code_str(pe.code), pe.err.desc);
		CHECK_INT(pe.can_answer, b->can_answer);
		CHECK_STR(ocpp_error_code_str(pe.code), ocpp_error_code_str(b->code));
		CHECK_INT(pe.err.code, pe.code);
		CHECK_STR(pe.id, b->id);
		CHECK(pe.err.desc[0] != '\0');
		/* *out untouched on failure */
		CHECK(((unsigned char *)&m)[0] == 0x5a);
	}
}

static void test_parse_limits(void)
{
	struct ocpp_rpc_msg m;
	struct ocpp_rpc_perr pe;
	/* nesting: 16 levels pass the depth check, 17 do not */
	char deep[256];
	strcpy(deep, "[2,\"d1\",\"DataTransfer\",{\"vendorId\":\"v\",\"data\":");
	size_t n = strlen(deep);
	for (int i = 0; i < 14; i++)
		deep[n++] = '[';
	for (int i = 0; i < 14; i++)
		deep[n++] = ']';
	strcpy(deep + n, "}]");
	CHECK_INT(parse(deep, &m, &pe), 0); /* depth 16: parses; the schema refuses data */
	struct ocpp_data_transfer_req dt;
	CHECK_INT(ocpp_rpc_decode_call(&m, &dt, &pe), OCPP_E_INVALID);
	CHECK_INT(pe.code, OCPP_ERR_TYPE_CONSTRAINT_VIOLATION);
	CHECK(pe.can_answer);
	CHECK_STR(pe.id, "d1");
	CHECK_STR(pe.err.path, "data");
	ocpp_rpc_msg_clear(&m);
	memmove(deep + 48, deep + 47, strlen(deep + 47) + 1);
	deep[47] = '[';
	memmove(deep + 63, deep + 62, strlen(deep + 62) + 1);
	deep[62] = ']';
	CHECK_INT(parse(deep, &m, &pe), OCPP_E_INVALID);
	CHECK_INT(pe.code, OCPP_ERR_FORMATION_VIOLATION);
	CHECK(pe.can_answer);
	CHECK_STR(pe.id, "d1");
	/* brackets inside strings do not count */
	CHECK_INT(parse("[2,\"d2\",\"DataTransfer\",{\"vendorId\":\"v\",\"data\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}]",
			&m, &pe), 0);
	ocpp_rpc_msg_clear(&m);

	/* size */
	size_t big = OCPP_RPC_FRAME_MAX + 1;
	char *buf = malloc(big + 1);
	if (!buf)
		return;
	memset(buf, ' ', big);
	memcpy(buf, "[2,\"s1\",\"DataTransfer\",{\"vendorId\":\"v\"}]", 40);
	buf[big] = '\0';
	CHECK_INT(ocpp_rpc_parse(buf, big, &m, &pe), OCPP_E_INVALID);
	CHECK_INT(pe.code, OCPP_ERR_FORMATION_VIOLATION);
	CHECK(pe.can_answer);
	CHECK_STR(pe.id, "s1");
	CHECK_INT(ocpp_rpc_parse(buf, big - 1, &m, &pe), 0); /* at the limit: fine */
	ocpp_rpc_msg_clear(&m);
	/* not NUL-terminated input: only len bytes are read */
	CHECK_INT(ocpp_rpc_parse("[3,\"z\",{}]garbage", 10, &m, &pe), 0);
	ocpp_rpc_msg_clear(&m);
	free(buf);
}

static void test_decode_call(void)
{
	struct ocpp_rpc_msg m;
	struct ocpp_rpc_perr pe;
	struct ocpp_reset_req reset;
	CHECK_INT(parse("[2,\"r1\",\"Reset\",{\"type\":\"Warm\"}]", &m, &pe), 0);
	CHECK_INT(ocpp_rpc_decode_call(&m, &reset, &pe), OCPP_E_INVALID);
	CHECK(pe.can_answer);
	CHECK_INT(pe.type, OCPP_MSG_CALL);
	CHECK_INT(pe.code, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION);
	CHECK_STR(pe.id, "r1");
	CHECK_STR(pe.err.path, "type");
	char *frame = NULL;
	CHECK_INT(ocpp_rpc_encode_error(pe.id, pe.code, pe.err.desc, &frame), 0);
	CHECK_STR(frame, "[4,\"r1\",\"PropertyConstraintViolation\",\"type: \\\"Warm\\\" is not an allowed value\",{}]");
	free(frame);
	ocpp_rpc_msg_clear(&m);

	CHECK_INT(parse("[2,\"r2\",\"Reset\",{}]", &m, &pe), 0);
	CHECK_INT(ocpp_rpc_decode_call(&m, &reset, &pe), OCPP_E_INVALID);
	CHECK_INT(pe.code, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION);
	ocpp_rpc_msg_clear(&m);

	CHECK_INT(parse("[2,\"r3\",\"Reset\",{\"type\":\"Hard\"}]", &m, &pe), 0);
	CHECK_INT(ocpp_rpc_decode_call(&m, &reset, &pe), 0);
	CHECK_INT(reset.type, OCPP_RESET_HARD);
	ocpp_reset_req_free(&reset);
	ocpp_rpc_msg_clear(&m);

	/* integers arrive as JSON reals from the frame parser: still integers */
	CHECK_INT(parse("[2,\"r4\",\"RemoteStopTransaction\",{\"transactionId\":123456789}]", &m, &pe), 0);
	struct ocpp_remote_stop_transaction_req rs;
	CHECK_INT(ocpp_rpc_decode_call(&m, &rs, &pe), 0);
	CHECK_INT(rs.transaction_id, 123456789);
	ocpp_remote_stop_transaction_req_free(&rs);
	ocpp_rpc_msg_clear(&m);
	CHECK_INT(parse("[2,\"r5\",\"RemoteStopTransaction\",{\"transactionId\":99999999999999999999999}]", &m, &pe), 0);
	CHECK_INT(ocpp_rpc_decode_call(&m, &rs, &pe), OCPP_E_INVALID);
	CHECK_INT(pe.code, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION);
	ocpp_rpc_msg_clear(&m);

	struct ocpp_rpc_msg notcall = { .type = OCPP_MSG_CALLRESULT };
	CHECK_INT(ocpp_rpc_decode_call(&notcall, &reset, &pe), -EINVAL);
}

static void test_encode(void)
{
	char *f = NULL;
	json_t *p = json_pack("{s:s}", "idTag", "T1");
	CHECK_INT(ocpp_rpc_encode_call("abc-1", "Authorize", p, &f), 0);
	CHECK_STR(f, "[2,\"abc-1\",\"Authorize\",{\"idTag\":\"T1\"}]");
	free(f);
	CHECK_INT(json_object_size(p), 1); /* not consumed */
	CHECK_INT(ocpp_rpc_encode_result("abc-1", NULL, &f), 0);
	CHECK_STR(f, "[3,\"abc-1\",{}]");
	free(f);
	CHECK_INT(ocpp_rpc_encode_result("abc-1", p, &f), 0);
	CHECK_STR(f, "[3,\"abc-1\",{\"idTag\":\"T1\"}]");
	free(f);
	CHECK_INT(ocpp_rpc_encode_error("abc-1", OCPP_ERR_NOT_IMPLEMENTED, NULL, &f), 0);
	CHECK_STR(f, "[4,\"abc-1\",\"NotImplemented\",\"\",{}]");
	free(f);
	CHECK_INT(ocpp_rpc_encode_error("abc-1", OCPP_ERR_GENERIC_ERROR, "bad \xff byte \"q\"", &f), 0);
	CHECK_STR(f, "[4,\"abc-1\",\"GenericError\",\"bad ? byte \\\"q\\\"\",{}]");
	free(f);
	/* An over-long CALL id is echoed in its CALLERROR. */
	CHECK_INT(ocpp_rpc_encode_error("1234567890123456789012345678901234567", OCPP_ERR_FORMATION_VIOLATION, "id", &f), 0);
	free(f);

	f = (char *)"untouched";
	json_t *arr = json_array();
	CHECK_INT(ocpp_rpc_encode_call("", "Authorize", p, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_call("1234567890123456789012345678901234567", "Authorize", p, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_call("a", "", p, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_call("a", NULL, p, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_call("a", "Authorize", arr, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_result(NULL, p, &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_error("a", OCPP_ERR_NONE, "x", &f), -EINVAL);
	CHECK_INT(ocpp_rpc_encode_error("a", (enum ocpp_error_code)77, "x", &f), -EINVAL);
	CHECK_STR(f, "untouched");
	json_decref(arr);
	json_decref(p);

	/* What we encode, we parse back. */
	CHECK_INT(ocpp_rpc_encode_call("id-9", "Heartbeat", NULL, &f), 0);
	struct ocpp_rpc_msg m;
	struct ocpp_rpc_perr pe;
	CHECK_INT(parse(f, &m, &pe), 0);
	CHECK_STR(m.action, "Heartbeat");
	CHECK_STR(m.id, "id-9");
	ocpp_rpc_msg_clear(&m);
	free(f);
}

static void test_error_codes(void)
{
	static const char *const names[] = {
		"NotImplemented", "NotSupported", "InternalError", "ProtocolError",
		"SecurityError", "FormationViolation", "PropertyConstraintViolation",
		"OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum ocpp_error_code c;
		CHECK_INT(ocpp_error_code_parse(names[i], &c), 0);
		CHECK_STR(ocpp_error_code_str(c), names[i]);
	}
	enum ocpp_error_code c = OCPP_ERR_NONE;
	CHECK_INT(ocpp_error_code_parse("", &c), OCPP_E_INVALID);
	CHECK_INT(ocpp_error_code_parse("formationviolation", &c), OCPP_E_INVALID);
	CHECK_INT(c, OCPP_ERR_NONE);
	CHECK(ocpp_error_code_str((enum ocpp_error_code)99) == NULL);
}

static void test_ids(void)
{
	struct ocpp_rpc_idgen g, g2;
	static const uint8_t seed[6] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };
	static const uint8_t seed2[6] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x02 };
	ocpp_rpc_idgen_init(&g, seed);
	ocpp_rpc_idgen_init(&g2, seed2);
	char a[OCPP_RPC_ID_MAX + 1], b[OCPP_RPC_ID_MAX + 1];
	ocpp_rpc_idgen_next(&g, a);
	CHECK_STR(a, "deadbeef0001-1");
	ocpp_rpc_idgen_next(&g, b);
	CHECK_STR(b, "deadbeef0001-2");
	ocpp_rpc_idgen_next(&g2, b);
	CHECK(strcmp(a, b) != 0);
	g.counter = UINT64_MAX - 1;
	ocpp_rpc_idgen_next(&g, a);
	CHECK_STR(a, "deadbeef0001-18446744073709551615");
	CHECK(strlen(a) <= OCPP_RPC_ID_MAX);
}

int main(void)
{
	test_parse_good();
	test_parse_bad();
	test_parse_limits();
	test_decode_call();
	test_encode();
	test_error_codes();
	test_ids();
	return check_done();
}
