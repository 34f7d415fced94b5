/* pay_station.c: paid charging (see pay_station.h and docs/payments.md).
 *
 * One struct pay_conn per connector holds the running paid session: the
 * channel as read on-chain at its start, the accounting (pay_session), the
 * wallet connection, the cut and grace timers.  Every effect of the
 * accounting comes back as struct pay_actions and is applied in apply():
 * contactor, invoice, receipt, timers, end.  A voucher is verified and
 * stored durably by pay_ledger before the allowance it buys is granted.
 * Costs per voucher: one signature recovery, one fsync'd commit, one JSON
 * message; per reading: O(1).  Settlement, the watchtower and the key
 * files: pay_settle.c. */
#include "wattstream/pay_station.h"

#include <errno.h>
#include <limits.h>
#include <libwebsockets.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pay_station_internal.h"
#include "wattstream/abi.h"
#include "wattstream/address.h"
#include "wattstream/chain.h"
#include "wattstream/clock.h"
#include "wattstream/eip712.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"
#include "wattstream/log.h"
#include "wattstream/pay_ledger.h"
#include "wattstream/pay_session.h"
#include "wattstream/pay_sign.h"
#include "wattstream/store.h"
#include "wattstream/wallet_msg.h"
#include "wattstream/wallet_server.h"

#define OFFER_VALID_S (30 * 24 * 3600)	/* an offer is republished at each start */

/* per wallet connection */
struct pay_wallet {
	struct pay_conn *pc;		/* its session, if any */
};

/* a start waiting for the chain */
struct start_req {
	struct pay_station *ps;
	struct wallet_conn *wc;		/* NULLed if the wallet goes away */
	unsigned connector;
	uint8_t channel_id[32];
	char id[WALLET_ID_SIZE];
	bool has_id;
	struct start_req *next;
};

static void apply(struct pay_conn *pc, const struct pay_actions *a, uint64_t now_us);
static void end_session(struct pay_conn *pc, const char *wallet_reason,
			const char *ocpp_reason, const char *stop_id);

/* ---- sending to the wallet ------------------------------------------------ */

static void send_json(struct pay_conn *pc, json_t *msg)
{
	if (msg && pc->wc)
		wallet_server_send(pc->wc, msg);
	json_decref(msg);
}

static void send_error(struct wallet_conn *wc, const char *id, enum wallet_err code,
		       const char *message)
{
	if (wc)
		wallet_server_send_error(wc, id, code, message);
}

static void fill_receipt(struct pay_conn *pc, bool final, struct wallet_receipt *r)
{
	struct pay_station *ps = pc->ps;
	struct pay_receipt pr = { 0 };

	memcpy(pr.channel_id, pc->ch.id, 32);
	memcpy(pr.session_id, pc->session_id, 32);
	pr.seq = pc->receipt_seq++;
	pr.meter_start_mwh = pc->meter_start_mwh;
	pr.delivered_mwh = pc->s.delivered_mwh;
	pr.meter_mwh = pr.meter_start_mwh + pr.delivered_mwh;
	if (pay_session_owed(&pc->s, &pr.amount_due) != PAY_OK)
		pr.amount_due = pc->s.highest;
	pr.paid = pc->s.highest;
	pr.timestamp_ms = (uint64_t)ws_clock_wall_ms();
	pr.final = final;
	memset(r, 0, sizeof(*r));
	if (pay_receipt_sign(ps->receipts_dsep, &pr, ps->station_sk, r->signature) != 0)
		ws_err("payment: cannot sign a receipt");
	memcpy(r->session, pc->session_id, 32);
	r->seq = pr.seq;
	memcpy(r->channel_id, pr.channel_id, 32);
	r->meter_start_mwh = pr.meter_start_mwh;
	r->meter_mwh = pr.meter_mwh;
	r->delivered_mwh = pr.delivered_mwh;
	r->amount_due = pr.amount_due;
	r->paid = pr.paid;
	r->timestamp_ms = pr.timestamp_ms;
	r->final = final;
}

/* ---- timers ---------------------------------------------------------------- */

static void cut_cb(lws_sorted_usec_list_t *sul)
{
	struct pay_conn *pc = lws_container_of(sul, struct pay_conn, cut_sul);
	struct pay_actions a;
	uint64_t now = ws_clock_mono_us();

	if (!pc->active)
		return;
	pay_session_tick(&pc->s, now, &a);
	apply(pc, &a, now);
}

static void grace_cb(lws_sorted_usec_list_t *sul)
{
	struct pay_conn *pc = lws_container_of(sul, struct pay_conn, grace_sul);
	struct pay_actions a;
	uint64_t now = ws_clock_mono_us();

	if (!pc->active)
		return;
	pay_session_tick(&pc->s, now, &a);
	apply(pc, &a, now);
}

/* ---- applying the accounting's actions -------------------------------------- */

