/* test-store.c: migrations, readings, fault history across reopen, bounded
 * history, refusal of a newer schema and of a damaged file. */
#include <stdlib.h>
#include <unistd.h>
#include <sqlite3.h>

#include "check.h"
#include "wattstream/store.h"

int main(void)
{
	char dir[] = "/tmp/ws-test-store-XXXXXX", path[128];
	struct ws_store *s = NULL;
	const char *err;
	struct ws_reading r = { 0 }, back;
	int64_t wall, id1, id2;
	struct store_fault f[4];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
	CHECK_INT(store_load_reading(s, 1, &back, &wall), STORE_E_NOT_FOUND);
	r.have = 1u << WS_Q_ENERGY_WH | 1u << WS_Q_VOLTAGE_L2_V;
	r.value[WS_Q_ENERGY_WH] = 1234567.5;
	r.value[WS_Q_VOLTAGE_L2_V] = 231.25;
	CHECK_INT(store_save_reading(s, 1, 1700000000000, &r), 0);
	CHECK_INT(store_fault_raise(s, 1, "meter", "no good meter reading", 1700000001000, &id1), 0);
	CHECK_INT(store_fault_raise(s, 2, "contactor", "welded", 1700000002000, &id2), 0);
	CHECK_INT(store_fault_clear(s, id1, 1700000003000, "recovered"), 0);
	CHECK_INT(store_fault_clear(s, id1, 1700000004000, "again"), STORE_E_NOT_FOUND);
	s = store_close(s);

	/* everything survives a reopen */
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(store_load_reading(s, 1, &back, &wall), 0);
	CHECK(wall == 1700000000000);
	CHECK_INT(back.have, r.have);
	CHECK_NEAR(back.value[WS_Q_ENERGY_WH], 1234567.5, 0);
	CHECK_NEAR(back.value[WS_Q_VOLTAGE_L2_V], 231.25, 0);
	CHECK_INT(store_fault_list(s, 0, f, 4), 2);
	CHECK_STR(f[0].kind, "contactor");
	CHECK(f[0].cleared_ms == 0);
	CHECK_STR(f[1].kind, "meter");
	CHECK(f[1].cleared_ms == 1700000003000);
	CHECK_STR(f[1].cleared_by, "recovered");
	CHECK_INT(store_fault_list(s, 1, f, 4), 1);
	CHECK_INT(store_fault_clear_all(s, 1700000005000, "restart"), 1);
	CHECK_INT(store_fault_list(s, 2, f, 4), 1);
	CHECK_STR(f[0].cleared_by, "restart");

	/* history is bounded per connector */
	for (int i = 0; i < STORE_FAULTS_KEPT + 5; i++)
		CHECK_INT(store_fault_raise(s, 3, "meter", "x", i, &id1), 0);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(store_db(s), "SELECT COUNT(*) FROM faults WHERE connector = 3", -1, &st, NULL);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(st, 0), STORE_FAULTS_KEPT);
	sqlite3_finalize(st);

	/* a database from the future is refused, untouched */
	sqlite3_exec(store_db(s), "PRAGMA user_version = 99", NULL, NULL, NULL);
	s = store_close(s);
	CHECK_INT(store_open(&s, path, &err), STORE_E_NEWER_SCHEMA);
	CHECK(s == NULL);

	/* a file that is not a database is refused with a message */
	snprintf(path, sizeof(path), "%s/junk.db", dir);
	FILE *j = fopen(path, "w");
	fputs("this is not an sqlite database, but it is long enough to look like one.........", j);
	fclose(j);
	CHECK(store_open(&s, path, &err) != 0);
	CHECK(err && err[0]);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
