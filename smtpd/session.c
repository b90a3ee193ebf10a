/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * session.c: one SMTP session's input and output.
 *
 * Input is parsed only while the session is not waiting (for queued, a
 * lookup or an AUTH failure delay); what the client pipelines meanwhile
 * stays buffered, up to SMTPD_INPUT_MAX, and is parsed in order once the
 * answer is in.  Replies go out in the same order.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "lookup.h"
#include "smtpd.h"
#include "util.h"

static int		 nsessions;
static uint32_t		 next_session_id;

static void	 session_input(struct session *);
static void	 session_free(struct session *);
static void	 on_read(struct bufferevent *, void *);
static void	 on_write(struct bufferevent *, void *);
static void	 on_event(struct bufferevent *, short, void *);

int
session_count(void)
{
	return nsessions;
}

static void
session_setup_bev(struct session *s)
{
	struct timeval	 tv = { smtpd_conf()->smtpd_timeout, 0 };

	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_INPUT_MAX);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* The bufferevent's own timeouts do not cover the TLS handshake. */
static void
on_handshake_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)events;
	log_event("event=timeout session=%08x client=%s during=tls-handshake",
	    s->id, s->ip);
	session_free(s);
}

/*
 * A TLS bufferevent on the session's socket.  It owns the socket; the
 * plain one before it did not, so STARTTLS can free that one and go on
 * with the same descriptor.
 */
static struct bufferevent *
tls_bufferevent(struct session *s)
{
	struct timeval		 tv = { smtpd_conf()->smtpd_timeout, 0 };
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(smtpd_tls_ctx())) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(smtpd_base(), s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	s->tls = 1;
	evtimer_add(s->handshake, &tv);
	return bev;
}

void
session_start(int fd, const struct netaddr *addr, enum listener_kind kind,
    struct client *client)
{
	const struct config	*conf = smtpd_conf();
	struct session		*s;

	s = xcalloc(1, sizeof(*s));
	s->id = ++next_session_id;
	s->fd = fd;
	s->kind = kind;
	s->addr = *addr;
	netaddr_format(addr, s->ip, sizeof(s->ip));
	s->loopback = netaddr_is_loopback(addr);
	s->trusted = netlist_match(conf->mynetworks, addr);
	s->client = client;
	s->body.fd = -1;
	if ((s->handshake = evtimer_new(smtpd_base(), on_handshake_timeout,
	    s)) == NULL)
		fatalx("evtimer_new");
	if (kind == LISTEN_SMTPS)
		s->bev = tls_bufferevent(s);
	else
		s->bev = bufferevent_socket_new(smtpd_base(), fd, 0);
	if (s->bev == NULL) {
		log_warnx("session=%08x cannot set up the connection", s->id);
		close(fd);
		client_put(client);
		event_free(s->handshake);
		free(s);
		return;
	}
	nsessions++;
	session_setup_bev(s);
	log_event("event=connect session=%08x client=%s port=%s", s->id, s->ip,
	    kind == LISTEN_SMTP ? "smtp" : kind == LISTEN_SUBMISSION ?
	    "submission" : "smtps");
	session_reply(s, "220 %s ESMTP Ferry", conf->myhostname);
}

/* Every change of s->state goes through here. */
void
session_enter_state(struct session *s, enum session_state new)
{
	s->state = new;
}

/* Forget the mail transaction (RSET, end of message, STARTTLS, EHLO). */
void
session_reset(struct session *s)
{
	size_t	 i;

	qclient_close(s);
	body_end(&s->body);
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->in_mail = 0;
	s->sender[0] = '\0';
	s->smtputf8 = 0;
	s->queue_id[0] = '\0';
	s->bdat_left = 0;
	s->bdat_last = 0;
	s->bdat_error = NULL;
	if (s->state == S_DATA || s->state == S_BDAT)
		session_enter_state(s, S_COMMAND);
}

static void
session_free(struct session *s)
{
	log_event("event=disconnect session=%08x client=%s messages=%zu "
	    "errors=%d", s->id, s->ip, s->messages, s->errors);
	session_reset(s);
	lookup_cancel(s);
	if (s->delay != NULL)
		event_free(s->delay);
	event_free(s->handshake);
	bufferevent_free(s->bev);
	if (!s->tls)
		close(s->fd);	/* a TLS bufferevent closes it itself */
	client_put(s->client);
	explicit_bzero(s->auth_user, sizeof(s->auth_user));
	free(s);
	nsessions--;
}

