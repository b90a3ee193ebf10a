/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * daemon.h: what every Ferry daemon does the same way at start-up:
 * command line (-c FILE, -f), configuration, log, pidfile, detaching.
 */
#ifndef FERRY_DAEMON_H
#define FERRY_DAEMON_H

#include <sys/types.h>

#include "config.h"

struct event;
struct event_base;
struct pidfh;
struct privsep;

struct daemon_ctx {
	const char	*name;		/* "queued", ... */
	const char	*conf_path;
	int		 foreground;
	struct config	 conf;
	struct pidfh	*pidfh;
};

void	 daemon_setup(struct daemon_ctx *, const char *, int, char **);
int	 daemon_mkdir(const char *, mode_t);
void	 daemon_key_where(const struct daemon_ctx *, const char *, char *,
	    size_t);
void	 daemon_own_dir(const struct daemon_ctx *, const struct privsep *,
	    const char *, const char *, mode_t);
void	 daemon_detach(struct daemon_ctx *);
void	 daemon_accept_pause(struct event *);
void	 daemon_signals(struct event_base *);
int	 daemon_listen(const struct daemon_ctx *, const struct privsep *,
	    const char *, mode_t);
uid_t	 daemon_peer_uid(const struct privsep *, const char *);
int	 daemon_listen_for_smtpd(const struct daemon_ctx *,
	    const struct privsep *, const char *, uid_t *);
int	 daemon_ping_open(const struct daemon_ctx *, const struct privsep *);
void	 daemon_ping_serve(struct event_base *, int, const char *);

#endif
