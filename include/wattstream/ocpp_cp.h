/* ocpp_cp.h: the OCPP 1.6-J charge point on top of the transport
 * (ocpp_link), the configuration keys (ocpp_config) and the connectors.
 *
 * It owns the registration state machine (offline, booting, pending,
 * rejected, accepted), heartbeats and the clock taken from the Central
 * System, the StatusNotification of connector 0 and of every connector
 * (derived from the controller's state, with MinimumStatusDuration), and
 * answers the Central System's configuration and data-transfer requests.
 * Everything runs on the lws loop; nothing blocks.  docs/ocpp.md says what
 * is implemented and what is not yet. */
#ifndef WATTSTREAM_OCPP_CP_H
#define WATTSTREAM_OCPP_CP_H

#include <stdbool.h>
#include <stdint.h>

#include "wattstream/config.h"
#include "wattstream/meter.h"

struct lws_context;
struct ws_store;
struct ocpp_cp;

#define OCPP_CP_VENDOR_ID "org.wattstream"	/* our DataTransfer vendorId */

enum ocpp_cp_state {
	OCPP_CP_OFFLINE,	/* no WebSocket */
	OCPP_CP_BOOTING,	/* BootNotification sent */
	OCPP_CP_PENDING,	/* Pending: answering the CSMS, BootNotification again later */
	OCPP_CP_REJECTED,	/* Rejected: silent until the retry interval ran out */
	OCPP_CP_ACCEPTED,	/* registered: every message may flow */
};

/* What the charge point needs to know of a connector to report it. */
struct ocpp_cp_connector_info {
	bool faulted_meter;
	bool faulted_contactor;
	const char *fault_detail;
	bool energized;		/* contactor closed for a session */
	bool session;		/* a session holds the connector */
	int ev_plugged;		/* 1, 0, -1 unknown */
	double power_w;
	const struct ws_reading *reading;	/* last good reading, NULL if none */
};

struct ocpp_cp_ops {
	/* Fills *info for connector id (1..n). */
	void (*connector_info)(void *user, unsigned id, struct ocpp_cp_connector_info *info);
	/* The registration state changed (for STATUS= and logs). */
	void (*state_changed)(void *user, enum ocpp_cp_state state);
	/* The charge point ended the connector's transaction by itself (the
	 * Central System refused its idTag, the EV was unplugged): open the
	 * contactor and end the session.  reason: the OCPP Reason sent. */
	void (*stop_session)(void *user, unsigned connector, const char *reason);
	/* RemoteStartTransaction, authorized: begin a session for id_tag as
	 * for a local one.  Returns true if it began. */
	bool (*start_session)(void *user, unsigned connector, const char *id_tag);
	/* Reset: every transaction has been stopped; restart the process. */
	void (*reset)(void *user, bool hard);
	/* The Central System changed a key registered with
	 * ocpp_cp_register_key(). */
	void (*key_changed)(void *user, const char *key);
};

/* The answer to ocpp_cp_authorize(). status: the idTagInfo status
 * ("Accepted", "Invalid", ...) of the Central System or of the local entry
 * that decided, or "Offline" when AllowOfflineTxForUnknownId decided. */
typedef void (*ocpp_cp_auth_fn)(void *user, unsigned connector, bool accepted,
				const char *status);

/* Returns 0 and *ret, or -errno / a positive code after logging why.
 * With an empty [ocpp] url, OCPP is off and *ret is NULL. */
int ocpp_cp_new(struct ocpp_cp **ret, struct lws_context *ctx,
		const struct ws_config *cfg, struct ws_store *store,
		const struct ocpp_cp_ops *ops, void *user);
struct ocpp_cp *ocpp_cp_free(struct ocpp_cp *cp);

/* A connector's state may have changed: re-derive and report its status. */
void ocpp_cp_connector_changed(struct ocpp_cp *cp, unsigned id);

/* Decides whether id_tag may charge: the Local Authorization List and the
 * Authorization Cache (LocalPreAuthorize online, LocalAuthorizeOffline
 * offline), the Central System (Authorize), and for an idTag unknown
 * offline AllowOfflineTxForUnknownId (docs/ocpp.md, "Authorization").
 * cb is called once, later, from the loop.  Returns 0, -EINVAL (id_tag
 * empty or longer than 20) or -ENOMEM. */
int ocpp_cp_authorize(struct ocpp_cp *cp, unsigned connector, const char *id_tag,
		      ocpp_cp_auth_fn cb, void *user);

/* Starts a transaction on connector for id_tag at meter reading meter_wh:
 * queues its StartTransaction durably (sent now or after an outage) and
 * samples MeterValues every MeterValueSampleInterval.  Returns 0, -EACCES
 * (the connector is reserved for another idTag),
 * -EBUSY (one runs already), or -EIO. */
int ocpp_cp_transaction_start(struct ocpp_cp *cp, unsigned connector,
			      const char *id_tag, double meter_wh);

/* Ends the connector's transaction at meter_wh with reason (an OCPP Reason:
 * "Local", "EVDisconnected", "DeAuthorized", "PowerLoss", "Reboot", ...).
 * Returns 0, -ENOENT (none runs) or -EIO. */
int ocpp_cp_transaction_stop(struct ocpp_cp *cp, unsigned connector, double meter_wh,
			     const char *reason);

bool ocpp_cp_transaction_active(const struct ocpp_cp *cp, unsigned connector);
/* False while the Central System set the connector (or the whole charge
 * point, connector 0) Inoperative: no session may start. */
bool ocpp_cp_connector_operative(const struct ocpp_cp *cp, unsigned connector);
/* True while a reservation (ReserveNow) holds the connector: only its
 * idTag may start there (ocpp_cp_may_start), no paid session. */
bool ocpp_cp_connector_reserved(const struct ocpp_cp *cp, unsigned connector);
/* Whether id_tag may start a transaction on connector now, as far as
 * reservations go (ask before closing the contactor). */
bool ocpp_cp_may_start(struct ocpp_cp *cp, unsigned connector, const char *id_tag);
/* Transaction messages waiting in the durable queue. */
size_t ocpp_cp_queued(const struct ocpp_cp *cp);

struct ocpp_config_def;
/* Vendor configuration keys another module owns (the tariff): registered
 * with the value the installation gives as default; the Central System's
 * stored value, if any, is in force.  Returns 0 or an OCPP_CONFIG_E_*. */
int ocpp_cp_register_key(struct ocpp_cp *cp, const struct ocpp_config_def *def);
int64_t ocpp_cp_key_int(struct ocpp_cp *cp, const char *key);

/* Sends DataTransfer with our vendorId (OCPP_CP_VENDOR_ID), messageId and
 * data (a JSON text) about connector, through the durable queue: in order
 * behind the transaction messages, kept through outages and restarts
 * (the payment totals are the operator's record of a session's money).
 * Returns 0, -EINVAL or -EIO. */
int ocpp_cp_data_transfer(struct ocpp_cp *cp, unsigned connector, const char *message_id,
			  const char *data);

enum ocpp_cp_state ocpp_cp_state(const struct ocpp_cp *cp);
const char *ocpp_cp_state_name(enum ocpp_cp_state s);
/* The status last derived for connector id (0 = the charge point). */
const char *ocpp_cp_connector_status(const struct ocpp_cp *cp, unsigned id);
/* Wall clock in ms as the Central System sets it (local clock plus the
 * offset learned from BootNotification/Heartbeat). */
int64_t ocpp_cp_now_ms(const struct ocpp_cp *cp);

#endif
