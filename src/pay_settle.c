/* pay_settle.c: settlement of paid charging (see pay_station.h and
 * docs/payments.md): the watchtower and its claims, and the loading of the
 * station's and the payee's key files, retired ones included.
 *
 * Every watch_interval_s, at start, after each session and after each
 * transaction, a round reads every channel we hold an unclaimed voucher
 * for (getChannel: receiver, claimed, close request).  It learns what was
 * claimed by others (the payee key on another machine), then sends ONE
 * transaction (claimMany when more than one) for everything due under one
 * key: final claims for close requests first, at once; then partial
 * claims of channels not in a session with claim_threshold unclaimed.
 * claimMany is all or nothing: the channels of a batch that fails are
 * claimed one per transaction next, and a single claim that fails backs
 * off, so one bad channel costs one failed batch and never blocks the
 * others.  Cost per round: one eth_call per unclaimed channel (at most
 * WATCH_MAX), one transaction per claim_batch_max channels due. */
#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay_station_internal.h"
#include "wattstream/abi.h"
#include "wattstream/address.h"
#include "wattstream/chain.h"
#include "wattstream/clock.h"
#include "wattstream/hex.h"
#include "wattstream/keyfile.h"
#include "wattstream/log.h"
#include "wattstream/pay_ledger.h"

#define CLAIM_BACKOFF_US (30ull * 1000000)

static void watch_cb(lws_sorted_usec_list_t *sul);

void ps_settle_round_soon(struct pay_station *ps)
{
	lws_sul_schedule(ps->ctx, 0, &ps->watch_sul, watch_cb, 1);
}

/* A payee transaction ended: the next one may go (an offer first, then
 * with again the watchtower's next round at once). */
void ps_settle_tx_done(struct pay_station *ps, bool again)
{
	ps->tx_busy = false;
	if (ps->publish_wanted)
		ps_publish_offer(ps);
	else if (again)
		ps_settle_round_soon(ps);
}

static bool backing_off(struct pay_station *ps, const uint8_t id[32])
{
	uint64_t now = ws_clock_mono_us();
	for (unsigned i = 0; i < WATCH_MAX; i++)
		if (ps->backoff[i].until_us > now && memcmp(ps->backoff[i].id, id, 32) == 0)
			return true;
	return false;
}

static void back_off(struct pay_station *ps, const uint8_t id[32])
{
	unsigned oldest = 0;
	for (unsigned i = 1; i < WATCH_MAX; i++)
		if (ps->backoff[i].until_us < ps->backoff[oldest].until_us)
			oldest = i;
	memcpy(ps->backoff[oldest].id, id, 32);
	ps->backoff[oldest].until_us = ws_clock_mono_us() + CLAIM_BACKOFF_US;
}

static int solo_find(struct pay_station *ps, const uint8_t id[32])
{
	for (unsigned i = 0; i < ps->n_solo; i++)
		if (memcmp(ps->solo[i], id, 32) == 0)
			return (int)i;
	return -1;
}

static void solo_add(struct pay_station *ps, const uint8_t id[32])
{
	if (solo_find(ps, id) < 0 && ps->n_solo < WATCH_MAX)
		memcpy(ps->solo[ps->n_solo++], id, 32);
}

static void solo_remove(struct pay_station *ps, const uint8_t id[32])
{
	int i = solo_find(ps, id);
	if (i >= 0) {
		memmove(ps->solo[i], ps->solo[i + 1], (ps->n_solo - (unsigned)i - 1) * 32);
		ps->n_solo--;
	}
}

static const struct payee_key *key_for(const struct pay_station *ps, const uint8_t receiver[20])
{
	if (ps->have_payee_key && memcmp(receiver, ps->payee_key.addr, 20) == 0)
		return &ps->payee_key;
	for (unsigned i = 0; i < ps->n_retired_payee; i++)
		if (memcmp(receiver, ps->retired_payee[i].addr, 20) == 0)
			return &ps->retired_payee[i];
	return NULL;
}

