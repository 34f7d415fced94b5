/* test-keyfile.c: key files: create, load, refuse loose modes and bad
 * contents, never overwrite, rotate. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "wattstream/keyfile.h"

struct listed {
	int n;
	char files[4][400];
};

static void on_retired(void *user, const char *file)
{
	struct listed *l = user;
	if (l->n < 4)
		snprintf(l->files[l->n], sizeof(l->files[0]), "%s", file);
	l->n++;
}

static void put(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

int main(void)
{
	char dir[] = "/tmp/ws-test-keyfile-XXXXXX", path[256], other[256];
	uint8_t sk[32], sk2[32], addr[20], addr2[20];
	bool created;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/station.key", dir);
	CHECK_INT(keyfile_load(path, sk, addr), KEYFILE_E_MISSING);
	CHECK_INT(keyfile_load_or_create(path, sk, addr, &created), KEYFILE_OK);
	CHECK(created);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(keyfile_load_or_create(path, sk2, addr2, &created), KEYFILE_OK);
	CHECK(!created);
	CHECK_MEM(sk, sk2, 32);
	CHECK_MEM(addr, addr2, 20);
	/* never overwritten */
	CHECK_INT(keyfile_write(path, sk2), KEYFILE_E_EXISTS);

	/* a known key: 0x...01 is the generator point's address */
	snprintf(other, sizeof(other), "%s/known.key", dir);
	put(other, "0x0000000000000000000000000000000000000000000000000000000000000001\n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_OK);
	static const uint8_t g_addr[20] = { 0x7e, 0x5f, 0x45, 0x52, 0x09, 0x1a, 0x69, 0x12, 0x5d, 0x5d,
					    0xfc, 0xb7, 0xb8, 0xc2, 0x65, 0x90, 0x29, 0x39, 0x5b, 0xdf };
	CHECK_MEM(addr, g_addr, 20);
	/* loose modes are refused */
	chmod(other, 0640);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_MODE);
	chmod(other, 0604);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_MODE);
	/* bad contents */
	put(other, "0x00\n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_FORMAT);
	put(other, "0x0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_INVALID);
	put(other, "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141\n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_INVALID);	/* = n */
	put(other, "0x0000000000000000000000000000000000000000000000000000000000000001 \n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_FORMAT);
	put(other, "zz00000000000000000000000000000000000000000000000000000000000001\n", 0600);
	CHECK_INT(keyfile_load(other, sk, addr), KEYFILE_E_FORMAT);
	/* a directory or a symlink is not a key file */
	CHECK(keyfile_load(dir, sk, addr) != KEYFILE_OK);
	char link_path[300];
	snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
	CHECK_INT(symlink(path, link_path), 0);
	CHECK(keyfile_load(link_path, sk, addr) != KEYFILE_OK);

	/* rotation keeps the old key aside and makes a new one; two in the
	 * same second keep both old keys (a -N suffix), never overwrite one */
	char retired1[400], retired2[400], retired3[400];
	CHECK_INT(keyfile_load(path, sk, addr), KEYFILE_OK);
	CHECK_INT(keyfile_rotate(path, sk2, addr2, retired1, sizeof(retired1)), KEYFILE_OK);
	CHECK(memcmp(addr, addr2, 20) != 0);
	CHECK(strstr(retired1, ".retired-") != NULL);
	uint8_t sk3[32], addr3[20];
	CHECK_INT(keyfile_load(path, sk3, addr3), KEYFILE_OK);
	CHECK_MEM(addr3, addr2, 20);
	CHECK_INT(keyfile_load(retired1, sk3, addr3), KEYFILE_OK);	/* 0600, whole */
	CHECK_MEM(addr3, addr, 20);
	CHECK_INT(keyfile_rotate(path, sk3, addr3, retired2, sizeof(retired2)), KEYFILE_OK);
	CHECK(strcmp(retired1, retired2) != 0);
	uint8_t sk4[32], addr4[20];
	CHECK_INT(keyfile_load(retired2, sk4, addr4), KEYFILE_OK);
	CHECK_MEM(addr4, addr2, 20);
	CHECK_INT(keyfile_load(retired1, sk4, addr4), KEYFILE_OK);
	CHECK_MEM(addr4, addr, 20);
	/* install over nothing retires nothing; a name that does not fit
	 * changes nothing */
	char fresh[300];
	snprintf(fresh, sizeof(fresh), "%s/fresh.key", dir);
	CHECK_INT(keyfile_install(fresh, sk4, retired3, sizeof(retired3)), KEYFILE_OK);
	CHECK_STR(retired3, "");
	CHECK(keyfile_install(fresh, sk2, retired3, 8) == -ENAMETOOLONG);
	CHECK_INT(keyfile_load(fresh, sk3, addr3), KEYFILE_OK);
	CHECK_MEM(addr3, addr, 20);
	CHECK_STR(keyfile_strerror(KEYFILE_E_MODE), "key file is readable by group or others (chmod 600, and rotate the key if it may have leaked)");

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c retired", dir);
	FILE *p = popen(cmd, "r");
	int n = 0;
	CHECK(fscanf(p, "%d", &n) == 1);
	pclose(p);
	CHECK_INT(n, 2);

	/* listed oldest first, in number order (-2 before -10); other names
	 * next to them are not retired keys */
	struct listed l = { 0 };
	CHECK_INT(keyfile_for_each_retired(path, on_retired, &l), 2);
	CHECK_STR(l.files[0], retired1);
	CHECK_STR(l.files[1], retired2);
	char odd[400];
	const char *names[] = { "w.key.retired-5-10", "w.key.retired-5", "w.key.retired-5-2",
				"w.key.retired-5.tmp", "w.key.next", "w.keyX.retired-1" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(odd, sizeof(odd), "%s/%s", dir, names[i]);
		put(odd, "x", 0600);
	}
	snprintf(odd, sizeof(odd), "%s/w.key", dir);
	memset(&l, 0, sizeof(l));
	CHECK_INT(keyfile_for_each_retired(odd, on_retired, &l), 3);
	CHECK(strstr(l.files[0], "/w.key.retired-5") && !strstr(l.files[0], "-5-"));
	CHECK(strstr(l.files[1], "/w.key.retired-5-2") != NULL);
	CHECK(strstr(l.files[2], "/w.key.retired-5-10") != NULL);
	snprintf(odd, sizeof(odd), "%s/none/w.key", dir);
	CHECK_INT(keyfile_for_each_retired(odd, on_retired, &l), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
