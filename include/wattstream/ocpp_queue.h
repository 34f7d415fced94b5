/* ocpp_queue.h: the durable FIFO of OCPP transaction-related messages
 * (StartTransaction, StopTransaction, transaction MeterValues, spec 3.7)
 * and the records of open transactions, in the store (tables ocpp_tx,
 * ocpp_queue, ocpp_queue_dropped).
 *
 * Every call that changes something is one SQLite transaction, committed
 * (WAL, synchronous=FULL) before it returns: a restart or kill -9 sees the
 * state before or after the call, never between.
 *
 * Delivery is at-least-once: a message stays queued from before its first
 * transmission until ocpp_queue_done() (its CALLRESULT arrived) or
 * ocpp_queue_drop().  If the process dies between sending and receiving the
 * answer, the message is sent again after the restart: the Central System
 * may see it twice, it never sees it zero times.  docs/ocpp-config.md says
 * why that is the right side to err on.
 *
 * Transaction ids: the caller numbers nothing.  ocpp_queue_tx_open() gives
 * the transaction its local number and queues its StartTransaction in the
 * same commit; later messages of the transaction are queued by local
 * number.  ocpp_queue_done_start() stores the transactionId the Central
 * System returned; ocpp_queue_head() writes that id into the
 * "transactionId" member of a StopTransaction or MeterValues payload when
 * it hands the message out (-1 when the StartTransaction was dropped
 * without an answer, errata 3.18).
 *
 * Single-threaded: use from the event loop only. */
#ifndef WATTSTREAM_OCPP_QUEUE_H
#define WATTSTREAM_OCPP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_store;
struct ocpp_queue;

#define OCPP_QUEUE_PAYLOAD_MAX   (256 * 1024)	/* bytes of one payload (= RPC frame limit) */
#define OCPP_QUEUE_MAX_MESSAGES  100000		/* default cap, messages */
#define OCPP_QUEUE_MAX_BYTES     (64u << 20)	/* default cap, payload bytes */
#define OCPP_QUEUE_DROPPED_KEPT  1000		/* records of dropped messages kept */
#define OCPP_QUEUE_ID_TAG_MAX    20		/* IdToken: CiString20Type */
#define OCPP_QUEUE_NO_REMOTE_TX  (-1)		/* transactionId when none is known */

enum ocpp_queue_result {
	OCPP_QUEUE_OK = 0,
	OCPP_QUEUE_E_EMPTY = 1,		/* head: nothing queued */
	OCPP_QUEUE_E_NOT_FOUND = 2,	/* no message (transaction) with that number */
	OCPP_QUEUE_E_INVALID = 3,	/* malformed payload or call out of order */
	OCPP_QUEUE_E_FULL = 4,		/* a droppable MeterValues refused: the cap is
					 * reached and nothing is left to thin */
};

/* Flags of ocpp_queue_enqueue(). */
#define OCPP_QUEUE_F_KEEP 0x1u	/* MeterValues never dropped for space:
				 * Transaction.Begin / Transaction.End / Trigger */

struct ocpp_queue_limits {
	size_t max_messages;	/* rows in the queue */
	size_t max_bytes;	/* sum of payload lengths */
};

enum ocpp_queue_start_state {
	OCPP_QUEUE_START_QUEUED = 0,	/* StartTransaction not answered yet */
	OCPP_QUEUE_START_CONFIRMED = 1,	/* remote_tx holds the transactionId */
	OCPP_QUEUE_START_DROPPED = 2,	/* attempts ran out: the id is -1 */
};

struct ocpp_queue_tx {
	int64_t local_tx;	/* the charge point's number, > 0, never reused */
	unsigned connector;	/* >= 1 */
	char id_tag[OCPP_QUEUE_ID_TAG_MAX + 1];
	int64_t meter_start_wh;
	int64_t start_ms;	/* wall clock, ms since the epoch */
	enum ocpp_queue_start_state start_state;
	int64_t remote_tx;	/* valid when CONFIRMED */
	int64_t stop_ms;	/* 0 while open; set when its StopTransaction was queued */
};

