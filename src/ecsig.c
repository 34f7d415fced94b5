/* ecsig.c: Ethereum-style ECDSA over libsecp256k1.
 *
 * The shape checks (length, v, 0 < r,s < n, s <= n/2) are done here on the
 * raw bytes before libsecp256k1 sees the signature, so each rejection has its
 * own code.  Cost: one elliptic-curve scalar multiplication per signature
 * or recovery (recovery ~33 us on the x86 development machine, see
 * bench-voucher; several times that on a small ARM board); the shape checks
 * are a few byte compares.
 *
 * The context is created once (pthread_once) and randomized with 32 bytes
 * from getrandom(2); after that it is only read, which libsecp256k1 allows
 * from several threads. */
#include "wattstream/ecsig.h"
#include "wattstream/address.h"

#include <errno.h>
#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <string.h>
#include <sys/random.h>

/* secp256k1 group order n and n/2 (OpenZeppelin's high-S bound), big-endian */
static const uint8_t ecsig_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
	0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t ecsig_half_n[32] = {
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d,
	0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

static pthread_once_t ecsig_once = PTHREAD_ONCE_INIT;
static secp256k1_context *ecsig_ctx;

static int getrandom_all(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void ecsig_ctx_init(void)
{
	uint8_t seed[32];
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (!ctx)
		return;
	/* Randomization only blinds signing against side channels; a context
	 * without it still signs correctly, so a getrandom failure is not fatal. */
	if (getrandom_all(seed, sizeof(seed)) == 0 &&
	    !secp256k1_context_randomize(ctx, seed)) {
		/* cannot fail for a NONE context; signing stays correct anyway */
	}
	explicit_bzero(seed, sizeof(seed));
	ecsig_ctx = ctx;
}

static secp256k1_context *ecsig_context(void)
{
	pthread_once(&ecsig_once, ecsig_ctx_init);
	return ecsig_ctx;
}

static int is_zero32(const uint8_t *p)
{
	uint8_t acc = 0;
	for (int i = 0; i < 32; i++)
		acc |= p[i];
	return acc == 0;
}

const char *ws_ecsig_strerror(int code)
{
	switch (code) {
	case 0: return "ok";
	case WS_ECSIG_E_LENGTH: return "signature is not 65 bytes";
	case WS_ECSIG_E_V: return "v is not 27 or 28";
	case WS_ECSIG_E_RANGE: return "r or s out of range";
	case WS_ECSIG_E_HIGH_S: return "high-S signature";
	case WS_ECSIG_E_RECOVER: return "no key recovers from signature";
	default: return "unknown";
	}
}

int ws_ecsig_keygen(uint8_t seckey[WS_ECSIG_SECKEY_SIZE])
{
	secp256k1_context *ctx = ecsig_context();
	if (!ctx)
		return -ENOMEM;
	for (;;) {
		int r = getrandom_all(seckey, WS_ECSIG_SECKEY_SIZE);
		if (r < 0)
			return r;
		/* fails with probability ~2^-128 (0 or >= n): draw again */
		if (secp256k1_ec_seckey_verify(ctx, seckey))
			return 0;
	}
}

int ws_ecsig_pubkey(const uint8_t seckey[WS_ECSIG_SECKEY_SIZE],
		    uint8_t pub[WS_ECSIG_PUBKEY_SIZE])
{
	secp256k1_context *ctx = ecsig_context();
	secp256k1_pubkey pk;
	uint8_t ser[65];
	size_t len = sizeof(ser);

	if (!ctx)
		return -ENOMEM;
	if (!secp256k1_ec_pubkey_create(ctx, &pk, seckey))
		return -EINVAL;
	secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	memcpy(pub, ser + 1, WS_ECSIG_PUBKEY_SIZE);
	return 0;
}

int ws_ecsig_sign(const uint8_t seckey[WS_ECSIG_SECKEY_SIZE],
		  const uint8_t digest[32], uint8_t sig[WS_ECSIG_SIG_SIZE])
{
	secp256k1_context *ctx = ecsig_context();
	secp256k1_ecdsa_recoverable_signature rs;
	int recid = 0;

	if (!ctx)
		return -ENOMEM;
	/* NULL nonce function = RFC 6979; the result is always low-S */
	if (!secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, seckey, NULL, NULL))
		return -EINVAL;
	secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
	sig[64] = (uint8_t)(27 + recid);
	explicit_bzero(&rs, sizeof(rs));
	return 0;
}

int ws_ecsig_check(const uint8_t *sig, size_t sig_len)
{
	if (sig_len != WS_ECSIG_SIG_SIZE)
		return WS_ECSIG_E_LENGTH;
	if (sig[64] != 27 && sig[64] != 28)
		return WS_ECSIG_E_V;
	if (is_zero32(sig) || memcmp(sig, ecsig_n, 32) >= 0 ||
	    is_zero32(sig + 32) || memcmp(sig + 32, ecsig_n, 32) >= 0)
		return WS_ECSIG_E_RANGE;
	if (memcmp(sig + 32, ecsig_half_n, 32) > 0)
		return WS_ECSIG_E_HIGH_S;
	return 0;
}

int ws_ecsig_recover(const uint8_t digest[32], const uint8_t *sig, size_t sig_len,
		     uint8_t pub[WS_ECSIG_PUBKEY_SIZE])
{
	secp256k1_context *ctx = ecsig_context();
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pk;
	uint8_t ser[65];
	size_t len = sizeof(ser);

	int r = ws_ecsig_check(sig, sig_len);
	if (r)
		return r;
	if (!ctx)
		return -ENOMEM;
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig, sig[64] - 27))
		return WS_ECSIG_E_RANGE; /* unreachable after the checks above */
	if (!secp256k1_ecdsa_recover(ctx, &pk, &rs, digest))
		return WS_ECSIG_E_RECOVER;
	secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	memcpy(pub, ser + 1, WS_ECSIG_PUBKEY_SIZE);
	return 0;
}

int ws_ecsig_recover_address(const uint8_t digest[32], const uint8_t *sig,
			     size_t sig_len, uint8_t addr[20])
{
	uint8_t pub[WS_ECSIG_PUBKEY_SIZE];
	int r = ws_ecsig_recover(digest, sig, sig_len, pub);
	if (r)
		return r;
	ws_address_from_pubkey(pub, addr);
	return 0;
}
