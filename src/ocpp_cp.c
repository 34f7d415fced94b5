/* ocpp_cp.c: the charge point's OCPP core (see ocpp_cp.h).
 *
 * Registration is one state machine, cp_fsm(), fed by the transport's
 * callbacks and by timers (lws_sul embedded here): every transition is
 * logged.  Status reporting derives each connector's ChargePointStatus from
 * the controller state on every change and sends it once it has held for
 * MinimumStatusDuration.  Inbound CALLs arrive validated and decoded from
 * ocpp_link and are answered from a table of handlers.  Costs: one JSON
 * message per event; no allocation besides jansson's per message. */
#include "wattstream/ocpp_cp.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ocpp_cp_internal.h"
#include "wattstream/clock.h"
#include "wattstream/log.h"
#include "ws-build-config.h"

#define BOOT_RETRY_DEFAULT_S 30		/* when the CSMS says interval 0 */
#define BOOT_RETRY_ERROR_S 15		/* after a failed BootNotification */
#define RECONFIGURE_DELAY_US 1000000	/* let a ChangeConfiguration answer leave first */
#define SUSPENDED_EV_W 50.0		/* energized but drawing less: SuspendedEV */

static const char *const state_names[] = {
	[OCPP_CP_OFFLINE] = "offline",
	[OCPP_CP_BOOTING] = "booting",
	[OCPP_CP_PENDING] = "pending",
	[OCPP_CP_REJECTED] = "rejected",
	[OCPP_CP_ACCEPTED] = "accepted",
};

static const char *const event_names[] = {
	[CPE_CONNECTED] = "connected",
	[CPE_DISCONNECTED] = "disconnected",
	[CPE_BOOT_ACCEPTED] = "boot accepted",
	[CPE_BOOT_PENDING] = "boot pending",
	[CPE_BOOT_REJECTED] = "boot rejected",
	[CPE_BOOT_FAILED] = "boot failed",
	[CPE_RETRY_TIMER] = "retry timer",
};

const char *ocpp_cp_state_name(enum ocpp_cp_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

enum ocpp_cp_state ocpp_cp_state(const struct ocpp_cp *cp)
{
	return cp->state;
}

int64_t ocpp_cp_now_ms(const struct ocpp_cp *cp)
{
	return ws_clock_wall_ms() + cp->clock_offset_ms;
}

/* ---- sending -------------------------------------------------------------- */

int cp_call(struct ocpp_cp *cp, const char *action, json_t *payload,
		ocpp_link_answer_fn cb)
{
	struct ocpp_err err = { 0 };
	int r = ocpp_link_call(cp->link, action, payload, cb, cp, NULL, &err);
	if (r != 0)
		ws_warn("ocpp: cannot send %s: %s", action,
			r == OCPP_LINK_E_INVALID ? err.desc :
			r == OCPP_LINK_E_OFFLINE ? "offline" :
			r == OCPP_LINK_E_FULL ? "queue full" : strerror(-r));
	json_decref(payload);
	return r;
}

void cp_timestamp_now(struct ocpp_cp *cp, char out[OCPP_DATETIME_MAX + 1])
{
	struct ocpp_datetime dt;
	ocpp_datetime_set(&dt, ocpp_cp_now_ms(cp));
	memcpy(out, dt.str, sizeof(dt.str));
}

static void schedule_heartbeat(struct ocpp_cp *cp);

static void on_heartbeat(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	struct ocpp_cp *cp = user;

	if (a->status == OCPP_LINK_OK) {
		const struct ocpp_heartbeat_conf *conf = a->conf;
		cp->clock_offset_ms = conf->current_time.unix_ms - ws_clock_wall_ms();
		cp->clock_known = true;
		cp_tx_rearm(cp, false);	/* clock-aligned instants follow the clock */
	} else {
		ws_warn("ocpp: Heartbeat: %s %s", ocpp_link_status_str(a->status), a->error_desc);
	}
}

static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, heartbeat_sul);
	if (cp->state != OCPP_CP_ACCEPTED)
		return;
	cp_call(cp, "Heartbeat", json_object(), on_heartbeat);
	schedule_heartbeat(cp);
}

