/* keyfile.c: private keys on disk (see keyfile.h).  A write is: create a
 * temporary file 0600 with O_EXCL, write, fsync, rename, fsync the
 * directory.  Cost: a few syscalls and one fsync per write. */
#include "wattstream/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
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

int keyfile_rotate(const char *path, uint8_t seckey[32], uint8_t addr[20])
{
	char retired[4096];
	bool created;

	int r = keyfile_load(path, seckey, addr);
	explicit_bzero(seckey, 32);
	if (r != KEYFILE_OK && r != KEYFILE_E_MISSING)
		return r;
	if (r == KEYFILE_OK) {
		if ((size_t)snprintf(retired, sizeof(retired), "%s.retired-%lld", path,
				     (long long)time(NULL)) >= sizeof(retired))
			return -ENAMETOOLONG;
		if (rename(path, retired) < 0)
			return -errno;
	}
	return keyfile_load_or_create(path, seckey, addr, &created);
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
