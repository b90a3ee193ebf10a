/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * failsync.c: an LD_PRELOAD shim for the tests.  fsync() of a directory
 * fails with EIO when FERRY_FAIL_DIRSYNC is set: "*" for every
 * directory, else only those whose path ends in its value (the path is
 * read from /proc, so a chrooted daemon needs "*").  fdatasync() of a
 * regular file fails the same way as FERRY_FAIL_DATASYNC says: "*" every
 * one, "#N" only the Nth call in the process (a chrooted queued has no
 * /proc to name files by), else a file whose path ends in its value.
 * Everything else goes to the C library.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fd is a directory (or, if !dir, a regular file) whose path ends in want. */
static int
path_matches(int fd, const char *want, int dir)
{
	struct stat	 st;
	char		 proc[64], path[PATH_MAX];
	ssize_t		 n;
	size_t		 lw;

	if (want == NULL || *want == '\0' || fstat(fd, &st) == -1 ||
	    (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
		return 0;
	if (strcmp(want, "*") == 0)
		return 1;
	lw = strlen(want);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	return (size_t)n >= lw && strcmp(path + n - lw, want) == 0;
}

int
fsync(int fd)
{
	static int	(*real_fsync)(int);
	const char	*want = getenv("FERRY_FAIL_DIRSYNC");

	if (real_fsync == NULL)
		*(void **)&real_fsync = dlsym(RTLD_NEXT, "fsync");
	if (path_matches(fd, want, 1)) {
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	static int	(*real_fdatasync)(int);
	static int	 calls;
	const char	*want = getenv("FERRY_FAIL_DATASYNC");
	int		 nth = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);

	if (real_fdatasync == NULL)
		*(void **)&real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	if (want != NULL && want[0] == '#' ? atoi(want + 1) == nth :
	    path_matches(fd, want, 0)) {
		errno = EIO;
		return -1;
	}
	return real_fdatasync(fd);
}
