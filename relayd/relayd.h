/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * relayd.h: what relayd's master and its delivery processes share.
 */
#ifndef FERRY_RELAYD_H
#define FERRY_RELAYD_H

#include <sys/types.h>

#include <limits.h>
#include <stdint.h>

#include "config.h"
#include "credentials.h"
#include "result.h"
#include "route.h"


struct relay_rcpt {
	uint32_t	 index;		/* in the queued envelope */
	char		*addr;
	int		 result;	/* enum delivery_result, or -1: not yet */
	char		 reply[512];
};

/* One message for one destination, handed to a delivery process. */
struct relay_job {
	char		 id[32];
	char		 route[PATH_MAX];	/* as in the routes file */
	char		 domain[256];		/* recipient domain */
	char		*sender;
	int		 fd;			/* the message, read-only */
	off_t		 size;
	size_t		 nrcpt;
	struct relay_rcpt *rcpt;
};

/* routes.c */
int	 routes_load(const char *);
const char *routes_lookup(const struct config *, const char *);
struct privsep;
void	 routes_foreach(void (*)(const char *, const char *,
	    const struct privsep *), const struct privsep *);

/* job.c: jobs over IPC between the master and a delivery process */
int	 job_send(int, const struct relay_job *);
int	 job_recv(int, struct relay_job *);
void	 job_free(struct relay_job *);

/* worker.c */
void	 worker_main(int, const struct config *, const struct credentials *)
	    __attribute__((__noreturn__));

/* token.c: starting the token process (relayd-token.c), and asking it */
#define TOKEN_SOCK_FD	3	/* relayd-token.sock in relayd-token */
struct daemon_ctx;
struct privsep;
pid_t	 token_start(const struct daemon_ctx *, const struct privsep *,
	    const struct credentials *);
int	 token_get(const struct config *, const char *, const char *, char *,
	    size_t, char *, size_t);

/* maildir.c */
void	 maildir_deliver(struct relay_job *, const struct route *);

/* smtp_client.c */
struct smtp_session;
struct smtp_session *smtp_open(const struct config *,
	    const struct credential *, const struct route *, const char *,
	    char *, size_t, int *);
void	 smtp_deliver(struct smtp_session *, struct relay_job *);
int	 smtp_usable(const struct smtp_session *);
const char *smtp_peer(const struct smtp_session *);
void	 smtp_close(struct smtp_session *);
const char *relay_result_name(int);

#endif
