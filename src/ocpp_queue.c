/* ocpp_queue.c: the durable FIFO of transaction-related OCPP messages.
 *
 * Rows of ocpp_queue in seq order (AUTOINCREMENT: a number is never used
 * twice, so the order survives restarts and an old seq never names a new
 * message).  Each change is one SQLite transaction: one WAL fsync, about a
 * millisecond on flash, per enqueue, attempt and done.  head() is an index
 * lookup plus, for Stop/MeterValues, a JSON parse and dump of the payload
 * to write the transactionId (tens of microseconds for a meter value).
 *
 * When the cap is reached, a droppable MeterValues (periodic or
 * clock-aligned samples) coming in first thins the queue: every second
 * droppable message after the head goes, which halves the time resolution
 * of what is queued and keeps its span (errata 3.89 recommends dropping
 * intermediate values, never the start and stop ones).  StartTransaction,
 * StopTransaction and kept MeterValues are never dropped for space.
 *
 * The values a StopTransaction's transactionData will carry are rows of
 * ocpp_tx_data, at most StopTransactionMaxMeterValues per transaction,
 * thinned the same way; one commit per value kept. */
#include "wattstream/ocpp_queue.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/store.h"

struct ocpp_queue {
	struct ws_store *store;
	sqlite3 *db;
	struct ocpp_queue_limits limits;
	size_t count, bytes;	/* mirror of the table: rows, payload bytes */
	int64_t d_count, d_bytes; /* changes of the open transaction */
};

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Runs a statement that returns no row (or whose rows are ignored). */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static sqlite3_stmt *prep(struct ocpp_queue *q, const char *sql)
{
	sqlite3_stmt *st;

	return sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK ? st : NULL;
}

