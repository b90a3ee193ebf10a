/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * qclient.c: one mail transaction with queued, on its own connection to
 * smtpd/queued.sock: CREATE (queued answers with the message file's
 * descriptor), the recipients, then COMMIT, which queued answers only
 * once the message is durable.  A session that ends first closes the
 * connection, and queued throws the half-written message away.
 *
 * Each answer must carry the request id of the question it answers and
 * come within smtpd_queue_wait; otherwise the connection is closed and
 * the session hears a temporary failure.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc_server.h"
#include "log.h"
#include "smtpd.h"
#include "util.h"

struct qclient {
	struct session	*session;
	struct ipc_conn	*conn;		/* NULL once queued hung up */
	qclient_cb	 cb;		/* waiting for an answer, or NULL */
	uint32_t	 expect;	/* IPC_CREATED or IPC_COMMITTED */
	uint32_t	 expect_reqid;	/* of the question cb waits on */
	uint32_t	 reqid;		/* the last one sent */
	struct event	*deadline;	/* smtpd_queue_wait, while cb is set */
};

static struct ipc_frame	 frame;		/* smtpd is single-threaded */

static void	 qc_frame(struct ipc_conn *, struct ipc_frame *);
static void	 qc_closed(struct ipc_conn *);

static const struct ipc_service qc_service = {
	.name = "smtpd",
	.allow_uid = NULL,
	.frame = qc_frame,
	.closed = qc_closed,
};

/* The answer is in: hand it over and forget the callback first. */
static void
qc_answer(struct qclient *q, int status, const char *text)
{
	qclient_cb	 cb = q->cb;

	q->cb = NULL;
	evtimer_del(q->deadline);
	if (cb != NULL)
		cb(q->session, status, text);
}

static void
qc_created(struct qclient *q, struct ipc_frame *f)
{
	struct session	*s = q->session;
	uint64_t	 max;
	size_t		 i;

	if (f->fd == -1 || ipc_get_str(f, s->queue_id,
	    sizeof(s->queue_id)) == -1 || ipc_get_u64(f, &max) == -1 ||
	    ipc_get_end(f) == -1) {
		qc_answer(q, QC_TEMP, "bad answer from queued");
		return;
	}
	s->body.fd = f->fd;
	f->fd = -1;
	for (i = 0; i < s->nrcpt; i++) {
		ipc_frame_init(&frame, IPC_RCPT, ++q->reqid);
		ipc_put_str(&frame, s->rcpts[i]);
		ipc_conn_send(q->conn, &frame, -1);
	}
	qc_answer(q, QC_OK, NULL);
}

/*
 * queued broke the protocol or took too long: hang up (queued drops the
 * message) and tell the session, which may free q.
 */
static void
qc_fail(struct qclient *q, const char *why)
{
	struct ipc_conn	*c = q->conn;

	log_warnx("session=%08x queued: %s", q->session->id, why);
	q->conn = NULL;
	if (c != NULL) {
		c->data = NULL;
		ipc_conn_close(c, why);
	}
	qc_answer(q, QC_TEMP, "queue not available, try again later");
}

static void
qc_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	struct qclient	*q = c->data;
	char		 text[256], id[32];
	uint32_t	 class;

	if (q == NULL || q->cb == NULL) {
		ipc_conn_close(c, "unexpected frame from queued");
	} else if (f->reqid != q->expect_reqid) {
		qc_fail(q, "answer with the wrong request id");
	} else if (f->type == IPC_ERROR && ipc_get_u32(f, &class) == 0 &&
	    ipc_get_str(f, text, sizeof(text)) == 0) {
		qc_answer(q, class == IPC_ERR_PERM ? QC_PERM :
		    class == IPC_ERR_NOSPACE ? QC_NOSPACE : QC_TEMP, text);
	} else if (f->type == q->expect && f->type == IPC_CREATED) {
		qc_created(q, f);
	} else if (f->type == q->expect && ipc_get_str(f, id,
	    sizeof(id)) == 0 && ipc_get_end(f) == 0) {
		qc_answer(q, QC_OK, NULL);
	} else {
		qc_answer(q, QC_TEMP, "bad answer from queued");
	}
	if (f->fd != -1)
		close(f->fd);
}

static void
qc_deadline(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	qc_fail(arg, "no answer within smtpd_queue_wait");
}

static void
qc_closed(struct ipc_conn *c)
{
	struct qclient	*q = c->data;

	if (q == NULL)
		return;
	q->conn = NULL;
	log_warnx("session=%08x queued closed the connection",
	    q->session->id);
	qc_answer(q, QC_TEMP, "queued closed the connection");
}

static int
qc_send(struct qclient *q, struct ipc_frame *f, uint32_t expect,
    qclient_cb cb)
{
	struct timeval	 tv = { smtpd_conf()->smtpd_queue_wait, 0 };

	if (q->conn == NULL)
		return -1;
	q->expect = expect;
	q->expect_reqid = f->reqid;
	q->cb = cb;
	evtimer_add(q->deadline, &tv);
	ipc_conn_send(q->conn, f, -1);
	return 0;
}

/* CREATE; cb gets the answer, with the file in s->body.fd. */
int
qclient_open(struct session *s, qclient_cb cb)
{
	struct qclient	*q;

	q = xcalloc(1, sizeof(*q));
	q->session = s;
	q->conn = ipc_conn_connect(smtpd_base(), smtpd_queue_socket(),
	    &qc_service, q);
	if (q->conn == NULL) {
		log_warn("session=%08x cannot connect to %s", s->id,
		    smtpd_queue_socket());
		free(q);
		return -1;
	}
	if ((q->deadline = evtimer_new(smtpd_base(), qc_deadline, q)) == NULL)
		fatalx("evtimer_new");
	s->queue = q;
	ipc_frame_init(&frame, IPC_CREATE, ++q->reqid);
	return qc_send(q, &frame, IPC_CREATED, cb);
}

/* COMMIT; cb says when the message is durable, or why not. */
void
qclient_commit(struct session *s, qclient_cb cb)
{
	struct qclient	*q = s->queue;

	if (q == NULL) {
		cb(s, QC_TEMP, "no message open in queued");
		return;
	}
	ipc_frame_init(&frame, IPC_COMMIT, ++q->reqid);
	ipc_put_str(&frame, s->queue_id);
	ipc_put_str(&frame, s->sender);
	if (qc_send(q, &frame, IPC_COMMITTED, cb) == -1)
		cb(s, QC_TEMP, "lost the connection to queued");
}

void
qclient_close(struct session *s)
{
	struct qclient	*q = s->queue;

	if (q == NULL)
		return;
	if (q->conn != NULL) {
		q->conn->data = NULL;
		ipc_conn_close(q->conn, NULL);
	}
	event_free(q->deadline);
	free(q);
	s->queue = NULL;
}
