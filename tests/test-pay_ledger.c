/* test-pay_ledger.c: voucher acceptance against a channel's on-chain state
 * (every rejection), durability across reopen and across SIGKILL at random
 * moments (an acknowledged voucher is never lost), billing, claims, deny
 * list. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/pay_ledger.h"
#include "wattstream/store.h"

static uint8_t dsep[32];
static uint8_t sk_sender[32] = { [31] = 1 }, sk_session[32] = { [31] = 2 }, sk_stranger[32] = { [31] = 3 };

static void addr_of(const uint8_t sk[32], uint8_t addr[20])
{
	uint8_t pub[64];
	CHECK_INT(ws_ecsig_pubkey(sk, pub), 0);
	ws_address_from_pubkey(pub, addr);
}

static void sign(const uint8_t sk[32], const uint8_t id[32], uint64_t amount, uint8_t sig[65])
{
	uint8_t digest[32];
	ws_u256 a = ws_u256_from_u64(amount);
	ws_eip712_voucher_digest(dsep, id, &a, digest);
	CHECK_INT(ws_ecsig_sign(sk, digest, sig), 0);
}

static int accept_amount(struct ws_store *s, const struct ws_chain_channel *ch,
			 const uint8_t sk[32], uint64_t amount)
{
	uint8_t sig[65];
	ws_u256 a = ws_u256_from_u64(amount);
	sign(sk, ch->id, amount, sig);
	return pay_ledger_accept(s, dsep, ch, ch->id, ch->id, &a, sig, 65, (int64_t)amount);
}

static uint64_t u64(const ws_u256 *a)
{
	uint64_t v = 0;
	if (ws_u256_to_u64(a, &v) != 0)
		return UINT64_MAX;
	return v;
}

/* SIGKILL a writer at random moments: every voucher it acknowledged
 * (after pay_ledger_accept returned OK) must be there afterwards. */
static void crash_test(const char *path, const struct ws_chain_channel *ch)
{
	for (int round = 0; round < 8; round++) {
		int fds[2];
		CHECK_INT(pipe(fds), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			struct ws_store *s;
			const char *err;
			if (store_open(&s, path, &err) != 0)
				_exit(2);
			struct pay_ledger_channel row;
			if (pay_ledger_get(s, ch->id, &row) != 0)
				_exit(2);
			uint64_t next = u64(&row.highest) + 1;
			for (;; next++) {
				if (accept_amount(s, ch, sk_session, next) != PAY_LEDGER_OK)
					_exit(3);
				if (write(fds[1], &next, sizeof(next)) != sizeof(next))
					_exit(4);
			}
		}
		close(fds[1]);
		uint64_t acked = 0, v;
		int want = 5 + rand() % 40;
		for (int i = 0; i < want && read(fds[0], &v, sizeof(v)) == sizeof(v); i++)
			acked = v;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fds[0]);

		struct ws_store *s;
		const char *err;
		CHECK_INT(store_open(&s, path, &err), 0);
		struct pay_ledger_channel row;
		CHECK_INT(pay_ledger_get(s, ch->id, &row), 0);
		CHECK(acked > 0);
		CHECK(u64(&row.highest) >= acked);
		/* the signature stored is the one for that amount */
		uint8_t sig[65];
		sign(sk_session, ch->id, u64(&row.highest), sig);
		CHECK_MEM(row.highest_sig, sig, 65);
		store_close(s);
	}
}

