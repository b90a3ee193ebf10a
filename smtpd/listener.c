/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * listener.c: the listening sockets (bound as root, before dropping
 * privileges) and accepting, with the total and per-address limits:
 * a client over a limit gets one 421 line and is closed at once.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "smtpd.h"
#include "util.h"

#define LISTEN_BACKLOG	512
#define LISTENERS_MAX	32

struct listener {
	enum listener_kind	 kind;
	int			 fd;
	char			 spec[64];
	struct event		*ev;
};

static struct listener	 listeners[LISTENERS_MAX];
static size_t		 nlisteners;

static int
bind_one(const char *spec)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 s, on = 1;

	if (listen_parse(spec, &ss, &len) == -1)
		fatalx("bad listener %s", spec);
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (s == -1)
		fatal("socket for %s", spec);
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(s, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1))
		fatal("setsockopt for %s", spec);
	if (bind(s, (struct sockaddr *)&ss, len) == -1)
		fatal("bind %s", spec);
	if (listen(s, LISTEN_BACKLOG) == -1)
		fatal("listen %s", spec);
	return s;
}

static void
open_kind(const char *list, enum listener_kind kind)
{
	struct listener	*l;
	char		 spec[64];

	while (word_next(&list, spec, sizeof(spec)) == 1) {
		if (nlisteners == LISTENERS_MAX)
			fatalx("more than %d listeners", LISTENERS_MAX);
		l = &listeners[nlisteners++];
		l->kind = kind;
		strlcpy(l->spec, spec, sizeof(l->spec));
		l->fd = bind_one(spec);
	}
}

void
listeners_open(const struct config *conf)
{
	open_kind(conf->smtp_listen, LISTEN_SMTP);
	open_kind(conf->submission_listen, LISTEN_SUBMISSION);
	open_kind(conf->smtps_listen, LISTEN_SMTPS);
	if (nlisteners == 0)
		fatalx("no listeners: smtp_listen, submission_listen and "
		    "smtps_listen are all empty");
}

/* Over a limit: one line, written without waiting, then close. */
static void
refuse(int fd, const char *ip, const char *why)
{
	static const char	 msg[] = "421 4.7.0 Too many connections\r\n";

	log_event("event=refuse client=%s reason=%s", ip, log_q(why));
	/* a client that is gone or not reading just misses the line */
	(void)!write(fd, msg, sizeof(msg) - 1);
	close(fd);
}

static void
on_accept(evutil_socket_t lfd, short events, void *arg)
{
	const struct config	*conf = smtpd_conf();
	struct listener		*l = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct netaddr		 addr;
	struct client		*c;
	char			 ip[NETADDR_STRLEN];
	int			 fd, on = 1;

	(void)events;
	fd = accept4(lfd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("accept on %s", l->spec);
			daemon_accept_pause(l->ev);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept on %s", l->spec);
		return;
	}
	if (netaddr_from_sockaddr(&addr, (struct sockaddr *)&ss) == -1) {
		close(fd);
		return;
	}
	netaddr_format(&addr, ip, sizeof(ip));
	if (session_count() >= conf->smtpd_max_sessions) {
		refuse(fd, ip, "smtpd_max_sessions");
		return;
	}
	c = client_get(&addr);
	if (client_sessions(c) > conf->smtpd_max_sessions_per_ip) {
		client_put(c);
		refuse(fd, ip, "smtpd_max_sessions_per_ip");
		return;
	}
	/* replies are small and pipelined: do not let Nagle hold them */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	session_start(fd, &addr, l->kind, c);
}

void
listeners_start(struct event_base *base)
{
	size_t	 i;

	for (i = 0; i < nlisteners; i++) {
		listeners[i].ev = event_new(base, listeners[i].fd,
		    EV_READ | EV_PERSIST, on_accept, &listeners[i]);
		if (listeners[i].ev == NULL ||
		    event_add(listeners[i].ev, NULL) == -1)
			fatalx("cannot listen on %s", listeners[i].spec);
		log_event("event=listen address=%s", listeners[i].spec);
	}
}
