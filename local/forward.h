/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * forward.h: ~/.forward and :include: files (forward.c).
 */
#ifndef FERRY_FORWARD_H
#define FERRY_FORWARD_H

#include <sys/types.h>

struct alias_target;
struct delivery_status;

int	 forward_read(const char *, uid_t, struct alias_target **, size_t *,
	    struct delivery_status *);

#endif
