/* ocpp_tx.c: the transaction messages of the charge point:
 * StartTransaction, StopTransaction and sampled MeterValues, both the
 * building of each message and its delivery.
 *
 * Every transaction message goes through the durable queue (ocpp_queue):
 * written to the store before it is sent, removed only when its CALLRESULT
 * arrived, sent one at a time in order, retried per
 * TransactionMessageAttempts / TransactionMessageRetryInterval (a CALLERROR
 * counts as a failed attempt, errata 3.x), kept through outages, crashes
 * and restarts.  A crash between sending and the answer sends the message
 * again after the restart (docs/ocpp-config.md explains why a possible
 * duplicate beats a possible loss).  Cost: two store commits per message. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_cp_internal.h"
#include "wattstream/clock.h"
#include "wattstream/log.h"

static void tx_send_next(struct ocpp_cp *cp);

static void tx_retry_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, tx_sul);
	tx_send_next(cp);
}

static void on_tx_answer(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	struct ocpp_cp *cp = user;
	int64_t seq = cp->tx_seq;
	int64_t now = ws_clock_wall_ms();
	int r;

	cp->tx_inflight = false;
	switch (a->status) {
	case OCPP_LINK_OK:
		if (cp->tx_is_start) {
			const struct ocpp_start_transaction_conf *conf = a->conf;
			r = ocpp_queue_done_start(cp->queue, seq, conf->transaction_id);
			ws_info("ocpp: StartTransaction confirmed: transactionId %d, idTag %s",
				conf->transaction_id,
				ocpp_authorization_status_str(conf->id_tag_info.status));
			if (conf->id_tag_info.status != OCPP_AUTHORIZATION_STATUS_ACCEPTED &&
			    ocpp_config_bool(cp->keys, "StopTransactionOnInvalidId")) {
				struct ocpp_queue_tx tx;
				/* which connector: the transaction record knows */
				for (unsigned i = 1; i <= cp->n; i++)
					if (cp->conn[i].local_tx &&
					    ocpp_queue_tx_get(cp->queue, cp->conn[i].local_tx, &tx) == 0 &&
					    tx.start_state == OCPP_QUEUE_START_CONFIRMED &&
					    tx.remote_tx == conf->transaction_id) {
						struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
						cp->ops->connector_info(cp->user, i, &in);
						double wh = in.reading ? in.reading->value[WS_Q_ENERGY_WH] : 0;
						ocpp_cp_transaction_stop(cp, i, wh, "DeAuthorized");
						cp->ops->stop_session(cp->user, i, "DeAuthorized");
					}
			}
		} else {
			r = ocpp_queue_done(cp->queue, seq);
		}
		if (r < 0)
			ws_err("ocpp: cannot remove a delivered message from the queue");
		break;
	case OCPP_LINK_DISCONNECTED:
		/* not the Central System's failure: sent again on reconnection */
		return;
	default: {
		/* CALLERROR, an invalid answer, or no answer on a live link */
		struct ocpp_queue_entry e;
		ocpp_queue_failed(cp->queue, seq, now);
		if (ocpp_queue_head(cp->queue, &e) == 0) {
			int64_t max = ocpp_config_int(cp->keys, "TransactionMessageAttempts");
			if (e.seq == seq && (int64_t)e.failures >= max) {
				ws_err("ocpp: %s dropped after %u failed attempts (last: %s %s)",
				       e.action, e.failures, ocpp_link_status_str(a->status),
				       a->error_desc);
				ocpp_queue_drop(cp->queue, seq, "attempts", now);
			} else {
				ws_warn("ocpp: %s failed (%s %s), attempt %u of %lld",
					e.action, ocpp_link_status_str(a->status), a->error_desc,
					e.failures, (long long)max);
			}
			ocpp_queue_entry_clear(&e);
		}
		break;
	}
	}
	tx_send_next(cp);
}

/* Sends the queue's head if the link is up and registered, nothing is in
 * flight and its retry time has come. */
