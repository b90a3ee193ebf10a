/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * header.h: the loop evidence in a message's header (header.c).
 */
#ifndef FERRY_HEADER_H
#define FERRY_HEADER_H

#define HOP_LIMIT			50	/* Received fields, at most */
#define HEADER_DELIVERED_TO_MAX		64

struct header_info {
	unsigned int	 received;
	char		*delivered_to[HEADER_DELIVERED_TO_MAX];
	size_t		 ndelivered_to;
};

int	 header_scan(int, struct header_info *);
int	 header_delivered_to(const struct header_info *, const char *);
void	 header_free(struct header_info *);

#endif