static void on_claimed(void *user, int err, const struct ws_chain_tx_result *tx)
{
	struct pay_station *ps = user;
	unsigned n = ps->n_batch, finals = 0;
	bool ok = !err && tx && tx->receipt && tx->receipt->status;
	char hash[67] = "";

	if (tx)
		ws_hex_format(tx->tx_hash, 32, hash, sizeof(hash));
	ps->n_batch = 0;
	if (!ok && n > 1) {
		/* all or nothing: find the bad one by claiming one at a time */
		ws_warn("payment: a claimMany of %u channels failed (%s); claiming them one per transaction",
			n, err ? ws_chain_strerror(err) : "reverted");
		for (unsigned i = 0; i < n; i++)
			solo_add(ps, ps->batch[i].channel_id);
	} else if (!ok) {
		char id[67];
		ws_hex_format(ps->batch[0].channel_id, 32, id, sizeof(id));
		ws_warn("payment: claim of channel %s failed (%s); the watchtower tries again in %llu s",
			id, err ? ws_chain_strerror(err) : "reverted",
			(unsigned long long)(CLAIM_BACKOFF_US / 1000000));
		solo_remove(ps, ps->batch[0].channel_id);
		back_off(ps, ps->batch[0].channel_id);
	} else {
		for (unsigned i = 0; i < n; i++) {
			solo_remove(ps, ps->batch[i].channel_id);
			finals += ps->batch[i].close;
			if (pay_ledger_set_claimed(ps->store, ps->batch[i].channel_id,
						   &ps->batch[i].amount) < 0)
				ws_err("payment: claim %s mined but not recorded", hash);
		}
		ws_notice("payment: %s on-chain in %s: %u channel%s (%s), gas used %llu",
			  finals ? "final claim (close request answered)" : "claimed", hash, n,
			  n > 1 ? "s" : "", n > 1 ? "claimMany" : "claim",
			  (unsigned long long)tx->receipt->gas_used);
	}
	/* next round at once, unless a single claim just failed (it backs
	 * off; a final claim is tried again on the next tick) */
	ps_settle_tx_done(ps, ok || n > 1);
}

static bool send_claims(struct pay_station *ps, const struct payee_key *k,
			const struct ws_chain_claim *claims, unsigned n)
{
	struct ws_chain_signer signer = { .seckey = k->sk };

	memcpy(signer.address, k->addr, 20);
	memcpy(ps->batch, claims, n * sizeof(*claims));
	ps->n_batch = n;
	ps->tx_busy = true;
	if (ws_chain_claim(ps->chain, ps->channels, &signer, ps->batch, n, on_claimed, ps) != 0) {
		ws_warn("payment: cannot send a claim now");
		ps->tx_busy = false;
		ps->n_batch = 0;
		return false;
	}
	return true;
}

bool ps_settle_in_session(struct pay_station *ps, const uint8_t id[32])
{
	for (unsigned i = 1; i <= ps->n; i++)
		if (ps->conn[i].active && memcmp(ps->conn[i].ch.id, id, 32) == 0)
			return true;
	return false;
}

/* After a round that saw every unclaimed channel (ps->known): a retired
 * payee key with nothing left on its channels is said so, once. */
static void note_retired(struct pay_station *ps)
{
	for (unsigned r = 0; r < ps->n_retired_payee; r++) {
		bool used = false;
		for (unsigned i = 0; i < ps->n_known && !used; i++)
			used = memcmp(ps->known[i].ch.receiver, ps->retired_payee[r].addr, 20) == 0;
		if (!used && !ps->retired_noted[r]) {
			char a[WS_ADDRESS_STR_SIZE];
			ws_address_format(ps->retired_payee[r].addr, a);
			ws_notice("payment: retired payee key %s: nothing left to claim on its channels", a);
		}
		ps->retired_noted[r] = !used;
	}
}

