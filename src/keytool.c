/* keytool.c: wattstream-keys, the station's and the payee's key files
 * (docs/payments.md "Keys", docs/operations.md "Rotating keys").
 *
 * generate, import and rotate write keys through keyfile.c (0600, fsync'd,
 * never over an existing file); rotation keeps the old key next to the
 * new one as NAME.retired-<unix seconds>[-N] (0600), where wattstreamd
 * finds it at its next start.  show prints addresses, never secrets.  Run
 * it as the service user (as root, new files are given to the owner of
 * their directory).  Cost: a few syscalls and one fsync per file written. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wattstream/address.h"
#include "wattstream/config.h"
#include "wattstream/ecsig.h"
#include "wattstream/keyfile.h"
#include "ws-build-config.h"

#define PROG "wattstream-keys"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [-c FILE] COMMAND\n"
		"The station key (signs offers and receipts) and the payee key (claims\n"
		"on-chain, pays gas) of wattstreamd, in the files its configuration names\n"
		"([payment] station_key_file, payee_key_file; default state_dir/station.key\n"
		"and state_dir/payee.key).  Run it as the service user; restart wattstreamd\n"
		"afterwards.\n"
		"\n"
		"  show                     addresses of the keys and of the retired keys\n"
		"  generate                 create the keys that are missing\n"
		"  rotate station|payee     a new key; the old one is kept as NAME.retired-TIME\n"
		"  import station|payee FILE  install the key in FILE (0x + 64 hex digits,\n"
		"                           mode 0600); a key already there is retired\n"
		"\n"
		"  -c, --config FILE  configuration file (default " WS_CONFIG_DEFAULT_PATH ")\n"
		"  -h, --help         this text\n"
		"\n"
		"Exit status: 0 done, 1 failed (nothing changed), 2 usage.\n");
}

struct keys {
	const struct ws_config *cfg;
	char station[PATH_MAX + 16];
	char payee[PATH_MAX + 16];	/* "" with payee_address */
};

/* As root, a new file belongs to the owner of its directory (the
 * service user), or the daemon could not read it. */
static void give_to_dir_owner(const char *path)
{
	char dir[PATH_MAX + 16];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (geteuid() != 0)
		return;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	if (stat(dir, &st) == 0 && st.st_uid != 0 && chown(path, st.st_uid, st.st_gid) != 0)
		fprintf(stderr, PROG ": cannot give %s to uid %u: %s\n", path, (unsigned)st.st_uid,
			strerror(errno));
}

static void print_key(const char *role, const uint8_t addr[20], const char *where)
{
	char a[WS_ADDRESS_STR_SIZE];
	ws_address_format(addr, a);
	printf("%s %s %s\n", role, a, where);
}

static void show_one_retired(void *role, const char *file)
{
	uint8_t sk[32], addr[20];
	int r = keyfile_load(file, sk, addr);

	explicit_bzero(sk, sizeof(sk));
	if (r == KEYFILE_OK)
		print_key(role, addr, file);
	else
		fprintf(stderr, PROG ": %s: %s\n", file, keyfile_strerror(r));
}

/* The retired keys next to path, oldest first, as wattstreamd loads them. */
static void show_retired(const char *path, const char *role)
{
	int r = keyfile_for_each_retired(path, show_one_retired, (void *)role);
	if (r < 0)
		fprintf(stderr, PROG ": retired keys next to %s: %s\n", path, strerror(-r));
}

static int cmd_show(const struct keys *k)
{
	uint8_t sk[32], addr[20];
	int r, bad = 0;

	r = keyfile_load(k->station, sk, addr);
	explicit_bzero(sk, sizeof(sk));
	if (r == KEYFILE_OK)
		print_key("station", addr, k->station);
	else {
		fprintf(stderr, PROG ": station key %s: %s\n", k->station, keyfile_strerror(r));
		bad = 1;
	}
	show_retired(k->station, "station-retired");
	if (!k->payee[0]) {
		if (ws_address_parse(k->cfg->payment.payee_address, addr) == 0)
			print_key("payee", addr, "(payee_address: its key is on another machine)");
		return bad;
	}
	r = keyfile_load(k->payee, sk, addr);
	explicit_bzero(sk, sizeof(sk));
	if (r == KEYFILE_OK)
		print_key("payee", addr, k->payee);
	else {
		fprintf(stderr, PROG ": payee key %s: %s\n", k->payee, keyfile_strerror(r));
		bad = 1;
	}
	show_retired(k->payee, "payee-retired");
	return bad;
}

static int generate_one(const char *path, const char *role)
{
	uint8_t sk[32], addr[20];
	bool created;

	int r = keyfile_load_or_create(path, sk, addr, &created);
	explicit_bzero(sk, sizeof(sk));
	if (r != KEYFILE_OK) {
		fprintf(stderr, PROG ": %s key %s: %s\n", role, path, keyfile_strerror(r));
		return 1;
	}
	if (created)
		give_to_dir_owner(path);
	char a[WS_ADDRESS_STR_SIZE];
	ws_address_format(addr, a);
	printf("%s %s %s%s\n", role, a, path, created ? " (new)" : "");
	return 0;
}

static int cmd_generate(const struct keys *k)
{
	int bad = generate_one(k->station, "station");
	if (k->payee[0])
		bad |= generate_one(k->payee, "payee");
	else
		fprintf(stderr, PROG ": payee_address is set: no payee key here\n");
	return bad;
}

