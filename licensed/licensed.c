/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * licensed: tells the other daemons whether the support licence allows
 * WebSmtp.
 *
 * SUMMARY
 *	licensed [-f] [-c file]
 *
 * DESCRIPTION
 *	Checks every file of license_files against license_public_key at
 *	start, on SIGHUP and every CHECK_INTERVAL seconds (so a renewal is
 *	picked up without a restart): the valid licence that runs longest
 *	counts; without one, the best of the others says why.  A clock that
 *	went back behind the latest time seen is not trusted.  Warns in its
 *	log 30, 7 and 1 days before the licence ends.  Tells queued, which
 *	decides on WebSmtp, over queued.sock: LICENSE_STATE at connect and
 *	whenever the answer changes.  Answers LICENSE_QUERY (ferryctl
 *	license) on run_directory/licensed.sock (root and its own user).
 *	A bad or missing licence stops nothing but WebSmtp.
 *
 * CONFIGURATION
 *	license_user, license_files, license_public_key, run_directory.
 *
 * FILES AND PRIVILEGES
 *	Started as root, it reads the public key, binds its socket and
 *	becomes license_user; the licence files must be readable by it.  It
 *	writes nothing but its log.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc_server.h"
#include "license.h"
#include "log.h"
#include "netaddr.h"
#include "privsep.h"
#include "qlink.h"
#include "util.h"

#define CHECK_INTERVAL	10	/* seconds between checks of the files */

static struct daemon_ctx	 ld;
static EVP_PKEY			*vendor_key;
static struct license		 current;
static char			 current_path[1024];
static time_t			 latest_seen;
static long			 last_warned = -1;

/* Better: valid over anything; then the one that runs longest. */
static int
better(const struct license *a, const struct license *b)
{
	if (a->state != b->state)
		return a->state < b->state;
	return a->support_until > b->support_until;
}

static void
warn_days(void)
{
	static const long	 marks[] = { 30, 7, 1 };
	size_t			 i;

	if (current.state != LICENSE_VALID)
		return;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (current.days_left <= marks[i] && last_warned != marks[i] &&
		    (i + 1 == sizeof(marks) / sizeof(marks[0]) ||
		    current.days_left > marks[i + 1])) {
			log_event("event=license-ending id=%s days_left=%ld",
			    log_q(current.id), current.days_left);
			last_warned = marks[i];
		}
}

/*
 * LICENSE_STATE {state, days, id, customer, support-until, features,
 * reason, text}: the text (the credential webrelayd sends) only when
 * valid.
 */
static void
put_state(struct ipc_frame *f)
{
	static struct license_state_msg	 m;
	time_t				 last = current.support_until - 86400;
	int				 valid = current.state == LICENSE_VALID;

	memset(&m, 0, sizeof(m));
	m.state = current.state;
	m.days_left = valid ? current.days_left : 0;
	strlcpy(m.id, current.id, sizeof(m.id));
	strlcpy(m.customer, current.customer, sizeof(m.customer));
	if (current.support_until != 0)
		strftime(m.support_until, sizeof(m.support_until), "%Y-%m-%d",
		    gmtime(&last));
	strlcpy(m.features, current.features, sizeof(m.features));
	if (valid)
		strlcpy(m.text, current.text, sizeof(m.text));
	else
		strlcpy(m.reason, current.reason, sizeof(m.reason));
	license_state_put(f, &m);
}

/* Tell queued, which decides on WebSmtp, the licence as it is now. */
static void
push_state(void)
{
	struct ipc_frame	*f;

	f = xmalloc(sizeof(*f));
	ipc_frame_init(f, IPC_LICENSE_STATE, 0);
	put_state(f);
	qlink_send(f);
	free(f);
}

