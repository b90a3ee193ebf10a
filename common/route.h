/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * route.h: how mail for a domain leaves (routes_file, default_route).
 */
#ifndef FERRY_ROUTE_H
#define FERRY_ROUTE_H

#include <limits.h>

enum route_kind {
	ROUTE_SMARTHOST,	/* smtp:[host]:port, no MX lookup */
	ROUTE_HOST_MX,		/* smtp:host:port, the host's MX records */
	ROUTE_MX,		/* mx: the recipient domain's MX records */
	ROUTE_MAILDIR		/* maildir:/path/%u/Maildir */
};

struct route {
	enum route_kind	 kind;
	char		 host[256];
	int		 port;
	char		 path[PATH_MAX];
};

int	 route_parse(const char *, struct route *, const char **);

#endif
