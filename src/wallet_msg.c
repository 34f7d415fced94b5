/* wallet_msg.c: parse and validate the wallet's messages, encode the
 * station's (docs/wallet-protocol.md §3).  A message is decoded by jansson
 * once (bounded by the 4096-byte frame), then every member is checked
 * against the table of its type in one pass; the voucher signature's shape
 * (length, v, r/s range, low S) is checked last, without recovering a key.
 * Cost: linear in the frame; no allocation beyond jansson's tree. */
#include "wattstream/wallet_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"

static const char *const err_names[WALLET_ERR__COUNT] = {
	[WALLET_ERR_BAD_REQUEST] = "bad_request",
	[WALLET_ERR_RATE_LIMITED] = "rate_limited",
	[WALLET_ERR_UNKNOWN_CONNECTOR] = "unknown_connector",
	[WALLET_ERR_CONNECTOR_BUSY] = "connector_busy",
	[WALLET_ERR_CONNECTOR_UNAVAILABLE] = "connector_unavailable",
	[WALLET_ERR_CHANNEL_NOT_FOUND] = "channel_not_found",
	[WALLET_ERR_CHANNEL_WRONG_RECEIVER] = "channel_wrong_receiver",
	[WALLET_ERR_CHANNEL_WRONG_TOKEN] = "channel_wrong_token",
	[WALLET_ERR_CHANNEL_UNDERFUNDED] = "channel_underfunded",
	[WALLET_ERR_CHANNEL_CLOSING] = "channel_closing",
	[WALLET_ERR_CHANNEL_DENIED] = "channel_denied",
	[WALLET_ERR_CHANNEL_IN_USE] = "channel_in_use",
	[WALLET_ERR_CHAIN_UNAVAILABLE] = "chain_unavailable",
	[WALLET_ERR_UNKNOWN_SESSION] = "unknown_session",
	[WALLET_ERR_VOUCHER_BAD_SIGNATURE] = "voucher_bad_signature",
	[WALLET_ERR_VOUCHER_HIGH_S] = "voucher_high_s",
	[WALLET_ERR_VOUCHER_BAD_V] = "voucher_bad_v",
	[WALLET_ERR_VOUCHER_WRONG_SIGNER] = "voucher_wrong_signer",
	[WALLET_ERR_VOUCHER_WRONG_CHANNEL] = "voucher_wrong_channel",
	[WALLET_ERR_VOUCHER_NOT_HIGHER] = "voucher_not_higher",
	[WALLET_ERR_VOUCHER_OVER_DEPOSIT] = "voucher_over_deposit",
	[WALLET_ERR_INTERNAL] = "internal",
};

const char *wallet_err_name(enum wallet_err e)
{
	if ((unsigned)e >= WALLET_ERR__COUNT)
		return NULL;
	return err_names[e];
}

enum wallet_err wallet_err_from_name(const char *name)
{
	if (!name)
		return WALLET_ERR_NONE;
	for (unsigned i = 1; i < WALLET_ERR__COUNT; i++)
		if (strcmp(err_names[i], name) == 0)
			return (enum wallet_err)i;
	return WALLET_ERR_NONE;
}

/* ---- parsing ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int refuse(struct wallet_msg_error *err, enum wallet_err code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return WALLET_MSG_E_INVALID;
}

/* A member name from the wallet, made safe to echo: printable ASCII only
 * (the message must stay valid UTF-8), at most 32 characters. */
