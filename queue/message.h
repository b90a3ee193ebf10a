/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * message.h: reading and writing RFC 5322 text, for the messages queued
 * writes itself (local submissions, bounces).
 */
#ifndef FERRY_MESSAGE_H
#define FERRY_MESSAGE_H

#include <sys/types.h>

#include <stdio.h>
#include <time.h>

ssize_t	 message_read_line(FILE *, char *, size_t, int *);
int	 message_header_start(const char *);
void	 message_write_date(FILE *, time_t);

#endif
