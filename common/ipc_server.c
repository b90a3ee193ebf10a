/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ipc_server.c: accept, read, dispatch and write IPC frames, for the
 * connections a daemon accepts and for those it opens to another daemon
 * without blocking (ipc_conn_connect).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "ipc_server.h"
#include "log.h"
#include "util.h"

/* Connections one uid holds on a listener with max_per_uid. */
struct uid_count {
	uid_t		 uid;
	unsigned	 n;
};

struct ipc_listener {
	struct event_base		*base;
	struct event			*ev;
	const struct ipc_service	*svc;
	struct uid_count		*uids;
	size_t				 nuids;
};

static void	 ipc_conn_free(struct ipc_conn *);

/* The count of uid's connections on l, made if new. */
static struct uid_count *
uid_count(struct ipc_listener *l, uid_t uid)
{
	size_t	 i;

	for (i = 0; i < l->nuids; i++)
		if (l->uids[i].uid == uid)
			return &l->uids[i];
	l->uids = xreallocarray(l->uids, l->nuids + 1, sizeof(*l->uids));
	l->uids[l->nuids].uid = uid;
	l->uids[l->nuids].n = 0;
	return &l->uids[l->nuids++];
}

/* uid's connection on l is gone; a uid with none is forgotten. */
static void
uid_release(struct ipc_listener *l, uid_t uid)
{
	struct uid_count	*u = uid_count(l, uid);

	if (u->n > 0)
		u->n--;
	if (u->n == 0)
		*u = l->uids[--l->nuids];
}

/* Close c now, or, from inside its frame handler, once the handler returns. */
void
ipc_conn_close(struct ipc_conn *c, const char *why)
{
	if (why != NULL)
		log_event("event=ipc-close peer=%s uid=%lu reason=%s",
		    log_q(c->peer), (unsigned long)c->uid, log_q(why));
	c->closing = 1;
	if (!c->dispatching)
		ipc_conn_free(c);
}

static void
ipc_conn_free(struct ipc_conn *c)
{
	struct ipc_out	*o;

	if (c->svc->closed != NULL)
		c->svc->closed(c);
	if (c->listener != NULL && c->listener->svc->max_per_uid > 0)
		uid_release(c->listener, c->uid);
	while ((o = TAILQ_FIRST(&c->out)) != NULL) {
		TAILQ_REMOVE(&c->out, o, entry);
		if (o->fd != -1)
			close(o->fd);
		free(o);
	}
	event_free(c->ev_read);
	event_free(c->ev_write);
	close(c->sock);
	free(c);
}

/* Queue f (and fd, which the connection now owns) for sending. */
void
ipc_conn_send(struct ipc_conn *c, struct ipc_frame *f, int fd)
{
	struct ipc_out	*o;

	if (c->closing || f->error) {
		if (fd != -1)
			close(fd);
		if (f->error)
			log_warnx("dropping oversized %s frame to %s",
			    ipc_type_name(f->type), c->peer);
		return;
	}
	ipc_frame_finish(f);
	o = xmalloc(sizeof(*o) + f->len);
	o->fd = fd;
	o->len = f->len;
	memcpy(o->buf, f->buf, f->len);
	TAILQ_INSERT_TAIL(&c->out, o, entry);
	c->outlen += o->len;
	event_add(c->ev_write, NULL);
	/* a peer that asks without reading: hear no more until it reads */
	if (c->svc->max_output > 0 && c->outlen > c->svc->max_output &&
	    !c->stalled) {
		c->stalled = 1;
		event_del(c->ev_read);
	}
}

void
ipc_conn_reply_error(struct ipc_conn *c, uint32_t reqid, int class,
    const char *text)
{
	struct ipc_frame	 f;

	ipc_frame_init(&f, IPC_ERROR, reqid);
	ipc_put_u32(&f, class);
	ipc_put_str(&f, text);
	ipc_conn_send(c, &f, -1);
}

void
ipc_conn_reply_ok(struct ipc_conn *c, uint32_t reqid)
{
	struct ipc_frame	 f;

	ipc_frame_init(&f, IPC_OK, reqid);
	ipc_conn_send(c, &f, -1);
}

static void
ipc_conn_writable(evutil_socket_t sock, short events, void *arg)
{
	struct ipc_conn	*c = arg;
	struct ipc_out	*o;

	(void)sock;
	(void)events;
	while ((o = TAILQ_FIRST(&c->out)) != NULL) {
		if (ipc_sendmsg(c->sock, o->buf, o->len, o->fd) == -1) {
			if (errno != EAGAIN)
				ipc_conn_close(c, "write failed");
			return;		/* EAGAIN: ev_write stays pending */
		}
		TAILQ_REMOVE(&c->out, o, entry);
		c->outlen -= o->len;
		if (o->fd != -1)
			close(o->fd);
		free(o);
		if (c->stalled && c->outlen <= c->svc->max_output / 2) {
			c->stalled = 0;
			event_add(c->ev_read, NULL);
		}
	}
	event_del(c->ev_write);
}

