/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * table.c: the users table (smtpd_users_file, "name:crypt-hash" lines,
 * written by `ferryctl passwd`), the recipients table (recipients_file,
 * "user@domain" or "@domain" lines) and the local recipients table
 * (run_directory/local-recipients: the local parts locald knows, one per
 * line, lower case; doc/local.md).  All are sorted arrays searched with
 * bsearch(), compared without regard to case.  A users line is read by
 * users_line_parse() (common/users.c), the reader ferryctl passwd uses
 * too.  locald replaces its table by renaming a new file over it; a
 * lookup notices that within a second (a new inode, size or time) and
 * reads the new one.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "table.h"
#include "users.h"
#include "util.h"

#define TABLE_LINE_MAX	1024
#define LOCAL_TABLE	"local-recipients"

struct entry {
	char	*key;
	char	*value;		/* the hash; NULL in the recipients table */
};

struct table {
	const char	*kind;		/* "users", "recipients" */
	char		 path[PATH_MAX];
	int		 dirfd;		/* kept for reloading in the chroot */
	int		 active;	/* configured */
	struct entry	*entries;
	size_t		 n;
	int		 loaded;	/* entries hold a file's contents */
	struct stat	 seen;		/* the file last read, or refused */
	time_t		 checked;	/* when seen was last compared */
};

static struct table	 users = { .kind = "users", .dirfd = -1 };
static struct table	 recipients = { .kind = "recipients", .dirfd = -1 };
static struct table	 local_rcpts = { .kind = "local recipients",
			    .dirfd = -1 };

static int
entry_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct entry *)a)->key,
	    ((const struct entry *)b)->key);
}

static void
entries_free(struct entry *e, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(e[i].key);
		if (e[i].value != NULL) {
			explicit_bzero(e[i].value, strlen(e[i].value));
			free(e[i].value);
		}
	}
	free(e);
}

/* locald writes lower-case names without blanks or slashes. */
static const char *
local_name_invalid(const char *name)
{
	for (; *name != '\0'; name++)
		if ((unsigned char)*name <= ' ' || *name == 0x7f ||
		    *name == '/' || (*name >= 'A' && *name <= 'Z'))
			return "not a lower-case local part";
	return NULL;
}

/* One line into e; NULL, or why it is bad. */
static const char *
parse_line(const struct table *t, char *line, struct entry *e)
{
	struct mailaddr	 ma;
	const char	*why;
	char		*name, *hash, probe[TABLE_LINE_MAX + 2];

	if (t == &users) {
		if (users_line_parse(line, &name, &hash, &why) == -1)
			return why;
		e->key = xstrdup(name);
		e->value = xstrdup(hash);
		return NULL;
	}
	if (t == &local_rcpts) {
		if ((why = local_name_invalid(line)) != NULL)
			return why;
		e->key = xstrdup(line);
		e->value = NULL;
		return NULL;
	}
	if (line[0] == '@') {
		/* a domain is valid if some address in it is */
		snprintf(probe, sizeof(probe), "x%s", line);
		if (addr_parse(probe, 0, &ma, &why) == -1)
			return "expected user@domain or @domain";
	} else if (addr_parse(line, 0, &ma, &why) == -1)
		return why;
	e->key = xstrdup(line);
	e->value = NULL;
	return NULL;
}

