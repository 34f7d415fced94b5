/* ocpp_remote.c: what the Central System commands the charge point to do:
 * RemoteStartTransaction, RemoteStopTransaction, Reset, ChangeAvailability,
 * UnlockConnector, ClearCache.  Availability is kept in the store (table
 * ocpp_availability) so that Inoperative survives a restart; a change asked
 * while a transaction runs is Scheduled and applied when it ends.
 * O(connectors) per request. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_cp_internal.h"
#include "wattstream/clock.h"
#include "wattstream/log.h"
#include "wattstream/store.h"

#define RESET_DELAY_US 1000000	/* let the answer and the StopTransactions leave */

static int save_availability(struct ocpp_cp *cp, unsigned id)
{
	sqlite3_stmt *st;
	const struct cp_connector *c = &cp->conn[id];
	int rc;

	if (!cp->store)
		return 0;
	if (sqlite3_prepare_v2(store_db(cp->store),
			       "INSERT OR REPLACE INTO ocpp_availability VALUES (?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)id);
	sqlite3_bind_int(st, 2, !c->inoperative);
	if (c->scheduled >= 0)
		sqlite3_bind_int(st, 3, c->scheduled);
	else
		sqlite3_bind_null(st, 3);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int cp_remote_init(struct ocpp_cp *cp)
{
	sqlite3_stmt *st;

	for (unsigned i = 0; i <= cp->n; i++)
		cp->conn[i].scheduled = -1;
	if (!cp->store)
		return 0;
	if (sqlite3_prepare_v2(store_db(cp->store),
			       "SELECT connector, operative, scheduled FROM ocpp_availability",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		if (id < 0 || (unsigned)id > cp->n)
			continue;
		struct cp_connector *c = &cp->conn[id];
		c->inoperative = !sqlite3_column_int(st, 1);
		/* a change scheduled for the end of a transaction: the
		 * transaction has ended with the restart, so it applies now */
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			c->inoperative = !sqlite3_column_int(st, 2);
		if (c->inoperative)
			ws_notice("ocpp: connector %d is Inoperative (set by the Central System)", id);
	}
	sqlite3_finalize(st);
	return 0;
}

void cp_remote_free(struct ocpp_cp *cp)
{
	lws_sul_cancel(&cp->reset_sul);
}

bool ocpp_cp_connector_operative(const struct ocpp_cp *cp, unsigned id)
{
	if (!cp || id > cp->n)
		return true;
	return !cp->conn[0].inoperative && !cp->conn[id].inoperative;
}

void cp_remote_tx_ended(struct ocpp_cp *cp, struct cp_connector *c)
{
	for (unsigned i = 0; i <= cp->n; i++) {
		struct cp_connector *x = &cp->conn[i];
		if (x->scheduled < 0 || (i > 0 && x != c))
			continue;
		/* connector 0's change waits for every transaction */
		if (i == 0)
			for (unsigned j = 1; j <= cp->n; j++)
				if (cp->conn[j].local_tx)
					goto next;
		x->inoperative = !x->scheduled;
		x->scheduled = -1;
		if (save_availability(cp, i) < 0)
			ws_err("ocpp: cannot store the availability of connector %u", i);
		ws_info("ocpp: connector %u now %s (scheduled)", i,
			x->inoperative ? "Inoperative" : "Operative");
		for (unsigned j = 0; j <= cp->n; j++)
			if (i == 0 || j == i)
				ocpp_cp_connector_changed(cp, j);
next:;
	}
}

void cp_handle_change_availability(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_change_availability_req *r = req;
	bool operative = r->type == OCPP_AVAILABILITY_OPERATIVE;

	if (r->connector_id < 0 || (unsigned)r->connector_id > cp->n) {
		cp_reply(cp, id, json_pack("{s:s}", "status", "Rejected"));
		return;
	}
	unsigned n = (unsigned)r->connector_id;
	struct cp_connector *c = &cp->conn[n];
	bool busy = false;
	for (unsigned j = 1; j <= cp->n; j++)
		if (cp->conn[j].local_tx && (n == 0 || j == n))
			busy = true;
	const char *status;
	if (busy && operative == c->inoperative) {
		c->scheduled = operative;
		status = "Scheduled";
	} else {
		c->inoperative = !operative;
		c->scheduled = -1;
		status = "Accepted";
	}
	if (save_availability(cp, n) < 0) {
		ws_err("ocpp: cannot store the availability of connector %u", n);
		status = "Rejected";
	}
	ws_info("ocpp: ChangeAvailability connector %u %s: %s", n,
		operative ? "Operative" : "Inoperative", status);
	cp_reply(cp, id, json_pack("{s:s}", "status", status));
	for (unsigned j = 0; j <= cp->n; j++)
		if (n == 0 || j == n)
			ocpp_cp_connector_changed(cp, j);
}

/* ---- remote start / stop -------------------------------------------------- */

struct remote_start {
	struct ocpp_cp *cp;
	char id_tag[21];
};

/* need_ev: the EV must be plugged in already (no connector named, or no
 * ConnectionTimeOut to wait for it).  A connector reserved for another
 * idTag than id_tag is not free for it. */
static bool can_start(struct ocpp_cp *cp, unsigned id, bool need_ev, const char *id_tag)
{
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
	if (!ocpp_cp_connector_operative(cp, id) || cp->conn[id].local_tx ||
	    cp_reserve_admits(cp, id, id_tag) < 0)
		return false;
	cp->ops->connector_info(cp->user, id, &in);
	return !in.faulted_meter && !in.faulted_contactor && !in.session &&
	       (need_ev ? in.ev_plugged != 0 : true);
}

static void on_remote_authorized(void *user, unsigned connector, bool accepted,
				 const char *status)
{
	struct remote_start *rs = user;
	struct ocpp_cp *cp = rs->cp;

	if (!accepted)
		ws_notice("ocpp: RemoteStartTransaction for %s on connector %u: idTag %s",
			  rs->id_tag, connector, status);
	else if (!cp->ops->start_session(cp->user, connector, rs->id_tag))
		ws_warn("ocpp: RemoteStartTransaction on connector %u: the session could not begin",
			connector);
	free(rs);
}

void cp_handle_remote_start(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_remote_start_transaction_req *r = req;
	unsigned conn = 0;

	if (r->has_connector_id) {
		if (r->connector_id >= 1 && (unsigned)r->connector_id <= cp->n &&
		    can_start(cp, (unsigned)r->connector_id,
			      ocpp_config_int(cp->keys, "ConnectionTimeOut") == 0, r->id_tag))
			conn = (unsigned)r->connector_id;
	} else {
		for (unsigned i = 1; i <= cp->n && !conn; i++)
			if (can_start(cp, i, true, r->id_tag))
				conn = i;
	}
	struct remote_start *rs = conn ? calloc(1, sizeof(*rs)) : NULL;
	if (!rs) {
		cp_reply(cp, id, json_pack("{s:s}", "status", "Rejected"));
		return;
	}
	rs->cp = cp;
	snprintf(rs->id_tag, sizeof(rs->id_tag), "%s", r->id_tag);
	cp_reply(cp, id, json_pack("{s:s}", "status", "Accepted"));
	ws_info("ocpp: RemoteStartTransaction on connector %u for %s", conn, rs->id_tag);
	if (ocpp_config_bool(cp->keys, "AuthorizeRemoteTxRequests")) {
		if (ocpp_cp_authorize(cp, conn, rs->id_tag, on_remote_authorized, rs) < 0)
			free(rs);
	} else {
		on_remote_authorized(rs, conn, true, "Accepted");
	}
}

/* The connector whose transaction the Central System numbered tx_id. */
static unsigned connector_of(struct ocpp_cp *cp, int64_t tx_id)
{
	struct ocpp_queue_tx tx;
	for (unsigned i = 1; i <= cp->n; i++)
		if (cp->conn[i].local_tx &&
		    ocpp_queue_tx_get(cp->queue, cp->conn[i].local_tx, &tx) == 0 &&
		    tx.start_state == OCPP_QUEUE_START_CONFIRMED && tx.remote_tx == tx_id)
			return i;
	return 0;
}

static double energy_of(struct ocpp_cp *cp, unsigned id)
{
	struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
	cp->ops->connector_info(cp->user, id, &in);
	return in.reading ? in.reading->value[WS_Q_ENERGY_WH] : 0.0;
}

static void end_transaction(struct ocpp_cp *cp, unsigned id, const char *reason)
{
	ocpp_cp_transaction_stop(cp, id, energy_of(cp, id), reason);
	cp->ops->stop_session(cp->user, id, reason);
}

void cp_handle_remote_stop(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_remote_stop_transaction_req *r = req;
	unsigned conn = connector_of(cp, r->transaction_id);

	if (conn)	/* before the answer: the request ends with it */
		ws_info("ocpp: RemoteStopTransaction %d on connector %u", r->transaction_id, conn);
	cp_reply(cp, id, json_pack("{s:s}", "status", conn ? "Accepted" : "Rejected"));
	if (conn) {
		end_transaction(cp, conn, "Remote");
	}
}

/* ---- reset, unlock, cache ---------------------------------------------------- */

static void reset_cb(lws_sorted_usec_list_t *sul)
{
	struct ocpp_cp *cp = lws_container_of(sul, struct ocpp_cp, reset_sul);
	cp->ops->reset(cp->user, cp->reset_hard);
}

void cp_handle_reset(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_reset_req *r = req;
	bool hard = r->type == OCPP_RESET_HARD;

	cp_reply(cp, id, json_pack("{s:s}", "status", "Accepted"));
	ws_notice("ocpp: %s Reset requested", hard ? "Hard" : "Soft");
	for (unsigned i = 1; i <= cp->n; i++)
		if (cp->conn[i].local_tx)
			end_transaction(cp, i, hard ? "HardReset" : "SoftReset");
	cp->reset_hard = hard;
	lws_sul_schedule(cp->ctx, 0, &cp->reset_sul, reset_cb, RESET_DELAY_US);
}

void cp_handle_unlock_connector(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_unlock_connector_req *r = req;

	if (r->connector_id < 1 || (unsigned)r->connector_id > cp->n) {
		cp_reply(cp, id, json_pack("{s:s}", "status", "UnlockFailed"));
		return;
	}
	/* 1.6 §5.19: a running transaction stops first (reason UnlockCommand);
	 * this charger has no cable lock to release */
	if (cp->conn[r->connector_id].local_tx)
		end_transaction(cp, (unsigned)r->connector_id, "UnlockCommand");
	cp_reply(cp, id, json_pack("{s:s}", "status", "NotSupported"));
}

void cp_handle_clear_cache(struct ocpp_cp *cp, const char *id, void *req)
{
	int r = cp_auth_clear_cache(cp);

	if (r < 0)
		ws_err("ocpp: ClearCache: cannot empty the authorization cache");
	else
		ws_info("ocpp: ClearCache: %s", r == 0 ? "the authorization cache is empty" :
			"Rejected, AuthorizationCacheEnabled is false");
	cp_reply(cp, id, json_pack("{s:s}", "status", r == 0 ? "Accepted" : "Rejected"));
}
