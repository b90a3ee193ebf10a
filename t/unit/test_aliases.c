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

/* Load text as an aliases file; errors get what was reported. */
static int
load(const char *text, struct alias_table *at)
{
	FILE	*fp, *errs;
	int	 r;

	if ((fp = fopen(path, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	memset(errors, 0, sizeof(errors));
	errs = fmemopen(errors, sizeof(errors) - 1, "w");
	r = alias_table_load(at, path, errs);
	fclose(errs);
	return r;
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
	test_list();
	unlink(path);
	return tap_done();
}
