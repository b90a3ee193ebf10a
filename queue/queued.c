/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * queued: the queue daemon, the only writer of the queue.
 *
 * SUMMARY
 *	queued [-f] [-c file]
 *
 * DESCRIPTION
 *	Creates message files and passes their descriptors to smtpd and to
 *	sendmail, commits messages durably before anyone says "accepted",
 *	schedules delivery, hands due messages to delivery agents and records
 *	their per-recipient results, retries with back-off, expires what
 *	stayed too long and bounces what failed to its sender.  Two sockets
 *	in run_directory:
 *	queued.sock	for ferry-control (uid 0, queued's own), the
 *			delivery agents (relay_user's, webrelay_user's uid, and
 *			locald's, uid 0:
 *			FETCH and REPORT) and licensed (license_user's uid:
 *			LICENSE_STATE), see doc/ipc.md;
 *	submit.sock	for local submission by sendmail, any local user; the
 *			peer uid goes into the Received header and the log;
 *	smtpd/queued.sock  for smtpd (uid 0, queued's own, or smtpd_user's):
 *			CREATE, RCPT and COMMIT only.
 *
 * CONFIGURATION
 *	queue_directory, run_directory, log_directory, log_syslog,
 *	myhostname, myorigin, max_message_size, max_recipients,
 *	queue_min_free, retry_min, retry_max, queue_lifetime,
 *	bounce_lifetime, delay_warning_time, queue_user, relay_user,
 *	webrelay_user, license_user, smtpd_user, accepted_domains and
 *	webrelay* (the WebSmtp policy, websmtp.c).
 *
 * FILES AND PRIVILEGES
 *	Started as root, it binds its sockets, hands the spool to queue_user,
 *	chroots into queue_directory and becomes queue_user.  It writes only
 *	the spool (doc/queue.md) and its log.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "daemon.h"
#include "ipc_server.h"
#include "log.h"
#include "privsep.h"
#include "queued.h"
#include "sched.h"
#include "store.h"
#include "util.h"

#define SWEEP_INTERVAL	10	/* seconds between sweeps (expiry, warnings) */

static struct daemon_ctx	 qd;
static struct event_base	*qbase;
static uid_t			 relay_uid, web_uid;	/* agents */
static uid_t			 license_uid;	/* licensed's */
static uid_t			 smtpd_uid;	/* smtpd's, on smtpd/queued.sock */

int
queue_peer_roles(uid_t uid)
{
	return (uid == 0 || uid == geteuid() ? QUEUE_ROLE_ADMIN : 0) |
	    (uid == relay_uid || uid == web_uid || uid == 0 ?
	    QUEUE_ROLE_AGENT : 0) |	/* locald keeps root */
	    (uid == license_uid ? QUEUE_ROLE_LICENSED : 0);
}

static int
allow_daemon_uid(uid_t uid)
{
	return queue_peer_roles(uid) != 0;
}

static int
allow_smtpd_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == smtpd_uid;
}

static int
allow_any_uid(uid_t uid)
{
	(void)uid;
	return 1;
}

/*
 * submit.sock is open to every local user.  One uid may hold this many
 * connections at once (a burst of parallel sendmails fits; a loop that
 * opens connections to use up queued's descriptors does not), and a
 * connection this much unread output (LIST without reading) before
 * queued stops reading its requests.
 */
#define SUBMIT_MAX_PER_UID	64
#define SUBMIT_MAX_OUTPUT	(256 * 1024)

static const struct ipc_service private_service = {
	.name = "queued",
	.allow_uid = allow_daemon_uid,
	.frame = queue_private_frame,
	.closed = queue_conn_closed,
};
static const struct ipc_service public_service = {
	.name = "queued",
	.allow_uid = allow_any_uid,
	.frame = queue_public_frame,
	.closed = queue_conn_closed,
	.max_per_uid = SUBMIT_MAX_PER_UID,
	.max_output = SUBMIT_MAX_OUTPUT,
};
static const struct ipc_service smtpd_service = {
	.name = "queued",
	.allow_uid = allow_smtpd_uid,
	.frame = queue_smtpd_frame,
	.closed = queue_conn_closed,
};

const struct config *
queue_conf(void)
{
	return &qd.conf;
}

static void
on_sweep_timer(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	queue_sweep(time(NULL));
}

/* queue_directory, q/ and corrupt/: private to queue_user. */
static void
make_spool(const struct privsep *ps)
{
	const char	*dir = qd.conf.queue_directory;
	char		 path[PATH_MAX], where[PATH_MAX * 2];
	const char	*sub[] = { "q", "corrupt" };
	size_t		 i;

	daemon_key_where(&qd, "queue_directory", where, sizeof(where));
	daemon_own_dir(&qd, ps, where, dir, 0700);
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (path_join(path, sizeof(path), dir, sub[i]) == -1)
			fatalx("%s: path too long", where);
		daemon_own_dir(&qd, ps, where, path, 0700);
	}
}

/*
 * relayd, webrelayd and licensed reach queued.sock as their own users:
 * the socket is 0666 and SO_PEERCRED decides (queue_peer_roles).
 */
static void
admit_daemons(const struct privsep *ps)
{
	relay_uid = daemon_peer_uid(ps, qd.conf.relay_user);
	web_uid = daemon_peer_uid(ps, qd.conf.webrelay_user);
	license_uid = daemon_peer_uid(ps, qd.conf.license_user);
}

int
main(int argc, char **argv)
{
	struct privsep	 ps;
	struct event	*sweep;
	struct timeval	 tv = { SWEEP_INTERVAL, 0 };
	int		 private_sock, public_sock, smtpd_sock;

	daemon_setup(&qd, "queued", argc, argv);
	if (privsep_init(&ps, qd.conf.queue_user) == -1)
		exit(EX_CONFIG);
	make_spool(&ps);
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	private_sock = daemon_listen(&qd, &ps, "queued.sock", 0666);
	admit_daemons(&ps);
	public_sock = daemon_listen(&qd, &ps, "submit.sock", 0666);
	smtpd_sock = daemon_listen_for_smtpd(&qd, &ps, "queued.sock",
	    &smtpd_uid);
	tzset();		/* Date headers keep the zone inside the chroot */
	daemon_detach(&qd);
	privsep_drop(&ps, qd.conf.queue_directory, 1);

	if ((qbase = event_base_new()) == NULL)
		fatalx("event_base_new");
	sched_init(&qd.conf);
	queue_commit_init(qbase);
	if (store_open() == -1)
		fatal("open spool");
	if (store_recover(queue_load, NULL) == -1)
		fatal("recover spool");
	queue_sweep(time(NULL));	/* bounces a crash left unsent */
	queue_wake_init(qbase);
	if (ipc_server_listen(qbase, private_sock, &private_service) == -1 ||
	    ipc_server_listen(qbase, public_sock, &public_service) == -1 ||
	    ipc_server_listen(qbase, smtpd_sock, &smtpd_service) == -1)
		fatalx("cannot serve sockets");
	daemon_signals(qbase);
	sweep = event_new(qbase, -1, EV_PERSIST, on_sweep_timer, NULL);
	if (sweep == NULL || event_add(sweep, &tv) == -1)
		fatalx("cannot start the sweep timer");
	log_event("event=start queue=%s messages=%zu",
	    log_q(qd.conf.queue_directory), sched_count());
	event_base_dispatch(qbase);
	log_event("event=stop");
	return 0;
}
