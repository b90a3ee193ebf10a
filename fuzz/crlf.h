/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * crlf.h: the harnesses' check that a file written for the queue has no
 * bare CR or LF.  whole_lines: it must also end with CRLF (a submission
 * always does; smtpd's body may stop anywhere but inside a CRLF).
 */
#ifndef FERRY_FUZZ_CRLF_H
#define FERRY_FUZZ_CRLF_H

#include <stdlib.h>
#include <unistd.h>

static void
crlf_check_file(int fd, int whole_lines)
{
	char	 buf[8192], prev = '\0';
	ssize_t	 n, i;

	if (lseek(fd, 0, SEEK_SET) == -1)
		abort();
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; prev = buf[i++])
			if ((prev == '\r') != (buf[i] == '\n'))
				abort();
	if (prev == '\r' || (whole_lines && prev != '\n'))
		abort();
}

#endif
