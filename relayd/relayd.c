/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * relayd: the delivery daemon.
 *
 * SUMMARY
 *	relayd [-f] [-c file]
 *
 * DESCRIPTION
 *	Takes due messages from queued (FETCH on queued.sock), splits each
 *	message's recipients by destination (routes_file, default_route),
 *	hands each part to a delivery process for that destination (see
 *	worker.c), and reports every recipient's result to queued: delivered,
 *	temp, perm, unreachable or relay-refused.  At most
 *	relay_destination_concurrency processes serve one destination and
 *	relay_max_processes in all; an idle process keeps its connection for
 *	relay_idle_timeout, for the next message to the same place.
 *	run_directory/relayd.sock answers pings.
 *
 * CONFIGURATION
 *	run_directory, log_directory, myhostname, routes_file, default_route,
 *	relay_*, relay_user.
 *
 * FILES AND PRIVILEGES
 *	Started as root, it reads relay_auth_file (refused if others may
 *	read or write it) and routes_file, makes relay_state_directory if a
 *	route logs in with OAuth2, makes the base directories of Maildir
 *	routes for relay_user (or takes them only from it), forks the token
 *	process (token.c) if a route logs in with OAuth2, forgets the OAuth2
 *	secrets that only that process keeps, and becomes relay_user.  It
 *	does not chroot: Maildir routes may point anywhere and MX lookups
 *	need the system resolver.  It writes Maildirs only; the token
 *	process writes the state files.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
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
#include "agent.h"
#include "daemon.h"
#include "ipc.h"
#include "ipc_server.h"
#include "log.h"
#include "privsep.h"
#include "qlink.h"
#include "relayd.h"
#include "secret.h"
#include "util.h"

/* A job waiting for, or held by, a delivery process. */
struct mjob {
	TAILQ_ENTRY(mjob)	 entry;
	char			 dest[PATH_MAX + 300];	/* route, or route+domain */
	struct relay_job	 job;
	size_t			 reported;	/* results sent to queued */
};

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	pid_t			 pid;
	int			 sock;
	struct event		*ev;
	char			 dest[PATH_MAX + 300];
	struct mjob		*job;		/* NULL: idle */
	time_t			 idle_since;
};

static struct daemon_ctx	 rd;
static struct credentials	 creds;
static pid_t			 token_pid = -1;
static struct event_base	*rbase;
static TAILQ_HEAD(, mjob)	 waiting = TAILQ_HEAD_INITIALIZER(waiting);
static TAILQ_HEAD(, worker)	 workers = TAILQ_HEAD_INITIALIZER(workers);
static size_t			 nworkers, nwaiting;

/* Send one recipient's result to queued. */
static void
report(const struct relay_job *job, uint32_t index, int result,
    const char *text)
{
	agent_report(job->id, index, result, text, 0);
}

static void
mjob_free(struct mjob *mj)
{
	job_free(&mj->job);
	free(mj);
}

static size_t
dest_workers(const char *dest)
{
	struct worker	*w;
	size_t		 n = 0;

	TAILQ_FOREACH(w, &workers, entry)
		n += strcmp(w->dest, dest) == 0;
	return n;
}

static void	 worker_readable(evutil_socket_t, short, void *);

/* In a new delivery process: drop the master's descriptors. */
static void
close_inherited(void)
{
	struct worker	*w;

	qlink_close_in_child();
	TAILQ_FOREACH(w, &workers, entry)
		close(w->sock);
}

static struct worker *
worker_spawn(const char *dest)
{
	struct worker	*w;
	int		 sv[2];
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return NULL;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		close_inherited();
		worker_main(sv[1], &rd.conf, &creds);
	}
	close(sv[1]);
	w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->sock = sv[0];
	strlcpy(w->dest, dest, sizeof(w->dest));
	w->ev = event_new(rbase, w->sock, EV_READ | EV_PERSIST,
	    worker_readable, w);
	if (w->ev == NULL || event_add(w->ev, NULL) == -1)
		fatalx("event_new");
	TAILQ_INSERT_TAIL(&workers, w, entry);
	nworkers++;
	return w;
}

/* Close a delivery process; unreported recipients of its job are retried. */
static void
worker_close(struct worker *w, const char *why)
{
	struct mjob	*mj = w->job;
	size_t		 i;

	if (mj != NULL) {
		for (i = mj->reported; i < mj->job.nrcpt; i++)
			report(&mj->job, mj->job.rcpt[i].index, RESULT_TEMP, why);
		mjob_free(mj);
	}
	TAILQ_REMOVE(&workers, w, entry);
	nworkers--;
	event_free(w->ev);
	close(w->sock);
	free(w);
}

static int
worker_assign(struct worker *w, struct mjob *mj)
{
	if (job_send(w->sock, &mj->job) == -1) {
		log_warn("id=%s cannot hand job to pid %ld", mj->job.id,
		    (long)w->pid);
		return -1;
	}
	close(mj->job.fd);	/* the delivery process has its own now */
	mj->job.fd = -1;
	w->job = mj;
	return 0;
}

