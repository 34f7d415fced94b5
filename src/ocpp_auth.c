/* ocpp_auth.c: whether an idTag may charge (OCPP 1.6 §3.5, §4.1, §5.4,
 * §5.10, §5.15 with the errata).  Three sources, in this order:
 *   - the Local Authorization List, kept by SendLocalList (Full or
 *     Differential) and reported by GetLocalListVersion, in force while
 *     LocalAuthListEnabled;
 *   - the Authorization Cache, learned from every idTagInfo the Central
 *     System returns (Authorize, StartTransaction, StopTransaction) for an
 *     idTag not in the list, in force while AuthorizationCacheEnabled; at
 *     most CP_AUTH_CACHE_MAX entries: when full, the not-valid entries go
 *     first, then the least recently used valid ones;
 *   - the Central System (Authorize.req), and offline, for an idTag known
 *     nowhere, AllowOfflineTxForUnknownId.
 * docs/ocpp.md ("Authorization") says which decides when.  Both local
 * stores are tables of the store (ocpp_auth_cache, ocpp_local_list,
 * ocpp_local_list_version) and survive restarts.  idTags compare
 * case-insensitively (IdToken is a CiString).  The answer to
 * ocpp_cp_authorize() always comes later, from the loop.
 *
 * Cost: a decision is at most two indexed SELECTs and, when a cache entry
 * is used or learned, one commit (one WAL fsync, about a millisecond on
 * flash); SendLocalList is one commit for the whole update, O(entries).
 * Statements are prepared per use (tens of microseconds): authorizations
 * are rare.  One small allocation per pending authorization. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_cp_internal.h"
#include "wattstream/log.h"
#include "wattstream/store.h"

/* ---- the store ------------------------------------------------------------ */

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	return sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK ? st : NULL;
}

/* Runs a statement that returns no row; finalizes it. */
static int step_done(sqlite3_stmt *st)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* A single integer from a query without parameters, or -EIO. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = prep(db, sql);
	int64_t v = -EIO;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool id_tag_ok(const char *id_tag)
{
	size_t n = id_tag ? strlen(id_tag) : 0;
	return n >= 1 && n <= CP_AUTH_ID_TAG_MAX;
}

/* Binds status, expiry, expiry_ms, parent_id_tag at parameters i..i+3. */
static int bind_info(sqlite3_stmt *st, int i, const struct ocpp_id_tag_info *info)
{
	const char *status = ocpp_authorization_status_str(info->status);

	if (!status)
		return -EINVAL;
	if (sqlite3_bind_text(st, i, status, -1, SQLITE_STATIC) != SQLITE_OK)
		return -EIO;
	if (info->has_expiry_date) {
		if (sqlite3_bind_text(st, i + 1, info->expiry_date.str, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, i + 2, info->expiry_date.unix_ms) != SQLITE_OK)
			return -EIO;
	}
	if (info->has_parent_id_tag &&
	    sqlite3_bind_text(st, i + 3, info->parent_id_tag, -1, SQLITE_STATIC) != SQLITE_OK)
		return -EIO;
	return 0;
}

/* Reads status, expiry, expiry_ms, parent_id_tag from columns 0..3.  A row
 * that does not parse (a tampered file) is -EIO. */
static int row_info(sqlite3_stmt *st, struct ocpp_id_tag_info *out)
{
	const char *status = (const char *)sqlite3_column_text(st, 0);
	const char *expiry = (const char *)sqlite3_column_text(st, 1);
	const char *parent = (const char *)sqlite3_column_text(st, 3);

	memset(out, 0, sizeof(*out));
	if (!status || ocpp_authorization_status_parse(status, &out->status) != 0)
		return -EIO;
	if (expiry) {
		if (ocpp_datetime_parse(expiry, &out->expiry_date) != 0)
			return -EIO;
		out->has_expiry_date = true;
	}
	if (parent) {
		if (strlen(parent) > CP_AUTH_ID_TAG_MAX)
			return -EIO;
		strcpy(out->parent_id_tag, parent);
		out->has_parent_id_tag = true;
	}
	return 0;
}

/* §3.5.4: an entry valid once but past its expiryDate is Expired. */
static bool expired(const struct ocpp_id_tag_info *info, int64_t now_ms)
{
	return info->status == OCPP_AUTHORIZATION_STATUS_ACCEPTED &&
	       info->has_expiry_date && info->expiry_date.unix_ms <= now_ms;
}

