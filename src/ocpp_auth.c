/* ocpp_auth.c: whether an idTag may charge (Authorize).  Online, the
 * Central System decides; offline, AllowOfflineTxForUnknownId does.  The
 * answer always comes later, from the loop, never re-entrantly.  Cost: one
 * small allocation per request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ocpp_cp_internal.h"
#include "wattstream/log.h"

struct auth_req {
	lws_sorted_usec_list_t sul;	/* offline answer, from the loop */
	struct ocpp_cp *cp;
	unsigned connector;
	ocpp_cp_auth_fn cb;
	void *user;
};

static void on_authorize(void *user, struct ocpp_link *link, const struct ocpp_link_answer *a)
{
	struct auth_req *q = user;
	struct ocpp_cp *cp = q->cp;

	if (a->status == OCPP_LINK_OK) {
		const struct ocpp_authorize_conf *conf = a->conf;
		q->cb(q->user, q->connector,
		      conf->id_tag_info.status == OCPP_AUTHORIZATION_STATUS_ACCEPTED,
		      ocpp_authorization_status_str(conf->id_tag_info.status));
	} else {
		/* no answer: as if offline */
		bool ok = ocpp_config_bool(cp->keys, "AllowOfflineTxForUnknownId");
		q->cb(q->user, q->connector, ok, "Offline");
	}
	free(q);
}

static void offline_auth_cb(lws_sorted_usec_list_t *sul)
{
	struct auth_req *q = lws_container_of(sul, struct auth_req, sul);
	struct ocpp_link_answer a = { .status = OCPP_LINK_DISCONNECTED, .error_desc = "offline" };
	on_authorize(q, q->cp->link, &a);
}

int ocpp_cp_authorize(struct ocpp_cp *cp, unsigned connector, const char *id_tag,
		      ocpp_cp_auth_fn cb, void *user)
{
	struct auth_req *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->cp = cp;
	q->connector = connector;
	q->cb = cb;
	q->user = user;
	if (cp->state == OCPP_CP_ACCEPTED) {
		struct ocpp_err err = { 0 };
		json_t *p = json_pack("{s:s}", "idTag", id_tag);
		int r = ocpp_link_call(cp->link, "Authorize", p, on_authorize, q, NULL, &err);
		json_decref(p);
		if (r == 0)
			return 0;
		if (r == OCPP_LINK_E_INVALID) {
			free(q);
			return -EINVAL;
		}
	}
	/* offline: decided locally, answered from the loop, never re-entrantly */
	lws_sul_schedule(cp->ctx, 0, &q->sul, offline_auth_cb, 1);
	return 0;
}

void cp_tx_connector_changed(struct ocpp_cp *cp, struct cp_connector *c,
			     const struct ocpp_cp_connector_info *in)
{
	if (!c->local_tx) {
		if (in->ev_plugged != 1)
			c->finishing = false;
		return;
	}
	double wh = in->reading ? in->reading->value[WS_Q_ENERGY_WH] : 0;
	if (c->recovering && in->reading) {
		/* the daemon stopped (crash, power loss) with this transaction
		 * running; it opened the contactor at start and this is the
		 * first reading since: the energy delivered up to now */
		ocpp_cp_transaction_stop(cp, c->id, wh, "PowerLoss");
	} else if (in->ev_plugged == 0 &&
		   ocpp_config_bool(cp->keys, "StopTransactionOnEVSideDisconnect")) {
		ocpp_cp_transaction_stop(cp, c->id, wh, "EVDisconnected");
		cp->ops->stop_session(cp->user, c->id, "EVDisconnected");
	}
}
