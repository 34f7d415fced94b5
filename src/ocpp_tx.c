/* ocpp_tx.c: the transaction messages of the charge point:
 * StartTransaction, StopTransaction and sampled MeterValues (and our
 * DataTransfer of payment totals, which shares their queue), both the
 * building of each message and its delivery.
 *
 * Every transaction message goes through the durable queue (ocpp_queue):
 * written to the store before it is sent, removed only when its CALLRESULT
 * arrived, sent one at a time in order, retried per
 * TransactionMessageAttempts / TransactionMessageRetryInterval (a CALLERROR
 * counts as a failed attempt, errata 3.x), kept through outages, crashes
 * and restarts.  A crash between sending and the answer sends the message
 * again after the restart (docs/ocpp-config.md explains why a possible
 * duplicate beats a possible loss).  Cost: two store commits per message.
 *
 * Metering: sampled values every MeterValueSampleInterval during a
 * transaction, clock-aligned ones at each ClockAlignedDataInterval instant
 * counted from midnight (UTC) of the Central System's clock, timestamped
 * with that instant; the StopTxnSampledData / StopTxnAlignedData values and
 * Transaction.Begin kept in the store (one more commit each) for the
 * StopTransaction's transactionData.  meterStop is the first reading taken
 * after the contactor reported open, or the last one after a bounded wait
 * (meter_failsafe_ms + STOP_WAIT_SLACK_MS). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_cp_internal.h"
#include "wattstream/clock.h"
#include "wattstream/log.h"

#define STOP_WAIT_SLACK_MS 2000	/* beyond meter_failsafe_ms, for the reading after the open */

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
		cp_auth_tx_answer(cp, seq, a);	/* idTagInfo into the cache */
		if (a->action && strcmp(a->action->name, "DataTransfer") == 0) {
			/* delivered; the Central System's verdict is its own */
			const struct ocpp_data_transfer_conf *conf = a->conf;
			if (conf->status != OCPP_DATA_TRANSFER_STATUS_ACCEPTED)
				ws_notice("ocpp: the Central System answered our DataTransfer %s",
					  ocpp_data_transfer_status_str(conf->status));
		}
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

/* Whether measurand is listed in key or in key2 (NULL: none). */
static bool wanted(struct ocpp_cp *cp, const char *key, const char *key2, const char *measurand)
{
	return ocpp_config_list_has(cp->keys, key, measurand) ||
	       (key2 && ocpp_config_list_has(cp->keys, key2, measurand));
}

/* One MeterValue object, timestamped at_ms (Central System clock), for the
 * measurands listed in key or key2 (CSLs), from r.  NULL if none is. */
static json_t *meter_value(struct ocpp_cp *cp, const struct ws_reading *r, const char *key,
			   const char *key2, const char *context, int64_t at_ms)
{
	static const char *const phases[] = { "L1", "L2", "L3" };
	struct ocpp_datetime ts;
	json_t *samples = json_array();

	if (!r)
		return NULL;
	if (WS_READING_HAS(r, WS_Q_ENERGY_WH) &&
	    wanted(cp, key, key2, "Energy.Active.Import.Register"))
		add_sample(samples, r->value[WS_Q_ENERGY_WH], "Energy.Active.Import.Register",
			   "Wh", NULL, context);
	if (WS_READING_HAS(r, WS_Q_POWER_W) && wanted(cp, key, key2, "Power.Active.Import"))
		add_sample(samples, r->value[WS_Q_POWER_W], "Power.Active.Import", "W", NULL, context);
	for (int p = 0; p < 3; p++) {
		if (WS_READING_HAS(r, WS_Q_CURRENT_L1_A + p) &&
		    wanted(cp, key, key2, "Current.Import"))
			add_sample(samples, r->value[WS_Q_CURRENT_L1_A + p], "Current.Import", "A",
				   phases[p], context);
		if (WS_READING_HAS(r, WS_Q_VOLTAGE_L1_V + p) && wanted(cp, key, key2, "Voltage"))
			add_sample(samples, r->value[WS_Q_VOLTAGE_L1_V + p], "Voltage", "V",
				   p == 0 ? "L1-N" : p == 1 ? "L2-N" : "L3-N", context);
	}
	if (json_array_size(samples) == 0) {
		json_decref(samples);
		return NULL;
	}
	ocpp_datetime_set(&ts, at_ms);
	return json_pack("{s:s, s:o}", "timestamp", ts.str, "sampledValue", samples);
}

