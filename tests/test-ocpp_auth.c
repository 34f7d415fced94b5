/* test-ocpp_auth.c: the store layer of ocpp_auth.c.  The Authorization
 * Cache: put/get, case-insensitive idTags, expiry (an Accepted entry past
 * its date reads and is stored Expired), eviction when full (not-valid
 * entries first, then the least recently used), clear, bad input.  The
 * Local Authorization List: Full and Differential updates, VersionMismatch,
 * every Failed case leaving the list as it was, version 0 for an empty
 * list, list entries leaving the cache.  Everything across a reopen, and a
 * tampered row. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "../src/ocpp_cp_internal.h"
#include "wattstream/store.h"

static char dir[] = "/tmp/ws-test-ocpp_auth-XXXXXX";
static char path[256];

#define NOW 1700000000000LL

static struct ocpp_id_tag_info info(enum ocpp_authorization_status status, int64_t expiry_ms,
				    const char *parent)
{
	struct ocpp_id_tag_info i = { .status = status };
	if (expiry_ms) {
		i.has_expiry_date = true;
		ocpp_datetime_set(&i.expiry_date, expiry_ms);
	}
	if (parent) {
		i.has_parent_id_tag = true;
		snprintf(i.parent_id_tag, sizeof(i.parent_id_tag), "%s", parent);
	}
	return i;
}

static struct ws_store *reopen(struct ws_store *s)
{
	const char *why;
	store_close(s);
	s = NULL;
	CHECK_INT(store_open(&s, path, &why), 0);
	return s;
}

/* Status of id in the cache at now (-1: not there). */
static int cached(struct ws_store *s, const char *id, int64_t now)
{
	struct ocpp_id_tag_info o;
	int r = cp_auth_cache_get(s, id, now, false, &o);
	return r == 1 ? (int)o.status : r == 0 ? -1 : -100;
}

static int listed(struct ws_store *s, const char *id, int64_t now)
{
	struct ocpp_id_tag_info o;
	int r = cp_auth_list_get(s, id, now, &o);
	return r == 1 ? (int)o.status : r == 0 ? -1 : -100;
}

#define ACC OCPP_AUTHORIZATION_STATUS_ACCEPTED
#define BLK OCPP_AUTHORIZATION_STATUS_BLOCKED
#define EXP OCPP_AUTHORIZATION_STATUS_EXPIRED
#define INV OCPP_AUTHORIZATION_STATUS_INVALID

static void test_cache(struct ws_store **sp)
{
	struct ws_store *s = *sp;
	struct ocpp_id_tag_info o, a = info(ACC, NOW + 60000, "PARENT-1");

	CHECK_INT(cp_auth_cache_get(s, "TAG-1", NOW, false, &o), 0);
	CHECK_INT(cp_auth_cache_put(s, "TAG-1", &a, NOW, 10), 0);
	CHECK_INT(cp_auth_cache_get(s, "tag-1", NOW, false, &o), 1);
	CHECK_INT(o.status, ACC);
	CHECK(o.has_expiry_date);
	CHECK_INT(o.expiry_date.unix_ms, NOW + 60000);
	CHECK_STR(o.parent_id_tag, "PARENT-1");
	/* a new answer replaces the entry, whatever the case of the idTag */
	struct ocpp_id_tag_info b = info(BLK, 0, NULL);
	CHECK_INT(cp_auth_cache_put(s, "Tag-1", &b, NOW, 10), 0);
	CHECK_INT(cp_auth_cache_count(s), 1);
	CHECK_INT(cp_auth_cache_get(s, "TAG-1", NOW, false, &o), 1);
	CHECK_INT(o.status, BLK);
	CHECK(!o.has_expiry_date);
	CHECK(!o.has_parent_id_tag);

	/* expiry: valid before, Expired at and after, and stored so */
	CHECK_INT(cp_auth_cache_put(s, "TAG-2", &a, NOW, 10), 0);
	CHECK_INT(cached(s, "TAG-2", NOW + 59999), ACC);
	CHECK_INT(cached(s, "TAG-2", NOW + 60000), EXP);
	CHECK_INT(cached(s, "TAG-2", NOW), EXP);

	/* bad input changes nothing */
	struct ocpp_id_tag_info bad = { .status = OCPP_AUTHORIZATION_STATUS__COUNT };
	CHECK_INT(cp_auth_cache_put(s, "TAG-3", &bad, NOW, 10), -EINVAL);
	CHECK_INT(cp_auth_cache_put(s, "", &a, NOW, 10), -EINVAL);
	CHECK_INT(cp_auth_cache_put(s, "123456789012345678901", &a, NOW, 10), -EINVAL);
	CHECK_INT(cp_auth_cache_put(s, "TAG-3", &a, NOW, 0), -EINVAL);
	CHECK_INT(cp_auth_cache_count(s), 2);

	/* survives a reopen */
	s = *sp = reopen(s);
	CHECK_INT(cached(s, "TAG-1", NOW), BLK);
	CHECK_INT(cached(s, "TAG-2", NOW), EXP);

	CHECK_INT(cp_auth_cache_clear(s), 0);
	CHECK_INT(cp_auth_cache_count(s), 0);
	CHECK_INT(cached(s, "TAG-1", NOW), -1);
}