int cp_auth_list_get(struct ws_store *s, const char *id_tag, int64_t now_ms,
		     struct ocpp_id_tag_info *out)
{
	sqlite3_stmt *st = prep(store_db(s), "SELECT status, expiry, expiry_ms, parent_id_tag"
				" FROM ocpp_local_list WHERE id_tag = ?");
	int r = -EIO, rc;

	if (!st)
		return -EIO;
	if (sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		r = 0;
	else if (rc == SQLITE_ROW && row_info(st, out) == 0)
		r = 1;
	if (r == 1 && expired(out, now_ms))
		out->status = OCPP_AUTHORIZATION_STATUS_EXPIRED;	/* the list itself stays */
out:
	sqlite3_finalize(st);
	return r;
}

int cp_auth_cache_get(struct ws_store *s, const char *id_tag, int64_t now_ms, bool touch,
		      struct ocpp_id_tag_info *out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = prep(db, "SELECT status, expiry, expiry_ms, parent_id_tag"
				" FROM ocpp_auth_cache WHERE id_tag = ?");
	int r = -EIO, rc;

	if (!st)
		return -EIO;
	if (sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			r = 0;
		else if (rc == SQLITE_ROW && row_info(st, out) == 0)
			r = 1;
	}
	sqlite3_finalize(st);
	if (r != 1)
		return r;
	if (expired(out, now_ms)) {
		/* §3.5.1: an entry whose validity ran out is changed to Expired */
		out->status = OCPP_AUTHORIZATION_STATUS_EXPIRED;
		st = prep(db, "UPDATE ocpp_auth_cache SET status = 'Expired' WHERE id_tag = ?");
		if (!st || sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK ||
		    step_done(st) < 0) {
			sqlite3_finalize(st);
			return -EIO;
		}
	}
	if (touch) {
		st = prep(db, "UPDATE ocpp_auth_cache SET used ="
			  " (SELECT max(used) FROM ocpp_auth_cache) + 1 WHERE id_tag = ?");
		if (!st || sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK ||
		    step_done(st) < 0) {
			sqlite3_finalize(st);
			return -EIO;
		}
	}
	return 1;
}

/* Makes room for one new entry in a cache of at most max: the not-valid
 * entries first (all of them, §3.5.1), then the least recently used. */
static int cache_evict(sqlite3 *db, int64_t now_ms, int64_t max)
{
	int64_t n = query_int(db, "SELECT count(*) FROM ocpp_auth_cache");
	sqlite3_stmt *st;

	if (n < 0)
		return -EIO;
	if (n < max)
		return 0;
	st = prep(db, "DELETE FROM ocpp_auth_cache WHERE status <> 'Accepted'"
		  " OR (expiry_ms IS NOT NULL AND expiry_ms <= ?)");
	if (!st || sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK || step_done(st) < 0) {
		sqlite3_finalize(st);
		return -EIO;
	}
	n = query_int(db, "SELECT count(*) FROM ocpp_auth_cache");
	if (n < 0)
		return -EIO;
	if (n < max)
		return 0;
	st = prep(db, "DELETE FROM ocpp_auth_cache WHERE id_tag IN"
		  " (SELECT id_tag FROM ocpp_auth_cache ORDER BY used LIMIT ?)");
	if (!st || sqlite3_bind_int64(st, 1, n - max + 1) != SQLITE_OK || step_done(st) < 0) {
		sqlite3_finalize(st);
		return -EIO;
	}
	return 0;
}

int cp_auth_cache_put(struct ws_store *s, const char *id_tag,
		      const struct ocpp_id_tag_info *info, int64_t now_ms, int64_t max)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int64_t known;
	int r = -EIO;

