/* test-ocpp_queue.c: the durable transaction-message queue.  FIFO order
 * across store_close/store_open, transactionId substitution (confirmed,
 * confirmed after a restart, Start dropped: -1), attempts and failures,
 * the send/answer window across a restart, malformed and tampered input,
 * caps and thinning, and a crash test: a child enqueues and drains in a
 * loop and is killed with SIGKILL at random points; after each kill the
 * queue must be whole, ordered and hold everything the child saw committed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "wattstream/ocpp_queue.h"
#include "wattstream/store.h"

static char dir[] = "/tmp/ws-test-ocpp_queue-XXXXXX";

static struct ocpp_queue_tx mktx(unsigned connector, const char *tag, int64_t wh)
{
	struct ocpp_queue_tx tx = { .connector = connector, .meter_start_wh = wh,
				    .start_ms = 1700000000000 };
	snprintf(tx.id_tag, sizeof(tx.id_tag), "%s", tag);
	return tx;
}

/* The integer member name of a JSON object text, or LLONG_MIN. */
static long long json_int(const char *text, const char *name)
{
	json_t *j = json_loads(text, 0, NULL);
	long long v = -9999999;

	if (j && json_is_integer(json_object_get(j, name)))
		v = json_integer_value(json_object_get(j, name));
	json_decref(j);
	return v;
}

static int reopen(struct ws_store **s, struct ocpp_queue **q, const char *path,
		  const struct ocpp_queue_limits *lim)
{
	const char *err;
	*q = ocpp_queue_free(*q);
	*s = store_close(*s);
	if (store_open(s, path, &err) != 0)
		return -1;
	return ocpp_queue_new(q, *s, lim);
}