int main(void)
{
	char dir[] = "/tmp/ws-test-ledger-XXXXXX", path[128];
	struct ws_store *s;
	const char *err;
	ws_eip712_domain dom = { .name = "Wattstream", .version = "1", .chain_id = ws_u256_from_u64(31337) };
	struct ws_chain_channel ch = { .id = { 0xc1, 0xa2 } }, other = { .id = { 0xc2 } };
	struct pay_ledger_channel row;

	memset(dom.verifying_contract, 0x5f, 20);
	ws_eip712_domain_separator(&dom, dsep);
	addr_of(sk_sender, ch.sender);
	addr_of(sk_session, ch.session_key);
	ch.deposit = ws_u256_from_u64(1000000);
	other = ch;
	other.id[0] = 0xc2;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ws.db", dir);
	CHECK_INT(store_open(&s, path, &err), 0);

	CHECK_INT(pay_ledger_get(s, ch.id, &row), 0);
	CHECK(!row.have_voucher);
	CHECK_INT(accept_amount(s, &ch, sk_session, 30000), PAY_LEDGER_OK);
	CHECK_INT(accept_amount(s, &ch, sk_session, 30000), PAY_LEDGER_E_NOT_HIGHER);
	CHECK_INT(accept_amount(s, &ch, sk_session, 29999), PAY_LEDGER_E_NOT_HIGHER);
	CHECK_INT(accept_amount(s, &ch, sk_sender, 60000), PAY_LEDGER_OK);	/* sender's own key */
	CHECK_INT(accept_amount(s, &ch, sk_stranger, 90000), PAY_LEDGER_E_WRONG_SIGNER);
	CHECK_INT(accept_amount(s, &ch, sk_session, 1000001), PAY_LEDGER_E_OVER_DEPOSIT);
	CHECK_INT(accept_amount(s, &ch, sk_session, 1000000), PAY_LEDGER_OK);	/* the whole deposit */

	/* a voucher for another channel, inside this channel's session */
	uint8_t sig[65];
	ws_u256 a = ws_u256_from_u64(2000000);
	sign(sk_session, other.id, 2000000, sig);
	CHECK_INT(pay_ledger_accept(s, dsep, &ch, ch.id, other.id, &a, sig, 65, 1), PAY_LEDGER_E_WRONG_CHANNEL);
	/* tampered signatures */
	struct ws_chain_channel big = ch;
	big.deposit = ws_u256_from_u64(5000000);
	a = ws_u256_from_u64(2000000);
	sign(sk_session, ch.id, 2000000, sig);
	uint8_t bad[66];
	memcpy(bad, sig, 65);
	bad[64] = 29;
	CHECK_INT(pay_ledger_accept(s, dsep, &big, ch.id, ch.id, &a, bad, 65, 1), PAY_LEDGER_E_BAD_V);
	CHECK_INT(pay_ledger_accept(s, dsep, &big, ch.id, ch.id, &a, sig, 64, 1), PAY_LEDGER_E_BAD_SIGNATURE);
	memcpy(bad, sig, 65);
	bad[64] = sig[64] == 27 ? 28 : 27;	/* the other v: another key, or none */
	int rv = pay_ledger_accept(s, dsep, &big, ch.id, ch.id, &a, bad, 65, 1);
	CHECK(rv == PAY_LEDGER_E_WRONG_SIGNER || rv == PAY_LEDGER_E_BAD_SIGNATURE);
	/* high S: s' = n - s with v flipped recovers the same key; refused */
	{
		static const uint8_t n[32] = {
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
			0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41 };
		ws_u256 nn, ss, hs;
		ws_u256_from_be(&nn, n);
		ws_u256_from_be(&ss, sig + 32);
		CHECK_INT(ws_u256_sub(&hs, &nn, &ss), 0);
		memcpy(bad, sig, 32);
		ws_u256_to_be(&hs, bad + 32);
		bad[64] = sig[64] == 27 ? 28 : 27;
		CHECK_INT(pay_ledger_accept(s, dsep, &big, ch.id, ch.id, &a, bad, 65, 1), PAY_LEDGER_E_HIGH_S);
	}
	/* a channel whose session key is unset: only the sender signs */
	struct ws_chain_channel nokey = big;
	memset(nokey.session_key, 0, 20);
	CHECK_INT(pay_ledger_accept(s, dsep, &nokey, ch.id, ch.id, &a, sig, 65, 1), PAY_LEDGER_E_WRONG_SIGNER);
	CHECK_STR(pay_ledger_error_code(PAY_LEDGER_E_HIGH_S), "voucher_high_s");

	/* billing, claims, unclaimed list, deny list survive a reopen */
	ws_u256 billed = ws_u256_from_u64(45000), claimed = ws_u256_from_u64(30000);
	CHECK_INT(pay_ledger_set_billed(s, ch.id, &billed), 0);
	CHECK_INT(pay_ledger_set_claimed(s, ch.id, &claimed), 0);
	CHECK_INT(pay_ledger_deny(s, other.id, "unpaid"), 0);
	store_close(s);
	CHECK_INT(store_open(&s, path, &err), 0);
	CHECK_INT(pay_ledger_get(s, ch.id, &row), 0);
	CHECK(row.have_voucher);
	CHECK_INT(u64(&row.highest), 1000000);
	CHECK_INT(u64(&row.billed), 45000);
	CHECK_INT(u64(&row.claimed), 30000);
	CHECK(!row.denied);
	struct pay_ledger_channel list[4];
	CHECK_INT(pay_ledger_unclaimed(s, list, 4), 1);
	CHECK_MEM(list[0].id, ch.id, 32);
	claimed = ws_u256_from_u64(1000000);
	CHECK_INT(pay_ledger_set_claimed(s, ch.id, &claimed), 0);
	CHECK_INT(pay_ledger_unclaimed(s, list, 4), 0);
	CHECK_INT(pay_ledger_get(s, other.id, &row), 0);
	CHECK(row.denied);
	CHECK_STR(row.deny_reason, "unpaid");
	store_close(s);

	/* durability: a fresh channel, writer killed at random */
	struct ws_chain_channel crash = ch;
	crash.id[0] = 0xcc;
	crash.deposit = ws_u256_from_u64(UINT64_MAX);
	srand((unsigned)getpid());
	crash_test(path, &crash);

	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