static void schedule_heartbeat(struct ocpp_cp *cp)
{
	int64_t s = ocpp_config_int(cp->keys, "HeartbeatInterval");
	if (s <= 0 || cp->state != OCPP_CP_ACCEPTED) {
		lws_sul_cancel(&cp->heartbeat_sul);
		return;
	}
	lws_sul_schedule(cp->ctx, 0, &cp->heartbeat_sul, heartbeat_cb, (lws_usec_t)s * LWS_US_PER_SEC);
}

/* ---- connector status ----------------------------------------------------- */

static void derive(struct cp_connector *c)
{
	struct ocpp_cp *cp = c->cp;
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
	enum ocpp_charge_point_status st = OCPP_CHARGE_POINT_STATUS_AVAILABLE;
	enum ocpp_charge_point_error_code err = OCPP_CHARGE_POINT_ERROR_CODE_NO_ERROR;

	c->derived_info[0] = '\0';
	bool inoperative = c->inoperative || cp->conn[0].inoperative;
	if (c->id == 0 && c->inoperative)
		st = OCPP_CHARGE_POINT_STATUS_UNAVAILABLE;
	if (c->id > 0) {
		cp->ops->connector_info(cp->user, c->id, &in);
		if (in.faulted_meter || in.faulted_contactor) {
			st = OCPP_CHARGE_POINT_STATUS_FAULTED;
			err = in.faulted_meter ? OCPP_CHARGE_POINT_ERROR_CODE_POWER_METER_FAILURE :
						 OCPP_CHARGE_POINT_ERROR_CODE_POWER_SWITCH_FAILURE;
			snprintf(c->derived_info, sizeof(c->derived_info), "%s",
				 in.fault_detail ? in.fault_detail : "");
		} else if (in.energized) {
			st = in.power_w < SUSPENDED_EV_W ? OCPP_CHARGE_POINT_STATUS_SUSPENDED_EV :
							   OCPP_CHARGE_POINT_STATUS_CHARGING;
		} else if (c->local_tx && !in.session) {
			/* a transaction whose contactor we hold open */
			st = OCPP_CHARGE_POINT_STATUS_SUSPENDED_EVSE;
		} else if (c->local_tx ||
			   (in.session && !c->finishing && !cp_tx_stopping(c))) {
			/* a session starting, or an idTag waiting for the EV
			 * (ConnectionTimeOut); not the contactor of a session
			 * that ended opening */
			st = OCPP_CHARGE_POINT_STATUS_PREPARING;
		} else if (inoperative) {
			st = OCPP_CHARGE_POINT_STATUS_UNAVAILABLE;
		} else if (c->resv.active) {
			/* held for an idTag, also with an EV plugged in */
			st = OCPP_CHARGE_POINT_STATUS_RESERVED;
		} else if (c->finishing) {
			st = OCPP_CHARGE_POINT_STATUS_FINISHING;
		} else if (in.ev_plugged == 1) {
			st = OCPP_CHARGE_POINT_STATUS_PREPARING;
		}
	}
	cp_reserve_status(cp, c, st);
	if (st != c->derived || err != c->derived_err || !c->derived_since_us) {
		c->derived = st;
		c->derived_err = err;
		c->derived_since_us = ws_clock_mono_us();
	}
}

static void on_status_answer(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	if (a->status != OCPP_LINK_OK)
		ws_warn("ocpp: StatusNotification: %s %s", ocpp_link_status_str(a->status),
			a->error_desc);
}