static void test_basic(const char *path)
{
	struct ws_store *s = NULL;
	struct ocpp_queue *q = NULL;
	struct ocpp_queue_entry e;
	struct ocpp_queue_tx tx = mktx(1, "04A2B3C4D5E6F7", 1000), back, open[4];
	int64_t a, b, seq, s_start, s_mv1, s_mv2, s_stop;
	const char *err;
	char big[OCPP_QUEUE_PAYLOAD_MAX + 16];

	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(ocpp_queue_new(&q, s, NULL), 0);
	CHECK_INT(ocpp_queue_head(q, &e), OCPP_QUEUE_E_EMPTY);
	CHECK_INT(ocpp_queue_count(q), 0);

	/* malformed input is refused and leaves nothing behind */
	struct ocpp_queue_tx bad = tx;
	bad.connector = 0;
	CHECK_INT(ocpp_queue_tx_open(q, &bad, "{}", 1, &a, NULL), OCPP_QUEUE_E_INVALID);
	bad = mktx(1, "", 0);
	CHECK_INT(ocpp_queue_tx_open(q, &bad, "{}", 1, &a, NULL), OCPP_QUEUE_E_INVALID);
	const char *bad_payloads[] = { "", "not json", "[1,2]", "42", "{\"a\":1",
				       "{\"a\":1,\"a\":2}", "{\"a\":1} trailing", NULL };
	for (int i = 0; bad_payloads[i]; i++)
		CHECK_INT(ocpp_queue_tx_open(q, &tx, bad_payloads[i], 1, &a, NULL),
			  OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_tx_open(q, &tx, NULL, 1, &a, NULL), OCPP_QUEUE_E_INVALID);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(ocpp_queue_tx_open(q, &tx, big, 1, &a, NULL), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_count(q), 0);

	/* transaction A: Start, two meter values, Stop */
	CHECK_INT(ocpp_queue_tx_open(q, &tx, "{\"connectorId\":1,\"idTag\":\"04A2B3C4D5E6F7\","
				     "\"meterStart\":1000,\"timestamp\":\"2023-11-14T22:13:20Z\"}",
				     10, &a, &s_start), 0);
	CHECK(a >= 1);
	CHECK_INT(ocpp_queue_tx_list_open(q, open, 4), 1);
	CHECK(open[0].local_tx == a);
	CHECK_STR(open[0].id_tag, "04A2B3C4D5E6F7");
	CHECK_INT(open[0].meter_start_wh, 1000);
	CHECK_INT(open[0].start_state, OCPP_QUEUE_START_QUEUED);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, a, "{\"connectorId\":1,\"meterValue\":[]}",
				     0, 11, &s_mv1), 0);
	/* an id the caller put in is replaced */
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, a,
				     "{\"connectorId\":1,\"transactionId\":-5,\"meterValue\":[]}",
				     OCPP_QUEUE_F_KEEP, 12, &s_mv2), 0);
	CHECK(s_start < s_mv1 && s_mv1 < s_mv2);
	/* wrong calls */
	CHECK_INT(ocpp_queue_enqueue(q, "Heartbeat", 1, a, "{}", 0, 13, &seq), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, "StartTransaction", 1, a, "{}", 0, 13, &seq),
		  OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, NULL, 1, a, "{}", 0, 13, &seq), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 2, a, "{}", 0, 13, &seq), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, 999999, "{}", 0, 13, &seq),
		  OCPP_QUEUE_E_NOT_FOUND);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, a, "{oops}", 0, 13, &seq),
		  OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, a,
				     "{\"meterStop\":2500,\"timestamp\":\"2023-11-14T23:13:20Z\"}",
				     0, 14, &s_stop), 0);
	/* one Stop per transaction, nothing after it */
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, a, "{\"meterStop\":2500}", 0, 15, &seq),
		  OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, a, "{}", 0, 15, &seq), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_tx_list_open(q, open, 4), 0);
	CHECK_INT(ocpp_queue_tx_get(q, a, &back), 0);
	CHECK_INT(back.stop_ms, 14);
	CHECK_INT(ocpp_queue_count(q), 4);

	/* transaction B on connector 2, interleaved */
	struct ocpp_queue_tx tx2 = mktx(2, "CAFE", 5000);
	int64_t s_b_start, s_b_mv;
	CHECK_INT(ocpp_queue_tx_open(q, &tx2, "{\"connectorId\":2,\"idTag\":\"CAFE\"}", 16, &b,
				     &s_b_start), 0);
	CHECK(b > a && s_b_start > s_stop);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 2, b, "{\"connectorId\":2}", 0, 17, &s_b_mv), 0);

	/* the send/answer window: attempt recorded, then the process ends */
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_start);
	CHECK_STR(e.action, "StartTransaction");
	CHECK(strstr(e.payload, "transactionId") == NULL);
	CHECK_INT(ocpp_queue_attempt(q, e.seq, 100), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_count(q), 6);
	CHECK_INT(ocpp_queue_head(q, &e), 0);	/* still there: sent again */
	CHECK(e.seq == s_start);
	CHECK_INT(e.attempts, 1);
	CHECK_INT(e.last_attempt_ms, 100);
	CHECK_INT(e.failures, 0);
	CHECK_INT(ocpp_queue_retry_at_ms(&e, 60), 0);
	/* a Start is finished only with its transactionId */
	CHECK_INT(ocpp_queue_done(q, e.seq), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_done_start(q, e.seq, 4242), 0);
	CHECK_INT(ocpp_queue_done_start(q, e.seq, 4242), OCPP_QUEUE_E_NOT_FOUND);	/* a late duplicate */
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_tx_get(q, a, &back), 0);
	CHECK_INT(back.start_state, OCPP_QUEUE_START_CONFIRMED);
	CHECK_INT(back.remote_tx, 4242);

	/* meter values carry the id; failures and the retry schedule */
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_mv1);
	CHECK_STR(e.action, "MeterValues");
	CHECK_INT(json_int(e.payload, "transactionId"), 4242);
	CHECK_INT(json_int(e.payload, "connectorId"), 1);
	CHECK_INT(ocpp_queue_done_start(q, e.seq, 1), OCPP_QUEUE_E_INVALID);
	CHECK_INT(ocpp_queue_attempt(q, e.seq, 200), 0);
	CHECK_INT(ocpp_queue_failed(q, e.seq, 210), 0);
	CHECK_INT(ocpp_queue_attempt(q, e.seq, 270), 0);
	CHECK_INT(ocpp_queue_failed(q, e.seq, 280), 0);
	CHECK_INT(ocpp_queue_failed(q, 999999, 280), OCPP_QUEUE_E_NOT_FOUND);
	CHECK_INT(ocpp_queue_attempt(q, 999999, 280), OCPP_QUEUE_E_NOT_FOUND);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK_INT(e.attempts, 2);
	CHECK_INT(e.failures, 2);
	CHECK_INT(ocpp_queue_retry_at_ms(&e, 60), 280 + 60 * 1000 * 2);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	CHECK_INT(ocpp_queue_done(q, e.seq), OCPP_QUEUE_E_NOT_FOUND);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_mv2);
	CHECK(e.keep);
	CHECK_INT(json_int(e.payload, "transactionId"), 4242);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_stop);
	CHECK_STR(e.action, "StopTransaction");
	CHECK_INT(json_int(e.payload, "transactionId"), 4242);
	CHECK_INT(json_int(e.payload, "meterStop"), 2500);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	ocpp_queue_entry_clear(&e);
	/* A is delivered completely: its record is gone */
	CHECK_INT(ocpp_queue_tx_get(q, a, &back), OCPP_QUEUE_E_NOT_FOUND);

	/* B: its Start is answered only after a restart */
	CHECK_INT(ocpp_queue_tx_list_open(q, open, 4), 1);
	CHECK(open[0].local_tx == b);
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 2, b, "{\"meterStop\":6000}", 0, 20, &seq), 0);
	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_b_start);
	CHECK_INT(ocpp_queue_done_start(q, e.seq, 77), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_b_mv);
	CHECK_INT(json_int(e.payload, "transactionId"), 77);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == seq);
	CHECK_INT(json_int(e.payload, "transactionId"), 77);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), OCPP_QUEUE_E_EMPTY);

	/* C: the Start is never answered and dropped: later messages carry -1 */
	struct ocpp_queue_tx tx3 = mktx(1, "DEADBEEF", 7000);
	int64_t c;
	int64_t dropped_before = ocpp_queue_dropped_total(q);
	CHECK_INT(ocpp_queue_tx_open(q, &tx3, "{\"connectorId\":1,\"idTag\":\"DEADBEEF\"}", 30, &c, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, c, "{\"connectorId\":1}", 0, 31, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, c, "{\"meterStop\":7100}", 0, 32, NULL), 0);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK_STR(e.action, "StartTransaction");
	CHECK_INT(ocpp_queue_drop(q, e.seq, "attempts", 40), 0);
	CHECK_INT(ocpp_queue_drop(q, e.seq, "attempts", 40), OCPP_QUEUE_E_NOT_FOUND);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_dropped_total(q), dropped_before + 1);
	CHECK_INT(ocpp_queue_tx_get(q, c, &back), 0);
	CHECK_INT(back.start_state, OCPP_QUEUE_START_DROPPED);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK_INT(json_int(e.payload, "transactionId"), -1);
	CHECK_INT(ocpp_queue_done(q, e.seq), 0);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK_STR(e.action, "StopTransaction");
	CHECK_INT(json_int(e.payload, "transactionId"), -1);
	ocpp_queue_entry_clear(&e);

	/* the dropped Start is kept in the log with its payload */
	sqlite3_stmt *st;
	CHECK_INT(sqlite3_prepare_v2(store_db(s), "SELECT reason, action, payload FROM ocpp_queue_dropped "
				     "ORDER BY id DESC LIMIT 1", -1, &st, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "attempts");
	CHECK_STR((const char *)sqlite3_column_text(st, 1), "StartTransaction");
	CHECK(strstr((const char *)sqlite3_column_text(st, 2), "DEADBEEF") != NULL);
	sqlite3_finalize(st);

	/* a payload damaged in the file: head reports it, drop gets past it */
	sqlite3_exec(store_db(s), "UPDATE ocpp_queue SET payload = '{\"meterStop\":71' "
		     "WHERE action = 'StopTransaction'", NULL, NULL, NULL);
	CHECK_INT(ocpp_queue_head(q, &e), -EIO);
	sqlite3_stmt *st2;
	sqlite3_prepare_v2(store_db(s), "SELECT seq FROM ocpp_queue ORDER BY seq LIMIT 1", -1, &st2, NULL);
	CHECK_INT(sqlite3_step(st2), SQLITE_ROW);
	seq = sqlite3_column_int64(st2, 0);
	sqlite3_finalize(st2);
	CHECK_INT(ocpp_queue_drop(q, seq, "damaged", 50), 0);
	CHECK_INT(ocpp_queue_head(q, &e), OCPP_QUEUE_E_EMPTY);
	CHECK_INT(ocpp_queue_tx_get(q, c, &back), OCPP_QUEUE_E_NOT_FOUND);
	CHECK_INT(ocpp_queue_count(q), 0);
	/* the byte mirror counted the payload before it was altered behind
	 * the queue's back; it is recounted at open */
	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_bytes(q), 0);

	q = ocpp_queue_free(q);
	s = store_close(s);
}