struct ocpp_queue_entry {
	int64_t seq;		/* position in the queue, increasing, never reused */
	char action[20];	/* "StartTransaction", "StopTransaction", "MeterValues" */
	unsigned connector;
	int64_t local_tx;
	bool keep;		/* never dropped for space */
	char *payload;		/* JSON object, transactionId filled in; owned */
	int64_t created_ms;
	unsigned attempts;	/* transmissions recorded with ocpp_queue_attempt() */
	unsigned failures;	/* failures to process, ocpp_queue_failed() */
	int64_t last_attempt_ms;
	int64_t last_failure_ms;
};

/* Opens the queue on an open store (schema version >= 2).  limits NULL:
 * OCPP_QUEUE_MAX_MESSAGES / OCPP_QUEUE_MAX_BYTES.  Returns 0 and *ret, or
 * -ENOMEM / -EIO.  The store must outlive q. */
int ocpp_queue_new(struct ocpp_queue **ret, struct ws_store *store,
		   const struct ocpp_queue_limits *limits);
struct ocpp_queue *ocpp_queue_free(struct ocpp_queue *q);

/* Starts a transaction: records it (connector, id_tag, meter_start_wh,
 * start_ms of *tx; the other members are ignored) and queues its
 * StartTransaction payload, in one commit.  Returns 0 with *local_tx and
 * *seq (either may be NULL), OCPP_QUEUE_E_INVALID (connector 0, empty or
 * long idTag, payload not a JSON object or too long), or -EIO. */
int ocpp_queue_tx_open(struct ocpp_queue *q, const struct ocpp_queue_tx *tx,
		       const char *start_payload, int64_t now_ms,
		       int64_t *local_tx, int64_t *seq);

/* Queues a StopTransaction or a MeterValues of the open transaction
 * local_tx on connector.  A StopTransaction closes the transaction record
 * in the same commit; a second one, or a MeterValues after it, is
 * OCPP_QUEUE_E_INVALID.  The payload's "transactionId" is set at head().
 * A MeterValues without OCPP_QUEUE_F_KEEP may be thinned out when the queue
 * is full (see docs).  Returns 0 and *seq (may be NULL),
 * OCPP_QUEUE_E_NOT_FOUND (no such transaction), OCPP_QUEUE_E_INVALID (other
 * action, wrong connector, malformed payload), OCPP_QUEUE_E_FULL, or -EIO. */
int ocpp_queue_enqueue(struct ocpp_queue *q, const char *action, unsigned connector,
		       int64_t local_tx, const char *payload, unsigned flags,
		       int64_t now_ms, int64_t *seq);

/* Queues a DataTransfer of no transaction (the payment totals of a
 * session) behind what is queued, never thinned: sent in order, kept
 * through outages and restarts like a transaction message.  Returns 0 and
 * *seq (may be NULL), OCPP_QUEUE_E_INVALID (payload not a JSON object or
 * too long) or -EIO. */
int ocpp_queue_enqueue_data(struct ocpp_queue *q, unsigned connector, const char *payload,
			    int64_t now_ms, int64_t *seq);

/* The oldest message, its payload with the transaction id substituted.
 * Returns 0 and *e (free with ocpp_queue_entry_clear), OCPP_QUEUE_E_EMPTY,
 * -ENOMEM or -EIO. */
int ocpp_queue_head(struct ocpp_queue *q, struct ocpp_queue_entry *e);
void ocpp_queue_entry_clear(struct ocpp_queue_entry *e);

/* Records a transmission, right before the message is sent. */
int ocpp_queue_attempt(struct ocpp_queue *q, int64_t seq, int64_t now_ms);
/* Records a failure to process: a CALLERROR, or no answer within the
 * message timeout on a live connection (a dropped connection is not the
 * Central System's failure).  Returns 0 or OCPP_QUEUE_E_NOT_FOUND.  The
 * caller drops the message when e.failures reaches
 * TransactionMessageAttempts, else resends at ocpp_queue_retry_at_ms(). */