static const char *safe_name(const char *s, char out[40])
{
	size_t i;

	for (i = 0; s[i] && i < 32; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
	if (s[i])
		out[i++] = '~';
	out[i] = '\0';
	return out;
}

/* Members of each type; "type" and "id" are allowed in all. */
static const char *const start_members[] = { "connector", "channelId", NULL };
static const char *const voucher_members[] = { "session", "channelId", "amount",
					       "signature", NULL };
static const char *const stop_members[] = { "session", NULL };

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

/* The string value of member key, or NULL with the refusal in err (missing
 * or not a string).  Strings with an embedded NUL are refused. */
static const char *get_string(const json_t *obj, const char *key,
			      struct wallet_msg_error *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!v) {
		refuse(err, WALLET_ERR_BAD_REQUEST, "missing member '%s'", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' must be a string", key);
		return NULL;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' holds a NUL", key);
		return NULL;
	}
	return s;
}

static int get_bytes32(const json_t *obj, const char *key, uint8_t out[32],
		       struct wallet_msg_error *err)
{
	const char *s = get_string(obj, key, err);

	if (!s)
		return WALLET_MSG_E_INVALID;
	int r = ws_hex_parse(s, out, 32);
	if (r == -ERANGE)
		return refuse(err, WALLET_ERR_BAD_REQUEST,
			      "member '%s' must be 32 bytes (0x + 64 hex digits)", key);
	if (r < 0)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' is not 0x hex", key);
	return 0;
}

static int get_amount(const json_t *obj, const char *key, ws_u256 *out,
		      struct wallet_msg_error *err)
{
	const char *s = get_string(obj, key, err);

	if (!s)
		return WALLET_MSG_E_INVALID;
	int r = ws_u256_from_dec(out, s);
	if (r == -ERANGE)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' is above 2^256-1", key);
	if (r < 0)
		return refuse(err, WALLET_ERR_BAD_REQUEST,
			      "member '%s' must be a decimal string without sign or leading zeros",
			      key);
	return 0;
}

static int get_connector(const json_t *obj, uint32_t *out, struct wallet_msg_error *err)
{
	const json_t *v = json_object_get(obj, "connector");

	if (!v)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member 'connector'");
	if (!json_is_integer(v))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'connector' must be an integer");
	json_int_t c = json_integer_value(v);
	if (c < 0 || c > INT32_MAX)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'connector' is out of range");
	*out = (uint32_t)c;
	return 0;
}

/* The signature's hex; its shape is checked after every other member so
 * that a malformed message is always bad_request first. */
static int get_signature(const json_t *obj, uint8_t out[WALLET_SIG_SIZE], size_t *len,
			 struct wallet_msg_error *err)
{
	const char *s = get_string(obj, "signature", err);

	if (!s)
		return WALLET_MSG_E_INVALID;
	int r = ws_hex_parse_var(s, out, WALLET_SIG_SIZE, len);
	if (r == -ERANGE) {
		*len = WALLET_SIG_SIZE + 1;	/* too long: a length error below */
		return 0;
	}
	if (r < 0)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'signature' is not 0x hex");
	return 0;
}

static int check_signature(const uint8_t *sig, size_t len, struct wallet_msg_error *err)
{
	switch (ws_ecsig_check(sig, len)) {
	case 0:
		return 0;
	case WS_ECSIG_E_LENGTH:
		return refuse(err, WALLET_ERR_VOUCHER_BAD_SIGNATURE, "signature must be 65 bytes");
	case WS_ECSIG_E_V:
		return refuse(err, WALLET_ERR_VOUCHER_BAD_V, "signature v must be 27 or 28");
	case WS_ECSIG_E_HIGH_S:
		return refuse(err, WALLET_ERR_VOUCHER_HIGH_S, "signature s is above n/2");
	default:
		return refuse(err, WALLET_ERR_VOUCHER_BAD_SIGNATURE,
			      "signature r or s is out of range");
	}
}

/* Number of UTF-8 code points of s (valid UTF-8, as jansson guarantees). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int wallet_msg_parse_json(const json_t *v, struct wallet_msg *msg,
			  struct wallet_msg_error *err)
{
	const char *const *members;
	const char *type, *key;
	const json_t *val;
	char name[40];
	int r;

	memset(msg, 0, sizeof(*msg));
	memset(err, 0, sizeof(*err));
	if (!json_is_object(v))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "a message must be a JSON object");

	/* the id first, so that every later refusal can carry it */
	val = json_object_get(v, "id");
	if (val) {
		if (!json_is_string(val))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'id' must be a string");
		const char *id = json_string_value(val);
		size_t n = json_string_length(val);
		if (strlen(id) != n || n >= sizeof(msg->id))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'id' is too long");
		size_t chars = utf8_chars(id);
		if (chars < 1 || chars > WALLET_ID_MAX)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member 'id' must be 1 to %d characters", WALLET_ID_MAX);
		memcpy(msg->id, id, n + 1);
		msg->has_id = true;
	}

	val = json_object_get(v, "type");
	if (!val)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member 'type'");
	if (!json_is_string(val))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'type' must be a string");
	type = json_string_value(val);
	if (strcmp(type, "start") == 0) {
		msg->type = WALLET_MSG_START;
		members = start_members;
	} else if (strcmp(type, "voucher") == 0) {
		msg->type = WALLET_MSG_VOUCHER;
		members = voucher_members;
	} else if (strcmp(type, "stop") == 0) {
		msg->type = WALLET_MSG_STOP;
		members = stop_members;
	} else {
		return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown type '%s'",
			      safe_name(type, name));
	}

	json_object_foreach((json_t *)v, key, val) {
		if (strcmp(key, "type") != 0 && strcmp(key, "id") != 0 && !in_list(members, key))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown member '%s' in %s",
				      safe_name(key, name), type);
	}

	switch (msg->type) {
	case WALLET_MSG_START:
		r = get_connector(v, &msg->start.connector, err);
		if (r == 0)
			r = get_bytes32(v, "channelId", msg->start.channel_id, err);
		return r;
	case WALLET_MSG_VOUCHER: {
		uint8_t sig[WALLET_SIG_SIZE];
		size_t sig_len = 0;
		r = get_bytes32(v, "session", msg->voucher.session, err);
		if (r == 0)
			r = get_bytes32(v, "channelId", msg->voucher.channel_id, err);
		if (r == 0)
			r = get_amount(v, "amount", &msg->voucher.amount, err);
		if (r == 0)
			r = get_signature(v, sig, &sig_len, err);
		if (r == 0)
			r = check_signature(sig, sig_len, err);
		if (r == 0)
			memcpy(msg->voucher.signature, sig, WALLET_SIG_SIZE);
		return r;
	}
	case WALLET_MSG_STOP:
		return get_bytes32(v, "session", msg->stop.session, err);
	}
	return -EINVAL;	/* not reached: every type is handled above */
}

