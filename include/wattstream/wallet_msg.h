/* wallet_msg.h: the messages of the wallet protocol (docs/wallet-protocol.md)
 * as C structs.
 *
 * Wallet -> station (start, voucher, stop) are parsed and validated here
 * into `struct wallet_msg`; anything that does not match the protocol
 * exactly is refused with the error code of §3.8 that the station sends
 * back (mostly `bad_request`; the shape checks of a voucher signature give
 * `voucher_bad_signature`, `voucher_bad_v`, `voucher_high_s`).  What needs
 * state (the session, the channel, the signer) is the owner's to check.
 *
 * Station -> wallet (hello, session, invoice, accepted, receipt, suspended,
 * resumed, ended, error) are encoded from structs into jansson objects; the
 * wallet-side messages have encoders too (for the simulated wallet and the
 * tests).  Nothing here signs: signatures are passed in as bytes.
 *
 * No I/O; parsing allocates only jansson's tree for the duration of the
 * call. */
#ifndef WATTSTREAM_WALLET_MSG_H
#define WATTSTREAM_WALLET_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wattstream/u256.h"

#define WALLET_PROTOCOL_VERSION 1
#define WALLET_SUBPROTOCOL "wattstream.wallet.1"
#define WALLET_MSG_MAX_BYTES 4096	/* one frame's payload */
#define WALLET_ID_MAX 36		/* characters (code points) of an `id` */
#define WALLET_ID_SIZE (WALLET_ID_MAX * 4 + 1)	/* its UTF-8 bytes + NUL */
#define WALLET_SIG_SIZE 65		/* r || s || v */
#define WALLET_ENERGY_MAX ((UINT64_C(1) << 53) - 1)	/* mWh, JSON-safe */

/* The error codes of §3.8, in the table's order.  WALLET_ERR_NONE is 0. */
enum wallet_err {
	WALLET_ERR_NONE = 0,
	WALLET_ERR_BAD_REQUEST,
	WALLET_ERR_RATE_LIMITED,
	WALLET_ERR_UNKNOWN_CONNECTOR,
	WALLET_ERR_CONNECTOR_BUSY,
	WALLET_ERR_CONNECTOR_UNAVAILABLE,
	WALLET_ERR_CHANNEL_NOT_FOUND,
	WALLET_ERR_CHANNEL_WRONG_RECEIVER,
	WALLET_ERR_CHANNEL_WRONG_TOKEN,
	WALLET_ERR_CHANNEL_UNDERFUNDED,
	WALLET_ERR_CHANNEL_CLOSING,
	WALLET_ERR_CHANNEL_DENIED,
	WALLET_ERR_CHANNEL_IN_USE,
	WALLET_ERR_CHAIN_UNAVAILABLE,
	WALLET_ERR_UNKNOWN_SESSION,
	WALLET_ERR_VOUCHER_BAD_SIGNATURE,
	WALLET_ERR_VOUCHER_HIGH_S,
	WALLET_ERR_VOUCHER_BAD_V,
	WALLET_ERR_VOUCHER_WRONG_SIGNER,
	WALLET_ERR_VOUCHER_WRONG_CHANNEL,
	WALLET_ERR_VOUCHER_NOT_HIGHER,
	WALLET_ERR_VOUCHER_OVER_DEPOSIT,
	WALLET_ERR_INTERNAL,
	WALLET_ERR__COUNT
};

/* The wire spelling ("bad_request"), or NULL for NONE / out of range. */
const char *wallet_err_name(enum wallet_err e);
/* The code for a wire spelling; WALLET_ERR_NONE if unknown. */
enum wallet_err wallet_err_from_name(const char *name);

enum wallet_msg_type {
	WALLET_MSG_START = 1,
	WALLET_MSG_VOUCHER,
	WALLET_MSG_STOP,
};

/* One valid wallet -> station message.  Plain data: copy it freely. */
struct wallet_msg {
	enum wallet_msg_type type;
	bool has_id;
	char id[WALLET_ID_SIZE];		/* UTF-8, "" when !has_id */
	union {
		struct {
			uint32_t connector;	/* 0 .. INT32_MAX; existence is the owner's */
			uint8_t channel_id[32];
		} start;
		struct {
			uint8_t session[32];
			uint8_t channel_id[32];
			ws_u256 amount;
			uint8_t signature[WALLET_SIG_SIZE]; /* shape checked: v, range, low S */
		} voucher;
		struct {
			uint8_t session[32];
		} stop;
	};
};

