/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * users.c: the one reader of a smtpd_users_file line, for smtpd (its
 * users table) and ferry-control (passwd rewrites the file).
 *
 * A line is "name:crypt-hash".  Blanks around the line and around each
 * field do not count; a blank line or one starting with '#' is no entry.
 * A name is 1 to USER_NAME_MAX bytes with no ':', blank or control
 * character, and names are compared without regard to ASCII case
 * (strcasecmp): "Bob" and "bob" are one user.  passwd writes names in
 * lower case.
 */
#include <ctype.h>
#include <string.h>

#include "users.h"
#include "util.h"

/* Can name be a user of the file? */
int
users_name_valid(const char *name)
{
	const unsigned char	*p;
	size_t			 len = strlen(name);

	if (len == 0 || len > USER_NAME_MAX || name[0] == '#')
		return 0;
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p == ':' || isspace(*p) || iscntrl(*p))
			return 0;
	return 1;
}

/* The form passwd writes: ASCII lower case. */
void
users_name_fold(char *name)
{
	for (; *name != '\0'; name++)
		*name = tolower((unsigned char)*name);
}

/*
 * Split line in place.  Returns 1 with *name and *hash pointing into it,
 * 0 for a blank or comment line, -1 with *why for anything else.
 */
int
users_line_parse(char *line, char **name, char **hash, const char **why)
{
	char	*colon;

	line = str_trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	if ((colon = strchr(line, ':')) == NULL) {
		*why = "expected name:hash";
		return -1;
	}
	*colon = '\0';
	*name = str_trim(line);
	*hash = str_trim(colon + 1);
	if (!users_name_valid(*name)) {
		*why = "bad user name (no blank, ':' or control character)";
		return -1;
	}
	if (**hash == '\0' || strpbrk(*hash, " \t") != NULL) {
		*why = "expected name:hash";
		return -1;
	}
	return 1;
}
