/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * aliases.c: reading aliases(5) in its text form, as Postfix, Sendmail
 * and OpenSMTPD write it (doc/aliases.md).
 *
 *	name: target, target, ...
 *
 * A line that starts with blanks continues the one before, and so does
 * a line after one that ends in a backslash; a line whose first
 * non-blank is '#' is a comment; a name holding blanks, '#', ':' or '@'
 * is double-quoted.  Names are folded to lower case.  Each target is an
 * address (read by the one address parser, common/addr.c), "/file",
 * "|command" (quoted when it holds commas), ":include:/file",
 * "error:CODE text" or "\user".  The same list, without "name:", is what
 * a ~/.forward or an :include: file holds (alias_list_read).
 *
 * Every error is reported as "FILE:LINE: what is wrong", every bad line
 * of the file, and the whole file is refused: half a table would send
 * mail where its author did not mean it to go.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "aliases.h"
#include "util.h"

#define LOGICAL_MAX	65536	/* one entry, continuation lines included */
#define TARGETS_MAX	10000	/* targets of one entry */
#define ALIASES_MAX	1000000
#define NAME_MAX_LEN	(ADDR_LOCAL_MAX * 2)

/* A reader of logical lines with the number of the line each starts on. */
struct reader {
	FILE		*fp;
	const char	*path;
	FILE		*errs;
	int		 lineno;	/* the last physical line read */
	int		 errors;
	char		*pending;	/* a line read ahead, not yet used */
	char		 phys[LOGICAL_MAX + 1];
	char		 logical[LOGICAL_MAX + 1];
	int		 start;		/* line the logical line began on */
};

static void
complain(struct reader *rd, int line, const char *fmt, const char *arg)
{
	rd->errors++;
	if (rd->errs == NULL)
		return;
	fprintf(rd->errs, "%s:%d: ", rd->path, line);
	fprintf(rd->errs, fmt, arg);
	fputc('\n', rd->errs);
}

/*
 * The next physical line without its line end (and a CR before it);
 * NULL at the end.  Read a byte at a time, not with fgets, so that a NUL
 * byte is seen and refused rather than cutting the line short unseen.
 */
static char *
next_physical(struct reader *rd)
{
	size_t	 n = 0;
	int	 c, nul = 0, toolong = 0;

	if (rd->pending != NULL) {
		char	*p = rd->pending;

		rd->pending = NULL;
		return p;
	}
	while ((c = getc(rd->fp)) != EOF && c != '\n') {
		if (c == '\0')
			nul = 1;
		else if (n < LOGICAL_MAX)
			rd->phys[n++] = c;
		else
			toolong = 1;
	}
	if (c == EOF && n == 0 && !nul && !toolong)
		return NULL;
	rd->lineno++;
	if (n > 0 && rd->phys[n - 1] == '\r')
		n--;
	rd->phys[n] = '\0';
	if (toolong)
		complain(rd, rd->lineno, "line longer than %s bytes", "65536");
	if (nul)
		complain(rd, rd->lineno, "%s", "a NUL byte");
	if (toolong || nul)
		rd->phys[0] = '\0';
	return rd->phys;
}

static int
is_comment_or_blank(const char *p)
{
	p += strspn(p, " \t");
	return *p == '\0' || *p == '#';
}

static int
append(struct reader *rd, const char *s)
{
	size_t	 have = strlen(rd->logical), n = strlen(s);

	if (have + n + 1 > LOGICAL_MAX) {
		complain(rd, rd->start, "entry longer than %s bytes", "65536");
		return -1;
	}
	if (have > 0)
		rd->logical[have++] = ' ';
	memcpy(rd->logical + have, s, n + 1);
	return 0;
}

/*
 * The next logical line into rd->logical (rd->start its first line):
 * 1, or 0 at the end of the file.
 */