/* r with its energy replaced by wh (meterStart / meterStop, so that the
 * Begin and End values say the same as the message), or only wh if r is
 * NULL. */
static struct ws_reading with_energy(const struct ws_reading *r, double wh)
{
	struct ws_reading x = { 0 };
	if (r)
		x = *r;
	x.value[WS_Q_ENERGY_WH] = wh;
	x.have |= 1u << WS_Q_ENERGY_WH;
	return x;
}

/* Queues a MeterValues of c's transaction with mv (consumed). */
static void queue_tx_mv(struct ocpp_cp *cp, struct cp_connector *c, json_t *mv)
{
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

/* Keeps mv (consumed) for the transactionData of local_tx's
 * StopTransaction, within StopTransactionMaxMeterValues. */
static void keep_tx_data(struct ocpp_cp *cp, int64_t local_tx, json_t *mv, bool keep)
{
	char *text = json_dumps(mv, JSON_COMPACT);
	int64_t max = ocpp_config_int(cp->keys, "StopTransactionMaxMeterValues");
	int r = text ? ocpp_queue_tx_data_add(cp->queue, local_tx, text, keep,
					      (unsigned)(max < 2 ? 2 : max)) : -ENOMEM;
	if (r == OCPP_QUEUE_E_FULL)
		ws_debug("ocpp: transaction %lld: transactionData full; a value left out",
			 (long long)local_tx);
	else if (r != 0)
		ws_warn("ocpp: transaction %lld: a transactionData value not kept (%d)",
			(long long)local_tx, r);
	free(text);
	json_decref(mv);
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
	int64_t at = ocpp_cp_now_ms(cp);
	json_t *mv = meter_value(cp, in.reading, "MeterValuesSampledData", NULL,
				 "Sample.Periodic", at);
	if (mv)
		queue_tx_mv(cp, c, mv);
	mv = meter_value(cp, in.reading, "StopTxnSampledData", NULL, "Sample.Periodic", at);
	if (mv)
		keep_tx_data(cp, c->local_tx, mv, false);
	schedule_mv(c);
}

/* ---- clock-aligned meter values ------------------------------------------------ */

#define DAY_MS 86400000LL
#define ALIGNED_LATE_MAX_MS 2000	/* later than this, an instant is skipped */

/* The first instant after now_ms on the grid of interval_ms counted from
 * each midnight (UTC) of the Central System's clock: the day is cut into
 * intervals from 00:00:00, a last shorter one if interval_ms does not
 * divide the day. */
static int64_t aligned_after(int64_t now_ms, int64_t interval_ms)
{
	int64_t day0 = (now_ms >= 0 ? now_ms / DAY_MS : -((-now_ms + DAY_MS - 1) / DAY_MS)) * DAY_MS;
	int64_t t = day0 + ((now_ms - day0) / interval_ms + 1) * interval_ms;
	return t < day0 + DAY_MS ? t : day0 + DAY_MS;
}

static void aligned_cb(lws_sorted_usec_list_t *sul);

static void arm_aligned(struct ocpp_cp *cp)
{
	int64_t s = ocpp_config_int(cp->keys, "ClockAlignedDataInterval");
	if (s <= 0) {
		lws_sul_cancel(&cp->aligned_sul);
		cp->aligned_next_ms = 0;
		return;
	}
	int64_t now = ocpp_cp_now_ms(cp);
	int64_t next = aligned_after(now, s * 1000);
	/* the clock went back: an instant already sent is not sent again */
	while (next <= cp->aligned_last_ms)
		next = aligned_after(next, s * 1000);
	cp->aligned_next_ms = next;
	lws_sul_schedule(cp->ctx, 0, &cp->aligned_sul, aligned_cb, (lws_usec_t)(next - now) * 1000);
}

static void on_mv_answer(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	if (a->status != OCPP_LINK_OK)
		ws_warn("ocpp: MeterValues: %s %s", ocpp_link_status_str(a->status), a->error_desc);
}

/* Every connector's clock-aligned values at the instant at_ms. */
static void send_aligned(struct ocpp_cp *cp, int64_t at_ms)
{
	uint64_t now_us = ws_clock_mono_us();

	for (unsigned i = 1; i <= cp->n; i++) {
		struct cp_connector *c = &cp->conn[i];
		struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
		cp->ops->connector_info(cp->user, i, &in);
		/* a reading older than the fail-safe time is not the value at
		 * this instant: nothing rather than a wrong value */
		if (!in.reading || in.faulted_meter ||
		    now_us - in.reading->t_us > (uint64_t)cp->cfg->conn[i - 1].failsafe_ms * 1000) {
			ws_debug("ocpp: connector %u: no fresh reading for the clock-aligned value", i);
			continue;
		}
		json_t *mv = meter_value(cp, in.reading, "MeterValuesAlignedData", NULL,
					 "Sample.Clock", at_ms);
		if (c->local_tx) {
			if (mv)
				queue_tx_mv(cp, c, mv);
			mv = meter_value(cp, in.reading, "StopTxnAlignedData", NULL, "Sample.Clock",
					 at_ms);
			if (mv)
				keep_tx_data(cp, c->local_tx, mv, false);
		} else if (mv && cp->state == OCPP_CP_ACCEPTED) {
			/* no transaction: sent now or never, not queued */
			cp_call(cp, "MeterValues", json_pack("{s:i, s:[o]}", "connectorId", (int)i,
							     "meterValue", mv), on_mv_answer);
		} else {
			json_decref(mv);
		}
	}
}

/* TriggerMessage MeterValues: the latest reading of connector (0: all),
 * context Trigger, the MeterValuesSampledData measurands, sent now (not
 * queued: it answers a question of the moment); with the transactionId
 * once the Central System gave one. */
void cp_tx_trigger_meter_values(struct ocpp_cp *cp, unsigned connector)
{
	for (unsigned i = connector ? connector : 1; i <= (connector ? connector : cp->n); i++) {
		struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
		struct ocpp_queue_tx tx;
		cp->ops->connector_info(cp->user, i, &in);
		json_t *mv = meter_value(cp, in.reading, "MeterValuesSampledData", NULL, "Trigger",
					 ocpp_cp_now_ms(cp));
		if (!mv)
			continue;
		json_t *p = json_pack("{s:i, s:[o]}", "connectorId", (int)i, "meterValue", mv);
		if (p && cp->conn[i].local_tx &&
		    ocpp_queue_tx_get(cp->queue, cp->conn[i].local_tx, &tx) == 0 &&
		    tx.start_state == OCPP_QUEUE_START_CONFIRMED)
			json_object_set_new(p, "transactionId", json_integer(tx.remote_tx));
		cp_call(cp, "MeterValues", p, on_mv_answer);
	}
}

static void aligned_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, aligned_sul);
	int64_t at = cp->aligned_next_ms, now = ocpp_cp_now_ms(cp);

	if (now >= at) {
		if (now - at <= ALIGNED_LATE_MAX_MS)
			send_aligned(cp, at);
		else
			ws_warn("ocpp: clock-aligned meter values of %lld skipped: %lld ms late",
				(long long)at, (long long)(now - at));
		cp->aligned_last_ms = at;
	}
	/* early (the clock moved): armed again for what is left */
	arm_aligned(cp);
}

