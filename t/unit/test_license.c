/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_license.c: the licence reader on bytes exactly as read() leaves
 * them, with no NUL after them: the text sits at the end of a page whose
 * next page is unmapped, so reading one byte too far crashes the test.
 */
#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#include "license.h"
#include "tap.h"

#define FIELDS	"id: 42\ncustomer: Example\nissued: 2026-01-01\n" \
		"support-until: 2027-01-01\nfeatures: websmtp"

/* len bytes of text, ending where the mapping ends. */
static char *
at_page_end(const char *text, size_t len, size_t *maplen)
{
	size_t	 page = sysconf(_SC_PAGESIZE);
	size_t	 pages = (len + page - 1) / page;
	char	*p;

	*maplen = (pages + 1) * page;
	p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + pages * page, page, PROT_NONE);
	memcpy(p + pages * page - len, text, len);
	return p + pages * page - len;
}

static int
parse(const char *text, size_t len, struct license *l)
{
	size_t	 maplen, sig_at, page = sysconf(_SC_PAGESIZE);
	char	*p;
	int	 r;

	if ((p = at_page_end(text, len, &maplen)) == NULL)
		return -2;
	r = license_parse(p, len, l, &sig_at);
	munmap(p + len - (len + page - 1) / page * page, maplen);
	return r;
}

int
main(void)
{
	struct license	 l;
	static char	 big[LICENSE_MAX];

	ok(parse(FIELDS "\n", strlen(FIELDS) + 1, &l) == 0 &&
	    strcmp(l.customer, "Example") == 0, "complete licence reads");
	ok(parse(FIELDS, strlen(FIELDS), &l) == -1 &&
	    strstr(l.reason, "not a complete line") != NULL,
	    "last line without newline refused, nothing read past it");
	memset(big, 'x', sizeof(big));
	ok(parse(big, sizeof(big), &l) == -1 &&
	    strstr(l.reason, "not a complete line") != NULL,
	    "exactly LICENSE_MAX bytes without newline refused");
	return tap_done();
}