/* Caps: thinning keeps Start, Stop and kept meter values, keeps order, and
 * refuses a sample when nothing is left to thin. */
static void test_caps(const char *path)
{
	struct ws_store *s = NULL;
	struct ocpp_queue *q = NULL;
	struct ocpp_queue_limits lim = { .max_messages = 16, .max_bytes = 1 << 20 };
	struct ocpp_queue_tx tx = mktx(1, "CAP", 0);
	struct ocpp_queue_entry e;
	const char *err;
	char payload[64];
	int64_t t, prev = 0;
	int n_begin = 0, n_stop = 0, n_start = 0, n = 0;

	unlink(path);
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(ocpp_queue_new(&q, s, &lim), 0);
	CHECK_INT(ocpp_queue_tx_open(q, &tx, "{\"i\":0}", 0, &t, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, "{\"i\":1,\"ctx\":\"Transaction.Begin\"}",
				     OCPP_QUEUE_F_KEEP, 1, NULL), 0);
	for (int i = 2; i < 200; i++) {
		snprintf(payload, sizeof(payload), "{\"i\":%d}", i);
		CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, payload, 0, i, NULL), 0);
		CHECK(ocpp_queue_count(q) <= lim.max_messages);
	}
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, t, "{\"i\":200}", 0, 200, NULL), 0);
	CHECK(ocpp_queue_dropped_total(q) > 0);
	CHECK(ocpp_queue_count(q) <= lim.max_messages + 1);
	/* the newest sample survives, order is kept */
	CHECK_INT(reopen(&s, &q, path, &lim), 0);
	bool saw_199 = false;
	while (ocpp_queue_head(q, &e) == 0) {
		long long i = json_int(e.payload, "i");
		CHECK(i > prev || (n == 0 && i == 0));
		prev = i;
		n++;
		if (i == 199)
			saw_199 = true;
		if (strcmp(e.action, "StartTransaction") == 0) {
			n_start++;
			CHECK_INT(ocpp_queue_done_start(q, e.seq, 1), 0);
		} else {
			if (strcmp(e.action, "StopTransaction") == 0)
				n_stop++;
			if (strstr(e.payload, "Transaction.Begin"))
				n_begin++;
			CHECK_INT(ocpp_queue_done(q, e.seq), 0);
		}
		ocpp_queue_entry_clear(&e);
	}
	CHECK_INT(n_start, 1);
	CHECK_INT(n_begin, 1);
	CHECK_INT(n_stop, 1);
	CHECK(saw_199);
	CHECK(n >= 8);	/* thinning halves, it does not empty */

	/* only kept messages: a sample is refused, a Stop never */
	lim.max_messages = 3;
	q = ocpp_queue_free(q);
	CHECK_INT(ocpp_queue_new(&q, s, &lim), 0);
	CHECK_INT(ocpp_queue_tx_open(q, &tx, "{}", 0, &t, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, "{}", OCPP_QUEUE_F_KEEP, 1, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, "{}", OCPP_QUEUE_F_KEEP, 1, NULL), 0);
	int64_t before = ocpp_queue_dropped_total(q);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, "{}", 0, 2, NULL), OCPP_QUEUE_E_FULL);
	CHECK_INT(ocpp_queue_dropped_total(q), before + 1);
	CHECK_INT(ocpp_queue_count(q), 3);
	CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, "{}", OCPP_QUEUE_F_KEEP, 3, NULL), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, t, "{}", 0, 4, NULL), 0);
	CHECK_INT(ocpp_queue_count(q), 5);

	/* the byte cap thins the same way */
	lim = (struct ocpp_queue_limits){ .max_messages = 1000, .max_bytes = 2000 };
	q = ocpp_queue_free(q);
	sqlite3_exec(store_db(s), "DELETE FROM ocpp_queue; DELETE FROM ocpp_tx;", NULL, NULL, NULL);
	CHECK_INT(ocpp_queue_new(&q, s, &lim), 0);
	CHECK_INT(ocpp_queue_tx_open(q, &tx, "{}", 0, &t, NULL), 0);
	memset(payload, 'x', sizeof(payload));
	for (int i = 0; i < 100; i++) {
		char p[128];
		snprintf(p, sizeof(p), "{\"i\":%d,\"pad\":\"%.60s\"}", i, payload);
		CHECK_INT(ocpp_queue_enqueue(q, "MeterValues", 1, t, p, 0, i, NULL), 0);
		CHECK(ocpp_queue_bytes(q) <= lim.max_bytes);
	}
	CHECK(ocpp_queue_count(q) > 10);
	/* the counters mirror the table */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(store_db(s), "SELECT count(*), sum(length(payload)) FROM ocpp_queue",
			   -1, &st, NULL);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int64(st, 0), ocpp_queue_count(q));
	CHECK_INT(sqlite3_column_int64(st, 1), ocpp_queue_bytes(q));
	sqlite3_finalize(st);
	q = ocpp_queue_free(q);
	s = store_close(s);
}