/* jansson's load with its errors sorted: text that is not JSON is
 * WALLET_MSG_E_JSON; JSON that jansson cannot represent is a bad message. */
static int load(const char *text, size_t len, json_t **out, struct wallet_msg_error *err)
{
	json_error_t jerr;

	if (len > WALLET_MSG_MAX_BYTES)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "message above %d bytes",
			      WALLET_MSG_MAX_BYTES);
	*out = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (*out)
		return 0;
	switch (json_error_code(&jerr)) {
	case json_error_out_of_memory:
		return -ENOMEM;
	case json_error_duplicate_key:
		return refuse(err, WALLET_ERR_BAD_REQUEST, "duplicate member");
	case json_error_null_character:
		return refuse(err, WALLET_ERR_BAD_REQUEST, "string holds \\u0000");
	case json_error_numeric_overflow:
		return refuse(err, WALLET_ERR_BAD_REQUEST, "number out of range");
	case json_error_stack_overflow:
		return refuse(err, WALLET_ERR_BAD_REQUEST, "nested too deep");
	default:
		return WALLET_MSG_E_JSON;
	}
}

int wallet_msg_parse(const char *text, size_t len, struct wallet_msg *msg,
		     struct wallet_msg_error *err)
{
	json_t *v;
	int r;

	if (!text || !msg || !err)
		return -EINVAL;
	memset(msg, 0, sizeof(*msg));
	memset(err, 0, sizeof(*err));
	r = load(text, len, &v, err);
	if (r != 0)
		return r;
	r = wallet_msg_parse_json(v, msg, err);
	json_decref(v);
	return r;
}

static bool id_ok(const char *id)
{
	if (!id)
		return true;	/* absent */
	size_t n = strlen(id), c = utf8_chars(id);
	return n < WALLET_ID_SIZE && c >= 1 && c <= WALLET_ID_MAX;
}

static const char *const end_reasons[] = { "stopped", "unpaid", "ev", "station", "fault", NULL };

/* ---- station messages, decoded ---------------------------------------- */

enum fkind {
	F_ADDR,		/* uint8_t[20], EIP-55 */
	F_B32,		/* uint8_t[32] */
	F_SIG,		/* uint8_t[65], length only */
	F_AMOUNT,	/* ws_u256 from a strict decimal string */
	F_DEC64,	/* uint64_t from a strict decimal string */
	F_U53,		/* uint64_t from an integer 0 .. 2^53-1 */
	F_U32,		/* uint32_t from an integer 0 .. 2^32-1 */
	F_BOOL,
	F_STR,		/* const char * into the tree */
	F_ID,		/* const char *, 1..36 characters */
};

struct field {
	const char *name;
	enum fkind kind;
	size_t off;
	bool optional;
};

#define FLD(name, kind, type, member) { name, kind, offsetof(type, member), false }
#define OPT(name, kind, type, member) { name, kind, offsetof(type, member), true }

static int parse_field(const json_t *v, const struct field *f, char *base,
		       struct wallet_msg_error *err)
{
	void *dst = base + f->off;
	const char *s = NULL;
	int r;

