/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * privsep.h: dropping root.  A daemon started as root looks up its user
 * first (it needs the uid to hand over its files), does its root-only
 * work, then calls privsep_drop().  Started by anyone else it runs on as
 * that user, through the same calls.
 */
#ifndef FERRY_PRIVSEP_H
#define FERRY_PRIVSEP_H

#include <sys/types.h>

struct privsep {
	int	 as_root;	/* started as root: drop to uid/gid */
	uid_t	 uid;
	gid_t	 gid;
};

int	 privsep_init(struct privsep *, const char *);
int	 privsep_chown(const struct privsep *, const char *);
void	 privsep_drop(const struct privsep *, const char *, int);

#endif
