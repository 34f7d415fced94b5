/* store.c: SQLite persistence with forward-only migrations.  Every write is
 * one transaction; with WAL and synchronous=FULL that is one fsync of the
 * WAL per commit (about a millisecond on flash), which is why callers
 * throttle what is not precious (the last meter reading). */
#include "wattstream/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/parse.h"

struct ws_store {
	sqlite3 *db;
	int version;
};

/* Migration i brings the schema from version i to i + 1.  Append only. */
static const char *const migrations[] = {
	/* 0 -> 1: meter and faults */
	"CREATE TABLE meter_last ("
	"  connector INTEGER PRIMARY KEY,"
	"  wall_ms INTEGER NOT NULL,"
	"  have INTEGER NOT NULL,"
	"  energy_wh REAL NOT NULL,"
	"  power_w REAL, current_l1_a REAL, current_l2_a REAL, current_l3_a REAL,"
	"  voltage_l1_v REAL, voltage_l2_v REAL, voltage_l3_v REAL);"
	"CREATE TABLE faults ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  connector INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  raised_ms INTEGER NOT NULL,"
	"  cleared_ms INTEGER,"
	"  cleared_by TEXT);"
	"CREATE INDEX faults_by_connector ON faults(connector, id);",
	/* 1 -> 2: OCPP configuration keys set by the CSMS, open transactions,
	 * the transaction-message queue and its log of dropped messages
	 * (src/ocpp_config.c, src/ocpp_queue.c) */
	"CREATE TABLE ocpp_config ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE ocpp_tx ("
	"  local_tx INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  connector INTEGER NOT NULL,"
	"  id_tag TEXT NOT NULL,"
	"  meter_start_wh INTEGER NOT NULL,"
	"  start_ms INTEGER NOT NULL,"
	"  start_state INTEGER NOT NULL DEFAULT 0,"
	"  remote_tx INTEGER,"
	"  stop_ms INTEGER);"
	"CREATE TABLE ocpp_queue ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  action TEXT NOT NULL CHECK (action IN"
	"    ('StartTransaction', 'StopTransaction', 'MeterValues')),"
	"  connector INTEGER NOT NULL,"
	"  local_tx INTEGER NOT NULL REFERENCES ocpp_tx(local_tx),"
	"  keep INTEGER NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  last_attempt_ms INTEGER NOT NULL DEFAULT 0,"
	"  last_failure_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX ocpp_queue_by_tx ON ocpp_queue(local_tx);"
	"CREATE TABLE ocpp_queue_dropped ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  dropped_ms INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  seq INTEGER, action TEXT, connector INTEGER, local_tx INTEGER,"
	"  attempts INTEGER, failures INTEGER, payload TEXT);",
	/* 2 -> 3: ChangeAvailability, kept across restarts */
	"CREATE TABLE ocpp_availability ("
	"  connector INTEGER PRIMARY KEY,"
	"  operative INTEGER NOT NULL,"
	"  scheduled INTEGER);",
	/* 3 -> 4: payment channels (pay_ledger.c); amounts are 32-byte
	 * big-endian BLOBs */
	"CREATE TABLE pay_channels ("
	"  id BLOB PRIMARY KEY,"
	"  highest BLOB, highest_sig BLOB, highest_ms INTEGER,"
	"  billed BLOB, claimed BLOB,"
	"  denied INTEGER NOT NULL DEFAULT 0, deny_reason TEXT);",
	/* 4 -> 5: the OCPP authorization cache (least recently used evicted
	 * first: `used` orders it) and the local authorization list with its
	 * version (ocpp_auth.c).  idTags compare case-insensitively
	 * (IdToken is a CiString).  expiry: the dateTime as received, expiry_ms
	 * its value; both NULL when the idTagInfo has none */
	"CREATE TABLE ocpp_auth_cache ("
	"  id_tag TEXT PRIMARY KEY COLLATE NOCASE,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),"
	"  expiry TEXT, expiry_ms INTEGER,"
	"  parent_id_tag TEXT,"
	"  used INTEGER NOT NULL);"
	"CREATE INDEX ocpp_auth_cache_by_use ON ocpp_auth_cache(used);"
	"CREATE TABLE ocpp_local_list ("
	"  id_tag TEXT PRIMARY KEY COLLATE NOCASE,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),"
	"  expiry TEXT, expiry_ms INTEGER,"
	"  parent_id_tag TEXT);"
	"CREATE TABLE ocpp_local_list_version ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  version INTEGER NOT NULL);",
	/* 5 -> 6: the meter values kept for a transaction's StopTransaction
	 * transactionData (ocpp_queue.c); keep: Transaction.Begin, never
	 * thinned.  Deleted when the StopTransaction is queued */
	"CREATE TABLE ocpp_tx_data ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  local_tx INTEGER NOT NULL,"
	"  keep INTEGER NOT NULL,"
	"  meter_value TEXT NOT NULL);"
	"CREATE INDEX ocpp_tx_data_by_tx ON ocpp_tx_data(local_tx, id);",
	/* 6 -> 7: reservations (ocpp_reserve.c), one per connector */
	"CREATE TABLE ocpp_reservations ("
	"  connector INTEGER PRIMARY KEY,"
	"  id INTEGER NOT NULL UNIQUE,"
	"  expiry_ms INTEGER NOT NULL,"
	"  id_tag TEXT NOT NULL,"
	"  parent_id_tag TEXT);",
	/* 7 -> 8: the queue also carries DataTransfer (the payment totals),
	 * bound to no transaction: local_tx may be NULL.  SQLite cannot
	 * change a CHECK, so the table is rebuilt, its sequence kept */
	"CREATE TABLE ocpp_queue_new ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  action TEXT NOT NULL CHECK (action IN"
	"    ('StartTransaction', 'StopTransaction', 'MeterValues', 'DataTransfer')),"
	"  connector INTEGER NOT NULL,"
	"  local_tx INTEGER REFERENCES ocpp_tx(local_tx),"
	"  keep INTEGER NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  last_attempt_ms INTEGER NOT NULL DEFAULT 0,"
	"  last_failure_ms INTEGER NOT NULL DEFAULT 0,"
	"  CHECK ((local_tx IS NULL) = (action = 'DataTransfer')));"
	"INSERT INTO ocpp_queue_new SELECT * FROM ocpp_queue;"
	"DELETE FROM sqlite_sequence WHERE name = 'ocpp_queue_new';"
	"INSERT INTO sqlite_sequence(name, seq)"
	"  SELECT 'ocpp_queue_new', seq FROM sqlite_sequence WHERE name = 'ocpp_queue';"
	"DROP TABLE ocpp_queue;"
	"ALTER TABLE ocpp_queue_new RENAME TO ocpp_queue;"
	"CREATE INDEX ocpp_queue_by_tx ON ocpp_queue(local_tx);",
};

