/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * newaliases.h: sendmail -bi (newaliases.c).
 */
#ifndef FERRY_NEWALIASES_H
#define FERRY_NEWALIASES_H

struct config;

void	 newaliases(const struct config *) __attribute__((__noreturn__));

#endif
