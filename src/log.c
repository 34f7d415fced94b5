/* log.c: one line per call to stderr, prefixed "<N>" (sd-daemon(3)) so that
 * journald records the priority.  A single write(2) per line keeps lines from
 * several threads whole.  Cost: one vsnprintf and one write per message. */
#include "wattstream/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int log_prefix = -1; /* -1: decide on first use */

static const char *const level_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void ws_log_set_level(int level)
{
	log_level = level;
}

int ws_log_get_level(void)
{
	return log_level;
}

void ws_log_set_prefix(int on)
{
	log_prefix = on;
}

int ws_log_level_parse(const char *name)
{
	for (int i = 0; i < 8; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

const char *ws_log_level_name(int level)
{
	return level >= 0 && level < 8 ? level_names[level] : "?";
}

void ws_logv(int priority, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (priority > log_level)
		return;
	if (log_prefix < 0)
		log_prefix = !isatty(STDERR_FILENO);
	if (log_prefix)
		n = snprintf(line, sizeof(line), "<%d>", priority);
	else
		n = snprintf(line, sizeof(line), "%s: ", ws_log_level_name(priority));
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void ws_log(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ws_logv(priority, fmt, ap);
	va_end(ap);
}
