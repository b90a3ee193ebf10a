/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_io.h: a blocking connection to a remote SMTP server, in clear or
 * TLS, with a timeout on every read and write.
 */
#ifndef FERRY_SMTP_IO_H
#define FERRY_SMTP_IO_H

#include <sys/socket.h>

#include <openssl/ssl.h>

#define SMTP_LINE_MAX	4096
#define SMTP_REPLY_MAX	1024

struct smtp_io {
	int		 fd;
	SSL		*ssl;
	char		 rbuf[8192];
	size_t		 rpos, rlen;
	char		 peer[300];	/* "host[address]:port" for logs */
};

struct smtp_reply {
	int		 code;		/* 0: connection lost or timed out */
	char		 text[SMTP_REPLY_MAX];	/* all lines, joined */
	char		 lines[16][128];	/* EHLO keywords, upper case */
	int		 nlines;
};

int	 io_connect(struct smtp_io *, const struct sockaddr *, socklen_t,
	    const char *, int);
int	 io_starttls(struct smtp_io *, SSL_CTX *, const char *, int,
	    char *, size_t);
int	 io_write(struct smtp_io *, const void *, size_t, int);
int	 io_printf(struct smtp_io *, int, const char *, ...)
	    __attribute__((__format__(__printf__, 3, 4)));
int	 io_read_reply(struct smtp_io *, struct smtp_reply *, int);
void	 io_close(struct smtp_io *);

#endif
