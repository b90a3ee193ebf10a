/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * workq.h: blocking work (fdatasync, crypt(3)) done by threads for an
 * event loop.  The loop pushes an item; a worker thread runs work() on
 * it; the loop then runs done() on it, in the loop's own thread.  work()
 * must touch nothing but its item: no logging, no shared state.
 */
#ifndef FERRY_WORKQ_H
#define FERRY_WORKQ_H

#include <sys/queue.h>

struct event_base;
struct workq;

struct workq_item {
	TAILQ_ENTRY(workq_item)	 workq_entry;
};

struct workq	*workq_new(struct event_base *, int,
		    void (*)(struct workq_item *),
		    void (*)(struct workq_item *), void (*)(void), int);
void		 workq_push(struct workq *, struct workq_item *);

#endif
