/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * envelope.h: a queued message's envelope (sender, recipients and their
 * delivery state) and its text format on disk (doc/queue.md).
 */
#ifndef FERRY_ENVELOPE_H
#define FERRY_ENVELOPE_H

#include <stdio.h>
#include <time.h>

#include "ipc.h"	/* QUEUE_ID_LEN */
#include "result.h"

#define RCPT_STATUS_LEN	10	/* "5.123.456" and a NUL */

enum rcpt_state {
	RCPT_PENDING,		/* not tried yet */
	RCPT_DEFERRED,		/* failed temporarily; retry at next_try */
	RCPT_DELIVERED,
	RCPT_FAILED		/* failed permanently or expired */
};

struct rcpt {
	char		*addr;
	enum rcpt_state	 state;
	unsigned int	 tries;
	time_t		 next_try;
	char		*error;		/* last remote reply or reason; "" */
	char		 status[RCPT_STATUS_LEN];	/* RFC 3463, or "" */
	enum delivery_channel via;	/* who delivers it: relayd, WebSmtp */
};

struct envelope {
	char		 id[QUEUE_ID_LEN + 1];
	time_t		 arrival;
	char		*sender;	/* "" is the null sender */
	long long	 uid;		/* local submitter, or -1 */
	long long	 size;		/* bytes in ID.msg */
	int		 warned;	/* the sender was told of a delay */
	size_t		 nrcpt;
	struct rcpt	*rcpt;
};

void	 envelope_init(struct envelope *, const char *);
void	 envelope_add_rcpt(struct envelope *, const char *);
void	 envelope_set_error(struct rcpt *, const char *);
void	 envelope_set_status(struct rcpt *, const char *, const char *);
int	 envelope_write(const struct envelope *, FILE *);
int	 envelope_read(struct envelope *, FILE *, const char **);
void	 envelope_free(struct envelope *);
int	 envelope_done(const struct envelope *);
const char *rcpt_state_name(enum rcpt_state);
int	 queue_id_valid(const char *);

#endif