static void apply(struct pay_conn *pc, const struct pay_actions *a, uint64_t now_us)
{
	struct pay_station *ps = pc->ps;
	json_t *msg;

	if (a->open_contactor) {
		pc->want_closed = false;
		lws_sul_cancel(&pc->cut_sul);
		ps->ops->open(ps->user, pc->id, "payment lags");
		if (pc->s.state == PAY_SUSPENDED) {
			uint64_t until_ms = (uint64_t)ws_clock_wall_ms() +
					    (a->grace_until_us > now_us ? (a->grace_until_us - now_us) / 1000 : 0);
			ws_notice("payment: connector %u suspended: %.3f Wh delivered, %.3f Wh paid",
				  pc->id, pc->s.delivered_mwh / 1000.0, pc->s.allowance_mwh / 1000.0);
			if (wallet_msg_encode_suspended(&msg, pc->session_id, "unpaid", until_ms) == 0)
				send_json(pc, msg);
		}
	}
	if (a->close_contactor) {
		bool resumed = pc->want_closed == false && pc->s.suspended_count > 0;
		pc->want_closed = true;
		if (ps->ops->close(ps->user, pc->id, pc->id_tag) != 0)
			ws_debug("payment: connector %u not ready to close yet; later", pc->id);
		if (resumed && wallet_msg_encode_resumed(&msg, pc->session_id) == 0)
			send_json(pc, msg);
	}
	/* the receipt of the increment just completed goes first: a wallet
	 * counts completed increments from receipts when it checks an invoice */
	if (a->receipt) {
		struct wallet_receipt r;
		fill_receipt(pc, false, &r);
		if (wallet_msg_encode_receipt(&msg, &r) == 0)
			send_json(pc, msg);
	}
	if (a->invoice) {
		struct wallet_invoice inv = { .increments = a->invoice_increments,
					      .amount = a->invoice_total,
					      .delivered_mwh = pc->s.delivered_mwh };
		memcpy(inv.session, pc->session_id, 32);
		inv.meter_mwh = pc->meter_start_mwh + pc->s.delivered_mwh;
		if (wallet_msg_encode_invoice(&msg, &inv) == 0)
			send_json(pc, msg);
	}
	if (a->cut_at_us && pc->s.state == PAY_CHARGING)
		lws_sul_schedule(ps->ctx, 0, &pc->cut_sul, cut_cb,
				 (lws_usec_t)(a->cut_at_us > now_us ? a->cut_at_us - now_us : 1));
	if (a->grace_until_us)
		lws_sul_schedule(ps->ctx, 0, &pc->grace_sul, grace_cb,
				 (lws_usec_t)(a->grace_until_us > now_us ? a->grace_until_us - now_us : 1));
	if (a->ended && pc->active)
		end_session(pc, a->end_reason == PAY_END_UNPAID ? "unpaid" : "stopped",
			    a->end_reason == PAY_END_UNPAID ? "DeAuthorized" : "Local", NULL);
}

/* ---- session end ------------------------------------------------------------------- */

static void end_session(struct pay_conn *pc, const char *wallet_reason,
			const char *ocpp_reason, const char *stop_id)
{
	struct pay_station *ps = pc->ps;
	struct pay_actions a;
	struct wallet_receipt r;
	ws_u256 owed;
	json_t *msg;

	if (!pc->active)
		return;
	pay_session_stop(&pc->s, &a);
	pc->want_closed = false;
	lws_sul_cancel(&pc->cut_sul);
	lws_sul_cancel(&pc->grace_sul);
	ps->ops->open(ps->user, pc->id, wallet_reason);
	if (ocpp_reason)
		ps->ops->tx_stop(ps->user, pc->id, (pc->meter_start_mwh + pc->s.delivered_mwh) / 1000.0,
				 ocpp_reason);
	/* the bill: the channel's total owed, the next session's base */
	if (pay_session_owed(&pc->s, &owed) == PAY_OK &&
	    pay_ledger_set_billed(ps->store, pc->ch.id, &owed) < 0)
		ws_err("payment: connector %u: cannot record the bill", pc->id);
	if (strcmp(wallet_reason, "unpaid") == 0 &&
	    pay_ledger_deny(ps->store, pc->ch.id, "session ended unpaid") < 0)
		ws_err("payment: cannot put a channel on the deny list");
	fill_receipt(pc, true, &r);
	if (wallet_msg_encode_ended(&msg, stop_id, pc->session_id, wallet_reason, &r) == 0)
		send_json(pc, msg);
	char due[80] = "?";
	ws_u256_to_dec(&owed, due, sizeof(due));
	ws_notice("payment: connector %u: session ended (%s): %.3f Wh, %s owed in all on the channel",
		  pc->id, wallet_reason, pc->s.delivered_mwh / 1000.0, due);
	if (ps->ops->report) {
		char paid[80] = "0", price[32], token[WS_ADDRESS_STR_SIZE], base[80] = "0";
		ws_u256_to_dec(&pc->s.highest, paid, sizeof(paid));
		ws_u256_to_dec(&pc->s.base, base, sizeof(base));
		snprintf(price, sizeof(price), "%llu", (unsigned long long)pc->s.terms.price_per_kwh);
		ws_address_format(ps->token, token);
		/* totals only: neither the channel nor the wallet is named */
		json_t *t = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s}",
				      "connectorId", (int)pc->id, "idTag", pc->id_tag,
				      "reason", wallet_reason,
				      "energyMwh", (json_int_t)pc->s.delivered_mwh,
				      "pricePerKWh", price, "token", token, "base", base,
				      "amountDue", due);
		json_object_set_new(t, "paid", json_string(paid));
		char *text = t ? json_dumps(t, JSON_COMPACT) : NULL;
		if (text)
			ps->ops->report(ps->user, pc->id, text);
		free(text);
		json_decref(t);
	}
	if (pc->wc) {
		struct pay_wallet *w = wallet_server_get_user(pc->wc);
		if (w)
			w->pc = NULL;
		wallet_server_set_session(pc->wc, false);
	}
	pc->active = false;
	pc->wc = NULL;
	ps_settle_session_ended(ps, pc->ch.id);
}

/* ---- start ------------------------------------------------------------------------------ */

static bool channel_busy(struct pay_station *ps, const uint8_t id[32])
{
	for (unsigned i = 1; i <= ps->n; i++)
		if ((ps->conn[i].active || ps->conn[i].starting) &&
		    memcmp(ps->conn[i].ch.id, id, 32) == 0)
			return true;
	return false;
}

