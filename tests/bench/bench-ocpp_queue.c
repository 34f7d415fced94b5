/* bench-ocpp_queue.c: the durable transaction-message queue under a long
 * outage.
 *
 * Fills the queue with 30 days of per-minute MeterValues for one connector
 * (43,200 messages, each committed durably as the daemon does: WAL,
 * synchronous=FULL), then drains it the way the transport does (head,
 * attempt, done: three statements, two commits per message), and prints:
 *   - fill rate (messages/s) and drain rate (messages/s, store side only:
 *     the network round trip comes on top),
 *   - disk use: database + WAL after the fill, bytes per message,
 *   - the time one thinning pass takes when the cap is reached.
 * The store is created in a temporary folder under $WS_BENCH_DIR (default:
 * the current folder, so it lands on the disk the build is on, not tmpfs)
 * and removed at the end.  WS_BENCH_MESSAGES overrides 43200.
 * It never asserts timing: figures only. */
#include "wattstream/ocpp_queue.h"
#include "wattstream/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* One clock-minute sample as the charge-point logic writes it: energy
 * register, power, current and voltage per phase (8 sampled values). */
static int meter_payload(char *buf, size_t size, long minute, double wh)
{
	time_t t = 1700000000 + minute * 60;
	struct tm tm;
	char ts[32];

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return snprintf(buf, size,
		"{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"%s\",\"sampledValue\":["
		"{\"value\":\"%.1f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Energy.Active.Import.Register\",\"unit\":\"Wh\"},"
		"{\"value\":\"%.1f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Power.Active.Import\",\"unit\":\"W\"},"
		"{\"value\":\"%.2f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Current.Import\",\"phase\":\"L1\",\"unit\":\"A\"},"
		"{\"value\":\"%.2f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Current.Import\",\"phase\":\"L2\",\"unit\":\"A\"},"
		"{\"value\":\"%.2f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Current.Import\",\"phase\":\"L3\",\"unit\":\"A\"},"
		"{\"value\":\"%.1f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Voltage\",\"phase\":\"L1-N\",\"unit\":\"V\"},"
		"{\"value\":\"%.1f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Voltage\",\"phase\":\"L2-N\",\"unit\":\"V\"},"
		"{\"value\":\"%.1f\",\"context\":\"Sample.Periodic\",\"measurand\":\"Voltage\",\"phase\":\"L3-N\",\"unit\":\"V\"}"
		"]}]}",
		ts, wh, 11040.0 + (double)(minute % 7), 16.01, 15.98, 16.03,
		230.1 + (double)(minute % 3), 229.8, 231.0);
}

int main(void)
{
	const char *base = getenv("WS_BENCH_DIR") ? getenv("WS_BENCH_DIR") : ".";
	long n = getenv("WS_BENCH_MESSAGES") ? atol(getenv("WS_BENCH_MESSAGES")) : 43200;
	char dir[512], path[600], wal[620], cmd[700], payload[2048];
	struct ws_store *s = NULL;
	struct ocpp_queue *q = NULL;
	struct ocpp_queue_tx tx = { .connector = 1, .id_tag = "BENCH", .start_ms = 1700000000000 };
	struct ocpp_queue_entry e;
	const char *err;
	int64_t t;
	double t0, fill_s, drain_s;
	long long db_bytes, wal_bytes;
	long drained = 0;
	int rc = 1;

	snprintf(dir, sizeof(dir), "%s/bench-ocpp_queue-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (store_open(&s, path, &err) != 0 || ocpp_queue_new(&q, s, NULL) != 0) {
		fprintf(stderr, "store: %s\n", err);
		goto out;
	}
	if (ocpp_queue_tx_open(q, &tx, "{\"connectorId\":1,\"idTag\":\"BENCH\",\"meterStart\":0,"
			       "\"timestamp\":\"2023-11-14T22:13:20Z\"}", 0, &t, NULL) != 0)
		goto out;

	t0 = now_s();
	for (long i = 0; i < n; i++) {
		meter_payload(payload, sizeof(payload), i, 183.3 * (double)i);
		if (ocpp_queue_enqueue(q, "MeterValues", 1, t, payload, 0, i, NULL) != 0) {
			fprintf(stderr, "enqueue %ld failed\n", i);
			goto out;
		}
	}
	fill_s = now_s() - t0;
	wal_bytes = file_size(wal);
	sqlite3_exec(store_db(s), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	db_bytes = file_size(path);
	printf("queue: %ld MeterValues of %zu bytes payload (8 sampled values)\n", n, strlen(payload));
	printf("fill:  %.1f s, %.0f messages/s (one durable commit each)\n", fill_s, (double)n / fill_s);
	printf("disk:  %.1f MiB database after checkpoint (%.0f bytes/message), WAL peaked at %.1f MiB\n",
	       (double)db_bytes / 1048576.0, (double)db_bytes / (double)(n + 1),
	       (double)wal_bytes / 1048576.0);
	printf("cap:   %d messages / %u MiB payload: 30 days of one connector use %.0f%% / %.0f%%\n",
	       OCPP_QUEUE_MAX_MESSAGES, OCPP_QUEUE_MAX_BYTES >> 20,
	       100.0 * (double)(n + 1) / OCPP_QUEUE_MAX_MESSAGES,
	       100.0 * (double)ocpp_queue_bytes(q) / OCPP_QUEUE_MAX_BYTES);

	t0 = now_s();
	while (ocpp_queue_head(q, &e) == 0) {
		int r = ocpp_queue_attempt(q, e.seq, drained);
		if (r == 0)
			r = strcmp(e.action, "StartTransaction") == 0 ?
			    ocpp_queue_done_start(q, e.seq, 1) : ocpp_queue_done(q, e.seq);
		ocpp_queue_entry_clear(&e);
		if (r != 0) {
			fprintf(stderr, "drain failed\n");
			goto out;
		}
		drained++;
	}
	drain_s = now_s() - t0;
	printf("drain: %.1f s, %.0f messages/s (head + attempt + done, store only)\n",
	       drain_s, (double)drained / drain_s);

	/* one thinning pass over a full queue of the same messages */
	q = ocpp_queue_free(q);
	struct ocpp_queue_limits lim = { (size_t)n, OCPP_QUEUE_MAX_BYTES };
	if (ocpp_queue_new(&q, s, &lim) != 0 || ocpp_queue_tx_open(q, &tx, "{}", 0, &t, NULL) != 0)
		goto out;
	/* filled in one commit: the fill rate was measured above */
	sqlite3_stmt *st;
	sqlite3_exec(store_db(s), "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(store_db(s), "INSERT INTO ocpp_queue(action, connector, local_tx, "
			       "keep, payload, created_ms) VALUES ('MeterValues', 1, ?, 0, ?, 0)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (long i = 0; i + 1 < n; i++) {
		meter_payload(payload, sizeof(payload), i, 0);
		sqlite3_bind_int64(st, 1, t);
		sqlite3_bind_text(st, 2, payload, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_exec(store_db(s), "COMMIT", NULL, NULL, NULL);
	q = ocpp_queue_free(q);
	if (ocpp_queue_new(&q, s, &lim) != 0)
		goto out;
	size_t before = ocpp_queue_count(q);
	t0 = now_s();
	if (ocpp_queue_enqueue(q, "MeterValues", 1, t, payload, 0, 0, NULL) != 0)
		goto out;
	printf("thin:  at the cap (%zu messages) one enqueue thinned to %zu in %.0f ms\n",
	       before, ocpp_queue_count(q), (now_s() - t0) * 1000.0);
	rc = 0;
out:
	q = ocpp_queue_free(q);
	s = store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
