/* store.h: the daemon's durable state in one SQLite database
 * (state_dir/wattstream.db), WAL mode, synchronous=FULL: every committed
 * write is on disk when the call returns.
 *
 * The schema is versioned (PRAGMA user_version) and migrated forward on
 * open; a database from a newer wattstream is refused rather than damaged.
 * This module holds the last good meter reading and the fault history;
 * later modules add their tables through the same migration list.
 * Single-threaded: use from the event loop only. */
#ifndef WATTSTREAM_STORE_H
#define WATTSTREAM_STORE_H

#include <stdint.h>

#include "wattstream/meter.h"

struct ws_store;
struct sqlite3;

#define STORE_SCHEMA_VERSION 8
#define STORE_FAULTS_KEPT 1000	/* per connector; older ones are pruned */

enum store_result {
	STORE_OK = 0,
	STORE_E_NOT_FOUND = 1,
	STORE_E_NEWER_SCHEMA = 2,	/* written by a newer version */
	STORE_E_CORRUPT = 3,		/* SQLite says the file is damaged */
};

/* Opens (creating if needed) and migrates the database at path.
 * Returns 0 and *ret, a positive store_result, or -errno; *errmsg (static
 * or owned by nobody) explains. */
int store_open(struct ws_store **ret, const char *path, const char **errmsg);
struct ws_store *store_close(struct ws_store *s);

/* For other modules' statements. */
struct sqlite3 *store_db(struct ws_store *s);
int store_schema_version(struct ws_store *s);

int store_save_reading(struct ws_store *s, unsigned connector, int64_t wall_ms,
		       const struct ws_reading *r);
/* Returns 0, STORE_E_NOT_FOUND, or -EIO. */
int store_load_reading(struct ws_store *s, unsigned connector,
		       struct ws_reading *r, int64_t *wall_ms);

struct store_fault {
	int64_t id;
	unsigned connector;
	char kind[32];
	char detail[160];
	int64_t raised_ms;
	int64_t cleared_ms;	/* 0 while active */
	char cleared_by[32];
};

/* Records a fault; *id identifies it for store_fault_clear(). */
int store_fault_raise(struct ws_store *s, unsigned connector, const char *kind,
		      const char *detail, int64_t wall_ms, int64_t *id);
int store_fault_clear(struct ws_store *s, int64_t id, int64_t wall_ms,
		      const char *cleared_by);
/* Marks every fault still active as cleared by "restart": called at start,
 * because the present state is measured anew. Returns how many, or -EIO. */
int store_fault_clear_all(struct ws_store *s, int64_t wall_ms, const char *cleared_by);
/* Fills out[0..max) with the connector's latest faults, newest first
 * (connector 0: all).  Returns how many, or -EIO. */
int store_fault_list(struct ws_store *s, unsigned connector,
		     struct store_fault *out, int max);

#endif