static void send_status(struct cp_connector *c)
{
	struct ocpp_cp *cp = c->cp;
	char ts[OCPP_DATETIME_MAX + 1];
	json_t *p = json_pack("{s:i, s:s, s:s}", "connectorId", (int)c->id,
			      "errorCode", ocpp_charge_point_error_code_str(c->derived_err),
			      "status", ocpp_charge_point_status_str(c->derived));
	if (!p)
		return;
	/* without a clock from the CSMS our time may be wrong: leave the
	 * optional timestamp out rather than report a wrong one */
	if (cp->clock_known) {
		cp_timestamp_now(cp, ts);
		json_object_set_new(p, "timestamp", json_string(ts));
	}
	if (c->derived_info[0])
		json_object_set_new(p, "info", json_string(c->derived_info));
	if (cp_call(cp, "StatusNotification", p, on_status_answer) == 0) {
		c->reported_any = true;
		c->reported = c->derived;
		c->reported_err = c->derived_err;
		ws_info("ocpp: connector %u %s%s%s", c->id,
			ocpp_charge_point_status_str(c->reported),
			c->reported_err != OCPP_CHARGE_POINT_ERROR_CODE_NO_ERROR ? " " : "",
			c->reported_err != OCPP_CHARGE_POINT_ERROR_CODE_NO_ERROR ?
			ocpp_charge_point_error_code_str(c->reported_err) : "");
	}
}

static void status_cb(lws_sorted_usec_list_t *sul)
{
	struct cp_connector *c = lws_container_of(sul, struct cp_connector, sul);
	struct ocpp_cp *cp = c->cp;

	if (cp->state != OCPP_CP_ACCEPTED)
		return;
	if (c->reported_any && c->reported == c->derived && c->reported_err == c->derived_err)
		return;
	uint64_t hold_us = (uint64_t)ocpp_config_int(cp->keys, "MinimumStatusDuration") * 1000000;
	uint64_t now = ws_clock_mono_us();
	/* a fault is reported at once; other changes once they held */
	if (c->derived != OCPP_CHARGE_POINT_STATUS_FAULTED && c->reported_any &&
	    now < c->derived_since_us + hold_us) {
		lws_sul_schedule(cp->ctx, 0, &c->sul, status_cb,
				 (lws_usec_t)(c->derived_since_us + hold_us - now));
		return;
	}
	send_status(c);
}

void ocpp_cp_connector_changed(struct ocpp_cp *cp, unsigned id)
{
	if (!cp || id > cp->n)
		return;
	if (id > 0) {
		struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
		cp->ops->connector_info(cp->user, id, &in);
		cp_tx_connector_changed(cp, &cp->conn[id], &in);
		cp_tx_meter_changed(cp, &cp->conn[id], &in);
	}
	derive(&cp->conn[id]);
	status_cb(&cp->conn[id].sul);
}

const char *ocpp_cp_connector_status(const struct ocpp_cp *cp, unsigned id)
{
	if (!cp || id > cp->n)
		return NULL;
	return ocpp_charge_point_status_str(cp->conn[id].derived);
}

static void report_all(struct ocpp_cp *cp, bool force)
{
	for (unsigned i = 0; i <= cp->n; i++) {
		if (force)
			cp->conn[i].reported_any = false;
		derive(&cp->conn[i]);
		status_cb(&cp->conn[i].sul);
	}
}

/* ---- registration ----------------------------------------------------------- */

static void cp_fsm(struct ocpp_cp *cp, enum cp_event ev);

static void on_boot(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	struct ocpp_cp *cp = user;

	if (a->status != OCPP_LINK_OK) {
		ws_warn("ocpp: BootNotification: %s %s", ocpp_link_status_str(a->status),
			a->error_desc);
		if (a->status != OCPP_LINK_DISCONNECTED)
			cp_fsm(cp, CPE_BOOT_FAILED);
		return;
	}
	const struct ocpp_boot_notification_conf *conf = a->conf;
	cp->boot_interval_s = conf->interval;
	cp->clock_offset_ms = conf->current_time.unix_ms - ws_clock_wall_ms();
	cp->clock_known = true;
	cp_tx_rearm(cp, false);	/* clock-aligned instants follow the clock */
	switch (conf->status) {
	case OCPP_REGISTRATION_STATUS_ACCEPTED:
		cp_fsm(cp, CPE_BOOT_ACCEPTED);
		break;
	case OCPP_REGISTRATION_STATUS_PENDING:
		cp_fsm(cp, CPE_BOOT_PENDING);
		break;
	default:
		cp_fsm(cp, CPE_BOOT_REJECTED);
		break;
	}
}