/* ---- crash test ---- */

enum { CRASH_ROUNDS = 30, TX_LEN = 50 };

/* The child: operation i is a Start (i % TX_LEN == 0), a Stop (== TX_LEN-1)
 * or a meter value of the open transaction, each payload {"i":i,"pad":..};
 * every fourth operation also finishes the head.  After each commit it
 * writes i to the pipe.  Never returns. */
static void child(const char *path, long long next, int fd)
{
	struct ws_store *s;
	struct ocpp_queue *q;
	struct ocpp_queue_tx open[4];
	const char *err;
	int64_t t = 0;
	char payload[700];

	if (store_open(&s, path, &err) != 0 || ocpp_queue_new(&q, s, NULL) != 0)
		_exit(2);
	if (ocpp_queue_tx_list_open(q, open, 4) == 1)
		t = open[0].local_tx;
	for (long long i = next;; i++) {
		struct ocpp_queue_tx tx = mktx(1, "CRASH", i);
		int pad = (int)(i * 37 % 600);
		int r;
		snprintf(payload, sizeof(payload), "{\"i\":%lld,\"pad\":\"%.*s\"}", i, pad,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		if (i % TX_LEN == 0)
			r = ocpp_queue_tx_open(q, &tx, payload, i, &t, NULL);
		else if (i % TX_LEN == TX_LEN - 1)
			r = ocpp_queue_enqueue(q, "StopTransaction", 1, t, payload, 0, i, NULL);
		else
			r = ocpp_queue_enqueue(q, "MeterValues", 1, t, payload, 0, i, NULL);
		if (r != 0)
			_exit(3);
		if (i % 4 == 0) {
			struct ocpp_queue_entry e;
			if (ocpp_queue_head(q, &e) != 0 || ocpp_queue_attempt(q, e.seq, i) != 0)
				_exit(4);
			if (strcmp(e.action, "StartTransaction") == 0)
				r = ocpp_queue_done_start(q, e.seq, json_int(e.payload, "i") + 1000000);
			else
				r = ocpp_queue_done(q, e.seq);
			ocpp_queue_entry_clear(&e);
			if (r != 0)
				_exit(5);
		}
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(6);
	}
}

static void test_crash(const char *path)
{
	long long next = 0;
	unsigned seed = (unsigned)time(NULL);

	printf("crash test seed %u\n", seed);
	srand(seed);
	unlink(path);
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		int fds[2];
		long long acked = -1, v;
		pid_t pid;
		int status;

		CHECK_INT(pipe(fds), 0);
		pid = fork();
		if (pid == 0) {
			close(fds[0]);
			child(path, next, fds[1]);
		}
		close(fds[1]);
		/* ready: the first commit is seen; then die at a random point */
		if (read(fds[0], &v, sizeof(v)) == sizeof(v))
			acked = v;
		struct timespec ts = { 0, (long)(rand() % 40000) * 1000 };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		CHECK_INT(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		while (read(fds[0], &v, sizeof(v)) == sizeof(v))
			acked = v;
		close(fds[0]);
		CHECK(acked >= next);

		/* the queue holds a contiguous, ordered, whole range of i */
		struct ws_store *s = NULL;
		struct ocpp_queue *q = NULL;
		const char *err;
		sqlite3_stmt *st;
		long long first = -1, last = -1, rows = 0;
		int bad = 0;
		CHECK_INT(store_open(&s, path, &err), 0);
		CHECK_INT(ocpp_queue_new(&q, s, NULL), 0);
		sqlite3_prepare_v2(store_db(s), "SELECT payload, action, local_tx FROM ocpp_queue ORDER BY seq",
				   -1, &st, NULL);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(st, 0);
			const char *action = (const char *)sqlite3_column_text(st, 1);
			long long i = json_int(p, "i");
			if (i < 0)
				bad++;	/* torn or damaged */
			if (last >= 0 && i != last + 1)
				bad++;	/* a gap or a repeat */
			if ((i % TX_LEN == 0) != (strcmp(action, "StartTransaction") == 0))
				bad++;
			if (first < 0)
				first = i;
			last = i;
			rows++;
		}
		sqlite3_finalize(st);
		CHECK_INT(bad, 0);
		CHECK_INT(rows, ocpp_queue_count(q));
		if (rows == 0) {
			/* only after operation 0 (its Start finished at once) */
			CHECK(acked == 0);
			last = acked;
		}
		/* everything acknowledged is there; at most one more committed */
		CHECK(last == acked || last == acked + 1);
		CHECK(first <= last);
		/* every confirmed Start's id is the one the child answered */
		sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM ocpp_tx WHERE start_state = 1 AND "
				   "remote_tx - 1000000 <> meter_start_wh", -1, &st, NULL);
		CHECK_INT(sqlite3_step(st), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		/* no orphan: every queued message has its transaction */
		sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM ocpp_queue WHERE local_tx NOT IN "
				   "(SELECT local_tx FROM ocpp_tx)", -1, &st, NULL);
		CHECK_INT(sqlite3_step(st), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		sqlite3_prepare_v2(store_db(s), "PRAGMA integrity_check", -1, &st, NULL);
		CHECK_INT(sqlite3_step(st), SQLITE_ROW);
		CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		q = ocpp_queue_free(q);
		s = store_close(s);
		next = last + 1;
	}
	printf("crash test: %d kills, %lld operations committed\n", CRASH_ROUNDS, next);
}

