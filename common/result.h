/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * result.h: what a delivery agent reports for one recipient (REPORT in
 * doc/ipc.md), shared by queued and the agents.
 */
#ifndef FERRY_RESULT_H
#define FERRY_RESULT_H

enum delivery_result {
	RESULT_DELIVERED = 0,
	RESULT_TEMP = 1,		/* 4xx: deferred */
	RESULT_PERM = 2,		/* 5xx: failed */
	RESULT_UNREACHABLE = 3,		/* no server answered: deferred */
	RESULT_RELAY_REFUSED = 4	/* the server will not relay: failed */
};

/* Which agents a recipient goes to: FETCH {channel}. */
enum delivery_channel {
	CHANNEL_SMTP = 0,		/* relayd */
	CHANNEL_WEB = 1,		/* webrelayd: WebSmtp */
	CHANNEL_LOCAL = 2		/* locald: mydestination's users */
};
#define CHANNEL_LAST	CHANNEL_LOCAL

#endif
