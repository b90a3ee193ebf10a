/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * submit.h: turning a local submission (sendmail's raw input) into a
 * message fit for the queue.
 */
#ifndef FERRY_SUBMIT_H
#define FERRY_SUBMIT_H

#include <sys/types.h>

#include "config.h"
#include "envelope.h"

struct submit_req {
	const struct config	*conf;
	const char		*login;		/* the submitter's login name */
	const char		*fullname;	/* sendmail -F, or "" */
	uid_t			 uid;		/* from SO_PEERCRED: trusted */
	int			 header_rcpts;	/* sendmail -t */
};

int	 queue_add_rcpt(struct envelope *, const char *, const char *,
	    const char **);
int	 queue_set_sender(struct envelope *, const char *, const char *,
	    const char **);
int	 submit_rewrite(const struct submit_req *, struct envelope *, int,
	    int, const char **);

#endif
