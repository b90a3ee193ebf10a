/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * agent.h: a delivery agent's link to queued.  The agent FETCHes work
 * for its channel, gets each message as a read-only descriptor with the
 * recipients due, and REPORTs one result per recipient.  When queued
 * goes away the link reconnects; whatever the agent held is handed out
 * again by queued, so the agent just forgets it.
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <stdint.h>

#include "config.h"
#include "ipc.h"
#include "result.h"

struct event_base;

struct agent_rcpt {
	uint32_t	 index;		/* in queued's envelope */
	char		*addr;
};

struct agent_work {
	char		 id[QUEUE_ID_LEN + 1];
	char		*sender;	/* "" is the null sender */
	uint64_t	 size;
	int		 fd;		/* the message, read-only */
	char		*credential;	/* web channel: the licence text */
	size_t		 nrcpt;
	struct agent_rcpt *rcpt;
};

struct agent_ops {
	const char	*name;		/* in HELLO */
	enum delivery_channel channel;
	int		(*has_room)(void);	/* may one more WORK come? */
	void		(*work)(struct agent_work *);	/* it owns it now */
	void		(*lost)(void);	/* queued went away */
};

void	 agent_start(struct event_base *, const struct config *,
	    const struct agent_ops *);
void	 agent_fetch(void);
void	 agent_report(const char *, uint32_t, enum delivery_result,
	    const char *, uint32_t);
void	 agent_work_free(struct agent_work *);

#endif
