/*
 * failsync.c: an LD_PRELOAD shim for the tests.  fsync() of a directory
 * fails with EIO when FERRY_FAIL_DIRSYNC is set: "*" for every
 * directory, else only those whose path ends in its value (the path is
 * read from /proc, so a chrooted daemon needs "*").  Everything else
 * goes to the C library's fsync().
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
dir_matches(int fd, const char *want)
{
	struct stat	 st;
	char		 proc[64], path[PATH_MAX];
	ssize_t		 n;
	size_t		 lw = strlen(want);

	if (fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode))
		return 0;
	if (strcmp(want, "*") == 0)
		return 1;
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
	if (want != NULL && *want != '\0' && dir_matches(fd, want)) {
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}
