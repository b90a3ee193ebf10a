/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * mailbox.c: appending to an mbox file: a user's /var/mail/USER, or the
 * /file target of an alias or a ~/.forward.  Runs in a delivery process
 * that already is the user (expand.c), so the kernel's permissions are
 * the user's own.
 *
 * The file is opened without following a link, or created 0600 with
 * O_EXCL; it must then be a regular file of ours with one link, or the
 * delivery defers: a symlink or a hard link planted in the spool could
 * otherwise point the append at someone else's file (Postfix
 * CVE-2008-2936).  Locking is what Debian Policy 11.6 asks of every
 * program that touches a mailbox: fcntl first, then the dotlock
 * PATH.lock, both given up on after MBOX_LOCK_WAIT seconds.  An append
 * that fails is cut back to the old length, so a reader never sees half
 * a message.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "locald.h"
#include "util.h"

#define DOTLOCK_STALE		300	/* an older dotlock is left over */
#define LOCK_POLL_NSEC		100000000L

static void
pause_briefly(void)
{
	struct timespec	 ts = { 0, LOCK_POLL_NSEC };

	nanosleep(&ts, NULL);
}

/*
 * Open path for appending, creating it if it is not there.  O_NONBLOCK
 * keeps a FIFO without a reader from hanging the delivery: open fails
 * (ENXIO), or fstat below turns it away; a regular file ignores it.
 */
static int
mbox_open(const char *path, struct delivery_status *st)
{
	struct stat	 sb;
	int		 fd, tries, flags = O_WRONLY | O_APPEND | O_NOFOLLOW |
			    O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

	for (tries = 0; tries < 3; tries++) {
		fd = open(path, flags);
		if (fd == -1 && errno == ENOENT)
			fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd != -1 || errno != EEXIST)
			break;		/* EEXIST: made meanwhile, open it */
	}
	if (fd == -1) {
		delivery_status_set(st, RESULT_TEMP, errno == ELOOP ?
		    "451 4.7.0 mailbox %s is a symbolic link: not delivered" :
		    "451 4.2.0 cannot open mailbox %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.2.0 cannot stat "
		    "mailbox %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    sb.st_nlink != 1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.7.0 mailbox %s "
		    "refused: %s", path, !S_ISREG(sb.st_mode) ?
		    "not a regular file" : sb.st_uid != geteuid() ?
		    "owned by someone else" : "it has more than one link");
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.2.0 cannot open "
		    "mailbox %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The dotlock: 1 taken, 0 not possible here (no write access), -1 busy. */
static int
dotlock_try(const char *lock)
{
	struct stat	 sb;
	int		 fd;

	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd != -1) {
		close(fd);
		return 1;
	}
	if (errno == EACCES || errno == EPERM || errno == EROFS)
		return 0;
	if (errno == EEXIST && lstat(lock, &sb) == 0 &&
	    time(NULL) - sb.st_mtime > DOTLOCK_STALE)
		unlink(lock);	/* left by a reader that died */
	return -1;
}

static void
on_alarm(int sig)
{
	(void)sig;	/* only to interrupt F_SETLKW */
}

/*
 * The fcntl lock, waited for in the kernel (so the next delivery to the
 * same mailbox starts the moment the last one is done) until an alarm
 * at most seconds away; -1 with EWOULDBLOCK when that rings.
 */
static int
fcntl_lock(int fd, int seconds)
{
	struct sigaction	 sa, old;
	struct flock		 fl;
	int			 r, saved;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: EINTR at the end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	alarm(seconds);
	r = fcntl(fd, F_SETLKW, &fl);
	saved = errno;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	if (r == -1 && saved == EINTR)
		saved = EWOULDBLOCK;
	errno = saved;
	return r;
}

/*
 * Both locks within MBOX_LOCK_WAIT seconds.  *dotlocked says whether the
 * dotlock is ours to remove.
 */
static int
mbox_lock(int fd, const char *lock, int *dotlocked)
{
	long long until = monotonic_ms() + MBOX_LOCK_WAIT * 1000LL;
	int	 r;

	*dotlocked = 0;
	if (fcntl_lock(fd, MBOX_LOCK_WAIT) == -1)
		return -1;
	/* a reader that takes only the dotlock (or takes it first) */
	while ((r = dotlock_try(lock)) == -1) {
		if (monotonic_ms() >= until) {
			errno = EWOULDBLOCK;
			return -1;
		}
		pause_briefly();
	}
	*dotlocked = r;
	return 0;
}

void
mbox_deliver(const char *path, const struct delivery *d,
    struct delivery_status *st)
{
	char	 lock[PATH_MAX];
	off_t	 size;
	int	 fd, dotlocked, saved;

	if (strcmp(path, "/dev/null") == 0) {
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 "
		    "discarded (/dev/null)");
		return;
	}
	if (snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    (int)sizeof(lock)) {
		delivery_status_set(st, RESULT_PERM, "550 5.3.5 mailbox path "
		    "too long");
		return;
	}
	if ((fd = mbox_open(path, st)) == -1)
		return;
	if (mbox_lock(fd, lock, &dotlocked) == -1) {
		delivery_status_set(st, RESULT_TEMP, errno == EWOULDBLOCK ?
		    "451 4.2.0 mailbox %s is locked" :
		    "451 4.2.0 cannot lock mailbox %s", path);
		close(fd);
		return;
	}
	if ((size = lseek(fd, 0, SEEK_END)) == -1 ||
	    delivery_copy(fd, d, COPY_MBOX) == -1 || fsync(fd) == -1) {
		saved = errno;
		if (size != -1 && ftruncate(fd, size) == 0)
			fsync(fd);
		delivery_status_set(st, RESULT_TEMP, saved == ENOSPC ||
		    saved == EDQUOT ? "452 4.2.2 mailbox %s is full: %s" :
		    "451 4.2.0 cannot write mailbox %s: %s", path,
		    strerror(saved));
	} else
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 "
		    "delivered to %s", path);
	if (dotlocked)
		unlink(lock);
	close(fd);	/* and with it the fcntl lock */
}
