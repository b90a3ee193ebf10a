/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * sched.h: queued's in-memory schedule of committed messages: which
 * recipients are due, who is delivering them, retry back-off, expiry.
 * It changes state in memory only; queued.c writes envelopes.
 */
#ifndef FERRY_SCHED_H
#define FERRY_SCHED_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "result.h"

struct result_info {
	const char	*event;		/* delivered, deferred or failed */
	const char	*class;		/* class= in the log */
	const char	*status;	/* RFC 3463, if the reply has none */
};

struct qmsg {
	RB_ENTRY(qmsg)		 by_id;
	TAILQ_ENTRY(qmsg)	 by_arrival;
	struct envelope		 env;
	void			*owner;		/* who is delivering it */
	unsigned char		*handed;	/* per recipient: with owner */
};

void		 sched_init(const struct config *);
struct qmsg	*sched_add(struct envelope *);
void		 sched_remove(struct qmsg *);
struct qmsg	*sched_find(const char *);
struct qmsg	*sched_first(void);
struct qmsg	*sched_next(struct qmsg *);
struct qmsg	*sched_first_due(time_t);
struct qmsg	*sched_take_due(void *, enum delivery_channel, int, time_t);
time_t		 sched_next_retry(time_t);
void		 sched_release(void *);
int		 sched_expire(struct qmsg *, time_t);
const struct result_info *sched_result_info(uint32_t);
void		 sched_result(struct qmsg *, size_t, enum delivery_result,
		    const char *, uint32_t, time_t);
void		 sched_to_web(struct qmsg *, size_t);
void		 sched_flush(void);
size_t		 sched_count(void);

#endif
