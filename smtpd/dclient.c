/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * dclient.c: smtpd's questions to delegated, on one connection opened
 * when first needed (and again after delegated restarts).  Each question
 * is answered within delegate_wait: after that the session hears
 * "temporary failure", and a late answer is dropped here; delegated
 * still finishes its probe and caches the result.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ipc_server.h"
#include "log.h"
#include "lookup.h"
#include "smtpd.h"
#include "util.h"

struct question {
	TAILQ_ENTRY(question)	 entry;
	uint32_t		 reqid;
	struct session		*session;
	lookup_cb		 done;
	struct event		*deadline;
};

static TAILQ_HEAD(question_list, question) questions =
    TAILQ_HEAD_INITIALIZER(questions);
static struct ipc_conn		*conn;
static uint32_t			 next_reqid;
static struct ipc_frame		 frame;		/* single-threaded */

static void	 dc_frame(struct ipc_conn *, struct ipc_frame *);
static void	 dc_closed(struct ipc_conn *);

static const struct ipc_service dc_service = {
	.name = "smtpd",
	.allow_uid = NULL,
	.frame = dc_frame,
	.closed = dc_closed,
};

/* Answer q's session and forget q. */
static void
settle(struct question *q, enum lookup_result r, const char *text)
{
	struct session	*s = q->session;
	lookup_cb	 done = q->done;

	TAILQ_REMOVE(&questions, q, entry);
	event_free(q->deadline);
	free(q);
	done(s, r, text);
}

static void
on_deadline(evutil_socket_t fd, short events, void *arg)
{
	struct question	*q = arg;

	(void)fd;
	(void)events;
	log_event("event=delegate-wait session=%08x reqid=%u reason=%s",
	    q->session->id, q->reqid, log_q("no answer in delegate_wait"));
	settle(q, LOOKUP_TEMP, NULL);
}

static void
dc_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	struct question	*q;
	char		 text[IPC_STR_MAX + 1];
	uint32_t	 result;

	(void)c;
	if (f->type != IPC_DELEG_ANSWER || ipc_get_u32(f, &result) == -1 ||
	    ipc_get_str(f, text, sizeof(text)) == -1 ||
	    ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad answer from delegated");
		return;
	}
	if (f->reqid == 0 || (int32_t)(f->reqid - next_reqid) > 0) {
		ipc_conn_close(c, "answer to no question from delegated");
		return;
	}
	TAILQ_FOREACH(q, &questions, entry)
		if (q->reqid == f->reqid)
			break;
	if (q == NULL)
		return;		/* too late: the session has moved on */
	settle(q, result == DELEG_YES ? LOOKUP_YES : result == DELEG_NO ?
	    LOOKUP_NO : LOOKUP_TEMP, *text != '\0' ? text : NULL);
}

/*
 * delegated went away: its questions get "temporary failure".  Only
 * those asked so far: a session answered here may ask again at once, on
 * a new connection.
 */
static void
dc_closed(struct ipc_conn *c)
{
	struct question	*q, *last = TAILQ_LAST(&questions, question_list);

	(void)c;
	conn = NULL;
	while (last != NULL && (q = TAILQ_FIRST(&questions)) != NULL) {
		if (q == last)
			last = NULL;
		settle(q, LOOKUP_TEMP, NULL);
	}
}

/*
 * Send frame for s; done gets the answer (perhaps before we return).
 * frame may hold a password: it is wiped on every way out.
 */
static void
dclient_send_question(struct session *s, lookup_cb done)
{
	struct timeval	 tv = { smtpd_conf()->delegate_wait, 0 };
	struct question	*q;
	int		 sent = 0;

	if (conn == NULL && (conn = ipc_conn_connect(smtpd_base(),
	    smtpd_delegate_socket(), &dc_service, NULL)) == NULL) {
		log_warn("session=%08x cannot reach %s", s->id,
		    smtpd_delegate_socket());
		goto wipe;
	}
	q = xcalloc(1, sizeof(*q));
	q->reqid = frame.reqid;
	q->session = s;
	q->done = done;
	if ((q->deadline = evtimer_new(smtpd_base(), on_deadline, q)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(q->deadline, &tv);
	TAILQ_INSERT_TAIL(&questions, q, entry);
	ipc_conn_send(conn, &frame, -1);
	sent = 1;
wipe:
	explicit_bzero(&frame, sizeof(frame));
	if (!sent)
		done(s, LOOKUP_TEMP, NULL);
}

void
dclient_auth(struct session *s, const char *user, const char *password,
    lookup_cb done)
{
	ipc_frame_init(&frame, IPC_DELEG_AUTH, ++next_reqid);
	ipc_put_str(&frame, user);
	ipc_put_str(&frame, password);
	dclient_send_question(s, done);
}

void
dclient_rcpt(struct session *s, const char *address, lookup_cb done)
{
	ipc_frame_init(&frame, IPC_DELEG_RCPT, ++next_reqid);
	ipc_put_str(&frame, address);
	ipc_put_str(&frame, s->sender);
	dclient_send_question(s, done);
}

/* s is going away: its questions are answered to nobody. */
void
dclient_cancel(struct session *s)
{
	struct question	*q, *next;

	TAILQ_FOREACH_SAFE(q, &questions, entry, next)
		if (q->session == s) {
			TAILQ_REMOVE(&questions, q, entry);
			event_free(q->deadline);
			free(q);
		}
}