static void tx_send_next(struct ocpp_cp *cp)
{
	struct ocpp_queue_entry e;
	struct ocpp_err err = { 0 };

	if (cp->tx_inflight || cp->state != OCPP_CP_ACCEPTED)
		return;
	int r = ocpp_queue_head(cp->queue, &e);
	if (r == OCPP_QUEUE_E_EMPTY)
		return;
	if (r != 0) {
		ws_err("ocpp: cannot read the transaction queue");
		return;
	}
	int64_t now = ws_clock_wall_ms();
	int64_t at = ocpp_queue_retry_at_ms(&e, ocpp_config_int(cp->keys,
					    "TransactionMessageRetryInterval"));
	if (at > now) {
		lws_sul_schedule(cp->ctx, 0, &cp->tx_sul, tx_retry_cb,
				 (lws_usec_t)(at - now) * 1000);
		ocpp_queue_entry_clear(&e);
		return;
	}
	json_error_t jerr;
	json_t *payload = json_loads(e.payload, 0, &jerr);
	if (!payload) {
		ws_crit("ocpp: queued %s is not JSON: %s; dropped", e.action, jerr.text);
		ocpp_queue_drop(cp->queue, e.seq, "corrupt", now);
		ocpp_queue_entry_clear(&e);
		lws_sul_schedule(cp->ctx, 0, &cp->tx_sul, tx_retry_cb, 1);
		return;
	}
	ocpp_queue_attempt(cp->queue, e.seq, now);
	cp->tx_seq = e.seq;
	cp->tx_is_start = strcmp(e.action, "StartTransaction") == 0;
	r = ocpp_link_call(cp->link, e.action, payload, on_tx_answer, cp, NULL, &err);
	json_decref(payload);
	if (r == 0) {
		cp->tx_inflight = true;
	} else if (r == OCPP_LINK_E_INVALID) {
		/* can never be sent: keep it out of the way, but on record */
		ws_crit("ocpp: queued %s fails its schema (%s); dropped", e.action, err.desc);
		ocpp_queue_drop(cp->queue, e.seq, "invalid", now);
		lws_sul_schedule(cp->ctx, 0, &cp->tx_sul, tx_retry_cb, 1);
	}
	/* offline or link queue full: tried again on the next kick */
	ocpp_queue_entry_clear(&e);
}

void cp_tx_kick(struct ocpp_cp *cp)
{
	if (cp)
		tx_send_next(cp);
}

/* ---- meter values --------------------------------------------------------- */

static void add_sample(json_t *arr, double value, const char *measurand, const char *unit,
		       const char *phase, const char *context)
{
	char v[32];
	/* energy as an integer Wh register value, the others with 0.1 resolution */
	if (strcmp(unit, "Wh") == 0)
		snprintf(v, sizeof(v), "%.0f", floor(value));
	else
		snprintf(v, sizeof(v), "%.1f", value);
	json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:s}", "value", v, "context", context,
			      "measurand", measurand, "unit", unit, "location", "Outlet");
	if (s && phase)
		json_object_set_new(s, "phase", json_string(phase));
	json_array_append_new(arr, s);
}

