/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * dns.c: MX, A and AAAA lookups with the system resolver (res_query), in
 * preference order, with the RFC 5321 section 5 fallback to the domain's
 * own address when it has no MX.  Smarthosts named [host] skip MX; a name
 * DNS does not know is tried with getaddrinfo(), which also reads
 * /etc/hosts and takes address literals.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "relayd.h"
#include "util.h"

/*
 * A TCP answer may hold up to 64 KiB, and res_query() returns its whole
 * length even when it cut it to fit a smaller buffer: the buffer holds
 * the largest answer there is, and the length is clamped all the same.
 */
#define ANSWER_MAX	65536

static int
add_addr(struct relay_addr *out, int n, const char *host, int family,
    const void *bin, int port)
{
	struct relay_addr	*a = &out[n];
	char			 ip[INET6_ADDRSTRLEN];
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;

	if (n >= DNS_MAX_ADDRS)
		return n;
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, bin, 4);
		a->len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, bin, 16);
		a->len = sizeof(*sin6);
	}
	inet_ntop(family, bin, ip, sizeof(ip));
	strlcpy(a->host, host, sizeof(a->host));
	snprintf(a->peer, sizeof(a->peer), "%s[%s]:%d", host, ip, port);
	return n + 1;
}

/* res_query() into a buffer that fits any answer; -1 with h_errno. */
static int
query(const char *name, int type, unsigned char *ans)
{
	int	 len;

	len = res_query(name, ns_c_in, type, ans, ANSWER_MAX);
	return len > ANSWER_MAX ? ANSWER_MAX : len;
}

/*
 * The records of type (ns_t_a or ns_t_aaaa) in an answer of len bytes,
 * appended to out as host's at port.  Returns the new count.
 */
int
dns_parse_addresses(const unsigned char *ans, int len, ns_type type,
    const char *host, int port, struct relay_addr *out, int n)
{
	ns_msg	 msg;
	ns_rr	 rr;
	int	 i;

	if (ns_initparse(ans, len, &msg) == -1)
		return n;
	for (i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1 ||
		    ns_rr_type(rr) != type ||
		    ns_rr_rdlen(rr) != (type == ns_t_a ? 4 : 16))
			continue;
		n = add_addr(out, n, host, type == ns_t_a ? AF_INET : AF_INET6,
		    ns_rr_rdata(rr), port);
	}
	return n;
}

/* A and AAAA records of host, appended to out. */
static int
lookup_addresses(const char *host, int port, struct relay_addr *out, int n)
{
	static const ns_type	 types[] = { ns_t_a, ns_t_aaaa };
	unsigned char		*ans = xmalloc(ANSWER_MAX);
	int			 len, t;

	for (t = 0; t < 2; t++)
		if ((len = query(host, types[t], ans)) >= 0)
			n = dns_parse_addresses(ans, len, types[t], host, port,
			    out, n);
	free(ans);
	return n;
}

static int
mx_cmp(const void *a, const void *b)
{
	return ((const struct dns_mx *)a)->pref -
	    ((const struct dns_mx *)b)->pref;
}

/*
 * The MX records in an answer of len bytes, at most DNS_MAX_MX, sorted
 * by preference.  Returns the count, -1 if the answer does not parse.
 */
int
dns_parse_mx(const unsigned char *ans, int len, struct dns_mx *mx)
{
	const unsigned char *rd;
	ns_msg		 msg;
	ns_rr		 rr;
	int		 i, n = 0;

	if (ns_initparse(ans, len, &msg) == -1)
		return -1;
	for (i = 0; i < ns_msg_count(msg, ns_s_an) && n < DNS_MAX_MX; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1 ||
		    ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
			continue;
		rd = ns_rr_rdata(rr);
		mx[n].pref = ns_get16(rd);
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2,
		    mx[n].host, sizeof(mx[n].host)) == -1)
			continue;
		n++;
	}
	qsort(mx, n, sizeof(*mx), mx_cmp);
	return n;
}

