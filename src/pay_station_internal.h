/* pay_station_internal.h: what paid charging's source files share
 * (pay_station.c: sessions, wallet messages, tariff and offers;
 * pay_settle.c: settlement, the watchtower, the payee keys).  Not a
 * public header. */
#ifndef WATTSTREAM_PAY_STATION_INTERNAL_H
#define WATTSTREAM_PAY_STATION_INTERNAL_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "wattstream/chain.h"
#include "wattstream/config.h"
#include "wattstream/pay_session.h"
#include "wattstream/pay_sign.h"
#include "wattstream/pay_station.h"
#include "wattstream/wallet_server.h"

struct pay_station;
struct start_req;		/* pay_station.c */

struct pay_conn {
	struct pay_station *ps;
	unsigned id;
	bool active;
	bool starting;			/* the chain read of a start is under way */
	struct wallet_conn *wc;		/* NULL once the wallet went away */
	struct pay_session s;
	struct ws_chain_channel ch;
	uint8_t session_id[32];
	char id_tag[21];
	uint64_t meter_start_mwh;
	uint64_t receipt_seq;
	bool want_closed;
	lws_sorted_usec_list_t cut_sul, grace_sul;
};

/* A tariff and the signed offer that announces it. */
struct tariff {
	struct pay_terms terms;
	uint64_t min_deposit;
	struct pay_offer offer;
	uint8_t sig[65];
};

/* A payee key: the current one, or a retired one kept for the channels
 * opened to it (wattstream-keys rotate payee). */
struct payee_key {
	uint8_t sk[32];
	uint8_t addr[20];
};

#define WATCH_MAX 64		/* channels one watchtower round reads */
#define RETIRED_MAX 8		/* retired keys loaded per role */

/* One channel as a watchtower round read it. */
struct watch_entry {
	struct pay_station *ps;
	uint8_t id[32];
	int err;			/* of the read: 0, a chain code, -1 under way */
	struct ws_chain_channel ch;
};

struct pay_station {
	const struct ws_config *cfg;
	const struct ws_payment_config *pc;
	struct ws_store *store;
	const struct pay_station_ops *ops;
	void *user;
	struct lws_context *ctx;
	struct wallet_server *srv;
	ws_chain *chain;
	uint64_t chain_id;
	uint8_t channels[20], registry[20], token[20];
	uint8_t station_sk[32], station[20];
	/* the payee: channels' receiver.  Without a key here (payee_address)
	 * the station claims nothing itself and exports the claims. */
	uint8_t payee[20];
	bool have_payee_key;
	struct payee_key payee_key;
	struct payee_key retired_payee[RETIRED_MAX];
	unsigned n_retired_payee;
	bool retired_noted[RETIRED_MAX];
	uint8_t retired_station[RETIRED_MAX][20];	/* addresses only */
	unsigned n_retired_station;
	uint8_t idtag_secret[32];
	uint8_t channels_dsep[32], offers_dsep[32], receipts_dsep[32];
	struct tariff cur;		/* in force for new sessions; its offer is the published one */
	/* a new tariff waits until its offer is published (mined), so that
	 * what wallets are told always matches the registry */
	bool pending;
	struct tariff want;		/* the newest tariff asked for */
	char endpoint[PAY_ENDPOINT_MAX + 1];
	struct start_req *starts;
	/* settlement and watchtower: a round reads every channel with an
	 * unclaimed voucher, then sends one claim transaction */
	lws_sorted_usec_list_t watch_sul;
	bool round_busy;		/* reads under way */
	bool round_again;		/* a round was asked for meanwhile */
	unsigned n_watch, watch_pending;
	struct watch_entry watch[WATCH_MAX];
	unsigned n_known;		/* the last complete round (for `claims`) */
	struct watch_entry known[WATCH_MAX];
	struct ws_chain_claim batch[WATCH_MAX];	/* the claim transaction under way */
	unsigned n_batch;
	/* channels of a failed batch: claimed one per transaction next */
	uint8_t solo[WATCH_MAX][32];
	unsigned n_solo;
	/* one payee transaction at a time (its nonce): claims and offers
	 * wait for each other */
	bool tx_busy;
	bool publish_wanted;
	bool latest_busy;		/* reading the registry's latest offer */
	/* claims that failed wait before the next try, so one channel whose
	 * claim keeps failing does not hold up the others */
	struct { uint8_t id[32]; uint64_t until_us; } backoff[WATCH_MAX];
	/* the offer whose publication is under way */
	bool inflight_new;		/* a new tariff (not the one in force) */
	struct tariff inflight;
	unsigned n;
	struct pay_conn conn[WS_MAX_CONNECTORS + 1];
};

/* pay_station.c */
/* Sends the offer of the newest tariff to the registry, or after the
 * payee transaction under way. */
void ps_publish_offer(struct pay_station *ps);

/* pay_settle.c: settlement and the watchtower */
/* A watchtower round as soon as the loop turns; it re-arms itself every
 * watch_interval_s. */
void ps_settle_round_soon(struct pay_station *ps);
/* A payee transaction ended: the next one may go (an offer first, then
 * with again the watchtower's next round at once). */
void ps_settle_tx_done(struct pay_station *ps, bool again);
/* A session ended: its channel is looked at now (claimed when due). */
void ps_settle_session_ended(struct pay_station *ps, const uint8_t channel_id[32]);
/* Whether a running session uses channel id. */
bool ps_settle_in_session(struct pay_station *ps, const uint8_t id[32]);

/* pay_settle.c: the station's and payee's key files */
/* Loads (or creates) the key at path; logs the address.  Returns 0 or a
 * negative code (logged). */
int ps_settle_load_key(const char *path, uint8_t sk[32], uint8_t addr[20], const char *what);
/* Keys retired by wattstream-keys next to path, oldest first: at most max
 * into out; returns how many. */
int ps_settle_load_retired(const char *path, struct payee_key *out, int max, const char *what);

#endif
