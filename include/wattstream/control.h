/* control.h: the local control socket (a Unix stream socket on the event
 * loop).  One command per line in, one JSON object per line out; the
 * commands themselves are the daemon's (docs/control.md).  Lines are at
 * most CONTROL_LINE_MAX bytes; at most CONTROL_MAX_CLIENTS at once; a
 * client that does not read its replies is dropped once CONTROL_OUT_MAX
 * bytes wait for it.  Access is by file permissions (mode 0660). */
#ifndef WATTSTREAM_CONTROL_H
#define WATTSTREAM_CONTROL_H

#include <stddef.h>

struct lws_context;
struct ws_control;
struct control_conn;

#define CONTROL_LINE_MAX 1024
#define CONTROL_MAX_CLIENTS 16
#define CONTROL_OUT_MAX (256 * 1024)

/* Called for every complete line (without the newline, NUL-terminated). */
typedef void (*control_handler)(void *user, struct control_conn *conn, char *line);

/* Listens on path (an existing file there is replaced).  Returns 0 and
 * *ret, or -errno. */
int control_new(struct ws_control **ret, struct lws_context *ctx,
		const char *path, control_handler handler, void *user);
struct ws_control *control_free(struct ws_control *ctl);

/* Queues text plus a newline for conn.  Never blocks. */
void control_reply(struct control_conn *conn, const char *text);

#endif
