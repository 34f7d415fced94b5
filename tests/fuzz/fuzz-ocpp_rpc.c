/* fuzz-ocpp_rpc.c: libFuzzer harness over OCPP-J frame parsing, CALL payload
 * validation and the answer the daemon would send.  Any input must parse or
 * be refused with a CALLERROR code; an accepted CALL is decoded with its
 * action's codec, re-encoded, and the answer frame built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_messages.h"
#include "wattstream/ocpp_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocpp_rpc_msg m;
	struct ocpp_rpc_perr pe;
	char *frame = NULL;
	int r = ocpp_rpc_parse((const char *)data, size, &m, &pe);
	if (r == OCPP_E_INVALID) {
		if (pe.code == OCPP_ERR_NONE || pe.err.desc[0] == '\0')
			abort();
		if (pe.can_answer) {
			/* What may be answered must be encodable. */
			if (ocpp_rpc_encode_error(pe.id, pe.code, pe.err.desc, &frame) != 0)
				abort();
			free(frame);
		}
		return 0;
	}
	if (r != 0)
		return 0;
	if (m.type == OCPP_MSG_CALL) {
		const struct ocpp_action *a = ocpp_action_find(m.action);
		if (!a)
			abort();
		void *req = calloc(1, a->req_size);
		if (req) {
			r = ocpp_rpc_decode_call(&m, req, &pe);
			if (r == 0) {
				json_t *j = a->req_encode(req);
				if (!j)
					abort();
				if (ocpp_rpc_encode_call(m.id, m.action, j, &frame) == 0)
					free(frame);
				json_decref(j);
				a->req_free(req);
			} else if (r == OCPP_E_INVALID) {
				if (!pe.can_answer || pe.code == OCPP_ERR_NONE ||
				    ocpp_rpc_encode_error(pe.id, pe.code, pe.err.desc, &frame) != 0)
					abort();
				free(frame);
			}
			free(req);
		}
	} else if (m.type == OCPP_MSG_CALLRESULT) {
		if (!json_is_object(m.payload) || ocpp_rpc_encode_result(m.id, m.payload, &frame) != 0)
			abort();
		free(frame);
	} else if (!m.error_description || !json_is_object(m.error_details)) {
		abort();
	}
	ocpp_rpc_msg_clear(&m);
	return 0;
}
