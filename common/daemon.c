/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * daemon.c: start-up steps shared by the daemons.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libutil.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc_server.h"
#include "log.h"
#include "privsep.h"
#include "util.h"

static void
daemon_usage(const char *name)
{
	fprintf(stderr, "usage: %s [-f] [-c file]\n", name);
	exit(64);
}

/* Create dir with mode unless it exists; -1 if it cannot be made. */
int
daemon_mkdir(const char *dir, mode_t mode)
{
	if (mkdir(dir, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void
accept_resume(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	event_add(arg, NULL);
}

/*
 * accept() ran out of descriptors (EMFILE, ENFILE): the connection stays
 * in the backlog and the listening socket stays readable, so watching it
 * would spin.  Stop watching ev, a listener's persistent read event, for
 * a second; the caller has logged why.
 */
void
daemon_accept_pause(struct event *ev)
{
	static const struct timeval	 second = { 1, 0 };

	event_del(ev);
	if (event_base_once(event_get_base(ev), -1, EV_TIMEOUT,
	    accept_resume, ev, &second) == -1)
		event_add(ev, &second);
}

/*
 * "FILE:LINE: key = value" (or "FILE: key = value" for a default): the
 * start of a message about a problem with the value of key.
 */
void
daemon_key_where(const struct daemon_ctx *d, const char *key, char *buf,
    size_t size)
{
	char	 where[PATH_MAX + 16], value[PATH_MAX];

	if (config_where(&d->conf, key, where, sizeof(where)) == -1)
		strlcpy(where, d->conf_path, sizeof(where));
	if (config_value(&d->conf, key, value, sizeof(value)) == -1)
		strlcpy(value, "...", sizeof(value));
	snprintf(buf, size, "%s: %s = %s", where, key, value);
}

static void __attribute__((__noreturn__))
dir_refused(const struct daemon_ctx *d, const char *where, const char *why)
{
	if (!d->foreground)
		fprintf(stderr, "%s: %s\n", where, why);
	log_warnx("%s: %s", where, why);
	exit(EX_CONFIG);
}

/* Hand dir, which mkdir has just made, to the daemon's user. */
static void
dir_hand_over(const struct daemon_ctx *d, const struct privsep *ps,
    const char *where, const char *dir)
{
	struct stat	 st;
	const char	*cause;
	char		 why[PATH_MAX + 64];
	int		 fd;

	/*
	 * By descriptor and without following a link: if the parent lets
	 * others in and the new directory was swapped for a link, the
	 * link's target is not what gets chowned.
	 */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
		cause = strerror(errno);
	else if (st.st_uid != geteuid())
		cause = "it was replaced";
	else if (fchown(fd, ps->uid, ps->gid) == -1)
		cause = strerror(errno);
	else {
		close(fd);
		return;
	}
	snprintf(why, sizeof(why), "cannot hand %s to uid %ld: %s", dir,
	    (long)ps->uid, cause);
	dir_refused(d, where, why);
}

static const char *
uid_name(uid_t uid, char *buf, size_t size)
{
	struct passwd	*pw;

	if ((pw = getpwuid(uid)) != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "uid %ld", (long)uid);
	return buf;
}

/*
 * Give the daemon's user a directory of its own: make dir with mode and
 * hand it over, or take it as it is when it exists and belongs to that
 * user already.  Only a directory made here is chowned, and an existing
 * one is never chowned or chmodded: a route or file path that names
 * /home, /etc/ferry or / must not give those away.  A directory that
 * cannot be made, belongs to someone else or is writable by others is a
 * configuration error, reported against where (daemon_key_where()).
 */
void
daemon_own_dir(const struct daemon_ctx *d, const struct privsep *ps,
    const char *where, const char *dir, mode_t mode)
{
	struct stat	 st;
	char		 why[PATH_MAX + 128], owner[64], user[64];

	if (mkdir(dir, mode) == 0) {
		if (ps->as_root)
			dir_hand_over(d, ps, where, dir);
		return;
	}
	if (errno != EEXIST || stat(dir, &st) == -1) {
		snprintf(why, sizeof(why), "cannot make %s: %s", dir,
		    strerror(errno));
		dir_refused(d, where, why);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "%s is not a directory", dir);
		dir_refused(d, where, why);
	}
	if (st.st_uid != ps->uid) {
		snprintf(why, sizeof(why), "%s belongs to %s, not %s: give "
		    "the daemon a directory of its own (it makes one that "
		    "does not exist)", dir, uid_name(st.st_uid, owner,
		    sizeof(owner)), uid_name(ps->uid, user, sizeof(user)));
		dir_refused(d, where, why);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(why, sizeof(why), "%s is writable by group or others "
		    "(mode %04o)", dir, (unsigned)(st.st_mode & 07777));
		dir_refused(d, where, why);
	}
}

/*
 * Parse the command line, load the configuration (exit 78 on any error),
 * open the log, and take the pidfile lock (refuse to start if another
 * instance holds it).  Everything here runs before privileges are dropped.
 */
void
daemon_setup(struct daemon_ctx *d, const char *name, int argc, char **argv)
{
	char	 path[PATH_MAX];
	pid_t	 other;
	int	 ch;

	d->name = name;
	d->conf_path = FERRY_CONF_DEFAULT;
	d->foreground = 0;
	while ((ch = getopt(argc, argv, "c:f")) != -1) {
		switch (ch) {
		case 'c':
			d->conf_path = optarg;
			break;
		case 'f':
			d->foreground = 1;
			break;
		default:
			daemon_usage(name);
		}
	}
	if (optind != argc)
		daemon_usage(name);
	if (config_load(&d->conf, d->conf_path) == -1)
		exit(EX_CONFIG);
	log_init(name, d->foreground);
	if (daemon_mkdir(d->conf.log_directory, 0755) == -1 ||
	    log_open(d->conf.log_directory, d->conf.log_syslog) == -1)
		fatal("cannot open log in %s", d->conf.log_directory);
	if (daemon_mkdir(d->conf.run_directory, 0755) == -1)
		fatal("mkdir %s", d->conf.run_directory);
	snprintf(path, sizeof(path), "%s/%s.pid", d->conf.run_directory, name);
	if ((d->pidfh = pidfile_open(path, 0644, &other)) == NULL) {
		if (errno == EEXIST)
			fatalx("already running as pid %ld", (long)other);
		fatal("pidfile %s", path);
	}
}

/* Leave the terminal unless -f, then record our pid. */
void
daemon_detach(struct daemon_ctx *d)
{
	if (!d->foreground && daemon(1, 0) == -1)
		fatal("daemon");
	if (pidfile_write(d->pidfh) == -1)
		fatal("pidfile_write");
}

static void
daemon_on_signal(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	if (sig == SIGHUP) {
		log_reopen();
		log_event("event=reopen");
	} else
		event_base_loopbreak(arg);
}

/* SIGTERM and SIGINT end the event loop; SIGHUP reopens the log. */
void
daemon_signals(struct event_base *base)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct event		*ev;
	size_t			 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if ((ev = evsignal_new(base, sigs[i], daemon_on_signal,
		    base)) == NULL || evsignal_add(ev, NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
}

static int
ping_allow_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static void
ping_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	(void)f;
	ipc_conn_close(c, "this socket only answers HELLO");
}

static struct ipc_service	 ping_service = {
	.name = NULL,
	.allow_uid = ping_allow_uid,
	.frame = ping_frame,
	.closed = NULL,
};

/*
 * Listen on run_directory/name (bound as root, then handed to the
 * daemon's user).
 */
int
daemon_listen(const struct daemon_ctx *ctx, const struct privsep *ps,
    const char *name, mode_t mode)
{
	char	 path[PATH_MAX];
	int	 s;

	if (path_join(path, sizeof(path), ctx->conf.run_directory, name) == -1 ||
	    (s = ipc_listen(path, mode)) == -1 || privsep_chown(ps, path) == -1)
		fatal("listen on %s/%s", ctx->conf.run_directory, name);
	return s;
}

/*
 * The uid the daemon that runs as user has: user's when started as root,
 * else our own (everything runs as the invoking user then).  The peer a
 * socket's service admits besides root and ourselves.
 */
uid_t
daemon_peer_uid(const struct privsep *ps, const char *user)
{
	struct passwd	*pw;

	if (!ps->as_root)
		return ps->uid;
	if ((pw = getpwnam(user)) == NULL) {
		log_warnx("unknown user %s: its daemon cannot connect", user);
		return ps->uid;
	}
	return pw->pw_uid;
}

/*
 * A socket for smtpd: run_directory/smtpd/name.  That directory is
 * smtpd's chroot, made here if need be and left to root, so that it holds
 * nothing but the sockets of the daemons smtpd may talk to.  *uid is
 * smtpd's (smtpd_user when started as root, else our own): the one peer
 * besides root and ourselves the socket's service should admit.
 */
int
daemon_listen_for_smtpd(const struct daemon_ctx *ctx,
    const struct privsep *ps, const char *name, uid_t *uid)
{
	char		 dir[PATH_MAX], sub[64];

	*uid = daemon_peer_uid(ps, ctx->conf.smtpd_user);
	if (path_join(dir, sizeof(dir), ctx->conf.run_directory, "smtpd") ==
	    -1 || daemon_mkdir(dir, 0755) == -1)
		fatal("mkdir %s/smtpd", ctx->conf.run_directory);
	snprintf(sub, sizeof(sub), "smtpd/%s", name);
	return daemon_listen(ctx, ps, sub, 0666);
}

/*
 * run_directory/NAME.sock, which only answers HELLO: `ferryctl status`
 * asks it whether the daemon is alive.
 */
int
daemon_ping_open(const struct daemon_ctx *ctx, const struct privsep *ps)
{
	char	 name[64];

	snprintf(name, sizeof(name), "%s.sock", ctx->name);
	return daemon_listen(ctx, ps, name, 0600);
}

void
daemon_ping_serve(struct event_base *base, int sock, const char *name)
{
	ping_service.name = name;
	if (ipc_server_listen(base, sock, &ping_service) == -1)
		fatalx("cannot serve %s.sock", name);
}
