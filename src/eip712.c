/* eip712.c: EIP-712 hashing and voucher verification.
 *
 * A voucher check costs three Keccak-256 permutations (struct hash over 96
 * bytes, digest over 66 bytes, address of the recovered key; the domain
 * separator is the caller's cached value) and one ECDSA public key
 * recovery, which dominates. */
#include "wattstream/eip712.h"
#include "wattstream/address.h"
#include "wattstream/ecsig.h"

#include <errno.h>
#include <string.h>

const char *ws_eip712_strerror(int code)
{
	switch (code) {
	case 0: return "ok";
	case WS_EIP712_E_BAD_SIGNATURE: return "malformed or unrecoverable signature";
	case WS_EIP712_E_HIGH_S: return "high-S signature";
	case WS_EIP712_E_BAD_V: return "v is not 27 or 28";
	case WS_EIP712_E_WRONG_SIGNER: return "signed by neither the session key nor the sender";
	default: return "unknown";
	}
}

void ws_eip712_type_hash(const char *type, uint8_t out[32])
{
	ws_keccak256(type, strlen(type), out);
}

void ws_eip712_struct_init(ws_eip712_struct *s, const char *type)
{
	uint8_t th[32];
	ws_eip712_type_hash(type, th);
	ws_keccak_init(&s->k);
	ws_keccak_update(&s->k, th, sizeof(th));
}

void ws_eip712_struct_word(ws_eip712_struct *s, const uint8_t word[32])
{
	ws_keccak_update(&s->k, word, 32);
}

void ws_eip712_struct_u256(ws_eip712_struct *s, const ws_u256 *v)
{
	uint8_t w[32];
	ws_u256_to_be(v, w);
	ws_keccak_update(&s->k, w, sizeof(w));
}

void ws_eip712_struct_u64(ws_eip712_struct *s, uint64_t v)
{
	ws_u256 u = ws_u256_from_u64(v);
	ws_eip712_struct_u256(s, &u);
}

void ws_eip712_struct_address(ws_eip712_struct *s, const uint8_t addr[20])
{
	uint8_t w[32] = { 0 };
	memcpy(w + 12, addr, 20);
	ws_keccak_update(&s->k, w, sizeof(w));
}

void ws_eip712_struct_bool(ws_eip712_struct *s, bool v)
{
	ws_eip712_struct_u64(s, v ? 1 : 0);
}

void ws_eip712_struct_bytes(ws_eip712_struct *s, const void *p, size_t n)
{
	uint8_t h[32];
	ws_keccak256(p, n, h);
	ws_keccak_update(&s->k, h, sizeof(h));
}

void ws_eip712_struct_string(ws_eip712_struct *s, const char *str)
{
	ws_eip712_struct_bytes(s, str, strlen(str));
}

void ws_eip712_struct_final(ws_eip712_struct *s, uint8_t out[32])
{
	ws_keccak_final(&s->k, out);
}

void ws_eip712_domain_separator(const ws_eip712_domain *d, uint8_t out[32])
{
	ws_eip712_struct s;
	ws_eip712_struct_init(&s, WS_EIP712_DOMAIN_TYPE);
	ws_eip712_struct_string(&s, d->name);
	ws_eip712_struct_string(&s, d->version);
	ws_eip712_struct_u256(&s, &d->chain_id);
	ws_eip712_struct_address(&s, d->verifying_contract);
	ws_eip712_struct_final(&s, out);
}

void ws_eip712_digest(const uint8_t domain_separator[32],
		      const uint8_t struct_hash[32], uint8_t out[32])
{
	uint8_t buf[66];
	buf[0] = 0x19;
	buf[1] = 0x01;
	memcpy(buf + 2, domain_separator, 32);
	memcpy(buf + 34, struct_hash, 32);
	ws_keccak256(buf, sizeof(buf), out);
}

/* keccak256(WS_EIP712_VOUCHER_TYPE), kept as a constant to save one
 * permutation per voucher; test-eip712 checks it against the type string. */
const uint8_t ws_eip712_voucher_type_hash[32] = {
	0xf2, 0x3c, 0xa0, 0x52, 0x20, 0x9b, 0x22, 0x8f,
	0x18, 0xe6, 0xaf, 0x20, 0xdc, 0x64, 0xab, 0x34,
	0x69, 0x8c, 0xe1, 0xac, 0xc5, 0x2d, 0x94, 0xb2,
	0xa5, 0xef, 0x4e, 0x8c, 0xc6, 0xfa, 0xee, 0x44,
};

void ws_eip712_voucher_hash(const uint8_t channel_id[32], const ws_u256 *amount,
			    uint8_t out[32])
{
	uint8_t buf[96];

	memcpy(buf, ws_eip712_voucher_type_hash, 32);
	memcpy(buf + 32, channel_id, 32);
	ws_u256_to_be(amount, buf + 64);
	ws_keccak256(buf, sizeof(buf), out);
}

void ws_eip712_voucher_digest(const uint8_t domain_separator[32],
			      const uint8_t channel_id[32], const ws_u256 *amount,
			      uint8_t out[32])
{
	uint8_t sh[32];
	ws_eip712_voucher_hash(channel_id, amount, sh);
	ws_eip712_digest(domain_separator, sh, out);
}

static bool signer_matches(const uint8_t *want, const uint8_t got[20])
{
	return want && !ws_address_is_zero(want) && memcmp(want, got, 20) == 0;
}

int ws_eip712_voucher_verify(const uint8_t domain_separator[32],
			     const uint8_t channel_id[32], const ws_u256 *amount,
			     const uint8_t *sig, size_t sig_len,
			     const uint8_t session_key[20], const uint8_t sender[20],
			     uint8_t recovered[20])
{
	uint8_t digest[32], addr[20];

	ws_eip712_voucher_digest(domain_separator, channel_id, amount, digest);
	int r = ws_ecsig_recover_address(digest, sig, sig_len, addr);
	switch (r) {
	case 0:
		break;
	case WS_ECSIG_E_HIGH_S:
		return WS_EIP712_E_HIGH_S;
	case WS_ECSIG_E_V:
		return WS_EIP712_E_BAD_V;
	case WS_ECSIG_E_LENGTH:
	case WS_ECSIG_E_RANGE:
	case WS_ECSIG_E_RECOVER:
		return WS_EIP712_E_BAD_SIGNATURE;
	default:
		return r < 0 ? r : -EIO;
	}
	if (recovered)
		memcpy(recovered, addr, 20);
	if (signer_matches(session_key, addr) || signer_matches(sender, addr))
		return 0;
	return WS_EIP712_E_WRONG_SIGNER;
}