/*
 * Send one reply line (a multi-line reply is several calls).  Every
 * 5xx counts as an error; too many end the session.
 */
void
session_reply(struct session *s, const char *fmt, ...)
{
	char	 line[SMTP_LINE_MAX];
	va_list	 ap;
	int	 n;

	if (s->closing)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	evbuffer_add(bufferevent_get_output(s->bev), line, n + 2);
	if (line[0] == '5' && line[3] == ' ' &&
	    ++s->errors >= smtpd_conf()->smtpd_max_errors) {
		log_event("event=too-many-errors session=%08x client=%s",
		    s->id, s->ip);
		session_close(s, "421 4.7.0 Too many errors");
	}
}

/* Say a last thing, stop reading, and end once it has been written. */
void
session_close(struct session *s, const char *reply)
{
	if (s->closing)
		return;
	if (reply != NULL)
		session_reply(s, "%s", reply);
	s->closing = 1;
	bufferevent_disable(s->bev, EV_READ);
	if (!s->in_input &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_free(s);
}

void
session_wait(struct session *s)
{
	s->waiting = 1;
}

static void
on_delay(evutil_socket_t fd, short events, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)events;
	if (s->delayed_close)
		session_close(s, s->delayed_reply);
	else
		session_reply(s, "%s", s->delayed_reply);
	session_resume(s);
}

/*
 * A waiting session says reply after secs seconds (and closes, with
 * close): a tarpit for clients that guess, slow for them, free for us.
 */