static void send_boot(struct ocpp_cp *cp)
{
	const struct ws_ocpp_config *o = &cp->cfg->ocpp;
	json_t *p = json_pack("{s:s, s:s, s:s}", "chargePointVendor", o->vendor,
			      "chargePointModel", o->model, "firmwareVersion", WS_VERSION);
	if (!p)
		return;
	if (o->serial[0])
		json_object_set_new(p, "chargePointSerialNumber", json_string(o->serial));
	if (cp_call(cp, "BootNotification", p, on_boot) != 0)
		cp_fsm(cp, CPE_BOOT_FAILED);
}

static void boot_retry_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, boot_sul);
	cp_fsm(cp, CPE_RETRY_TIMER);
}

static void schedule_boot_retry(struct ocpp_cp *cp, int32_t s)
{
	if (s <= 0)
		s = BOOT_RETRY_DEFAULT_S;
	lws_sul_schedule(cp->ctx, 0, &cp->boot_sul, boot_retry_cb, (lws_usec_t)s * LWS_US_PER_SEC);
}

static void set_state(struct ocpp_cp *cp, enum ocpp_cp_state to, enum cp_event ev)
{
	enum ocpp_cp_state from = cp->state;
	if (from == to)
		return;
	cp->state = to;
	ws_info("ocpp: %s -> %s (%s)", ocpp_cp_state_name(from), ocpp_cp_state_name(to),
		event_names[ev]);
	if (cp->ops->state_changed)
		cp->ops->state_changed(cp->user, to);
}

static void link_config(struct ocpp_cp *cp, struct ocpp_link_config *lc)
{
	const struct ws_ocpp_config *o = &cp->cfg->ocpp;
	const char *key = NULL;

	memset(lc, 0, sizeof(*lc));
	lc->url = o->url;
	lc->identity = o->identity;
	lc->security_profile = (int)ocpp_config_int(cp->keys, "SecurityProfile");
	if (ocpp_config_get(cp->keys, "AuthorizationKey", &key) == 0 && key && key[0])
		lc->authorization_key = key;
	lc->ca_file = o->ca_file[0] ? o->ca_file : NULL;
	lc->client_cert_file = o->client_cert_file[0] ? o->client_cert_file : NULL;
	lc->client_key_file = o->client_key_file[0] ? o->client_key_file : NULL;
	lc->ping_interval_s = (unsigned)ocpp_config_int(cp->keys, "WebSocketPingInterval");
}

static void reconnect_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, reconf_sul);
	struct ocpp_link_config lc;
	const char *why = NULL;

	link_config(cp, &lc);
	int r = ocpp_link_reconfigure(cp->link, &lc, &why);
	if (r != 0)
		ws_err("ocpp: cannot reconnect with the new settings: %s",
		       why ? why : r < 0 ? strerror(-r) : "invalid");
}

