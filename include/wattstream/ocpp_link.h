/* ocpp_link.h: the OCPP 1.6-J transport of the charge point.  One
 * WebSocket client connection (libwebsockets, subprotocol "ocpp1.6"
 * required) to the CSMS, with security profiles 0-3, reconnect with
 * exponential backoff and jitter, WebSocket pings, and the RPC rules of
 * OCPP-J: outbound CALLs queued and sent one at a time with a timeout,
 * inbound CALLs validated (invalid ones answered with the right CALLERROR by
 * the link itself) and handed to the owner one at a time.
 *
 * Everything runs on the lws event loop of the context given to
 * ocpp_link_new(); no function blocks, none may be called from another
 * thread.  No ocpp_link_*() function calls a callback itself: callbacks
 * come from the loop, so they may call back into the link (but must not
 * free it).
 * Behaviour and wire details: docs/ocpp-transport.md. */
#ifndef WATTSTREAM_OCPP_LINK_H
#define WATTSTREAM_OCPP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wattstream/ocpp_rpc.h"

struct lws_context;
struct ocpp_action; /* ocpp_messages.h */
struct ocpp_link;

#define OCPP_LINK_SUBPROTOCOL   "ocpp1.6"
#define OCPP_LINK_IDENTITY_MAX  48   /* characters (ChargeBoxIdentity) */
#define OCPP_LINK_URL_MAX       512  /* bytes of the endpoint URL */
#define OCPP_LINK_AUTHKEY_MAX   64   /* bytes of the AuthorizationKey */
#define OCPP_LINK_QUEUE_MAX     32   /* outbound CALLs waiting to be sent */
#define OCPP_LINK_OUT_MAX       (OCPP_RPC_FRAME_MAX) /* bytes of one sent frame */

/* Expected outcomes (small positive codes). */
enum {
	OCPP_LINK_E_CONFIG = 1,   /* bad settings (URL, identity, profile, files) */
	OCPP_LINK_E_OFFLINE,      /* not connected: nothing can be sent */
	OCPP_LINK_E_FULL,         /* OCPP_LINK_QUEUE_MAX CALLs already queued */
	OCPP_LINK_E_INVALID,      /* payload fails the action's schema, or the
				   * action is not one the charge point sends */
	OCPP_LINK_E_UNKNOWN_ID,   /* no unanswered inbound CALL with that id */
};

struct ocpp_link_config {
	/* "ws://host[:port][/path]" or "wss://...".  The identity is appended
	 * as "/" + percent-encoded identity (OCPP-J 3.1.1). */
	const char *url;
	const char *identity;        /* 1..48 characters; no ':' for profiles 1, 2 */
	int security_profile;        /* 0 none, 1 Basic/ws, 2 Basic/TLS, 3 client cert/TLS */
	/* Profiles 1, 2: the HTTP Basic password, sent as the text given
	 * (OCPP: up to 40 hex digits).  Copied by the link, wiped on free and
	 * on reconfigure, never logged. */
	const char *authorization_key;
	const char *ca_file;         /* profiles 2, 3: PEM CA(s) the server must chain to */
	const char *client_cert_file; /* profile 3: PEM certificate (chain) */
	const char *client_key_file;  /* profile 3: PEM private key */
	unsigned ping_interval_s;    /* WebSocket ping period; 0 = off.  No pong by
				      * the next ping drops the connection */
	unsigned call_timeout_s;     /* outbound CALL timeout; 0 = 30 */
	unsigned backoff_min_ms;     /* first reconnect delay; 0 = 1000 */
	unsigned backoff_max_ms;     /* cap of the doubling delay; 0 = 60000 */
};

