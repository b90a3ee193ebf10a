/*
 * daemon.c: start-up steps shared by the daemons.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
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
	NULL, ping_allow_uid, ping_frame, NULL
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