static void begin(struct start_req *rq, const struct ws_chain_channel *ch)
{
	struct pay_station *ps = rq->ps;
	struct pay_conn *pc = &ps->conn[rq->connector];
	const char *id = rq->has_id ? rq->id : NULL;
	struct pay_ledger_channel row;
	struct pay_connector_info in = { .ev_plugged = -1 };
	struct pay_actions a;
	json_t *msg;
	uint64_t now = ws_clock_mono_us();

	pc->starting = false;
	if (!rq->wc)
		return;	/* the wallet left meanwhile */
	if (memcmp(ch->receiver, ps->payee, 20) != 0) {
		send_error(rq->wc, id, WALLET_ERR_CHANNEL_WRONG_RECEIVER, NULL);
		return;
	}
	if (memcmp(ch->token, ps->token, 20) != 0) {
		send_error(rq->wc, id, WALLET_ERR_CHANNEL_WRONG_TOKEN, NULL);
		return;
	}
	if (ch->close_requested_at) {
		send_error(rq->wc, id, WALLET_ERR_CHANNEL_CLOSING, NULL);
		return;
	}
	if (pay_ledger_get(ps->store, ch->id, &row) != 0) {
		send_error(rq->wc, id, WALLET_ERR_INTERNAL, "storage");
		return;
	}
	if (row.denied) {
		send_error(rq->wc, id, WALLET_ERR_CHANNEL_DENIED, row.deny_reason);
		return;
	}
	/* unspent deposit: what no voucher we hold has promised yet */
	ws_u256 spent = row.have_voucher ? row.highest : ws_u256_from_u64(0), unspent;
	ws_u256 min = ws_u256_from_u64(ps->cur.min_deposit);
	if (ws_u256_cmp(&row.billed, &spent) > 0)
		spent = row.billed;
	if (ws_u256_sub(&unspent, &ch->deposit, &spent) < 0 || ws_u256_cmp(&unspent, &min) < 0) {
		send_error(rq->wc, id, WALLET_ERR_CHANNEL_UNDERFUNDED, NULL);
		return;
	}
	ps->ops->connector_info(ps->user, rq->connector, &in);
	if (!in.ready || !in.operative || in.ev_plugged == 0 || !in.reading) {
		send_error(rq->wc, id, in.faulted || !in.operative ? WALLET_ERR_CONNECTOR_UNAVAILABLE :
			   WALLET_ERR_CONNECTOR_BUSY, NULL);
		return;
	}
	/* the session binds the tariff in force now, for its whole length */
	struct pay_terms terms = ps->cur.terms;
	ws_u256 base = row.billed, highest = row.have_voucher ? row.highest : row.billed;
	if (ws_u256_cmp(&highest, &base) < 0)
		highest = base;
	double meter_wh = in.reading->value[WS_Q_ENERGY_WH];
	memset(pc, 0, offsetof(struct pay_conn, cut_sul));
	pc->ps = ps;
	pc->id = rq->connector;
	if (pay_session_start(&pc->s, &terms, &base, &highest, meter_wh, now, &a) != PAY_OK) {
		send_error(rq->wc, id, WALLET_ERR_INTERNAL, "terms");
		return;
	}
	pc->active = true;
	pc->wc = rq->wc;
	pc->ch = *ch;
	pc->meter_start_mwh = (uint64_t)llround(meter_wh * 1000.0);
	pay_session_id(ps->station, ch->id, rq->connector, (uint64_t)ws_clock_wall_ms(), pc->session_id);
	pay_id_tag(ps->idtag_secret, ch->id, pc->id_tag);
	struct pay_wallet *w = wallet_server_get_user(rq->wc);
	if (w)
		w->pc = pc;
	wallet_server_set_session(rq->wc, true);
	/* a funded channel authorizes the session locally: no Authorize */
	if (ps->ops->tx_start(ps->user, pc->id, pc->id_tag, meter_wh) != 0)
		ws_warn("payment: connector %u: the OCPP transaction could not be recorded", pc->id);

	struct wallet_session_info si = { .id = id, .connector = rq->connector, .id_tag = pc->id_tag,
					  .base = base, .highest = highest,
					  .meter_start_mwh = pc->meter_start_mwh };
	memcpy(si.session, pc->session_id, 32);
	memcpy(si.channel_id, ch->id, 32);
	if (wallet_msg_encode_session(&msg, &si) == 0)
		send_json(pc, msg);
	ws_notice("payment: connector %u: session for idTag %s started at %.3f kWh", pc->id,
		  pc->id_tag, meter_wh / 1000.0);
	apply(pc, &a, now);
}

static void unlink_start(struct pay_station *ps, struct start_req *rq)
{
	for (struct start_req **p = &ps->starts; *p; p = &(*p)->next)
		if (*p == rq) {
			*p = rq->next;
			return;
		}
}

static void on_channel(void *user, int err, const struct ws_chain_channel *ch)
{
	struct start_req *rq = user;
	struct pay_station *ps = rq->ps;

	unlink_start(ps, rq);
	ps->conn[rq->connector].starting = false;
	if (err == WS_CHAIN_E_NO_CHANNEL)
		send_error(rq->wc, rq->has_id ? rq->id : NULL, WALLET_ERR_CHANNEL_NOT_FOUND, NULL);
	else if (err || !ch)
		/* the chain cannot be read: no unfunded session ever starts */
		send_error(rq->wc, rq->has_id ? rq->id : NULL, WALLET_ERR_CHAIN_UNAVAILABLE,
			   ws_chain_strerror(err));
	else
		begin(rq, ch);
	free(rq);
}