static void cp_fsm(struct ocpp_cp *cp, enum cp_event ev)
{
	switch (ev) {
	case CPE_CONNECTED:
		set_state(cp, OCPP_CP_BOOTING, ev);
		send_boot(cp);
		return;
	case CPE_DISCONNECTED:
		lws_sul_cancel(&cp->heartbeat_sul);
		if (cp->state != OCPP_CP_REJECTED) {
			lws_sul_cancel(&cp->boot_sul);
			set_state(cp, OCPP_CP_OFFLINE, ev);
		}
		return;
	case CPE_BOOT_ACCEPTED:
		lws_sul_cancel(&cp->boot_sul);
		set_state(cp, OCPP_CP_ACCEPTED, ev);
		if (cp->boot_interval_s > 0) {
			char v[16];
			snprintf(v, sizeof(v), "%d", cp->boot_interval_s);
			if (ocpp_config_change(cp->keys, "HeartbeatInterval", v) < 0)
				ws_warn("ocpp: cannot store HeartbeatInterval %s", v);
		}
		schedule_heartbeat(cp);
		report_all(cp, true);
		cp_tx_kick(cp);
		return;
	case CPE_BOOT_PENDING:
		set_state(cp, OCPP_CP_PENDING, ev);
		schedule_boot_retry(cp, cp->boot_interval_s);
		return;
	case CPE_BOOT_REJECTED:
		/* silent until the interval ran out: close the link meanwhile, so
		 * nothing is answered either (OCPP 1.6 section 4.2) */
		set_state(cp, OCPP_CP_REJECTED, ev);
		ocpp_link_stop(cp->link);
		schedule_boot_retry(cp, cp->boot_interval_s);
		return;
	case CPE_BOOT_FAILED:
		if (cp->state == OCPP_CP_BOOTING || cp->state == OCPP_CP_PENDING)
			schedule_boot_retry(cp, BOOT_RETRY_ERROR_S);
		return;
	case CPE_RETRY_TIMER:
		if (cp->state == OCPP_CP_REJECTED) {
			set_state(cp, OCPP_CP_OFFLINE, ev);
			reconnect_cb(&cp->reconf_sul);	/* connects; then boots */
		} else if (cp->state == OCPP_CP_PENDING || cp->state == OCPP_CP_BOOTING) {
			set_state(cp, OCPP_CP_BOOTING, ev);
			send_boot(cp);
		}
		return;
	}
	ws_crit("ocpp: unknown event %d in state %s", (int)ev, ocpp_cp_state_name(cp->state));
}

/* ---- transport callbacks ------------------------------------------------------ */

static void on_connected(void *user, struct ocpp_link *link)
{
	ws_notice("ocpp: connected to %s", ((struct ocpp_cp *)user)->cfg->ocpp.url);
	cp_fsm(user, CPE_CONNECTED);
}

static void on_disconnected(void *user, struct ocpp_link *link,
			    const struct ocpp_link_disconnect *d)
{
	struct ocpp_cp *cp = user;
	char why[256];

	ocpp_link_describe(d, why, sizeof(why));
	/* repeated refused connections while offline: once at notice, then debug */
	if (cp->state != OCPP_CP_OFFLINE || d->reason != OCPP_LINK_R_CONNECT)
		ws_warn("ocpp: %s", why);
	else
		ws_debug("ocpp: %s", why);
	cp_fsm(cp, CPE_DISCONNECTED);
}

