/* ocpp_rpc.c: OCPP-J 1.6 RPC frames in and out, unique message ids, and the
 * validation runtime the generated codecs (ocpp_messages.c) call.
 *
 * Parsing a frame costs one pre-scan for nesting depth and one jansson parse,
 * both linear in the frame, which is bounded to OCPP_RPC_FRAME_MAX bytes
 * before anything else is done.  A refused frame says what to answer
 * (struct ocpp_rpc_perr); when jansson cannot parse it, the id is recovered
 * from the frame's first bytes so a broken CALL still gets its CALLERROR.
 * No I/O and no allocation beyond jansson's tree and the decoded structs. */
#include "wattstream/ocpp_rpc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_messages.h"

static const char *const error_names[] = {
	[OCPP_ERR_NONE] = "",
	[OCPP_ERR_NOT_IMPLEMENTED] = "NotImplemented",
	[OCPP_ERR_NOT_SUPPORTED] = "NotSupported",
	[OCPP_ERR_INTERNAL_ERROR] = "InternalError",
	[OCPP_ERR_PROTOCOL_ERROR] = "ProtocolError",
	[OCPP_ERR_SECURITY_ERROR] = "SecurityError",
	[OCPP_ERR_FORMATION_VIOLATION] = "FormationViolation",
	[OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION] = "PropertyConstraintViolation",
	[OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION] = "OccurenceConstraintViolation",
	[OCPP_ERR_TYPE_CONSTRAINT_VIOLATION] = "TypeConstraintViolation",
	[OCPP_ERR_GENERIC_ERROR] = "GenericError",
};
#define ERROR_NAMES_N (sizeof(error_names) / sizeof(error_names[0]))

const char *ocpp_error_code_str(enum ocpp_error_code code)
{
	return (unsigned)code < ERROR_NAMES_N ? error_names[code] : NULL;
}

int ocpp_error_code_parse(const char *s, enum ocpp_error_code *ret)
{
	for (unsigned i = 1; i < ERROR_NAMES_N; i++)
		if (strcmp(s, error_names[i]) == 0) {
			*ret = (enum ocpp_error_code)i;
			return 0;
		}
	/* Spellings of peers that follow the errata's "not fixed" notes. */
	if (strcmp(s, "OccurrenceConstraintViolation") == 0) {
		*ret = OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION;
		return 0;
	}
	if (strcmp(s, "FormatViolation") == 0) {
		*ret = OCPP_ERR_FORMATION_VIOLATION;
		return 0;
	}
	return OCPP_E_INVALID;
}

/* ---- date-time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time zone or locale is involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int ocpp_datetime_parse(const char *s, struct ocpp_datetime *ret)
{
	static const unsigned char mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t len = strlen(s);
	if (len < 20 || len > OCPP_DATETIME_MAX)
		return OCPP_E_INVALID;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return OCPP_E_INVALID;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return OCPP_E_INVALID;
	const char *p = s + 19;
	int ms = 0;
	if (*p == '.') {
		int n = 0;
		for (p++; isdigit((unsigned char)*p); p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0 || n > 9)
			return OCPP_E_INVALID;
		for (; n < 3; n++)
			ms *= 10;
	}
	int off_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om = -1;
		if (oh >= 0 && p[3] == ':')
			om = digits(p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return OCPP_E_INVALID;
		off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return OCPP_E_INVALID;
	}
	if (*p)
		return OCPP_E_INVALID;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		    h * 3600 + mi * 60 + sec - off_min * 60;
	memcpy(ret->str, s, len + 1);
	ret->unix_ms = t * 1000 + ms;
	return 0;
}

void ocpp_datetime_set(struct ocpp_datetime *dt, int64_t unix_ms)
{
	int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
	int ms = (int)(unix_ms - secs * 1000);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
		 y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ms);
	size_t n = strnlen(tmp, sizeof(dt->str) - 1); /* 24 for years 0..9999 */
	memcpy(dt->str, tmp, n);
	dt->str[n] = '\0';
	dt->unix_ms = unix_ms;
}

