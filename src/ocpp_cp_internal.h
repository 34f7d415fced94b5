/* ocpp_cp_internal.h: what the charge point's source files share
 * (ocpp_cp.c: registration, status, configuration; ocpp_tx.c:
 * transactions).  Not a public header. */
#ifndef WATTSTREAM_OCPP_CP_INTERNAL_H
#define WATTSTREAM_OCPP_CP_INTERNAL_H

#include <jansson.h>
#include <libwebsockets.h>

#include "ocpp_messages.h"
#include "wattstream/ocpp_config.h"
#include "wattstream/ocpp_cp.h"
#include "wattstream/ocpp_link.h"
#include "wattstream/ocpp_queue.h"

enum cp_event {
	CPE_CONNECTED,
	CPE_DISCONNECTED,
	CPE_BOOT_ACCEPTED,
	CPE_BOOT_PENDING,
	CPE_BOOT_REJECTED,
	CPE_BOOT_FAILED,
	CPE_RETRY_TIMER,
};

struct cp_connector {
	struct ocpp_cp *cp;
	unsigned id;			/* 0 = the charge point itself */
	/* transaction (ocpp_tx.c) */
	int64_t local_tx;		/* 0: none */
	bool recovering;		/* running at the last stop: end at the first reading */
	bool finishing;			/* ended with the EV still plugged */
	/* availability (ocpp_remote.c) */
	bool inoperative;		/* ChangeAvailability Inoperative in force */
	int scheduled;			/* -1 none, else the availability due after the transaction */
	lws_sorted_usec_list_t mv_sul;	/* sampled MeterValues */
	bool reported_any;
	enum ocpp_charge_point_status reported, derived;
	enum ocpp_charge_point_error_code reported_err, derived_err;
	char derived_info[51];
	uint64_t derived_since_us;
	lws_sorted_usec_list_t sul;	/* MinimumStatusDuration */
};

struct ocpp_cp {
	struct lws_context *ctx;
	const struct ws_config *cfg;
	const struct ocpp_cp_ops *ops;
	void *user;
	struct ocpp_config *keys;
	struct ocpp_link *link;
	enum ocpp_cp_state state;
	int32_t boot_interval_s;
	lws_sorted_usec_list_t boot_sul;
	lws_sorted_usec_list_t heartbeat_sul;
	lws_sorted_usec_list_t reconf_sul;
	bool clock_known;
	int64_t clock_offset_ms;
	unsigned n;			/* connectors, 1..n */
	struct cp_connector conn[WS_MAX_CONNECTORS + 1];
	/* transaction messages (ocpp_tx.c) */
	struct ocpp_queue *queue;
	struct ws_store *store;
	lws_sorted_usec_list_t reset_sul;
	bool reset_hard;
	lws_sorted_usec_list_t tx_sul;	/* resend after a failure */
	bool tx_inflight;
	int64_t tx_seq;			/* the message in flight */
	bool tx_is_start;
};

/* Sends a CALL (payload consumed); logs and returns non-zero if it cannot. */
int cp_call(struct ocpp_cp *cp, const char *action, json_t *payload, ocpp_link_answer_fn cb);
/* The Central System's time, as an OCPP dateTime string. */
void cp_timestamp_now(struct ocpp_cp *cp, char out[OCPP_DATETIME_MAX + 1]);

/* ocpp_remote.c: RemoteStart/StopTransaction, Reset, ChangeAvailability,
 * UnlockConnector, ClearCache; each handler answers the CALL id. */
void cp_handle_remote_start(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_remote_stop(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_reset(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_change_availability(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_unlock_connector(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_clear_cache(struct ocpp_cp *cp, const char *id, void *req);
int cp_remote_init(struct ocpp_cp *cp);
void cp_remote_free(struct ocpp_cp *cp);
/* A transaction ended on c: apply a scheduled availability change. */
void cp_remote_tx_ended(struct ocpp_cp *cp, struct cp_connector *c);
void cp_reply(struct ocpp_cp *cp, const char *id, json_t *result);

/* ocpp_tx.c */
int cp_tx_init(struct ocpp_cp *cp, struct ws_store *store);
void cp_tx_free(struct ocpp_cp *cp);
/* Registration accepted or connection back: send what the queue holds. */
void cp_tx_kick(struct ocpp_cp *cp);
/* A connector changed: end its transaction if the EV left, or if it was
 * left over from before a restart. */
void cp_tx_connector_changed(struct ocpp_cp *cp, struct cp_connector *c,
			     const struct ocpp_cp_connector_info *in);

#endif
