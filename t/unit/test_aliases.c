/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_aliases.c: the aliases(5) reader (common/aliases.c): every kind
 * of target, continuation lines both ways, quoted names, comments,
 * folding, and each refusal reported as FILE:LINE with nothing loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "tap.h"

static char	 path[] = "/tmp/ferry-test-aliases-XXXXXX";
static char	 errors[4096];

/* A stream into errors, emptied. */
static FILE *
errors_capture(void)
{
	memset(errors, 0, sizeof(errors));
	return fmemopen(errors, sizeof(errors) - 1, "w");
}

/* Load len bytes as an aliases file; errors get what was reported. */
static int
load_bytes(const char *text, size_t len, struct alias_table *at)
{
	FILE	*fp, *errs;
	int	 r;

	if ((fp = fopen(path, "w")) == NULL)
		return -2;
	fwrite(text, 1, len, fp);
	fclose(fp);
	errs = errors_capture();
	r = alias_table_load(at, path, errs);
	fclose(errs);
	return r;
}

static int
load(const char *text, struct alias_table *at)
{
	return load_bytes(text, strlen(text), at);
}

static int
reported(int line, const char *what)
{
	char	 want[512];

	snprintf(want, sizeof(want), "%s:%d: %s", path, line, what);
	return strstr(errors, want) != NULL;
}

static const struct alias_target *
target(const struct alias_table *at, const char *name, size_t i)
{
	const struct alias	*a = alias_find(at, name);

	return a != NULL && i < a->ntargets ? &a->targets[i] : NULL;
}

static int
is(const struct alias_target *t, enum alias_kind kind, const char *value)
{
	return t != NULL && t->kind == kind && strcmp(t->value, value) == 0;
}

static void
test_good(void)
{
	struct alias_table	 at;
	const struct alias	*a;
	int			 r;

	r = load("# the admins\n"
	    "\n"
	    "Postmaster: root\n"
	    "root: alice, bob@example.org,\n"
	    "   \\root,\n"
	    "\t/var/log/root.mail\n"
	    "# a comment inside does not end the entry\n"
	    "  , \"|/usr/bin/procmail -a x, y\"\n"
	    "list: :include:/etc/mail/list, |/bin/cat\n"
	    "gone: error:550 5.1.1 this person has left\n"
	    "\"with blank\": carol\n"
	    "split: dave, \\\n"
	    "erin\n", &at);
	ok(r == 0, "a good file loads (%s)", errors);
	ok(at.n == 6, "six aliases (%zu)", at.n);
	ok(alias_find(&at, "postmaster") != NULL &&
	    alias_find(&at, "POSTMASTER") != NULL, "names fold to lower case");
	a = alias_find(&at, "root");
	ok(a != NULL && a->ntargets == 5 && a->line == 4,
	    "continuation lines join (%zu targets)", a ? a->ntargets : 0);
	ok(is(target(&at, "root", 0), ALIAS_ADDRESS, "alice") &&
	    is(target(&at, "root", 1), ALIAS_ADDRESS, "bob@example.org"),
	    "addresses");
	ok(is(target(&at, "root", 2), ALIAS_ADDRESS, "root") &&
	    target(&at, "root", 2)->escaped, "\\root is escaped");
	ok(is(target(&at, "root", 3), ALIAS_FILE, "/var/log/root.mail"),
	    "a file");
	ok(is(target(&at, "root", 4), ALIAS_COMMAND,
	    "/usr/bin/procmail -a x, y"), "a quoted command keeps its comma");
	ok(is(target(&at, "list", 0), ALIAS_INCLUDE, "/etc/mail/list") &&
	    is(target(&at, "list", 1), ALIAS_COMMAND, "/bin/cat"),
	    ":include: and an unquoted command");
	ok(is(target(&at, "gone", 0), ALIAS_ERROR,
	    "550 5.1.1 this person has left"), "error:");
	ok(is(target(&at, "with blank", 0), ALIAS_ADDRESS, "carol"),
	    "a quoted name");
	ok(is(target(&at, "split", 1), ALIAS_ADDRESS, "erin"),
	    "a backslash continues the line");
	ok(alias_find(&at, "nobody") == NULL, "an unknown name is not found");
	alias_table_free(&at);
}