static void test_eviction(struct ws_store *s)
{
	struct ocpp_id_tag_info acc = info(ACC, 0, NULL), blk = info(BLK, 0, NULL),
				soon = info(ACC, NOW + 1000, NULL);

	CHECK_INT(cp_auth_cache_clear(s), 0);
	/* full (4): the not-valid entries go, every one of them */
	CHECK_INT(cp_auth_cache_put(s, "A", &acc, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_put(s, "B", &blk, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_put(s, "C", &soon, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_put(s, "D", &acc, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_put(s, "E", &acc, NOW + 2000, 4), 0);	/* C expired by now */
	CHECK_INT(cp_auth_cache_count(s), 3);
	CHECK_INT(cached(s, "B", NOW), -1);
	CHECK_INT(cached(s, "C", NOW), -1);
	CHECK_INT(cached(s, "A", NOW), ACC);
	/* replacing a present entry evicts nothing */
	CHECK_INT(cp_auth_cache_put(s, "F", &acc, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_put(s, "a", &blk, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_count(s), 4);
	CHECK_INT(cached(s, "A", NOW), BLK);
	CHECK_INT(cp_auth_cache_put(s, "A", &acc, NOW, 4), 0);
	/* all valid: the least recently used goes; a use counts (D, then E) */
	struct ocpp_id_tag_info o;
	CHECK_INT(cp_auth_cache_get(s, "D", NOW, true, &o), 1);
	CHECK_INT(cp_auth_cache_put(s, "G", &acc, NOW, 4), 0);
	CHECK_INT(cp_auth_cache_count(s), 4);
	CHECK_INT(cached(s, "E", NOW), -1);
	CHECK_INT(cached(s, "D", NOW), ACC);
	CHECK_INT(cp_auth_cache_put(s, "H", &acc, NOW, 4), 0);
	CHECK_INT(cached(s, "F", NOW), -1);
	CHECK_INT(cached(s, "A", NOW), ACC);
	CHECK_INT(cached(s, "D", NOW), ACC);
	CHECK_INT(cached(s, "G", NOW), ACC);
	CHECK_INT(cached(s, "H", NOW), ACC);
	/* a smaller bound than the content: trimmed to it */
	CHECK_INT(cp_auth_cache_put(s, "I", &acc, NOW, 2), 0);
	CHECK_INT(cp_auth_cache_count(s), 2);
	CHECK_INT(cached(s, "I", NOW), ACC);
	CHECK_INT(cached(s, "H", NOW), ACC);
}

static struct ocpp_authorization_data entry(const char *id, int status, int64_t expiry_ms)
{
	struct ocpp_authorization_data d = { 0 };
	snprintf(d.id_tag, sizeof(d.id_tag), "%s", id);
	if (status >= 0) {
		d.has_id_tag_info = true;
		d.id_tag_info = info((enum ocpp_authorization_status)status, expiry_ms, NULL);
	}
	return d;
}

static int update(struct ws_store *s, int32_t version, enum ocpp_update type,
		  struct ocpp_authorization_data *list, size_t n, int64_t max_len)
{
	struct ocpp_send_local_list_req req = {
		.list_version = version, .update_type = type,
		.has_local_authorization_list = list != NULL,
		.local_authorization_list = list, .n_local_authorization_list = n,
	};
	const char *why;
	int r = (int)cp_auth_list_update(s, &req, max_len, 5, &why);
	CHECK(r == OCPP_UPDATE_STATUS_ACCEPTED ? why[0] == '\0' : why[0] != '\0');
	return r;
}

static void test_list(struct ws_store **sp)
{
	struct ws_store *s = *sp;
	struct ocpp_id_tag_info acc = info(ACC, 0, NULL);

	CHECK_INT(cp_auth_list_version(s), 0);
	CHECK_INT(cp_auth_cache_clear(s), 0);
	CHECK_INT(cp_auth_cache_put(s, "L-2", &acc, NOW, 10), 0);
	CHECK_INT(cp_auth_cache_put(s, "OTHER", &acc, NOW, 10), 0);

	struct ocpp_authorization_data full[] = {
		entry("L-1", ACC, 0), entry("l-2", BLK, 0), entry("L-3", ACC, NOW + 1000),
	};
	CHECK_INT(update(s, 7, OCPP_UPDATE_FULL, full, 3, 10), OCPP_UPDATE_STATUS_ACCEPTED);
	CHECK_INT(cp_auth_list_version(s), 7);
	CHECK_INT(listed(s, "L-1", NOW), ACC);
	CHECK_INT(listed(s, "L-2", NOW), BLK);
	CHECK_INT(listed(s, "L-3", NOW), ACC);
	CHECK_INT(listed(s, "L-3", NOW + 1000), EXP);
	CHECK_INT(listed(s, "L-3", NOW), ACC);	/* the list itself is kept */
	CHECK_INT(listed(s, "L-4", NOW), -1);
	/* §3.5.3: a listed idTag left the cache, the others stayed */
	CHECK_INT(cached(s, "L-2", NOW), -1);
	CHECK_INT(cached(s, "OTHER", NOW), ACC);

	/* Differential: add, update, delete; version must rise */
	struct ocpp_authorization_data diff[] = {
		entry("L-4", INV, 0), entry("L-1", BLK, 0), entry("L-3", -1, 0), entry("NOPE", -1, 0),
	};
	CHECK_INT(update(s, 7, OCPP_UPDATE_DIFFERENTIAL, diff, 4, 10), OCPP_UPDATE_STATUS_VERSION_MISMATCH);
	CHECK_INT(update(s, 6, OCPP_UPDATE_DIFFERENTIAL, diff, 4, 10), OCPP_UPDATE_STATUS_VERSION_MISMATCH);
	CHECK_INT(listed(s, "L-4", NOW), -1);
	CHECK_INT(update(s, 8, OCPP_UPDATE_DIFFERENTIAL, diff, 4, 10), OCPP_UPDATE_STATUS_ACCEPTED);
	CHECK_INT(cp_auth_list_version(s), 8);
	CHECK_INT(listed(s, "L-4", NOW), INV);
	CHECK_INT(listed(s, "L-1", NOW), BLK);
	CHECK_INT(listed(s, "L-3", NOW), -1);
	CHECK_INT(listed(s, "L-2", NOW), BLK);

	/* Failed, and nothing changes */
	struct ocpp_authorization_data no_info[] = { entry("X", ACC, 0), entry("Y", -1, 0) };
	CHECK_INT(update(s, 9, OCPP_UPDATE_FULL, no_info, 2, 10), OCPP_UPDATE_STATUS_FAILED);
	struct ocpp_authorization_data twice[] = { entry("X", ACC, 0), entry("x", BLK, 0) };
	CHECK_INT(update(s, 9, OCPP_UPDATE_FULL, twice, 2, 10), OCPP_UPDATE_STATUS_FAILED);
	struct ocpp_authorization_data six[] = {
		entry("1", ACC, 0), entry("2", ACC, 0), entry("3", ACC, 0),
		entry("4", ACC, 0), entry("5", ACC, 0), entry("6", ACC, 0),
	};
	CHECK_INT(update(s, 9, OCPP_UPDATE_FULL, six, 6, 10), OCPP_UPDATE_STATUS_FAILED); /* > max_send */
	CHECK_INT(update(s, 9, OCPP_UPDATE_FULL, six, 5, 4), OCPP_UPDATE_STATUS_FAILED);  /* > max_len */
	CHECK_INT(update(s, 9, OCPP_UPDATE_DIFFERENTIAL, six, 5, 6), OCPP_UPDATE_STATUS_FAILED);
	CHECK_INT(update(s, 0, OCPP_UPDATE_FULL, full, 3, 10), OCPP_UPDATE_STATUS_FAILED);
	CHECK_INT(update(s, -1, OCPP_UPDATE_FULL, full, 3, 10), OCPP_UPDATE_STATUS_FAILED);
	struct ocpp_authorization_data empty_tag[] = { entry("", ACC, 0) };
	CHECK_INT(update(s, 9, OCPP_UPDATE_FULL, empty_tag, 1, 10), OCPP_UPDATE_STATUS_FAILED);
	CHECK_INT(cp_auth_list_version(s), 8);
	CHECK_INT(listed(s, "L-4", NOW), INV);
	CHECK_INT(listed(s, "X", NOW), -1);
	CHECK_INT(listed(s, "1", NOW), -1);

	/* survives a reopen */
	s = *sp = reopen(s);
	CHECK_INT(cp_auth_list_version(s), 8);
	CHECK_INT(listed(s, "L-2", NOW), BLK);

	/* a Full list may go down in version; an empty one reads 0 */
	CHECK_INT(update(s, 2, OCPP_UPDATE_FULL, full, 1, 10), OCPP_UPDATE_STATUS_ACCEPTED);
	CHECK_INT(cp_auth_list_version(s), 2);
	CHECK_INT(listed(s, "L-2", NOW), -1);
	CHECK_INT(update(s, 3, OCPP_UPDATE_FULL, NULL, 0, 10), OCPP_UPDATE_STATUS_ACCEPTED);
	CHECK_INT(cp_auth_list_version(s), 0);
	CHECK_INT(update(s, 1, OCPP_UPDATE_DIFFERENTIAL, full, 1, 10), OCPP_UPDATE_STATUS_ACCEPTED);
	CHECK_INT(cp_auth_list_version(s), 1);
}

static void test_tampered(struct ws_store *s)
{
	struct ocpp_id_tag_info acc = info(ACC, NOW + 5000, NULL), o;

	CHECK_INT(cp_auth_cache_put(s, "T", &acc, NOW, 10), 0);
	CHECK(sqlite3_exec(store_db(s), "UPDATE ocpp_auth_cache SET expiry = 'tomorrow' WHERE id_tag = 'T'",
			   NULL, NULL, NULL) == SQLITE_OK);
	CHECK_INT(cp_auth_cache_get(s, "T", NOW, false, &o), -EIO);
	CHECK(sqlite3_exec(store_db(s), "UPDATE ocpp_auth_cache SET status = 'Maybe' WHERE id_tag = 'T'",
			   NULL, NULL, NULL) != SQLITE_OK);	/* the schema refuses it */
}

int main(void)
{
	struct ws_store *s = NULL;
	const char *why;

	if (!mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	CHECK_INT(store_open(&s, path, &why), 0);
	if (!s)
		return check_done();
	test_cache(&s);
	test_eviction(s);
	test_list(&s);
	test_tampered(s);
	store_close(s);
	unlink(path);
	char side[300];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	rmdir(dir);
	return check_done();
}
