/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * dns.h: where a destination's SMTP servers are (RFC 5321 section 5).
 */
#ifndef FERRY_DNS_H
#define FERRY_DNS_H

#include <sys/socket.h>

#include <arpa/nameser.h>

#include "route.h"

#define DNS_MAX_ADDRS	16
#define DNS_MAX_MX	10

struct dns_mx {
	int	 pref;
	char	 host[NS_MAXDNAME];
};

struct relay_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 host[256];	/* for TLS names */
	char			 peer[300];	/* host[address]:port */
};

int	 dns_destination(const struct route *, const char *, int,
	    struct relay_addr *, int *, char *, size_t);
int	 dns_parse_mx(const unsigned char *, int, struct dns_mx *);
int	 dns_parse_addresses(const unsigned char *, int, ns_type, const char *,
	    int, struct relay_addr *, int);

#endif
