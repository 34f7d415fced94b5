/* address.c: address derivation and EIP-55.  Each call costs one Keccak-256
 * permutation (over 64 bytes, or over the 40 lowercase hex digits). */
#include "wattstream/address.h"
#include "wattstream/hex.h"
#include "wattstream/keccak.h"

#include <errno.h>
#include <string.h>

void ws_address_from_pubkey(const uint8_t pub[64], uint8_t addr[WS_ADDRESS_SIZE])
{
	uint8_t h[32];
	ws_keccak256(pub, 64, h);
	memcpy(addr, h + 12, WS_ADDRESS_SIZE);
}

/* EIP-55: digit i is uppercased when nibble i of keccak256(lowercase hex
 * digits, as ASCII) is >= 8. */
static void checksum_apply(char digits[40])
{
	uint8_t h[32];
	ws_keccak256(digits, 40, h);
	for (int i = 0; i < 40; i++) {
		unsigned nib = (h[i / 2] >> (i % 2 ? 0 : 4)) & 15;
		if (digits[i] >= 'a' && digits[i] <= 'f' && nib >= 8)
			digits[i] = (char)(digits[i] - 'a' + 'A');
	}
}

void ws_address_format(const uint8_t addr[WS_ADDRESS_SIZE], char out[WS_ADDRESS_STR_SIZE])
{
	(void)ws_hex_format(addr, WS_ADDRESS_SIZE, out, WS_ADDRESS_STR_SIZE);
	checksum_apply(out + 2);
}

int ws_address_parse(const char *s, uint8_t addr[WS_ADDRESS_SIZE])
{
	uint8_t tmp[WS_ADDRESS_SIZE];
	bool lower = false, upper = false;

	int r = ws_hex_parse(s, tmp, sizeof(tmp));
	if (r < 0)
		return -EINVAL; /* wrong length is malformed too */
	if (s[1] != 'x')
		return -EINVAL; /* "0X" is not how addresses are written */
	for (int i = 2; i < 42; i++) {
		lower |= s[i] >= 'a' && s[i] <= 'f';
		upper |= s[i] >= 'A' && s[i] <= 'F';
	}
	if (lower && upper) {
		char want[WS_ADDRESS_STR_SIZE];
		ws_address_format(tmp, want);
		if (memcmp(want, s, 42) != 0)
			return WS_ADDRESS_E_CHECKSUM;
	}
	memcpy(addr, tmp, WS_ADDRESS_SIZE);
	return 0;
}

bool ws_address_is_zero(const uint8_t addr[WS_ADDRESS_SIZE])
{
	uint8_t acc = 0;
	for (int i = 0; i < WS_ADDRESS_SIZE; i++)
		acc |= addr[i];
	return acc == 0;
}