static void on_start(struct pay_station *ps, struct wallet_conn *wc, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	unsigned c = m->start.connector;
	struct pay_wallet *w = wallet_server_get_user(wc);

	if (c < 1 || c > ps->n) {
		send_error(wc, id, WALLET_ERR_UNKNOWN_CONNECTOR, NULL);
		return;
	}
	if ((w && w->pc) || ps->conn[c].active || ps->conn[c].starting) {
		send_error(wc, id, WALLET_ERR_CONNECTOR_BUSY, NULL);
		return;
	}
	if (channel_busy(ps, m->start.channel_id)) {
		send_error(wc, id, WALLET_ERR_CHANNEL_IN_USE, NULL);
		return;
	}
	struct start_req *rq = calloc(1, sizeof(*rq));
	if (!rq) {
		send_error(wc, id, WALLET_ERR_INTERNAL, NULL);
		return;
	}
	rq->ps = ps;
	rq->wc = wc;
	rq->connector = c;
	memcpy(rq->channel_id, m->start.channel_id, 32);
	rq->has_id = m->has_id;
	memcpy(rq->id, m->id, sizeof(rq->id));
	ps->conn[c].starting = true;
	memcpy(ps->conn[c].ch.id, m->start.channel_id, 32);
	if (ws_chain_get_channel(ps->chain, ps->channels, m->start.channel_id, on_channel, rq) != 0) {
		ps->conn[c].starting = false;
		send_error(wc, id, WALLET_ERR_CHAIN_UNAVAILABLE, NULL);
		free(rq);
		return;
	}
	rq->next = ps->starts;
	ps->starts = rq;
}

static void on_voucher(struct pay_station *ps, struct wallet_conn *wc, const struct wallet_msg *m)
{
	const char *id = m->has_id ? m->id : NULL;
	struct pay_wallet *w = wallet_server_get_user(wc);
	struct pay_conn *pc = w ? w->pc : NULL;
	struct pay_actions a;
	uint64_t now = ws_clock_mono_us();

	if (!pc || !pc->active || memcmp(pc->session_id, m->voucher.session, 32) != 0) {
		send_error(wc, id, WALLET_ERR_UNKNOWN_SESSION, NULL);
		return;
	}
	int r = pay_ledger_accept(ps->store, ps->channels_dsep, &pc->ch, pc->ch.id,
				  m->voucher.channel_id, &m->voucher.amount, m->voucher.signature,
				  sizeof(m->voucher.signature), ws_clock_wall_ms());
	if (r != PAY_LEDGER_OK) {
		enum wallet_err code = r < 0 ? WALLET_ERR_INTERNAL :
				       wallet_err_from_name(pay_ledger_error_code(r));
		if (code == WALLET_ERR_NONE)
			code = WALLET_ERR_INTERNAL;
		ws_info("payment: connector %u: voucher refused: %s", pc->id,
			r < 0 ? "storage failed" : pay_ledger_error_code(r));
		send_error(wc, id, code, NULL);
		return;
	}
	/* durable now: the energy it buys may flow */
	if (pay_session_voucher(&pc->s, &m->voucher.amount, now, &a) != PAY_OK) {
		send_error(wc, id, WALLET_ERR_VOUCHER_NOT_HIGHER, NULL);
		return;
	}
	struct wallet_accepted acc = { .id = id, .amount = m->voucher.amount,
				       .allowance_mwh = pc->s.allowance_mwh };
	memcpy(acc.session, pc->session_id, 32);
	json_t *msg;
	if (wallet_msg_encode_accepted(&msg, &acc) == 0)
		send_json(pc, msg);
	apply(pc, &a, now);
}

/* ---- wallet server callbacks -------------------------------------------------------- */

static void on_connected(void *user, struct wallet_conn *wc)
{
	struct pay_station *ps = user;
	struct wallet_connector_status st[WS_MAX_CONNECTORS];
	struct pay_wallet *w = calloc(1, sizeof(*w));
	json_t *msg;

	if (!w) {
		wallet_server_close(wc, 1011, "out of memory");
		return;
	}
	wallet_server_set_user(wc, w);
	for (unsigned i = 1; i <= ps->n; i++) {
		struct pay_connector_info in = { .ev_plugged = -1 };
		ps->ops->connector_info(ps->user, i, &in);
		st[i - 1].connector = i;
		st[i - 1].status = ps->conn[i].active ? "Charging" : in.faulted ? "Faulted" :
				   !in.operative ? "Unavailable" : in.ready ? "Available" : "Occupied";
	}
	struct wallet_hello h = { .chain_id = ws_u256_from_u64(ps->chain_id),
				  .min_deposit = ws_u256_from_u64(ps->cur.min_deposit),
				  .max_sessions_per_channel = 1, .n_connectors = ps->n,
				  .connectors = st };
	memcpy(h.station, ps->station, 20);
	memcpy(h.channels, ps->channels, 20);
	memcpy(h.registry, ps->registry, 20);
	struct wallet_offer *o = &h.offer;
	memcpy(o->station, ps->cur.offer.station, 20);
	memcpy(o->payee, ps->cur.offer.payee, 20);
	memcpy(o->token, ps->cur.offer.token, 20);
	o->price_per_kwh = ps->cur.offer.price_per_kwh;
	o->increment_wh = ps->cur.offer.increment_wh;
	o->prepaid_increments = ps->cur.offer.prepaid_increments;
	o->grace_s = ps->cur.offer.grace_seconds;
	o->valid_from_s = ps->cur.offer.valid_from;
	o->valid_until_s = ps->cur.offer.valid_until;
	o->location = ps->cur.offer.location;
	o->endpoint = ps->cur.offer.endpoint;
	o->nonce = ps->cur.offer.nonce;
	memcpy(o->signature, ps->cur.sig, 65);
	if (wallet_msg_encode_hello(&msg, &h) == 0) {
		wallet_server_send(wc, msg);
		json_decref(msg);
	}
}

