/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_secret.c: secret_read(), the one-line secret file reader of
 * relay_auth_file and webrelay_auth_file: the line without its end, and
 * every refusal (missing, others may read or write, too long) with the
 * line left empty.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "tap.h"

static char	 path[] = "/tmp/ferry-test-secret-XXXXXX";

/* Write text to path with mode, read it back into line. */
static int
read_back(const char *text, mode_t mode, char *line, size_t size)
{
	FILE	*fp;
	int	 null, saved, r;

	if ((fp = fopen(path, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	memset(line, 'x', size);
	fflush(stderr);
	saved = dup(2);
	if ((null = open("/dev/null", O_WRONLY)) != -1) {
		dup2(null, 2);
		close(null);
	}
	r = secret_read("test_file", path, line, size);
	dup2(saved, 2);
	close(saved);
	return r;
}

static int
wiped(const char *line, size_t size)
{
	size_t	 i;

	for (i = 0; i < size; i++)
		if (line[i] != '\0')
			return 0;
	return 1;
}

int
main(void)
{
	char	 line[16];
	int	 fd;

	if ((fd = mkstemp(path)) == -1)
		return 1;
	close(fd);
	ok(read_back("user pass\n", 0600, line, sizeof(line)) == 0 &&
	    strcmp(line, "user pass") == 0, "a line: %s", line);
	ok(read_back("user pass\r\nmore\n", 0600, line, sizeof(line)) == 0 &&
	    strcmp(line, "user pass") == 0, "CRLF, the first line only");
	ok(read_back("no newline", 0600, line, sizeof(line)) == 0 &&
	    strcmp(line, "no newline") == 0, "no line end");
	ok(read_back("", 0600, line, sizeof(line)) == 0 && line[0] == '\0',
	    "an empty file is an empty line");
	ok(read_back("0123456789abcde\n", 0600, line, sizeof(line)) == -1 &&
	    wiped(line, sizeof(line)), "too long: refused, wiped");
	ok(read_back("0123456789abcd\n", 0600, line, sizeof(line)) == 0 &&
	    strcmp(line, "0123456789abcd") == 0, "the longest line that fits");
	ok(read_back("user pass\n", 0604, line, sizeof(line)) == -1 &&
	    line[0] == '\0', "others may read: refused");
	ok(read_back("user pass\n", 0602, line, sizeof(line)) == -1,
	    "others may write: refused");
	ok(read_back("user pass\n", 0640, line, sizeof(line)) == 0,
	    "its group may read: a warning only");
	unlink(path);
	ok(secret_read("test_file", path, line, sizeof(line)) == -1,
	    "a missing file");
	return tap_done();
}
