/* log.h: logging to stderr with syslog priority prefixes ("<6>...") that
 * journald turns into priorities.  Library modules log at debug only; the
 * daemon logs once, at the edge, with context.  Never pass secrets. */
#ifndef WATTSTREAM_LOG_H
#define WATTSTREAM_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* Messages above this priority (numerically greater) are dropped.
 * Default LOG_INFO. */
void ws_log_set_level(int level);
int ws_log_get_level(void);

/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit".
 * Returns the syslog priority, or -1 if unknown. */
int ws_log_level_parse(const char *name);
const char *ws_log_level_name(int level);

/* With prefixes on (default when stderr is not a terminal, or under
 * journald), lines start with "<N>"; otherwise with a short level word. */
void ws_log_set_prefix(int on);

void ws_log(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ws_logv(int priority, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define ws_debug(...)  ws_log(LOG_DEBUG, __VA_ARGS__)
#define ws_info(...)   ws_log(LOG_INFO, __VA_ARGS__)
#define ws_notice(...) ws_log(LOG_NOTICE, __VA_ARGS__)
#define ws_warn(...)   ws_log(LOG_WARNING, __VA_ARGS__)
#define ws_err(...)    ws_log(LOG_ERR, __VA_ARGS__)
#define ws_crit(...)   ws_log(LOG_CRIT, __VA_ARGS__)

#endif