void cp_reply(struct ocpp_cp *cp, const char *id, json_t *result)
{
	struct ocpp_err err = { 0 };
	if (!result) {
		ocpp_link_reply_error(cp->link, id, OCPP_ERR_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (ocpp_link_reply(cp->link, id, result, &err) == OCPP_LINK_E_INVALID)
		ws_err("ocpp: our answer failed its schema: %s", err.desc);
	json_decref(result);
}

static void handle_get_configuration(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_get_configuration_req *r = req;
	struct ocpp_config_report rep;
	int rc = ocpp_config_get_configuration(cp->keys, (const char *const *)r->key,
					       r->has_key ? r->n_key : 0, &rep);
	if (rc == OCPP_CONFIG_E_TOO_MANY_KEYS) {
		ocpp_link_reply_error(cp->link, id, OCPP_ERR_OCCURENCE_CONSTRAINT_VIOLATION,
				      "more keys than GetConfigurationMaxKeys");
		return;
	}
	if (rc != 0) {
		ocpp_link_reply_error(cp->link, id, OCPP_ERR_INTERNAL_ERROR, "out of memory");
		return;
	}
	json_t *known = json_array(), *unknown = json_array();
	for (size_t i = 0; i < rep.n_known; i++) {
		json_t *kv = json_pack("{s:s, s:b}", "key", rep.known[i].key,
				       "readonly", rep.known[i].readonly);
		if (kv && rep.known[i].value)
			json_object_set_new(kv, "value", json_string(rep.known[i].value));
		json_array_append_new(known, kv);
	}
	for (size_t i = 0; i < rep.n_unknown; i++)
		json_array_append_new(unknown, json_string(rep.unknown[i]));
	ocpp_config_report_clear(&rep);
	json_t *res = json_object();
	if (json_array_size(known))
		json_object_set(res, "configurationKey", known);
	if (json_array_size(unknown))
		json_object_set(res, "unknownKey", unknown);
	json_decref(known);
	json_decref(unknown);
	cp_reply(cp, id, res);
}

static void handle_change_configuration(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_change_configuration_req *r = req;
	int rc = ocpp_config_change(cp->keys, r->key, r->value);
	const char *status = rc < 0 ? "Rejected" : ocpp_config_status_str(rc);
	/* the value of AuthorizationKey is a secret: never in the log */
	ws_info("ocpp: ChangeConfiguration %s%s%s: %s", r->key,
		strcasecmp(r->key, "AuthorizationKey") == 0 ? "" : " = ",
		strcasecmp(r->key, "AuthorizationKey") == 0 ? "" : r->value,
		status ? status : "Rejected");
	cp_reply(cp, id, json_pack("{s:s}", "status", status ? status : "Rejected"));
}

static void handle_data_transfer(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_data_transfer_req *r = req;
	/* no inbound messages of our own vendor yet */
	cp_reply(cp, id, json_pack("{s:s}", "status",
				strcmp(r->vendor_id, OCPP_CP_VENDOR_ID) == 0 ?
				"UnknownMessageId" : "UnknownVendorId"));
}

static void handle_trigger_message(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_trigger_message_req *r = req;
	const char *status = "Accepted";

	if (r->has_connector_id && (r->connector_id < 0 || (unsigned)r->connector_id > cp->n)) {
		cp_reply(cp, id, json_pack("{s:s}", "status", "Rejected"));
		return;
	}
	switch (r->requested_message) {
	case OCPP_MESSAGE_TRIGGER_BOOT_NOTIFICATION:
	case OCPP_MESSAGE_TRIGGER_HEARTBEAT:
	case OCPP_MESSAGE_TRIGGER_STATUS_NOTIFICATION:
	case OCPP_MESSAGE_TRIGGER_METER_VALUES:
		break;
	default:
		status = "NotImplemented";
		break;
	}
	/* the answer goes first; the triggered message follows it.  The
	 * request is the transport's and ends with the answer: keep what
	 * is needed of it */
	enum ocpp_message_trigger what = r->requested_message;
	bool one = r->has_connector_id;
	unsigned connector = one ? (unsigned)r->connector_id : 0;
	cp_reply(cp, id, json_pack("{s:s}", "status", status));
	switch (what) {
	case OCPP_MESSAGE_TRIGGER_BOOT_NOTIFICATION:
		send_boot(cp);
		break;
	case OCPP_MESSAGE_TRIGGER_HEARTBEAT:
		if (cp->state == OCPP_CP_ACCEPTED)
			cp_call(cp, "Heartbeat", json_object(), on_heartbeat);
		break;
	case OCPP_MESSAGE_TRIGGER_METER_VALUES:
		if (cp->state == OCPP_CP_ACCEPTED)
			cp_tx_trigger_meter_values(cp, connector);
		break;
	case OCPP_MESSAGE_TRIGGER_STATUS_NOTIFICATION:
		if (cp->state != OCPP_CP_ACCEPTED)
			break;
		for (unsigned i = 0; i <= cp->n; i++)
			if (!one || connector == i) {
				derive(&cp->conn[i]);
				send_status(&cp->conn[i]);
			}
		break;
	default:
		break;
	}
}

static const struct {
	const char *action;
	void (*fn)(struct ocpp_cp *cp, const char *id, void *req);
} handlers[] = {
	{ "ChangeAvailability", cp_handle_change_availability },
	{ "ChangeConfiguration", handle_change_configuration },
	{ "CancelReservation", cp_handle_cancel_reservation },
	{ "ClearCache", cp_handle_clear_cache },
	{ "DataTransfer", handle_data_transfer },
	{ "GetConfiguration", handle_get_configuration },
	{ "GetLocalListVersion", cp_handle_get_local_list_version },
	{ "RemoteStartTransaction", cp_handle_remote_start },
	{ "RemoteStopTransaction", cp_handle_remote_stop },
	{ "ReserveNow", cp_handle_reserve_now },
	{ "Reset", cp_handle_reset },
	{ "SendLocalList", cp_handle_send_local_list },
	{ "TriggerMessage", handle_trigger_message },
	{ "UnlockConnector", cp_handle_unlock_connector },
};

static void on_call(void *user, struct ocpp_link *link, const char *id,
		    const struct ocpp_action *action, void *req)
{
	struct ocpp_cp *cp = user;

	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].action, action->name) == 0) {
			handlers[i].fn(cp, id, req);
			return;
		}
	ws_info("ocpp: %s is not supported yet; answered NotSupported", action->name);
	ocpp_link_reply_error(link, id, OCPP_ERR_NOT_SUPPORTED,
			      "not supported by this charge point (see docs/ocpp.md)");
}

