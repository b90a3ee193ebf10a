/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * qlink.c: the one connection to queued.sock of relayd, webrelayd and
 * licensed.  Connecting blocks for at most QUEUED_TIMEOUT (queued is
 * local); everything after is driven by the event loop.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "qlink.h"
#include "util.h"

#define RECONNECT_SECONDS	1
#define QUEUED_TIMEOUT		30

static const struct qlink_ops	*ops;
static const struct config	*qconf;
static struct event_base	*qbase;
static struct event		*read_ev, *retry_ev;
static int			 qsock = -1;
static uint32_t			 next_reqid = 1;

static void	 qlink_connect(evutil_socket_t, short, void *);

/* Close the link (why: for the log) and connect again in a second. */
void
qlink_reset(const char *why)
{
	if (qsock == -1)
		return;
	log_warnx("%s; reconnecting", why);
	event_free(read_ev);
	read_ev = NULL;
	close(qsock);
	qsock = -1;
	if (ops->down != NULL)
		ops->down();
	event_add(retry_ev, &(struct timeval){ RECONNECT_SECONDS, 0 });
}

static void
qlink_readable(evutil_socket_t fd, short events, void *arg)
{
	struct ipc_frame	*f;
	int			 n;

	(void)fd;
	(void)events;
	(void)arg;
	f = xmalloc(sizeof(*f));
	if ((n = ipc_recv(qsock, f)) != 1)
		qlink_reset(n == -1 && errno == EBADMSG ?
		    "bad frame from queued" : "lost queued");
	else {
		ops->frame(f);
		if (f->fd != -1)	/* the callback did not take it */
			close(f->fd);
	}
	free(f);
}

static void
qlink_connect(evutil_socket_t fd, short events, void *arg)
{
	static int	 said;	/* warn once per outage */
	char		 path[PATH_MAX];

	(void)fd;
	(void)events;
	(void)arg;
	if (path_join(path, sizeof(path), qconf->run_directory,
	    "queued.sock") == -1)
		fatalx("run_directory too long");
	if ((qsock = ipc_connect(path, QUEUED_TIMEOUT)) == -1 ||
	    ipc_hello(qsock, ops->name) == -1) {
		if (!said)
			log_warn("cannot reach queued at %s; retrying", path);
		said = 1;
		if (qsock != -1)
			close(qsock);
		qsock = -1;
		event_add(retry_ev, &(struct timeval){ RECONNECT_SECONDS, 0 });
		return;
	}
	read_ev = event_new(qbase, qsock, EV_READ | EV_PERSIST,
	    qlink_readable, NULL);
	if (read_ev == NULL || event_add(read_ev, NULL) == -1)
		fatalx("event_new");
	said = 0;
	log_event("event=connect-queued");
	ops->up();
}

void
qlink_start(struct event_base *base, const struct config *conf,
    const struct qlink_ops *o)
{
	qbase = base;
	qconf = conf;
	ops = o;
	if ((retry_ev = evtimer_new(base, qlink_connect, NULL)) == NULL)
		fatalx("evtimer_new");
	qlink_connect(-1, 0, NULL);
}

int
qlink_is_up(void)
{
	return qsock != -1;
}

/* A fresh request id for a frame to queued. */
uint32_t
qlink_reqid(void)
{
	return next_reqid++;
}

/* Send a frame; -1 if queued is not connected or the send failed. */
int
qlink_send(struct ipc_frame *f)
{
	if (qsock == -1)
		return -1;
	if (ipc_send(qsock, f, -1) == -1) {
		log_warn("send %s to queued", ipc_type_name(f->type));
		return -1;
	}
	return 0;
}

/* In a forked child that does not talk to queued. */
void
qlink_close_in_child(void)
{
	if (qsock != -1)
		close(qsock);
	qsock = -1;
}