static void
test_refused(void)
{
	static const struct {
		const char	*text;
		int		 line;
		const char	*what;
	} cases[] = {
		{ "a: b\nno colon here\n", 2, "expected \"name: target" },
		{ "a: b\nc:\n", 2, "alias c has no targets" },
		{ "a: b\na: c\n", 2, "alias a given again (first at line 1)" },
		{ "x: :include:relative\n", 1, ":include: needs an absolute" },
		{ "x: error:250 fine\n", 1, "error: needs a 4xx or 5xx" },
		{ "x: bad address@\n", 1, "not an address" },
		{ "my name: x\n", 1, "a name with blanks" },
		{ "\"open: x\n", 1, "unterminated quoted name" },
		{ "x: |\n", 1, "an empty command" },
		{ "ok: y\nx: a,,b\n", 2, "an empty target" },
		{ "x: error:550\n", 1, "error: needs a 4xx or 5xx" },
		{ "x: error:550 4.1.1 wrong class\n", 1,
		    "error: needs a 4xx or 5xx" },
		{ "x: error:450 4.1 short\n", 1, "error: needs a 4xx or 5xx" },
		{ "x: error:600 no\n", 1, "error: needs a 4xx or 5xx" },
		{ "a: b\nx: relative/file\n", 2, "a relative path" },
		{ "x: ~/mbox\n", 1, "a relative path" },
		{ "x: ./mbox, \"a b\"/c\n", 1, "a relative path" },
		{ "x: a, b c\n", 1, "not an address" },
		{ "x: a, # no comment here\n", 1, "not an address" },
		{ "x: b\rc\n", 1, "a control character" },
		{ "x: b\ny\tz: c\n", 2, "a name with blanks" },
		{ "a#b: c\n", 1, "a name with blanks" },
		{ "A: b\n\n# c\na: d\n", 4,
		    "alias a given again (first at line 1)" },
		{ "\"\": x\n", 1, "bad alias name" },
		{ "x: :include:\n", 1, ":include: needs an absolute" },
		{ "x: \\\n", 1, "alias x has no targets" },
	};
	struct alias_table	 at;
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = load(cases[i].text, &at);
		ok(r == -1 && at.n == 0 && reported(cases[i].line,
		    cases[i].what), "refused at line %d: %s (got: %s)",
		    cases[i].line, cases[i].what, errors);
	}
	r = load("a: b\nbad line\nc: d\nworse\n", &at);
	ok(r == -1 && reported(2, "expected") && reported(4, "expected"),
	    "every bad line is reported");
	unlink(path);
	memset(&at, 0, sizeof(at));
	ok(alias_table_load(&at, path, NULL) == -1 && errno == ENOENT,
	    "a missing file is ENOENT");
}

/* NUL bytes, long lines and too many targets, each with its line. */
static void
test_limits(void)
{
	static const char	 nul[] = "a: b\nx: c\0d, e\nf: g\n";
	struct alias_table	 at;
	char			*big, *p;
	size_t			 i;
	int			 r;

	r = load_bytes(nul, sizeof(nul) - 1, &at);
	ok(r == -1 && at.n == 0 && reported(2, "a NUL byte"),
	    "a NUL byte is refused, not a cut line (%s)", errors);

	big = malloc(200000);
	p = big + snprintf(big, 200000, "a: b\nx: ");
	memset(p, 'y', 70000);
	snprintf(p + 70000, 100, "\nc: d\n");
	r = load(big, &at);
	ok(r == -1 && reported(2, "line longer than 65536 bytes") &&
	    strstr(errors, ":3:") == NULL, "a long line is refused, and "
	    "only it (%s)", errors);

	p = big + snprintf(big, 200000, "x: y,\n");
	for (i = 0; i < 4000; i++)
		p += snprintf(p, 100, " %s%zu, /dev/null,\n",
		    i == 0 ? "" : "u", i);
	snprintf(p, 100, " last\n");
	r = load(big, &at);
	ok(r == -1 && reported(1, "entry longer than 65536 bytes"),
	    "a long logical line is refused at its first line (%s)", errors);

	p = big + snprintf(big, 200000, "x: ");
	for (i = 0; i < 10001; i++)
		p += snprintf(p, 100, "u%zu,", i);
	p[-1] = '\n';
	r = load(big, &at);
	ok(r == -1 && reported(1, "too many targets"), "10001 targets are "
	    "too many for one entry (%s)", errors);
	free(big);
}