void cp_tx_rearm(struct ocpp_cp *cp, bool sampled)
{
	arm_aligned(cp);
	for (unsigned i = 1; sampled && i <= cp->n; i++)
		schedule_mv(&cp->conn[i]);
}

/* ---- transactions ------------------------------------------------------------- */

enum stop_from {
	STOP_FROM_HOOK,		/* the connector hook: its caller re-derives the status */
	STOP_FROM_TIMER,	/* a timer: re-derive the status here */
	STOP_FROM_TEARDOWN,	/* shutting down: queue only, send after the restart */
};

static int stop_finish(struct cp_connector *c, const struct ws_reading *r, enum stop_from from);

int ocpp_cp_transaction_start(struct ocpp_cp *cp, unsigned connector, const char *id_tag,
			      double meter_wh)
{
	char ts[OCPP_DATETIME_MAX + 1];
	struct ocpp_queue_tx tx = { 0 };
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
	int64_t now = ws_clock_wall_ms();

	if (!cp || connector < 1 || connector > cp->n)
		return -EINVAL;
	struct cp_connector *c = &cp->conn[connector];
	if (c->local_tx)
		return -EBUSY;
	int resv = cp_reserve_admits(cp, connector, id_tag);
	if (resv < 0) {
		ws_notice("ocpp: connector %u is reserved for another idTag than %s", connector,
			  id_tag);
		return -EACCES;
	}
	cp->ops->connector_info(cp->user, connector, &in);
	/* the last one's stop first: the queue keeps the order */
	if (c->stop_tx)
		stop_finish(c, in.reading, STOP_FROM_HOOK);
	cp_timestamp_now(cp, ts);
	json_t *p = json_pack("{s:i, s:s, s:I, s:s}", "connectorId", (int)connector,
			      "idTag", id_tag, "meterStart", (json_int_t)floor(meter_wh),
			      "timestamp", ts);
	if (p && resv > 0)
		json_object_set_new(p, "reservationId", json_integer(resv));
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
	if (resv > 0)
		cp_reserve_used(cp, connector);
	/* Transaction.Begin of every measurand the StopTransaction carries
	 * (errata 3.14): kept in the store with the transaction */
	struct ws_reading begin = with_energy(in.reading, meter_wh);
	json_t *mv = meter_value(cp, &begin, "StopTxnSampledData", "StopTxnAlignedData",
				 "Transaction.Begin", tx.start_ms);
	if (mv)
		keep_tx_data(cp, c->local_tx, mv, true);
	schedule_mv(c);
	ocpp_cp_connector_changed(cp, connector);
	tx_send_next(cp);
	return 0;
}