static void on_notice(void *user, struct ocpp_link *link, enum ocpp_link_notice what,
		      const char *text)
{
	if (what != OCPP_LINK_N_PONG)
		ws_warn("ocpp: %s", text);
}

static const struct ocpp_link_ops link_ops = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.call = on_call,
	.notice = on_notice,
};

/* ---- vendor keys and data transfer ------------------------------------------------ */

int ocpp_cp_register_key(struct ocpp_cp *cp, const struct ocpp_config_def *def)
{
	return ocpp_config_register(cp->keys, def);
}

int64_t ocpp_cp_key_int(struct ocpp_cp *cp, const char *key)
{
	return ocpp_config_int(cp->keys, key);
}

int ocpp_cp_data_transfer(struct ocpp_cp *cp, unsigned connector, const char *message_id,
			  const char *data)
{
	if (!cp)
		return -EINVAL;
	json_t *p = json_pack("{s:s, s:s, s:s}", "vendorId", OCPP_CP_VENDOR_ID,
			      "messageId", message_id, "data", data);
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!text)
		return -ENOMEM;
	int r = ocpp_queue_enqueue_data(cp->queue, connector, text, ws_clock_wall_ms(), NULL);
	free(text);
	if (r != 0) {
		ws_err("ocpp: DataTransfer %s not queued (%d)", message_id, r);
		return r < 0 ? r : -EINVAL;
	}
	cp_tx_kick(cp);
	return 0;
}

/* ---- configuration keys --------------------------------------------------------- */

static void on_key_changed(void *user, const char *key)
{
	struct ocpp_cp *cp = user;

	if (strcmp(key, "HeartbeatInterval") == 0) {
		schedule_heartbeat(cp);
	} else if (strcmp(key, "MinimumStatusDuration") == 0) {
		report_all(cp, false);
	} else if (strcmp(key, "ClockAlignedDataInterval") == 0 ||
		   strcmp(key, "MeterValueSampleInterval") == 0) {
		cp_tx_rearm(cp, key[0] == 'M');
	} else if (strncmp(key, "Wattstream", 10) == 0) {
		if (cp->ops->key_changed)
			cp->ops->key_changed(cp->user, key);
	} else if (strcmp(key, "WebSocketPingInterval") == 0 ||
		   strcmp(key, "AuthorizationKey") == 0 ||
		   strcmp(key, "SecurityProfile") == 0) {
		/* reconnect with the new settings once the answer is out */
		lws_sul_schedule(cp->ctx, 0, &cp->reconf_sul, reconnect_cb, RECONFIGURE_DELAY_US);
	}
}

/* Security Whitepaper 2.1: a profile may only be raised, and only to one
 * this installation can do. */
static int check_security_profile(void *userdata, const char *key, const char *old,
				  const char *value)
{
	struct ocpp_cp *cp = userdata;
	const struct ws_ocpp_config *o = &cp->cfg->ocpp;
	int from = atoi(old), to = atoi(value);
	bool tls = strncmp(o->url, "wss://", 6) == 0;

	if (to < from)
		return 1;
	if ((to >= 2) != tls)
		return 1;	/* the endpoint's scheme is the installer's */
	if (to >= 2 && !o->ca_file[0])
		return 1;
	if (to == 3 && (!o->client_cert_file[0] || !o->client_key_file[0]))
		return 1;
	return 0;
}

