/* control.c: line framing for the control socket on libwebsockets' raw
 * socket role.  Input is split into lines in a fixed buffer; replies are
 * queued per connection and written as the socket accepts them.  Cost per
 * command: one copy in, one copy out. */
#include "wattstream/control.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wattstream/log.h"

struct control_conn {
	struct lws *wsi;
	struct ws_control *ctl;
	char in[CONTROL_LINE_MAX + 1];
	size_t in_len;
	bool discarding;	/* inside an over-long line */
	char *out;
	size_t out_len, out_sent, out_cap;
	bool closing;
};

struct ws_control {
	struct lws_vhost *vhost;
	struct lws_protocols protocols[2];
	control_handler handler;
	void *user;
	unsigned clients;
	char path[108];
};

static void queue(struct control_conn *c, const char *text, size_t n)
{
	if (c->closing)
		return;
	if (c->out_len + n > CONTROL_OUT_MAX) {
		ws_warn("control: client does not read its replies; dropping it");
		c->closing = true;
		lws_callback_on_writable(c->wsi);
		return;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		/* LWS_PRE bytes of headroom in front, as lws_write() wants */
		char *p = realloc(c->out ? c->out - LWS_PRE : NULL, LWS_PRE + cap);
		if (!p) {
			c->closing = true;
			lws_callback_on_writable(c->wsi);
			return;
		}
		c->out = p + LWS_PRE;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, n);
	c->out_len += n;
	lws_callback_on_writable(c->wsi);
}

void control_reply(struct control_conn *c, const char *text)
{
	queue(c, text, strlen(text));
	queue(c, "\n", 1);
}

static void on_rx(struct control_conn *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !c->closing; i++) {
		char ch = data[i];
		if (ch == '\n') {
			if (c->discarding) {
				c->discarding = false;
				control_reply(c, "{\"ok\":false,\"error\":\"line too long\"}");
			} else {
				c->in[c->in_len] = '\0';
				if (c->in_len && c->in[c->in_len - 1] == '\r')
					c->in[c->in_len - 1] = '\0';
				c->ctl->handler(c->ctl->user, c, c->in);
			}
			c->in_len = 0;
			continue;
		}
		if (c->discarding)
			continue;
		if (c->in_len >= CONTROL_LINE_MAX) {
			c->discarding = true;
			continue;
		}
		c->in[c->in_len++] = ch;
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	struct control_conn *c = user;
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct ws_control *ctl = proto ? proto->user : NULL;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		if (!ctl)
			return -1;
		if (ctl->clients >= CONTROL_MAX_CLIENTS) {
			ws_warn("control: too many clients, refusing one");
			return -1;
		}
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		c->ctl = ctl;
		ctl->clients++;
		break;
	case LWS_CALLBACK_RAW_RX:
		if (c && c->ctl)
			on_rx(c, in, len);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c || !c->ctl)
			break;
		if (c->out_sent < c->out_len) {
			size_t n = c->out_len - c->out_sent;
			if (n > 16384)
				n = 16384;
			int w = lws_write(wsi, (unsigned char *)c->out + c->out_sent, n,
					  LWS_WRITE_RAW);
			if (w < 0)
				return -1;
			c->out_sent += n;
			if (c->out_sent == c->out_len)
				c->out_sent = c->out_len = 0;
			else
				lws_callback_on_writable(wsi);
		}
		if (c->closing && c->out_len == 0)
			return -1;
		break;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c && c->ctl) {
			c->ctl->clients--;
			free(c->out ? c->out - LWS_PRE : NULL);
			c->out = NULL;
			c->ctl = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

int control_new(struct ws_control **ret, struct lws_context *ctx, const char *path,
		control_handler handler, void *user)
{
	struct ws_control *ctl = calloc(1, sizeof(*ctl));
	struct lws_context_creation_info info;

	if (!ctl)
		return -ENOMEM;
	if (strlen(path) >= sizeof(ctl->path)) {
		free(ctl);
		return -ENAMETOOLONG;
	}
	strcpy(ctl->path, path);
	ctl->handler = handler;
	ctl->user = user;
	ctl->protocols[0] = (struct lws_protocols){
		.name = "ws-control",
		.callback = callback,
		.per_session_data_size = sizeof(struct control_conn),
		.user = ctl,
	};
	/* a socket left by a previous run would make bind() fail */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);

	memset(&info, 0, sizeof(info));
	info.vhost_name = "control";
	info.iface = ctl->path;
	info.port = 0;
	info.options = LWS_SERVER_OPTION_UNIX_SOCK |
		       LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = "ws-control";
	info.protocols = ctl->protocols;
	mode_t old = umask(0117);	/* socket mode 0660 */
	ctl->vhost = lws_create_vhost(ctx, &info);
	umask(old);
	if (!ctl->vhost) {
		free(ctl);
		return -EADDRNOTAVAIL;
	}
	*ret = ctl;
	return 0;
}

struct ws_control *control_free(struct ws_control *ctl)
{
	if (ctl) {
		/* the vhost goes with the context */
		unlink(ctl->path);
		free(ctl);
	}
	return NULL;
}
