/* keyfile.h: the station's secp256k1 keys on disk.
 *
 * A key file holds one private key as "0x" + 64 hex digits and a newline,
 * mode 0600, owned by the service user.  The station key (signs offers and
 * receipts) and the payee key (claims on-chain, pays gas) are separate
 * files.  A file readable by group or others is refused: a key that may
 * have leaked must be rotated, not used.  Secrets are wiped from memory
 * after use and never logged. */
#ifndef WATTSTREAM_KEYFILE_H
#define WATTSTREAM_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum keyfile_result {
	KEYFILE_OK = 0,
	KEYFILE_E_MISSING = 1,		/* no such file */
	KEYFILE_E_MODE = 2,		/* readable by group or others */
	KEYFILE_E_FORMAT = 3,		/* not "0x" + 64 hex digits (+ newline) */
	KEYFILE_E_INVALID = 4,		/* not a valid secp256k1 private key */
	KEYFILE_E_EXISTS = 5,		/* create/import: the file exists */
};

/* Reads the key at path into seckey and its address into addr.
 * Returns KEYFILE_OK, a KEYFILE_E_* code, or -errno. */
int keyfile_load(const char *path, uint8_t seckey[32], uint8_t addr[20])
	__attribute__((warn_unused_result));

/* Writes seckey to a new file at path (mode 0600, fsync'd, then renamed
 * into place and the directory fsync'd: a crash leaves either no key or a
 * whole one).  Returns KEYFILE_OK, KEYFILE_E_EXISTS, KEYFILE_E_INVALID or
 * -errno. */
int keyfile_write(const char *path, const uint8_t seckey[32])
	__attribute__((warn_unused_result));

/* Loads the key at path, or generates and writes a new one if there is
 * none (*created says which).  Returns as keyfile_load. */
int keyfile_load_or_create(const char *path, uint8_t seckey[32], uint8_t addr[20],
			   bool *created) __attribute__((warn_unused_result));

/* Puts seckey at path; a key already there is kept as
 * path.retired-<unix seconds>[-N] (N when several retire in one second;
 * mode 0600, so claims on channels opened to it and vouchers for its
 * offers can still be made and checked), its name in retired ("" if there
 * was none).  Order: the new key is written (fsync'd) beside, the old one
 * linked to its retired name, then the new one renamed over: at every
 * instant path holds a whole key and no key is ever lost.  An unreadable
 * key at path is never replaced.  Returns as keyfile_load. */
int keyfile_install(const char *path, const uint8_t seckey[32], char *retired, size_t size)
	__attribute__((warn_unused_result));

/* Rotation: a new random key installed at path (keyfile_install), into
 * seckey and addr.  Returns as keyfile_load. */
int keyfile_rotate(const char *path, uint8_t seckey[32], uint8_t addr[20], char *retired,
		   size_t size) __attribute__((warn_unused_result));

/* Calls fn with the path of every key retired next to path (the
 * path.retired-<seconds>[-N] files keyfile_install leaves), oldest first.
 * Returns how many, or -errno (no call made). */
typedef void (*keyfile_retired_fn)(void *user, const char *file);
int keyfile_for_each_retired(const char *path, keyfile_retired_fn fn, void *user);

const char *keyfile_strerror(int r);

#endif