static int refresh(struct ocpp_queue *q)
{
	sqlite3_stmt *st = prep(q, "SELECT count(*), total(length(CAST(payload AS BLOB))) FROM ocpp_queue");
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		q->count = (size_t)sqlite3_column_int64(st, 0);
		q->bytes = (size_t)sqlite3_column_double(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int ocpp_queue_new(struct ocpp_queue **ret, struct ws_store *store,
		   const struct ocpp_queue_limits *limits)
{
	struct ocpp_queue *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	q->store = store;
	q->db = store_db(store);
	q->limits = limits ? *limits : (struct ocpp_queue_limits){
		OCPP_QUEUE_MAX_MESSAGES, OCPP_QUEUE_MAX_BYTES };
	r = store_schema_version(store) >= 2 ? refresh(q) : -EIO;
	if (r < 0) {
		free(q);
		return r;
	}
	*ret = q;
	return 0;
}

struct ocpp_queue *ocpp_queue_free(struct ocpp_queue *q)
{
	free(q);
	return NULL;
}

size_t ocpp_queue_count(struct ocpp_queue *q)
{
	return q->count;
}

size_t ocpp_queue_bytes(struct ocpp_queue *q)
{
	return q->bytes;
}

/* A JSON object of bounded size, without duplicate members. */
static bool payload_ok(const char *payload)
{
	json_t *j;
	bool ok;

	if (!payload || strlen(payload) > OCPP_QUEUE_PAYLOAD_MAX)
		return false;
	j = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	ok = j && json_is_object(j);
	json_decref(j);
	return ok;
}

static int begin(struct ocpp_queue *q)
{
	q->d_count = q->d_bytes = 0;
	return exec(q->db, "BEGIN IMMEDIATE");
}

/* Commits and applies the counted changes to the mirror; on failure rolls
 * back and counts the table again (a scan, but only after an error). */
static int commit(struct ocpp_queue *q, int r)
{
	if (r == 0 && exec(q->db, "COMMIT") < 0)
		r = -EIO;
	if (r == 0) {
		q->count = (size_t)((int64_t)q->count + q->d_count);
		q->bytes = (size_t)((int64_t)q->bytes + q->d_bytes);
		return 0;
	}
	exec(q->db, "ROLLBACK");
	refresh(q);
	return r;
}

static int insert(struct ocpp_queue *q, const char *action, unsigned connector,
		  int64_t local_tx, bool keep, const char *payload, int64_t now_ms,
		  int64_t *seq)
{
	sqlite3_stmt *st = prep(q,
		"INSERT INTO ocpp_queue(action, connector, local_tx, keep, payload, created_ms) "
		"VALUES (?, ?, ?, ?, ?, ?)");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, connector);
	if (local_tx)
		sqlite3_bind_int64(st, 3, local_tx);
	else
		sqlite3_bind_null(st, 3);	/* a message of no transaction */
	sqlite3_bind_int(st, 4, keep);
	sqlite3_bind_text(st, 5, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now_ms);
	r = step_done(st);
	if (r < 0)
		return r;
	if (seq)
		*seq = sqlite3_last_insert_rowid(q->db);
	q->d_count++;
	q->d_bytes += (int64_t)strlen(payload);
	return 0;
}

/* Bounded log of what was given up. */
static int log_dropped(struct ocpp_queue *q, int64_t now_ms, const char *reason,
		       int64_t count, int64_t seq)
{
	sqlite3_stmt *st;
	int r;

	if (seq > 0)
		st = prep(q, "INSERT INTO ocpp_queue_dropped(dropped_ms, reason, count, seq, action, "
			     "connector, local_tx, attempts, failures, payload) "
			     "SELECT ?1, ?2, 1, seq, action, connector, local_tx, attempts, failures, "
			     "payload FROM ocpp_queue WHERE seq = ?3");
	else
		st = prep(q, "INSERT INTO ocpp_queue_dropped(dropped_ms, reason, count) "
			     "VALUES (?1, ?2, ?4)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	if (seq > 0)
		sqlite3_bind_int64(st, 3, seq);
	else
		sqlite3_bind_int64(st, 4, count);
	r = step_done(st);
	if (r < 0)
		return r;
	st = prep(q, "DELETE FROM ocpp_queue_dropped WHERE id <= "
		     "(SELECT id FROM ocpp_queue_dropped ORDER BY id DESC LIMIT 1 OFFSET ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, OCPP_QUEUE_DROPPED_KEPT);
	return step_done(st);
}

static bool full(struct ocpp_queue *q, size_t more_bytes)
{
	return q->count + 1 > q->limits.max_messages ||
	       q->bytes + more_bytes > q->limits.max_bytes;
}

/* Deletes every second droppable message after the head.  Returns how
 * many went, or -EIO. */
static int thin(struct ocpp_queue *q, int64_t now_ms)
{
	sqlite3_stmt *st = prep(q,
		"DELETE FROM ocpp_queue WHERE seq IN (SELECT seq FROM ("
		"  SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM ocpp_queue"
		"  WHERE keep = 0 AND seq > (SELECT min(seq) FROM ocpp_queue))"
		" WHERE rn % 2 = 0)");
	int r, n;

	if (!st)
		return -EIO;
	r = step_done(st);
	if (r < 0)
		return r;
	n = sqlite3_changes(q->db);
	if (n > 0) {
		r = log_dropped(q, now_ms, "thinned", n, 0);
		if (r < 0)
			return r;
	}
	return n;
}

int ocpp_queue_tx_open(struct ocpp_queue *q, const struct ocpp_queue_tx *tx,
		       const char *start_payload, int64_t now_ms,
		       int64_t *local_tx, int64_t *seq)
{
	sqlite3_stmt *st;
	size_t tag_len = strnlen(tx->id_tag, sizeof(tx->id_tag));
	int64_t id = 0, s = 0;
	int r;

	if (tx->connector == 0 || tag_len == 0 || tag_len > OCPP_QUEUE_ID_TAG_MAX ||
	    !payload_ok(start_payload))
		return OCPP_QUEUE_E_INVALID;
	if (begin(q) < 0)
		return -EIO;
	r = -EIO;
	st = prep(q, "INSERT INTO ocpp_tx(connector, id_tag, meter_start_wh, start_ms) "
		     "VALUES (?, ?, ?, ?)");
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, tx->connector);
	sqlite3_bind_text(st, 2, tx->id_tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tx->meter_start_wh);
	sqlite3_bind_int64(st, 4, tx->start_ms);
	r = step_done(st);
	if (r < 0)
		goto out;
	id = sqlite3_last_insert_rowid(q->db);
	/* a Start is never refused for space: it is one row per charge */
	r = insert(q, "StartTransaction", tx->connector, id, true, start_payload, now_ms, &s);
out:
	r = commit(q, r);
	if (r == 0) {
		if (local_tx)
			*local_tx = id;
		if (seq)
			*seq = s;
	}
	return r;
}

int ocpp_queue_enqueue(struct ocpp_queue *q, const char *action, unsigned connector,
		       int64_t local_tx, const char *payload, unsigned flags,
		       int64_t now_ms, int64_t *seq)
{
	bool stop = action && strcmp(action, "StopTransaction") == 0;
	bool keep = stop || (flags & OCPP_QUEUE_F_KEEP);
	struct ocpp_queue_tx tx;
	size_t len;
	int64_t s = 0;
	int r;

	if (!action || (!stop && strcmp(action, "MeterValues") != 0) || !payload_ok(payload))
		return OCPP_QUEUE_E_INVALID;
	len = strlen(payload);
	r = ocpp_queue_tx_get(q, local_tx, &tx);
	if (r != 0)
		return r;
	if (tx.connector != connector || tx.stop_ms != 0)
		return OCPP_QUEUE_E_INVALID;
	if (begin(q) < 0)
		return -EIO;
	if (stop) {
		sqlite3_stmt *st = prep(q, "UPDATE ocpp_tx SET stop_ms = ? WHERE local_tx = ?");
		r = -EIO;
		if (!st)
			goto out;
		/* 0 is "open": a stop at the epoch (clock unknown) is 1 ms later */
		sqlite3_bind_int64(st, 1, now_ms > 0 ? now_ms : 1);
		sqlite3_bind_int64(st, 2, local_tx);
		r = step_done(st);
		if (r < 0)
			goto out;
		/* its transactionData is in the payload now */
		r = -EIO;
		st = prep(q, "DELETE FROM ocpp_tx_data WHERE local_tx = ?");
		if (!st)
			goto out;
		sqlite3_bind_int64(st, 1, local_tx);
		r = step_done(st);
		if (r < 0)
			goto out;
	} else if (!keep && full(q, len)) {
		r = thin(q, now_ms);
		if (r < 0)
			goto out;
		/* count inside the open transaction: one scan per thinning,
		 * which halves the droppable rows, so rare */
		r = refresh(q);
		q->d_count = q->d_bytes = 0;
		if (r < 0)
			goto out;
		if (full(q, len)) {
			/* nothing left to thin: this sample is the one that goes */
			r = commit(q, log_dropped(q, now_ms, "full", 1, 0));
			return r == 0 ? OCPP_QUEUE_E_FULL : r;
		}
	}
	r = insert(q, action, connector, local_tx, keep, payload, now_ms, &s);
out:
	r = commit(q, r);
	if (r == 0 && seq)
		*seq = s;
	return r;
}

int ocpp_queue_enqueue_data(struct ocpp_queue *q, unsigned connector, const char *payload,
			    int64_t now_ms, int64_t *seq)
{
	int64_t s = 0;
	int r;

	if (!payload_ok(payload))
		return OCPP_QUEUE_E_INVALID;
	if (begin(q) < 0)
		return -EIO;
	/* never thinned: it is the only record of a session's money */
	r = commit(q, insert(q, "DataTransfer", connector, 0, true, payload, now_ms, &s));
	if (r == 0 && seq)
		*seq = s;
	return r;
}

static void column_copy(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int ocpp_queue_tx_get(struct ocpp_queue *q, int64_t local_tx, struct ocpp_queue_tx *out)
{
	sqlite3_stmt *st = prep(q,
		"SELECT local_tx, connector, id_tag, meter_start_wh, start_ms, start_state, "
		"remote_tx, stop_ms FROM ocpp_tx WHERE local_tx = ?");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, local_tx);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->local_tx = sqlite3_column_int64(st, 0);
		out->connector = (unsigned)sqlite3_column_int64(st, 1);
		column_copy(out->id_tag, sizeof(out->id_tag), st, 2);
		out->meter_start_wh = sqlite3_column_int64(st, 3);
		out->start_ms = sqlite3_column_int64(st, 4);
		out->start_state = (enum ocpp_queue_start_state)sqlite3_column_int(st, 5);
		out->remote_tx = sqlite3_column_type(st, 6) == SQLITE_NULL ?
				 OCPP_QUEUE_NO_REMOTE_TX : sqlite3_column_int64(st, 6);
		out->stop_ms = sqlite3_column_int64(st, 7);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? OCPP_QUEUE_E_NOT_FOUND : -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

int ocpp_queue_tx_list_open(struct ocpp_queue *q, struct ocpp_queue_tx *out, int max)
{
	sqlite3_stmt *st = prep(q, "SELECT local_tx FROM ocpp_tx WHERE stop_ms IS NULL "
				   "ORDER BY local_tx LIMIT ?");
	int64_t ids[64];
	int n = 0, rc;

	if (!st)
		return -EIO;
	if (max > 64)
		max = 64;	/* one per connector: 64 connectors at most */
	sqlite3_bind_int(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return -EIO;
	for (int i = 0; i < n; i++)
		if (ocpp_queue_tx_get(q, ids[i], &out[i]) != 0)
			return -EIO;
	return n;
}

/* ---- transactionData ------------------------------------------------------ */

int ocpp_queue_tx_data_count(struct ocpp_queue *q, int64_t local_tx)
{
	sqlite3_stmt *st = prep(q, "SELECT count(*) FROM ocpp_tx_data WHERE local_tx = ?");
	int n = -EIO;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, local_tx);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Deletes every second value that is not kept, the first one included.
 * Returns how many went, or -EIO. */
static int thin_data(struct ocpp_queue *q, int64_t local_tx)
{
	sqlite3_stmt *st = prep(q,
		"DELETE FROM ocpp_tx_data WHERE id IN (SELECT id FROM ("
		"  SELECT id, row_number() OVER (ORDER BY id) AS rn FROM ocpp_tx_data"
		"  WHERE local_tx = ? AND keep = 0)"
		" WHERE rn % 2 = 1)");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, local_tx);
	r = step_done(st);
	return r < 0 ? r : sqlite3_changes(q->db);
}

int ocpp_queue_tx_data_add(struct ocpp_queue *q, int64_t local_tx, const char *meter_value,
			   bool keep, unsigned max)
{
	struct ocpp_queue_tx tx;
	sqlite3_stmt *st;
	int r, n;

	if (max < 2 || !payload_ok(meter_value))
		return OCPP_QUEUE_E_INVALID;
	r = ocpp_queue_tx_get(q, local_tx, &tx);
	if (r != 0)
		return r;
	if (tx.stop_ms != 0)
		return OCPP_QUEUE_E_NOT_FOUND;
	if (begin(q) < 0)
		return -EIO;
	n = ocpp_queue_tx_data_count(q, local_tx);
	r = n < 0 ? n : 0;
	if (r == 0 && (unsigned)n + 1 > max - 1) {
		r = thin_data(q, local_tx);
		if (r >= 0) {
			n = ocpp_queue_tx_data_count(q, local_tx);
			r = n < 0 ? n : (unsigned)n + 1 > max - 1 ? OCPP_QUEUE_E_FULL : 0;
		}
	}
	if (r == 0) {
		r = -EIO;
		st = prep(q, "INSERT INTO ocpp_tx_data(local_tx, keep, meter_value) VALUES (?, ?, ?)");
		if (st) {
			sqlite3_bind_int64(st, 1, local_tx);
			sqlite3_bind_int(st, 2, keep);
			sqlite3_bind_text(st, 3, meter_value, -1, SQLITE_STATIC);
			r = step_done(st);
		}
	}
	if (r == OCPP_QUEUE_E_FULL) {
		/* what thinning did stays: commit it, refuse this one */
		r = commit(q, 0);
		return r == 0 ? OCPP_QUEUE_E_FULL : r;
	}
	return commit(q, r);
}

int ocpp_queue_tx_data_get(struct ocpp_queue *q, int64_t local_tx, char **text)
{
	sqlite3_stmt *st = prep(q, "SELECT meter_value FROM ocpp_tx_data WHERE local_tx = ? "
				   "ORDER BY id");
	json_t *arr = json_array();
	int rc, r = 0;

	*text = NULL;
	if (!st || !arr) {
		sqlite3_finalize(st);
		json_decref(arr);
		return st ? -ENOMEM : -EIO;
	}
	sqlite3_bind_int64(st, 1, local_tx);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		json_t *mv = t ? json_loads(t, 0, NULL) : NULL;
		/* checked when kept: a damaged row is left out, not the stop */
		if (mv && json_is_object(mv))
			json_array_append(arr, mv);
		json_decref(mv);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		r = -EIO;
	if (r == 0 && !(*text = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		r = -ENOMEM;
	json_decref(arr);
	return r;
}

/* Writes the remote transaction id into a Stop/MeterValues payload. */
static int substitute(const char *payload, int64_t remote_tx, char **ret)
{
	json_t *j = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	char *out = NULL;

	if (!j || !json_is_object(j)) {
		json_decref(j);
		return -EIO;	/* checked at enqueue: the file was damaged */
	}
	if (json_object_set_new(j, "transactionId", json_integer(remote_tx)) == 0)
		out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

int ocpp_queue_head(struct ocpp_queue *q, struct ocpp_queue_entry *e)
{
	sqlite3_stmt *st = prep(q,
		"SELECT seq, action, connector, local_tx, keep, payload, created_ms, attempts, "
		"failures, last_attempt_ms, last_failure_ms FROM ocpp_queue ORDER BY seq LIMIT 1");
	struct ocpp_queue_entry h = { 0 };
	const char *payload;
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? OCPP_QUEUE_E_EMPTY : -EIO;
	}
	h.seq = sqlite3_column_int64(st, 0);
	column_copy(h.action, sizeof(h.action), st, 1);
	h.connector = (unsigned)sqlite3_column_int64(st, 2);
	h.local_tx = sqlite3_column_int64(st, 3);
	h.keep = sqlite3_column_int(st, 4) != 0;
	payload = (const char *)sqlite3_column_text(st, 5);
	h.created_ms = sqlite3_column_int64(st, 6);
	h.attempts = (unsigned)sqlite3_column_int64(st, 7);
	h.failures = (unsigned)sqlite3_column_int64(st, 8);
	h.last_attempt_ms = sqlite3_column_int64(st, 9);
	h.last_failure_ms = sqlite3_column_int64(st, 10);
	h.payload = payload ? strdup(payload) : NULL;
	sqlite3_finalize(st);
	if (!h.payload)
		return payload ? -ENOMEM : -EIO;
	if (h.local_tx && strcmp(h.action, "StartTransaction") != 0) {
		struct ocpp_queue_tx tx;
		char *sub;
		rc = ocpp_queue_tx_get(q, h.local_tx, &tx);
		if (rc == 0)
			/* FIFO: the Start went before, so it is confirmed or
			 * dropped; -1 stands for "no id" (errata 3.18) */
			rc = substitute(h.payload, tx.start_state == OCPP_QUEUE_START_CONFIRMED ?
					tx.remote_tx : OCPP_QUEUE_NO_REMOTE_TX, &sub);
		if (rc != 0) {
			free(h.payload);
			return rc < 0 ? rc : -EIO;
		}
		free(h.payload);
		h.payload = sub;
	}
	*e = h;
	return 0;
}

void ocpp_queue_entry_clear(struct ocpp_queue_entry *e)
{
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

int64_t ocpp_queue_retry_at_ms(const struct ocpp_queue_entry *e, int64_t retry_interval_s)
{
	if (e->failures == 0)
		return 0;
	return e->last_failure_ms + retry_interval_s * 1000 * (int64_t)e->failures;
}

static int update_seq(struct ocpp_queue *q, const char *sql, int64_t seq, int64_t now_ms)
{
	sqlite3_stmt *st = prep(q, sql);
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, seq);
	r = step_done(st);
	if (r < 0)
		return r;
	return sqlite3_changes(q->db) ? 0 : OCPP_QUEUE_E_NOT_FOUND;
}

int ocpp_queue_attempt(struct ocpp_queue *q, int64_t seq, int64_t now_ms)
{
	return update_seq(q, "UPDATE ocpp_queue SET attempts = attempts + 1, last_attempt_ms = ?1 "
			     "WHERE seq = ?2", seq, now_ms);
}

int ocpp_queue_failed(struct ocpp_queue *q, int64_t seq, int64_t now_ms)
{
	return update_seq(q, "UPDATE ocpp_queue SET failures = failures + 1, last_failure_ms = ?1 "
			     "WHERE seq = ?2", seq, now_ms);
}

/* Looks up a message's action and transaction inside the open transaction. */
static int lookup(struct ocpp_queue *q, int64_t seq, char *action, size_t size, int64_t *local_tx,
		  int64_t *len)
{
	sqlite3_stmt *st = prep(q, "SELECT action, local_tx, length(CAST(payload AS BLOB)) "
				   "FROM ocpp_queue WHERE seq = ?");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		column_copy(action, size, st, 0);
		*local_tx = sqlite3_column_int64(st, 1);
		*len = sqlite3_column_int64(st, 2);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? OCPP_QUEUE_E_NOT_FOUND : -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Removes the message, and the transaction record once it is stopped and
 * has nothing queued any more. */
static int remove_row(struct ocpp_queue *q, int64_t seq, int64_t local_tx, int64_t len)
{
	sqlite3_stmt *st = prep(q, "DELETE FROM ocpp_queue WHERE seq = ?");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, seq);
	r = step_done(st);
	if (r < 0)
		return r;
	q->d_count--;
	q->d_bytes -= len;
	st = prep(q, "DELETE FROM ocpp_tx WHERE local_tx = ?1 AND stop_ms IS NOT NULL AND "
		     "NOT EXISTS (SELECT 1 FROM ocpp_queue WHERE local_tx = ?1)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, local_tx);
	return step_done(st);
}

static int set_start(struct ocpp_queue *q, int64_t local_tx, enum ocpp_queue_start_state state,
		     int64_t remote_tx)
{
	sqlite3_stmt *st = prep(q, "UPDATE ocpp_tx SET start_state = ?, remote_tx = ? WHERE local_tx = ?");

	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, state);
	if (state == OCPP_QUEUE_START_CONFIRMED)
		sqlite3_bind_int64(st, 2, remote_tx);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, local_tx);
	return step_done(st);
}

static int finish(struct ocpp_queue *q, int64_t seq, int want_start, int64_t remote_tx,
		  const char *drop_reason, int64_t now_ms)
{
	char action[20];
	int64_t local_tx, len;
	int r;

	if (begin(q) < 0)
		return -EIO;
	r = lookup(q, seq, action, sizeof(action), &local_tx, &len);
	if (r != 0)
		goto out;
	if (want_start >= 0 && (strcmp(action, "StartTransaction") == 0) != want_start) {
		r = OCPP_QUEUE_E_INVALID;
		goto out;
	}
	if (drop_reason)
		r = log_dropped(q, now_ms, drop_reason, 1, seq);
	if (r == 0 && strcmp(action, "StartTransaction") == 0)
		r = set_start(q, local_tx, drop_reason ? OCPP_QUEUE_START_DROPPED :
			      OCPP_QUEUE_START_CONFIRMED, remote_tx);
	if (r == 0)
		r = remove_row(q, seq, local_tx, len);
out:
	return commit(q, r);
}

int ocpp_queue_done(struct ocpp_queue *q, int64_t seq)
{
	return finish(q, seq, 0, 0, NULL, 0);
}

int ocpp_queue_done_start(struct ocpp_queue *q, int64_t seq, int64_t transaction_id)
{
	return finish(q, seq, 1, transaction_id, NULL, 0);
}

int ocpp_queue_drop(struct ocpp_queue *q, int64_t seq, const char *reason, int64_t now_ms)
{
	return finish(q, seq, -1, 0, reason && reason[0] ? reason : "dropped", now_ms);
}

int64_t ocpp_queue_dropped_total(struct ocpp_queue *q)
{
	sqlite3_stmt *st = prep(q, "SELECT total(count) FROM ocpp_queue_dropped");
	int64_t n = -EIO;

	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (int64_t)sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	return n;
}