int ocpp_queue_failed(struct ocpp_queue *q, int64_t seq, int64_t now_ms);
/* When to resend (spec 3.7.1): last failure + interval x failures; 0 when
 * the message has not failed. */
int64_t ocpp_queue_retry_at_ms(const struct ocpp_queue_entry *e, int64_t retry_interval_s);

/* The CALLRESULT of a StopTransaction or MeterValues arrived: removes it.
 * Returns 0, OCPP_QUEUE_E_NOT_FOUND, OCPP_QUEUE_E_INVALID (seq is a
 * StartTransaction: use done_start) or -EIO. */
int ocpp_queue_done(struct ocpp_queue *q, int64_t seq);
/* The StartTransaction.conf arrived with transactionId: stores the mapping
 * and removes the message, in one commit.  Returns as ocpp_queue_done(),
 * OCPP_QUEUE_E_INVALID if seq is not a StartTransaction. */
int ocpp_queue_done_start(struct ocpp_queue *q, int64_t seq, int64_t transaction_id);
/* Gives up on a message (attempts ran out): moves it with its payload to
 * the dropped log (reason: short text, e.g. "attempts"); a dropped
 * StartTransaction makes the transaction's later messages carry -1. */
int ocpp_queue_drop(struct ocpp_queue *q, int64_t seq, const char *reason, int64_t now_ms);

/* Transactions whose StopTransaction is not queued yet, oldest first: what
 * was running before a restart.  Returns how many were written to
 * out[0..max), or -EIO. */
int ocpp_queue_tx_list_open(struct ocpp_queue *q, struct ocpp_queue_tx *out, int max);
/* Returns 0, OCPP_QUEUE_E_NOT_FOUND or -EIO.  Kept until its
 * StopTransaction left the queue. */
int ocpp_queue_tx_get(struct ocpp_queue *q, int64_t local_tx, struct ocpp_queue_tx *out);

/* transactionData (errata 3.14, 3.89): the MeterValues a transaction's
 * StopTransaction will carry, kept in the store so that a StopTransaction
 * built after a restart (PowerLoss) still has them.
 *
 * Keeps one MeterValue (a JSON object: timestamp and sampledValue) for the
 * open transaction local_tx.  keep: never thinned (Transaction.Begin).  At
 * most max - 1 are kept (the Transaction.End value comes with the stop):
 * past that, every second value that is not kept goes first, the first of
 * them included (1st, 3rd, 5th...), which halves the time resolution and
 * keeps the span.  Returns 0, OCPP_QUEUE_E_FULL (nothing left to thin: this
 * value is not kept), OCPP_QUEUE_E_NOT_FOUND (no open transaction local_tx),
 * OCPP_QUEUE_E_INVALID (not a JSON object, max < 2), or -EIO. */
int ocpp_queue_tx_data_add(struct ocpp_queue *q, int64_t local_tx, const char *meter_value,
			   bool keep, unsigned max);
/* The values kept for local_tx, oldest first, as the text of a JSON array
 * in *text (the caller frees it; "[]" when none).  They are deleted
 * in the commit that queues the transaction's StopTransaction.  Returns 0,
 * -ENOMEM or -EIO. */
int ocpp_queue_tx_data_get(struct ocpp_queue *q, int64_t local_tx, char **text);
/* How many values are kept for local_tx, or -EIO. */
int ocpp_queue_tx_data_count(struct ocpp_queue *q, int64_t local_tx);

/* Messages and payload bytes queued now. */
size_t ocpp_queue_count(struct ocpp_queue *q);
size_t ocpp_queue_bytes(struct ocpp_queue *q);
/* Messages dropped so far (the sum over the dropped log kept), or -EIO. */
int64_t ocpp_queue_dropped_total(struct ocpp_queue *q);

#endif
