/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_addr.c: the one address parser, on what it must accept and on the
 * relay tricks it must refuse.
 */
#include <string.h>

#include "addr.h"
#include "tap.h"

static int
parses(const char *s, int flags, const char *want)
{
	struct mailaddr	 a;
	const char	*why;
	char		 buf[ADDR_MAX + 1];

	if (addr_parse(s, flags, &a, &why) == -1)
		return want == NULL;
	if (want == NULL)
		return 0;
	return addr_format(&a, buf, sizeof(buf)) == 0 && strcmp(buf, want) == 0;
}

static void
test_accepts(void)
{
	ok(parses("user@example.com", 0, "user@example.com"), "plain");
	ok(parses("<user@Example.COM>", 0, "user@example.com"),
	    "angle brackets, domain lower-cased");
	ok(parses("first.last+tag@sub.example.org", 0,
	    "first.last+tag@sub.example.org"), "dots and plus");
	ok(parses("\"john doe\"@example.com", 0, "\"john doe\"@example.com"),
	    "quoted local part");
	ok(parses("user@[192.0.2.1]", 0, "user@[192.0.2.1]"), "IPv4 literal");
	ok(parses("user@[IPv6:2001:db8::1]", 0, "user@[ipv6:2001:db8::1]"),
	    "IPv6 literal");
	ok(parses("j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0,
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example"), "UTF-8 (SMTPUTF8)");
	ok(parses("<>", ADDR_ALLOW_NULL, ""), "null sender when allowed");
	ok(parses("root", ADDR_ALLOW_NODOMAIN, "root"),
	    "bare local part when allowed");
}

static void
test_refuses(void)
{
	ok(parses("<>", 0, NULL), "null address where not allowed");
	ok(parses("root", 0, NULL), "no domain where not allowed");
	ok(parses("@relay.example:user@victim.example", 0, NULL),
	    "source route");
	ok(parses("<@a,@b:user@c>", 0, NULL), "source route in brackets");
	ok(parses("\"user@victim.example\"@example.com", 0, NULL),
	    "quoted local part holding @");
	ok(parses("a@b@c", 0, NULL), "two @");
	ok(parses("user@exa mple.com", 0, NULL), "blank in domain");
	ok(parses("user@-example.com", 0, NULL), "label starting with -");
	ok(parses("user@example..com", 0, NULL), "empty label");
	ok(parses(".user@example.com", 0, NULL), "leading dot");
	ok(parses("us..er@example.com", 0, NULL), "double dot");
	ok(parses("<user@example.com", 0, NULL), "unbalanced bracket");
	ok(parses("user@[300.1.1.1]", 0, NULL), "bad IPv4 literal");
	ok(parses("us\rer@example.com", 0, NULL), "CR in local part");
	ok(parses("user@example.com\n", 0, NULL), "trailing LF");
	ok(parses("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa@example.com", 0, NULL), "local part over 64 octets");
}

static int
list_is(const char *header, const char *const *want)
{
	const char	*p = header;
	char		 buf[ADDR_MAX + 3];
	int		 r, i = 0;

	while ((r = addr_list_next(&p, buf, sizeof(buf))) == 1)
		if (want[i] == NULL || strcmp(buf, want[i++]) != 0)
			return 0;
	return r == 0 && want[i] == NULL;
}

static void
test_header_lists(void)
{
	const char *const two[] = { "j@example.com", "k@example.com", NULL };
	const char *const group[] = { "a@b", "c@d", "e@f", NULL };
	const char *const none[] = { NULL };
	const char *const quoted[] = { "\"a b\"@c", "z@w", NULL };

	ok(list_is(" \"Doe, J\" <j@example.com>, k@example.com (K)", two),
	    "display names and comments");
	ok(list_is("a@b, team: c@d, e@f;", group), "group");
	ok(list_is("undisclosed-recipients:;", none), "empty group");
	ok(list_is("\"a b\"@c, \"x\\\"y\" <z@w>", quoted),
	    "quoted local part and escaped quote in a display name");
}

int
main(void)
{
	test_accepts();
	test_refuses();
	test_header_lists();
	return tap_done();
}
