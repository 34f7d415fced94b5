/* fuzz-eth_rpc.c: what a JSON-RPC node answers is untrusted.  The first
 * byte of the input picks the request id (0..255); the rest is the HTTP
 * body.  The envelope parser must never crash or leak; whatever it accepts
 * is then fed to every decoder a chain call might apply to a result: u64
 * and u256 quantities (which must format back to the same
 * text but for the case of the digits), fixed and
 * variable data, a receipt, a log list and getChannel return data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wattstream/chain.h"
#include "wattstream/eth_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_quantity(const json_t *v)
{
	uint64_t x;
	ws_u256 u;
	char s64[19], s256[67];
	int r64 = ws_eth_rpc_quantity_u64(v, &x);
	int r256 = ws_eth_rpc_quantity_u256(v, &u);
	if (r64 == 0) {
		ws_eth_rpc_format_quantity_u64(x, s64);
		if (strcasecmp(s64, json_string_value(v)) != 0 || r256 != 0 || u.w[0] != x || u.w[1])
			__builtin_trap();
	}
	if (r256 == 0) {
		ws_eth_rpc_format_quantity_u256(&u, s256);
		if (strcasecmp(s256, json_string_value(v)) != 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint64_t id = data[0];
	json_t *res = NULL, *edata = NULL;
	char *msg = NULL;
	int64_t code = 0;
	int r = ws_eth_rpc_parse_response((const char *)data + 1, size - 1, id, &res, &code,
					  &msg, &edata);
	if (r == WS_ETH_RPC_E_RPC) {
		if (!msg || res)
			__builtin_trap();
	} else if (r == 0) {
		if (!res || msg || edata)
			__builtin_trap();
		check_quantity(res);
		uint8_t b32[32], *p = NULL;
		size_t n = 0;
		(void)!ws_eth_rpc_data_fixed(res, b32, 32);
		if (ws_eth_rpc_data_alloc(res, 1 << 16, &p, &n) == 0) {
			struct ws_chain_channel ch;
			(void)!ws_chain_decode_channel(p, n, &ch);
			free(p);
		}
		memset(b32, 0, sizeof(b32));
		json_t *h = json_object_get(res, "transactionHash");
		if (h)
			(void)!ws_eth_rpc_data_fixed(h, b32, 32);
		(void)!ws_chain_check_receipt(res, b32, NULL);
		(void)!ws_chain_check_logs(res, NULL);
		const char *key;
		json_t *v;
		json_object_foreach(res, key, v)
			check_quantity(v);
	} else if (res || msg || edata) {
		__builtin_trap();
	}
	json_decref(res);
	json_decref(edata);
	free(msg);
	return 0;
}