void
session_reply_later(struct session *s, int secs, const char *reply,
    int close)
{
	struct timeval	 tv = { secs, 0 };

	strlcpy(s->delayed_reply, reply, sizeof(s->delayed_reply));
	s->delayed_close = close;
	if (s->delay == NULL && (s->delay = evtimer_new(smtpd_base(), on_delay,
	    s)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(s->delay, &tv);
}

/* The answer s waited for is in: go on with the input it left. */
void
session_resume(struct session *s)
{
	s->waiting = 0;
	if (!s->in_input)
		session_input(s);
}

/*
 * Plaintext AUTH to loopback clients only if configured: behind a local
 * proxy or port forwarder every client comes from loopback.
 */
int
session_auth_allowed(const struct session *s)
{
	const char	*plaintext = smtpd_conf()->smtpd_auth_plaintext;

	return s->tls || strcmp(plaintext, "yes") == 0 ||
	    (s->loopback && strcmp(plaintext, "loopback") == 0);
}

/*
 * STARTTLS: what the client sent after the command is discarded
 * (CVE-2011-0411), reading stops so the ClientHello stays in the socket,
 * and on_write() starts TLS once the 220 has gone out.
 */
void
session_starttls(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 extra = evbuffer_get_length(in);

	if (extra > 0) {
		log_event("event=starttls-discard session=%08x client=%s "
		    "bytes=%zu", s->id, s->ip, extra);
		evbuffer_drain(in, extra);
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	bufferevent_disable(s->bev, EV_READ);
	s->tls_pending = 1;
	s->waiting = 1;
}

static void
tls_begin(struct session *s)
{
	struct bufferevent	*bev;

	s->tls_pending = 0;
	if ((bev = tls_bufferevent(s)) == NULL) {
		log_warnx("session=%08x cannot start TLS", s->id);
		session_close(s, NULL);
		return;
	}
	bufferevent_free(s->bev);
	s->bev = bev;
	session_setup_bev(s);
}

/* The handshake is done: RFC 3207 says forget everything we knew. */
static void
tls_established(struct session *s)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(s->bev);

	log_event("event=tls session=%08x client=%s version=%s cipher=%s",
	    s->id, s->ip, SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	evtimer_del(s->handshake);
	if (s->kind == LISTEN_SMTPS)
		return;
	session_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->login[0] = '\0';	/* even an AUTH before TLS is forgotten */
	session_resume(s);
}

/* A line that is no command; it also ends an AUTH exchange. */
static int
line_error(struct session *s, const char *reply)
{
	session_enter_state(s, S_COMMAND);
	session_reply(s, "%s", reply);
	return -1;
}

/*
 * The next command line from in, CRLF removed, into line.  Returns 1,
 * 0 when no complete line is buffered, or -1 for a line that got its 500
 * here and was skipped (overlong, a bare LF, a stray CR or NUL).
 */
static int
read_line(struct session *s, struct evbuffer *in, char *line)
{
	struct evbuffer_ptr	 eol;
	size_t			 n, len;

	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos == -1) {
		if ((len = evbuffer_get_length(in)) >= SMTP_LINE_MAX) {
			evbuffer_drain(in, len);	/* no use keeping it */
			s->discarding = 1;
		}
		return 0;
	}
	n = eol.pos + 1;
	if (s->discarding || n > SMTP_LINE_MAX) {
		evbuffer_drain(in, n);
		s->discarding = 0;
		return line_error(s, "500 5.5.2 Line too long");
	}
	evbuffer_remove(in, line, n);
	line[n - 1] = '\0';
	if (n < 2 || line[n - 2] != '\r')
		return line_error(s, "500 5.5.2 Line must end with CRLF");
	line[n - 2] = '\0';
	if (strlen(line) != n - 2 || strchr(line, '\r') != NULL)
		return line_error(s, "500 5.5.2 Bad character in command");
	return 1;
}

static void
data_input(struct session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 vec;
	enum body_status	 st = BODY_MORE;
	size_t			 used, avail;
	int			 chunk = s->state == S_BDAT;

	while (st == BODY_MORE && evbuffer_peek(in, -1, NULL, &vec, 1) > 0) {
		avail = vec.iov_len;
		if (chunk && (long long)avail > s->bdat_left)
			avail = s->bdat_left;
		st = body_feed(&s->body, vec.iov_base, avail, &used,
		    smtpd_conf()->smtpd_bare_lf[0] == 'n');
		evbuffer_drain(in, used);
		if (chunk) {
			s->bdat_left -= used;
			if (s->bdat_left == 0 && st == BODY_MORE)
				st = BODY_END;
		}
	}
	if (st == BODY_BARE) {
		log_event("event=reject session=%08x client=%s reason=%s",
		    s->id, s->ip, log_q("bare CR or LF in message"));
		session_reset(s);
		session_close(s, "521 5.5.2 Bare CR or LF in message");
	} else if (st == BODY_END) {
		session_enter_state(s, S_COMMAND);
		if (chunk)
			command_chunk_end(s);
		else
			command_data_end(s);
	}
}

static void
session_input(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	char		 line[SMTP_LINE_MAX + 1];
	int		 r;

	s->in_input = 1;
	while (!s->waiting && !s->closing && evbuffer_get_length(in) > 0 &&
	    evbuffer_get_length(out) < SMTPD_OUTPUT_MAX) {
		if (s->state == S_DATA || s->state == S_BDAT) {
			data_input(s, in);
			continue;
		}
		if ((r = read_line(s, in, line)) == 0)
			break;
		if (r == -1)
			continue;
		if (s->state == S_COMMAND)
			command_line(s, line);
		else
			auth_response(s, line);
		explicit_bzero(line, sizeof(line));
	}
	s->in_input = 0;
	if (s->closing && evbuffer_get_length(out) == 0)
		session_free(s);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_input(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->closing)
		session_free(s);
	else if (s->tls_pending)
		tls_begin(s);
	else if (!s->waiting)
		session_input(s);	/* it may have stopped for us to write */
}

static void
log_tls_error(struct session *s)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_event("event=tls-error session=%08x client=%s error=%s",
		    s->id, s->ip, log_q(buf));
	}
}

static void
on_event(struct bufferevent *bev, short events, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if (s->waiting && !s->tls_pending) {
			/* our own wait (a lookup, the queue): not idleness */
			bufferevent_enable(s->bev, EV_READ);
			return;
		}
		log_event("event=timeout session=%08x client=%s", s->id, s->ip);
		if (s->closing) {
			session_free(s);
			return;
		}
		session_close(s, "421 4.4.2 Timeout");
		return;
	}
	if ((events & BEV_EVENT_ERROR) && s->tls)
		log_tls_error(s);
	else if ((events & BEV_EVENT_ERROR) && EVUTIL_SOCKET_ERROR() != 0)
		log_event("event=lost session=%08x client=%s error=%s", s->id,
		    s->ip, log_q(strerror(EVUTIL_SOCKET_ERROR())));
	session_free(s);
}
