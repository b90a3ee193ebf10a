/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * qlink.h: a daemon's connection to queued.sock, kept open: HELLO on
 * connect, every frame from queued to one callback, and a reconnect a
 * second after queued goes away (or is not there yet) or its callback
 * finds a frame it cannot use (qlink_reset).
 */
#ifndef FERRY_QLINK_H
#define FERRY_QLINK_H

#include "config.h"
#include "ipc.h"

struct event_base;

struct qlink_ops {
	const char	*name;			/* in HELLO */
	void		(*up)(void);		/* connected */
	void		(*frame)(struct ipc_frame *);	/* may take f->fd */
	void		(*down)(void);		/* lost; reconnecting (or NULL) */
};

void	 qlink_start(struct event_base *, const struct config *,
	    const struct qlink_ops *);
int	 qlink_is_up(void);
int	 qlink_send(struct ipc_frame *);
uint32_t qlink_reqid(void);
void	 qlink_reset(const char *);
void	 qlink_close_in_child(void);

#endif