/* All reads of a round are in: learn, then claim what is due. */
static void end_round(struct pay_station *ps)
{
	struct ws_chain_claim due[WATCH_MAX];
	const struct payee_key *due_key[WATCH_MAX];
	unsigned n_due = 0, n_final = 0;
	bool complete = ps->n_watch < WATCH_MAX, sent = false;
	ws_u256 threshold = ws_u256_from_u64(ps->pc->claim_threshold);

	ps->round_busy = false;
	ps->n_known = 0;
	for (unsigned i = 0; i < ps->n_watch; i++) {
		struct watch_entry *e = &ps->watch[i];
		struct pay_ledger_channel row;
		char idh[67], amt[80];
		ws_u256 unclaimed;

		if (e->err && e->err != WS_CHAIN_E_NO_CHANNEL) {
			complete = false;	/* chain down: the next round */
			continue;
		}
		if (pay_ledger_get(ps->store, e->id, &row) != 0 || !row.have_voucher)
			continue;
		ws_hex_format(e->id, 32, idh, sizeof(idh));
		if (e->err == WS_CHAIN_E_NO_CHANNEL) {
			/* closed: a final claim was made (elsewhere, or ours
			 * unrecorded), or the sender settled: nothing to claim */
			ws_u256 left;
			if (ws_u256_sub(&left, &row.highest, &row.claimed) < 0)
				left = ws_u256_from_u64(0);
			ws_u256_to_dec(&left, amt, sizeof(amt));
			ws_warn("payment: channel %s is closed on-chain; nothing is left to claim on it (%s of our voucher not claimed by us: a final claim made elsewhere, or settled by its sender)",
				idh, amt);
			if (pay_ledger_set_claimed(ps->store, e->id, &row.highest) < 0)
				ws_err("payment: cannot record channel %s as settled", idh);
			continue;
		}
		/* claims sent by others (the payee key on another machine) */
		if (ws_u256_cmp(&e->ch.claimed, &row.claimed) > 0) {
			ws_u256 c = e->ch.claimed;
			if (ws_u256_cmp(&c, &row.highest) > 0)
				c = row.highest;
			ws_u256_to_dec(&e->ch.claimed, amt, sizeof(amt));
			if (pay_ledger_set_claimed(ps->store, e->id, &c) < 0)
				ws_err("payment: cannot record the claim on channel %s", idh);
			else
				ws_notice("payment: channel %s: %s claimed on-chain (seen on the chain)", idh, amt);
			row.claimed = c;
		}
		if (ws_u256_sub(&unclaimed, &row.highest, &row.claimed) < 0 || ws_u256_is_zero(&unclaimed))
			continue;
		ps->known[ps->n_known++] = *e;
		bool final = e->ch.close_requested_at != 0;
		const struct payee_key *k = key_for(ps, e->ch.receiver);
		if (!k) {
			char rcv[WS_ADDRESS_STR_SIZE];
			ws_address_format(e->ch.receiver, rcv);
			ws_u256_to_dec(&unclaimed, amt, sizeof(amt));
			if (final)
				/* money is at stake: said at every round until claimed */
				ws_crit("payment: close requested on channel %s (at unix %llu) with %s unclaimed, and its receiver %s has no key here: submit the exported claims now (control command `claims`, contracts/scripts/submit-claims.mjs)",
					idh, (unsigned long long)e->ch.close_requested_at, amt, rcv);
			else if (memcmp(e->ch.receiver, ps->payee, 20) != 0)
				ws_warn("payment: channel %s pays %s, whose key is not here: %s unclaimed",
					idh, rcv, amt);
			continue;
		}
		if (final)
			ws_notice("payment: close requested on a channel we hold a voucher for: claiming");
		else if (ps_settle_in_session(ps, e->id) || backing_off(ps, e->id) ||
			 ws_u256_cmp(&unclaimed, &threshold) < 0)
			continue;
		/* finals first */
		unsigned at = final ? n_final++ : n_due;
		memmove(&due[at + 1], &due[at], (n_due - at) * sizeof(due[0]));
		memmove(&due_key[at + 1], &due_key[at], (n_due - at) * sizeof(due_key[0]));
		memset(&due[at], 0, sizeof(due[at]));
		memcpy(due[at].channel_id, e->id, 32);
		due[at].amount = row.highest;
		memcpy(due[at].sig, row.highest_sig, 65);
		due[at].close = final;
		due_key[at] = k;
		n_due++;
	}
	if (complete)
		note_retired(ps);
	if (n_due && !ps->tx_busy && ps->chain) {
		struct ws_chain_claim batch[WATCH_MAX];
		unsigned nb = 0, pick = 0;
		/* a channel of a failed batch goes alone (finals first) */
		for (unsigned i = 0; i < n_due; i++)
			if (solo_find(ps, due[i].channel_id) >= 0) {
				pick = i;
				nb = 1;
				batch[0] = due[i];
				break;
			}
		if (!nb)
			for (unsigned i = 0; i < n_due && nb < ps->pc->claim_batch_max; i++)
				if (due_key[i] == due_key[0] && solo_find(ps, due[i].channel_id) < 0)
					batch[nb++] = due[i];
		sent = send_claims(ps, due_key[pick], batch, nb);
	}
	if (ps->round_again && !sent) {
		ps->round_again = false;
		ps_settle_round_soon(ps);
	}
}

static void on_watch_read(void *user, int err, const struct ws_chain_channel *ch)
{
	struct watch_entry *e = user;
	struct pay_station *ps = e->ps;

	e->err = err;
	if (ch)
		e->ch = *ch;
	if (--ps->watch_pending == 0)
		end_round(ps);
}

static void start_round(struct pay_station *ps)
{
	struct pay_ledger_channel open[WATCH_MAX];

	/* one at a time; a transaction under way starts the next when done */
	if (ps->round_busy || ps->tx_busy) {
		ps->round_again = true;
		return;
	}
	if (!ps->chain)
		return;
	int n = pay_ledger_unclaimed(ps->store, open, WATCH_MAX);
	if (n < 0)
		ws_err("payment: watchtower cannot read the ledger");
	if (n <= 0) {
		if (n == 0) {
			ps->n_known = 0;
			note_retired(ps);
		}
		return;
	}
	ps->round_busy = true;
	ps->round_again = false;
	ps->n_watch = 0;
	ps->watch_pending = 1;	/* held until every read is queued */
	for (int i = 0; i < n; i++) {
		struct watch_entry *e = &ps->watch[ps->n_watch++];
		memset(e, 0, sizeof(*e));
		e->ps = ps;
		e->err = -1;
		memcpy(e->id, open[i].id, 32);
		ps->watch_pending++;
		if (ws_chain_get_channel(ps->chain, ps->channels, e->id, on_watch_read, e) != 0) {
			e->err = -ENOBUFS;
			ps->watch_pending--;
		}
	}
	if (--ps->watch_pending == 0)
		end_round(ps);
}