/* Removes every second value between the first and the last. */
static json_t *thin_values(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		if (i == 0 || i == n - 1 || i % 2 == 0)
			json_array_append(out, json_array_get(arr, i));
	json_decref(arr);
	return out;
}

/* Builds and queues the StopTransaction of c->stop_tx with meterStop from
 * r (NULL: the reading at the stop request). */
static int stop_finish(struct cp_connector *c, const struct ws_reading *r, enum stop_from from)
{
	struct ocpp_cp *cp = c->cp;
	char ts[OCPP_DATETIME_MAX + 1];
	char *data = NULL;
	int64_t tx = c->stop_tx;
	double wh = r ? r->value[WS_Q_ENERGY_WH] : c->stop_fallback_wh;

	/* the register never goes back: a lower value is no later reading */
	if (wh < c->stop_fallback_wh)
		wh = c->stop_fallback_wh;
	c->stop_tx = 0;
	lws_sul_cancel(&c->stop_sul);
	cp_timestamp_now(cp, ts);
	json_t *p = json_pack("{s:I, s:i, s:s, s:s}", "meterStop", (json_int_t)floor(wh),
			      "transactionId", OCPP_QUEUE_NO_REMOTE_TX, "timestamp", ts,
			      "reason", c->stop_reason);
	/* transactionData: what was kept, then Transaction.End; none when
	 * StopTxnSampledData and StopTxnAlignedData are empty (3.16.5) */
	json_t *values = NULL;
	if (ocpp_queue_tx_data_get(cp->queue, tx, &data) == 0)
		values = json_loads(data, 0, NULL);
	free(data);
	if (!values)
		values = json_array();
	struct ws_reading end = with_energy(r, wh);
	json_t *mv = meter_value(cp, &end, "StopTxnSampledData", "StopTxnAlignedData",
				 "Transaction.End", ocpp_cp_now_ms(cp));
	if (mv)
		json_array_append_new(values, mv);
	char *text = NULL;
	if (p && json_array_size(values) > 0) {
		/* it must fit one message: halve the values between Begin and
		 * End until it does (errata 3.89: never those two) */
		json_object_set(p, "transactionData", values);
		while ((text = json_dumps(p, JSON_COMPACT)) &&
		       strlen(text) > OCPP_QUEUE_PAYLOAD_MAX - 1024) {
			free(text);
			text = NULL;
			if (json_array_size(values) <= 2) {
				ws_err("ocpp: transaction %lld: transactionData too large; left out",
				       (long long)tx);
				json_object_del(p, "transactionData");
				break;
			}
			values = thin_values(values);
			json_object_set(p, "transactionData", values);
		}
	}
	json_decref(values);
	if (!text && p)
		text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	int rc = text ? ocpp_queue_enqueue(cp->queue, "StopTransaction", c->id, tx, text,
					   OCPP_QUEUE_F_KEEP, ws_clock_wall_ms(), NULL) : -ENOMEM;
	free(text);
	if (rc != 0) {
		/* still open in the store: ended PowerLoss after a restart */
		ws_err("ocpp: connector %u: cannot queue StopTransaction of transaction %lld (%d)",
		       c->id, (long long)tx, rc);
		return -EIO;
	}
	ws_info("ocpp: connector %u: transaction %lld stopped (%s, meterStop %.0f Wh%s)",
		c->id, (long long)tx, c->stop_reason, floor(wh),
		r ? "" : ", no reading after the stop");
	if (from == STOP_FROM_TIMER)
		ocpp_cp_connector_changed(cp, c->id);
	if (from != STOP_FROM_TEARDOWN)
		tx_send_next(cp);
	return 0;
}