static int install_and_report(const char *path, const char *role, const uint8_t sk[32])
{
	char retired[PATH_MAX + 64], a[WS_ADDRESS_STR_SIZE];
	uint8_t pub[64], addr[20];

	int r = keyfile_install(path, sk, retired, sizeof(retired));
	if (r == KEYFILE_OK)
		give_to_dir_owner(path);
	if (r != KEYFILE_OK) {
		fprintf(stderr, PROG ": %s key %s: %s (nothing changed)\n", role, path,
			keyfile_strerror(r));
		return 1;
	}
	if (ws_ecsig_pubkey(sk, pub) != 0)
		return 1;
	ws_address_from_pubkey(pub, addr);
	ws_address_format(addr, a);
	printf("%s %s %s\n", role, a, path);
	if (retired[0])
		printf("retired %s\n", retired);
	printf("restart wattstreamd to use it\n");
	return 0;
}

static const char *role_path(const struct keys *k, const char *role)
{
	if (strcmp(role, "station") == 0)
		return k->station;
	if (strcmp(role, "payee") == 0) {
		if (!k->payee[0]) {
			fprintf(stderr, PROG ": payee_address is set: the payee key lives on the machine that submits the claims\n");
			return NULL;
		}
		return k->payee;
	}
	fprintf(stderr, PROG ": expected station or payee, not '%s'\n", role);
	return NULL;
}

static int cmd_rotate(const struct keys *k, const char *role)
{
	uint8_t sk[32], addr[20];
	const char *path = role_path(k, role);

	if (!path)
		return 2;
	int r = keyfile_load(path, sk, addr);
	explicit_bzero(sk, sizeof(sk));
	if (r != KEYFILE_OK) {
		fprintf(stderr, PROG ": %s key %s: %s (nothing to rotate; try generate)\n", role, path,
			keyfile_strerror(r));
		return 1;
	}
	if ((r = ws_ecsig_keygen(sk)) != 0) {
		fprintf(stderr, PROG ": no random key: %s\n", r < 0 ? strerror(-r) : "keygen failed");
		return 1;
	}
	r = install_and_report(path, role, sk);
	explicit_bzero(sk, sizeof(sk));
	return r;
}

static int cmd_import(const struct keys *k, const char *role, const char *file)
{
	uint8_t sk[32], addr[20], cur_sk[32], cur_addr[20];
	const char *path = role_path(k, role);

	if (!path)
		return 2;
	int r = keyfile_load(file, sk, addr);
	if (r != KEYFILE_OK) {
		fprintf(stderr, PROG ": %s: %s\n", file, keyfile_strerror(r));
		return 1;
	}
	r = keyfile_load(path, cur_sk, cur_addr);
	explicit_bzero(cur_sk, sizeof(cur_sk));
	if (r == KEYFILE_OK && memcmp(addr, cur_addr, 20) == 0) {
		fprintf(stderr, PROG ": %s: that key is already the %s key\n", file, role);
		explicit_bzero(sk, sizeof(sk));
		return 1;
	}
	r = install_and_report(path, role, sk);
	explicit_bzero(sk, sizeof(sk));
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cpath = WS_CONFIG_DEFAULT_PATH;
	bool explicit_path = false;
	static struct ws_config cfg;
	struct ws_config_errors errs;
	struct keys k = { .cfg = &cfg };
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cpath = optarg;
			explicit_path = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int nargs = argc - optind;
	const char *cmd = nargs > 0 ? argv[optind] : NULL;
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	int want = strcmp(cmd, "show") == 0 || strcmp(cmd, "generate") == 0 ? 1 :
		   strcmp(cmd, "rotate") == 0 ? 2 : strcmp(cmd, "import") == 0 ? 3 : 0;
	if (!want || nargs != want) {
		fprintf(stderr, PROG ": %s\n", want ? "wrong number of arguments" : "unknown command");
		usage(stderr);
		return 2;
	}
	int r = ws_config_load(&cfg, cpath, explicit_path, &errs);
	if (r == -EINVAL) {
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, PROG ": invalid configuration, %u error(s)\n", errs.n);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": %s: %s\n", cpath, strerror(-r));
		return 1;
	}
	const struct ws_payment_config *p = &cfg.payment;
	if ((size_t)snprintf(k.station, sizeof(k.station), "%s%s", p->station_key_file[0] ?
			     p->station_key_file : cfg.state_dir,
			     p->station_key_file[0] ? "" : "/station.key") >= sizeof(k.station) ||
	    (!p->payee_address[0] &&
	     (size_t)snprintf(k.payee, sizeof(k.payee), "%s%s", p->payee_key_file[0] ?
			      p->payee_key_file : cfg.state_dir,
			      p->payee_key_file[0] ? "" : "/payee.key") >= sizeof(k.payee))) {
		fprintf(stderr, PROG ": key path too long\n");
		return 1;
	}
	if (strcmp(cmd, "show") == 0)
		return cmd_show(&k);
	if (strcmp(cmd, "generate") == 0)
		return cmd_generate(&k);
	if (strcmp(cmd, "rotate") == 0)
		return cmd_rotate(&k, argv[optind + 1]);
	return cmd_import(&k, argv[optind + 1], argv[optind + 2]);
}
