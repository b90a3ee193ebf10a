/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * agent.c: FETCH, WORK and REPORT for a delivery agent (relayd,
 * webrelayd), over the link to queued (qlink.c).
 *
 * One FETCH is outstanding at a time.  Its answer is WORK {id, sender,
 * size, n, credential} with the message's descriptor, followed by n
 * WORK_RCPT {index, addr}; once all n have come, the work goes to the
 * agent.  NO_WORK means nothing is due: queued sends one WAKE when
 * something is, and the agent also polls every POLL_SECONDS.
 *
 * A frame the agent cannot use (a field missing, WORK without its
 * descriptor, no recipient, WORK or WORK_RCPT out of turn) resets the
 * link: logged, closed and connected again, and queued hands the work
 * out afresh.  The recipient array grows with the WORK_RCPTs that come,
 * not by the count WORK announces.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "log.h"
#include "qlink.h"
#include "util.h"

#define POLL_SECONDS	5	/* FETCH again even without a WAKE */

static const struct agent_ops	*ops;
static struct agent_work	*incoming;	/* WORK_RCPTs still due */
static uint32_t			 incoming_n;
static uint32_t			 fetch_reqid;	/* 0: none outstanding */

void
agent_work_free(struct agent_work *w)
{
	size_t	 i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nrcpt; i++)
		free(w->rcpt[i].addr);
	free(w->rcpt);
	free(w->sender);
	free(w->credential);
	if (w->fd != -1)
		close(w->fd);
	free(w);
}

/* Ask for work, if the agent has room and no FETCH is outstanding. */
void
agent_fetch(void)
{
	struct ipc_frame	*f;

	if (!qlink_is_up() || fetch_reqid != 0 || !ops->has_room())
		return;
	f = xmalloc(sizeof(*f));
	fetch_reqid = qlink_reqid();
	ipc_frame_init(f, IPC_FETCH, fetch_reqid);
	ipc_put_u32(f, ops->channel);
	if (qlink_send(f) == -1)
		fetch_reqid = 0;
	free(f);
}

/* Send one recipient's result; dropped if queued is gone (it retries). */
void
agent_report(const char *id, uint32_t index, enum delivery_result result,
    const char *text, uint32_t retry_after)
{
	struct ipc_frame	*f;

	f = xmalloc(sizeof(*f));
	ipc_frame_init(f, IPC_REPORT, qlink_reqid());
	ipc_put_str(f, id);
	ipc_put_u32(f, index);
	ipc_put_u32(f, result);
	ipc_put_str(f, text);
	ipc_put_u32(f, retry_after);
	qlink_send(f);
	free(f);
}

/* WORK {id, sender, size, n, credential} + fd. */
static void
take_work(struct ipc_frame *f)
{
	struct agent_work	*w;
	char			 sender[IPC_STR_MAX + 1], cred[IPC_STR_MAX + 1];

	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	if (f->fd == -1 || ipc_get_str(f, w->id, sizeof(w->id)) == -1 ||
	    ipc_get_str(f, sender, sizeof(sender)) == -1 ||
	    ipc_get_u64(f, &w->size) == -1 ||
	    ipc_get_u32(f, &incoming_n) == -1 ||
	    ipc_get_str(f, cred, sizeof(cred)) == -1 || ipc_get_end(f) == -1 ||
	    incoming_n == 0) {
		free(w);
		qlink_reset("bad WORK frame from queued");
		return;
	}
	w->sender = xstrdup(sender);
	w->credential = xstrdup(cred);
	w->fd = f->fd;
	f->fd = -1;
	incoming = w;
}

/* WORK_RCPT {index, addr}: the last one completes the work. */
static void
take_rcpt(struct ipc_frame *f)
{
	struct agent_rcpt	*r;
	uint32_t		 index;
	char			 addr[IPC_STR_MAX + 1];

	if (ipc_get_u32(f, &index) == -1 ||
	    ipc_get_str(f, addr, sizeof(addr)) == -1 || ipc_get_end(f) == -1) {
		qlink_reset("bad WORK_RCPT frame from queued");
		return;
	}
	incoming->rcpt = xreallocarray(incoming->rcpt, incoming->nrcpt + 1,
	    sizeof(*incoming->rcpt));
	r = &incoming->rcpt[incoming->nrcpt++];
	r->index = index;
	r->addr = xstrdup(addr);
	if (incoming->nrcpt < incoming_n)
		return;
	fetch_reqid = 0;
	ops->work(incoming);
	incoming = NULL;
	agent_fetch();
}

static void
agent_frame(struct ipc_frame *f)
{
	char		 text[IPC_STR_MAX + 1];
	uint32_t	 class;

	if ((f->type == IPC_WORK || f->type == IPC_WORK_RCPT) &&
	    (f->reqid != fetch_reqid || fetch_reqid == 0 ||
	    (f->type == IPC_WORK) != (incoming == NULL)))
		qlink_reset("WORK or WORK_RCPT out of turn from queued");
	else if (f->type == IPC_WORK)
		take_work(f);
	else if (f->type == IPC_WORK_RCPT)
		take_rcpt(f);
	else if (f->type == IPC_NO_WORK && f->reqid == fetch_reqid)
		fetch_reqid = 0;
	else if (f->type == IPC_WAKE)
		agent_fetch();
	else if (f->type == IPC_ERROR && ipc_get_u32(f, &class) == 0 &&
	    ipc_get_str(f, text, sizeof(text)) == 0) {
		log_warnx("queued: %s", text);
		if (f->reqid == fetch_reqid)
			fetch_reqid = 0;
	}
}

static void
agent_up(void)
{
	agent_fetch();
}

/* What the agent holds, queued hands out again: the agent forgets it. */
static void
agent_down(void)
{
	agent_work_free(incoming);
	incoming = NULL;
	fetch_reqid = 0;
	ops->lost();
}

static void
on_poll(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	agent_fetch();
}

void
agent_start(struct event_base *base, const struct config *conf,
    const struct agent_ops *o)
{
	static struct qlink_ops	 link;
	struct event		*poll;

	ops = o;
	link.name = o->name;
	link.up = agent_up;
	link.frame = agent_frame;
	link.down = agent_down;
	poll = event_new(base, -1, EV_PERSIST, on_poll, NULL);
	if (poll == NULL ||
	    event_add(poll, &(struct timeval){ POLL_SECONDS, 0 }) == -1)
		fatalx("cannot start the poll timer");
	qlink_start(base, conf, &link);
}
