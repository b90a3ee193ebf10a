/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtpd: the SMTP front end.
 *
 * SUMMARY
 *	smtpd [-f] [-c file]
 *
 * DESCRIPTION
 *	Serves SMTP (smtp_listen), submission (submission_listen) and
 *	implicit-TLS submission (smtps_listen) in one event-driven process,
 *	decides which recipients to accept (doc/smtpd.md), and streams each
 *	message into a file queued creates, saying 250 only once queued has
 *	made it durable.
 *
 * CONFIGURATION
 *	myhostname, max_message_size, max_recipients, smtpd_user,
 *	smtp_listen, submission_listen, smtps_listen, smtpd_tls_cert_file,
 *	smtpd_tls_key_file, accepted_domains, recipients_file,
 *	smtpd_users_file, mynetworks, smtpd_auth_plaintext,
 *	smtpd_sender_policy, smtpd_bare_lf, smtpd_vrfy, smtpd_max_sessions,
 *	smtpd_max_sessions_per_ip, smtpd_timeout, smtpd_max_errors,
 *	smtpd_auth_failure_delay, smtpd_auth_max_failures,
 *	smtpd_auth_ip_max_failures.
 *
 * FILES AND PRIVILEGES
 *	Started as root, it binds its ports, reads the TLS key and its
 *	tables, chroots to run_directory/smtpd (which holds only the sockets
 *	of the daemons it may talk to) and becomes smtpd_user.  It writes
 *	nothing but the message files queued hands it, and its log.
 *	SIGHUP rereads the tables and reopens the log.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "log.h"
#include "lookup.h"
#include "privsep.h"
#include "smtpd.h"
#include "table.h"
#include "util.h"

#define SWEEP_INTERVAL	300	/* seconds between sweeps of client records */

static struct daemon_ctx	 sd;
static struct event_base	*sbase;
static SSL_CTX			*tls_ctx;
static char			 queue_socket[PATH_MAX];
static char			 delegate_socket[PATH_MAX];

const struct config *
smtpd_conf(void)
{
	return &sd.conf;
}

struct event_base *
smtpd_base(void)
{
	return sbase;
}

SSL_CTX *
smtpd_tls_ctx(void)
{
	return tls_ctx;
}

const char *
smtpd_queue_socket(void)
{
	return queue_socket;
}

const char *
smtpd_delegate_socket(void)
{
	return delegate_socket;
}

/* One descriptor per session and a few more: take what the system allows. */
static void
raise_fd_limit(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the descriptor limit");
	}
}

static void
on_hup(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	(void)arg;
	tables_reload();
}

static void
on_sweep(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	clients_sweep();
}

static void
start_timers(void)
{
	struct event	*ev;
	struct timeval	 tv = { SWEEP_INTERVAL, 0 };

	if ((ev = evsignal_new(sbase, SIGHUP, on_hup, NULL)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("cannot handle SIGHUP");
	if ((ev = event_new(sbase, -1, EV_PERSIST, on_sweep, NULL)) == NULL ||
	    event_add(ev, &tv) == -1)
		fatalx("cannot start the sweep timer");
}

int
main(int argc, char **argv)
{
	struct privsep	 ps;
	char		 chroot_dir[PATH_MAX];
	int		 ping_sock;

	daemon_setup(&sd, "smtpd", argc, argv);
	if (privsep_init(&ps, sd.conf.smtpd_user) == -1)
		exit(EX_CONFIG);
	if (path_join(chroot_dir, sizeof(chroot_dir), sd.conf.run_directory,
	    "smtpd") == -1 || daemon_mkdir(chroot_dir, 0755) == -1)
		fatal("mkdir %s/smtpd", sd.conf.run_directory);
	if (path_join(queue_socket, sizeof(queue_socket),
	    ps.as_root ? "/" : chroot_dir, "queued.sock") == -1 ||
	    path_join(delegate_socket, sizeof(delegate_socket),
	    ps.as_root ? "/" : chroot_dir, "delegated.sock") == -1)
		fatalx("run_directory is too long");
	raise_fd_limit();
	listeners_open(&sd.conf);
	if (sd.conf.smtpd_tls_cert_file[0] != '\0' &&
	    (tls_ctx = tls_server_context(sd.conf.smtpd_tls_cert_file,
	    sd.conf.smtpd_tls_key_file)) == NULL)
		exit(EX_CONFIG);
	if (tables_open(&sd.conf) == -1)
		exit(EX_CONFIG);
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	ping_sock = daemon_ping_open(&sd, &ps);
	tzset();		/* Received dates keep the zone inside the chroot */
	daemon_detach(&sd);
	privsep_drop(&ps, chroot_dir, 1);

	if ((sbase = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_ping_serve(sbase, ping_sock, "smtpd");
	lookup_init(sbase);
	daemon_signals(sbase);
	start_timers();
	listeners_start(sbase);
	log_event("event=start");
	event_base_dispatch(sbase);
	log_event("event=stop sessions=%d", session_count());
	return 0;
}
