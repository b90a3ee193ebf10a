/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * addr.h: the one mail address parser every Ferry program uses.
 *
 * addr_parse() accepts an RFC 5321 Mailbox (local-part "@" domain), with
 * or without angle brackets, and nothing else: no source routes, no
 * whitespace, no comments.  A quoted local part may not contain '@' (a
 * relay trick, not a real mailbox).  UTF-8 is allowed for SMTPUTF8.
 */
#ifndef FERRY_ADDR_H
#define FERRY_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_MAX	(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX)

/* Flags for addr_parse(). */
#define ADDR_ALLOW_NULL		0x1	/* "" or "<>": the null sender */
#define ADDR_ALLOW_NODOMAIN	0x2	/* bare local part: a local user */

struct mailaddr {
	char	 local[ADDR_LOCAL_MAX * 2 + 3];	/* quoted form may be longer */
	char	 domain[ADDR_DOMAIN_MAX + 1];	/* lower case; "" if none */
	int	 literal;			/* domain is [address] */
};

int	 addr_parse(const char *, int, struct mailaddr *, const char **);
int	 addr_format(const struct mailaddr *, char *, size_t);
int	 addr_is_null(const struct mailaddr *);
int	 addr_list_next(const char **, char *, size_t);
int	 valid_utf8(const unsigned char *, size_t);

#endif
