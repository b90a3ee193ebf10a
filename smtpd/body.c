/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * body.c: message text on its way into the queue file.
 *
 * A byte-at-a-time state machine, so nothing depends on where TCP split
 * the stream and no line is ever held whole: memory does not grow with
 * line or message length.  Only CR LF "." CR LF ends DATA, and only when
 * that first CR LF was a real one: a bare CR or LF is either refused
 * (the caller says 521 and hangs up) or, normalizing, becomes CR LF
 * without ever starting a line whose "." could end the message.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <event2/bufferevent_ssl.h>

#include "smtpd.h"
#include "util.h"

enum line_state {
	L_START,	/* after a real CRLF: a '.' is special here */
	L_TEXT,		/* inside a line, or after a normalized ending */
	L_CR,		/* after a CR */
	L_DOT,		/* a line started with '.' */
	L_DOT_CR	/* ".", then CR */
};

void
body_begin(struct body *b, int fd, int dots, long long max)
{
	b->fd = fd;
	b->state = L_START;
	b->dots = dots;
	b->bare = 0;
	b->failed = 0;
	b->too_big = 0;
	b->size = 0;
	b->max = max;
	b->len = 0;
	if (b->buf == NULL)
		b->buf = xmalloc(BODY_BUF_SIZE);
}

/* The message is over: close the file, give the buffer back. */
void
body_end(struct body *b)
{
	if (b->fd != -1) {
		close(b->fd);
		b->fd = -1;
	}
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
}

static void
body_flush(struct body *b)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < b->len && !b->failed) {
		n = write(b->fd, b->buf + off, b->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			b->failed = 1;	/* a full disk, say: 452 at the end */
			b->failed_errno = n == -1 ? errno : ENOSPC;
		} else
			off += n;
	}
	b->len = 0;
}

/* Count, and keep unless the message is already too big or failed. */
static void
body_put(struct body *b, const char *p, size_t n)
{
	size_t	 k;

	b->size += n;
	if (b->size > b->max)
		b->too_big = 1;
	if (b->too_big || b->failed || b->fd == -1)
		return;
	while (n > 0) {
		if (b->len == BODY_BUF_SIZE)
			body_flush(b);
		k = n < BODY_BUF_SIZE - b->len ? n : BODY_BUF_SIZE - b->len;
		memcpy(b->buf + b->len, p, k);
		b->len += k;
		p += k;
		n -= k;
	}
}

/* How many bytes from p on are neither CR nor LF. */
static size_t
text_run(const unsigned char *p, size_t len)
{
	size_t	 n = 0;

	while (n < len && p[n] != '\r' && p[n] != '\n')
		n++;
	return n;
}

/*
 * Feed len bytes; *used says how many were taken (fewer at the end of
 * DATA).  normalize turns bare CR and LF into CRLF instead of refusing.
 */
enum body_status
body_feed(struct body *b, const unsigned char *p, size_t len, size_t *used,
    int normalize)
{
	size_t	 i, run;
	int	 c;

	for (i = 0; i < len; i++) {
		c = p[i];
again:
		switch (b->state) {
		case L_START:
			if (b->dots && c == '.') {
				b->state = L_DOT;
				continue;
			}
			b->state = L_TEXT;
			goto again;
		case L_TEXT:
			if (c == '\r')
				b->state = L_CR;
			else if (c != '\n') {
				run = text_run(p + i, len - i);
				body_put(b, (const char *)p + i, run);
				i += run - 1;
			} else if (!normalize)
				goto bare;
			else
				body_put(b, "\r\n", 2);	/* stays L_TEXT */
			continue;
		case L_CR:
			if (c == '\n') {
				body_put(b, "\r\n", 2);
				b->state = L_START;
				continue;
			}
			if (!normalize)
				goto bare;
			body_put(b, "\r\n", 2);
			b->state = L_TEXT;
			goto again;
		case L_DOT:
			if (c == '\r') {
				b->state = L_DOT_CR;
				continue;
			}
			b->state = L_TEXT;	/* the '.' was stuffing */
			goto again;
		case L_DOT_CR:
			if (c == '\n') {
				*used = i + 1;
				body_flush(b);
				return BODY_END;
			}
			if (!normalize)
				goto bare;
			body_put(b, "\r\n", 2);
			b->state = L_TEXT;
			goto again;
		}
	}
	*used = len;
	return BODY_MORE;
bare:
	*used = i;
	b->bare = 1;
	return BODY_BARE;
}

/*
 * End of BDAT LAST: a message that ends inside a line gets its CRLF.
 * Returns -1 if the text ended on a bare CR that may not be kept.
 */
int
body_finish(struct body *b)
{
	if (!b->dots) {
		if (b->state == L_CR)
			return -1;
		if (b->state == L_TEXT)
			body_put(b, "\r\n", 2);
	}
	if (b->fd != -1 && !b->too_big)
		body_flush(b);
	return 0;
}

static const char *
protocol_name(const struct session *s)
{
	static const char	*names[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } }
	};

	if (!s->esmtp)
		return s->tls ? "SMTPS" : "SMTP";
	return names[s->smtputf8][s->tls][s->login[0] != '\0'];
}

/*
 * The Received header (RFC 5321 4.4), protocol names from RFC 3848.  The
 * client's address is what the socket says; the HELO name is only its
 * claim.  No reverse lookup: smtpd never waits on DNS.
 */
int
body_header(struct body *b, struct session *s)
{
	char		 hdr[1024], tls[160] = "", date[64], forwho[ADDR_MAX + 16];
	time_t		 now = time(NULL);
	struct tm	 tm;
	SSL		*ssl;
	int		 n;

	if (s->tls && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		snprintf(tls, sizeof(tls), "\r\n\t(using %s with cipher %s)",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	if (s->nrcpt == 1)
		snprintf(forwho, sizeof(forwho), "\r\n\tfor <%s>", s->rcpts[0]);
	else
		forwho[0] = '\0';
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	n = snprintf(hdr, sizeof(hdr), "Received: from %s ([%s%s])%s\r\n"
	    "\tby %s (Ferry) with %s id %s%s;\r\n\t%s\r\n", s->helo,
	    s->addr.family == AF_INET6 ? "IPv6:" : "", s->ip, tls,
	    smtpd_conf()->myhostname, protocol_name(s), s->queue_id, forwho,
	    date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	body_put(b, hdr, n);
	return 0;
}
