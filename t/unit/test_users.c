/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_users.c: the one reader of smtpd_users_file lines, shared by
 * smtpd and ferryctl passwd.
 */
#include <string.h>

#include "tap.h"
#include "users.h"

/* want_name NULL: no entry (want_ret says 0 or -1). */
static int
reads(const char *line, int want_ret, const char *want_name,
    const char *want_hash)
{
	char		 buf[512], *name, *hash;
	const char	*why;
	int		 r;

	strlcpy(buf, line, sizeof(buf));
	if ((r = users_line_parse(buf, &name, &hash, &why)) != want_ret)
		return 0;
	if (r != 1)
		return 1;
	return strcmp(name, want_name) == 0 && strcmp(hash, want_hash) == 0;
}

int
main(void)
{
	char	 name[] = "Bob.SMITH";

	ok(reads("bob:$y$h\n", 1, "bob", "$y$h"), "plain line");
	ok(reads("Bob:$y$h", 1, "Bob", "$y$h"), "case kept as read");
	ok(reads("  carol :  $y$h  \n", 1, "carol", "$y$h"),
	    "blanks around the line and the fields");
	ok(reads("\tdave\t:\t$y$h\t\n", 1, "dave", "$y$h"), "tabs");
	ok(reads("a:b:c", 1, "a", "b:c"), "the first ':' splits");
	ok(reads("", 0, NULL, NULL), "empty line");
	ok(reads("   \n", 0, NULL, NULL), "blank line");
	ok(reads("# bob:$y$h", 0, NULL, NULL), "comment");
	ok(reads("  # bob:$y$h", 0, NULL, NULL), "indented comment");
	ok(reads("bob", -1, NULL, NULL), "no ':'");
	ok(reads(":$y$h", -1, NULL, NULL), "no name");
	ok(reads("  :$y$h", -1, NULL, NULL), "blank name");
	ok(reads("bob:", -1, NULL, NULL), "no hash");
	ok(reads("bob:  ", -1, NULL, NULL), "blank hash");
	ok(reads("b ob:$y$h", -1, NULL, NULL), "blank inside the name");
	ok(reads("b\x01ob:$y$h", -1, NULL, NULL), "control in the name");
	ok(reads("bob:$y$h extra", -1, NULL, NULL), "blank inside the hash");
	ok(users_name_valid("bob") && !users_name_valid("") &&
	    !users_name_valid("#bob") && !users_name_valid("a:b"),
	    "users_name_valid");
	users_name_fold(name);
	ok(strcmp(name, "bob.smith") == 0, "users_name_fold");
	return tap_done();
}
