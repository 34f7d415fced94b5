/* main.c: wattstreamd's entry point: arguments, configuration, logging;
 * everything else is in daemon.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wattstream/config.h"
#include "wattstream/daemon.h"
#include "wattstream/log.h"
#include "ws-build-config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: wattstreamd [-c FILE] [--check-config]\n"
		"EV charging-station controller: meters each connector over Modbus,\n"
		"switches its contactor, and fails safe when the meter goes away.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " WS_CONFIG_DEFAULT_PATH ";\n"
		"                     if that file is absent, the embedded defaults)\n"
		"      --check-config print the effective configuration and exit;\n"
		"                     exit status 1 and the errors if it is invalid\n"
		"  -h, --help         this text\n"
		"      --version      print the version\n"
		"\n"
		"Reference: docs/configuration.md, docs/control.md, docs/operations.md\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = WS_CONFIG_DEFAULT_PATH;
	bool explicit_path = false, check = false;
	static struct ws_config cfg;
	struct ws_config_errors errs;
	struct ws_daemon *d;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			explicit_path = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("wattstreamd %s\n", WS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wattstreamd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	r = ws_config_load(&cfg, path, explicit_path, &errs);
	if (r == -EINVAL) {
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "wattstreamd: invalid configuration, %u error(s)\n", errs.n);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "wattstreamd: cannot read configuration '%s': %s\n", path,
			strerror(-r));
		return 1;
	}
	if (check) {
		ws_config_print(&cfg, stdout);
		return 0;
	}

	ws_log_set_level(cfg.log_level);
	ws_notice("wattstreamd %s starting, configuration: %s", WS_VERSION,
		  cfg.path[0] ? cfg.path : "embedded defaults");
	r = daemon_new(&d, &cfg);
	if (r != 0)
		return 1;
	r = daemon_run(d);
	daemon_free(d);
	if (r == DAEMON_RESET) {
		/* OCPP Reset: a real restart of the process, same PID */
		ws_notice("wattstreamd restarting");
		execv("/proc/self/exe", argv);
		ws_crit("cannot restart: %s", strerror(errno));
		return 1;
	}
	ws_notice("wattstreamd stopped");
	return r == 0 ? 0 : 1;
}
