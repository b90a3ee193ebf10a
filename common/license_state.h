/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license_state.h: LICENSE_STATE, licensed's answer about the licence,
 * as licensed writes it and queued and ferry-control read it.
 */
#ifndef FERRY_LICENSE_STATE_H
#define FERRY_LICENSE_STATE_H

#include <stdint.h>

#include "ipc.h"

enum license_state {
	LICENSE_VALID,
	LICENSE_EXPIRED,
	LICENSE_NOT_YET_VALID,
	LICENSE_INVALID,
	LICENSE_MISSING
};

struct license_state_msg {
	uint32_t	 state;
	uint64_t	 days_left;	/* when valid */
	char		 id[64];
	char		 customer[128];
	char		 support_until[16];	/* YYYY-MM-DD, or "" */
	char		 features[128];
	char		 reason[256];	/* why not valid */
	char		 text[IPC_STR_MAX + 1];	/* the licence, when valid */
};

void	 license_state_put(struct ipc_frame *,
	    const struct license_state_msg *);
int	 license_state_get(struct ipc_frame *, struct license_state_msg *);
const char *license_state_name(uint32_t);
int	 license_feature(const char *, const char *);

#endif