	if (!id_tag_ok(id_tag) || !ocpp_authorization_status_str(info->status) || max < 1)
		return -EINVAL;
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	st = prep(db, "SELECT count(*) FROM ocpp_auth_cache WHERE id_tag = ?");
	if (!st || sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	known = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (!known && cache_evict(db, now_ms, max) < 0)
		goto fail;
	st = prep(db, "INSERT OR REPLACE INTO ocpp_auth_cache"
		  " (id_tag, status, expiry, expiry_ms, parent_id_tag, used) VALUES (?, ?, ?, ?, ?,"
		  " coalesce((SELECT max(used) FROM ocpp_auth_cache), 0) + 1)");
	if (!st || sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK)
		goto fail;
	r = bind_info(st, 2, info);
	if (r < 0)
		goto fail;
	r = step_done(st);
	st = NULL;
	if (r < 0 || exec(db, "COMMIT") < 0)
		goto fail;
	return 0;
fail:
	sqlite3_finalize(st);
	exec(db, "ROLLBACK");
	return r < 0 ? r : -EIO;
}

int cp_auth_cache_clear(struct ws_store *s)
{
	return exec(store_db(s), "DELETE FROM ocpp_auth_cache");
}

int64_t cp_auth_cache_count(struct ws_store *s)
{
	return query_int(store_db(s), "SELECT count(*) FROM ocpp_auth_cache");
}

int64_t cp_auth_list_version(struct ws_store *s)
{
	sqlite3 *db = store_db(s);
	int64_t n = query_int(db, "SELECT count(*) FROM ocpp_local_list");

	if (n <= 0)
		return n;	/* §5.10: 0 is the empty list */
	return query_int(db, "SELECT coalesce((SELECT version FROM ocpp_local_list_version), 0)");
}

static int list_put(sqlite3 *db, const struct ocpp_authorization_data *d, bool replace)
{
	sqlite3_stmt *st = prep(db, replace ?
		"INSERT OR REPLACE INTO ocpp_local_list (id_tag, status, expiry, expiry_ms, parent_id_tag)"
		" VALUES (?, ?, ?, ?, ?)" :
		"INSERT INTO ocpp_local_list (id_tag, status, expiry, expiry_ms, parent_id_tag)"
		" VALUES (?, ?, ?, ?, ?)");

	if (!st || sqlite3_bind_text(st, 1, d->id_tag, -1, SQLITE_STATIC) != SQLITE_OK ||
	    bind_info(st, 2, &d->id_tag_info) < 0) {
		sqlite3_finalize(st);
		return -EIO;
	}
	return step_done(st);
}

static int list_delete(sqlite3 *db, const char *id_tag)
{
	sqlite3_stmt *st = prep(db, "DELETE FROM ocpp_local_list WHERE id_tag = ?");

	if (!st || sqlite3_bind_text(st, 1, id_tag, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -EIO;
	}
	return step_done(st);
}

enum ocpp_update_status cp_auth_list_update(struct ws_store *s,
					    const struct ocpp_send_local_list_req *req,
					    int64_t max_len, int64_t max_send, const char **why)
{
	sqlite3 *db = store_db(s);
	bool full = req->update_type == OCPP_UPDATE_FULL;
	size_t n = req->has_local_authorization_list ? req->n_local_authorization_list : 0;
	sqlite3_stmt *st;
	int64_t v;

	*why = "";
	if (req->list_version <= 0) {
		*why = "listVersion must be above 0 (errata 3.52)";
		return OCPP_UPDATE_STATUS_FAILED;
	}
	if ((int64_t)n > max_send) {
		*why = "more entries than SendLocalListMaxLength";
		return OCPP_UPDATE_STATUS_FAILED;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ocpp_authorization_data *d = &req->local_authorization_list[i];
		if (!id_tag_ok(d->id_tag)) {
			*why = "an empty idTag";
			return OCPP_UPDATE_STATUS_FAILED;
		}
		if (full && !d->has_id_tag_info) {
			*why = "a Full update with an entry without idTagInfo";
			return OCPP_UPDATE_STATUS_FAILED;
		}
	}
	if (!full) {
		v = cp_auth_list_version(s);
		if (v < 0) {
			*why = "store error";
			return OCPP_UPDATE_STATUS_FAILED;
		}
		if (req->list_version <= v) {
			*why = "listVersion not above the version of the list";
			return OCPP_UPDATE_STATUS_VERSION_MISMATCH;
		}
	}
	if (exec(db, "BEGIN IMMEDIATE") < 0) {
		*why = "store error";
		return OCPP_UPDATE_STATUS_FAILED;
	}
	*why = "store error";
	if (full && exec(db, "DELETE FROM ocpp_local_list") < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct ocpp_authorization_data *d = &req->local_authorization_list[i];
		int r;
		if (d->has_id_tag_info)
			r = list_put(db, d, !full);
		else
			r = list_delete(db, d->id_tag);
		if (r < 0) {
			/* a Full list names each idTag once: a second one
			 * fails the primary key */
			if (full && sqlite3_errcode(db) == SQLITE_CONSTRAINT)
				*why = "an idTag twice in a Full update";
			goto fail;
		}
	}
	v = query_int(db, "SELECT count(*) FROM ocpp_local_list");
	if (v < 0)
		goto fail;
	if (v > max_len) {
		*why = "the list would exceed LocalAuthListMaxLength";
		goto fail;
	}
	st = prep(db, "INSERT OR REPLACE INTO ocpp_local_list_version (one, version) VALUES (1, ?)");
	if (!st || sqlite3_bind_int64(st, 1, req->list_version) != SQLITE_OK || step_done(st) < 0) {
		sqlite3_finalize(st);
		goto fail;
	}
	/* §3.5.3: an idTag of the list is not in the cache */
	if (exec(db, "DELETE FROM ocpp_auth_cache WHERE id_tag IN"
		 " (SELECT id_tag FROM ocpp_local_list)") < 0 ||
	    exec(db, "COMMIT") < 0)
		goto fail;
	*why = "";
	return OCPP_UPDATE_STATUS_ACCEPTED;
fail:
	exec(db, "ROLLBACK");
	return OCPP_UPDATE_STATUS_FAILED;
}

/* ---- learning from the Central System --------------------------------------- */

static bool list_in_force(struct ocpp_cp *cp)
{
	return cp->store && ocpp_config_bool(cp->keys, "LocalAuthListEnabled");
}

static bool cache_in_force(struct ocpp_cp *cp)
{
	return cp->store && ocpp_config_bool(cp->keys, "AuthorizationCacheEnabled");
}

void cp_auth_learn(struct ocpp_cp *cp, const char *id_tag, const struct ocpp_id_tag_info *info)
{
	struct ocpp_id_tag_info in_list;
	int64_t now = ocpp_cp_now_ms(cp);

	if (!cache_in_force(cp) || !id_tag_ok(id_tag))
		return;
	/* §3.5.3: an idTag of the list is never cached */
	if (list_in_force(cp) && cp_auth_list_get(cp->store, id_tag, now, &in_list) != 0)
		return;
	if (cp_auth_cache_put(cp->store, id_tag, info, now, CP_AUTH_CACHE_MAX) < 0)
		ws_err("ocpp: cannot write idTag %s to the authorization cache", id_tag);
	else
		ws_debug("ocpp: authorization cache: idTag %s %s", id_tag,
			 ocpp_authorization_status_str(info->status));
}

void cp_auth_tx_answer(struct ocpp_cp *cp, int64_t seq, const struct ocpp_link_answer *a)
{
	const struct ocpp_id_tag_info *info = NULL;
	struct ocpp_queue_entry e;

	if (a->status != OCPP_LINK_OK || !a->conf || !a->action)
		return;
	if (strcmp(a->action->name, "StartTransaction") == 0) {
		const struct ocpp_start_transaction_conf *conf = a->conf;
		info = &conf->id_tag_info;
	} else if (strcmp(a->action->name, "StopTransaction") == 0) {
		const struct ocpp_stop_transaction_conf *conf = a->conf;
		if (conf->has_id_tag_info)
			info = &conf->id_tag_info;
	}
	/* the idTag is in the request, still at the head of the queue */
	if (!info || !cache_in_force(cp) || ocpp_queue_head(cp->queue, &e) != 0)
		return;
	if (e.seq == seq) {
		json_t *p = json_loads(e.payload, 0, NULL);
		const char *tag = json_string_value(json_object_get(p, "idTag"));
		if (tag)
			cp_auth_learn(cp, tag, info);
		json_decref(p);
	}
	ocpp_queue_entry_clear(&e);
}

/* ---- the decision ------------------------------------------------------------- */

enum auth_path {
	AUTH_CSMS,		/* the Central System answered */
	AUTH_PRE_LIST,		/* online, LocalPreAuthorize, from the list */
	AUTH_PRE_CACHE,		/* online, LocalPreAuthorize, from the cache */
	AUTH_OFF_LIST,		/* offline, from the list */
	AUTH_OFF_CACHE,		/* offline, from the cache */
	AUTH_OFF_UNKNOWN,	/* offline, known nowhere: AllowOfflineTxForUnknownId */
	AUTH_OFF_NOT_LOCAL,	/* offline, Accepted locally but LocalAuthorizeOffline false */
};

static const char *const path_names[] = {
	[AUTH_CSMS] = "the Central System",
	[AUTH_PRE_LIST] = "the local list (LocalPreAuthorize)",
	[AUTH_PRE_CACHE] = "the cache (LocalPreAuthorize)",
	[AUTH_OFF_LIST] = "the local list (offline)",
	[AUTH_OFF_CACHE] = "the cache (offline)",
	[AUTH_OFF_UNKNOWN] = "AllowOfflineTxForUnknownId (offline, unknown idTag)",
	[AUTH_OFF_NOT_LOCAL] = "AllowOfflineTxForUnknownId (offline, LocalAuthorizeOffline is false)",
};

struct auth_req {
	lws_sorted_usec_list_t sul;	/* a local answer, from the loop */
	struct ocpp_cp *cp;
	unsigned connector;
	char id_tag[CP_AUTH_ID_TAG_MAX + 1];
	ocpp_cp_auth_fn cb;
	void *user;
	/* the local decision, when taken */
	enum auth_path path;
	bool accepted;
	const char *status;
};

/* What the list (first) or the cache know of id_tag: CP_AUTH_LIST,
 * CP_AUTH_CACHE with *info, or CP_AUTH_NONE.  touch: a cache entry found
 * becomes the most recently used.  A store error is logged and counts as
 * not known. */
static enum cp_auth_source local_lookup(struct ocpp_cp *cp, const char *id_tag, bool touch,
					struct ocpp_id_tag_info *info)
{
	int64_t now = ocpp_cp_now_ms(cp);
	int r;

	if (list_in_force(cp)) {
		r = cp_auth_list_get(cp->store, id_tag, now, info);
		if (r == 1)
			return CP_AUTH_LIST;
		if (r < 0)
			ws_err("ocpp: cannot read the local authorization list");
	}
	if (cache_in_force(cp)) {
		r = cp_auth_cache_get(cp->store, id_tag, now, touch, info);
		if (r == 1)
			return CP_AUTH_CACHE;
		if (r < 0)
			ws_err("ocpp: cannot read the authorization cache");
	}
	return CP_AUTH_NONE;
}

static void finish(struct auth_req *q)
{
	ws_info("ocpp: connector %u idTag %s: %s (%s), decided by %s", q->connector, q->id_tag,
		q->accepted ? "accepted" : "refused", q->status, path_names[q->path]);
	q->cb(q->user, q->connector, q->accepted, q->status);
	free(q);
}

/* §3.5.4: offline, the list and the cache decide for the idTags they know;
 * AllowOfflineTxForUnknownId for the others. */
static void decide_offline(struct auth_req *q)
{
	struct ocpp_cp *cp = q->cp;
	struct ocpp_id_tag_info info;
	enum cp_auth_source src = local_lookup(cp, q->id_tag, true, &info);
	bool unknown_ok = ocpp_config_bool(cp->keys, "AllowOfflineTxForUnknownId");

	if (src == CP_AUTH_NONE) {
		q->path = AUTH_OFF_UNKNOWN;
		q->accepted = unknown_ok;
		q->status = "Offline";
	} else if (info.status != OCPP_AUTHORIZATION_STATUS_ACCEPTED) {
		/* known as not valid: refused, whatever the keys say */
		q->path = src == CP_AUTH_LIST ? AUTH_OFF_LIST : AUTH_OFF_CACHE;
		q->accepted = false;
		q->status = ocpp_authorization_status_str(info.status);
	} else if (ocpp_config_bool(cp->keys, "LocalAuthorizeOffline")) {
		q->path = src == CP_AUTH_LIST ? AUTH_OFF_LIST : AUTH_OFF_CACHE;
		q->accepted = true;
		q->status = "Accepted";
	} else {
		/* local entries may not authorize: as unknown */
		q->path = AUTH_OFF_NOT_LOCAL;
		q->accepted = unknown_ok;
		q->status = "Offline";
	}
}

static void on_authorize(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	struct auth_req *q = user;

	if (a->status == OCPP_LINK_OK) {
		const struct ocpp_authorize_conf *conf = a->conf;
		cp_auth_learn(q->cp, q->id_tag, &conf->id_tag_info);
		q->path = AUTH_CSMS;
		q->accepted = conf->id_tag_info.status == OCPP_AUTHORIZATION_STATUS_ACCEPTED;
		q->status = ocpp_authorization_status_str(conf->id_tag_info.status);
	} else {
		/* no answer, a CALLERROR, an invalid answer: as if offline */
		ws_warn("ocpp: Authorize for idTag %s: %s %s; deciding offline", q->id_tag,
			ocpp_link_status_str(a->status), a->error_desc);
		decide_offline(q);
	}
	finish(q);
}

static void local_answer_cb(lws_sorted_usec_list_t *sul)
{
	finish(lws_container_of(sul, struct auth_req, sul));
}

int ocpp_cp_authorize(struct ocpp_cp *cp, unsigned connector, const char *id_tag,
		      ocpp_cp_auth_fn cb, void *user)
{
	struct ocpp_id_tag_info info;

	if (!id_tag_ok(id_tag))
		return -EINVAL;
	struct auth_req *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->cp = cp;
	q->connector = connector;
	strcpy(q->id_tag, id_tag);
	q->cb = cb;
	q->user = user;
	if (cp->state == OCPP_CP_ACCEPTED) {
		/* §3.5: LocalPreAuthorize starts an idTag valid locally at
		 * once; one known as not valid is asked about (§3.5.1) */
		if (ocpp_config_bool(cp->keys, "LocalPreAuthorize")) {
			enum cp_auth_source src = local_lookup(cp, id_tag, true, &info);
			if (src != CP_AUTH_NONE && info.status == OCPP_AUTHORIZATION_STATUS_ACCEPTED) {
				q->path = src == CP_AUTH_LIST ? AUTH_PRE_LIST : AUTH_PRE_CACHE;
				q->accepted = true;
				q->status = "Accepted";
				lws_sul_schedule(cp->ctx, 0, &q->sul, local_answer_cb, 1);
				return 0;
			}
		}
		struct ocpp_err err = { 0 };
		json_t *p = json_pack("{s:s}", "idTag", id_tag);
		int r = ocpp_link_call(cp->link, "Authorize", p, on_authorize, q, NULL, &err);
		json_decref(p);
		if (r == 0)
			return 0;
		if (r == OCPP_LINK_E_INVALID) {
			free(q);
			return -EINVAL;
		}
	}
	/* offline: decided locally, answered from the loop, never re-entrantly */
	decide_offline(q);
	lws_sul_schedule(cp->ctx, 0, &q->sul, local_answer_cb, 1);
	return 0;
}

/* ---- the Central System's requests ------------------------------------------ */

void cp_handle_send_local_list(struct ocpp_cp *cp, const char *id, void *req)
{
	const struct ocpp_send_local_list_req *r = req;
	enum ocpp_update_status status;
	const char *why = "LocalAuthListEnabled is false";

	if (!list_in_force(cp))
		status = OCPP_UPDATE_STATUS_NOT_SUPPORTED;
	else
		status = cp_auth_list_update(cp->store, r,
					     ocpp_config_int(cp->keys, "LocalAuthListMaxLength"),
					     ocpp_config_int(cp->keys, "SendLocalListMaxLength"), &why);
	if (status == OCPP_UPDATE_STATUS_ACCEPTED)
		ws_info("ocpp: SendLocalList %s, version %d, %zu entries: Accepted",
			ocpp_update_str(r->update_type), r->list_version,
			r->has_local_authorization_list ? r->n_local_authorization_list : 0);
	else
		ws_warn("ocpp: SendLocalList %s, version %d: %s (%s)",
			ocpp_update_str(r->update_type), r->list_version,
			ocpp_update_status_str(status), why);
	cp_reply(cp, id, json_pack("{s:s}", "status", ocpp_update_status_str(status)));
}

void cp_handle_get_local_list_version(struct ocpp_cp *cp, const char *id, void *req)
{
	int64_t v = -1;		/* §5.10: no local list */

	if (list_in_force(cp)) {
		v = cp_auth_list_version(cp->store);
		if (v < 0) {
			ws_err("ocpp: cannot read the local authorization list");
			ocpp_link_reply_error(cp->link, id, OCPP_ERR_INTERNAL_ERROR,
					      "cannot read the local authorization list");
			return;
		}
	}
	cp_reply(cp, id, json_pack("{s:I}", "listVersion", (json_int_t)v));
}

int cp_auth_clear_cache(struct ocpp_cp *cp)
{
	/* errata 3.23 answers Rejected when there is no cache; disabled, it
	 * is not in operation either, and is left as it is */
	if (!cache_in_force(cp))
		return 1;
	return cp_auth_cache_clear(cp->store);
}