/* Check every file; log and tell queued when the answer changes. */
static void
check_all(void)
{
	const char	*list = ld.conf.license_files;
	struct license	 best, l;
	char		 path[1024], best_path[1024] = "";
	time_t		 now = time(NULL);
	int		 any = 0, changed;

	memset(&best, 0, sizeof(best));
	best.state = LICENSE_MISSING;
	snprintf(best.reason, sizeof(best.reason), "no licence file");
	while (word_next(&list, path, sizeof(path)) == 1) {
		license_check(path, vendor_key, now, &l);
		if (!any++ || better(&l, &best)) {
			best = l;
			strlcpy(best_path, path, sizeof(best_path));
		}
	}
	if (now < latest_seen) {
		best.state = LICENSE_INVALID;
		snprintf(best.reason, sizeof(best.reason), "the clock went "
		    "back %lld s: not trusted", (long long)(latest_seen - now));
	} else
		latest_seen = now;
	changed = best.state != current.state || best.support_until !=
	    current.support_until || strcmp(best_path, current_path) != 0 ||
	    strcmp(best.text, current.text) != 0;
	if (changed)
		log_event("event=license state=%s file=%s id=%s "
		    "days_left=%ld reason=%s", license_state_name(best.state),
		    log_q(best_path), log_q(best.id), best.days_left,
		    log_q(best.state == LICENSE_VALID ? "" : best.reason));
	current = best;
	strlcpy(current_path, best_path, sizeof(current_path));
	warn_days();
	if (changed)
		push_state();
}

static int
allow_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* LICENSE_QUERY -> LICENSE_STATE */
static void
on_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	struct ipc_frame	 rep;

	if (f->type != IPC_LICENSE_QUERY || ipc_get_end(f) == -1) {
		ipc_conn_close(c, "unexpected frame");
		return;
	}
	ipc_frame_init(&rep, IPC_LICENSE_STATE, f->reqid);
	put_state(&rep);
	ipc_conn_send(c, &rep, -1);
}

/* queued's frames: none is expected. */
static void
queued_frame(struct ipc_frame *f)
{
	if (f->type != IPC_OK)
		log_warnx("queued sent %s", ipc_type_name(f->type));
}

/* Nothing to forget when queued goes: connecting again tells it again. */
static const struct qlink_ops	 queued_link = {
	"licensed", push_state, queued_frame, NULL
};

static const struct ipc_service service = {
	.name = "licensed",
	.allow_uid = allow_uid,
	.frame = on_frame,
	.closed = NULL,
};

static void
on_check(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	check_all();
}

int
main(int argc, char **argv)
{
	struct privsep		 ps;
	struct event_base	*base;
	struct event		*ev, *hup;
	struct timeval		 tv = { CHECK_INTERVAL, 0 };
	char			 why[512];
	int			 sock;

	daemon_setup(&ld, "licensed", argc, argv);
	if (privsep_init(&ps, ld.conf.license_user) == -1)
		exit(EX_CONFIG);
	if ((vendor_key = license_public_key(ld.conf.license_public_key, why,
	    sizeof(why))) == NULL) {
		fprintf(stderr, "licensed: %s\n", why);
		exit(EX_CONFIG);
	}
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	sock = daemon_listen(&ld, &ps, "licensed.sock", 0600);
	daemon_detach(&ld);
	privsep_drop(&ps, "/", 0);

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	check_all();
	if (ipc_server_listen(base, sock, &service) == -1)
		fatalx("cannot serve licensed.sock");
	daemon_signals(base);
	ev = event_new(base, -1, EV_PERSIST, on_check, NULL);
	hup = evsignal_new(base, SIGHUP, on_check, NULL);
	if (ev == NULL || event_add(ev, &tv) == -1 || hup == NULL ||
	    evsignal_add(hup, NULL) == -1)
		fatalx("cannot start the timers");
	log_event("event=start files=%s", log_q(ld.conf.license_files));
	qlink_start(base, &ld.conf, &queued_link);
	event_base_dispatch(base);
	log_event("event=stop");
	return 0;
}