#define N_MIGRATIONS (int)(sizeof(migrations) / sizeof(migrations[0]))

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int migrate(struct ws_store *s, const char **errmsg)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto io;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v < 0)
		goto io;
	if (v > N_MIGRATIONS) {
		*errmsg = "the database was written by a newer wattstream";
		return STORE_E_NEWER_SCHEMA;
	}
	for (; v < N_MIGRATIONS; v++) {
		char pragma[48];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (exec(s->db, "BEGIN IMMEDIATE") < 0)
			goto io;
		if (exec(s->db, migrations[v]) < 0 || exec(s->db, pragma) < 0) {
			*errmsg = sqlite3_errmsg(s->db);
			exec(s->db, "ROLLBACK");
			return -EIO;
		}
		if (exec(s->db, "COMMIT") < 0)
			goto io;
	}
	s->version = v;
	return 0;
io:
	*errmsg = sqlite3_errmsg(s->db);
	return sqlite3_errcode(s->db) == SQLITE_CORRUPT ||
	       sqlite3_errcode(s->db) == SQLITE_NOTADB ? STORE_E_CORRUPT : -EIO;
}

int store_open(struct ws_store **ret, const char *path, const char **errmsg)
{
	struct ws_store *s = calloc(1, sizeof(*s));
	int r;

	*errmsg = "";
	if (!s)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*errmsg = s->db ? sqlite3_errmsg(s->db) : "out of memory";
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	sqlite3_extended_result_codes(s->db, 0);
	/* journal_mode returns a row; check that WAL was really taken */
	sqlite3_stmt *st;
	r = STORE_E_CORRUPT;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
		*errmsg = sqlite3_errmsg(s->db);
		goto fail;
	}
	if (sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		*errmsg = sqlite3_errmsg(s->db);
		sqlite3_finalize(st);
		goto fail;
	}
	sqlite3_finalize(st);
	/* page cache 256 KiB instead of 2 MiB: the queue is read at its head,
	 * the rest by key; draining 43,200 queued messages runs as fast and
	 * the daemon keeps 1.9 MiB less (tests/bench/ocpp_drain.mjs) */
	if (exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
			"PRAGMA cache_size=-256;") < 0) {
		*errmsg = sqlite3_errmsg(s->db);
		r = -EIO;
		goto fail;
	}
	r = migrate(s, errmsg);
	if (r != 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	/* errmsg may point into the handle: keep a copy before closing */
	{
		static _Thread_local char msg[256];
		snprintf(msg, sizeof(msg), "%s", *errmsg);
		*errmsg = msg;
	}
	sqlite3_close(s->db);
	free(s);
	return r;
}

