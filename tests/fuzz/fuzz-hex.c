/* fuzz-hex.c: the text parsers of the Ethereum primitives on arbitrary
 * strings: "0x" hex, EIP-55 addresses and decimal uint256.  None may crash;
 * whatever one accepts must format back to the same value (and, for the
 * strict decimal form, to the very same text). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wattstream/address.h"
#include "wattstream/hex.h"
#include "wattstream/u256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	uint8_t *bytes = NULL;
	size_t n = 0;
	if (ws_hex_parse_alloc(s, &bytes, &n) == 0) {
		size_t cap = WS_HEX_STR_SIZE(n);
		char *back = malloc(cap);
		if (back && ws_hex_format(bytes, n, back, cap) == 0) {
			/* same digits, ignoring case and the 0x/0X spelling */
			if (strlen(back) != strlen(s))
				__builtin_trap();
			for (size_t i = 2; back[i]; i++)
				if (back[i] != tolower((unsigned char)s[i]))
					__builtin_trap();
		}
		uint8_t fixed[8];
		if (n <= sizeof(fixed) && ws_hex_parse(s, fixed, n) != 0)
			__builtin_trap();
		free(back);
		free(bytes);
	}

	uint8_t addr[20], again[20];
	if (ws_address_parse(s, addr) == 0) {
		char out[WS_ADDRESS_STR_SIZE];
		ws_address_format(addr, out);
		if (ws_address_parse(out, again) != 0 || memcmp(addr, again, 20) != 0)
			__builtin_trap();
		if (strcasecmp(out, s) != 0)
			__builtin_trap();
	}

	ws_u256 v;
	if (ws_u256_from_dec(&v, s) == 0) {
		char out[WS_U256_DEC_SIZE];
		if (ws_u256_to_dec(&v, out, sizeof(out)) != 0 || strcmp(out, s) != 0)
			__builtin_trap();
	}
	free(s);
	return 0;
}
