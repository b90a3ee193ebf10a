/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * websmtp.h: queued's WebSmtp policy: when a recipient relayd could not
 * deliver goes to webrelayd instead, and the licence that allows it.
 */
#ifndef FERRY_WEBSMTP_H
#define FERRY_WEBSMTP_H

#include "envelope.h"
#include "ipc.h"

enum websmtp_verdict {
	WEBSMTP_NO,		/* the result stands */
	WEBSMTP_YES,		/* the recipient goes to webrelayd */
	WEBSMTP_LATER		/* licensed or webrelayd not there yet: wait */
};

int	 websmtp_licence(struct ipc_frame *);
void	 websmtp_licence_lost(void);
void	 websmtp_agent(int);
enum websmtp_verdict websmtp_ready(const char **);
const char *websmtp_credential(void);
enum websmtp_verdict websmtp_route(const struct envelope *,
	    const struct rcpt *, enum delivery_result);

#endif