struct ws_store *store_close(struct ws_store *s)
{
	if (s) {
		sqlite3_close(s->db);
		free(s);
	}
	return NULL;
}

struct sqlite3 *store_db(struct ws_store *s)
{
	return s->db;
}

int store_schema_version(struct ws_store *s)
{
	return s->version;
}

int store_save_reading(struct ws_store *s, unsigned connector, int64_t wall_ms,
		       const struct ws_reading *r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO meter_last VALUES (?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)connector);
	sqlite3_bind_int64(st, 2, wall_ms);
	sqlite3_bind_int(st, 3, (int)r->have);
	for (int q = 0; q < WS_Q_COUNT; q++) {
		if (WS_READING_HAS(r, q))
			sqlite3_bind_double(st, 4 + q, r->value[q]);
		else
			sqlite3_bind_null(st, 4 + q);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_load_reading(struct ws_store *s, unsigned connector,
		       struct ws_reading *r, int64_t *wall_ms)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT * FROM meter_last WHERE connector = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)connector);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(r, 0, sizeof(*r));
		*wall_ms = sqlite3_column_int64(st, 1);
		r->have = (uint32_t)sqlite3_column_int(st, 2);
		for (int q = 0; q < WS_Q_COUNT; q++)
			r->value[q] = sqlite3_column_double(st, 3 + q);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? STORE_E_NOT_FOUND : -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

int store_fault_raise(struct ws_store *s, unsigned connector, const char *kind,
		      const char *detail, int64_t wall_ms, int64_t *id)
{
	sqlite3_stmt *st;
	int rc;

	if (exec(s->db, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO faults(connector, kind, detail, raised_ms) VALUES (?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int(st, 1, (int)connector);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, wall_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	*id = sqlite3_last_insert_rowid(s->db);
	/* bounded history: keep the newest STORE_FAULTS_KEPT per connector */
	if (sqlite3_prepare_v2(s->db,
			       "DELETE FROM faults WHERE connector = ?1 AND id <= "
			       "(SELECT id FROM faults WHERE connector = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int(st, 1, (int)connector);
	sqlite3_bind_int(st, 2, STORE_FAULTS_KEPT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	return exec(s->db, "COMMIT");
fail:
	exec(s->db, "ROLLBACK");
	return -EIO;
}

int store_fault_clear(struct ws_store *s, int64_t id, int64_t wall_ms,
		      const char *cleared_by)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "UPDATE faults SET cleared_ms = ?, cleared_by = ? WHERE id = ? AND cleared_ms IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, wall_ms);
	sqlite3_bind_text(st, 2, cleared_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(s->db) ? 0 : STORE_E_NOT_FOUND;
}

int store_fault_clear_all(struct ws_store *s, int64_t wall_ms, const char *cleared_by)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "UPDATE faults SET cleared_ms = ?, cleared_by = ? WHERE cleared_ms IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, wall_ms);
	sqlite3_bind_text(st, 2, cleared_by, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? sqlite3_changes(s->db) : -EIO;
}

static void column_copy(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int store_fault_list(struct ws_store *s, unsigned connector,
		     struct store_fault *out, int max)
{
	sqlite3_stmt *st;
	int n = 0, rc;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, connector, kind, detail, raised_ms, cleared_ms, cleared_by "
			       "FROM faults WHERE ?1 = 0 OR connector = ?1 ORDER BY id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)connector);
	sqlite3_bind_int(st, 2, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
		struct store_fault *f = &out[n++];
		f->id = sqlite3_column_int64(st, 0);
		f->connector = (unsigned)sqlite3_column_int(st, 1);
		column_copy(f->kind, sizeof(f->kind), st, 2);
		column_copy(f->detail, sizeof(f->detail), st, 3);
		f->raised_ms = sqlite3_column_int64(st, 4);
		f->cleared_ms = sqlite3_column_int64(st, 5);
		column_copy(f->cleared_by, sizeof(f->cleared_by), st, 6);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? n : -EIO;
}
