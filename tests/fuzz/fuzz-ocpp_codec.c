/* fuzz-ocpp_codec.c: libFuzzer harness over every generated decoder.  The
 * first byte picks the action (byte / 2 modulo the table) and the direction
 * (lowest bit: 0 request, 1 response); the rest is the JSON payload.  What
 * decodes must re-encode, decode again, and re-encode to the same JSON;
 * what does not must carry a CALLERROR code and a description. */
#include <stdint.h>
#include <stdlib.h>

#include "ocpp_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > OCPP_RPC_FRAME_MAX)
		return 0;
	const struct ocpp_action *a = &ocpp_actions[(data[0] >> 1) % ocpp_actions_count];
	bool conf = data[0] & 1;
	json_t *j = json_loadb((const char *)data + 1, size - 1,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
	if (!j)
		return 0;
	int (*dec)(const json_t *, void *, struct ocpp_err *) = conf ? a->conf_decode : a->req_decode;
	json_t *(*enc)(const void *) = conf ? a->conf_encode : a->req_encode;
	void (*release)(void *) = conf ? a->conf_free : a->req_free;
	size_t sz = conf ? a->conf_size : a->req_size;
	void *s1 = calloc(1, sz), *s2 = calloc(1, sz);
	struct ocpp_err err;
	if (!s1 || !s2)
		goto out;
	int r = dec(j, s1, &err);
	if (r == OCPP_E_INVALID) {
		if (err.code == OCPP_ERR_NONE || err.desc[0] == '\0')
			abort();
	} else if (r == 0) {
		json_t *e1 = enc(s1);
		if (!e1 || dec(e1, s2, &err) != 0)
			abort();
		json_t *e2 = enc(s2);
		if (!e2 || !json_equal(e1, e2))
			abort();
		json_decref(e1);
		json_decref(e2);
		release(s2);
	}
	release(s1);
out:
	free(s1);
	free(s2);
	json_decref(j);
	return 0;
}
