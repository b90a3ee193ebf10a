/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * syncrec.c: an LD_PRELOAD shim for the tests that records, in order,
 * what makes a queue file durable: open (fd and path), fdatasync, fsync,
 * rename, unlink, and every IPC frame sent (its type and first field),
 * one line each to the file FERRY_SYNCREC names.  The file is opened
 * when the process starts, before a daemon chroots.  Paths are as the
 * program gave them (relative to the chroot once it is in one).
 *
 * FERRY_SYNCREC_SKIP=CALL:SUFFIX makes CALL (fdatasync or fsync) on a
 * file whose path ends in SUFFIX do nothing and record nothing, so a
 * test can show that the checker notices a missing sync.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXFD	4096

static int	 rec_fd = -1;
static char	*fd_path[MAXFD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void
rec_open(void)
{
	const char	*p = getenv("FERRY_SYNCREC");

	if (p != NULL && *p != '\0')
		rec_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644);
}

static void *
real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* One line, one write(): lines from several threads never mix. */
static void
rec(const char *fmt, ...)
{
	char	 line[PATH_MAX * 2 + 128];
	va_list	 ap;
	int	 n;

	if (rec_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)write(rec_fd, line, n);
}

static const char *
path_of(int fd)
{
	return fd >= 0 && fd < MAXFD && fd_path[fd] != NULL ? fd_path[fd] :
	    "?";
}

static void
note_open(int fd, const char *path)
{
	if (fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&lock);
	free(fd_path[fd]);
	fd_path[fd] = strdup(path);
	rec("open %d %s", fd, path);
	pthread_mutex_unlock(&lock);
}

static int
skipped(const char *call, int fd)
{
	const char	*s = getenv("FERRY_SYNCREC_SKIP");
	const char	*p = path_of(fd), *colon;
	size_t		 lc, ls, lp = strlen(p);

	if (s == NULL || (colon = strchr(s, ':')) == NULL)
		return 0;
	lc = colon - s;
	ls = strlen(colon + 1);
	return strlen(call) == lc && strncmp(s, call, lc) == 0 && lp >= ls &&
	    strcmp(p + lp - ls, colon + 1) == 0;
}

/* open's mode argument, there only when the flags create a file. */
#define OPEN_MODE(flags, mode) do {					\
	va_list	 ap;							\
									\
	(mode) = 0;							\
	if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) {\
		va_start(ap, flags);					\
		(mode) = va_arg(ap, mode_t);				\
		va_end(ap);						\
	}								\
} while (0)

/* open and open64 are openat(AT_FDCWD) in glibc too. */
static int
open_recorded(int dirfd, const char *path, int flags, mode_t mode)
{
	static int	(*f)(int, const char *, int, ...);
	int		 fd;

	if (f == NULL)
		*(void **)&f = real("openat");
	fd = f(dirfd, path, flags, mode);
	note_open(fd, path);
	return fd;
}

int
open(const char *path, int flags, ...)
{
	mode_t	 mode;

	OPEN_MODE(flags, mode);
	return open_recorded(AT_FDCWD, path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t	 mode;

	OPEN_MODE(flags, mode);
	return open_recorded(AT_FDCWD, path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t	 mode;

	OPEN_MODE(flags, mode);
	return open_recorded(dirfd, path, flags, mode);
}

int
fdatasync(int fd)
{
	static int	(*f)(int);

	if (f == NULL)
		*(void **)&f = real("fdatasync");
	if (skipped("fdatasync", fd))
		return 0;
	rec("fdatasync %d %s", fd, path_of(fd));
	return f(fd);
}

int
fsync(int fd)
{
	static int	(*f)(int);
	int		 r;

	if (f == NULL)
		*(void **)&f = real("fsync");
	if (skipped("fsync", fd))
		return 0;
	r = f(fd);
	/* recorded once done: a reply may follow only a finished sync */
	rec("fsync %d %s", fd, path_of(fd));
	return r;
}

int
rename(const char *from, const char *to)
{
	static int	(*f)(const char *, const char *);
	int		 r;

	if (f == NULL)
		*(void **)&f = real("rename");
	r = f(from, to);
	if (r == 0)
		rec("rename %s %s", from, to);
	return r;
}

int
unlink(const char *path)
{
	static int	(*f)(const char *);
	int		 r;

	if (f == NULL)
		*(void **)&f = real("unlink");
	r = f(path);
	if (r == 0)
		rec("unlink %s", path);
	return r;
}

/*
 * An IPC frame: type (u32, big-endian) first; a first field that is a
 * string (type byte 3, u32 length, bytes) is recorded too (COMMITTED's
 * queue id).
 */
ssize_t
sendmsg(int sock, const struct msghdr *msg, int flags)
{
	static ssize_t	(*f)(int, const struct msghdr *, int);
	const unsigned char *b;
	char		 first[64] = "-";
	uint32_t	 type, n;
	size_t		 len;
	ssize_t		 r;

	if (f == NULL)
		*(void **)&f = real("sendmsg");
	r = f(sock, msg, flags);
	if (r <= 0 || msg->msg_iovlen < 1)
		return r;
	b = msg->msg_iov[0].iov_base;
	len = msg->msg_iov[0].iov_len;
	if (len < 12)
		return r;
	type = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
	if (len >= 17 && b[12] == 3) {
		n = (uint32_t)b[13] << 24 | b[14] << 16 | b[15] << 8 | b[16];
		if (n < sizeof(first) && 17 + n <= len) {
			memcpy(first, b + 17, n);
			first[n] = '\0';
			if (strpbrk(first, " \n") != NULL)
				strcpy(first, "-");
		}
	}
	rec("send %d %u %s", sock, type, first);
	return r;
}