/* One MeterValue object for the measurands listed in key (a CSL), from r. */
static json_t *meter_value(struct ocpp_cp *cp, const struct ws_reading *r, const char *key,
			   const char *context)
{
	static const char *const phases[] = { "L1", "L2", "L3" };
	char ts[OCPP_DATETIME_MAX + 1];
	json_t *samples = json_array();

	if (!r)
		return NULL;
	if (WS_READING_HAS(r, WS_Q_ENERGY_WH) &&
	    ocpp_config_list_has(cp->keys, key, "Energy.Active.Import.Register"))
		add_sample(samples, r->value[WS_Q_ENERGY_WH], "Energy.Active.Import.Register",
			   "Wh", NULL, context);
	if (WS_READING_HAS(r, WS_Q_POWER_W) &&
	    ocpp_config_list_has(cp->keys, key, "Power.Active.Import"))
		add_sample(samples, r->value[WS_Q_POWER_W], "Power.Active.Import", "W", NULL, context);
	for (int p = 0; p < 3; p++) {
		if (WS_READING_HAS(r, WS_Q_CURRENT_L1_A + p) &&
		    ocpp_config_list_has(cp->keys, key, "Current.Import"))
			add_sample(samples, r->value[WS_Q_CURRENT_L1_A + p], "Current.Import", "A",
				   phases[p], context);
		if (WS_READING_HAS(r, WS_Q_VOLTAGE_L1_V + p) &&
		    ocpp_config_list_has(cp->keys, key, "Voltage"))
			add_sample(samples, r->value[WS_Q_VOLTAGE_L1_V + p], "Voltage", "V",
				   p == 0 ? "L1-N" : p == 1 ? "L2-N" : "L3-N", context);
	}
	if (json_array_size(samples) == 0) {
		json_decref(samples);
		return NULL;
	}
	cp_timestamp_now(cp, ts);
	return json_pack("{s:s, s:o}", "timestamp", ts, "sampledValue", samples);
}

static void mv_cb(lws_sorted_usec_list_t *sul);

static void schedule_mv(struct cp_connector *c)
{
	int64_t s = ocpp_config_int(c->cp->keys, "MeterValueSampleInterval");
	if (!c->local_tx || s <= 0) {
		lws_sul_cancel(&c->mv_sul);
		return;
	}
	lws_sul_schedule(c->cp->ctx, 0, &c->mv_sul, mv_cb, (lws_usec_t)s * LWS_US_PER_SEC);
}

static void mv_cb(lws_sorted_usec_list_t *sul)
{
	struct cp_connector *c = lws_container_of(sul, struct cp_connector, mv_sul);
	struct ocpp_cp *cp = c->cp;
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };

	if (!c->local_tx)
		return;
	cp->ops->connector_info(cp->user, c->id, &in);
	json_t *mv = meter_value(cp, in.reading, "MeterValuesSampledData", "Sample.Periodic");
	if (mv) {
		json_t *p = json_pack("{s:i, s:i, s:[o]}", "connectorId", (int)c->id,
				      "transactionId", OCPP_QUEUE_NO_REMOTE_TX, "meterValue", mv);
		char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
		int r = text ? ocpp_queue_enqueue(cp->queue, "MeterValues", c->id, c->local_tx,
						  text, 0, ws_clock_wall_ms(), NULL) : -ENOMEM;
		if (r != 0)
			ws_warn("ocpp: connector %u: MeterValues not queued (%d)", c->id, r);
		free(text);
		json_decref(p);
		tx_send_next(cp);
	}
	schedule_mv(c);
}

/* ---- transactions ------------------------------------------------------------- */

int ocpp_cp_transaction_start(struct ocpp_cp *cp, unsigned connector, const char *id_tag,
			      double meter_wh)
{
	char ts[OCPP_DATETIME_MAX + 1];
	struct ocpp_queue_tx tx = { 0 };
	int64_t now = ws_clock_wall_ms();

	if (!cp || connector < 1 || connector > cp->n)
		return -EINVAL;
	struct cp_connector *c = &cp->conn[connector];
	if (c->local_tx)
		return -EBUSY;
	cp_timestamp_now(cp, ts);
	json_t *p = json_pack("{s:i, s:s, s:I, s:s}", "connectorId", (int)connector,
			      "idTag", id_tag, "meterStart", (json_int_t)floor(meter_wh),
			      "timestamp", ts);
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!text)
		return -ENOMEM;
	tx.connector = connector;
	snprintf(tx.id_tag, sizeof(tx.id_tag), "%s", id_tag);
	tx.meter_start_wh = (int64_t)floor(meter_wh);
	tx.start_ms = ocpp_cp_now_ms(cp);
	int r = ocpp_queue_tx_open(cp->queue, &tx, text, now, &c->local_tx, NULL);
	free(text);
	if (r != 0) {
		ws_err("ocpp: connector %u: cannot queue StartTransaction (%d)", connector, r);
		c->local_tx = 0;
		return -EIO;
	}
	c->finishing = false;
	ws_info("ocpp: connector %u: transaction %lld started (meterStart %.0f Wh)",
		connector, (long long)c->local_tx, floor(meter_wh));
	schedule_mv(c);
	ocpp_cp_connector_changed(cp, connector);
	tx_send_next(cp);
	return 0;
}

