/* pay_station.h: paid charging in the daemon: the wallet endpoint
 * (docs/wallet-protocol.md) on top of wallet_server, the channel checks on
 * the chain, one pay_session per connector, vouchers through the durable
 * ledger, signed receipts, the station's offer (signed and published in
 * the registry at start) and settlement: a watchtower that claims every
 * channel due in one claimMany, with the payee key or a retired one, or
 * exports the claims when the payee is a plain address.
 *
 * The daemon provides the connectors and the OCPP transaction through
 * struct pay_station_ops.  Everything runs on the lws loop. */
#ifndef WATTSTREAM_PAY_STATION_H
#define WATTSTREAM_PAY_STATION_H

#include <jansson.h>
#include <stdbool.h>

#include "wattstream/config.h"
#include "wattstream/meter.h"

struct lws_context;
struct ws_store;
struct pay_station;

struct pay_connector_info {
	bool ready;			/* healthy, contactor open, no session */
	bool faulted;
	bool operative;			/* not made Unavailable by the Central System */
	int ev_plugged;			/* 1, 0, -1 unknown */
	const struct ws_reading *reading;	/* last good reading or NULL */
};

struct pay_station_ops {
	void (*connector_info)(void *user, unsigned id, struct pay_connector_info *out);
	/* Close the contactor for session (the idTag).  Returns 0, or
	 * non-zero if the connector cannot now (it is retried when it can). */
	int (*close)(void *user, unsigned id, const char *session);
	void (*open)(void *user, unsigned id, const char *reason);
	/* The OCPP transaction of a paid session (no-ops without OCPP). */
	int (*tx_start)(void *user, unsigned id, const char *id_tag, double meter_wh);
	void (*tx_stop)(void *user, unsigned id, double meter_wh, const char *reason);
	/* A paid session ended: its totals (JSON text) for the Central System. */
	void (*report)(void *user, unsigned id, const char *totals_json);
};

/* With [payment] enabled = false, returns 0 and *ret = NULL. */
int pay_station_new(struct pay_station **ret, struct lws_context *ctx,
		    const struct ws_config *cfg, struct ws_store *store,
		    const struct pay_station_ops *ops, void *user);
/* Before lws_context_destroy(): stops timers and chain calls. */
void pay_station_shutdown(struct pay_station *ps);
/* After lws_context_destroy() (the wallet server's connections close
 * during it).  Accepts NULL. */
struct pay_station *pay_station_free(struct pay_station *ps);

/* New tariff (from the Central System's vendor configuration keys):
 * applies to sessions started from now on; the offer is signed again with
 * a higher nonce and published.  Returns 0, or -EINVAL (invalid terms:
 * nothing changes). */
int pay_station_set_tariff(struct pay_station *ps, uint64_t price_per_kwh, uint32_t increment_wh,
			   uint32_t prepaid_increments, uint32_t grace_s, uint64_t min_deposit);

/* A good meter reading arrived on connector id. */
void pay_station_reading(struct pay_station *ps, unsigned id);
/* The connector's state changed (contactor confirmed, fault...). */
void pay_station_connector_changed(struct pay_station *ps, unsigned id);
/* Something else ended the session (OCPP: EV unplugged, remote stop,
 * reset).  ocpp_reason: the OCPP Reason already sent. */
void pay_station_session_stopped(struct pay_station *ps, unsigned id, const char *ocpp_reason);
bool pay_station_session_active(const struct pay_station *ps, unsigned id);

/* For the control socket's `claims`: the highest unclaimed voucher of
 * every channel to the payee as the last watchtower round saw it
 * (channel, amount, signature, close flag), the ready claim/claimMany
 * calldata, and the signed offer with its publish calldata, for a machine
 * that holds the payee key (contracts/scripts/submit-claims.mjs).  A new
 * reference; never NULL. */
json_t *pay_station_claims(struct pay_station *ps);

/* For the control socket's status: NULL when no session. */
json_t *pay_station_status(const struct pay_station *ps, unsigned id);

#endif
