/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * delegated: the authentication and recipient delegate.
 *
 * SUMMARY
 *	delegated [-f] [-c file]
 *
 * DESCRIPTION
 *	Answers smtpd's "are these credentials good?" and "would you accept
 *	this recipient?" by asking another SMTP server, politely: answers
 *	are cached, probes share connections, are rate-limited and asked
 *	once however many wait for them (doc/delegated.md).  Sockets:
 *	run_directory/smtpd/delegated.sock	smtpd's questions (smtpd_user
 *				only, in smtpd's chroot);
 *	run_directory/delegated.sock	ping and ferryctl delegate
 *				test|list|forget (root and our own user).
 *
 * CONFIGURATION
 *	myhostname, accepted_domains, smtpd_user, delegate_user, and every
 *	delegate_* key.
 *
 * FILES AND PRIVILEGES
 *	Started as root, it binds its sockets, makes the cache file's
 *	directory its own and becomes delegate_user.  It does not chroot:
 *	delegate host names need the system's resolver.  It writes only
 *	delegate_cache_file and its log.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "delegated.h"
#include "ipc_server.h"
#include "log.h"
#include "privsep.h"
#include "util.h"

#define SAVE_INTERVAL	10	/* seconds between cache file writes */
#define SELFCHECK_INTERVAL 86400 /* seconds between catch-all checks */

static struct daemon_ctx	 dd;
static uid_t			 smtpd_uid;

const struct config *
deleg_conf(void)
{
	return &dd.conf;
}

static int
allow_smtpd_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == smtpd_uid;
}

static int
allow_admin_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static const struct ipc_service smtpd_service = {
	.name = "delegated",
	.allow_uid = allow_smtpd_uid,
	.frame = serve_smtpd_frame,
	.closed = serve_conn_closed,
};
static const struct ipc_service control_service = {
	.name = "delegated",
	.allow_uid = allow_admin_uid,
	.frame = serve_control_frame,
	.closed = serve_conn_closed,
};

/* The cache file's directory is ours; the file stays private. */
static void
prepare_cache_dir(const struct privsep *ps)
{
	char	 copy[PATH_MAX], where[PATH_MAX * 2];

	if (*dd.conf.delegate_cache_file == '\0')
		return;
	strlcpy(copy, dd.conf.delegate_cache_file, sizeof(copy));
	daemon_key_where(&dd, "delegate_cache_file", where, sizeof(where));
	daemon_own_dir(&dd, ps, where, dirname(copy), 0700);
}

static void
on_selfcheck(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	serve_selfcheck();
}

static void
on_save(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	cache_save();
}

int
main(int argc, char **argv)
{
	struct privsep		 ps;
	struct event_base	*base;
	struct event		*save, *check;
	struct timeval		 tv = { SAVE_INTERVAL, 0 };
	struct timeval		 day = { SELFCHECK_INTERVAL, 0 };
	int			 smtpd_sock, control_sock;

	daemon_setup(&dd, "delegated", argc, argv);
	if (*dd.conf.delegate_servers == '\0') {
		fprintf(stderr, "delegated: delegate_servers is empty in %s\n",
		    dd.conf_path);
		exit(EX_CONFIG);
	}
	if (privsep_init(&ps, dd.conf.delegate_user) == -1 ||
	    probe_init(&dd.conf) == -1)
		exit(EX_CONFIG);
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	prepare_cache_dir(&ps);
	smtpd_sock = daemon_listen_for_smtpd(&dd, &ps, "delegated.sock",
	    &smtpd_uid);
	control_sock = daemon_listen(&dd, &ps, "delegated.sock", 0600);
	daemon_detach(&dd);
	privsep_drop(&ps, "/", 0);

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	cache_init(dd.conf.delegate_cache_file);
	serve_init(base);
	if (ipc_server_listen(base, smtpd_sock, &smtpd_service) == -1 ||
	    ipc_server_listen(base, control_sock, &control_service) == -1)
		fatalx("cannot serve sockets");
	daemon_signals(base);
	save = event_new(base, -1, EV_PERSIST, on_save, NULL);
	check = event_new(base, -1, EV_PERSIST, on_selfcheck, NULL);
	if (save == NULL || event_add(save, &tv) == -1 || check == NULL ||
	    event_add(check, &day) == -1)
		fatalx("cannot start the timers");
	serve_selfcheck();
	log_event("event=start servers=%s", log_q(dd.conf.delegate_servers));
	event_base_dispatch(base);
	cache_save();
	log_event("event=stop");
	return 0;
}
