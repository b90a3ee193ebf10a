/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * password.c: hashing and checking passwords with libxcrypt.
 *
 * A new hash uses libxcrypt's strongest default method (yescrypt on
 * Debian) with a fresh random salt.  Checking goes through crypt_rn()
 * with a struct crypt_data on the stack, so it is thread-safe and leaves
 * no copy in a static buffer; the work area is wiped afterwards because
 * it held the password.
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "password.h"

/* Hash password with a new salt into out; -1 on failure (errno set). */
int
password_hash(const char *password, char *out, size_t size)
{
	struct crypt_data	 data;
	char			*salt, *hash;
	int			 r = -1;

	if ((salt = crypt_gensalt_ra(NULL, 0, NULL, 0)) == NULL)
		return -1;
	memset(&data, 0, sizeof(data));
	hash = crypt_rn(password, salt, &data, sizeof(data));
	if (hash == NULL || hash[0] == '*')
		errno = EINVAL;
	else if (strlcpy(out, hash, size) >= size)
		errno = ERANGE;
	else
		r = 0;
	explicit_bzero(&data, sizeof(data));
	free(salt);
	return r;
}

/* 1 if password matches hash; 0 if not, or if the hash is locked
 * ("*" or "!" first) or empty. */
int
password_check(const char *password, const char *hash)
{
	struct crypt_data	 data;
	const char		*out;
	size_t			 len;
	int			 match = 0;

	if (hash[0] == '\0' || hash[0] == '*' || hash[0] == '!')
		return 0;
	memset(&data, 0, sizeof(data));
	out = crypt_rn(password, hash, &data, sizeof(data));
	len = strlen(hash);
	if (out != NULL && out[0] != '*' && strlen(out) == len)
		/* no early exit: the time says nothing of where they differ */
		match = CRYPTO_memcmp(out, hash, len) == 0;
	explicit_bzero(&data, sizeof(data));
	return match;
}