	if (f->kind == F_U53 || f->kind == F_U32) {
		if (!json_is_integer(v))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' must be an integer",
				      f->name);
		json_int_t i = json_integer_value(v);
		if (i < 0 || (f->kind == F_U32 ? i > (json_int_t)UINT32_MAX
					       : (uint64_t)i > WALLET_ENERGY_MAX))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' is out of range",
				      f->name);
		if (f->kind == F_U32)
			*(uint32_t *)dst = (uint32_t)i;
		else
			*(uint64_t *)dst = (uint64_t)i;
		return 0;
	}
	if (f->kind == F_BOOL) {
		if (!json_is_boolean(v))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' must be a boolean",
				      f->name);
		*(bool *)dst = json_is_true(v);
		return 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member '%s' must be a string", f->name);
	s = json_string_value(v);
	switch (f->kind) {
	case F_ADDR:
		r = ws_address_parse(s, dst);
		if (r == WS_ADDRESS_E_CHECKSUM)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' fails its EIP-55 checksum", f->name);
		if (r != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' must be 0x + 40 hex digits", f->name);
		return 0;
	case F_B32:
		if (ws_hex_parse(s, dst, 32) != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' must be 0x + 64 hex digits", f->name);
		return 0;
	case F_SIG:
		if (ws_hex_parse(s, dst, WALLET_SIG_SIZE) != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' must be 0x + 130 hex digits", f->name);
		return 0;
	case F_AMOUNT:
		if (ws_u256_from_dec(dst, s) != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' is not a canonical amount", f->name);
		return 0;
	case F_DEC64: {
		ws_u256 a;
		if (ws_u256_from_dec(&a, s) != 0 || ws_u256_to_u64(&a, dst) != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' is not a canonical uint64", f->name);
		return 0;
	}
	case F_ID:
		if (!id_ok(s) || !*s)
			return refuse(err, WALLET_ERR_BAD_REQUEST,
				      "member '%s' must be 1 to %d characters", f->name, WALLET_ID_MAX);
		*(const char **)dst = s;
		return 0;
	case F_STR:
		*(const char **)dst = s;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Parses obj against fields; members not in the table are refused, except
 * "type" when type_name is given (it must then equal it). */
static int parse_fields(const json_t *obj, const struct field *fields, size_t n, void *base,
			const char *type_name, struct wallet_msg_error *err)
{
	const char *key;
	const json_t *v;
	char name[40];
	int r;

	if (!json_is_object(obj))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "an object was expected");
	json_object_foreach((json_t *)obj, key, v) {
		bool known = type_name && strcmp(key, "type") == 0;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(fields[i].name, key) == 0;
		if (!known)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown member '%s'",
				      safe_name(key, name));
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(obj, fields[i].name);
		if (!v) {
			if (fields[i].optional)
				continue;
			return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member '%s'",
				      fields[i].name);
		}
		r = parse_field(v, &fields[i], base, err);
		if (r != 0)
			return r;
	}
	return 0;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct field offer_fields[] = {
	FLD("station", F_ADDR, struct wallet_offer, station),
	FLD("payee", F_ADDR, struct wallet_offer, payee),
	FLD("token", F_ADDR, struct wallet_offer, token),
	FLD("pricePerKWh", F_AMOUNT, struct wallet_offer, price_per_kwh),
	FLD("incrementWh", F_U32, struct wallet_offer, increment_wh),
	FLD("prepaidIncrements", F_U32, struct wallet_offer, prepaid_increments),
	FLD("graceSeconds", F_U32, struct wallet_offer, grace_s),
	FLD("validFrom", F_U53, struct wallet_offer, valid_from_s),
	FLD("validUntil", F_U53, struct wallet_offer, valid_until_s),
	FLD("location", F_STR, struct wallet_offer, location),
	FLD("endpoint", F_STR, struct wallet_offer, endpoint),
	FLD("nonce", F_DEC64, struct wallet_offer, nonce),
	FLD("signature", F_SIG, struct wallet_offer, signature),
};

struct hello_top {
	uint32_t protocol;
	struct wallet_hello h;
};

static const struct field hello_fields[] = {
	FLD("protocol", F_U32, struct hello_top, protocol),
	FLD("station", F_ADDR, struct hello_top, h.station),
	FLD("chainId", F_AMOUNT, struct hello_top, h.chain_id),
	FLD("channels", F_ADDR, struct hello_top, h.channels),
	FLD("registry", F_ADDR, struct hello_top, h.registry),
	FLD("minDeposit", F_AMOUNT, struct hello_top, h.min_deposit),
	FLD("maxSessionsPerChannel", F_U32, struct hello_top, h.max_sessions_per_channel),
	/* "offer" and "connectors" are parsed apart */
};

static const struct field connector_fields[] = {
	FLD("connector", F_U32, struct wallet_connector_status, connector),
	FLD("status", F_STR, struct wallet_connector_status, status),
};

static const struct field session_fields[] = {
	OPT("id", F_ID, struct wallet_session_info, id),
	FLD("session", F_B32, struct wallet_session_info, session),
	FLD("connector", F_U32, struct wallet_session_info, connector),
	FLD("channelId", F_B32, struct wallet_session_info, channel_id),
	FLD("idTag", F_STR, struct wallet_session_info, id_tag),
	FLD("base", F_AMOUNT, struct wallet_session_info, base),
	FLD("highest", F_AMOUNT, struct wallet_session_info, highest),
	FLD("meterStartMwh", F_U53, struct wallet_session_info, meter_start_mwh),
};

static const struct field invoice_fields[] = {
	FLD("session", F_B32, struct wallet_invoice, session),
	FLD("increments", F_U32, struct wallet_invoice, increments),
	FLD("amount", F_AMOUNT, struct wallet_invoice, amount),
	FLD("deliveredMwh", F_U53, struct wallet_invoice, delivered_mwh),
	FLD("meterMwh", F_U53, struct wallet_invoice, meter_mwh),
};

static const struct field accepted_fields[] = {
	OPT("id", F_ID, struct wallet_accepted, id),
	FLD("session", F_B32, struct wallet_accepted, session),
	FLD("amount", F_AMOUNT, struct wallet_accepted, amount),
	FLD("allowanceMwh", F_U53, struct wallet_accepted, allowance_mwh),
};

static const struct field receipt_fields[] = {
	FLD("session", F_B32, struct wallet_receipt, session),
	FLD("seq", F_U53, struct wallet_receipt, seq),
	FLD("channelId", F_B32, struct wallet_receipt, channel_id),
	FLD("meterStartMwh", F_U53, struct wallet_receipt, meter_start_mwh),
	FLD("meterMwh", F_U53, struct wallet_receipt, meter_mwh),
	FLD("deliveredMwh", F_U53, struct wallet_receipt, delivered_mwh),
	FLD("amountDue", F_AMOUNT, struct wallet_receipt, amount_due),
	FLD("paid", F_AMOUNT, struct wallet_receipt, paid),
	FLD("timestamp", F_U53, struct wallet_receipt, timestamp_ms),
	FLD("final", F_BOOL, struct wallet_receipt, final),
	FLD("signature", F_SIG, struct wallet_receipt, signature),
};

typedef struct wallet_station_msg wsm;

static const struct field suspended_fields[] = {
	FLD("session", F_B32, wsm, suspended.session),
	FLD("reason", F_STR, wsm, suspended.reason),
	FLD("graceUntil", F_U53, wsm, suspended.grace_until_ms),
};

static const struct field resumed_fields[] = {
	FLD("session", F_B32, wsm, resumed.session),
};

static const struct field ended_fields[] = {
	OPT("id", F_ID, wsm, ended.id),
	FLD("session", F_B32, wsm, ended.session),
	FLD("reason", F_STR, wsm, ended.reason),
	/* "receipt" apart */
};

static const struct field error_fields[] = {
	OPT("id", F_ID, wsm, error.id),
	FLD("code", F_STR, wsm, error.code_name),
	FLD("message", F_STR, wsm, error.message),
};

/* Copies obj without the members named in skip (for parse_fields on the
 * flat part of a message with nested members). */
static json_t *without(const json_t *obj, const char *const *skip)
{
	json_t *copy = json_copy((json_t *)obj);

	if (!copy)
		return NULL;
	for (; *skip; skip++)
		json_object_del(copy, *skip);
	return copy;
}

static int parse_flat(const json_t *obj, const char *const *skip, const struct field *f,
		      size_t n, void *base, const char *type, struct wallet_msg_error *err)
{
	json_t *flat = without(obj, skip);
	int r;

	if (!flat)
		return -ENOMEM;
	r = parse_fields(flat, f, n, base, type, err);
	json_decref(flat);
	return r;
}

static int parse_hello(const json_t *o, wsm *m, struct wallet_msg_error *err)
{
	static const char *const skip[] = { "offer", "connectors", NULL };
	struct hello_top top = { 0 };
	const json_t *conns, *offer = json_object_get(o, "offer");
	int r;

	r = parse_flat(o, skip, hello_fields, N(hello_fields), &top, "hello", err);
	if (r != 0)
		return r;
	if (top.protocol != WALLET_PROTOCOL_VERSION)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "protocol %u is not 1", top.protocol);
	m->hello = top.h;
	if (!offer)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member 'offer'");
	r = parse_fields(offer, offer_fields, N(offer_fields), &m->hello.offer, NULL, err);
	if (r != 0)
		return r;
	conns = json_object_get(o, "connectors");
	if (!conns)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member 'connectors'");
	if (!json_is_array(conns))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'connectors' must be an array");
	if (json_array_size(conns) > WALLET_HELLO_MAX_CONNECTORS)
		return refuse(err, WALLET_ERR_BAD_REQUEST, "more than %d connectors",
			      WALLET_HELLO_MAX_CONNECTORS);
	for (size_t i = 0; i < json_array_size(conns); i++) {
		r = parse_fields(json_array_get(conns, i), connector_fields, N(connector_fields),
				 &m->connectors[i], NULL, err);
		if (r != 0)
			return r;
	}
	m->hello.n_connectors = json_array_size(conns);
	m->hello.connectors = m->connectors;
	return 0;
}

static int parse_receipt(const json_t *o, struct wallet_receipt *rc, const char *type,
			 struct wallet_msg_error *err)
{
	const json_t *t = json_object_get(o, "type");

	/* a nested receipt may carry its "type" too, as the station writes it */
	if (t && (!json_is_string(t) || strcmp(json_string_value(t), "receipt") != 0))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "receipt of another type");
	return parse_fields(o, receipt_fields, N(receipt_fields), rc, type ? type : "receipt",
			    err);
}

static int parse_station(const json_t *o, wsm *m, struct wallet_msg_error *err)
{
	static const char *const names[] = {
		[WALLET_ST_HELLO] = "hello", [WALLET_ST_SESSION] = "session",
		[WALLET_ST_INVOICE] = "invoice", [WALLET_ST_ACCEPTED] = "accepted",
		[WALLET_ST_RECEIPT] = "receipt", [WALLET_ST_SUSPENDED] = "suspended",
		[WALLET_ST_RESUMED] = "resumed", [WALLET_ST_ENDED] = "ended",
		[WALLET_ST_ERROR] = "error",
	};
	static const char *const skip_receipt[] = { "receipt", NULL };
	const json_t *t;
	const char *type;
	char name[40];
	int r;

	if (!json_is_object(o))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "a message must be a JSON object");
	t = json_object_get(o, "type");
	if (!t || !json_is_string(t))
		return refuse(err, WALLET_ERR_BAD_REQUEST, "member 'type' must be a string");
	type = json_string_value(t);
	for (unsigned i = 1; i < N(names); i++)
		if (strcmp(type, names[i]) == 0)
			m->type = (enum wallet_station_type)i;
	switch (m->type) {
	case WALLET_ST_HELLO:
		return parse_hello(o, m, err);
	case WALLET_ST_SESSION:
		r = parse_fields(o, session_fields, N(session_fields), &m->session, type, err);
		if (r == 0 && strlen(m->session.id_tag) > 20)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "idTag above 20 characters");
		return r;
	case WALLET_ST_INVOICE:
		return parse_fields(o, invoice_fields, N(invoice_fields), &m->invoice, type, err);
	case WALLET_ST_ACCEPTED:
		return parse_fields(o, accepted_fields, N(accepted_fields), &m->accepted, type, err);
	case WALLET_ST_RECEIPT:
		return parse_receipt(o, &m->receipt, type, err);
	case WALLET_ST_SUSPENDED:
		r = parse_fields(o, suspended_fields, N(suspended_fields), m, type, err);
		if (r == 0 && strcmp(m->suspended.reason, "unpaid") != 0)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown suspension reason");
		return r;
	case WALLET_ST_RESUMED:
		return parse_fields(o, resumed_fields, N(resumed_fields), m, type, err);
	case WALLET_ST_ENDED:
		r = parse_flat(o, skip_receipt, ended_fields, N(ended_fields), m, type, err);
		if (r != 0)
			return r;
		if (!in_list(end_reasons, m->ended.reason))
			return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown end reason");
		t = json_object_get(o, "receipt");
		if (!t)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "missing member 'receipt'");
		r = parse_receipt(t, &m->ended.receipt, NULL, err);
		if (r == 0 && !m->ended.receipt.final)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "the bill must be final");
		return r;
	case WALLET_ST_ERROR:
		r = parse_fields(o, error_fields, N(error_fields), m, type, err);
		if (r != 0)
			return r;
		m->error.code = wallet_err_from_name(m->error.code_name);
		if (m->error.code == WALLET_ERR_NONE)
			return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown error code");
		return 0;
	}
	return refuse(err, WALLET_ERR_BAD_REQUEST, "unknown type '%s'", safe_name(type, name));
}

