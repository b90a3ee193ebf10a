/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * base64.h: RFC 4648 base64, as SMTP AUTH uses it (RFC 4954).
 */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H

#include <stddef.h>
#include <sys/types.h>

int	 base64_encode(const void *, size_t, char *, size_t);
ssize_t	 base64_decode(const char *, unsigned char *, size_t);

#endif
