/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * bounce.h: delivery status notifications (RFC 3464) to a message's
 * sender, committed as new messages from the null sender.
 */
#ifndef FERRY_BOUNCE_H
#define FERRY_BOUNCE_H

#include "envelope.h"

enum bounce_kind {
	BOUNCE_FAILED,		/* the failed recipients; the message is done */
	BOUNCE_DELAYED		/* a warning about the deferred recipients */
};

int	 bounce_wanted(const struct envelope *, enum bounce_kind);
int	 bounce_commit(const struct envelope *, enum bounce_kind);

#endif