static void stop_cb(lws_sorted_usec_list_t *sul)
{
	struct cp_connector *c = lws_container_of(sul, struct cp_connector, stop_sul);
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };

	if (!c->stop_tx)
		return;
	c->cp->ops->connector_info(c->cp->user, c->id, &in);
	ws_warn("ocpp: connector %u: no meter reading after the contactor %s; meterStop from the last reading",
		c->id, c->stop_open_us ? "opened" : "was told to open");
	stop_finish(c, in.reading, STOP_FROM_TIMER);
}

bool cp_tx_stopping(const struct cp_connector *c)
{
	return c->stop_tx != 0;
}

void cp_tx_meter_changed(struct ocpp_cp *cp, struct cp_connector *c,
			 const struct ocpp_cp_connector_info *in)
{
	if (!c->stop_tx)
		return;
	if (!c->stop_open_us) {
		/* the session's contactor is open (or opened by a fault) */
		if (!in->energized && !in->session)
			c->stop_open_us = ws_clock_mono_us();
		return;
	}
	/* the first good reading taken after that */
	if (in->reading && in->reading->t_us > c->stop_open_us)
		stop_finish(c, in->reading, STOP_FROM_HOOK);
}

int ocpp_cp_transaction_stop(struct ocpp_cp *cp, unsigned connector, double meter_wh,
			     const char *reason)
{
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
	int r = 0;

	if (!cp || connector < 1 || connector > cp->n)
		return -EINVAL;
	struct cp_connector *c = &cp->conn[connector];
	if (!c->local_tx)
		return -ENOENT;
	cp->ops->connector_info(cp->user, connector, &in);
	/* the transaction ends now; its StopTransaction waits for the meter
	 * register after the contactor opened (energy flows until then) */
	c->stop_tx = c->local_tx;
	snprintf(c->stop_reason, sizeof(c->stop_reason), "%s", reason);
	c->stop_fallback_wh = meter_wh;
	c->stop_open_us = 0;
	c->local_tx = 0;
	c->recovering = false;
	c->finishing = in.ev_plugged == 1;
	lws_sul_cancel(&c->mv_sul);
	if (!in.energized && !in.session) {
		/* open already (after a restart, a fault): this reading is after it */
		r = stop_finish(c, in.reading, STOP_FROM_HOOK);
	} else {
		uint32_t wait_ms = cp->cfg->conn[connector - 1].failsafe_ms + STOP_WAIT_SLACK_MS;
		ws_info("ocpp: connector %u: transaction %lld ends (%s); meterStop at the first reading after the contactor opened",
			connector, (long long)c->stop_tx, reason);
		lws_sul_schedule(cp->ctx, 0, &c->stop_sul, stop_cb, (lws_usec_t)wait_ms * 1000);
	}
	cp_remote_tx_ended(cp, c);
	ocpp_cp_connector_changed(cp, connector);
	tx_send_next(cp);
	return r;
}