/* ---- validation runtime ---- */

/* Descriptions and paths go back to the peer in a JSON string: keep them
 * printable ASCII whatever the input held. */
static void ascii_only(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

void ocpp_rt_begin(struct ocpp_err *err)
{
	err->code = OCPP_ERR_NONE;
	err->path[0] = '\0';
	err->desc[0] = '\0';
}

size_t ocpp_rt_push(struct ocpp_err *err, const char *name, long index)
{
	size_t len = strlen(err->path), cap = sizeof(err->path) - len;
	if (name)
		snprintf(err->path + len, cap, "%s%s", len ? "." : "", name);
	else
		snprintf(err->path + len, cap, "[%ld]", index);
	ascii_only(err->path + len);
	return len;
}

void ocpp_rt_pop(struct ocpp_err *err, size_t len)
{
	if (len < sizeof(err->path))
		err->path[len] = '\0';
}

int ocpp_rt_fail(struct ocpp_err *err, enum ocpp_error_code code,
		 const char *fmt, ...)
{
	char msg[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->code = code;
	snprintf(err->desc, sizeof(err->desc), "%.127s: %.120s",
		 err->path[0] ? err->path : "payload", msg);
	ascii_only(err->desc);
	return OCPP_E_INVALID;
}

static int fail_type(const json_t *j, struct ocpp_err *err, const char *want)
{
	static const char *const names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string", [JSON_INTEGER] = "a number",
		[JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
		[JSON_FALSE] = "a boolean", [JSON_NULL] = "null",
	};
	return ocpp_rt_fail(err, OCPP_ERR_TYPE_CONSTRAINT_VIOLATION,
			    "expected %s, got %s", want, names[json_typeof(j)]);
}

static int fail_nomem(struct ocpp_err *err)
{
	ocpp_rt_fail(err, OCPP_ERR_INTERNAL_ERROR, "out of memory");
	return -ENOMEM;
}

int ocpp_rt_object(const json_t *j, struct ocpp_err *err, bool top,
		   const char *const *known, size_t n_known)
{
	if (!json_is_object(j)) {
		if (top)
			return ocpp_rt_fail(err, OCPP_ERR_FORMATION_VIOLATION,
					    "payload is not a JSON object");
		return fail_type(j, err, "an object");
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v) {
		size_t i = 0;
		while (i < n_known && strcmp(key, known[i]) != 0)
			i++;
		if (i == n_known) {
			ocpp_rt_push(err, key, -1);
			return ocpp_rt_fail(err, OCPP_ERR_FORMATION_VIOLATION,
					    "unknown property");
		}
	}
	return 0;
}

int ocpp_rt_missing(struct ocpp_err *err)
{
	return ocpp_rt_fail(err, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION,
			    "required property missing");
}

/* Checks a JSON string against maxLength (max 0: unbounded), counted in
 * characters as JSON Schema does.  jansson has checked the UTF-8. */
static int check_string(const json_t *j, struct ocpp_err *err, size_t max,
			const char **s, size_t *bytes)
{
	if (!json_is_string(j))
		return fail_type(j, err, "a string");
	*s = json_string_value(j);
	*bytes = json_string_length(j);
	if (strlen(*s) != *bytes)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "string contains NUL");
	if (max) {
		size_t chars = 0;
		for (const char *p = *s; *p; p++)
			chars += ((unsigned char)*p & 0xc0) != 0x80;
		if (chars > max)
			return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
					    "longer than %zu characters", max);
	}
	return 0;
}

int ocpp_rt_string(const json_t *j, struct ocpp_err *err, size_t max, char *buf)
{
	const char *s = NULL;
	size_t n = 0;
	int r = check_string(j, err, max, &s, &n);
	if (r)
		return r;
	/* CiStrings are sized in bytes here; only non-ASCII text can hit this. */
	if (n > max)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "longer than %zu bytes", max);
	memcpy(buf, s, n + 1);
	return 0;
}