int wallet_msg_parse_station(const char *text, size_t len, struct wallet_station_msg *out,
			     struct wallet_msg_error *err)
{
	json_t *v;
	int r;

	if (!text || !out || !err)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	r = load(text, len, &v, err);
	if (r != 0)
		return r;
	r = parse_station(v, out, err);
	if (r != 0) {
		json_decref(v);
		memset(out, 0, sizeof(*out));
		return r;
	}
	out->root = v;
	return 0;
}

void wallet_station_msg_clear(struct wallet_station_msg *m)
{
	if (!m)
		return;
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

/* ---- encoding --------------------------------------------------------- */

struct hexbuf {
	char s[WS_HEX_STR_SIZE(WALLET_SIG_SIZE)];
};
struct decbuf {
	char s[WS_U256_DEC_SIZE];
};
struct addrbuf {
	char s[WS_ADDRESS_STR_SIZE];
};

static const char *hex(struct hexbuf *b, const uint8_t *p, size_t n)
{
	ws_hex_format(p, n, b->s, sizeof(b->s));
	return b->s;
}

static const char *dec(struct decbuf *b, const ws_u256 *v)
{
	ws_u256_to_dec(v, b->s, sizeof(b->s));
	return b->s;
}

static const char *addr(struct addrbuf *b, const uint8_t a[20])
{
	ws_address_format(a, b->s);
	return b->s;
}

static bool energy_ok(uint64_t v)
{
	return v <= WALLET_ENERGY_MAX;
}

/* json_pack results: NULL means a NULL string, bad UTF-8 or no memory; the
 * callers check their inputs first, so it is reported as -ENOMEM unless an
 * input was refused already. */
static int done(json_t **ret, json_t *o)
{
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int valid_utf8(const char *s)
{
	json_t *t = s ? json_string(s) : NULL;	/* jansson checks UTF-8 */

	if (!t)
		return 0;
	json_decref(t);
	return 1;
}

int wallet_msg_encode_hello(json_t **ret, const struct wallet_hello *h)
{
	const struct wallet_offer *o = &h->offer;
	struct addrbuf a1, a2, a3, a4, a5, a6;
	struct decbuf d1, d2, d3;
	struct hexbuf sig;
	json_t *offer, *conns, *msg;

	if (!valid_utf8(o->location) || !valid_utf8(o->endpoint) ||
	    !energy_ok(o->valid_from_s) || !energy_ok(o->valid_until_s) ||
	    (h->n_connectors && !h->connectors))
		return -EINVAL;
	conns = json_array();
	if (!conns)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_connectors; i++) {
		if (!valid_utf8(h->connectors[i].status)) {
			json_decref(conns);
			return -EINVAL;
		}
		if (json_array_append_new(conns, json_pack("{s:I,s:s}",
				"connector", (json_int_t)h->connectors[i].connector,
				"status", h->connectors[i].status)) < 0) {
			json_decref(conns);
			return -ENOMEM;
		}
	}
	/* the nonce is a uint64 on-chain: a string, as chainId */
	char nonce[24];
	snprintf(nonce, sizeof(nonce), "%llu", (unsigned long long)o->nonce);
	offer = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s}",
			  "station", addr(&a1, o->station),
			  "payee", addr(&a2, o->payee),
			  "token", addr(&a3, o->token),
			  "pricePerKWh", dec(&d1, &o->price_per_kwh),
			  "incrementWh", (json_int_t)o->increment_wh,
			  "prepaidIncrements", (json_int_t)o->prepaid_increments,
			  "graceSeconds", (json_int_t)o->grace_s,
			  "validFrom", (json_int_t)o->valid_from_s,
			  "validUntil", (json_int_t)o->valid_until_s,
			  "location", o->location,
			  "endpoint", o->endpoint,
			  "nonce", nonce,
			  "signature", hex(&sig, o->signature, WALLET_SIG_SIZE));
	if (!offer) {
		json_decref(conns);
		return -ENOMEM;
	}
	/* "o" steals the references, also when json_pack fails */
	msg = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:o,s:s,s:I,s:o}",
			"type", "hello", "protocol", WALLET_PROTOCOL_VERSION,
			"station", addr(&a4, h->station),
			"chainId", dec(&d2, &h->chain_id),
			"channels", addr(&a5, h->channels),
			"registry", addr(&a6, h->registry),
			"offer", offer,
			"minDeposit", dec(&d3, &h->min_deposit),
			"maxSessionsPerChannel", (json_int_t)h->max_sessions_per_channel,
			"connectors", conns);
	return done(ret, msg);
}

