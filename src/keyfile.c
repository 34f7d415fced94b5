/* keyfile.c: private keys on disk (see keyfile.h).  A write is: create a
 * temporary file 0600 with O_EXCL, write, fsync, rename, fsync the
 * directory.  Installing over a key (rotation, import) keeps the old one
 * under a retired name.  Cost: a few syscalls and one fsync per write. */
#include "wattstream/keyfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wattstream/address.h"
#include "wattstream/ecsig.h"
#include "wattstream/hex.h"

#define KEY_TEXT_LEN (2 + 64)

static int address_of(const uint8_t seckey[32], uint8_t addr[20])
{
	uint8_t pub[64];
	if (ws_ecsig_pubkey(seckey, pub) != 0)
		return KEYFILE_E_INVALID;
	ws_address_from_pubkey(pub, addr);
	return KEYFILE_OK;
}

int keyfile_load(const char *path, uint8_t seckey[32], uint8_t addr[20])
{
	char text[KEY_TEXT_LEN + 3];
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? KEYFILE_E_MISSING : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = KEYFILE_E_FORMAT;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = KEYFILE_E_MODE;
		goto out;
	}
	ssize_t n = read(fd, text, sizeof(text) - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	text[n] = '\0';
	if (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	r = KEYFILE_E_FORMAT;
	if (n != KEY_TEXT_LEN || ws_hex_parse(text, seckey, 32) != 0)
		goto out;
	r = address_of(seckey, addr);
out:
	explicit_bzero(text, sizeof(text));
	if (r != KEYFILE_OK)
		explicit_bzero(seckey, 32);
	close(fd);
	return r;
}

static int fsync_dir_of(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path);
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int r = fsync(dfd) < 0 ? -errno : 0;
	close(dfd);
	return r;
}

int keyfile_write(const char *path, const uint8_t seckey[32])
{
	char text[KEY_TEXT_LEN + 2], tmp[4096];
	uint8_t addr[20];
	int fd, r;

	if (address_of(seckey, addr) != KEYFILE_OK)
		return KEYFILE_E_INVALID;
	if (access(path, F_OK) == 0)
		return KEYFILE_E_EXISTS;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);	/* a leftover from a crash mid-write */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ws_hex_format(seckey, 32, text, sizeof(text));
	size_t len = strlen(text);
	text[len++] = '\n';
	r = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -errno;
	explicit_bzero(text, sizeof(text));
	close(fd);
	if (r == 0 && link(tmp, path) < 0)	/* link: never replaces an existing key */
		r = errno == EEXIST ? KEYFILE_E_EXISTS : -errno;
	unlink(tmp);
	if (r == 0)
		r = fsync_dir_of(path);
	return r;
}

int keyfile_load_or_create(const char *path, uint8_t seckey[32], uint8_t addr[20],
			   bool *created)
{
	*created = false;
	int r = keyfile_load(path, seckey, addr);
	if (r != KEYFILE_E_MISSING)
		return r;
	r = ws_ecsig_keygen(seckey);
	if (r != 0)
		return r < 0 ? r : -EIO;
	r = keyfile_write(path, seckey);
	if (r == KEYFILE_OK) {
		*created = true;
		r = address_of(seckey, addr);
	}
	if (r != KEYFILE_OK)
		explicit_bzero(seckey, 32);
	return r;
}

/* Puts sk at path; a key already there is kept as path.retired-TIME[-N].
 * Order: the new key is written (fsync'd) beside, the old one linked to
 * its retired name, then the new one renamed over: at every instant path
 * holds a whole key and no key is ever lost. */
int keyfile_install(const char *path, const uint8_t sk[32], char *retired, size_t size)
{
	char next[4096];
	uint8_t old_sk[32], old_addr[20];
	int r;

	if (!retired || size == 0)
		return -EINVAL;
	retired[0] = '\0';
	r = keyfile_load(path, old_sk, old_addr);
	explicit_bzero(old_sk, sizeof(old_sk));
	if (r == KEYFILE_E_MISSING) {
		return keyfile_write(path, sk);
	}
	if (r != KEYFILE_OK)
		return r;	/* an unreadable key is never replaced blindly */
	if ((size_t)snprintf(next, sizeof(next), "%s.next", path) >= sizeof(next))
		return -ENAMETOOLONG;
	unlink(next);	/* a leftover of an interrupted run */
	if ((r = keyfile_write(next, sk)) != KEYFILE_OK)
		return r;
	long long now = (long long)time(NULL);
	for (int i = 0;; i++) {
		int n = i == 0 ? snprintf(retired, size, "%s.retired-%lld", path, now) :
				 snprintf(retired, size, "%s.retired-%lld-%d", path, now, i);
		if (n < 0 || (size_t)n >= size) {
			unlink(next);
			retired[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (link(path, retired) == 0)
			break;
		if (errno != EEXIST || i >= 1000) {
			r = -errno;
			unlink(next);
			retired[0] = '\0';
			return r;
		}
	}
	if (rename(next, path) < 0) {
		r = -errno;
		unlink(next);
		unlink(retired);	/* path still holds the old key */
		retired[0] = '\0';
		return r;
	}
	fsync_dir_of(path);
	return KEYFILE_OK;
}

int keyfile_rotate(const char *path, uint8_t seckey[32], uint8_t addr[20], char *retired,
		   size_t size)
{
	int r = ws_ecsig_keygen(seckey);
	if (r != 0)
		return r < 0 ? r : KEYFILE_E_INVALID;
	r = keyfile_install(path, seckey, retired, size);
	if (r == KEYFILE_OK)
		r = address_of(seckey, addr);
	if (r != KEYFILE_OK)
		explicit_bzero(seckey, 32);
	return r;
}

static int by_version(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

int keyfile_for_each_retired(const char *path, keyfile_retired_fn fn, void *user)
{
	char dir[4096], full[8192], prefix[512];
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	const char *slash = strrchr(path, '/');
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s.retired-", slash ? slash + 1 : path) >=
	    sizeof(prefix))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		/* NAME.retired-<seconds>[-N]; not NAME.retired-x.tmp and the like */
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    strchr(de->d_name + strlen(prefix), '.'))
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 8) * sizeof(*names));
			if (!more) {
				r = -ENOMEM;
				break;
			}
			names = more;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	/* oldest first: seconds, then -1, -2, ... -10 in number order */
	if (r == 0 && n)
		qsort(names, n, sizeof(*names), by_version);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && (size_t)snprintf(full, sizeof(full), "%s/%s", dir, names[i]) < sizeof(full))
			fn(user, full);
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : (int)n;
}

const char *keyfile_strerror(int r)
{
	switch (r) {
	case KEYFILE_OK: return "ok";
	case KEYFILE_E_MISSING: return "no key file";
	case KEYFILE_E_MODE: return "key file is readable by group or others (chmod 600, and rotate the key if it may have leaked)";
	case KEYFILE_E_FORMAT: return "not a key file (expected 0x and 64 hex digits)";
	case KEYFILE_E_INVALID: return "not a valid secp256k1 private key";
	case KEYFILE_E_EXISTS: return "a key file is already there";
	}
	return r < 0 ? strerror(-r) : "?";
}