int ocpp_rt_string_dup(const json_t *j, struct ocpp_err *err, size_t max,
		       char **ret)
{
	const char *s = NULL;
	size_t n = 0;
	int r = check_string(j, err, max, &s, &n);
	if (r)
		return r;
	*ret = strdup(s);
	return *ret ? 0 : fail_nomem(err);
}

int ocpp_rt_int(const json_t *j, struct ocpp_err *err, int64_t min, int32_t *ret)
{
	int64_t v;
	if (json_is_integer(j)) {
		v = json_integer_value(j);
	} else if (json_is_real(j)) {
		/* 5.0 is an integer to JSON Schema validators in JavaScript. */
		double d = json_real_value(j);
		if (d != trunc(d))
			return fail_type(j, err, "an integer");
		if (d < INT32_MIN || d > INT32_MAX)
			return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
					    "integer out of range");
		v = (int64_t)d;
	} else {
		return fail_type(j, err, "an integer");
	}
	if (v < INT32_MIN || v > INT32_MAX)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "integer out of range");
	if (v < min)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "%" PRId64 " is below the minimum %" PRId64, v, min);
	*ret = (int32_t)v;
	return 0;
}

int ocpp_rt_number(const json_t *j, struct ocpp_err *err, double multiple, double *ret)
{
	if (!json_is_number(j))
		return fail_type(j, err, "a number");
	double v = json_number_value(j);
	if (multiple > 0) {
		double q = v / multiple;
		if (fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q)))
			return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
					    "not a multiple of %g", multiple);
	}
	*ret = v;
	return 0;
}

int ocpp_rt_bool(const json_t *j, struct ocpp_err *err, bool *ret)
{
	if (!json_is_boolean(j))
		return fail_type(j, err, "a boolean");
	*ret = json_is_true(j);
	return 0;
}

int ocpp_rt_datetime(const json_t *j, struct ocpp_err *err, struct ocpp_datetime *ret)
{
	const char *s = NULL;
	size_t n = 0;
	int r = check_string(j, err, 0, &s, &n);
	if (r)
		return r;
	if (ocpp_datetime_parse(s, ret) != 0)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "not an RFC 3339 date-time");
	return 0;
}

/* An absolute URI (RFC 3986): scheme ":" then printable characters that a
 * URI may hold. */
int ocpp_rt_uri(const json_t *j, struct ocpp_err *err, char **ret)
{
	const char *s = NULL;
	size_t n = 0;
	int r = check_string(j, err, 0, &s, &n);
	if (r)
		return r;
	const char *p = s;
	bool ok = isalpha((unsigned char)*p);
	while (ok && (isalnum((unsigned char)*p) || strchr("+-.", *p)) && *p)
		p++;
	ok = ok && *p == ':' && p[1];
	for (p++; ok && *p; p++)
		ok = *p > 0x20 && *p < 0x7f && !strchr("\"<>\\^`{|}", *p);
	if (!ok)
		return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				    "not an absolute URI");
	*ret = strdup(s);
	return *ret ? 0 : fail_nomem(err);
}

int ocpp_rt_enum(const json_t *j, struct ocpp_err *err,
		 const char *const *names, size_t n, int *ret)
{
	if (!json_is_string(j))
		return fail_type(j, err, "a string");
	const char *s = json_string_value(j);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (int)i;
			return 0;
		}
	return ocpp_rt_fail(err, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
			    "\"%.40s\" is not an allowed value", s);
}