static int
read_entries(struct table *t, FILE *fp, struct entry **out, size_t *count)
{
	char		 buf[TABLE_LINE_MAX + 2], *line;
	struct entry	*e = NULL;
	size_t		 n = 0;
	const char	*why;
	int		 lineno = 0, errors = 0;

	while (fgets(buf, sizeof(buf), fp) != NULL) {
		lineno++;
		line = str_trim(buf);
		if (*line == '\0' || *line == '#')
			continue;
		e = xreallocarray(e, n + 1, sizeof(*e));
		if ((why = parse_line(t, line, &e[n])) != NULL) {
			log_warnx("%s:%d: %s", t->path, lineno, why);
			errors++;
			continue;
		}
		n++;
	}
	explicit_bzero(buf, sizeof(buf));
	if (errors > 0 || ferror(fp)) {
		entries_free(e, n);
		return -1;
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	*out = e;
	*count = n;
	return 0;
}

static int
table_load(struct table *t)
{
	struct entry	*e;
	size_t		 n;
	FILE		*fp;
	char		 copy[PATH_MAX];
	int		 fd, r;

	strlcpy(copy, t->path, sizeof(copy));
	fd = openat(t->dirfd, basename(copy), O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && t == &local_rcpts)
		return -1;	/* locald has not written it yet */
	if (fd == -1 || fstat(fd, &t->seen) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		log_warn("cannot read the %s table %s", t->kind, t->path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	r = read_entries(t, fp, &e, &n);
	fclose(fp);
	if (r == -1)
		return -1;
	entries_free(t->entries, t->n);
	t->entries = e;
	t->n = n;
	t->loaded = 1;
	log_event("event=table table=%s entries=%zu", t->kind, n);
	return 0;
}

static int
table_open(struct table *t, const char *path)
{
	char	 copy[PATH_MAX];

	if (*path == '\0')
		return 0;
	t->active = 1;
	strlcpy(t->path, path, sizeof(t->path));
	strlcpy(copy, path, sizeof(copy));
	t->dirfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd == -1) {
		log_warn("%s", path);
		return -1;
	}
	return table_load(t);
}

/*
 * At start, as root: a table that cannot be read is a fatal error, but
 * for locald's, which may come later (until then RCPT for a local domain
 * gets a 4xx).
 */
int
tables_open(const struct config *conf)
{
	char	 path[PATH_MAX];

	if (table_open(&users, conf->smtpd_users_file) == -1 ||
	    table_open(&recipients, conf->recipients_file) == -1)
		return -1;
	if (*conf->mydestination == '\0')
		return 0;
	if (path_join(path, sizeof(path), conf->run_directory,
	    LOCAL_TABLE) == -1) {
		log_warnx("run_directory too long");
		return -1;
	}
	if (table_open(&local_rcpts, path) == -1 && local_rcpts.dirfd == -1)
		return -1;
	return 0;
}

void
tables_reload(void)
{
	if (users.active && table_load(&users) == -1)
		log_warnx("keeping the old users table");
	if (recipients.active && table_load(&recipients) == -1)
		log_warnx("keeping the old recipients table");
	if (local_rcpts.active && table_load(&local_rcpts) == -1 &&
	    local_rcpts.loaded)
		log_warnx("keeping the old local recipients table");
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Read locald's table again if it has been replaced (looked at once a
 * second at most).  A new file that is bad is logged once, and the old
 * contents stay.
 */
static void
local_table_check(void)
{
	struct stat	 sb;
	time_t		 now = time(NULL);

	if (now == local_rcpts.checked)
		return;
	local_rcpts.checked = now;
	if (fstatat(local_rcpts.dirfd, LOCAL_TABLE, &sb, 0) == -1 ||
	    same_file(&sb, &local_rcpts.seen))
		return;
	if (table_load(&local_rcpts) == -1) {
		local_rcpts.seen = sb;	/* tried: not again until it changes */
		if (local_rcpts.loaded)
			log_warnx("keeping the old local recipients table");
	}
}


static struct entry *
table_find(const struct table *t, const char *key)
{
	struct entry	 k;

	k.key = (char *)key;
	return bsearch(&k, t->entries, t->n, sizeof(k), entry_cmp);
}

int
table_has_users(void)
{
	return users.n > 0;
}

const char *
table_user_hash(const char *user)
{
	struct entry	*e = table_find(&users, user);

	return e != NULL ? e->value : NULL;
}

/* Without a recipients table, every address of an accepted domain is. */
int
table_rcpt_known(const struct mailaddr *ma)
{
	return !recipients.active || table_rcpt_listed(ma);
}

/* Does the recipients table name this address or its domain? */
int
table_rcpt_listed(const struct mailaddr *ma)
{
	char	 key[ADDR_MAX + 3];

	if (!recipients.active)
		return 0;
	if (addr_format(ma, key, sizeof(key)) == 0 &&
	    table_find(&recipients, key) != NULL)
		return 1;
	snprintf(key, sizeof(key), "@%s", ma->domain);
	return table_find(&recipients, key) != NULL;
}

/* 1: a local part of a local domain exists; 0: not; -1: no table yet. */
int
table_local_known(const char *local)
{
	if (!local_rcpts.active)
		return -1;
	local_table_check();
	if (!local_rcpts.loaded)
		return -1;
	return table_find(&local_rcpts, local) != NULL;
}
