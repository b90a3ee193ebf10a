/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * aliases.h: the aliases(5) table in its text form, and the lists of
 * targets a ~/.forward or an :include: file holds (doc/aliases.md).
 * locald reads them to expand recipients; newaliases to check them.
 */
#ifndef FERRY_ALIASES_H
#define FERRY_ALIASES_H

#include <stddef.h>
#include <stdio.h>

enum alias_kind {
	ALIAS_ADDRESS,		/* user, or user@domain */
	ALIAS_FILE,		/* /path: appended to */
	ALIAS_COMMAND,		/* |command: run with the message */
	ALIAS_INCLUDE,		/* :include:/path: more targets */
	ALIAS_ERROR		/* error:CODE text: a bounce or deferral */
};

struct alias_target {
	enum alias_kind	 kind;
	char		*value;	/* the address, path, command or "CODE text" */
	int		 escaped;	/* \user: that user's mailbox only */
};

struct alias {
	char			*name;		/* folded to lower case */
	struct alias_target	*targets;
	size_t			 ntargets;
	int			 line;
};

struct alias_table {
	char		*path;		/* the file it was read from */
	struct alias	*v;		/* sorted by name */
	size_t		 n;
};

int	 alias_table_load(struct alias_table *, const char *, FILE *);
const struct alias *alias_find(const struct alias_table *, const char *);
void	 alias_table_free(struct alias_table *);
int	 alias_list_read(FILE *, const char *, struct alias_target **,
	    size_t *, FILE *);
void	 alias_targets_free(struct alias_target *, size_t);

#endif