static void on_message(void *user, struct wallet_conn *wc, const struct wallet_msg *m)
{
	struct pay_station *ps = user;
	struct pay_wallet *w = wallet_server_get_user(wc);

	switch (m->type) {
	case WALLET_MSG_START:
		on_start(ps, wc, m);
		break;
	case WALLET_MSG_VOUCHER:
		on_voucher(ps, wc, m);
		break;
	case WALLET_MSG_STOP:
		if (!w || !w->pc || memcmp(w->pc->session_id, m->stop.session, 32) != 0) {
			send_error(wc, m->has_id ? m->id : NULL, WALLET_ERR_UNKNOWN_SESSION, NULL);
			break;
		}
		end_session(w->pc, "stopped", "Local", m->has_id ? m->id : NULL);
		break;
	}
}

static void on_closed(void *user, struct wallet_conn *wc)
{
	struct pay_station *ps = user;
	struct pay_wallet *w = wallet_server_get_user(wc);

	for (struct start_req *rq = ps->starts; rq; rq = rq->next)
		if (rq->wc == wc)
			rq->wc = NULL;
	/* a session whose wallet left goes on with what was paid: the cut
	 * and the grace time end it if no wallet pays */
	if (w && w->pc)
		w->pc->wc = NULL;
	free(w);
}

static const struct wallet_server_ops server_ops = {
	.connected = on_connected,
	.message = on_message,
	.closed = on_closed,
};

/* ---- daemon hooks -------------------------------------------------------------------- */

void pay_station_reading(struct pay_station *ps, unsigned id)
{
	struct pay_connector_info in = { .ev_plugged = -1 };
	struct pay_actions a;

	if (!ps || id < 1 || id > ps->n || !ps->conn[id].active)
		return;
	struct pay_conn *pc = &ps->conn[id];
	ps->ops->connector_info(ps->user, id, &in);
	if (!in.reading)
		return;
	uint64_t now = ws_clock_mono_us();
	double power = WS_READING_HAS(in.reading, WS_Q_POWER_W) ? in.reading->value[WS_Q_POWER_W] : 0;
	pay_session_reading(&pc->s, in.reading->value[WS_Q_ENERGY_WH], power, now, &a);
	apply(pc, &a, now);
}

void pay_station_connector_changed(struct pay_station *ps, unsigned id)
{
	struct pay_connector_info in = { .ev_plugged = -1 };

	if (!ps || id < 1 || id > ps->n || !ps->conn[id].active)
		return;
	struct pay_conn *pc = &ps->conn[id];
	ps->ops->connector_info(ps->user, id, &in);
	if (in.faulted) {
		end_session(pc, "fault", "Other", NULL);
		return;
	}
	/* a close that had to wait for the contactor to settle */
	if (pc->want_closed && in.ready && pc->s.state == PAY_CHARGING)
		ps->ops->close(ps->user, id, pc->id_tag);
}

void pay_station_session_stopped(struct pay_station *ps, unsigned id, const char *ocpp_reason)
{
	if (!ps || id < 1 || id > ps->n || !ps->conn[id].active)
		return;
	end_session(&ps->conn[id], strcmp(ocpp_reason, "EVDisconnected") == 0 ? "ev" : "station",
		    NULL, NULL);
}

bool pay_station_session_active(const struct pay_station *ps, unsigned id)
{
	return ps && id >= 1 && id <= ps->n && ps->conn[id].active;
}

json_t *pay_station_status(const struct pay_station *ps, unsigned id)
{
	if (!pay_station_session_active(ps, id))
		return NULL;
	const struct pay_conn *pc = &ps->conn[id];
	char paid[80], ch[67];
	ws_u256_to_dec(&pc->s.highest, paid, sizeof(paid));
	ws_hex_format(pc->ch.id, 32, ch, sizeof(ch));
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "state", pay_state_name(pc->s.state),
			 "channel", ch, "idTag", pc->id_tag,
			 "delivered_mwh", (json_int_t)pc->s.delivered_mwh,
			 "allowance_mwh", (json_int_t)pc->s.allowance_mwh, "paid", paid,
			 "max_overshoot_mwh", (json_int_t)pc->s.max_overshoot_mwh);
}

static int offer_calldata(const struct tariff *t, uint8_t **data, size_t *len);

/* ---- claims export (payee_address) ---------------------------------------------------- */

static json_t *hex_json(const uint8_t *p, size_t len)
{
	char *h = malloc(WS_HEX_STR_SIZE(len));
	json_t *j = h && ws_hex_format(p, len, h, WS_HEX_STR_SIZE(len)) == 0 ? json_string(h) : json_null();
	free(h);
	return j;
}

