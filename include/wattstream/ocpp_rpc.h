/* ocpp_rpc.h: the OCPP-J 1.6 RPC framing ([2,id,action,payload],
 * [3,id,payload], [4,id,code,description,details]) and the small runtime the
 * generated message codecs (ocpp_messages.h, built from ocpp/schemas/) use.
 *
 * Pure functions: no I/O, no logging above debug, no libwebsockets.  The
 * transport hands a received text frame to ocpp_rpc_parse() and sends what
 * the ocpp_rpc_encode_*() functions return.  See docs/ocpp-codec.md. */
#ifndef WATTSTREAM_OCPP_RPC_H
#define WATTSTREAM_OCPP_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OCPP_RPC_ID_MAX       36          /* message id, characters (OCPP-J table 3) */
#define OCPP_RPC_ACTION_MAX   64          /* longest action name we keep */
#define OCPP_RPC_FRAME_MAX    (256 * 1024) /* bytes of one inbound text frame */
#define OCPP_RPC_DEPTH_MAX    16          /* nesting of arrays/objects in a frame */
#define OCPP_ARRAY_MAX        10000       /* elements of any array in a payload */
#define OCPP_DATETIME_MAX     35          /* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+hh:mm" */

/* Expected outcomes (small positive codes, STYLE.md). */
enum {
	OCPP_E_INVALID = 1, /* input malformed or not valid; details in the error struct */
};

enum ocpp_msg_type {
	OCPP_MSG_CALL = 2,
	OCPP_MSG_CALLRESULT = 3,
	OCPP_MSG_CALLERROR = 4,
};

/* The CALLERROR codes of OCPP-J 1.6 table 7, in the 1.6 spelling. */
enum ocpp_error_code {
	OCPP_ERR_NONE = 0,
	OCPP_ERR_NOT_IMPLEMENTED,
	OCPP_ERR_NOT_SUPPORTED,
	OCPP_ERR_INTERNAL_ERROR,
	OCPP_ERR_PROTOCOL_ERROR,
	OCPP_ERR_SECURITY_ERROR,
	OCPP_ERR_FORMATION_VIOLATION,
	OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
	OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION,
	OCPP_ERR_TYPE_CONSTRAINT_VIOLATION,
	OCPP_ERR_GENERIC_ERROR,
};

/* "FormationViolation", "OccurenceConstraintViolation", ...; "" for NONE,
 * NULL for a value out of range. */
const char *ocpp_error_code_str(enum ocpp_error_code code);
/* Parses a received code.  Also accepts "OccurrenceConstraintViolation"
 * (two r's, as ocpp-rpc and OCPP 2.0 spell it).  Returns 0 or OCPP_E_INVALID. */
int ocpp_error_code_parse(const char *s, enum ocpp_error_code *ret)
	__attribute__((warn_unused_result));

/* A validation failure: the CALLERROR code to answer, the path of the
 * offending field ("meterValue[0].sampledValue[1].unit", "" for the payload
 * itself) and a description that names it. */
struct ocpp_err {
	enum ocpp_error_code code;
	char path[128];
	char desc[256];
};

/* An RFC 3339 date-time as received (kept verbatim so re-encoding gives the
 * same text) and its value in Unix milliseconds, UTC. */
struct ocpp_datetime {
	char str[OCPP_DATETIME_MAX + 1];
	int64_t unix_ms;
};

/* Parses an RFC 3339 date-time ("2024-05-01T12:00:00Z", fractions of any
 * length up to 9 digits, "+hh:mm"/"-hh:mm" offsets, leap second :60).
 * Returns 0, or OCPP_E_INVALID if not RFC 3339 or longer than
 * OCPP_DATETIME_MAX; *ret is written only on success. */
int ocpp_datetime_parse(const char *s, struct ocpp_datetime *ret)
	__attribute__((warn_unused_result));
/* Sets *dt to unix_ms formatted as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ocpp_datetime_set(struct ocpp_datetime *dt, int64_t unix_ms);

/* ---- RPC frames ---- */

/* One parsed inbound frame.  Owns payload, error_description and
 * error_details; release with ocpp_rpc_msg_clear(). */
struct ocpp_rpc_msg {
	enum ocpp_msg_type type;
	char id[OCPP_RPC_ID_MAX + 1];
	char action[OCPP_RPC_ACTION_MAX + 1]; /* CALL: a known action */
	json_t *payload;                     /* CALL, CALLRESULT: an object */
	/* CALLERROR: the code as received (an unknown code is kept as text with
	 * error_code OCPP_ERR_GENERIC_ERROR), description and details. */
	enum ocpp_error_code error_code;
	char error_code_str[48];
	char *error_description;
	json_t *error_details;
};

/* Why a frame was refused, and what to do about it. */
struct ocpp_rpc_perr {
	/* true: answer the sender with a CALLERROR [4, id, code, desc, {}]
	 * (the frame was a CALL with a usable id).  false: nothing can or may
	 * be answered (no id, not a CALL, unknown message type): log only. */
	bool can_answer;
	enum ocpp_error_code code;
	enum ocpp_msg_type type; /* 0 if not even that could be read */
	/* The id as received, when it was a string of at most this length
	 * (also for a refused CALLRESULT/CALLERROR, so a pending CALL can be
	 * failed at once instead of timing out). */
	char id[128];
	struct ocpp_err err; /* path and description; err.code == code */
};

