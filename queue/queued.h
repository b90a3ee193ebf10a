/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * queued.h: the parts of queued that share state across its files.
 */
#ifndef FERRY_QUEUED_H
#define FERRY_QUEUED_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "envelope.h"
#include "ipc_server.h"

/* queued.c */
const struct config *queue_conf(void);

/* Who a peer on queued.sock is, by uid: any of these bits. */
#define QUEUE_ROLE_ADMIN	0x1	/* uid 0, queued's own: everything */
#define QUEUE_ROLE_AGENT	0x2	/* relayd, webrelayd: FETCH, REPORT */
#define QUEUE_ROLE_LICENSED	0x4	/* licensed: LICENSE_STATE */
int	 queue_peer_roles(uid_t);

/* dispatch.c: requests from the other daemons and from sendmail */
void	 queue_private_frame(struct ipc_conn *, struct ipc_frame *);
void	 queue_public_frame(struct ipc_conn *, struct ipc_frame *);
void	 queue_smtpd_frame(struct ipc_conn *, struct ipc_frame *);
void	 queue_conn_closed(struct ipc_conn *);
void	 queue_load(struct envelope *, void *);
void	 queue_sweep(time_t);

/* commit.c: replies that wait for the shared directory fsync */
void	 queue_commit_init(struct event_base *);
void	 queue_commit_new(struct ipc_conn *, uint32_t, struct envelope *, int,
	    int);
void	 queue_commit_update(struct ipc_conn *, uint32_t);
void	 queue_commit_forget(struct ipc_conn *);
void	 queue_commit_schedule(struct envelope *);

/* wake.c: WAKE for delivery agents waiting after NO_WORK */
void	 queue_wake_init(struct event_base *);
void	 queue_wake_at(time_t);
void	 queue_wake_sleep(struct ipc_conn *);
void	 queue_wake_forget(struct ipc_conn *);
void	 queue_wake(void);

#endif
