/* test-config.c: the INI parser against golden files.
 *
 * tests/data/config/good-*.conf must load, and print exactly the
 * configuration in the matching .out file; the printed form must load back
 * to itself.  bad-*.conf must fail with exactly the errors in the matching
 * .err file.  WS_UPDATE_GOLDEN=1 rewrites the golden files (review the diff!). */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "wattstream/config.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static char *print_to_string(const struct ws_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ws_config_print(cfg, f);
	fclose(f);
	return buf;
}

/* Secrets are printed as "; KEY is set (not shown)": a reloaded print lacks
 * that line, and nothing else may differ. */
static void strip_secret_lines(char *text)
{
	static const char tag[] = " is set (not shown)\n";
	size_t r = 0, w = 0, n = strlen(text);

	while (r < n) {
		size_t e = r;
		while (e < n && text[e] != '\n')
			e++;
		if (e < n)
			e++;	/* past the newline */
		size_t len = e - r;
		bool secret = len >= sizeof(tag) - 1 &&
			      memcmp(text + e - (sizeof(tag) - 1), tag, sizeof(tag) - 1) == 0;
		if (!secret) {
			memmove(text + w, text + r, len);
			w += len;
		}
		r = e;
	}
	text[w] = '\0';
}

static void check_golden(const char *name, const char *actual, const char *golden_path)
{
	char *golden = slurp(golden_path);
	if (getenv("WS_UPDATE_GOLDEN")) {
		spit(golden_path, actual);
	} else if (!golden) {
		fprintf(stderr, "missing golden file %s\n", golden_path);
		CHECK(golden != NULL);
	} else if (strcmp(golden, actual) != 0) {
		fprintf(stderr, "--- %s: expected\n%s--- got\n%s---\n", name, golden, actual);
		CHECK_STR(actual, golden);
	} else {
		CHECK(1);
	}
	free(golden);
}

static void test_golden_files(void)
{
	DIR *d = opendir(".");
	struct dirent *e;
	unsigned good = 0, bad = 0;

	CHECK(d != NULL);
	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		char golden[512];
		struct ws_config cfg;
		struct ws_config_errors errs;

		if (len < 6 || strcmp(n + len - 5, ".conf") != 0)
			continue;
		snprintf(golden, sizeof(golden), "%.*s.%s", (int)(len - 5), n,
			 strncmp(n, "good-", 5) == 0 ? "out" : "err");
		int r = ws_config_load(&cfg, n, true, &errs);
		if (strncmp(n, "good-", 5) == 0) {
			good++;
			for (unsigned i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msg[i]);
			CHECK_INT(r, 0);
			char *out = print_to_string(&cfg);
			check_golden(n, out, golden);
			/* the printed form loads back to the same configuration */
			struct ws_config again;
			CHECK_INT(ws_config_load_string(&again, out, n, &errs), 0);
			for (unsigned i = 0; i < errs.n; i++)
				fprintf(stderr, "reload: %s\n", errs.msg[i]);
			char *out2 = print_to_string(&again);
			strip_secret_lines(out);
			CHECK_STR(out2, out);
			free(out);
			free(out2);
		} else {
			bad++;
			CHECK_INT(r, -EINVAL);
			char all[WS_CONFIG_MAX_ERRORS * 330] = "";
			for (unsigned i = 0; i < errs.n; i++) {
				strcat(all, errs.msg[i]);
				strcat(all, "\n");
			}
			check_golden(n, all, golden);
		}
	}
	closedir(d);
	CHECK(good >= 3);
	CHECK(bad >= 5);
}

static void test_defaults(void)
{
	struct ws_config cfg;
	struct ws_config_errors errs;

	CHECK_INT(ws_config_load(&cfg, "does-not-exist.conf", false, &errs), 0);
	CHECK_INT(cfg.n_connectors, 1);
	CHECK_INT(cfg.n_buses, 1);
	CHECK_STR(cfg.bus[0].host, "127.0.0.1");
	CHECK_INT(cfg.bus[0].port, 1502);
	CHECK_INT(cfg.conn[0].meter_unit, 1);
	CHECK_INT(cfg.conn[0].contactor.unit, 1);
	CHECK_INT(cfg.conn[0].contactor.bus, 0);
	CHECK_STR(cfg.conn[0].profile.name, "sdm630");
	CHECK_STR(cfg.path, "");
	/* an explicitly named file must exist */
	CHECK_INT(ws_config_load(&cfg, "does-not-exist.conf", true, &errs), -ENOENT);

	/* systemd's StateDirectory= and RuntimeDirectory= give the defaults */
	setenv("STATE_DIRECTORY", "/var/lib/private/wattstream:/other", 1);
	setenv("RUNTIME_DIRECTORY", "/run/ws", 1);
	CHECK_INT(ws_config_load_string(&cfg, "", "env", &errs), 0);
	CHECK_STR(cfg.state_dir, "/var/lib/private/wattstream");
	CHECK_STR(cfg.control_socket, "/run/ws/control.sock");
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
}

static void test_edges(void)
{
	struct ws_config cfg;
	struct ws_config_errors errs;
	char big[2048];

	/* a line beyond the limit is an error, not two half lines */
	memset(big, 'x', sizeof(big));
	memcpy(big, "[station]\nstate_dir = /", 23);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(ws_config_load_string(&cfg, big, "long", &errs), -EINVAL);
	CHECK(errs.n >= 1 && strstr(errs.msg[0], "long:2: line too long"));

	/* indented keys are keys, not continuations */
	CHECK_INT(ws_config_load_string(&cfg, "[connector.1]\n   meter_unit = 7\n",
					"indent", &errs), 0);
	CHECK_INT(cfg.conn[0].meter_unit, 7);

	/* 16 connectors; 17 is too many */
	char text[4096] = "";
	for (int i = 1; i <= 16; i++)
		sprintf(text + strlen(text), "[connector.%d]\nmeter_unit = %d\n", i, i);
	CHECK_INT(ws_config_load_string(&cfg, text, "16", &errs), 0);
	CHECK_INT(cfg.n_connectors, 16);
	CHECK_INT(cfg.conn[15].id, 16);
	strcat(text, "[connector.17]\n");
	CHECK_INT(ws_config_load_string(&cfg, text, "17", &errs), -EINVAL);

	/* connectors given out of order are sorted by id */
	CHECK_INT(ws_config_load_string(&cfg, "[connector.2]\nmeter_unit=5\n[connector.1]\n",
					"order", &errs), 0);
	CHECK_INT(cfg.conn[0].id, 1);
	CHECK_INT(cfg.conn[1].id, 2);
	CHECK_INT(cfg.conn[1].meter_unit, 5);

	/* a gap in numbering is an error */
	CHECK_INT(ws_config_load_string(&cfg, "[connector.2]\n", "gap", &errs), -EINVAL);

	/* NUL bytes and binary junk */
	CHECK_INT(ws_config_load_string(&cfg, "[station\x01]\n\xff\xfe=\n", "junk", &errs),
		  -EINVAL);
	/* a failsafe shorter than two polls would fault a healthy meter */
	CHECK_INT(ws_config_load_string(&cfg, "[connector.1]\nmeter_poll_ms = 1000\nmeter_failsafe_ms = 1500\n",
					"fs", &errs), -EINVAL);
}

int main(void)
{
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	test_defaults();
	test_edges();
	const char *root = getenv("WS_SOURCE_ROOT");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tests/data/config", root ? root : "..");
	if (chdir(dir) != 0) {
		perror(dir);
		CHECK(0);
	} else {
		test_golden_files();
	}
	return check_done();
}
