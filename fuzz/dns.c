/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * dns.c: fuzz reading DNS answers (relayd/dns.c) as a recipient domain's
 * server may send them: the MX records, then the A and AAAA records.
 */
#include <arpa/nameser.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../relayd/dns.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_mx		 mx[DNS_MAX_MX];
	struct relay_addr	 out[DNS_MAX_ADDRS];
	unsigned char		*ans;
	int			 n;

	if (size > 65536)
		return 0;
	/* A copy of its own size, so ASan sees a read past the end. */
	if ((ans = malloc(size + 1)) == NULL)
		return 0;
	memcpy(ans, data, size);
	n = dns_parse_mx(ans, size, mx);
	if (n > DNS_MAX_MX)
		abort();
	n = dns_parse_addresses(ans, size, ns_t_a, "mx.example", 25, out, 0);
	n = dns_parse_addresses(ans, size, ns_t_aaaa, "mx.example", 25, out,
	    n);
	if (n > DNS_MAX_ADDRS)
		abort();
	free(ans);
	return 0;
}
