/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * maildir.c: one message into a Maildir: tmp/, then new/.
 *
 * The file is written in tmp/ under a unique name, fsynced, linked into
 * new/ and new/ fsynced before the message counts as delivered: a crash
 * before that leaves at most a stray file in tmp/, which Maildir readers
 * ignore, and the message is delivered again.  The Maildir and its tmp,
 * new and cur are made (0700) where missing.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "util.h"

/* mkdir -p for the Maildir and its tmp, new and cur. */
static int
maildir_make(const char *dir)
{
	char		 path[PATH_MAX];
	char		*p;
	const char	*sub[] = { "tmp", "new", "cur" };
	size_t		 i;

	strlcpy(path, dir, sizeof(path));
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/*
 * Store what write_message writes as one new message of dir; id (the
 * queue ID) goes into the unique name.  -1 with errno; nothing is then
 * left in new/.
 */
int
maildir_store(const char *dir, const char *id, maildir_writer write_message,
    void *arg)
{
	char		 tmp[PATH_MAX], new[PATH_MAX], name[200], host[64];
	struct timespec	 ts;
	int		 fd = -1, saved;

	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, "/:")] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%s.%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), id, host);
	if (snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name) >=
	    (int)sizeof(tmp) ||
	    snprintf(new, sizeof(new), "%s/new/%s", dir, name) >=
	    (int)sizeof(new)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (maildir_make(dir) == -1 ||
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 ||
	    write_message(fd, arg) == -1 || fsync(fd) == -1 ||
	    link(tmp, new) == -1)
		goto fail;
	if (fsync_parent(new) == -1) {
		/* not durable, so not delivered: the retry writes it anew */
		saved = errno;
		unlink(new);
		errno = saved;
		goto fail;
	}
	close(fd);
	unlink(tmp);
	return 0;
fail:
	saved = errno;
	if (fd != -1) {
		close(fd);
		unlink(tmp);
	}
	errno = saved;
	return -1;
}
