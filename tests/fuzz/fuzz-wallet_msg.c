/* fuzz-wallet_msg.c: both message parsers of the wallet protocol on
 * arbitrary frames: the station's (wallet -> station) and the wallet's
 * (station -> wallet).  Nothing may crash or leak; a refusal always names a
 * §3.8 code and a valid UTF-8 message; a wallet message that is accepted
 * must encode back to one that parses to the very same struct. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/wallet_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void station_side(const uint8_t *data, size_t size)
{
	struct wallet_station_msg m;
	struct wallet_msg_error e;
	int r = wallet_msg_parse_station((const char *)data, size, &m, &e);

	if (r == 0) {
		if (!m.root)
			__builtin_trap();
		wallet_station_msg_clear(&m);
	} else if (r == WALLET_MSG_E_INVALID) {
		if (!wallet_err_name(e.code) || e.message[0] == '\0' || m.root)
			__builtin_trap();
	} else if (r != WALLET_MSG_E_JSON && r != -ENOMEM) {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wallet_msg m, again;
	struct wallet_msg_error e;
	int r = wallet_msg_parse((const char *)data, size, &m, &e);

	station_side(data, size);

	if (r == WALLET_MSG_E_INVALID) {
		if (!wallet_err_name(e.code) || e.message[0] == '\0')
			__builtin_trap();
		json_t *j = json_string(e.message);	/* must be valid UTF-8 */
		if (!j)
			__builtin_trap();
		json_decref(j);
		return 0;
	}
	if (r != 0) {
		if (r != WALLET_MSG_E_JSON && r != -ENOMEM)
			__builtin_trap();
		return 0;
	}
	if (size > WALLET_MSG_MAX_BYTES)
		__builtin_trap();
	json_t *o = NULL;
	if (wallet_msg_encode(&o, &m) != 0)
		__builtin_trap();
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return 0;
	if (wallet_msg_parse(s, strlen(s), &again, &e) != 0 || memcmp(&m, &again, sizeof(m)) != 0)
		__builtin_trap();
	free(s);
	return 0;
}
