/* pay_ledger.c: per-channel money state (see pay_ledger.h).  Amounts are
 * stored as 32-byte big-endian BLOBs so that they compare and round-trip
 * exactly; the highest voucher is replaced only by a higher one inside one
 * IMMEDIATE transaction, so two writers can never lower it. */
#include "wattstream/pay_ledger.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "wattstream/eip712.h"
#include "wattstream/store.h"

const char *pay_ledger_error_code(int r)
{
	switch (r) {
	case PAY_LEDGER_OK: return "ok";
	case PAY_LEDGER_E_BAD_SIGNATURE: return "voucher_bad_signature";
	case PAY_LEDGER_E_HIGH_S: return "voucher_high_s";
	case PAY_LEDGER_E_BAD_V: return "voucher_bad_v";
	case PAY_LEDGER_E_WRONG_SIGNER: return "voucher_wrong_signer";
	case PAY_LEDGER_E_WRONG_CHANNEL: return "voucher_wrong_channel";
	case PAY_LEDGER_E_NOT_HIGHER: return "voucher_not_higher";
	case PAY_LEDGER_E_OVER_DEPOSIT: return "voucher_over_deposit";
	}
	return "internal";
}

static void blob_u256(sqlite3_stmt *st, int col, ws_u256 *out)
{
	const void *p = sqlite3_column_blob(st, col);
	if (p && sqlite3_column_bytes(st, col) == 32)
		ws_u256_from_be(out, p);
	else
		*out = ws_u256_from_u64(0);
}

static int read_row(sqlite3 *db, const uint8_t id[32], struct pay_ledger_channel *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, id, 32);
	if (sqlite3_prepare_v2(db,
			       "SELECT highest, highest_sig, highest_ms, billed, claimed, denied, deny_reason "
			       "FROM pay_channels WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		blob_u256(st, 0, &out->highest);
		const void *sig = sqlite3_column_blob(st, 1);
		out->have_voucher = sig && sqlite3_column_bytes(st, 1) == 65;
		if (out->have_voucher)
			memcpy(out->highest_sig, sig, 65);
		out->highest_ms = sqlite3_column_int64(st, 2);
		blob_u256(st, 3, &out->billed);
		blob_u256(st, 4, &out->claimed);
		out->denied = sqlite3_column_int(st, 5) != 0;
		const unsigned char *why = sqlite3_column_text(st, 6);
		snprintf(out->deny_reason, sizeof(out->deny_reason), "%s", why ? (const char *)why : "");
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

int pay_ledger_get(struct ws_store *s, const uint8_t id[32], struct pay_ledger_channel *out)
{
	return read_row(store_db(s), id, out);
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Upserts one column of the channel's row inside the current transaction. */
static int upsert_u256(sqlite3 *db, const uint8_t id[32], const char *column, const ws_u256 *v)
{
	char sql[200];
	uint8_t be[32];
	sqlite3_stmt *st;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO pay_channels(id, %s) VALUES (?1, ?2) "
		 "ON CONFLICT(id) DO UPDATE SET %s = ?2", column, column);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	ws_u256_to_be(v, be);
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, be, 32, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int pay_ledger_accept(struct ws_store *s, const uint8_t domain_sep[32],
		      const struct ws_chain_channel *ch, const uint8_t expected_id[32],
		      const uint8_t voucher_id[32], const ws_u256 *amount,
		      const uint8_t *sig, size_t sig_len, int64_t now_ms)
{
	sqlite3 *db = store_db(s);
	struct pay_ledger_channel row;
	uint8_t be[32];
	int r;

	if (memcmp(voucher_id, expected_id, 32) != 0 || memcmp(ch->id, expected_id, 32) != 0)
		return PAY_LEDGER_E_WRONG_CHANNEL;
	r = ws_eip712_voucher_verify(domain_sep, voucher_id, amount, sig, sig_len,
				     ch->session_key, ch->sender, NULL);
	switch (r) {
	case 0: break;
	case WS_EIP712_E_HIGH_S: return PAY_LEDGER_E_HIGH_S;
	case WS_EIP712_E_BAD_V: return PAY_LEDGER_E_BAD_V;
	case WS_EIP712_E_WRONG_SIGNER: return PAY_LEDGER_E_WRONG_SIGNER;
	case WS_EIP712_E_BAD_SIGNATURE: return PAY_LEDGER_E_BAD_SIGNATURE;
	default: return r < 0 ? r : PAY_LEDGER_E_BAD_SIGNATURE;
	}
	if (ws_u256_cmp(amount, &ch->deposit) > 0)
		return PAY_LEDGER_E_OVER_DEPOSIT;

	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	r = read_row(db, voucher_id, &row);
	if (r < 0)
		goto fail;
	if (row.have_voucher && ws_u256_cmp(amount, &row.highest) <= 0) {
		exec(db, "ROLLBACK");
		return PAY_LEDGER_E_NOT_HIGHER;
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO pay_channels(id, highest, highest_sig, highest_ms) VALUES (?1, ?2, ?3, ?4) "
			       "ON CONFLICT(id) DO UPDATE SET highest = ?2, highest_sig = ?3, highest_ms = ?4",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	ws_u256_to_be(amount, be);
	sqlite3_bind_blob(st, 1, voucher_id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, be, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, sig, 65, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	if (r < 0)
		goto fail;
	/* synchronous=FULL: the WAL is on disk when COMMIT returns */
	if (exec(db, "COMMIT") < 0)
		goto fail;
	return PAY_LEDGER_OK;
fail:
	exec(db, "ROLLBACK");
	return -EIO;
}

static int set_one(struct ws_store *s, const uint8_t id[32], const char *column, const ws_u256 *v)
{
	sqlite3 *db = store_db(s);
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (upsert_u256(db, id, column, v) < 0 || exec(db, "COMMIT") < 0) {
		exec(db, "ROLLBACK");
		return -EIO;
	}
	return 0;
}

int pay_ledger_set_billed(struct ws_store *s, const uint8_t id[32], const ws_u256 *billed)
{
	return set_one(s, id, "billed", billed);
}

int pay_ledger_set_claimed(struct ws_store *s, const uint8_t id[32], const ws_u256 *claimed)
{
	return set_one(s, id, "claimed", claimed);
}

int pay_ledger_deny(struct ws_store *s, const uint8_t id[32], const char *reason)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(store_db(s),
			       "INSERT INTO pay_channels(id, denied, deny_reason) VALUES (?1, 1, ?2) "
			       "ON CONFLICT(id) DO UPDATE SET denied = 1, deny_reason = ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int pay_ledger_unclaimed(struct ws_store *s, struct pay_ledger_channel *out, int max)
{
	sqlite3_stmt *st;
	int n = 0, rc;

	/* BLOBs of equal length compare as big-endian numbers */
	if (sqlite3_prepare_v2(store_db(s),
			       "SELECT id FROM pay_channels WHERE highest_sig IS NOT NULL AND "
			       "(claimed IS NULL OR highest > claimed) ORDER BY highest_ms",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(st, 0);
		if (!id || sqlite3_column_bytes(st, 0) != 32)
			continue;
		uint8_t key[32];
		memcpy(key, id, 32);
		if (read_row(store_db(s), key, &out[n]) == 0)
			n++;
	}
	sqlite3_finalize(st);
	return n;
}