json_t *pay_station_claims(struct pay_station *ps)
{
	struct ws_chain_claim cl[WATCH_MAX];
	char payee[WS_ADDRESS_STR_SIZE], station[WS_ADDRESS_STR_SIZE];
	char channels[WS_ADDRESS_STR_SIZE], registry[WS_ADDRESS_STR_SIZE];
	json_t *arr = json_array(), *calldata = json_null(), *offer;
	unsigned n = 0;
	uint8_t *data;
	size_t len;

	if (!ps)
		return json_pack("{s:b, s:s}", "ok", 0, "error", "payments are off");
	for (unsigned i = 0; i < ps->n_known; i++) {
		const struct watch_entry *e = &ps->known[i];
		struct pay_ledger_channel row;
		char amount[80], claimed[80];
		if (memcmp(e->ch.receiver, ps->payee, 20) != 0 ||
		    pay_ledger_get(ps->store, e->id, &row) != 0 || !row.have_voucher ||
		    ws_u256_cmp(&row.highest, &row.claimed) <= 0)
			continue;
		memset(&cl[n], 0, sizeof(cl[n]));
		memcpy(cl[n].channel_id, e->id, 32);
		cl[n].amount = row.highest;
		memcpy(cl[n].sig, row.highest_sig, 65);
		cl[n].close = e->ch.close_requested_at != 0;
		ws_u256_to_dec(&row.highest, amount, sizeof(amount));
		ws_u256_to_dec(&row.claimed, claimed, sizeof(claimed));
		json_array_append_new(arr, json_pack("{s:o, s:s, s:o, s:b, s:s, s:b}",
			"channel", hex_json(e->id, 32), "amount", amount,
			"signature", hex_json(row.highest_sig, 65), "close", cl[n].close,
			"claimed", claimed, "inSession", ps_settle_in_session(ps, e->id)));
		n++;
	}
	if (n && ws_chain_claim_calldata(cl, n, &data, &len) == 0) {
		json_decref(calldata);
		calldata = hex_json(data, len);
		free(data);
	}
	/* the offer to publish: the newest asked for */
	const struct tariff *t = ps->pending ? &ps->want : &ps->cur;
	ws_address_format(ps->payee, payee);
	ws_address_format(t->offer.station, station);
	ws_address_format(ps->channels, channels);
	ws_address_format(ps->registry, registry);
	offer = json_pack("{s:s, s:s, s:I, s:I}", "registry", registry, "station", station,
			  "nonce", (json_int_t)t->offer.nonce,
			  "validUntil", (json_int_t)t->offer.valid_until);
	if (offer_calldata(t, &data, &len) == 0) {
		json_object_set_new(offer, "calldata", hex_json(data, len));
		free(data);
	}
	return json_pack("{s:b, s:s, s:I, s:s, s:s, s:o, s:o, s:o}", "ok", 1,
			 "mode", ps->have_payee_key ? "key" : "address",
			 "chainId", (json_int_t)ps->chain_id, "channels", channels, "payee", payee,
			 "claims", arr, "calldata", calldata, "offer", offer);
}

/* ---- start-up ------------------------------------------------------------------------- */

static int load_deployment(struct pay_station *ps, const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j) {
		ws_err("payment: cannot read deployment '%s': %s (line %d)", path, jerr.text, jerr.line);
		return -EINVAL;
	}
	int r = -EINVAL;
	json_t *cid = json_object_get(j, "chainId");
	json_t *c = json_object_get(j, "contracts");
	const char *ch = json_string_value(json_object_get(json_object_get(c, "channels"), "address"));
	const char *rg = json_string_value(json_object_get(json_object_get(c, "registry"), "address"));
	const char *tk = json_string_value(json_object_get(json_object_get(c, "token"), "address"));
	if (json_is_integer(cid) && json_integer_value(cid) > 0)
		ps->chain_id = (uint64_t)json_integer_value(cid);
	else if (json_is_string(cid))
		ps->chain_id = strtoull(json_string_value(cid), NULL, 10);
	if (!ps->chain_id || !ch || !rg || !tk || ws_address_parse(ch, ps->channels) != 0 ||
	    ws_address_parse(rg, ps->registry) != 0 || ws_address_parse(tk, ps->token) != 0)
		ws_err("payment: deployment '%s' lacks chainId or the channels, registry and token addresses", path);
	else
		r = 0;
	json_decref(j);
	return r;
}

static void on_published(void *user, int err, const struct ws_chain_tx_result *tx)
{
	struct pay_station *ps = user;
	bool ok = !err && tx && tx->receipt && tx->receipt->status;

	if (!ok) {
		ws_warn("payment: the offer was not published in the registry (%s)%s%s",
			err ? ws_chain_strerror(err) : "reverted",
			ps->inflight_new ? "; the tariff in force stays" :
				   "; wallets that check it will refuse us",
			ps->have_payee_key ? "" :
			"; the station key sends it and needs ether, or submit-claims.mjs publishes the offer `claims` exports");
		/* without a payee key the offer may still be published by the
		 * machine that submits the claims: the new tariff stays pending
		 * (exported by `claims`) until the registry has it */
		if (ps->have_payee_key && ps->pending &&
		    ps->want.offer.nonce == ps->inflight.offer.nonce)
			ps->pending = false;
	} else {
		/* what was mined is in force now; a newer tariff stays pending */
		if (ps->inflight_new) {
			ps->cur = ps->inflight;
			if (ps->pending && ps->want.offer.nonce == ps->inflight.offer.nonce)
				ps->pending = false;
		}
		ws_notice("payment: offer published in the registry (gas %llu)",
			  (unsigned long long)tx->receipt->gas_used);
	}
	/* only now: a newer tariff waiting for this transaction goes next */
	ps_settle_tx_done(ps, true);
}

/* The calldata of publish(offer, signature) for t (malloc'd). */
static int offer_calldata(const struct tariff *t, uint8_t **data, size_t *len)
{
	const struct pay_offer *o = &t->offer;
	ws_abi_enc e;

	if (ws_abi_enc_init(&e, "publish((address,address,address,uint256,uint32,uint32,uint32,"
			    "uint64,uint64,string,string,uint64),bytes)") != 0)
		return -ENOMEM;
	ws_abi_enc_tuple_begin(&e);
	ws_abi_enc_address(&e, o->station);
	ws_abi_enc_address(&e, o->payee);
	ws_abi_enc_address(&e, o->token);
	ws_abi_enc_u256(&e, &o->price_per_kwh);
	ws_abi_enc_u64(&e, o->increment_wh);
	ws_abi_enc_u64(&e, o->prepaid_increments);
	ws_abi_enc_u64(&e, o->grace_seconds);
	ws_abi_enc_u64(&e, o->valid_from);
	ws_abi_enc_u64(&e, o->valid_until);
	ws_abi_enc_string(&e, o->location);
	ws_abi_enc_string(&e, o->endpoint);
	ws_abi_enc_u64(&e, o->nonce);
	ws_abi_enc_tuple_end(&e);
	ws_abi_enc_bytes(&e, t->sig, 65);
	return ws_abi_enc_finish(&e, data, len) == 0 ? 0 : -ENOMEM;
}

