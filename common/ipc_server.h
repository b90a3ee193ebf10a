/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ipc_server.h: Ferry's IPC on libevent: the serving side, and
 * connections a daemon opens to another without blocking.
 *
 * A listener accepts connections from the uids its policy allows
 * (SO_PEERCRED), answers the HELLO that must open every connection, then
 * hands each frame to the daemon's handler.  Replies are queued per
 * connection and written when the socket is writable, so a slow or
 * malicious peer never blocks the daemon; on a public socket a peer that
 * does not read its replies is not read from either, and one uid may hold
 * only so many connections.  A malformed frame closes that one
 * connection, never the daemon.  Out of descriptors, a listener pauses
 * for a second instead of spinning on its backlog.
 */
#ifndef FERRY_IPC_SERVER_H
#define FERRY_IPC_SERVER_H

#include <sys/types.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "ipc.h"

struct ipc_conn;
struct ipc_listener;

struct ipc_service {
	const char	*name;		/* ours, sent in HELLO */
	int		(*allow_uid)(uid_t);
	/* Handle a frame; the handler owns f->fd.  May close the conn. */
	void		(*frame)(struct ipc_conn *, struct ipc_frame *);
	void		(*closed)(struct ipc_conn *);
	/*
	 * For a socket every local user may reach: connections one uid may
	 * hold (root and our own uid aside), and the replies one connection
	 * may have waiting before we stop reading from it.  0: no limit.
	 */
	unsigned	 max_per_uid;
	size_t		 max_output;
};

struct ipc_out {
	TAILQ_ENTRY(ipc_out)	 entry;
	int			 fd;	/* passed with the frame, then closed */
	size_t			 len;
	unsigned char		 buf[];
};

struct ipc_conn {
	int				 sock;
	uid_t				 uid;
	char				 peer[64];	/* name from HELLO */
	int				 hello;		/* HELLO seen */
	int				 client;	/* we opened it */
	int				 closing;
	int				 dispatching;
	int				 stalled;	/* not read: output full */
	size_t				 outlen;	/* bytes in out */
	struct ipc_listener		*listener;	/* accepted on, or NULL */
	const struct ipc_service	*svc;
	struct event			*ev_read;
	struct event			*ev_write;
	TAILQ_HEAD(, ipc_out)		 out;
	void				*data;		/* the daemon's */
};

int	 ipc_server_listen(struct event_base *, int, const struct ipc_service *);
struct ipc_conn *ipc_conn_connect(struct event_base *, const char *,
	    const struct ipc_service *, void *);
void	 ipc_conn_send(struct ipc_conn *, struct ipc_frame *, int);
void	 ipc_conn_reply_error(struct ipc_conn *, uint32_t, int, const char *);
void	 ipc_conn_reply_ok(struct ipc_conn *, uint32_t);
void	 ipc_conn_close(struct ipc_conn *, const char *);

#endif