/* The quieter forms: CRLF, quotes around names and targets, path. */
static void
test_forms(void)
{
	struct alias_table	 at;
	int			 r;

	r = load("a: b\r\n\"Mixed:Case@x #1\": \"john doe\"@example.org\n"
	    "q: \"error:451 4.3.0 busy, try later\", \":include:/etc/l\"\n"
	    "c: \":INCLUDE: /etc/up\", \"/var/mail/with blank\"\n"
	    "d: \"x y\", error:550 no such user\n", &at);
	ok(r == 0 && at.n == 5, "the quieter forms load (%s)", errors);
	ok(at.path != NULL && strcmp(at.path, path) == 0, "the table names "
	    "its file");
	ok(is(target(&at, "a", 0), ALIAS_ADDRESS, "b"), "CRLF line ends");
	ok(is(target(&at, "mixed:case@x #1", 0), ALIAS_ADDRESS,
	    "\"john doe\"@example.org"), "a quoted name with ':', '@' and "
	    "'#', a quoted local part kept as written");
	ok(is(target(&at, "q", 0), ALIAS_ERROR,
	    "451 4.3.0 busy, try later") &&
	    is(target(&at, "q", 1), ALIAS_INCLUDE, "/etc/l"),
	    "a quoted error: keeps its comma; a quoted :include:");
	ok(is(target(&at, "c", 0), ALIAS_INCLUDE, "/etc/up") &&
	    is(target(&at, "c", 1), ALIAS_FILE, "/var/mail/with blank"),
	    ":include: in capitals; a quoted file with a blank");
	ok(is(target(&at, "d", 0), ALIAS_ADDRESS, "\"x y\"") &&
	    is(target(&at, "d", 1), ALIAS_ERROR, "550 no such user"),
	    "a quoted local user; error: without an enhanced code");
	alias_table_free(&at);
	ok(at.n == 0 && at.v == NULL && at.path == NULL, "freed is empty");
}

static void
test_list_refused(void)
{
	static char	 text[] = "alice\n# c\n\nbad one\n  , /x\nrel/x\n";
	struct alias_target	*t = NULL;
	size_t			 n = 0;
	FILE			*fp, *errs;
	int			 r;

	fp = fmemopen(text, strlen(text), "r");
	errs = errors_capture();
	r = alias_list_read(fp, "/home/a/.forward", &t, &n, errs);
	fclose(errs);
	fclose(fp);
	ok(r == -1 && strstr(errors, "/home/a/.forward:4: not an address") &&
	    strstr(errors, "/home/a/.forward:6: a relative path"),
	    "a .forward's bad lines are reported by line (%s)", errors);
}

static void
test_list(void)
{
	static char	 text[] = "# forward\nalice@example.org, \\me\n"
			    "\"|/usr/bin/procmail\"\n";
	struct alias_target	*t;
	size_t			 n;
	FILE			*fp;
	int			 r;

	fp = fmemopen(text, strlen(text), "r");
	r = alias_list_read(fp, "forward", &t, &n, NULL);
	fclose(fp);
	ok(r == 0 && n == 3 && is(&t[0], ALIAS_ADDRESS, "alice@example.org") &&
	    t[1].escaped && is(&t[2], ALIAS_COMMAND, "/usr/bin/procmail"),
	    "a .forward's list (%d, %zu)", r, n);
	if (r == 0)
		alias_targets_free(t, n);
}

int
main(void)
{
	int	 fd;

	if ((fd = mkstemp(path)) == -1)
		return 2;
	close(fd);
	test_good();
	test_refused();
	test_limits();
	test_forms();
	test_list();
	test_list_refused();
	unlink(path);
	return tap_done();
}
