/* ocpp_reserve.c: the Reservation profile (OCPP 1.6 sections 3.11, 5.1,
 * 5.13): ReserveNow holds a connector for one idTag (or its parent idTag)
 * until an expiry date; CancelReservation ends it early.  While it holds,
 * the connector reports Reserved and every other idTag (and every paid
 * session) is refused on it; the transaction of the reserved idTag carries
 * the reservationId and ends the reservation.  A reservation also ends at
 * its expiry date and when the connector becomes Faulted or Unavailable.
 *
 * One reservation per connector, kept in the store (table
 * ocpp_reservations) so that a restart does not free a reserved connector.
 * Connector 0 is not reservable (ReserveConnectorZeroSupported = false).
 * Cost: one row write per change, one timer per reservation. */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <strings.h>

#include "ocpp_cp_internal.h"
#include "wattstream/clock.h"
#include "wattstream/log.h"
#include "wattstream/store.h"

static int save(struct ocpp_cp *cp, unsigned id)
{
	const struct cp_reservation *r = &cp->conn[id].resv;
	sqlite3_stmt *st;
	int rc;

	if (!cp->store)
		return 0;
	const char *sql = r->active ?
		"INSERT OR REPLACE INTO ocpp_reservations VALUES (?,?,?,?,?)" :
		"DELETE FROM ocpp_reservations WHERE connector = ?";
	if (sqlite3_prepare_v2(store_db(cp->store), sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)id);
	if (r->active) {
		sqlite3_bind_int(st, 2, r->id);
		sqlite3_bind_int64(st, 3, r->expiry_ms);
		sqlite3_bind_text(st, 4, r->id_tag, -1, SQLITE_STATIC);
		if (r->parent_id_tag[0])
			sqlite3_bind_text(st, 5, r->parent_id_tag, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 5);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void expiry_cb(lws_sorted_usec_list_t *sul);

static void arm(struct ocpp_cp *cp, struct cp_connector *c)
{
	int64_t left_ms = c->resv.expiry_ms - ocpp_cp_now_ms(cp);
	if (left_ms < 1)
		left_ms = 1;
	lws_sul_schedule(cp->ctx, 0, &c->resv.sul, expiry_cb, (lws_usec_t)left_ms * 1000);
}

/* Ends connector c's reservation (why: for the log); reports the status. */
static void end(struct ocpp_cp *cp, struct cp_connector *c, const char *why, bool report)
{
	if (!c->resv.active)
		return;
	ws_info("ocpp: connector %u: reservation %d for %s ended (%s)", c->id, c->resv.id,
		c->resv.id_tag, why);
	c->resv.active = false;
	lws_sul_cancel(&c->resv.sul);
	if (save(cp, c->id) < 0)
		ws_err("ocpp: connector %u: the end of a reservation is not stored", c->id);
	if (report)
		ocpp_cp_connector_changed(cp, c->id);
}

static void expiry_cb(lws_sorted_usec_list_t *sul)
{
	struct cp_reservation *r = lws_container_of(sul, struct cp_reservation, sul);
	struct cp_connector *c = lws_container_of(r, struct cp_connector, resv);
	struct ocpp_cp *cp = c->cp;

	/* the clock may have been corrected since the timer was set */
	if (ocpp_cp_now_ms(cp) < r->expiry_ms) {
		arm(cp, c);
		return;
	}
	end(cp, c, "expired", true);
}

static struct cp_connector *find(struct ocpp_cp *cp, int32_t reservation_id)
{
	for (unsigned i = 1; i <= cp->n; i++)
		if (cp->conn[i].resv.active && cp->conn[i].resv.id == reservation_id)
			return &cp->conn[i];
	return NULL;
}

void cp_handle_reserve_now(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_reserve_now_req *r = req;
	const char *status = "Accepted";

	if (r->connector_id < 0 || (unsigned)r->connector_id > cp->n) {
		ocpp_link_reply_error(cp->link, id, OCPP_ERR_PROPERTY_CONSTRAINT_VIOLATION,
				      "no such connector");
		return;
	}
	struct cp_connector *same = find(cp, r->reservation_id);
	struct cp_connector *c = &cp->conn[r->connector_id];
	if (r->connector_id == 0) {
		status = "Rejected";	/* ReserveConnectorZeroSupported is false */
	} else if (r->expiry_date.unix_ms <= ocpp_cp_now_ms(cp)) {
		status = "Rejected";	/* already expired: nothing to hold */
	} else {
		struct ocpp_cp_connector_info in = { .ev_plugged = -1 };
		cp->ops->connector_info(cp->user, c->id, &in);
		if (in.faulted_meter || in.faulted_contactor)
			status = "Faulted";
		else if (!ocpp_cp_connector_operative(cp, c->id))
			status = "Unavailable";
		else if (c->local_tx || in.session || in.energized || in.ev_plugged == 1 ||
			 (c->resv.active && c != same))
			status = "Occupied";
	}
	if (strcmp(status, "Accepted") == 0) {
		/* the same reservationId elsewhere: replaced by this one */
		if (same && same != c)
			end(cp, same, "replaced", true);
		c->resv.active = true;
		c->resv.id = r->reservation_id;
		c->resv.expiry_ms = r->expiry_date.unix_ms;
		snprintf(c->resv.id_tag, sizeof(c->resv.id_tag), "%s", r->id_tag);
		snprintf(c->resv.parent_id_tag, sizeof(c->resv.parent_id_tag), "%s",
			 r->has_parent_id_tag ? r->parent_id_tag : "");
		if (save(cp, c->id) < 0) {
			c->resv.active = false;
			ocpp_link_reply_error(cp->link, id, OCPP_ERR_INTERNAL_ERROR,
					      "the reservation cannot be stored");
			return;
		}
		arm(cp, c);
		ws_info("ocpp: connector %u reserved for %s until %s (reservation %d)", c->id,
			r->id_tag, r->expiry_date.str, r->reservation_id);
	}
	cp_reply(cp, id, json_pack("{s:s}", "status", status));
	if (strcmp(status, "Accepted") == 0)
		ocpp_cp_connector_changed(cp, c->id);
}

void cp_handle_cancel_reservation(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_cancel_reservation_req *r = req;
	struct cp_connector *c = find(cp, r->reservation_id);

	cp_reply(cp, id, json_pack("{s:s}", "status", c ? "Accepted" : "Rejected"));
	if (c)
		end(cp, c, "cancelled by the Central System", true);
}

/* id_tag's parent idTag as the local list or the cache know it, or "". */
static void parent_of(struct ocpp_cp *cp, const char *id_tag, char out[21])
{
	struct ocpp_id_tag_info info;
	int64_t now = ocpp_cp_now_ms(cp);

	out[0] = '\0';
	if (!cp->store)
		return;
	if (cp_auth_list_get(cp->store, id_tag, now, &info) == 1 ||
	    cp_auth_cache_get(cp->store, id_tag, now, false, &info) == 1) {
		if (info.has_parent_id_tag)
			snprintf(out, 21, "%s", info.parent_id_tag);
	}
}

int cp_reserve_admits(struct ocpp_cp *cp, unsigned connector, const char *id_tag)
{
	char parent_id_tag[21];

	if (!cp || connector < 1 || connector > cp->n)
		return 0;
	const struct cp_reservation *r = &cp->conn[connector].resv;
	if (!r->active)
		return 0;
	if (!id_tag)
		return -EBUSY;
	parent_of(cp, id_tag, parent_id_tag);
	/* the spec: the incoming idTag or its parent matches the idTag or the
	 * parent idTag of the reservation */
	if (strcasecmp(id_tag, r->id_tag) == 0 ||
	    (r->parent_id_tag[0] && strcasecmp(id_tag, r->parent_id_tag) == 0) ||
	    (parent_id_tag[0] &&
	     (strcasecmp(parent_id_tag, r->id_tag) == 0 ||
	      (r->parent_id_tag[0] && strcasecmp(parent_id_tag, r->parent_id_tag) == 0))))
		return r->id;
	return -EBUSY;
}

bool ocpp_cp_may_start(struct ocpp_cp *cp, unsigned connector, const char *id_tag)
{
	return cp_reserve_admits(cp, connector, id_tag) >= 0;
}

bool ocpp_cp_connector_reserved(const struct ocpp_cp *cp, unsigned connector)
{
	return cp && connector >= 1 && connector <= cp->n && cp->conn[connector].resv.active;
}

void cp_reserve_used(struct ocpp_cp *cp, unsigned connector)
{
	if (cp && connector >= 1 && connector <= cp->n)
		end(cp, &cp->conn[connector], "its transaction started", false);
}

void cp_reserve_status(struct ocpp_cp *cp, struct cp_connector *c,
		       enum ocpp_charge_point_status st)
{
	if (!c->resv.active)
		return;
	if (st == OCPP_CHARGE_POINT_STATUS_FAULTED)
		end(cp, c, "the connector is Faulted", false);
	else if (st == OCPP_CHARGE_POINT_STATUS_UNAVAILABLE)
		end(cp, c, "the connector is Unavailable", false);
}

int cp_reserve_init(struct ocpp_cp *cp)
{
	sqlite3_stmt *st;

	if (!cp->store)
		return 0;
	if (sqlite3_prepare_v2(store_db(cp->store),
			       "SELECT connector, id, expiry_ms, id_tag, parent_id_tag "
			       "FROM ocpp_reservations", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		const unsigned char *tag = sqlite3_column_text(st, 3);
		const unsigned char *parent = sqlite3_column_text(st, 4);
		if (id < 1 || (unsigned)id > cp->n || !tag)
			continue;
		struct cp_connector *c = &cp->conn[id];
		c->resv.active = true;
		c->resv.id = sqlite3_column_int(st, 1);
		c->resv.expiry_ms = sqlite3_column_int64(st, 2);
		snprintf(c->resv.id_tag, sizeof(c->resv.id_tag), "%s", (const char *)tag);
		snprintf(c->resv.parent_id_tag, sizeof(c->resv.parent_id_tag), "%s",
			 parent ? (const char *)parent : "");
		/* expired while we were down: the timer ends it at once */
		arm(cp, c);
		ws_notice("ocpp: connector %d is reserved for %s (reservation %d)", id,
			  c->resv.id_tag, c->resv.id);
	}
	sqlite3_finalize(st);
	return 0;
}

void cp_reserve_free(struct ocpp_cp *cp)
{
	for (unsigned i = 1; i <= cp->n; i++)
		lws_sul_cancel(&cp->conn[i].resv.sul);
}