int ocpp_cp_transaction_stop(struct ocpp_cp *cp, unsigned connector, double meter_wh,
			     const char *reason)
{
	char ts[OCPP_DATETIME_MAX + 1];
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };

	if (!cp || connector < 1 || connector > cp->n)
		return -EINVAL;
	struct cp_connector *c = &cp->conn[connector];
	if (!c->local_tx)
		return -ENOENT;
	cp->ops->connector_info(cp->user, connector, &in);
	cp_timestamp_now(cp, ts);
	json_t *p = json_pack("{s:I, s:i, s:s, s:s}", "meterStop", (json_int_t)floor(meter_wh),
			      "transactionId", OCPP_QUEUE_NO_REMOTE_TX, "timestamp", ts,
			      "reason", reason);
	json_t *mv = meter_value(cp, in.reading, "StopTxnSampledData", "Transaction.End");
	if (p && mv)
		json_object_set_new(p, "transactionData", json_pack("[o]", mv));
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	int r = text ? ocpp_queue_enqueue(cp->queue, "StopTransaction", connector, c->local_tx,
					  text, OCPP_QUEUE_F_KEEP, ws_clock_wall_ms(), NULL) : -ENOMEM;
	free(text);
	if (r != 0) {
		ws_err("ocpp: connector %u: cannot queue StopTransaction (%d)", connector, r);
		return -EIO;
	}
	ws_info("ocpp: connector %u: transaction %lld stopped (%s, meterStop %.0f Wh)",
		connector, (long long)c->local_tx, reason, floor(meter_wh));
	c->local_tx = 0;
	c->recovering = false;
	c->finishing = in.ev_plugged == 1;
	cp_remote_tx_ended(cp, c);
	lws_sul_cancel(&c->mv_sul);
	ocpp_cp_connector_changed(cp, connector);
	tx_send_next(cp);
	return 0;
}

bool ocpp_cp_transaction_active(const struct ocpp_cp *cp, unsigned connector)
{
	return cp && connector >= 1 && connector <= cp->n && cp->conn[connector].local_tx;
}

size_t ocpp_cp_queued(const struct ocpp_cp *cp)
{
	return cp ? ocpp_queue_count(cp->queue) : 0;
}

/* ---- start and end -------------------------------------------------------------------- */

int cp_tx_init(struct ocpp_cp *cp, struct ws_store *store)
{
	struct ocpp_queue_tx open[WS_MAX_CONNECTORS];
	int r = ocpp_queue_new(&cp->queue, store, NULL);
	if (r < 0)
		return r;
	/* transactions that were running when we stopped: the session is gone
	 * (the contactor was opened at start), so they end now.  meterStop is
	 * filled in by the daemon's first reading (ocpp_cp_transaction_stop). */
	int n = ocpp_queue_tx_list_open(cp->queue, open, WS_MAX_CONNECTORS);
	for (int i = 0; i < n; i++) {
		unsigned id = open[i].connector;
		if (id >= 1 && id <= cp->n && !cp->conn[id].local_tx) {
			cp->conn[id].local_tx = open[i].local_tx;
			cp->conn[id].recovering = true;
			ws_notice("ocpp: connector %u: transaction %lld was running at the last stop; it ends at the first meter reading",
				  id, (long long)open[i].local_tx);
		}
	}
	ws_info("ocpp: %zu transaction message(s) queued", ocpp_queue_count(cp->queue));
	return 0;
}

void cp_tx_free(struct ocpp_cp *cp)
{
	lws_sul_cancel(&cp->tx_sul);
	for (unsigned i = 0; i <= cp->n; i++)
		lws_sul_cancel(&cp->conn[i].mv_sul);
	cp->queue = ocpp_queue_free(cp->queue);
}
