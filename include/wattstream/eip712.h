/* eip712.h: EIP-712 typed-data hashing, and the payment voucher check.
 *
 * hashStruct(s) = keccak256(typeHash || enc(field1) || enc(field2) || …)
 * where each field is one 32-byte word: atomic values padded to 32 bytes,
 * string/bytes as keccak256 of their contents, nested structs as their own
 * hashStruct.  ws_eip712_struct builds that incrementally so a new struct
 * (Offer, Receipt…) is a few lines; the word helpers follow the order of the
 * type string, which the caller must respect.
 *
 * Voucher: `Voucher(bytes32 channelId,uint256 amount)` in the domain
 * `EIP712Domain(string name,string version,uint256 chainId,address
 * verifyingContract)`.  The digest is always computed from the fields here,
 * never taken from outside. */
#ifndef WATTSTREAM_EIP712_H
#define WATTSTREAM_EIP712_H

#include "wattstream/keccak.h"
#include "wattstream/u256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_EIP712_VOUCHER_TYPE "Voucher(bytes32 channelId,uint256 amount)"
#define WS_EIP712_DOMAIN_TYPE \
	"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

/* Outcomes of ws_eip712_voucher_verify() (positive: expected rejections). */
enum {
	WS_EIP712_E_BAD_SIGNATURE = 1, /* wrong length, r/s out of range, no key recovers */
	WS_EIP712_E_HIGH_S = 2,        /* s > n/2 */
	WS_EIP712_E_BAD_V = 3,         /* v not 27 or 28 */
	WS_EIP712_E_WRONG_SIGNER = 4,  /* valid signature by someone else */
};

const char *ws_eip712_strerror(int code);

/* Incremental hashStruct.  Lives on the stack; no allocation. */
typedef struct ws_eip712_struct {
	ws_keccak k;
} ws_eip712_struct;

/* Starts hashStruct for the given full type string (primary type first,
 * then referenced types sorted by name, as EIP-712 encodeType says). */
void ws_eip712_struct_init(ws_eip712_struct *s, const char *type);
void ws_eip712_struct_word(ws_eip712_struct *s, const uint8_t word[32]);  /* bytes32, or a nested hashStruct */
void ws_eip712_struct_u256(ws_eip712_struct *s, const ws_u256 *v);
void ws_eip712_struct_u64(ws_eip712_struct *s, uint64_t v);               /* any uintN, N <= 64 */
void ws_eip712_struct_address(ws_eip712_struct *s, const uint8_t addr[20]);
void ws_eip712_struct_bool(ws_eip712_struct *s, bool v);
void ws_eip712_struct_string(ws_eip712_struct *s, const char *str);       /* keccak256(utf-8 bytes) */
void ws_eip712_struct_bytes(ws_eip712_struct *s, const void *p, size_t n); /* keccak256(bytes) */
void ws_eip712_struct_final(ws_eip712_struct *s, uint8_t out[32]);

/* keccak256 of a type string (the typeHash). */
void ws_eip712_type_hash(const char *type, uint8_t out[32]);

typedef struct ws_eip712_domain {
	const char *name;
	const char *version;
	ws_u256 chain_id;
	uint8_t verifying_contract[20];
} ws_eip712_domain;

/* hashStruct(EIP712Domain{name, version, chainId, verifyingContract}). */
void ws_eip712_domain_separator(const ws_eip712_domain *d, uint8_t out[32]);

/* keccak256(0x19 0x01 || domainSeparator || structHash). */
void ws_eip712_digest(const uint8_t domain_separator[32],
		      const uint8_t struct_hash[32], uint8_t out[32]);

/* keccak256(WS_EIP712_VOUCHER_TYPE) */
extern const uint8_t ws_eip712_voucher_type_hash[32];

/* hashStruct(Voucher{channelId, amount}). */
void ws_eip712_voucher_hash(const uint8_t channel_id[32], const ws_u256 *amount,
			    uint8_t out[32]);
/* Digest a wallet signs for a voucher. */
void ws_eip712_voucher_digest(const uint8_t domain_separator[32],
			      const uint8_t channel_id[32], const ws_u256 *amount,
			      uint8_t out[32]);

/* Checks that sig[sig_len] over the voucher (channel_id, amount) in the
 * domain recovers to session_key or to sender (either may be NULL or the
 * zero address to mean "not authorized").  Returns 0 if so, a
 * WS_EIP712_E_* code if not, or -ENOMEM.  If recovered is not NULL it
 * receives the recovered address on 0 and on WS_EIP712_E_WRONG_SIGNER. */
int ws_eip712_voucher_verify(const uint8_t domain_separator[32],
			     const uint8_t channel_id[32], const ws_u256 *amount,
			     const uint8_t *sig, size_t sig_len,
			     const uint8_t session_key[20], const uint8_t sender[20],
			     uint8_t recovered[20])
	__attribute__((warn_unused_result));

#endif
