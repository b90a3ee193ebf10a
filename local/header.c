/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * header.c: what locald needs from a message's header to stop loops:
 * how many Received fields it has (more than HOP_LIMIT bounces, as
 * Postfix's hopcount_limit) and which addresses its Delivered-To fields
 * name (a recipient already there has been delivered here before: a
 * forwarding loop).  The message is untrusted text: the header is read
 * only up to HEADER_SCAN_MAX bytes, and each Delivered-To value is taken
 * as an address only if the one address parser accepts it.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "header.h"
#include "util.h"

#define HEADER_SCAN_MAX	(1024 * 1024)

/* Does the header line start field name (case aside, then a colon)? */
static int
line_is_field(const char *line, size_t len, const char *name)
{
	size_t	 n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void
add_delivered_to(struct header_info *h, const char *value, size_t len)
{
	struct mailaddr	 ma;
	const char	*why;
	char		 buf[ADDR_MAX + 3], addr[ADDR_MAX + 1];

	while (len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)value[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf) ||
	    h->ndelivered_to == HEADER_DELIVERED_TO_MAX)
		return;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (addr_parse(buf, 0, &ma, &why) == -1 ||
	    addr_format(&ma, addr, sizeof(addr)) == -1)
		return;
	h->delivered_to[h->ndelivered_to++] = xstrdup(addr);
}

/* One complete header line (without its line end). */
static void
scan_line(struct header_info *h, const char *line, size_t len)
{
	if (line_is_field(line, len, "Received"))
		h->received++;
	else if (line_is_field(line, len, "Delivered-To"))
		add_delivered_to(h, line + 13, len - 13);
}

/*
 * Read the header of the message in fd (from offset 0, by pread).
 * Folded continuation lines belong to the field before and are not
 * fields of their own; the scan ends at the blank line.
 */
int
header_scan(int fd, struct header_info *h)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0, start, i;

	memset(h, 0, sizeof(*h));
	buf = xmalloc(HEADER_SCAN_MAX);
	while (len < HEADER_SCAN_MAX &&
	    (n = pread(fd, buf + len, HEADER_SCAN_MAX - len, len)) > 0)
		len += n;
	if (len < HEADER_SCAN_MAX && n == -1) {
		free(buf);
		return -1;
	}
	for (start = 0, i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		n = i - start;
		if (n > 0 && buf[i - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the end of the header */
		scan_line(h, buf + start, n);
		start = i + 1;
	}
	free(buf);
	return 0;
}

/* Has the message been delivered to addr here before? */
int
header_delivered_to(const struct header_info *h, const char *addr)
{
	size_t	 i;

	for (i = 0; i < h->ndelivered_to; i++)
		if (strcasecmp(h->delivered_to[i], addr) == 0)
			return 1;
	return 0;
}

void
header_free(struct header_info *h)
{
	size_t	 i;

	for (i = 0; i < h->ndelivered_to; i++)
		free(h->delivered_to[i]);
	memset(h, 0, sizeof(*h));
}