/*
 * MX records of domain, sorted by preference.  Returns the count, 0 if
 * the domain exists without MX, -1 with h_errno on failure.
 */
static int
lookup_mx(const char *domain, struct dns_mx *mx)
{
	unsigned char	*ans = xmalloc(ANSWER_MAX);
	int		 len, n;

	if ((len = query(domain, ns_t_mx, ans)) < 0)
		n = h_errno == NO_DATA ? 0 : -1;
	else if ((n = dns_parse_mx(ans, len, mx)) == -1)
		h_errno = NO_RECOVERY;
	free(ans);
	return n;
}

static int
lookup_literal(const char *domain, int port, struct relay_addr *out)
{
	char		 ip[64];
	unsigned char	 bin[16];
	size_t		 len = strlen(domain);

	if (len < 3 || len - 2 >= sizeof(ip))
		return 0;
	memcpy(ip, domain + 1, len - 2);
	ip[len - 2] = '\0';
	if (strncasecmp(ip, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, ip + 5, bin) == 1 ?
		    add_addr(out, 0, ip + 5, AF_INET6, bin, port) : 0;
	return inet_pton(AF_INET, ip, bin) == 1 ?
	    add_addr(out, 0, ip, AF_INET, bin, port) : 0;
}

static int
is_ip_literal(const char *host)
{
	unsigned char	 bin[16];

	return inet_pton(AF_INET, host, bin) == 1 ||
	    inet_pton(AF_INET6, host, bin) == 1;
}

static int
lookup_smarthost(const char *host, int port, struct relay_addr *out)
{
	struct addrinfo	 hints, *res, *ai;
	char		 service[16];
	int		 n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			n = add_addr(out, n, host, AF_INET,
			    &((struct sockaddr_in *)ai->ai_addr)->sin_addr,
			    port);
		else if (ai->ai_family == AF_INET6)
			n = add_addr(out, n, host, AF_INET6,
			    &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
			    port);
	}
	freeaddrinfo(res);
	return n;
}

/*
 * The addresses to try for a route, best first.  Returns how many; with
 * 0, *klass (RESULT_PERM for a domain that does not exist or takes no
 * mail, RESULT_UNREACHABLE otherwise) and why say what went wrong.
 */
int
dns_destination(const struct route *r, const char *domain, int mx_port,
    struct relay_addr *out, int *klass, char *why, size_t whylen)
{
	struct dns_mx	 mx[DNS_MAX_MX];
	const char	*name = r->kind == ROUTE_MX ? domain : r->host;
	int		 port = r->kind == ROUTE_MX ? mx_port : r->port;
	int		 i, n = 0, nmx;

	*klass = RESULT_UNREACHABLE;
	if (r->kind == ROUTE_SMARTHOST) {
		/* An address literal needs no lookup at all. */
		if (!is_ip_literal(name))
			n = lookup_addresses(name, port, out, 0);
		if (n == 0)
			n = lookup_smarthost(name, port, out);
	}
	else if (name[0] == '[')
		n = lookup_literal(name, port, out);
	else if ((nmx = lookup_mx(name, mx)) == -1) {
		if (h_errno == HOST_NOT_FOUND) {
			*klass = RESULT_PERM;
			snprintf(why, whylen, "domain %s not found", name);
			return 0;
		}
		snprintf(why, whylen, "DNS lookup of MX %s failed: %s", name,
		    hstrerror(h_errno));
		return 0;
	} else if (nmx == 1 && mx[0].host[0] == '\0') {
		*klass = RESULT_PERM;
		snprintf(why, whylen, "%s does not accept mail (null MX)", name);
		return 0;
	} else if (nmx == 0)
		n = lookup_addresses(name, port, out, 0);
	else
		for (i = 0; i < nmx; i++)
			n = lookup_addresses(mx[i].host, port, out, n);
	if (n == 0)
		snprintf(why, whylen, "no address found for %s", name);
	return n;
}
