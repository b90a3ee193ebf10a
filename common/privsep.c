/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * privsep.c: look up a daemon's user, chroot, drop root for good.
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"

/* -1, with a message on stderr, if started as root and user is unknown. */
int
privsep_init(struct privsep *ps, const char *user)
{
	struct passwd	*pw;

	ps->as_root = geteuid() == 0;
	ps->uid = geteuid();
	ps->gid = getegid();
	if (!ps->as_root)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "unknown user %s (create it, or run "
		    "\"etc/install-deps users\")\n", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "user %s has uid 0; refusing to run as root\n",
		    user);
		return -1;
	}
	ps->uid = pw->pw_uid;
	ps->gid = pw->pw_gid;
	return 0;
}

/* Give path to the daemon's user (a no-op when not started as root). */
int
privsep_chown(const struct privsep *ps, const char *path)
{
	if (!ps->as_root)
		return 0;
	return chown(path, ps->uid, ps->gid);
}

/*
 * Enter dir (as the new root when chroot_it and started as root), then
 * become the daemon's user.  Any failure is fatal: a daemon never runs on
 * with privileges it meant to give up.
 */
void
privsep_drop(const struct privsep *ps, const char *dir, int chroot_it)
{
	if (ps->as_root && chroot_it) {
		if (chroot(dir) == -1)
			fatal("chroot %s", dir);
		dir = "/";
	}
	if (chdir(dir) == -1)
		fatal("chdir %s", dir);
	if (ps->as_root) {
		if (setgroups(1, &ps->gid) == -1 ||
		    setresgid(ps->gid, ps->gid, ps->gid) == -1 ||
		    setresuid(ps->uid, ps->uid, ps->uid) == -1)
			fatal("cannot drop privileges");
		if (setuid(0) != -1 || geteuid() == 0)
			fatalx("still root after dropping privileges");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}