int wallet_msg_encode_session(json_t **ret, const struct wallet_session_info *s)
{
	struct hexbuf h1, h2;
	struct decbuf d1, d2;

	if (!id_ok(s->id) || !s->id_tag || strlen(s->id_tag) > 20 ||
	    !valid_utf8(s->id_tag) || !energy_ok(s->meter_start_mwh))
		return -EINVAL;
	return done(ret, json_pack("{s:s,s:s*,s:s,s:I,s:s,s:s,s:s,s:s,s:I}",
				   "type", "session", "id", s->id,
				   "session", hex(&h1, s->session, 32),
				   "connector", (json_int_t)s->connector,
				   "channelId", hex(&h2, s->channel_id, 32),
				   "idTag", s->id_tag,
				   "base", dec(&d1, &s->base),
				   "highest", dec(&d2, &s->highest),
				   "meterStartMwh", (json_int_t)s->meter_start_mwh));
}

int wallet_msg_encode_invoice(json_t **ret, const struct wallet_invoice *inv)
{
	struct hexbuf h;
	struct decbuf d;

	if (!energy_ok(inv->delivered_mwh) || !energy_ok(inv->meter_mwh))
		return -EINVAL;
	return done(ret, json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}",
				   "type", "invoice",
				   "session", hex(&h, inv->session, 32),
				   "increments", (json_int_t)inv->increments,
				   "amount", dec(&d, &inv->amount),
				   "deliveredMwh", (json_int_t)inv->delivered_mwh,
				   "meterMwh", (json_int_t)inv->meter_mwh));
}