/* Why a connection ended (or never came up). */
enum ocpp_link_reason {
	OCPP_LINK_R_CONNECT,      /* TCP/DNS failure, connection refused */
	OCPP_LINK_R_TLS,          /* TLS handshake or certificate verification failed */
	OCPP_LINK_R_HTTP,         /* upgrade answered with http_status (401 auth, 404 identity) */
	OCPP_LINK_R_SUBPROTOCOL,  /* the server did not select "ocpp1.6" */
	OCPP_LINK_R_CLOSED,       /* the server closed or the connection was lost */
	OCPP_LINK_R_PING,         /* no pong within the ping interval */
	OCPP_LINK_R_PROTOCOL,     /* we dropped it: oversized frame, binary frame */
	OCPP_LINK_R_LOCAL,        /* ocpp_link_reconfigure() / ocpp_link_stop() */
};
const char *ocpp_link_reason_str(enum ocpp_link_reason r);

struct ocpp_link_disconnect {
	enum ocpp_link_reason reason;
	int http_status;          /* OCPP_LINK_R_HTTP: 401, 404, 503, ...; else 0 */
	int close_code;           /* OCPP_LINK_R_CLOSED: WebSocket close code if known */
	const char *detail;       /* lws' text, or ours; may be "" */
	bool will_retry;          /* false: stopped, no new attempt */
	unsigned retry_ms;        /* next attempt in this many ms (0: at once) */
};

/* Formats *d as one human line for the daemon's log, e.g. "refused with
 * HTTP 404 (identity unknown to the CSMS), retry in 1830 ms".  Writes at
 * most len bytes (NUL included); returns buf. */
char *ocpp_link_describe(const struct ocpp_link_disconnect *d, char *buf, size_t len);

/* What became of an outbound CALL. */
enum ocpp_link_status {
	OCPP_LINK_OK,             /* CALLRESULT valid for the action: payload, conf */
	OCPP_LINK_CALLERROR,      /* error_code/error_code_str/error_desc as received */
	OCPP_LINK_BAD_RESULT,     /* a CALLRESULT that fails the response schema (or
				   * an unparsable answer to our id): error_code is
				   * the violation, error_desc names the field */
	OCPP_LINK_TIMEOUT,        /* no answer within call_timeout_s */
	OCPP_LINK_DISCONNECTED,   /* the connection dropped before an answer, or
				   * the CALL was still queued when it dropped */
};
const char *ocpp_link_status_str(enum ocpp_link_status s);

struct ocpp_link_answer {
	enum ocpp_link_status status;
	const char *id;                   /* the CALL's message id */
	const struct ocpp_action *action;
	const json_t *payload;            /* OK: the CALLRESULT payload */
	const void *conf;                 /* OK: decoded (struct ocpp_X_conf *) */
	enum ocpp_error_code error_code;  /* CALLERROR, BAD_RESULT */
	const char *error_code_str;       /* CALLERROR: as received */
	const char *error_desc;           /* CALLERROR, BAD_RESULT; never NULL */
};

/* Called once per ocpp_link_call() that returned 0.  Everything in *ans
 * lives only during the call (json_incref payload to keep it). */
typedef void (*ocpp_link_answer_fn)(void *cb_user, struct ocpp_link *link,
				    const struct ocpp_link_answer *ans);

/* Things the link handled by itself that the owner may want to log. */
enum ocpp_link_notice {
	OCPP_LINK_N_REFUSED_CALL,   /* inbound CALL answered with a CALLERROR (text: code + why) */
	OCPP_LINK_N_UNKNOWN_ANSWER, /* CALLRESULT/CALLERROR for an id we are not waiting for */
	OCPP_LINK_N_BAD_FRAME,      /* a frame nothing could be answered to */
	OCPP_LINK_N_PONG,           /* a pong arrived (text "") */
};

