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

/* A reservation of a connector (ocpp_reserve.c). */
struct cp_reservation {
	bool active;
	int32_t id;			/* reservationId */
	int64_t expiry_ms;		/* Central System clock */
	char id_tag[21];
	char parent_id_tag[21];		/* "" none */
	lws_sorted_usec_list_t sul;	/* expiry */
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
	struct cp_reservation resv;	/* ReserveNow (ocpp_reserve.c) */
	/* metering (ocpp_tx.c) */
	int64_t stop_tx;		/* transaction whose StopTransaction waits for
					 * the reading after the open; 0 none */
	char stop_reason[24];
	double stop_fallback_wh;	/* the reading when the stop was asked */
	uint64_t stop_open_us;		/* contactor seen open (monotonic), 0 not yet */
	lws_sorted_usec_list_t stop_sul;	/* bounded wait for that reading */
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
	/* metering (ocpp_tx.c) */
	lws_sorted_usec_list_t aligned_sul;	/* next ClockAlignedDataInterval instant */
	int64_t aligned_next_ms;	/* the instant armed, Central System clock */
	int64_t aligned_last_ms;	/* the last instant sent */
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
/* Answers the CALL id with result (consumed).  The decoded request of
 * that CALL belongs to the transport and is freed by the answer: a
 * handler reads what it needs of it first. */
void cp_reply(struct ocpp_cp *cp, const char *id, json_t *result);

/* ocpp_auth.c: the Authorization Cache and the Local Authorization List
 * (tables of the store), the decision of ocpp_cp_authorize(), and the
 * handlers of SendLocalList and GetLocalListVersion.  The functions on a
 * ws_store are the store layer (unit-tested on their own): each returns
 * 0 / 1 (found) or -errno, and writes with one commit. */
#define CP_AUTH_CACHE_MAX 1000		/* entries of the Authorization Cache */
#define CP_AUTH_ID_TAG_MAX 20		/* IdToken: CiString20Type */
enum cp_auth_source { CP_AUTH_NONE, CP_AUTH_LIST, CP_AUTH_CACHE };
/* The list's entry for id_tag (case-insensitive).  An Accepted entry past
 * its expiryDate reads Expired (the list itself is left as the Central
 * System sent it).  Returns 1 and *out, 0 (not in the list), or -EIO. */
int cp_auth_list_get(struct ws_store *s, const char *id_tag, int64_t now_ms,
		     struct ocpp_id_tag_info *out);
/* The cache's entry for id_tag.  An Accepted entry past its expiryDate is
 * changed to Expired in the cache (§3.5.1).  touch: the entry becomes the
 * most recently used.  Returns 1 and *out, 0, or -EIO. */
int cp_auth_cache_get(struct ws_store *s, const char *id_tag, int64_t now_ms, bool touch,
		      struct ocpp_id_tag_info *out);
/* Adds or replaces id_tag's entry as the most recently used.  A cache
 * holding max entries first loses every not-valid entry (not Accepted, or
 * past expiry), then, if still full, its least recently used ones.
 * Returns 0, -EINVAL (bad idTag or status) or -EIO (nothing changed). */
int cp_auth_cache_put(struct ws_store *s, const char *id_tag,
		      const struct ocpp_id_tag_info *info, int64_t now_ms, int64_t max);
int cp_auth_cache_clear(struct ws_store *s);
int64_t cp_auth_cache_count(struct ws_store *s);
/* The version GetLocalListVersion reports while the list is enabled: 0
 * when the list is empty.  Returns >= 0 or -EIO. */
int64_t cp_auth_list_version(struct ws_store *s);
/* Applies SendLocalList.req in one commit, or nothing: Accepted; Failed
 * (listVersion <= 0, more than max_send entries, a Full entry without
 * idTagInfo or twice, more than max_len entries after the update, a store
 * error); VersionMismatch (Differential with listVersion not above the
 * version in force).  *why (static) says why when not Accepted.  Entries
 * of the new list leave the cache (§3.5.3). */
enum ocpp_update_status cp_auth_list_update(struct ws_store *s,
					    const struct ocpp_send_local_list_req *req,
					    int64_t max_len, int64_t max_send, const char **why);
/* An idTagInfo from the Central System: into the cache, unless the cache
 * is disabled or the idTag is in the list in force. */
void cp_auth_learn(struct ocpp_cp *cp, const char *id_tag, const struct ocpp_id_tag_info *info);
/* The answer to the transaction message seq (still the queue's head):
 * learns the idTagInfo of a StartTransaction.conf / StopTransaction.conf. */
void cp_auth_tx_answer(struct ocpp_cp *cp, int64_t seq, const struct ocpp_link_answer *a);
/* ClearCache: 0 emptied, 1 the cache is disabled (answer Rejected), -EIO. */
int cp_auth_clear_cache(struct ocpp_cp *cp);
void cp_handle_send_local_list(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_get_local_list_version(struct ocpp_cp *cp, const char *id, void *req);

/* ocpp_reserve.c: ReserveNow / CancelReservation, one reservation per
 * connector, kept in the store (table ocpp_reservations). */
void cp_handle_reserve_now(struct ocpp_cp *cp, const char *id, void *req);
void cp_handle_cancel_reservation(struct ocpp_cp *cp, const char *id, void *req);
/* Whether id_tag may start a transaction on connector: 0 not reserved,
 * the reservationId (> 0) when the reservation is id_tag's (or its parent
 * idTag's, as the local list or the cache know it), -EBUSY reserved for
 * another. */
int cp_reserve_admits(struct ocpp_cp *cp, unsigned connector, const char *id_tag);
/* The reserved idTag's transaction started on connector: the reservation ends. */
void cp_reserve_used(struct ocpp_cp *cp, unsigned connector);
/* c's status was derived as st: Faulted and Unavailable end a reservation. */
void cp_reserve_status(struct ocpp_cp *cp, struct cp_connector *c,
		       enum ocpp_charge_point_status st);
int cp_reserve_init(struct ocpp_cp *cp);
void cp_reserve_free(struct ocpp_cp *cp);

/* ocpp_tx.c */
int cp_tx_init(struct ocpp_cp *cp, struct ws_store *store);
void cp_tx_free(struct ocpp_cp *cp);
/* Registration accepted or connection back: send what the queue holds. */
void cp_tx_kick(struct ocpp_cp *cp);
/* A connector changed: end its transaction if the EV left, or if it was
 * left over from before a restart. */
void cp_tx_connector_changed(struct ocpp_cp *cp, struct cp_connector *c,
			     const struct ocpp_cp_connector_info *in);

/* metering (ocpp_tx.c) */
/* A connector changed (a reading, a state): a StopTransaction waiting for
 * the reading after the contactor opened may be built now. */
void cp_tx_meter_changed(struct ocpp_cp *cp, struct cp_connector *c,
			 const struct ocpp_cp_connector_info *in);
/* ClockAlignedDataInterval changed or the clock offset did: re-arm the
 * clock-aligned timer; sampled: MeterValueSampleInterval changed, re-arm
 * the sampling of running transactions too. */
void cp_tx_rearm(struct ocpp_cp *cp, bool sampled);
/* TriggerMessage MeterValues for connector (0: every connector). */
void cp_tx_trigger_meter_values(struct ocpp_cp *cp, unsigned connector);
/* Status: a StopTransaction of c waits for the reading after the open. */
bool cp_tx_stopping(const struct cp_connector *c);

#endif
