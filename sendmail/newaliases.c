/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * newaliases.c: `newaliases` (sendmail -bi, -I): check alias_file and
 * tell locald to read it again.
 *
 * Ferry reads aliases(5) in its text form, so there is no database to
 * build: newaliases reports every error as FILE:LINE: (exit 78, and
 * locald keeps the table it has), or how many aliases the file holds;
 * then, when it may, it sends locald SIGHUP, as `ferryctl reload` would.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "aliases.h"
#include "config.h"
#include "newaliases.h"
#include "util.h"

/* locald's pid from its pidfile, if that process is locald. */
static pid_t
locald_pid(const struct config *conf)
{
	char	 path[PATH_MAX], comm[32], proc[64];
	long	 pid;
	FILE	*fp;
	int	 ok;

	if (path_join(path, sizeof(path), conf->run_directory,
	    "locald.pid") == -1 || (fp = fopen(path, "re")) == NULL)
		return -1;
	ok = fscanf(fp, "%ld", &pid) == 1 && pid > 1;
	fclose(fp);
	if (!ok)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	if ((fp = fopen(proc, "re")) == NULL)
		return -1;
	ok = fgets(comm, sizeof(comm), fp) != NULL &&
	    strcmp(comm, "locald\n") == 0;
	fclose(fp);
	return ok ? (pid_t)pid : -1;
}

void
newaliases(const struct config *conf)
{
	struct alias_table	 at;
	const char		*path = conf->alias_file;
	pid_t			 pid;

	if (*path == '\0') {
		printf("newaliases: alias_file is empty: no aliases\n");
		exit(EX_OK);
	}
	if (alias_table_load(&at, path, stderr) == -1) {
		if (errno != ENOENT)
			exit(EX_CONFIG);
		printf("newaliases: %s: no such file (no aliases)\n", path);
	} else
		printf("newaliases: %s: %zu alias%s\n", path, at.n,
		    at.n == 1 ? "" : "es");
	alias_table_free(&at);
	if ((pid = locald_pid(conf)) != -1 && kill(pid, SIGHUP) == 0)
		printf("newaliases: locald rereads it\n");
	exit(EX_OK);
}