int wallet_msg_encode_accepted(json_t **ret, const struct wallet_accepted *a)
{
	struct hexbuf h;
	struct decbuf d;

	if (!id_ok(a->id) || !energy_ok(a->allowance_mwh))
		return -EINVAL;
	return done(ret, json_pack("{s:s,s:s*,s:s,s:s,s:I}",
				   "type", "accepted", "id", a->id,
				   "session", hex(&h, a->session, 32),
				   "amount", dec(&d, &a->amount),
				   "allowanceMwh", (json_int_t)a->allowance_mwh));
}

static json_t *receipt_object(const struct wallet_receipt *r)
{
	struct hexbuf h1, h2, h3;
	struct decbuf d1, d2;

	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:I,s:s,s:s,s:I,s:b,s:s}",
			 "type", "receipt",
			 "session", hex(&h1, r->session, 32),
			 "seq", (json_int_t)r->seq,
			 "channelId", hex(&h2, r->channel_id, 32),
			 "meterStartMwh", (json_int_t)r->meter_start_mwh,
			 "meterMwh", (json_int_t)r->meter_mwh,
			 "deliveredMwh", (json_int_t)r->delivered_mwh,
			 "amountDue", dec(&d1, &r->amount_due),
			 "paid", dec(&d2, &r->paid),
			 "timestamp", (json_int_t)r->timestamp_ms,
			 "final", (int)r->final,
			 "signature", hex(&h3, r->signature, WALLET_SIG_SIZE));
}