/* The offer goes to the registry from the payee key, or without one
 * (payee_address) from the station key: anyone may send it, only the
 * station's signature counts.  A station key without ether fails here;
 * the machine that submits the claims publishes the exported offer. */
void ps_publish_offer(struct pay_station *ps)
{
	uint8_t *data;
	size_t len;
	const struct tariff *t = ps->pending ? &ps->want : &ps->cur;
	struct ws_chain_signer signer;

	if (ps->tx_busy) {
		ps->publish_wanted = true;	/* after the transaction under way */
		return;
	}
	ps->publish_wanted = false;
	ps->inflight_new = ps->pending;
	ps->inflight = *t;
	if (offer_calldata(t, &data, &len) != 0)
		return;
	if (ps->have_payee_key) {
		signer.seckey = ps->payee_key.sk;
		memcpy(signer.address, ps->payee_key.addr, 20);
	} else {
		signer.seckey = ps->station_sk;
		memcpy(signer.address, ps->station, 20);
	}
	ps->tx_busy = true;
	if (ws_chain_send_call(ps->chain, ps->registry, &signer, data, len, on_published, ps) != 0) {
		ws_warn("payment: cannot publish the offer now");
		ps->tx_busy = false;
	}
	free(data);
}

/* Builds and signs an offer for terms into o/sig; the nonce grows with
 * every new offer: the wall clock in milliseconds, or one more than the
 * last.  Milliseconds, not seconds: a restart within the second of the
 * previous start would sign a nonce the registry already holds (and its
 * publication would revert as stale). */
static int make_offer(struct pay_station *ps, const struct pay_terms *terms,
		      struct pay_offer *o, uint8_t sig[65])
{
	uint64_t now_ms = (uint64_t)ws_clock_wall_ms(), now_s = now_ms / 1000;
	uint64_t last = ps->pending && ps->want.offer.nonce > ps->cur.offer.nonce ?
			ps->want.offer.nonce : ps->cur.offer.nonce;
	uint64_t nonce = now_ms > last ? now_ms : last + 1;

	memcpy(o->station, ps->station, 20);
	memcpy(o->payee, ps->payee, 20);
	memcpy(o->token, ps->token, 20);
	o->price_per_kwh = ws_u256_from_u64(terms->price_per_kwh);
	o->increment_wh = terms->increment_wh;
	o->prepaid_increments = terms->prepaid_increments;
	o->grace_seconds = terms->grace_s;
	o->valid_from = now_s - 60;
	o->valid_until = now_s + OFFER_VALID_S;
	snprintf(o->location, sizeof(o->location), "%s", ps->pc->location);
	snprintf(o->endpoint, sizeof(o->endpoint), "%s", ps->endpoint);
	o->nonce = nonce;
	return pay_offer_sign(ps->offers_dsep, o, ps->station_sk, sig);
}

int pay_station_set_tariff(struct pay_station *ps, uint64_t price_per_kwh, uint32_t increment_wh,
			   uint32_t prepaid_increments, uint32_t grace_s, uint64_t min_deposit)
{
	struct pay_terms t = { price_per_kwh, increment_wh, prepaid_increments, grace_s };

	if (!ps || !price_per_kwh || !increment_wh || !prepaid_increments || prepaid_increments > 100 ||
	    grace_s > 3600 || increment_wh > 100000)
		return -EINVAL;
	const struct tariff *last = ps->pending ? &ps->want : &ps->cur;
	if (memcmp(&t, &last->terms, sizeof(t)) == 0 && min_deposit == last->min_deposit)
		return 0;
	if (make_offer(ps, &t, &ps->want.offer, ps->want.sig) != 0)
		return -EINVAL;
	ps->pending = true;
	ps->want.terms = t;
	ps->want.min_deposit = min_deposit;
	ws_notice("payment: new tariff: %llu per kWh, %u Wh increments, %u prepaid, %u s grace; in force once offer %llu is published",
		  (unsigned long long)price_per_kwh, increment_wh, prepaid_increments, grace_s,
		  (unsigned long long)ps->want.offer.nonce);
	ps_publish_offer(ps);
	return 0;
}

