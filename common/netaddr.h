/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * netaddr.h: IP addresses for policy: listener specifications
 * ("127.0.0.1:25", "[::1]:587"), networks ("10.0.0.0/8", "[::1]/128")
 * and matching a client's address against a list of networks.
 */
#ifndef FERRY_NETADDR_H
#define FERRY_NETADDR_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

#define NETADDR_STRLEN	48	/* an IPv6 address in text, with NUL */

struct netaddr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 bytes[16];	/* 4 used for AF_INET */
};

struct netmask {
	struct netaddr	 net;
	int		 bits;
};

int	 netaddr_from_sockaddr(struct netaddr *, const struct sockaddr *);
void	 netaddr_format(const struct netaddr *, char *, size_t);
int	 netaddr_is_loopback(const struct netaddr *);
int	 netaddr_cmp(const struct netaddr *, const struct netaddr *);
int	 listen_parse(const char *, struct sockaddr_storage *, socklen_t *);
int	 hostport_parse(const char *, char *, size_t, int, int *);
int	 netmask_parse(const char *, struct netmask *);
int	 netmask_match(const struct netmask *, const struct netaddr *);
int	 netlist_match(const char *, const struct netaddr *);
int	 word_next(const char **, char *, size_t);
int	 word_in_list(const char *, const char *);

#endif
