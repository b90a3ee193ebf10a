/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * message.c: the pieces of RFC 5322 text handling that local submission
 * and bounces share.  Input may end its lines any way; what queued
 * writes always ends them with CRLF.
 */
#include <sys/types.h>

#include <stdio.h>
#include <time.h>

#include "message.h"

/*
 * Read one physical line, without its ending, into buf (at most size-1
 * bytes; a longer line is returned in pieces).  CRLF, LF and a bare CR all
 * end a line.  Returns the length, or -1 at end of input; *ended says
 * whether a line ending was consumed.
 */
ssize_t
message_read_line(FILE *in, char *buf, size_t size, int *ended)
{
	size_t	 n = 0;
	int	 c;

	*ended = 0;
	while (n + 1 < size && (c = getc_unlocked(in)) != EOF) {
		if (c == '\n' || c == '\r') {
			if (c == '\r' && (c = getc_unlocked(in)) != '\n' &&
			    c != EOF)
				ungetc(c, in);
			*ended = 1;
			break;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (n == 0 && !*ended)
		return -1;
	return n;
}

/* A header line: a field name of printable ASCII but ':', then ':'. */
int
message_header_start(const char *line)
{
	const char	*p;

	for (p = line; *p != '\0' && *p != ':'; p++)
		if (*p < 33 || *p > 126)
			return 0;
	return *p == ':' && p > line;
}

/* An RFC 5322 date in the local zone (queued set it before chroot). */
void
message_write_date(FILE *out, time_t t)
{
	char		 buf[64];
	struct tm	 tm;

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z", &tm);
	fputs(buf, out);
}
