/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * util.c: allocation wrappers and path joining.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		fatal("malloc");
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if ((p = reallocarray(old, nmemb == 0 ? 1 : nmemb, size)) == NULL)
		fatal("reallocarray");
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

/* Join dir and name with one slash; -1 with ENAMETOOLONG if it does not fit. */
int
path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int	 n;

	n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Write all n bytes of buf to fd: 0, or -1 with errno. */
int
write_full(int fd, const void *buf, size_t n)
{
	const unsigned char	*p = buf;
	ssize_t			 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* s without the blanks around it, cut in place. */
/* Milliseconds on a clock that a change of the date does not move. */
long long
monotonic_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Does s hold a control character (below space, or DEL)? */
int
str_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 1;
	return 0;
}

char *
str_trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * A Unix login name as Debian's tools make them: 1 to 32 of letters,
 * digits, '.', '_' and '-', not starting with '-', maybe ending in '$'
 * (Samba machine accounts).  Names that cross into mail headers and
 * configuration are held to this, so no blank or control byte passes.
 */
int
unix_name_valid(const char *name)
{
	size_t	 i, n = strlen(name);

	if (n > 0 && name[n - 1] == '$')
		n--;
	if (n == 0 || n > 32 || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return 0;
	return 1;
}

/*
 * fsync the directory holding path, so that a file renamed or linked
 * into it is durable.  -1 with errno on failure.
 */
int
fsync_parent(const char *path)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd, r, saved;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL) {
		errno = ENAMETOOLONG;
		return -1;
	}
	slash[slash == dir ? 1 : 0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* len bytes of in as 2 * len hex digits and a NUL in out. */
void
hex_encode(const void *in, size_t len, char *out, int upper)
{
	const char		*digits = upper ? "0123456789ABCDEF" :
				    "0123456789abcdef";
	const unsigned char	*p = in;
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}