bool ocpp_cp_transaction_active(const struct ocpp_cp *cp, unsigned connector)
{
	return cp && connector >= 1 && connector <= cp->n && cp->conn[connector].local_tx;
}

size_t ocpp_cp_queued(const struct ocpp_cp *cp)
{
	size_t n = 0;
	if (!cp)
		return 0;
	/* a StopTransaction waiting for its reading counts: it will be queued */
	for (unsigned i = 1; i <= cp->n; i++)
		n += cp->conn[i].stop_tx != 0;
	return n + ocpp_queue_count(cp->queue);
}

/* ---- ending transactions ------------------------------------------------------ */

void cp_tx_connector_changed(struct ocpp_cp *cp, struct cp_connector *c,
			     const struct ocpp_cp_connector_info *in)
{
	if (!c->local_tx) {
		if (in->ev_plugged != 1)
			c->finishing = false;
		return;
	}
	double wh = in->reading ? in->reading->value[WS_Q_ENERGY_WH] : 0;
	if (c->recovering && in->reading) {
		/* the daemon stopped (crash, power loss) with this transaction
		 * running; it opened the contactor at start and this is the
		 * first reading since: the energy delivered up to now */
		ocpp_cp_transaction_stop(cp, c->id, wh, "PowerLoss");
	} else if (in->ev_plugged == 0 &&
		   ocpp_config_bool(cp->keys, "StopTransactionOnEVSideDisconnect")) {
		ocpp_cp_transaction_stop(cp, c->id, wh, "EVDisconnected");
		cp->ops->stop_session(cp->user, c->id, "EVDisconnected");
	}
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
	 * filled in by the daemon's first reading (ocpp_cp_transaction_stop);
	 * their transactionData was kept in the store. */
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
	arm_aligned(cp);
	return 0;
}

void cp_tx_free(struct ocpp_cp *cp)
{
	lws_sul_cancel(&cp->tx_sul);
	lws_sul_cancel(&cp->aligned_sul);
	for (unsigned i = 0; i <= cp->n; i++) {
		struct cp_connector *c = &cp->conn[i];
		lws_sul_cancel(&c->mv_sul);
		if (c->stop_tx) {
			/* shutting down before the reading came: the last one,
			 * queued durably and sent after the restart */
			struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
			cp->ops->connector_info(cp->user, c->id, &in);
			stop_finish(c, in.reading, STOP_FROM_TEARDOWN);
		}
		lws_sul_cancel(&c->stop_sul);
	}
	cp->queue = ocpp_queue_free(cp->queue);
}
