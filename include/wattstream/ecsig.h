/* ecsig.h: secp256k1 ECDSA signatures as Ethereum uses them, through
 * libsecp256k1 (with its recovery module).
 *
 * A signature is 65 bytes r||s||v with v in {27, 28}.  Signing uses RFC 6979
 * deterministic nonces and always yields low-S, so it matches ethers'
 * SigningKey.sign byte for byte.  Recovery accepts exactly what
 * OpenZeppelin's ECDSA.tryRecover accepts: 65 bytes, v in {27, 28},
 * 0 < r < n, 0 < s <= n/2.
 *
 * One process-wide context, created (and randomized against side channels)
 * on first use, thread-safe.  Secret buffers are wiped after use. */
#ifndef WATTSTREAM_ECSIG_H
#define WATTSTREAM_ECSIG_H

#include <stddef.h>
#include <stdint.h>

#define WS_ECSIG_SECKEY_SIZE 32
#define WS_ECSIG_PUBKEY_SIZE 64 /* X || Y, big-endian, without the 0x04 tag */
#define WS_ECSIG_SIG_SIZE 65    /* r || s || v */

/* Expected outcomes of recovery (positive; -errno stays "unexpected"). */
enum {
	WS_ECSIG_E_LENGTH = 1,   /* signature is not 65 bytes */
	WS_ECSIG_E_V = 2,        /* v not 27 or 28 */
	WS_ECSIG_E_RANGE = 3,    /* r or s is 0 or >= n */
	WS_ECSIG_E_HIGH_S = 4,   /* s > n/2 (malleable twin of a valid one) */
	WS_ECSIG_E_RECOVER = 5,  /* no public key recovers (r not an x on the curve) */
};

/* Short English name of a WS_ECSIG_E_* code (or "unknown"). */
const char *ws_ecsig_strerror(int code);

/* Creates a random private key from getrandom(2).  Returns 0, or -errno
 * from getrandom.  The caller wipes seckey after use. */
int ws_ecsig_keygen(uint8_t seckey[WS_ECSIG_SECKEY_SIZE])
	__attribute__((warn_unused_result));

/* Public key of seckey.  -EINVAL if seckey is 0 or >= n. */
int ws_ecsig_pubkey(const uint8_t seckey[WS_ECSIG_SECKEY_SIZE],
		    uint8_t pub[WS_ECSIG_PUBKEY_SIZE])
	__attribute__((warn_unused_result));

/* Signs a 32-byte digest (compute it from fields, never take it from a
 * peer).  Writes r||s||v (v = 27 + recovery id).  -EINVAL if seckey is
 * invalid; -ENOMEM if the context cannot be created. */
int ws_ecsig_sign(const uint8_t seckey[WS_ECSIG_SECKEY_SIZE],
		  const uint8_t digest[32], uint8_t sig[WS_ECSIG_SIG_SIZE])
	__attribute__((warn_unused_result));

/* Recovers the signer's public key from digest and sig[sig_len].  Returns 0
 * and fills pub, or a WS_ECSIG_E_* code (pub untouched), or -ENOMEM. */
int ws_ecsig_recover(const uint8_t digest[32], const uint8_t *sig, size_t sig_len,
		     uint8_t pub[WS_ECSIG_PUBKEY_SIZE])
	__attribute__((warn_unused_result));

/* As ws_ecsig_recover(), giving the 20-byte address instead. */
int ws_ecsig_recover_address(const uint8_t digest[32], const uint8_t *sig,
			     size_t sig_len, uint8_t addr[20])
	__attribute__((warn_unused_result));

/* Checks sig's shape (length, v, range, low-S) without recovering: the
 * cheap checks of ws_ecsig_recover(), for callers that want them first. */
int ws_ecsig_check(const uint8_t *sig, size_t sig_len)
	__attribute__((warn_unused_result));

#endif
