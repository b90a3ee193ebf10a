/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * workq.c: a queue of items for worker threads, and a pipe that tells
 * the event loop when some are done.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "workq.h"

TAILQ_HEAD(workq_list, workq_item);

struct workq {
	pthread_mutex_t		 lock;
	pthread_cond_t		 more;
	struct workq_list	 pending;
	struct workq_list	 finished;
	int			 pipe[2];	/* workers -> loop: "some done" */
	void			(*work)(struct workq_item *);
	void			(*done)(struct workq_item *);
	void			(*idle)(void);	/* in a worker, or NULL */
	int			 idle_secs;
};

static void *
workq_thread(void *arg)
{
	struct workq		*q = arg;
	struct workq_item	*item;

	struct timespec		 until;
	int			 idle_done = 1;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while ((item = TAILQ_FIRST(&q->pending)) == NULL) {
			if (q->idle == NULL || idle_done) {
				pthread_cond_wait(&q->more, &q->lock);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += q->idle_secs;
			if (pthread_cond_timedwait(&q->more, &q->lock,
			    &until) == ETIMEDOUT &&
			    TAILQ_FIRST(&q->pending) == NULL) {
				pthread_mutex_unlock(&q->lock);
				q->idle();
				pthread_mutex_lock(&q->lock);
				idle_done = 1;
			}
		}
		idle_done = 0;
		TAILQ_REMOVE(&q->pending, item, workq_entry);
		pthread_mutex_unlock(&q->lock);
		q->work(item);
		pthread_mutex_lock(&q->lock);
		TAILQ_INSERT_TAIL(&q->finished, item, workq_entry);
		/* a full pipe already holds a wake-up */
		(void)!write(q->pipe[1], "", 1);
	}
	return NULL;
}

static void
workq_drain(evutil_socket_t fd, short events, void *arg)
{
	struct workq		*q = arg;
	struct workq_list	 ready = TAILQ_HEAD_INITIALIZER(ready);
	struct workq_item	*item;
	char			 buf[64];

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&q->lock);
	TAILQ_CONCAT(&ready, &q->finished, workq_entry);
	pthread_mutex_unlock(&q->lock);
	while ((item = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, item, workq_entry);
		q->done(item);
	}
}

/*
 * Start nthreads workers; call it after dropping privileges.  idle, if
 * not NULL, runs in a worker that has had nothing to do for idle_secs
 * since its last item (to close a connection it keeps, say).
 */
struct workq *
workq_new(struct event_base *base, int nthreads,
    void (*work)(struct workq_item *), void (*done)(struct workq_item *),
    void (*idle)(void), int idle_secs)
{
	struct workq	*q;
	struct event	*ev;
	pthread_t	 tid;
	int		 i;

	q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	TAILQ_INIT(&q->pending);
	TAILQ_INIT(&q->finished);
	q->work = work;
	q->done = done;
	q->idle = idle;
	q->idle_secs = idle_secs;
	if (pipe2(q->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	if ((ev = event_new(base, q->pipe[0], EV_READ | EV_PERSIST,
	    workq_drain, q)) == NULL || event_add(ev, NULL) == -1)
		fatalx("event_new");
	for (i = 0; i < nthreads; i++)
		if ((errno = pthread_create(&tid, NULL, workq_thread, q)) != 0)
			fatal("pthread_create");
	return q;
}

void
workq_push(struct workq *q, struct workq_item *item)
{
	pthread_mutex_lock(&q->lock);
	TAILQ_INSERT_TAIL(&q->pending, item, workq_entry);
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
}