static bool receipt_ok(const struct wallet_receipt *r)
{
	return energy_ok(r->seq) && energy_ok(r->meter_start_mwh) && energy_ok(r->meter_mwh) &&
	       energy_ok(r->delivered_mwh) && energy_ok(r->timestamp_ms);
}

int wallet_msg_encode_receipt(json_t **ret, const struct wallet_receipt *r)
{
	if (!receipt_ok(r))
		return -EINVAL;
	return done(ret, receipt_object(r));
}

int wallet_msg_encode_suspended(json_t **ret, const uint8_t session[32],
				const char *reason, uint64_t grace_until_ms)
{
	struct hexbuf h;

	if (!reason || strcmp(reason, "unpaid") != 0 || !energy_ok(grace_until_ms))
		return -EINVAL;
	return done(ret, json_pack("{s:s,s:s,s:s,s:I}", "type", "suspended",
				   "session", hex(&h, session, 32), "reason", reason,
				   "graceUntil", (json_int_t)grace_until_ms));
}

int wallet_msg_encode_resumed(json_t **ret, const uint8_t session[32])
{
	struct hexbuf h;

	return done(ret, json_pack("{s:s,s:s}", "type", "resumed",
				   "session", hex(&h, session, 32)));
}

int wallet_msg_encode_ended(json_t **ret, const char *id, const uint8_t session[32],
			    const char *reason, const struct wallet_receipt *final)
{
	struct hexbuf h;
	json_t *rc;

	if (!id_ok(id) || !reason || !in_list(end_reasons, reason) || !final ||
	    !final->final || !receipt_ok(final))
		return -EINVAL;
	rc = receipt_object(final);
	if (!rc)
		return -ENOMEM;
	return done(ret, json_pack("{s:s,s:s*,s:s,s:s,s:o}", "type", "ended", "id", id,
				   "session", hex(&h, session, 32), "reason", reason,
				   "receipt", rc));
}

int wallet_msg_encode_error(json_t **ret, const char *id, enum wallet_err code,
			    const char *message)
{
	const char *name = wallet_err_name(code);

	if (!name || !id_ok(id) || (message && !valid_utf8(message)))
		return -EINVAL;
	return done(ret, json_pack("{s:s,s:s*,s:s,s:s}", "type", "error", "id", id,
				   "code", name, "message", message ? message : name));
}

int wallet_msg_encode(json_t **ret, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	struct hexbuf h1, h2, h3;
	struct decbuf d;

	if (!id_ok(id) || (m->has_id && !valid_utf8(id)))
		return -EINVAL;
	switch (m->type) {
	case WALLET_MSG_START:
		return done(ret, json_pack("{s:s,s:s*,s:I,s:s}", "type", "start", "id", id,
					   "connector", (json_int_t)m->start.connector,
					   "channelId", hex(&h1, m->start.channel_id, 32)));
	case WALLET_MSG_VOUCHER:
		return done(ret, json_pack("{s:s,s:s*,s:s,s:s,s:s,s:s}", "type", "voucher",
					   "id", id,
					   "session", hex(&h1, m->voucher.session, 32),
					   "channelId", hex(&h2, m->voucher.channel_id, 32),
					   "amount", dec(&d, &m->voucher.amount),
					   "signature", hex(&h3, m->voucher.signature,
							    WALLET_SIG_SIZE)));
	case WALLET_MSG_STOP:
		return done(ret, json_pack("{s:s,s:s*,s:s}", "type", "stop", "id", id,
					   "session", hex(&h1, m->stop.session, 32)));
	}
	return -EINVAL;
}