/* Give waiting jobs to idle or new delivery processes, oldest first. */
static void
dispatch_jobs(void)
{
	struct mjob	*mj, *next;
	struct worker	*w;

	for (mj = TAILQ_FIRST(&waiting); mj != NULL; mj = next) {
		next = TAILQ_NEXT(mj, entry);
		TAILQ_FOREACH(w, &workers, entry)
			if (w->job == NULL && strcmp(w->dest, mj->dest) == 0)
				break;
		if (w == NULL && nworkers < (size_t)rd.conf.relay_max_processes &&
		    dest_workers(mj->dest) <
		    (size_t)rd.conf.relay_destination_concurrency)
			w = worker_spawn(mj->dest);
		if (w == NULL)
			continue;
		TAILQ_REMOVE(&waiting, mj, entry);
		nwaiting--;
		if (worker_assign(w, mj) == -1) {
			w->job = mj;
			worker_close(w, "delivery process failed");
		}
	}
}

/* RESULT {index, result, text} or JOB_DONE from a delivery process. */
static void
worker_readable(evutil_socket_t fd, short events, void *arg)
{
	struct worker		*w = arg;
	struct ipc_frame	*f;
	char			 text[IPC_STR_MAX + 1];
	uint32_t		 index, result;
	int			 r;

	(void)fd;
	(void)events;
	f = xmalloc(sizeof(*f));
	r = ipc_recv(w->sock, f);
	if (r <= 0 || w->job == NULL) {
		worker_close(w, "delivery process died");
	} else if (f->type == IPC_RESULT && ipc_get_u32(f, &index) == 0 &&
	    ipc_get_u32(f, &result) == 0 &&
	    ipc_get_str(f, text, sizeof(text)) == 0 && ipc_get_end(f) == 0 &&
	    w->job->reported < w->job->job.nrcpt) {
		report(&w->job->job, index, result, text);
		w->job->reported++;
	} else if (f->type == IPC_JOB_DONE && ipc_get_end(f) == 0) {
		mjob_free(w->job);
		w->job = NULL;
		w->idle_since = time(NULL);
		dispatch_jobs();
		agent_fetch();
	} else
		worker_close(w, "bad frame from delivery process");
	free(f);
}

/* Destination key: processes are shared per smarthost, per MX domain. */
static void
dest_key(const char *route, const char *domain, char *buf, size_t size)
{
	if (strcmp(route, "mx") == 0)
		snprintf(buf, size, "mx:%s", domain);
	else
		strlcpy(buf, route, size);
}

static struct mjob *
find_or_add_job(struct mjob **jobs, size_t *njobs, const char *id,
    const char *sender, uint64_t size, int fd, const char *domain)
{
	const char	*route = routes_lookup(&rd.conf, domain);
	char		 dest[sizeof(jobs[0]->dest)];
	struct mjob	*mj;
	size_t		 i;

	dest_key(route, domain, dest, sizeof(dest));
	for (i = 0; i < *njobs; i++)
		if (strcmp(jobs[i]->dest, dest) == 0)
			return jobs[i];
	mj = xcalloc(1, sizeof(*mj));
	strlcpy(mj->dest, dest, sizeof(mj->dest));
	strlcpy(mj->job.id, id, sizeof(mj->job.id));
	strlcpy(mj->job.route, route, sizeof(mj->job.route));
	strlcpy(mj->job.domain, domain, sizeof(mj->job.domain));
	mj->job.sender = xstrdup(sender);
	mj->job.size = size;
	if ((mj->job.fd = dup(fd)) == -1)
		fatal("dup");
	jobs[(*njobs)++] = mj;
	return mj;
}

static void
job_add_rcpt(struct mjob *mj, uint32_t index, const char *addr)
{
	struct relay_rcpt	*r;

	mj->job.rcpt = xreallocarray(mj->job.rcpt, mj->job.nrcpt + 1,
	    sizeof(*mj->job.rcpt));
	r = &mj->job.rcpt[mj->job.nrcpt++];
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->addr = xstrdup(addr);
	r->result = -1;
}

/* A message from queued: one job per destination, waiting for a process. */
static void
take_work(struct agent_work *w)
{
	const char	*at;
	struct mjob	**jobs;
	size_t		 njobs = 0, i;

	jobs = xcalloc(w->nrcpt, sizeof(*jobs));
	for (i = 0; i < w->nrcpt; i++) {
		at = strrchr(w->rcpt[i].addr, '@');
		job_add_rcpt(find_or_add_job(jobs, &njobs, w->id, w->sender,
		    w->size, w->fd, at != NULL ? at + 1 : rd.conf.myhostname),
		    w->rcpt[i].index, w->rcpt[i].addr);
	}
	for (i = 0; i < njobs; i++) {
		TAILQ_INSERT_TAIL(&waiting, jobs[i], entry);
		nwaiting++;
	}
	free(jobs);
	log_event("event=work id=%s nrcpt=%zu destinations=%zu", w->id,
	    w->nrcpt, njobs);
	agent_work_free(w);
	dispatch_jobs();
}