/* Parses one inbound text frame of len bytes (need not be NUL-terminated).
 * Checks size, nesting depth, UTF-8/JSON syntax, the frame shape of each
 * message type, the id (1..36 characters), that a CALL's action is known to
 * the generated codecs (else NotImplemented), that payloads and details are
 * objects (null is taken as {}, OCPP-J 4.2.1).  It does not validate the
 * payload against its schema: use ocpp_rpc_decode_call()/the codecs.
 * Returns 0 and fills *out (which the caller clears), OCPP_E_INVALID and
 * fills *perr (out untouched), or -ENOMEM. */
int ocpp_rpc_parse(const char *buf, size_t len, struct ocpp_rpc_msg *out,
		   struct ocpp_rpc_perr *perr)
	__attribute__((warn_unused_result));

/* Frees what *msg owns and zeroes it.  Accepts NULL. */
void ocpp_rpc_msg_clear(struct ocpp_rpc_msg *msg);

/* Validates a parsed CALL's payload with the generated decoder of its
 * action into *req (a zeroed struct of the action's request type, e.g.
 * struct ocpp_reset_req; free it with the action's req_free).  Returns 0,
 * OCPP_E_INVALID with perr filled (can_answer true, the code of the
 * violation), or -ENOMEM/-EINVAL. */
int ocpp_rpc_decode_call(const struct ocpp_rpc_msg *msg, void *req,
			 struct ocpp_rpc_perr *perr)
	__attribute__((warn_unused_result));

/* Encoders: write a malloc'd NUL-terminated frame to *ret (caller frees).
 * payload NULL is sent as {}; the payload is not consumed.  Return 0,
 * -EINVAL (id empty or longer than OCPP_RPC_ID_MAX, action empty, payload
 * not an object, code NONE or unknown) or -ENOMEM. */
int ocpp_rpc_encode_call(const char *id, const char *action,
			 const json_t *payload, char **ret);
int ocpp_rpc_encode_result(const char *id, const json_t *payload, char **ret);
/* The CALLERROR always carries an empty details object {}.  desc NULL is
 * sent as "".  id may be up to sizeof(perr.id) - 1 characters so an
 * over-long id of a refused CALL can be echoed. */
int ocpp_rpc_encode_error(const char *id, enum ocpp_error_code code,
			  const char *desc, char **ret);

/* Unique message ids: "<12 hex of a random prefix>-<counter>", at most 33
 * characters, unique per connection and across restarts with overwhelming
 * probability.  The caller supplies the randomness (getrandom()). */
struct ocpp_rpc_idgen {
	char prefix[13];
	uint64_t counter;
};
void ocpp_rpc_idgen_init(struct ocpp_rpc_idgen *g, const uint8_t seed[6]);
void ocpp_rpc_idgen_next(struct ocpp_rpc_idgen *g, char out[OCPP_RPC_ID_MAX + 1]);

/* ---- runtime of the generated codecs (ocpp_messages.c) ----
 * Each sets *err (code, path, description) and returns OCPP_E_INVALID on
 * a violation.  err->path holds the path of the field being decoded; the
 * generated code appends ".name" / "[i]" with ocpp_rt_push() and cuts it
 * back with ocpp_rt_pop(). */
void ocpp_rt_begin(struct ocpp_err *err);
size_t ocpp_rt_push(struct ocpp_err *err, const char *name, long index);
void ocpp_rt_pop(struct ocpp_err *err, size_t len);
int ocpp_rt_fail(struct ocpp_err *err, enum ocpp_error_code code,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* top: j is the whole payload (not an object: FormationViolation). */
int ocpp_rt_object(const json_t *j, struct ocpp_err *err, bool top,
		   const char *const *known, size_t n_known);
int ocpp_rt_missing(struct ocpp_err *err);
int ocpp_rt_string(const json_t *j, struct ocpp_err *err, size_t max,
		   char *buf);
int ocpp_rt_string_dup(const json_t *j, struct ocpp_err *err, size_t max,
		       char **ret);
int ocpp_rt_int(const json_t *j, struct ocpp_err *err, int64_t min,
		int32_t *ret);
int ocpp_rt_number(const json_t *j, struct ocpp_err *err, double multiple,
		   double *ret);
int ocpp_rt_bool(const json_t *j, struct ocpp_err *err, bool *ret);
int ocpp_rt_datetime(const json_t *j, struct ocpp_err *err,
		     struct ocpp_datetime *ret);
int ocpp_rt_uri(const json_t *j, struct ocpp_err *err, char **ret);
int ocpp_rt_enum(const json_t *j, struct ocpp_err *err,
		 const char *const *names, size_t n, int *ret);
/* max 0: OCPP_ARRAY_MAX.  *ret is calloc'd (zeroed elements), *n set. */
int ocpp_rt_array(const json_t *j, struct ocpp_err *err, size_t min,
		  size_t max, size_t elem_size, void **ret, size_t *n);
json_t *ocpp_rt_number_json(double v);
json_t *ocpp_rt_enum_json(const char *const *names, size_t n, int v);

/* The generated decoders: 0, OCPP_E_INVALID (err filled, out freed) or
 * -ENOMEM.  Out of memory is reported as InternalError in err. */

#endif