/* Why a message was refused: the code and a short English message for the
 * wallet's developer (never holds secrets; echoes at most member names). */
struct wallet_msg_error {
	enum wallet_err code;
	char message[128];
};

/* Expected outcomes of wallet_msg_parse() (positive). */
enum {
	WALLET_MSG_E_JSON = 1,	/* not JSON text at all: close 1007 */
	WALLET_MSG_E_INVALID,	/* JSON but not a valid message: *err says why */
};

/* Parses one text frame of len bytes (need not be NUL-terminated).
 * Returns 0 and fills *msg; WALLET_MSG_E_JSON if the text is not JSON (or
 * not UTF-8); WALLET_MSG_E_INVALID with err->code/message set.  On
 * E_INVALID, msg->has_id/id hold the message's `id` if that member itself
 * was valid, so the error can carry it.  -EINVAL if text is NULL, -ENOMEM.
 * A frame longer than WALLET_MSG_MAX_BYTES is E_INVALID (bad_request); the
 * transport should refuse it before. */
int wallet_msg_parse(const char *text, size_t len, struct wallet_msg *msg,
		     struct wallet_msg_error *err)
	__attribute__((warn_unused_result));

/* As wallet_msg_parse() for an already decoded JSON value (any type).
 * Returns 0 or WALLET_MSG_E_INVALID. */
int wallet_msg_parse_json(const json_t *v, struct wallet_msg *msg,
			  struct wallet_msg_error *err)
	__attribute__((warn_unused_result));

/* ---- station -> wallet ---------------------------------------------- */

/* The station's signed offer (contracts.md `Offer`), as in `hello`. */
struct wallet_offer {
	uint8_t station[20];
	uint8_t payee[20];
	uint8_t token[20];
	ws_u256 price_per_kwh;
	uint32_t increment_wh;
	uint32_t prepaid_increments;
	uint32_t grace_s;
	uint64_t valid_from_s;		/* Unix seconds */
	uint64_t valid_until_s;
	const char *location;		/* geohash */
	const char *endpoint;		/* wss://…/wallet */
	uint64_t nonce;
	uint8_t signature[WALLET_SIG_SIZE];
};

struct wallet_connector_status {
	uint32_t connector;
	const char *status;		/* OCPP ChargePointStatus, e.g. "Available" */
};

struct wallet_hello {
	uint8_t station[20];
	ws_u256 chain_id;
	uint8_t channels[20];		/* WattstreamChannels contract */
	uint8_t registry[20];		/* offer registry contract */
	struct wallet_offer offer;
	ws_u256 min_deposit;
	uint32_t max_sessions_per_channel;
	size_t n_connectors;
	const struct wallet_connector_status *connectors;
};

struct wallet_session_info {
	const char *id;			/* the start's id, or NULL */
	uint8_t session[32];
	uint32_t connector;
	uint8_t channel_id[32];
	const char *id_tag;		/* OCPP idTag, <= 20 characters */
	ws_u256 base;
	ws_u256 highest;
	uint64_t meter_start_mwh;
};

struct wallet_invoice {
	uint8_t session[32];
	uint32_t increments;
	ws_u256 amount;			/* cumulative channel total asked for */
	uint64_t delivered_mwh;
	uint64_t meter_mwh;
};

struct wallet_accepted {
	const char *id;			/* the voucher's id, or NULL */
	uint8_t session[32];
	ws_u256 amount;
	uint64_t allowance_mwh;
};

struct wallet_receipt {
	uint8_t session[32];
	uint64_t seq;
	uint8_t channel_id[32];
	uint64_t meter_start_mwh;
	uint64_t meter_mwh;
	uint64_t delivered_mwh;
	ws_u256 amount_due;
	ws_u256 paid;
	uint64_t timestamp_ms;
	bool final;
	uint8_t signature[WALLET_SIG_SIZE];
};

