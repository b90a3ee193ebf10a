/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * maildir.c: a user's ~/Maildir/, in a delivery process that already is
 * the user.  The Maildir must be the user's own directory (not a link):
 * common/maildir.c then stores the message, LF line ends, Return-Path
 * and Delivered-To first.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "locald.h"
#include "maildir.h"

static int
write_message(int fd, void *arg)
{
	return delivery_copy(fd, arg, 0);
}

void
maildir_deliver(const char *dir, const struct delivery *d,
    struct delivery_status *st)
{
	struct stat	 sb;

	if (lstat(dir, &sb) == 0 && (!S_ISDIR(sb.st_mode) ||
	    sb.st_uid != geteuid())) {
		delivery_status_set(st, RESULT_TEMP, "451 4.7.0 %s refused: "
		    "%s", dir, S_ISLNK(sb.st_mode) ? "a symbolic link" :
		    !S_ISDIR(sb.st_mode) ? "not a directory" :
		    "owned by someone else");
		return;
	}
	if (maildir_store(dir, d->id, write_message, (void *)d) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.2.0 delivery to "
		    "%s failed: %s", dir, strerror(errno));
		return;
	}
	delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 delivered to "
	    "%s/new", dir);
}