/* DataTransfer of no transaction (the payment totals): queued in order
 * behind the transaction's messages, payload untouched, never thinned,
 * kept across a restart, gone once delivered. */
static void test_data(const char *path)
{
	struct ws_store *s = NULL;
	struct ocpp_queue *q = NULL;
	struct ocpp_queue_entry e;
	struct ocpp_queue_tx tx = mktx(1, "TOT", 100);
	int64_t a, s_start, s_stop, s_data, seq;
	const char *data = "{\"vendorId\":\"org.wattstream\",\"messageId\":\"PaymentTotals\","
			   "\"data\":\"{\\\"paid\\\":\\\"5\\\"}\"}";

	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_tx_open(q, &tx, "{\"connectorId\":1,\"idTag\":\"TOT\"}", 1, &a,
				     &s_start), 0);
	CHECK_INT(ocpp_queue_enqueue(q, "StopTransaction", 1, a, "{\"meterStop\":200}", 0, 2,
				     &s_stop), 0);
	CHECK_INT(ocpp_queue_enqueue_data(q, 1, data, 3, &s_data), 0);
	CHECK_INT(ocpp_queue_enqueue_data(q, 1, "{oops", 3, &seq), OCPP_QUEUE_E_INVALID);
	CHECK(s_start < s_stop && s_stop < s_data);
	CHECK_INT(reopen(&s, &q, path, NULL), 0);
	CHECK_INT(ocpp_queue_count(q), 3);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_start);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_done_start(q, s_start, 42), 0);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_stop);
	CHECK_INT(json_int(e.payload, "transactionId"), 42);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_done(q, s_stop), 0);
	CHECK_INT(ocpp_queue_head(q, &e), 0);
	CHECK(e.seq == s_data);
	CHECK_STR(e.action, "DataTransfer");
	CHECK_STR(e.payload, data);	/* no transactionId put in */
	CHECK(e.keep);
	ocpp_queue_entry_clear(&e);
	CHECK_INT(ocpp_queue_done(q, s_data), 0);
	CHECK_INT(ocpp_queue_head(q, &e), OCPP_QUEUE_E_EMPTY);
	CHECK_INT(ocpp_queue_count(q), 0);
	q = ocpp_queue_free(q);
	s = store_close(s);
}

int main(void)
{
	char path[128], cmd[200];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	test_basic(path);
	snprintf(path, sizeof(path), "%s/caps.db", dir);
	test_caps(path);
	snprintf(path, sizeof(path), "%s/crash.db", dir);
	test_crash(path);
	snprintf(path, sizeof(path), "%s/data.db", dir);
	test_data(path);
	CHECK(ocpp_queue_free(NULL) == NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
