/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * netaddr.c: parsing and matching IP addresses and networks.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netaddr.h"

/* An IPv4-mapped IPv6 address is the IPv4 client it stands for. */
int
netaddr_from_sockaddr(struct netaddr *na, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	memset(na, 0, sizeof(*na));
	if (sa->sa_family == AF_INET) {
		na->family = AF_INET;
		memcpy(na->bytes, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		na->family = AF_INET;
		memcpy(na->bytes, &sin6->sin6_addr.s6_addr[12], 4);
		return 0;
	}
	na->family = AF_INET6;
	memcpy(na->bytes, &sin6->sin6_addr, 16);
	return 0;
}

void
netaddr_format(const struct netaddr *na, char *buf, size_t size)
{
	if (inet_ntop(na->family, na->bytes, buf, size) == NULL)
		strlcpy(buf, "?", size);
}

int
netaddr_is_loopback(const struct netaddr *na)
{
	static const unsigned char	 v6_loopback[16] = { [15] = 1 };

	if (na->family == AF_INET)
		return na->bytes[0] == 127;
	return memcmp(na->bytes, v6_loopback, 16) == 0;
}

int
netaddr_cmp(const struct netaddr *a, const struct netaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

/* "1.2.3.4" or "::1" (brackets already removed) into na. */
static int
parse_ip(const char *s, struct netaddr *na)
{
	memset(na, 0, sizeof(*na));
	if (inet_pton(AF_INET, s, na->bytes) == 1) {
		na->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, na->bytes) == 1) {
		na->family = AF_INET6;
		return 0;
	}
	return -1;
}

/*
 * Split "host:port", "[v6]:port" or "[v6]/bits" at the separator sep into
 * the address without brackets and what follows.  A bare IPv6 address
 * with a separator must be bracketed, except for sep '/', where "::1/128"
 * is unambiguous.
 */
static int
split_addr(const char *spec, int sep, char *ip, size_t size,
    const char **rest)
{
	const char	*end;
	size_t		 len;

	if (*spec == '[') {
		if ((end = strchr(spec, ']')) == NULL)
			return -1;
		spec++;
		*rest = end[1] == '\0' ? NULL : end + 1;
		if (*rest != NULL && **rest != sep)
			return -1;
	} else {
		end = sep == ':' ? strrchr(spec, sep) : strchr(spec, sep);
		if (end == NULL)
			end = spec + strlen(spec);
		*rest = *end == '\0' ? NULL : end;
	}
	len = end - spec;
	if (len == 0 || len >= size)
		return -1;
	memcpy(ip, spec, len);
	ip[len] = '\0';
	if (*rest != NULL)
		(*rest)++;
	return 0;
}

static int
parse_number(const char *s, long max, long *out)
{
	char	*end;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	*out = strtol(s, &end, 10);
	return *end != '\0' || *out > max ? -1 : 0;
}

/* A listener: "127.0.0.1:25", "[::1]:587", "0.0.0.0:25", "[::]:25". */
int
listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct netaddr		 na;
	char			 ip[NETADDR_STRLEN];
	const char		*port;
	long			 n;

	if (split_addr(spec, ':', ip, sizeof(ip), &port) == -1 ||
	    parse_number(port, 65535, &n) == -1 || n == 0 ||
	    parse_ip(ip, &na) == -1)
		return -1;
	if (*spec != '[' && na.family == AF_INET6)
		return -1;	/* "::1:25" is ambiguous */
	memset(ss, 0, sizeof(*ss));
	if (na.family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(n);
		memcpy(&sin->sin_addr, na.bytes, 4);
		*len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(n);
		memcpy(&sin6->sin6_addr, na.bytes, 16);
		*len = sizeof(*sin6);
	}
	return 0;
}

/* "10.0.0.0/8", "[2001:db8::]/32", "::1/128", or one address. */
int
netmask_parse(const char *spec, struct netmask *nm)
{
	char		 ip[NETADDR_STRLEN];
	const char	*bits;
	long		 n;
	int		 max;

	if (split_addr(spec, '/', ip, sizeof(ip), &bits) == -1 ||
	    parse_ip(ip, &nm->net) == -1)
		return -1;
	max = nm->net.family == AF_INET ? 32 : 128;
	if (bits == NULL)
		n = max;
	else if (parse_number(bits, max, &n) == -1)
		return -1;
	nm->bits = n;
	return 0;
}

int
netmask_match(const struct netmask *nm, const struct netaddr *na)
{
	int		 whole = nm->bits / 8, rest = nm->bits % 8;
	unsigned char	 mask;

	if (nm->net.family != na->family ||
	    memcmp(nm->net.bytes, na->bytes, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = 0xff << (8 - rest);
	return (nm->net.bytes[whole] & mask) == (na->bytes[whole] & mask);
}

/* Is na in the blank-separated list of networks? (The list is valid.) */
int
netlist_match(const char *list, const struct netaddr *na)
{
	struct netmask	 nm;
	char		 word[NETADDR_STRLEN + 8];

	while (word_next(&list, word, sizeof(word)) == 1)
		if (netmask_parse(word, &nm) == 0 && netmask_match(&nm, na))
			return 1;
	return 0;
}

/*
 * The next blank-separated word of *list into buf.  Returns 1, 0 at the
 * end, or -1 if the word does not fit (it is skipped).
 */
int
word_next(const char **list, char *buf, size_t size)
{
	const char	*p = *list;
	size_t		 len;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0') {
		*list = p;
		return 0;
	}
	for (len = 0; p[len] != '\0' && !isspace((unsigned char)p[len]); len++)
		;
	*list = p + len;
	if (len >= size)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 1;
}

/*
 * "host", "host:port", "[v6]" or "[v6]:port" (a server to connect to):
 * the host without brackets into host, the port (default defport).
 */
int
hostport_parse(const char *spec, char *host, size_t size, int defport,
    int *port)
{
	struct netaddr	 na;
	const char	*rest;
	long		 n = defport;

	if (split_addr(spec, ':', host, size, &rest) == -1)
		return -1;
	if (rest != NULL && parse_number(rest, 65535, &n) == -1)
		return -1;
	if (n == 0)
		return -1;
	if (*spec == '[' ? parse_ip(host, &na) == -1 ||
	    na.family != AF_INET6 : strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(host))
		return -1;
	*port = n;
	return 0;
}

/* Is word in the blank-separated list, ignoring case? */
int
word_in_list(const char *list, const char *word)
{
	char	 w[256];
	int	 r;

	while ((r = word_next(&list, w, sizeof(w))) != 0)
		if (r == 1 && strcasecmp(w, word) == 0)
			return 1;
	return 0;
}
