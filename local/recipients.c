/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * recipients.c: the table of local parts that exist, for smtpd.
 *
 * smtpd is chrooted and cannot ask getpwnam(), so locald writes every
 * passwd account and every alias name, folded to lower case, sorted and
 * unique, to run_directory/local-recipients (doc/smtpd.md, "Local
 * recipients"), through a temporary file renamed into place: smtpd sees
 * the old table or the new one, never half of one, and notices the new
 * one by its inode.  locald rewrites it at start, on SIGHUP and when
 * /etc/passwd or alias_file has changed (local_table_refresh).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "locald.h"
#include "log.h"
#include "util.h"

#define TABLE_NAME	"local-recipients"
#define TABLE_HEAD	\
	"# ferry local recipients: written by locald; do not edit\n"

struct names {
	char	**v;
	size_t	  n;
};

static void
names_add(struct names *ns, const char *name)
{
	char	*p, *copy;

	copy = xstrdup(name);
	for (p = copy; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	/* one name per line: nothing that would split or blur one */
	if (*copy == '\0' || strpbrk(copy, " \t\r\n/") != NULL) {
		free(copy);
		return;
	}
	ns->v = xreallocarray(ns->v, ns->n + 1, sizeof(*ns->v));
	ns->v[ns->n++] = copy;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names, each once; -1 on a write error, else how many. */
static long
names_write(const struct names *ns, FILE *fp)
{
	size_t	 i;
	long	 n = 0;

	fputs(TABLE_HEAD, fp);
	for (i = 0; i < ns->n; i++)
		if (i == 0 || strcmp(ns->v[i], ns->v[i - 1]) != 0) {
			fprintf(fp, "%s\n", ns->v[i]);
			n++;
		}
	return fflush(fp) == EOF || ferror(fp) ? -1 : n;
}

/* Write the table; -1 (logged) if it could not be replaced. */
int
local_table_write(const struct config *conf, const struct alias_table *at)
{
	struct names	 ns = { NULL, 0 };
	struct passwd	*pw;
	char		 path[PATH_MAX], tmp[PATH_MAX];
	FILE		*fp = NULL;
	size_t		 i;
	long		 written;
	int		 fd, r = -1;

	setpwent();
	while ((errno = 0, pw = getpwent()) != NULL)
		names_add(&ns, pw->pw_name);
	endpwent();
	for (i = 0; i < at->n; i++)
		names_add(&ns, at->v[i].name);
	if (ns.n > 0)
		qsort(ns.v, ns.n, sizeof(*ns.v), name_cmp);
	if (path_join(path, sizeof(path), conf->run_directory,
	    TABLE_NAME) == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		log_warnx("run_directory too long for %s", TABLE_NAME);
		goto done;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		log_warn("%s", tmp);
		if (fd != -1)
			close(fd);
		goto done;
	}
	if (fchmod(fd, 0644) == -1 ||
	    (written = names_write(&ns, fp)) == -1 || fsync(fd) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("cannot write %s", path);
		unlink(tmp);
		goto done;
	}
	log_event("event=local-table names=%ld", written);
	r = 0;
done:
	if (fp != NULL)
		fclose(fp);
	for (i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return r;
}