int ocpp_rt_array(const json_t *j, struct ocpp_err *err, size_t min,
		  size_t max, size_t elem_size, void **ret, size_t *n)
{
	if (!json_is_array(j))
		return fail_type(j, err, "an array");
	size_t len = json_array_size(j);
	if (!max || max > OCPP_ARRAY_MAX)
		max = OCPP_ARRAY_MAX;
	if (len < min)
		return ocpp_rt_fail(err, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION,
				    "%zu element(s), at least %zu required", len, min);
	if (len > max)
		return ocpp_rt_fail(err, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION,
				    "%zu elements, at most %zu allowed", len, max);
	*ret = NULL;
	*n = 0;
	if (len == 0)
		return 0;
	*ret = calloc(len, elem_size);
	if (!*ret)
		return fail_nomem(err);
	*n = len;
	return 0;
}

json_t *ocpp_rt_number_json(double v)
{
	/* Integral values go out as JSON integers: 32 rather than 32.0. */
	if (isfinite(v) && v == trunc(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

json_t *ocpp_rt_enum_json(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? json_string(names[v]) : NULL;
}

/* ---- frames ---- */

void ocpp_rpc_msg_clear(struct ocpp_rpc_msg *msg)
{
	if (!msg)
		return;
	json_decref(msg->payload);
	json_decref(msg->error_details);
	free(msg->error_description);
	memset(msg, 0, sizeof(*msg));
}

/* True if arrays/objects nest deeper than OCPP_RPC_DEPTH_MAX.  Run before
 * jansson, whose parser recurses once per level. */
static bool too_deep(const char *b, size_t n)
{
	int depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > OCPP_RPC_DEPTH_MAX)
				return true;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return false;
}

/* Reads `[ <type> , "<id>"` from the start of a frame jansson refused, so a
 * broken CALL with a plain id can still be answered. */
static void salvage_id(const char *b, size_t n, struct ocpp_rpc_perr *perr)
{
	size_t i = 0;
#define SKIP_WS() while (i < n && strchr(" \t\r\n", b[i]) && b[i]) i++
	SKIP_WS();
	if (i >= n || b[i++] != '[')
		return;
	SKIP_WS();
	if (i >= n || b[i] < '2' || b[i] > '4')
		return;
	int type = b[i++] - '0';
	SKIP_WS();
	if (i >= n || b[i++] != ',')
		return;
	SKIP_WS();
	if (i >= n || b[i++] != '"')
		return;
	size_t start = i;
	while (i < n && b[i] != '"' && b[i] != '\\' && (unsigned char)b[i] >= 0x20 &&
	       (unsigned char)b[i] < 0x7f && i - start <= OCPP_RPC_ID_MAX)
		i++;
	if (i >= n || b[i] != '"' || i == start || i - start > OCPP_RPC_ID_MAX)
		return;
#undef SKIP_WS
	perr->type = (enum ocpp_msg_type)type;
	memcpy(perr->id, b + start, i - start);
	perr->id[i - start] = '\0';
	perr->can_answer = type == OCPP_MSG_CALL;
}

static int refuse(struct ocpp_rpc_perr *perr, enum ocpp_error_code code,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct ocpp_rpc_perr *perr, enum ocpp_error_code code,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(perr->err.desc, sizeof(perr->err.desc), fmt, ap);
	va_end(ap);
	ascii_only(perr->err.desc);
	perr->code = perr->err.code = code;
	return OCPP_E_INVALID;
}

/* null means "no payload" (OCPP-J 4.2.1): take it as {}. */
static json_t *payload_object(json_t *v)
{
	if (json_is_null(v))
		return json_object();
	return json_is_object(v) ? json_incref(v) : NULL;
}

int ocpp_rpc_parse(const char *buf, size_t len, struct ocpp_rpc_msg *out,
		   struct ocpp_rpc_perr *perr)
{
	struct ocpp_rpc_msg m = { 0 };
	json_t *root = NULL;
	int r;

	memset(perr, 0, sizeof(*perr));
	if (len > OCPP_RPC_FRAME_MAX || too_deep(buf, len) || len == 0) {
		salvage_id(buf, len < 64 ? len : 64, perr);
		return refuse(perr, OCPP_ERR_FORMATION_VIOLATION,
			      len ? "frame larger than %d bytes or nested deeper than %d"
				  : "empty frame", OCPP_RPC_FRAME_MAX, OCPP_RPC_DEPTH_MAX);
	}
	json_error_t je;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
	if (!root) {
		salvage_id(buf, len, perr);
		return refuse(perr, OCPP_ERR_FORMATION_VIOLATION,
			      "not valid JSON: %s at offset %d", je.text, je.position);
	}
	size_t n = json_array_size(root);
	if (!json_is_array(root) || n == 0) {
		r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION, "frame is not a non-empty JSON array");
		goto fail;
	}
	json_t *t = json_array_get(root, 0);
	double td = json_is_number(t) ? json_number_value(t) : 0;
	if (td != 2 && td != 3 && td != 4) {
		/* OCPP-J 4.1.3: an unknown message type is ignored. */
		r = refuse(perr, OCPP_ERR_PROTOCOL_ERROR, "unknown message type");
		goto fail;
	}
	m.type = perr->type = (enum ocpp_msg_type)(int)td;
	json_t *id = json_array_get(root, 1);
	if (!json_is_string(id) || json_string_length(id) >= sizeof(perr->id)) {
		r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION, "no usable message id");
		goto fail;
	}
	size_t idlen = json_string_length(id);
	memcpy(perr->id, json_string_value(id), idlen + 1);
	/* An empty id cannot be told apart from any other: do not answer it. */
	perr->can_answer = m.type == OCPP_MSG_CALL && idlen > 0;
	if (idlen == 0 || idlen > OCPP_RPC_ID_MAX) {
		r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION,
			   "message id must have 1 to %d characters", OCPP_RPC_ID_MAX);
		goto fail;
	}
	memcpy(m.id, perr->id, idlen + 1);

	switch (m.type) {
	case OCPP_MSG_CALL: {
		if (n != 4) {
			r = refuse(perr, n == 3 ? OCPP_ERR_PROTOCOL_ERROR : OCPP_ERR_FORMATION_VIOLATION,
				   "CALL has %zu elements, 4 expected", n);
			goto fail;
		}
		json_t *a = json_array_get(root, 2);
		if (!json_is_string(a)) {
			r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION, "action is not a string");
			goto fail;
		}
		const char *action = json_string_value(a);
		if (json_string_length(a) > OCPP_RPC_ACTION_MAX ||
		    strlen(action) != json_string_length(a) || !ocpp_action_find(action)) {
			r = refuse(perr, OCPP_ERR_NOT_IMPLEMENTED, "unknown action \"%.64s\"", action);
			goto fail;
		}
		strcpy(m.action, action);
		m.payload = payload_object(json_array_get(root, 3));
		if (!m.payload) {
			if (json_is_object(json_array_get(root, 3)) || json_is_null(json_array_get(root, 3))) {
				r = -ENOMEM;
				goto fail;
			}
			r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION, "payload is not a JSON object");
			goto fail;
		}
		break;
	}
	case OCPP_MSG_CALLRESULT:
		m.payload = n == 3 ? payload_object(json_array_get(root, 2)) : NULL;
		if (!m.payload) {
			r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION,
				   "CALLRESULT must be [3, id, {payload}]");
			goto fail;
		}
		break;
	case OCPP_MSG_CALLERROR: {
		json_t *c = json_array_get(root, 2), *d = json_array_get(root, 3);
		json_t *det = n == 5 ? json_array_get(root, 4) : json_null();
		if ((n != 4 && n != 5) || !json_is_string(c) || !json_is_string(d) ||
		    json_string_length(c) >= sizeof(m.error_code_str) ||
		    strlen(json_string_value(d)) != json_string_length(d) ||
		    !(m.error_details = payload_object(det))) {
			r = refuse(perr, OCPP_ERR_FORMATION_VIOLATION,
				   "CALLERROR must be [4, id, code, description, {details}]");
			goto fail;
		}
		strcpy(m.error_code_str, json_string_value(c));
		if (ocpp_error_code_parse(m.error_code_str, &m.error_code) != 0 ||
		    m.error_code == OCPP_ERR_NONE)
			m.error_code = OCPP_ERR_GENERIC_ERROR;
		m.error_description = strdup(json_string_value(d));
		if (!m.error_description) {
			r = -ENOMEM;
			goto fail;
		}
		break;
	}
	}
	json_decref(root);
	*out = m;
	return 0;