struct ocpp_link_ops {
	/* The WebSocket is up with "ocpp1.6".  ocpp_link_call() works from now. */
	void (*connected)(void *user, struct ocpp_link *link);
	/* The connection ended or an attempt failed.  Every queued or pending
	 * outbound CALL has been answered DISCONNECTED before this, every
	 * unanswered inbound CALL is forgotten (its decoded request freed). */
	void (*disconnected)(void *user, struct ocpp_link *link,
			     const struct ocpp_link_disconnect *d);
	/* A valid inbound CALL: req is the decoded request (struct
	 * ocpp_X_req *), owned by the link until ocpp_link_reply*() with this
	 * id or until the connection drops.  Answer exactly once.  While one
	 * is unanswered, further inbound CALLs are refused by the link
	 * (CALLERROR GenericError, see docs/ocpp-transport.md). */
	void (*call)(void *user, struct ocpp_link *link, const char *id,
		     const struct ocpp_action *action, void *req);
	/* Optional. */
	void (*notice)(void *user, struct ocpp_link *link,
		       enum ocpp_link_notice what, const char *text);
};

/* Checks and copies cfg (the strings too), creates the link's vhost on ctx
 * and schedules the first connection attempt at once.  ops is copied.
 * Returns 0 and *ret; OCPP_LINK_E_CONFIG (cfg unusable: *why says what,
 * may be NULL); -ENOMEM or -EIO (vhost or TLS context failed). */
int ocpp_link_new(struct ocpp_link **ret, struct lws_context *ctx,
		  const struct ocpp_link_config *cfg,
		  const struct ocpp_link_ops *ops, void *user, const char **why)
	__attribute__((warn_unused_result));

/* Closes the connection without calling any callback (pending answers are
 * dropped silently), wipes the AuthorizationKey, destroys the vhost.
 * Call before lws_context_destroy().  Accepts NULL; returns NULL. */
struct ocpp_link *ocpp_link_free(struct ocpp_link *link);

/* Replaces the settings (e.g. a new AuthorizationKey or security profile
 * from the CSMS), closes the current connection (disconnected() with
 * OCPP_LINK_R_LOCAL) and connects again at once with the new ones.  Also
 * restarts a stopped link.  Returns 0, OCPP_LINK_E_CONFIG (old settings
 * kept, nothing closed), -ENOMEM or -EIO. */
int ocpp_link_reconfigure(struct ocpp_link *link,
			  const struct ocpp_link_config *cfg, const char **why)
	__attribute__((warn_unused_result));

/* Disconnects for good (close code 1000); no reconnect until
 * ocpp_link_reconfigure(). */
void ocpp_link_stop(struct ocpp_link *link);

bool ocpp_link_is_connected(const struct ocpp_link *link);

/* Queues a CALL of action (a charge-point-sent action) with payload (not
 * consumed; validated now against the action's request schema).  Sent
 * when every earlier CALL is answered; cb is called exactly once, later.
 * id_out (may be NULL) receives the message id.  Returns 0,
 * OCPP_LINK_E_OFFLINE, OCPP_LINK_E_FULL, OCPP_LINK_E_INVALID (*err says
 * why; err may be NULL) or -ENOMEM. */
int ocpp_link_call(struct ocpp_link *link, const char *action,
		   const json_t *payload, ocpp_link_answer_fn cb, void *cb_user,
		   char id_out[OCPP_RPC_ID_MAX + 1], struct ocpp_err *err)
	__attribute__((warn_unused_result));

/* Answers the unanswered inbound CALL id with a CALLRESULT.  result (not
 * consumed; NULL = {}) is checked against the action's response schema:
 * if it fails, the link answers CALLERROR InternalError instead and
 * returns OCPP_LINK_E_INVALID (*err says why).  Either way the decoded
 * request is freed.  Returns 0, OCPP_LINK_E_UNKNOWN_ID (no such CALL, or
 * the connection dropped since), OCPP_LINK_E_INVALID, or -ENOMEM. */
int ocpp_link_reply(struct ocpp_link *link, const char *id,
		    const json_t *result, struct ocpp_err *err);

/* Answers the unanswered inbound CALL id with CALLERROR code (not NONE)
 * and desc (may be NULL).  Returns 0, OCPP_LINK_E_UNKNOWN_ID, -EINVAL or
 * -ENOMEM. */
int ocpp_link_reply_error(struct ocpp_link *link, const char *id,
			  enum ocpp_error_code code, const char *desc);

#endif
