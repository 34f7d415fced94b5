/* address.h: 20-byte Ethereum addresses: derivation from a public key and
 * EIP-55 mixed-case checksummed text. */
#ifndef WATTSTREAM_ADDRESS_H
#define WATTSTREAM_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_ADDRESS_SIZE 20
#define WS_ADDRESS_STR_SIZE 43 /* "0x" + 40 digits + NUL */

/* Expected outcome of parsing (positive; malformed text is -EINVAL). */
enum {
	WS_ADDRESS_E_CHECKSUM = 1, /* mixed case that is not the EIP-55 checksum */
};

/* addr = last 20 bytes of keccak256(X || Y). */
void ws_address_from_pubkey(const uint8_t pub[64], uint8_t addr[WS_ADDRESS_SIZE]);

/* EIP-55 checksummed "0x…" into out[WS_ADDRESS_STR_SIZE]. */
void ws_address_format(const uint8_t addr[WS_ADDRESS_SIZE], char out[WS_ADDRESS_STR_SIZE]);

/* Parses "0x" + 40 hex digits.  All-lowercase and all-uppercase digits are
 * accepted as unchecksummed; mixed case must be the exact EIP-55 checksum.
 * Returns 0, -EINVAL if malformed (prefix, length, character), or
 * WS_ADDRESS_E_CHECKSUM.  addr written only on 0. */
int ws_address_parse(const char *s, uint8_t addr[WS_ADDRESS_SIZE])
	__attribute__((warn_unused_result));

/* true for 0x0000…0000 (an unset address; never a valid signer). */
bool ws_address_is_zero(const uint8_t addr[WS_ADDRESS_SIZE]);

#endif
