/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * copy.c: the message as it goes into a mailbox, a file or a command.
 *
 * Local mail is in the Unix form: LF line ends (the queue keeps CRLF),
 * Return-Path and Delivered-To first.  For an mbox (COPY_MBOX) a "From "
 * line starts it, any line of the message starting with "From " gets a
 * '>' (mboxo quoting, as Postfix and mail.local write it; in the header
 * too, where such a line would otherwise split the message for every
 * reader), and a blank line ends it.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "locald.h"
#include "util.h"

void
delivery_status_set(struct delivery_status *st, enum delivery_result r,
    const char *fmt, ...)
{
	va_list	 ap;

	st->result = r;
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

struct copy_out {
	int		 fd;
	char		 buf[65536];
	size_t		 used;
};

static int
out_flush(struct copy_out *o)
{
	if (o->used > 0 && write_full(o->fd, o->buf, o->used) == -1)
		return -1;
	o->used = 0;
	return 0;
}

static int
out_put(struct copy_out *o, const char *s, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (o->used == sizeof(o->buf) && out_flush(o) == -1)
			return -1;
		k = sizeof(o->buf) - o->used;
		if (k > n)
			k = n;
		memcpy(o->buf + o->used, s, k);
		o->used += k;
		s += k;
		n -= k;
	}
	return 0;
}

static int
out_head(struct copy_out *o, const struct delivery *d, int flags)
{
	char		 head[2048], date[64];
	time_t		 now = time(NULL);
	struct tm	 tm;
	int		 n;

	n = 0;
	if (flags & COPY_MBOX) {
		/* asctime's form, as every mbox reader expects */
		strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y",
		    localtime_r(&now, &tm));
		n = snprintf(head, sizeof(head), "From %s  %s\n",
		    *d->sender != '\0' ? d->sender : "MAILER-DAEMON", date);
	}
	if (flags & COPY_FORWARD)
		n += snprintf(head + n, sizeof(head) - n,
		    "Delivered-To: %s\n", d->recipient);
	else
		n += snprintf(head + n, sizeof(head) - n,
		    "Return-Path: <%s>\nDelivered-To: %s\n", d->sender,
		    d->recipient);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return out_put(o, head, n);
}

/* Does the line at in[i] (the file's byte at off) start with "From "? */
static int
starts_from(const struct delivery *d, const char *in, size_t len, off_t off)
{
	char	 peek[5];

	if (len >= 5)
		return memcmp(in, "From ", 5) == 0;
	/* the buffer ends inside the word: ask the file */
	return pread(d->msgfd, peek, 5, off) == 5 &&
	    memcmp(peek, "From ", 5) == 0;
}

/*
 * Write the message to fd: the head, then every line of the queue file
 * with CRLF made LF.  -1 with errno on a read or write error.
 */
int
delivery_copy(int fd, const struct delivery *d, int flags)
{
	struct copy_out	 o;
	char		 in[65536];
	off_t		 off = 0;
	ssize_t		 n, i;
	int		 bol = 1, cr = 0, blank = 0;

	o.fd = fd;
	o.used = 0;
	if (out_head(&o, d, flags) == -1)
		return -1;
	while ((n = pread(d->msgfd, in, sizeof(in), off)) > 0) {
		for (i = 0; i < n; i++) {
			if (cr && in[i] != '\n') {
				if (out_put(&o, "\r", 1) == -1)
					return -1;
				bol = 0;
			}
			if ((cr = in[i] == '\r'))
				continue;
			if (in[i] == '\n')
				blank = bol;
			else if (bol && (flags & COPY_MBOX) && in[i] == 'F' &&
			    starts_from(d, in + i, n - i, off + i) &&
			    out_put(&o, ">", 1) == -1)
				return -1;
			if (out_put(&o, in + i, 1) == -1)
				return -1;
			bol = in[i] == '\n';
		}
		off += n;
	}
	if (n == -1)
		return -1;
	if (cr && out_put(&o, "\r", 1) == -1)
		return -1;
	if (!bol || cr) {
		if (out_put(&o, "\n", 1) == -1)
			return -1;
		blank = 0;
	}
	if ((flags & COPY_MBOX) && !blank && out_put(&o, "\n", 1) == -1)
		return -1;
	return out_flush(&o);
}