/* Encoders.  Each returns 0 and a new object in *ret (the caller owns one
 * reference), -EINVAL if a field breaks the protocol (id not 1..36
 * characters, NULL string, energy/time >= 2^53, idTag > 20), -ENOMEM.
 * *ret is written only on success. */
int wallet_msg_encode_hello(json_t **ret, const struct wallet_hello *h);
int wallet_msg_encode_session(json_t **ret, const struct wallet_session_info *s);
int wallet_msg_encode_invoice(json_t **ret, const struct wallet_invoice *inv);
int wallet_msg_encode_accepted(json_t **ret, const struct wallet_accepted *a);
int wallet_msg_encode_receipt(json_t **ret, const struct wallet_receipt *r);
/* reason: "unpaid" (the only one now); grace_until_ms: wall clock. */
int wallet_msg_encode_suspended(json_t **ret, const uint8_t session[32],
				const char *reason, uint64_t grace_until_ms);
int wallet_msg_encode_resumed(json_t **ret, const uint8_t session[32]);
/* reason: "stopped", "unpaid", "ev", "station" or "fault"; final must have
 * final = true.  id: the stop's id, or NULL. */
int wallet_msg_encode_ended(json_t **ret, const char *id, const uint8_t session[32],
			    const char *reason, const struct wallet_receipt *final);
/* id may be NULL; message may be NULL (then the code's name is used). */
int wallet_msg_encode_error(json_t **ret, const char *id, enum wallet_err code,
			    const char *message);

/* ---- wallet -> station (for wallets and tests) ---------------------- */

/* Encodes msg (id included when has_id) exactly as wallet_msg_parse()
 * accepts it.  -EINVAL for an unknown type or bad id. */
int wallet_msg_encode(json_t **ret, const struct wallet_msg *msg);

/* ---- station -> wallet, decoded (for wallets and tests) -------------- */

#define WALLET_HELLO_MAX_CONNECTORS 32

enum wallet_station_type {
	WALLET_ST_HELLO = 1,
	WALLET_ST_SESSION,
	WALLET_ST_INVOICE,
	WALLET_ST_ACCEPTED,
	WALLET_ST_RECEIPT,
	WALLET_ST_SUSPENDED,
	WALLET_ST_RESUMED,
	WALLET_ST_ENDED,
	WALLET_ST_ERROR,
};

/* One station message as a wallet receives it.  The strings (location,
 * endpoint, status, idTag, id, reason, message) point into `root`, which
 * this struct owns: release it with wallet_station_msg_clear(). */
struct wallet_station_msg {
	enum wallet_station_type type;
	json_t *root;
	union {
		struct wallet_hello hello;	/* .connectors points to connectors[] */
		struct wallet_session_info session;
		struct wallet_invoice invoice;
		struct wallet_accepted accepted;
		struct wallet_receipt receipt;
		struct {
			uint8_t session[32];
			const char *reason;
			uint64_t grace_until_ms;
		} suspended;
		struct {
			uint8_t session[32];
		} resumed;
		struct {
			const char *id;
			uint8_t session[32];
			const char *reason;
			struct wallet_receipt receipt;
		} ended;
		struct {
			const char *id;
			enum wallet_err code;
			const char *code_name;	/* as sent */
			const char *message;
		} error;
	};
	struct wallet_connector_status connectors[WALLET_HELLO_MAX_CONNECTORS];
};

/* Parses one station frame as strictly as the station's parser does the
 * wallet's: unknown or missing members, wrong JSON types, bad hex, wrong
 * lengths, non-canonical amounts, addresses whose mixed case is not the
 * EIP-55 checksum, energy/time >= 2^53, protocol other than 1, unknown
 * error codes or end reasons are refused.  Signatures are checked for
 * length only (the wallet verifies them).  Returns 0 (then clear *out),
 * WALLET_MSG_E_JSON, or WALLET_MSG_E_INVALID with err->message (err->code
 * is bad_request); -EINVAL, -ENOMEM.  *out holds nothing to free on error. */
int wallet_msg_parse_station(const char *text, size_t len, struct wallet_station_msg *out,
			     struct wallet_msg_error *err)
	__attribute__((warn_unused_result));
void wallet_station_msg_clear(struct wallet_station_msg *m);

#endif