/* registry.latest(station) answered: a pending tariff whose offer another
 * machine published is in force now (payee_address). */
static void on_latest(void *user, int err, const uint8_t *p, size_t len)
{
	struct pay_station *ps = user;
	uint64_t nonce = 0;

	ps->latest_busy = false;
	if (err || len < 96)
		return;
	for (unsigned i = 0; i < 24; i++)
		if (p[i])
			return;	/* not a uint64 */
	for (unsigned i = 24; i < 32; i++)
		nonce = nonce << 8 | p[i];
	if (ps->pending && !ps->tx_busy && nonce >= ps->want.offer.nonce) {
		ps->cur = ps->want;
		ps->pending = false;
		ws_notice("payment: offer %llu is in the registry: the new tariff is in force",
			  (unsigned long long)ps->want.offer.nonce);
	}
}

static void check_registry(struct pay_station *ps)
{
	ws_abi_enc e;
	uint8_t *data;
	size_t len;

	if (ps->have_payee_key || !ps->pending || ps->tx_busy || ps->latest_busy || !ps->chain ||
	    ws_abi_enc_init(&e, "latest(address)") != 0)
		return;
	ws_abi_enc_address(&e, ps->station);
	if (ws_abi_enc_finish(&e, &data, &len) != 0)
		return;
	if (ws_chain_call(ps->chain, ps->registry, data, len, on_latest, ps) == 0)
		ps->latest_busy = true;
	free(data);
}

static void watch_cb(lws_sorted_usec_list_t *sul)
{
	struct pay_station *ps = lws_container_of(sul, struct pay_station, watch_sul);

	lws_sul_schedule(ps->ctx, 0, &ps->watch_sul, watch_cb,
			 (lws_usec_t)ps->pc->watch_interval_s * LWS_US_PER_SEC);
	check_registry(ps);
	start_round(ps);
}

/* A session ended: its channel is looked at now (claimed when due). */
void ps_settle_session_ended(struct pay_station *ps, const uint8_t channel_id[32])
{
	(void)channel_id;
	if (ps->round_busy || ps->tx_busy)
		ps->round_again = true;
	else
		ps_settle_round_soon(ps);
}

/* ---- key files ---------------------------------------------------------------------- */

int ps_settle_load_key(const char *path, uint8_t sk[32], uint8_t addr[20], const char *what)
{
	bool created;
	char a[WS_ADDRESS_STR_SIZE];
	int r = keyfile_load_or_create(path, sk, addr, &created);
	if (r != KEYFILE_OK) {
		ws_err("payment: %s key '%s': %s", what, path, keyfile_strerror(r));
		return r < 0 ? r : -EINVAL;
	}
	ws_address_format(addr, a);
	ws_notice("payment: %s key %s%s", what, a, created ? " (new)" : "");
	return 0;
}

struct retired_load {
	struct payee_key *out;
	int n, max;
	const char *what;
};

static void load_one_retired(void *user, const char *file)
{
	struct retired_load *l = user;
	char a[WS_ADDRESS_STR_SIZE];

	if (l->n >= l->max) {
		ws_warn("payment: more than %d retired %s keys: '%s' is not used", l->max, l->what,
			file);
		return;
	}
	int r = keyfile_load(file, l->out[l->n].sk, l->out[l->n].addr);
	if (r != KEYFILE_OK) {
		ws_err("payment: retired %s key '%s': %s", l->what, file, keyfile_strerror(r));
		return;
	}
	ws_address_format(l->out[l->n].addr, a);
	ws_notice("payment: retired %s key %s%s", l->what, a,
		  strcmp(l->what, "payee") == 0 ? " (claims the channels opened to it)" :
		  " (receipts it signed are this station's)");
	l->n++;
}

/* Keys retired by wattstream-keys next to path, oldest first.  Loads at
 * most max into out; returns how many.  A retired file that cannot be read
 * is logged and skipped. */
int ps_settle_load_retired(const char *path, struct payee_key *out, int max, const char *what)
{
	struct retired_load l = { .out = out, .max = max, .what = what };
	int r = keyfile_for_each_retired(path, load_one_retired, &l);
	if (r < 0)
		ws_err("payment: cannot list the retired %s keys next to %s: %s", what, path,
		       strerror(-r));
	return l.n;
}
