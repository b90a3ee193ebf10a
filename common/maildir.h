/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * maildir.h: storing one message in a Maildir, for relayd's maildir:
 * routes and locald's ~/Maildir/.
 */
#ifndef FERRY_MAILDIR_H
#define FERRY_MAILDIR_H

#include <stddef.h>

/* Writes the message to fd; -1 with errno on failure. */
typedef int (*maildir_writer)(int, void *);

int	 maildir_store(const char *, const char *, maildir_writer, void *);

#endif