/* Room for more work while fewer jobs wait than processes may run. */
static int
has_room(void)
{
	return nwaiting < (size_t)rd.conf.relay_max_processes;
}

/* queued went away: it hands out again what waits here. */
static void
queued_lost(void)
{
	struct mjob	*mj;

	while ((mj = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, mj, entry);
		nwaiting--;
		mjob_free(mj);
	}
}

static const struct agent_ops	 relay_agent = {
	"relayd", CHANNEL_SMTP, has_room, take_work, queued_lost
};

/* Every second: close idle processes, reap dead ones. */
static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w, *next;
	time_t		 now = time(NULL);
	pid_t		 pid;
	int		 status;

	(void)fd;
	(void)events;
	(void)arg;
	for (w = TAILQ_FIRST(&workers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->job == NULL &&
		    now - w->idle_since >= rd.conf.relay_idle_timeout)
			worker_close(w, NULL);
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == token_pid)
			/* it alone holds the OAuth2 secrets: start afresh */
			fatalx("the token process died (status %d)", status);
}

/* The token process writes the same log: it reopens it too. */
static void
on_hup(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	(void)arg;
	if (token_pid != -1)
		kill(token_pid, SIGHUP);
}

/* At exit: deliveries in progress are cut; queued retries them. */
static void
stop_workers(void)
{
	struct worker	*w;

	if (token_pid != -1)
		kill(token_pid, SIGTERM);
	TAILQ_FOREACH(w, &workers, entry)
		kill(w->pid, SIGTERM);
}

/*
 * relay_auth_file, read while still root (credentials.c: refused if
 * others may read or write it); errors as "FILE:LINE: what is wrong",
 * exit 78.  An OAuth2 route needs the state directory, ours.
 */
static void
read_credentials(const struct privsep *ps)
{
	char	 where[PATH_MAX * 2];
	size_t	 i;

	if (credentials_load(rd.conf.relay_auth_file, &creds) == -1)
		exit(EX_CONFIG);
	for (i = 0; i < creds.n; i++)
		if (creds.v[i].kind == CRED_OAUTH) {
			daemon_key_where(&rd, "relay_state_directory", where,
			    sizeof(where));
			daemon_own_dir(&rd, ps, where,
			    rd.conf.relay_state_directory, 0700);
			return;
		}
}

/*
 * The fixed part of a maildir route, the directory above the first %u (or
 * above the Maildir), must belong to relay_user: relayd makes the rest
 * below it.  where says which line of which file gave the route.
 */
static void
prepare_maildir_base(const char *where, const char *route,
    const struct privsep *ps)
{
	char	 base[PATH_MAX], *p;

	if (strncmp(route, "maildir:", 8) != 0)
		return;
	strlcpy(base, route + 8, sizeof(base));
	if ((p = strchr(base, '%')) != NULL)
		*p = '\0';
	if ((p = strrchr(base, '/')) != NULL && p != base)
		*p = '\0';
	daemon_own_dir(&rd, ps, where, base, 0755);
}

int
main(int argc, char **argv)
{
	struct privsep	 ps;
	struct event	*tick, *hup;
	char		 where[PATH_MAX * 2];
	int		 ping_sock;

	daemon_setup(&rd, "relayd", argc, argv);
	if (privsep_init(&ps, rd.conf.relay_user) == -1)
		exit(EX_CONFIG);
	if (routes_load(rd.conf.routes_file) == -1)
		exit(EX_CONFIG);
	read_credentials(&ps);
	/* relayd-token reads its secrets itself: we keep none of them */
	credentials_forget_oauth(&creds);
	daemon_key_where(&rd, "default_route", where, sizeof(where));
	prepare_maildir_base(where, rd.conf.default_route, &ps);
	routes_foreach(prepare_maildir_base, &ps);
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	ping_sock = daemon_ping_open(&rd, &ps);
	daemon_detach(&rd);
	token_pid = token_start(&rd, &ps, &creds);
	privsep_drop(&ps, "/", 0);

	if ((rbase = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_ping_serve(rbase, ping_sock, "relayd");
	daemon_signals(rbase);
	hup = evsignal_new(rbase, SIGHUP, on_hup, NULL);
	if (hup == NULL || evsignal_add(hup, NULL) == -1)
		fatalx("cannot handle SIGHUP");
	tick = event_new(rbase, -1, EV_PERSIST, on_tick, NULL);
	if (tick == NULL || event_add(tick, &(struct timeval){ 1, 0 }) == -1)
		fatalx("cannot start timer");
	log_event("event=start");
	agent_start(rbase, &rd.conf, &relay_agent);
	event_base_dispatch(rbase);
	log_event("event=stop");
	stop_workers();
	return 0;
}
