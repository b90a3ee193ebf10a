/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * password.h: crypt(3) hashes of the SMTP AUTH users' passwords, as
 * smtpd_users_file keeps them ("name:hash" lines, ferryctl passwd).
 */
#ifndef FERRY_PASSWORD_H
#define FERRY_PASSWORD_H

#include <stddef.h>

/* Longest password crypt(3) takes, without its NUL. */
#define PASSWORD_MAX		511
/* Longest hash password_hash() writes, with its NUL (CRYPT_OUTPUT_SIZE). */
#define PASSWORD_HASH_MAX	384

int	 password_hash(const char *, char *, size_t);
int	 password_check(const char *, const char *);

#endif