static int
next_logical(struct reader *rd)
{
	char	*p;
	size_t	 n;
	int	 more, bad = 0;

	do {
		if ((p = next_physical(rd)) == NULL)
			return 0;
	} while (is_comment_or_blank(p));
	rd->start = rd->lineno;
	rd->logical[0] = '\0';
	for (;;) {
		n = strlen(p);
		more = n > 0 && p[n - 1] == '\\';
		if (more)
			p[n - 1] = '\0';
		if (!bad && append(rd, p) == -1)
			bad = 1;
		/* comments and blank lines end no entry */
		do {
			if ((p = next_physical(rd)) == NULL)
				goto done;
		} while (!more && is_comment_or_blank(p));
		if (!more && p[0] != ' ' && p[0] != '\t') {
			rd->pending = p;	/* the next entry's */
			break;
		}
	}
done:
	if (bad)
		rd->logical[0] = '\0';
	return 1;
}

static char *
trim(char *s)
{
	char	*e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Split the list at commas outside double quotes; *p advances. */
static char *
next_item(char **p)
{
	char	*s = *p, *q;
	int	 quoted = 0;

	if (s == NULL)
		return NULL;
	for (q = s; *q != '\0'; q++) {
		if (*q == '\\' && quoted && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (*q == ',' && !quoted)
			break;
	}
	if (*q == ',') {
		*q = '\0';
		*p = q + 1;
	} else
		*p = NULL;
	return s;
}

/*
 * error:CODE [X.Y.Z] text: CODE a 4xx or 5xx reply code, an enhanced
 * code (RFC 3463) if given of the same class, and some text to say why.
 */
static int
error_valid(const char *text)
{
	const char	*p = text + 4;
	size_t		 n;
	int		 part;

	if ((text[0] != '4' && text[0] != '5') ||
	    !isdigit((unsigned char)text[1]) ||
	    !isdigit((unsigned char)text[2]) || text[3] != ' ')
		return 0;
	p += strspn(p, " \t");
	if (isdigit((unsigned char)p[0]) && p[1] == '.') {
		if (p[0] != text[0])
			return 0;
		p += 2;
		for (part = 0; part < 2; part++) {
			n = strspn(p, "0123456789");
			if (n == 0 || n > 3 || p[n] != (part == 0 ? '.' : ' '))
				return 0;
			p += n + 1;
		}
		p += strspn(p, " \t");
	}
	return *p != '\0';
}

/* One target into t; NULL or why it is bad. */
static const char *
parse_target(char *item, struct alias_target *t)
{
	struct mailaddr	 ma;
	const char	*why;
	char		*v = trim(item);
	size_t		 n = strlen(v);

	t->escaped = 0;
	if (*v == '\0')
		return "an empty target";
	if (str_has_control(v))
		return "a control character in a target";
	/* "|command with, commas" and "/file name": the quotes go */
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"' &&
	    (v[1] == '|' || v[1] == '/' ||
	    strncasecmp(v + 1, ":include:", 9) == 0 ||
	    strncasecmp(v + 1, "error:", 6) == 0)) {
		v[n - 1] = '\0';
		v++;
	}
	if (v[0] == '|') {
		t->kind = ALIAS_COMMAND;
		v = trim(v + 1);
		if (*v == '\0')
			return "an empty command";
	} else if (v[0] == '/') {
		t->kind = ALIAS_FILE;
	} else if (strncasecmp(v, ":include:", 9) == 0) {
		t->kind = ALIAS_INCLUDE;
		v = trim(v + 9);
		if (v[0] != '/')
			return ":include: needs an absolute path";
	} else if (strncasecmp(v, "error:", 6) == 0) {
		t->kind = ALIAS_ERROR;
		v = trim(v + 6);
		if (!error_valid(v))
			return "error: needs a 4xx or 5xx code (and X.Y.Z of "
			    "its class), then text";
	} else {
		t->kind = ALIAS_ADDRESS;
		if (v[0] == '\\') {
			t->escaped = 1;
			v++;
		}
		/* "mbox/x" is a legal local part, but no user is named so */
		if (strchr(v, '/') != NULL && strchr(v, '@') == NULL)
			return "a relative path (a file is /path)";
		if (addr_parse(v, ADDR_ALLOW_NODOMAIN, &ma, &why) == -1)
			return "not an address, /file, |command, :include: "
			    "or error:";
	}
	t->value = xstrdup(v);
	return NULL;
}

void
alias_targets_free(struct alias_target *t, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(t[i].value);
	free(t);
}

/* Every target of a list; -1 (reported) if one is bad. */
static int
parse_targets(struct reader *rd, char *list, struct alias_target **out,
    size_t *count)
{
	struct alias_target	*t = NULL;
	size_t			 n = 0;
	const char		*why;
	char			*item;
	int			 bad = 0;

	if (*trim(list) == '\0')
		list = NULL;		/* nothing: the caller says so */
	while ((item = next_item(&list)) != NULL) {
		if (n == TARGETS_MAX) {
			complain(rd, rd->start, "%s", "too many targets");
			bad = 1;
			break;
		}
		t = xreallocarray(t, n + 1, sizeof(*t));
		if ((why = parse_target(item, &t[n])) != NULL) {
			complain(rd, rd->start, "%s", why);
			bad = 1;
			continue;
		}
		n++;
	}
	if (bad) {
		alias_targets_free(t, n);
		return -1;
	}
	*out = t;
	*count = n;
	return 0;
}

/* "name:" or "\"quoted name\":" at the start of the line. */
static char *
parse_name(struct reader *rd, char **rest)
{
	char	*p = rd->logical, *name, *end;

	if (*p == '"') {
		name = p + 1;
		if ((end = strchr(name, '"')) == NULL) {
			complain(rd, rd->start, "%s",
			    "unterminated quoted name");
			return NULL;
		}
		*end++ = '\0';
		end += strspn(end, " \t");
		if (*end != ':') {
			complain(rd, rd->start, "%s", "expected ':' after the "
			    "name");
			return NULL;
		}
	} else {
		name = p;
		end = name + strcspn(name, ":");
		if (*end != ':') {
			complain(rd, rd->start, "%s", "expected \"name: "
			    "target, ...\"");
			return NULL;
		}
		*end = '\0';
		name = trim(name);
		if (strpbrk(name, " \t#@\"") != NULL) {
			complain(rd, rd->start, "%s", "a name with blanks, "
			    "'#', '@' or '\"' must be quoted");
			return NULL;
		}
	}
	*rest = end + 1;
	if (*name == '\0' || strlen(name) > NAME_MAX_LEN ||
	    str_has_control(name)) {
		complain(rd, rd->start, "%s", "bad alias name");
		return NULL;
	}
	for (p = name; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	return name;
}

static int
alias_cmp(const void *a, const void *b)
{
	return strcmp(((const struct alias *)a)->name,
	    ((const struct alias *)b)->name);
}

void
alias_table_free(struct alias_table *at)
{
	size_t	 i;

	for (i = 0; i < at->n; i++) {
		free(at->v[i].name);
		alias_targets_free(at->v[i].targets, at->v[i].ntargets);
	}
	free(at->v);
	free(at->path);
	at->v = NULL;
	at->n = 0;
	at->path = NULL;
}

static void
check_duplicates(struct reader *rd, struct alias_table *at)
{
	char	 first[32];
	size_t	 i;

	for (i = 1; i < at->n; i++) {
		if (strcmp(at->v[i].name, at->v[i - 1].name) != 0)
			continue;
		snprintf(first, sizeof(first), "%d", at->v[i - 1].line);
		rd->errors++;
		if (rd->errs != NULL)
			fprintf(rd->errs, "%s:%d: alias %s given again (first "
			    "at line %s)\n", rd->path, at->v[i].line,
			    at->v[i].name, first);
	}
}

/* By name, then by line, so that a duplicate follows its first. */
static int
name_line_cmp(const void *a, const void *b)
{
	const struct alias	*x = a, *y = b;
	int			 c = strcmp(x->name, y->name);

	return c != 0 ? c : x->line - y->line;
}

/*
 * Read the aliases file path into at.  -1 if it cannot be read (errno
 * set; ENOENT reported to nobody: no file is no aliases, the caller's
 * choice) or holds any error, each reported to errs (if not NULL).
 */
int
alias_table_load(struct alias_table *at, const char *path, FILE *errs)
{
	struct reader	*rd;
	struct alias	*a;
	char		*name, *rest;
	int		 saved;

	memset(at, 0, sizeof(*at));
	rd = xcalloc(1, sizeof(*rd));
	rd->path = path;
	rd->errs = errs;
	if ((rd->fp = fopen(path, "re")) == NULL) {
		saved = errno;
		if (errno != ENOENT && errs != NULL)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		free(rd);
		errno = saved;
		return -1;
	}
	at->path = xstrdup(path);
	while (next_logical(rd)) {
		if (rd->logical[0] == '\0' ||
		    (name = parse_name(rd, &rest)) == NULL)
			continue;
		if (at->n == ALIASES_MAX) {
			complain(rd, rd->start, "%s", "too many aliases");
			break;
		}
		at->v = xreallocarray(at->v, at->n + 1, sizeof(*at->v));
		a = &at->v[at->n];
		if (parse_targets(rd, rest, &a->targets, &a->ntargets) == -1)
			continue;
		if (a->ntargets == 0) {
			complain(rd, rd->start, "alias %s has no targets",
			    name);
			continue;
		}
		a->name = xstrdup(name);
		a->line = rd->start;
		at->n++;
	}
	if (ferror(rd->fp)) {
		if (errs != NULL)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		rd->errors++;
	}
	fclose(rd->fp);
	if (at->n > 0)
		qsort(at->v, at->n, sizeof(*at->v), name_line_cmp);
	check_duplicates(rd, at);
	saved = rd->errors;
	free(rd);
	if (saved > 0) {
		alias_table_free(at);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

const struct alias *
alias_find(const struct alias_table *at, const char *key)
{
	struct alias	 k;
	char		 folded[NAME_MAX_LEN + 1], *p;

	if (at->n == 0 || strlcpy(folded, key, sizeof(folded)) >=
	    sizeof(folded))
		return NULL;
	for (p = folded; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	k.name = folded;
	return bsearch(&k, at->v, at->n, sizeof(k), alias_cmp);
}

/*
 * The targets of a ~/.forward or :include: file, every logical line a
 * list; -1 if any is bad (each reported to errs, if not NULL).
 */
int
alias_list_read(FILE *fp, const char *path, struct alias_target **out,
    size_t *count, FILE *errs)
{
	struct reader		*rd;
	struct alias_target	*t = NULL, *more;
	size_t			 n = 0, k;
	int			 errors;

	rd = xcalloc(1, sizeof(*rd));
	rd->fp = fp;
	rd->path = path;
	rd->errs = errs;
	while (next_logical(rd)) {
		if (rd->logical[0] == '\0' ||
		    parse_targets(rd, rd->logical, &more, &k) == -1 || k == 0)
			continue;
		if (n + k > TARGETS_MAX) {
			complain(rd, rd->start, "%s", "too many targets");
			alias_targets_free(more, k);
			break;
		}
		t = xreallocarray(t, n + k + 1, sizeof(*t));
		memcpy(t + n, more, k * sizeof(*t));
		n += k;
		free(more);
	}
	errors = rd->errors;
	free(rd);
	if (errors > 0) {
		alias_targets_free(t, n);
		return -1;
	}
	*out = t;
	*count = n;
	return 0;
}
