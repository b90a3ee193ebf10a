/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_dns.c: reading DNS answers (relayd/dns.c) of any size up to what
 * TCP carries, and never past the length given.
 */
#include <arpa/nameser.h>

#include <stdio.h>
#include <string.h>

#include "../../relayd/dns.h"
#include "tap.h"

static unsigned char	 ans[65536];

static size_t
put_name(unsigned char *p, const char *name)
{
	const char	*dot;
	size_t		 n = 0, k;

	for (; *name != '\0'; name = *dot ? dot + 1 : dot) {
		dot = strchrnul(name, '.');
		k = dot - name;
		p[n++] = k;
		memcpy(p + n, name, k);
		n += k;
	}
	p[n++] = 0;
	return n;
}

/* An answer to "MX example.test" with count MX records, long names. */
static size_t
mx_answer(int count)
{
	char	 host[100];
	size_t	 n = 12, rd;
	int	 i;

	memset(ans, 0, 12);
	ans[2] = 0x84;		/* QR AA */
	ans[5] = 1;		/* one question */
	ans[6] = count >> 8;
	ans[7] = count & 0xff;
	n += put_name(ans + n, "example.test");
	memcpy(ans + n, "\0\x0f\0\x01", 4);
	n += 4;
	for (i = 0; i < count; i++) {
		memcpy(ans + n, "\xc0\x0c\0\x0f\0\x01\0\0\0\x3c", 10);
		n += 12;
		rd = n;
		ans[n++] = 0;
		ans[n++] = 100 - i;	/* the last is the most preferred */
		snprintf(host, sizeof(host), "mx%02d-with-a-rather-long-name-to-"
		    "fill-the-answer.example.test", i);
		n += put_name(ans + n, host);
		ans[rd - 2] = (n - rd) >> 8;
		ans[rd - 1] = (n - rd) & 0xff;
	}
	return n;
}

int
main(void)
{
	struct dns_mx	 mx[DNS_MAX_MX];
	size_t		 len;
	int		 n;

	len = mx_answer(2);
	n = dns_parse_mx(ans, len, mx);
	ok(n == 2 && mx[0].pref == 99 && strncmp(mx[0].host, "mx01-", 5) == 0,
	    "two MX, sorted by preference");
	len = mx_answer(60);
	ok(len > 4096, "an answer of %zu bytes, as TCP brings it", len);
	n = dns_parse_mx(ans, len, mx);
	ok(n == DNS_MAX_MX && mx[0].pref == 91 && mx[9].pref == 100,
	    "the first %d MX of a long answer, sorted", DNS_MAX_MX);
	ok(dns_parse_mx(ans, 2048, mx) == -1,
	    "an answer cut at 2048 bytes does not parse (counts say more)");
	ok(dns_parse_mx(ans, 11, mx) == -1, "shorter than a header");
	return tap_done();
}
