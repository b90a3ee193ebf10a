/*
 * dns.h: where a destination's SMTP servers are (RFC 5321 section 5).
 */
#ifndef FERRY_DNS_H
#define FERRY_DNS_H

#include <sys/socket.h>

#include "route.h"

#define DNS_MAX_ADDRS	16

struct relay_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 host[256];	/* for TLS names */
	char			 peer[300];	/* host[address]:port */
};

int	 dns_destination(const struct route *, const char *, int,
	    struct relay_addr *, int *, char *, size_t);

#endif
