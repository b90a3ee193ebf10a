/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * wake.c: telling idle delivery agents that work is due.
 *
 * A connection that got NO_WORK sleeps here until something becomes due:
 * a new message (a commit or a bounce), a flush, a message given back, or
 * a deferred recipient's retry time.  It then gets one WAKE and sleeps
 * again only after its next NO_WORK, so an agent never polls and is never
 * woken twice for one NO_WORK.  A single timer waits for the earliest
 * retry time; it is moved earlier as recipients are deferred and found
 * again by one pass over the queue when it fires.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <stdlib.h>

#include "log.h"
#include "queued.h"
#include "sched.h"
#include "util.h"

struct sleeper {
	TAILQ_ENTRY(sleeper)	 entry;
	struct ipc_conn		*conn;
};

/*
 * time() reads the clock as of the last kernel tick, which trails
 * gettimeofday() by up to a tick: the timer aims this far past the
 * second so that time() agrees it has come, instead of firing early
 * and again until it does.
 */
#define WAKE_SLACK_USEC	20000

static TAILQ_HEAD(, sleeper)	 sleepers = TAILQ_HEAD_INITIALIZER(sleepers);
static struct event		*retry_timer;
static time_t			 retry_at;	/* when it fires; 0: idle */

static void	wake_sleepers(time_t);

/*
 * One reading of the clock serves both questions: with two, the second
 * could tick over between them, so that nothing was due for the first
 * and nothing is left to wait for at the second, and the wake was lost.
 */
static void
on_retry_time(evutil_socket_t fd, short events, void *arg)
{
	time_t	 now = time(NULL);

	(void)fd;
	(void)events;
	(void)arg;
	retry_at = 0;
	wake_sleepers(now);
	queue_wake_at(sched_next_retry(now));
}

/* Call once the queue is loaded: its deferred recipients set the timer. */
void
queue_wake_init(struct event_base *base)
{
	retry_timer = evtimer_new(base, on_retry_time, NULL);
	if (retry_timer == NULL)
		fatalx("evtimer_new");
	queue_wake_at(sched_next_retry(time(NULL)));
}

/* A deferred recipient becomes due at t (0: never): wake sleepers then. */
void
queue_wake_at(time_t t)
{
	struct timeval	 now, tv = { 0, 0 };
	long long	 usec;

	if (t == 0 || (retry_at != 0 && retry_at <= t))
		return;
	retry_at = t;
	gettimeofday(&now, NULL);
	usec = ((long long)t - now.tv_sec) * 1000000 - now.tv_usec +
	    WAKE_SLACK_USEC;
	if (usec > 0) {
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
	}
	evtimer_add(retry_timer, &tv);
}

/* c got NO_WORK. */
void
queue_wake_sleep(struct ipc_conn *c)
{
	struct sleeper	*s;

	TAILQ_FOREACH(s, &sleepers, entry)
		if (s->conn == c)
			return;
	s = xcalloc(1, sizeof(*s));
	s->conn = c;
	TAILQ_INSERT_TAIL(&sleepers, s, entry);
}

/* c asks for work again, or went away. */
void
queue_wake_forget(struct ipc_conn *c)
{
	struct sleeper	*s;

	TAILQ_FOREACH(s, &sleepers, entry)
		if (s->conn == c) {
			TAILQ_REMOVE(&sleepers, s, entry);
			free(s);
			return;
		}
}

/* Something may have become due: if it did, wake every sleeper. */
void
queue_wake(void)
{
	wake_sleepers(time(NULL));
}

static void
wake_sleepers(time_t now)
{
	struct sleeper		*s;
	struct ipc_frame	 f;

	if (TAILQ_EMPTY(&sleepers) || sched_first_due(now) == NULL)
		return;
	while ((s = TAILQ_FIRST(&sleepers)) != NULL) {
		TAILQ_REMOVE(&sleepers, s, entry);
		ipc_frame_init(&f, IPC_WAKE, 0);
		ipc_conn_send(s->conn, &f, -1);
		free(s);
	}
}