int ocpp_cp_new(struct ocpp_cp **ret, struct lws_context *ctx,
		const struct ws_config *cfg, struct ws_store *store,
		const struct ocpp_cp_ops *ops, void *user)
{
	struct ocpp_link_config lc;
	const char *why = NULL;
	char v[24];
	int r;

	*ret = NULL;
	if (!cfg->ocpp.url[0]) {
		ws_notice("ocpp: no [ocpp] url configured: OCPP is off");
		return 0;
	}
	struct ocpp_cp *cp = calloc(1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	cp->ctx = ctx;
	cp->cfg = cfg;
	cp->ops = ops;
	cp->user = user;
	cp->n = cfg->n_connectors;
	for (unsigned i = 0; i <= cp->n; i++) {
		cp->conn[i].cp = cp;
		cp->conn[i].id = i;
	}
	r = ocpp_config_new(&cp->keys, store);
	if (r < 0)
		goto fail;
	/* what the installation fixes, before the stored values load */
	snprintf(v, sizeof(v), "%u", cfg->n_connectors);
	if (ocpp_config_set_default(cp->keys, "NumberOfConnectors", v) != 0 ||
	    (snprintf(v, sizeof(v), "%u", cfg->ocpp.security_profile),
	     ocpp_config_set_default(cp->keys, "SecurityProfile", v) != 0) ||
	    (cfg->ocpp.authorization_key[0] &&
	     ocpp_config_set_default(cp->keys, "AuthorizationKey", cfg->ocpp.authorization_key) != 0)) {
		ws_err("ocpp: the [ocpp] settings do not fit the OCPP configuration keys");
		r = -EINVAL;
		goto fail;
	}
	r = ocpp_config_load(cp->keys);
	cp->store = store;
	if (r == 0)
		r = cp_tx_init(cp, store);
	if (r == 0)
		r = cp_remote_init(cp);
	if (r == 0)
		r = cp_reserve_init(cp);
	if (r < 0) {
		ws_err("ocpp: cannot load the stored configuration keys: %s", strerror(-r));
		goto fail;
	}
	ocpp_config_set_check(cp->keys, "SecurityProfile", check_security_profile, cp);
	ocpp_config_set_notify(cp->keys, on_key_changed, cp);
	link_config(cp, &lc);
	if ((lc.security_profile == 1 || lc.security_profile == 2) && !lc.authorization_key)
		ws_warn("ocpp: security profile %d without an AuthorizationKey: the Central System will refuse us",
			lc.security_profile);
	r = ocpp_link_new(&cp->link, ctx, &lc, &link_ops, cp, &why);
	if (r != 0) {
		ws_err("ocpp: cannot set up the connection to %s: %s", cfg->ocpp.url,
		       why ? why : r < 0 ? strerror(-r) : "invalid settings");
		goto fail;
	}
	ws_info("ocpp: charge point '%s' connecting to %s (security profile %d)",
		cfg->ocpp.identity, cfg->ocpp.url, lc.security_profile);
	*ret = cp;
	return 0;
fail:
	ocpp_cp_free(cp);
	return r ? r : -EINVAL;
}

struct ocpp_cp *ocpp_cp_free(struct ocpp_cp *cp)
{
	if (!cp)
		return NULL;
	lws_sul_cancel(&cp->boot_sul);
	lws_sul_cancel(&cp->heartbeat_sul);
	lws_sul_cancel(&cp->reconf_sul);
	for (unsigned i = 0; i <= cp->n; i++)
		lws_sul_cancel(&cp->conn[i].sul);
	cp_tx_free(cp);
	cp_remote_free(cp);
	cp_reserve_free(cp);
	ocpp_link_free(cp->link);
	ocpp_config_free(cp->keys);
	free(cp);
	return NULL;
}
