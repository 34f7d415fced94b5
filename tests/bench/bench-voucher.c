/* bench-voucher.c: voucher verification throughput.
 *
 * Prints, on the same 64 signed vouchers:
 *   - full: ws_eip712_voucher_verify() with the domain separator cached
 *     (struct hash, digest, signature checks, recovery, address, signer
 *     comparison), the daemon's per-voucher cost;
 *   - bare: one keccak256 of the digest preimage plus
 *     secp256k1_ecdsa_recoverable_signature_parse_compact +
 *     secp256k1_ecdsa_recover, the floor any verifier pays;
 *   - their ratio (design target: full within 1.1x of bare).
 * Each figure is the best of three rounds of WS_BENCH_SECONDS (default 1)
 * seconds.  It never asserts timing: a result line per figure, that's all.
 * Compare with tests/bench/bench-voucher-ethers.mjs (same key and voucher). */
#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/eip712.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVOUCHERS 64

struct voucher {
	ws_u256 amount;
	uint8_t struct_hash[32];
	uint8_t sig[65];
};

static uint8_t dsep[32], channel[32], session_addr[20], sender_addr[20];
static struct voucher vouchers[NVOUCHERS];
static secp256k1_context *bare_ctx;
static volatile unsigned sink; /* keeps results alive */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_full(size_t i)
{
	const struct voucher *v = &vouchers[i % NVOUCHERS];
	int r = ws_eip712_voucher_verify(dsep, channel, &v->amount, v->sig, 65,
					 session_addr, sender_addr, NULL);
	return r == 0;
}

static int run_bare(size_t i)
{
	const struct voucher *v = &vouchers[i % NVOUCHERS];
	uint8_t pre[66], digest[32];
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pk;

	pre[0] = 0x19;
	pre[1] = 0x01;
	memcpy(pre + 2, dsep, 32);
	memcpy(pre + 34, v->struct_hash, 32);
	ws_keccak256(pre, sizeof(pre), digest);
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(bare_ctx, &rs, v->sig, v->sig[64] - 27))
		return 0;
	if (!secp256k1_ecdsa_recover(bare_ctx, &pk, &rs, digest))
		return 0;
	return pk.data[0] | 1;
}

/* Operations per second of fn over `seconds`, best of three rounds. */
static double measure(int (*fn)(size_t), double seconds)
{
	double best = 0;
	for (int round = 0; round < 3; round++) {
		size_t n = 0, ok = 0;
		double t0 = now_s(), t;
		do {
			for (int k = 0; k < 64; k++)
				ok += (size_t)(fn(n++) != 0);
			t = now_s();
		} while (t - t0 < seconds);
		if (ok != n) {
			fprintf(stderr, "bench-voucher: %zu of %zu verifications failed\n", n - ok, n);
			exit(1);
		}
		sink += (unsigned)ok;
		if ((double)n / (t - t0) > best)
			best = (double)n / (t - t0);
	}
	return best;
}

int main(void)
{
	const char *env = getenv("WS_BENCH_SECONDS");
	double seconds = env ? atof(env) : 1.0;
	uint8_t sk[32], pub[64], sender_sk[32];
	ws_eip712_domain dom = { .name = "Wattstream", .version = "1",
				 .chain_id = ws_u256_from_u64(31337) };
	char hex[WS_HEX_STR_SIZE(65)];

	if (seconds <= 0)
		seconds = 1.0;
	/* fixed inputs, the same as bench-voucher-ethers.mjs */
	ws_keccak256("wattstream bench session key", 28, sk);
	ws_keccak256("wattstream bench sender key", 27, sender_sk);
	ws_keccak256("wattstream bench channel", 24, channel);
	if (ws_address_parse("0x5FbDB2315678afecb367f032d93F642f64180aa3", dom.verifying_contract) != 0 ||
	    ws_ecsig_pubkey(sk, pub) != 0)
		return 1;
	ws_address_from_pubkey(pub, session_addr);
	if (ws_ecsig_pubkey(sender_sk, pub) != 0)
		return 1;
	ws_address_from_pubkey(pub, sender_addr);
	ws_eip712_domain_separator(&dom, dsep);

	for (int i = 0; i < NVOUCHERS; i++) {
		uint8_t digest[32];
		vouchers[i].amount = ws_u256_from_u64(1000000 + 1000 * (uint64_t)i);
		ws_eip712_voucher_hash(channel, &vouchers[i].amount, vouchers[i].struct_hash);
		ws_eip712_digest(dsep, vouchers[i].struct_hash, digest);
		if (ws_ecsig_sign(sk, digest, vouchers[i].sig) != 0)
			return 1;
	}
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(sender_sk, sizeof(sender_sk));
	bare_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (!bare_ctx)
		return 1;

	(void)ws_hex_format(vouchers[0].sig, 65, hex, sizeof(hex));
	printf("voucher 0 (amount 1000000) signature: %s\n", hex);
	double full = measure(run_full, seconds);
	double bare = measure(run_bare, seconds);
	printf("C voucher verify (full): %.0f/s (%.2f us each)\n", full, 1e6 / full);
	printf("C keccak + secp256k1_ecdsa_recover (bare): %.0f/s (%.2f us each)\n", bare, 1e6 / bare);
	printf("full/bare time ratio: %.3f (target <= 1.1)\n", bare / full);
	secp256k1_context_destroy(bare_ctx);
	return 0;
}
