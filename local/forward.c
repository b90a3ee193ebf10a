/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * forward.c: reading ~/.forward and :include: files, in a process that
 * already runs as the user whose file it is (or as local_alias_user for
 * an :include: of alias_file), so the kernel's permissions apply and a
 * link the user planted cannot make locald read another user's file.
 *
 * A file is taken only if it is a regular file (opened without following
 * a link), owned by that user or root and writable by nobody else, in a
 * directory nobody else may write to (else someone else could replace
 * it); a file that breaks a rule is refused, which defers the mail with
 * the reason, never ignored.  ENOENT means there is no file; any other
 * error (an NFS home away, EIO) defers too: it is never taken as "no
 * .forward", or mail would go to a mailbox the user forwarded away from.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "forward.h"
#include "locald.h"

#define LIST_FILE_MAX	(1024 * 1024)	/* a .forward or :include: file */

static int
unsafe_dir(const char *path, uid_t uid, struct delivery_status *st)
{
	char		 copy[PATH_MAX];
	struct stat	 sb;
	const char	*dir;

	strlcpy(copy, path, sizeof(copy));
	dir = dirname(copy);
	if (stat(dir, &sb) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot check "
		    "%s: %s", dir, strerror(errno));
		return 1;
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    (sb.st_uid != uid && sb.st_uid != 0)) {
		delivery_status_set(st, RESULT_TEMP, "451 4.7.0 %s refused: "
		    "its directory %s may be written by others", path, dir);
		return 1;
	}
	return 0;
}

/*
 * Read the list of targets in path, owned by uid or root.  1: read into
 * *t and *n; 0: there is no such file; -1: refused or unreadable, *st
 * says why (a temporary failure).
 */
int
forward_read(const char *path, uid_t uid, struct alias_target **t,
    size_t *n, struct delivery_status *st)
{
	struct stat	 sb;
	FILE		*fp;
	int		 fd, r;

	*t = NULL;
	*n = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1) {
		delivery_status_set(st, RESULT_TEMP, errno == ELOOP ?
		    "451 4.7.0 %s refused: it is a symbolic link" :
		    "451 4.3.0 cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot stat "
		    "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode) ||
	    (sb.st_uid != uid && sb.st_uid != 0) ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    sb.st_size > LIST_FILE_MAX) {
		delivery_status_set(st, RESULT_TEMP, "451 4.7.0 %s refused: "
		    "%s", path, !S_ISREG(sb.st_mode) ? "not a regular file" :
		    sb.st_size > LIST_FILE_MAX ? "too large" :
		    (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0 ?
		    "others may write to it" : "owned by someone else");
		close(fd);
		return -1;
	}
	if (unsafe_dir(path, uid, st)) {
		close(fd);
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 %s: %s", path,
		    strerror(errno));
		return -1;
	}
	r = alias_list_read(fp, path, t, n, NULL);
	if (ferror(fp)) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot read "
		    "%s: %s", path, strerror(errno));
		r = -1;
	} else if (r == -1)
		delivery_status_set(st, RESULT_TEMP, "451 4.7.0 %s refused: "
		    "a line is not a valid target", path);
	fclose(fp);
	if (r == -1) {
		alias_targets_free(*t, *n);
		*t = NULL;
		*n = 0;
		return -1;
	}
	return 1;
}