fail:
	ocpp_rpc_msg_clear(&m);
	json_decref(root);
	return r;
}

int ocpp_rpc_decode_call(const struct ocpp_rpc_msg *msg, void *req,
			 struct ocpp_rpc_perr *perr)
{
	const struct ocpp_action *a = ocpp_action_find(msg->action);
	if (msg->type != OCPP_MSG_CALL || !a || !msg->payload)
		return -EINVAL;
	memset(perr, 0, sizeof(*perr));
	int r = a->req_decode(msg->payload, req, &perr->err);
	if (r == 0)
		return 0;
	perr->type = OCPP_MSG_CALL;
	perr->can_answer = true;
	perr->code = perr->err.code;
	strcpy(perr->id, msg->id);
	return r;
}

static int dump(json_t *frame, char **ret)
{
	if (!frame)
		return -ENOMEM;
	char *s = json_dumps(frame, JSON_COMPACT);
	json_decref(frame);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static bool id_ok(const char *id, size_t max)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= max;
}

int ocpp_rpc_encode_call(const char *id, const char *action,
			 const json_t *payload, char **ret)
{
	if (!id_ok(id, OCPP_RPC_ID_MAX) || !action || !*action ||
	    (payload && !json_is_object(payload)))
		return -EINVAL;
	json_t *p = payload ? json_incref((json_t *)payload) : json_object();
	return dump(json_pack("[isso]", OCPP_MSG_CALL, id, action, p), ret);
}

