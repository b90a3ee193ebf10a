/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * refusal.h: is a remote server's 5xx reply a refusal to relay?
 */
#ifndef FERRY_REFUSAL_H
#define FERRY_REFUSAL_H

int	 reply_is_relay_refusal(int, const char *);

#endif
