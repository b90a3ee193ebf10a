/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * secret.c: open a secret file as root, and read a one-line one.
 *
 * The file must be a regular file that others can neither read nor
 * write: a key others can read has leaked, one others can write is not
 * the admin's.  Access by the file's group only draws a warning (a
 * root:adm 0640 file is a choice).  Errors go to stderr as config.c's
 * do, and never show the secret.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "secret.h"

/*
 * Open path for reading if its mode keeps it secret; NULL otherwise, the
 * reason on stderr.  The caller wipes what it reads.
 */
FILE *
secret_open(const char *key, const char *path)
{
	struct stat	 st;
	FILE		*fp;

	if ((fp = fopen(path, "re")) == NULL || fstat(fileno(fp), &st) == -1) {
		fprintf(stderr, "%s %s: %s\n", key, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s %s: not a regular file\n", key, path);
		goto fail;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		fprintf(stderr, "%s %s: others may read or write it (mode "
		    "%04o); make it 0600, owned by root\n", key, path,
		    (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP))
		log_warnx("%s %s: its group may read or write it (mode %04o)",
		    key, path, (unsigned int)(st.st_mode & 07777));
	return fp;
fail:
	if (fp != NULL)
		fclose(fp);
	return NULL;
}

/*
 * The line of path is wrong (why): wipe what holds it, say so as
 * "FILE:1: why" and exit with EX_CONFIG.
 */
void
secret_refuse(const char *path, const char *why, void *held, size_t size)
{
	explicit_bzero(held, size);
	fprintf(stderr, "%s:1: %s\n", path, why);
	exit(EX_CONFIG);
}

/*
 * The first line of path, without its line end, into line (empty for an
 * empty file).  key is the ferry.conf key that names the file, for the
 * messages.  Returns 0, or -1 with the reason on stderr (the caller exits
 * with EX_CONFIG) and line empty, wiped of what was read.  The stream
 * reads into a buffer of ours, wiped too.
 */
int
secret_read(const char *key, const char *path, char *line, size_t size)
{
	FILE	*fp;
	char	 buf[BUFSIZ];
	size_t	 len;
	int	 r = -1;

	line[0] = '\0';
	if ((fp = secret_open(key, path)) == NULL)
		return -1;
	setvbuf(fp, buf, _IOFBF, sizeof(buf));
	if (fgets(line, size, fp) == NULL && ferror(fp))
		fprintf(stderr, "%s %s: %s\n", key, path, strerror(errno));
	else if ((len = strcspn(line, "\r\n")) == size - 1)
		fprintf(stderr, "%s:1: line too long\n", path);
	else {
		line[len] = '\0';
		r = 0;
	}
	fclose(fp);
	explicit_bzero(buf, sizeof(buf));
	if (r == -1)
		explicit_bzero(line, size);
	return r;
}
