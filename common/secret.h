/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * secret.h: a secret file (relay_auth_file, webrelay_auth_file), read
 * by a daemon as root before it drops privileges, so that only root
 * needs to read the file.
 */
#ifndef FERRY_SECRET_H
#define FERRY_SECRET_H

#include <stddef.h>
#include <stdio.h>

FILE	*secret_open(const char *, const char *);
int	 secret_read(const char *, const char *, char *, size_t);
void	 secret_refuse(const char *, const char *, void *, size_t)
	    __attribute__((__noreturn__));

#endif