int ocpp_rpc_encode_result(const char *id, const json_t *payload, char **ret)
{
	if (!id_ok(id, OCPP_RPC_ID_MAX) || (payload && !json_is_object(payload)))
		return -EINVAL;
	json_t *p = payload ? json_incref((json_t *)payload) : json_object();
	return dump(json_pack("[iso]", OCPP_MSG_CALLRESULT, id, p), ret);
}

int ocpp_rpc_encode_error(const char *id, enum ocpp_error_code code,
			  const char *desc, char **ret)
{
	const char *c = ocpp_error_code_str(code);
	if (!id_ok(id, sizeof(((struct ocpp_rpc_perr *)0)->id) - 1) || !c || !*c)
		return -EINVAL;
	json_t *d = json_string(desc ? desc : "");
	if (!d) {
		/* Not UTF-8: send it with the offending bytes replaced. */
		char *copy = strdup(desc);
		if (!copy)
			return -ENOMEM;
		ascii_only(copy);
		d = json_string(copy);
		free(copy);
	}
	return dump(json_pack("[isso{}]", OCPP_MSG_CALLERROR, id, c, d), ret);
}

void ocpp_rpc_idgen_init(struct ocpp_rpc_idgen *g, const uint8_t seed[6])
{
	for (int i = 0; i < 6; i++)
		snprintf(g->prefix + 2 * i, 3, "%02x", seed[i]);
	g->counter = 0;
}

void ocpp_rpc_idgen_next(struct ocpp_rpc_idgen *g, char out[OCPP_RPC_ID_MAX + 1])
{
	snprintf(out, OCPP_RPC_ID_MAX + 1, "%s-%" PRIu64, g->prefix, ++g->counter);
}
