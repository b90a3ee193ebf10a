/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_io.c: connect, TLS, write, read replies.
 *
 * Timeouts are socket timeouts (SO_RCVTIMEO, SO_SNDTIMEO) set before each
 * operation, which works the same for plain reads and for OpenSSL on a
 * blocking socket.  Replies are remote, hostile input: lines are bounded,
 * control characters are replaced before the text goes anywhere.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "smtp_io.h"

static void
set_timeout(int fd, int seconds)
{
	struct timeval	 tv = { seconds, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect within timeout seconds; -1 with errno on failure. */
int
io_connect(struct smtp_io *io, const struct sockaddr *sa, socklen_t len,
    const char *peer, int timeout)
{
	struct pollfd	 pfd;
	socklen_t	 elen = sizeof(int);
	int		 fd, err = 0, flags;

	memset(io, 0, sizeof(*io));
	io->fd = -1;
	strlcpy(io->peer, peer, sizeof(io->peer));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, sa, len) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout * 1000) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 ||
		    err != 0) {
			errno = err != 0 ? err : errno;
			goto fail;
		}
	}
	/*
	 * SMTP is request and reply: without this, a short write after
	 * another (the final dot, pipelined commands) waits for a delayed
	 * ACK, some 40 ms a message.
	 */
	flags = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof(flags));
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		goto fail;
	io->fd = fd;
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/*
 * Start TLS on the connection (after "220" to STARTTLS).  With verify,
 * the certificate must chain to the CA and name host.  Whatever the
 * server sent before the handshake is dropped: it was not protected
 * (CVE-2011-0411).  On failure, why holds OpenSSL's reason.
 */
int
io_starttls(struct smtp_io *io, SSL_CTX *ctx, const char *host, int timeout,
    char *why, size_t whylen)
{
	unsigned long	 e;

	io->rpos = io->rlen = 0;
	set_timeout(io->fd, timeout);
	if ((io->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(io->ssl, io->fd) != 1 ||
	    SSL_set_tlsext_host_name(io->ssl, host) != 1 ||
	    SSL_set1_host(io->ssl, host) != 1 || SSL_connect(io->ssl) != 1) {
		e = ERR_get_error();
		snprintf(why, whylen, "TLS handshake with %s failed: %s",
		    io->peer, e != 0 ? ERR_reason_error_string(e) :
		    strerror(errno));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int
io_write(struct smtp_io *io, const void *buf, size_t len, int timeout)
{
	const char	*p = buf;
	ssize_t		 n;

	set_timeout(io->fd, timeout);
	while (len > 0) {
		if (io->ssl != NULL)
			n = SSL_write(io->ssl, p, len);
		else
			n = write(io->fd, p, len);
		if (n <= 0) {
			if (n == -1 && io->ssl == NULL && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int
io_printf(struct smtp_io *io, int timeout, const char *fmt, ...)
{
	char	 buf[SMTP_LINE_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return io_write(io, buf, n, timeout);
}

static int
io_fill(struct smtp_io *io)
{
	ssize_t	 n;

	if (io->rpos > 0) {
		memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
		io->rlen -= io->rpos;
		io->rpos = 0;
	}
	if (io->rlen == sizeof(io->rbuf))
		return -1;
	do {
		if (io->ssl != NULL)
			n = SSL_read(io->ssl, io->rbuf + io->rlen,
			    sizeof(io->rbuf) - io->rlen);
		else
			n = read(io->fd, io->rbuf + io->rlen,
			    sizeof(io->rbuf) - io->rlen);
	} while (n == -1 && io->ssl == NULL && errno == EINTR);
	if (n <= 0)
		return -1;
	io->rlen += n;
	return 0;
}

/* One reply line without CRLF; over-long lines are cut, not split. */
static int
io_read_line(struct smtp_io *io, char *line, size_t size)
{
	char	*nl;
	size_t	 n;

	for (;;) {
		nl = memchr(io->rbuf + io->rpos, '\n', io->rlen - io->rpos);
		if (nl != NULL)
			break;
		if (io_fill(io) == -1)
			return -1;
	}
	n = nl - (io->rbuf + io->rpos);
	if (n > 0 && nl[-1] == '\r')
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(line, io->rbuf + io->rpos, n);
	line[n] = '\0';
	io->rpos = nl + 1 - io->rbuf;
	for (nl = line; *nl != '\0'; nl++)
		if ((unsigned char)*nl < ' ' || *nl == 0x7f)
			*nl = ' ';
	return 0;
}

/*
 * Read a (multi-line) reply.  code 0 means the connection failed or
 * timed out, or the server did not speak SMTP.
 */
int
io_read_reply(struct smtp_io *io, struct smtp_reply *r, int timeout)
{
	char	 line[SMTP_LINE_MAX];
	size_t	 used = 0;
	int	 code;

	memset(r, 0, sizeof(*r));
	set_timeout(io->fd, timeout);
	for (;;) {
		if (io_read_line(io, line, sizeof(line)) == -1) {
			snprintf(r->text, sizeof(r->text), "%s: %s", io->peer,
			    errno == EAGAIN ? "timeout" : "connection lost");
			r->code = 0;
			return -1;
		}
		if (strlen(line) < 3 || (line[3] != ' ' && line[3] != '-' &&
		    line[3] != '\0') || (code = strtol(line, NULL, 10)) < 200 ||
		    code > 599 || (r->code != 0 && code != r->code)) {
			snprintf(r->text, sizeof(r->text), "%s: not SMTP: %.80s",
			    io->peer, line);
			r->code = 0;
			return -1;
		}
		r->code = code;
		if (r->nlines < 16) {
			strlcpy(r->lines[r->nlines], line[3] ? line + 4 : "",
			    sizeof(r->lines[0]));
			r->nlines++;
		}
		if (used < sizeof(r->text) - 1)
			used += snprintf(r->text + used, sizeof(r->text) - used,
			    "%s%s", used > 0 ? " " : "", used > 0 && line[3] ?
			    line + 4 : line);
		if (used >= sizeof(r->text))
			used = sizeof(r->text) - 1;
		if (line[3] != '-')
			return 0;
	}
}

void
io_close(struct smtp_io *io)
{
	if (io->ssl != NULL) {
		SSL_shutdown(io->ssl);
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	if (io->fd != -1)
		close(io->fd);
	io->fd = -1;
}