int pay_station_new(struct pay_station **ret, struct lws_context *ctx,
		    const struct ws_config *cfg, struct ws_store *store,
		    const struct pay_station_ops *ops, void *user)
{
	const struct ws_payment_config *pcfg = &cfg->payment;
	char path[PATH_MAX + 32];
	int r;

	*ret = NULL;
	if (!pcfg->enabled)
		return 0;
	struct pay_station *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->cfg = cfg;
	ps->pc = pcfg;
	ps->store = store;
	ps->ops = ops;
	ps->user = user;
	ps->ctx = ctx;
	ps->n = cfg->n_connectors;
	for (unsigned i = 0; i <= ps->n; i++) {
		ps->conn[i].ps = ps;
		ps->conn[i].id = i;
	}
	if ((r = load_deployment(ps, pcfg->deployment)) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/station.key", cfg->state_dir);
	const char *station_path = pcfg->station_key_file[0] ? pcfg->station_key_file : path;
	if ((r = ps_settle_load_key(station_path, ps->station_sk, ps->station, "station")) != 0)
		goto fail;
	{
		struct payee_key old[RETIRED_MAX];
		int n = ps_settle_load_retired(station_path, old, RETIRED_MAX, "station");
		for (int i = 0; i < n; i++) {
			memcpy(ps->retired_station[ps->n_retired_station++], old[i].addr, 20);
			explicit_bzero(old[i].sk, 32);
		}
	}
	if (pcfg->payee_address[0]) {
		char a[WS_ADDRESS_STR_SIZE];
		if (ws_address_parse(pcfg->payee_address, ps->payee) != 0) {
			ws_err("payment: payee_address '%s' is not an address", pcfg->payee_address);
			r = -EINVAL;
			goto fail;
		}
		ws_address_format(ps->payee, a);
		ws_notice("payment: payee %s (address only: another machine submits its claims; control command `claims` exports them)", a);
	} else {
		snprintf(path, sizeof(path), "%s/payee.key", cfg->state_dir);
		const char *payee_path = pcfg->payee_key_file[0] ? pcfg->payee_key_file : path;
		if ((r = ps_settle_load_key(payee_path, ps->payee_key.sk, ps->payee_key.addr, "payee")) != 0)
			goto fail;
		ps->have_payee_key = true;
		memcpy(ps->payee, ps->payee_key.addr, 20);
		int n = ps_settle_load_retired(payee_path, ps->retired_payee, RETIRED_MAX, "payee");
		for (int i = 0; i < n; i++)
			if (memcmp(ps->retired_payee[i].addr, ps->payee, 20) != 0)
				ps->retired_payee[ps->n_retired_payee++] = ps->retired_payee[i];
	}
	/* the idTag secret: derived from the station key, so stable across restarts */
	uint8_t buf[32 + 16];
	memcpy(buf, ps->station_sk, 32);
	memcpy(buf + 32, "wattstream idTag", 16);
	ws_keccak256(buf, sizeof(buf), ps->idtag_secret);
	explicit_bzero(buf, sizeof(buf));

	ws_eip712_domain d = { .name = "Wattstream", .version = PAY_DOMAIN_VERSION,
			       .chain_id = ws_u256_from_u64(ps->chain_id) };
	memcpy(d.verifying_contract, ps->channels, 20);
	ws_eip712_domain_separator(&d, ps->channels_dsep);
	d.name = PAY_RECEIPT_DOMAIN_NAME;
	ws_eip712_domain_separator(&d, ps->receipts_dsep);
	d.name = PAY_OFFER_DOMAIN_NAME;
	memcpy(d.verifying_contract, ps->registry, 20);
	ws_eip712_domain_separator(&d, ps->offers_dsep);

	if (pcfg->endpoint[0])
		snprintf(ps->endpoint, sizeof(ps->endpoint), "%s", pcfg->endpoint);
	else
		snprintf(ps->endpoint, sizeof(ps->endpoint), "%s://%s:%u/wallet",
			 pcfg->tls_cert_file[0] ? "wss" : "ws", pcfg->listen, pcfg->port);
	ps->cur.terms = (struct pay_terms){ pcfg->price_per_kwh, pcfg->increment_wh,
					pcfg->prepaid_increments, pcfg->grace_s };
	ps->cur.min_deposit = pcfg->min_deposit;
	if ((r = make_offer(ps, &ps->cur.terms, &ps->cur.offer, ps->cur.sig)) != 0)
		goto fail;

	struct ws_chain_config cc = { .rpc = { .url = pcfg->rpc_url }, .chain_id = ps->chain_id };
	if ((r = ws_chain_new(&ps->chain, ctx, &cc)) != 0) {
		ws_err("payment: cannot set up the chain client for %s", pcfg->rpc_url);
		goto fail;
	}
	struct wallet_server_config sc = {
		.address = pcfg->listen, .port = (int)pcfg->port, .path = "/wallet",
		.cert_file = pcfg->tls_cert_file[0] ? pcfg->tls_cert_file : NULL,
		.key_file = pcfg->tls_key_file[0] ? pcfg->tls_key_file : NULL,
	};
	if ((r = wallet_server_new(&ps->srv, ctx, &sc, &server_ops, ps)) != 0) {
		ws_err("payment: cannot listen for wallets on %s:%u: %s", pcfg->listen, pcfg->port,
		       strerror(-r));
		goto fail;
	}
	ws_notice("payment: wallet endpoint %s, %llu per kWh, %u Wh increments",
		  ps->endpoint, (unsigned long long)pcfg->price_per_kwh, pcfg->increment_wh);
	ps_publish_offer(ps);
	/* the watchtower: at once (vouchers held but not claimed before a
	 * restart are claimed), then every watch_interval_s */
	ps_settle_round_soon(ps);
	*ret = ps;
	return 0;
fail:
	pay_station_free(ps);
	return r < 0 ? r : -EINVAL;
}

void pay_station_shutdown(struct pay_station *ps)
{
	if (!ps)
		return;
	for (unsigned i = 0; i <= ps->n; i++) {
		lws_sul_cancel(&ps->conn[i].cut_sul);
		lws_sul_cancel(&ps->conn[i].grace_sul);
	}
	lws_sul_cancel(&ps->watch_sul);
	/* pending chain calls end here; their starts are dropped below */
	ps->chain = ws_chain_free(ps->chain);
}

struct pay_station *pay_station_free(struct pay_station *ps)
{
	if (!ps)
		return NULL;
	pay_station_shutdown(ps);
	while (ps->starts) {
		struct start_req *rq = ps->starts;
		ps->starts = rq->next;
		free(rq);
	}
	wallet_server_free(ps->srv);
	explicit_bzero(ps->station_sk, 32);
	explicit_bzero(&ps->payee_key, sizeof(ps->payee_key));
	explicit_bzero(ps->retired_payee, sizeof(ps->retired_payee));
	explicit_bzero(ps->idtag_secret, 32);
	free(ps);
	return NULL;
}