static int
ipc_conn_hello(struct ipc_conn *c, struct ipc_frame *f)
{
	struct ipc_frame	 rep;
	uint32_t		 version;

	if (f->type != IPC_HELLO || ipc_get_u32(f, &version) == -1 ||
	    ipc_get_str(f, c->peer, sizeof(c->peer)) == -1 ||
	    ipc_get_end(f) == -1 || version != IPC_VERSION)
		return -1;
	c->hello = 1;
	if (c->client)
		return 0;	/* that was the server's answer to ours */
	ipc_frame_init(&rep, IPC_HELLO, f->reqid);
	ipc_put_u32(&rep, IPC_VERSION);
	ipc_put_str(&rep, c->svc->name);
	ipc_conn_send(c, &rep, -1);
	return 0;
}

static void
ipc_conn_readable(evutil_socket_t sock, short events, void *arg)
{
	struct ipc_conn		*c = arg;
	struct ipc_frame	*f;
	int			 r;

	(void)sock;
	(void)events;
	f = xmalloc(sizeof(*f));
	r = ipc_recv(c->sock, f);
	if (r == -1 && errno == EAGAIN) {
		free(f);
		return;
	}
	if (r <= 0) {
		ipc_conn_close(c, r == 0 ? NULL : "malformed frame");
		free(f);
		return;
	}
	if (!c->hello) {
		if (f->fd != -1)
			close(f->fd);
		if (ipc_conn_hello(c, f) == -1)
			ipc_conn_close(c, "bad or missing hello");
		free(f);
		return;
	}
	c->dispatching = 1;
	c->svc->frame(c, f);
	c->dispatching = 0;
	free(f);
	if (c->closing)
		ipc_conn_free(c);
}

static struct ipc_conn *
ipc_conn_new(struct event_base *base, int s, const struct ipc_service *svc)
{
	struct ipc_conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->sock = s;
	c->svc = svc;
	strlcpy(c->peer, "?", sizeof(c->peer));
	TAILQ_INIT(&c->out);
	c->ev_read = event_new(base, s, EV_READ | EV_PERSIST,
	    ipc_conn_readable, c);
	c->ev_write = event_new(base, s, EV_WRITE | EV_PERSIST,
	    ipc_conn_writable, c);
	if (c->ev_read == NULL || c->ev_write == NULL)
		fatalx("event_new");
	event_add(c->ev_read, NULL);
	return c;
}

/*
 * Open a connection to the daemon serving path, without blocking: the
 * HELLO goes out first and svc's handler sees the frames that follow the
 * server's HELLO.  NULL if the socket cannot be reached now.
 */
struct ipc_conn *
ipc_conn_connect(struct event_base *base, const char *path,
    const struct ipc_service *svc, void *data)
{
	struct ipc_frame	*f;
	struct ipc_conn		*c;
	int			 s;

	if ((s = ipc_connect_nonblock(path)) == -1)
		return NULL;
	c = ipc_conn_new(base, s, svc);
	c->client = 1;
	c->data = data;
	f = xmalloc(sizeof(*f));
	ipc_frame_init(f, IPC_HELLO, 0);
	ipc_put_u32(f, IPC_VERSION);
	ipc_put_str(f, svc->name);
	ipc_conn_send(c, f, -1);
	free(f);
	return c;
}

static void
ipc_accept(evutil_socket_t lsock, short events, void *arg)
{
	struct ipc_listener	*l = arg;
	struct ipc_conn		*c;
	uid_t			 uid;
	int			 s;

	(void)events;
	s = accept4(lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("accept on %s socket", l->svc->name);
			daemon_accept_pause(l->ev);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept on %s socket", l->svc->name);
		return;
	}
	if (ipc_peer_uid(s, &uid) == -1 || !l->svc->allow_uid(uid)) {
		log_event("event=ipc-refused service=%s uid=%ld",
		    l->svc->name, (long)uid);
		close(s);
		return;
	}
	if (l->svc->max_per_uid > 0 && uid != 0 && uid != geteuid() &&
	    uid_count(l, uid)->n >= l->svc->max_per_uid) {
		log_event("event=ipc-refused service=%s uid=%ld reason=%s",
		    l->svc->name, (long)uid, log_q("too many connections"));
		close(s);
		return;
	}
	c = ipc_conn_new(l->base, s, l->svc);
	c->uid = uid;
	c->listener = l;
	if (l->svc->max_per_uid > 0)
		uid_count(l, uid)->n++;
}

/* Serve svc on the listening socket lsock. */
int
ipc_server_listen(struct event_base *base, int lsock,
    const struct ipc_service *svc)
{
	struct ipc_listener	*l;

	l = xcalloc(1, sizeof(*l));
	l->base = base;
	l->svc = svc;
	l->ev = event_new(base, lsock, EV_READ | EV_PERSIST, ipc_accept, l);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1) {
		free(l);
		return -1;
	}
	return 0;
}
