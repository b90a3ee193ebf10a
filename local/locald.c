/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * locald: local delivery to the host's users.
 *
 * SUMMARY
 *	locald [-f] [-c file]
 *
 * DESCRIPTION
 *	Takes from queued (FETCH for the local channel on queued.sock) the
 *	recipients of mydestination's domains and delivers each in a
 *	recipient process of its own (expand.c): alias_file, then the
 *	user's ~/.forward, then the user's mbox or ~/Maildir/; a |command
 *	or /file target runs as the recipient (from a ~/.forward) or as
 *	local_alias_user (from alias_file); addresses are sent on as a new
 *	message.  Each result is reported to queued.  It also keeps
 *	run_directory/local-recipients, the table of existing local parts
 *	smtpd checks RCPT against (recipients.c).  run_directory/locald.sock
 *	answers pings.  See doc/local.md.
 *
 * CONFIGURATION
 *	run_directory, log_directory, mydestination, myorigin,
 *	alias_file, local_mailbox, mail_spool_directory,
 *	local_alias_user, local_include_commands, local_command_timeout,
 *	local_max_processes, recipient_delimiter.
 *
 * SIGNALS
 *	SIGHUP rereads alias_file (a bad one keeps the old table), rewrites
 *	the recipients table and reopens the log.
 *
 * FILES AND PRIVILEGES
 *	The one Ferry daemon that keeps root, and only to become someone:
 *	every delivery runs in a process that has taken the user's uid, gid
 *	and groups before it opens anything (expand.c).  Nothing is ever
 *	delivered as root: mail for a uid-0 account stays deferred until
 *	alias_file sends it to a person.  Started as another user, it
 *	delivers only to that user, the same way.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "aliases.h"
#include "daemon.h"
#include "header.h"
#include "locald.h"
#include "log.h"
#include "privsep.h"
#include "qlink.h"
#include "util.h"

#define REFRESH_SECONDS	5	/* how often /etc/passwd is looked at */
#define WATCHDOG_SLACK	120	/* beyond local_command_timeout */

/* A message in hand: its recipients each get a recipient process. */
struct local_msg {
	struct agent_work	*work;
	struct header_info	 header;
	size_t			 next;		/* first one not started */
	size_t			 running;
	int			 stale;		/* queued went away */
	TAILQ_ENTRY(local_msg)	 entry;
};

struct rproc {
	struct local_msg	*msg;
	size_t			 rcpt;		/* index in msg->work */
	pid_t			 pid;
	int			 fd;		/* its report */
	char			 buf[DELIVERY_TEXT_MAX + 8];
	size_t			 len;
	struct event		*ev, *watchdog;
};

static struct daemon_ctx	 ld;
static struct event_base	*base;
static struct alias_table	 aliases;
static char			 sendmail_path[PATH_MAX];
static size_t			 nrunning;
static TAILQ_HEAD(, local_msg)	 msgs = TAILQ_HEAD_INITIALIZER(msgs);

static void	 start_next(void);

static int
has_room(void)
{
	struct local_msg	*m;
	size_t			 waiting = 0;

	TAILQ_FOREACH(m, &msgs, entry)
		waiting += m->work->nrcpt - m->next;
	return nrunning + waiting < (size_t)ld.conf.local_max_processes;
}

static void
msg_done(struct local_msg *m)
{
	TAILQ_REMOVE(&msgs, m, entry);
	header_free(&m->header);
	agent_work_free(m->work);
	free(m);
}

static void
log_result(const struct local_msg *m, size_t i,
    const struct delivery_status *st)
{
	static const char	*events[] = { "delivered", "deferred",
				    "failed" };

	log_event("event=%s id=%s to=%s reply=%s", events[st->result],
	    m->work->id, log_q(m->work->rcpt[i].addr), log_q(st->text));
}

/* "RESULT TEXT" from a recipient process (a child of ours, still root). */
static void
rproc_status(const struct rproc *rp, struct delivery_status *st)
{
	int	 status;

	while (waitpid(rp->pid, &status, 0) == -1 && errno == EINTR)
		;
	if (rp->len >= 3 && rp->buf[0] >= '0' &&
	    rp->buf[0] <= '0' + RESULT_PERM && rp->buf[1] == ' ' &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		delivery_status_set(st, rp->buf[0] - '0', "%.*s",
		    (int)(rp->len - 2), rp->buf + 2);
		return;
	}
	delivery_status_set(st, RESULT_TEMP, "451 4.3.0 the local delivery "
	    "process %s", WIFSIGNALED(status) ? "was killed" : "failed");
}

static void
rproc_end(struct rproc *rp)
{
	struct local_msg	*m = rp->msg;
	struct delivery_status	 st;
	const struct agent_rcpt	*r = &m->work->rcpt[rp->rcpt];

	rproc_status(rp, &st);
	log_result(m, rp->rcpt, &st);
	if (!m->stale)
		agent_report(m->work->id, r->index, st.result, st.text, 0);
	event_free(rp->ev);
	event_free(rp->watchdog);
	close(rp->fd);
	free(rp);
	nrunning--;
	if (--m->running == 0 && m->next == m->work->nrcpt)
		msg_done(m);
	start_next();
	agent_fetch();
}

static void
rproc_read(evutil_socket_t fd, short events, void *arg)
{
	struct rproc	*rp = arg;
	ssize_t		 n;

	(void)events;
	n = read(fd, rp->buf + rp->len, sizeof(rp->buf) - 1 - rp->len);
	if (n > 0) {
		rp->len += n;
		if (rp->len < sizeof(rp->buf) - 1)
			return;
	} else if (n == -1 && errno == EINTR)
		return;
	rp->buf[rp->len] = '\0';
	rproc_end(rp);
}

/* A delivery that outlives every limit of its own is killed. */
static void
rproc_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct rproc	*rp = arg;

	(void)fd;
	(void)events;
	log_warnx("id=%s delivery process %ld takes too long: killed",
	    rp->msg->work->id, (long)rp->pid);
	kill(-rp->pid, SIGKILL);
}

/* In the recipient process: deliver, write the result, exit. */
static void __attribute__((__noreturn__))
rproc_main(const struct local_msg *m, size_t i, int out)
{
	struct local_job	 job;
	struct delivery_status	 st;

	setpgid(0, 0);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	qlink_close_in_child();
	job.conf = &ld.conf;
	job.aliases = &aliases;
	job.header = &m->header;
	job.id = m->work->id;
	job.sender = m->work->sender;
	job.addr = m->work->rcpt[i].addr;
	job.msgfd = m->work->fd;
	job.sendmail = sendmail_path;
	local_deliver(&job, &st);
	dprintf(out, "%d %s", st.result, st.text);
	_exit(0);
}

static void
rproc_start(struct local_msg *m)
{
	struct rproc	*rp;
	struct timeval	 tv = { 0, 0 };
	int		 p[2];
	size_t		 i = m->next;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return;
	}
	rp = xcalloc(1, sizeof(*rp));
	rp->msg = m;
	rp->rcpt = i;
	rp->fd = p[0];
	if ((rp->pid = fork()) == -1) {
		log_warn("fork");
		close(p[0]);
		close(p[1]);
		free(rp);
		return;
	}
	if (rp->pid == 0) {
		close(p[0]);
		rproc_main(m, i, p[1]);
	}
	close(p[1]);
	m->next++;
	m->running++;
	nrunning++;
	rp->ev = event_new(base, rp->fd, EV_READ | EV_PERSIST, rproc_read, rp);
	rp->watchdog = evtimer_new(base, rproc_timeout, rp);
	tv.tv_sec = ld.conf.local_command_timeout + WATCHDOG_SLACK;
	if (rp->ev == NULL || rp->watchdog == NULL ||
	    event_add(rp->ev, NULL) == -1 ||
	    evtimer_add(rp->watchdog, &tv) == -1)
		fatalx("cannot watch a delivery process");
}

/* Start recipient processes while there is room, oldest message first. */
static void
start_next(void)
{
	struct local_msg	*m;

	TAILQ_FOREACH(m, &msgs, entry)
		while (m->next < m->work->nrcpt &&
		    nrunning < (size_t)ld.conf.local_max_processes)
			rproc_start(m);
}

static void
take_work(struct agent_work *w)
{
	struct local_msg	*m;
	size_t			 i;

	m = xcalloc(1, sizeof(*m));
	m->work = w;
	if (header_scan(w->fd, &m->header) == -1) {
		log_warn("id=%s cannot read the message", w->id);
		for (i = 0; i < w->nrcpt; i++)
			agent_report(w->id, w->rcpt[i].index, RESULT_TEMP,
			    "451 4.3.0 cannot read the message", 0);
		header_free(&m->header);
		agent_work_free(w);
		free(m);
		return;
	}
	TAILQ_INSERT_TAIL(&msgs, m, entry);
	start_next();
}

/* queued went away: it hands everything out again; nothing is reported. */
static void
queued_lost(void)
{
	struct local_msg	*m, *next;

	for (m = TAILQ_FIRST(&msgs); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		m->stale = 1;
		m->next = m->work->nrcpt;	/* start nothing more */
		if (m->running == 0)
			msg_done(m);
	}
}

static const struct agent_ops	 agent_ops = {
	"locald", CHANNEL_LOCAL, has_room, take_work, queued_lost
};

/* alias_file, read again; a file with errors keeps the old table. */
static void
aliases_reload(void)
{
	struct alias_table	 fresh;

	memset(&fresh, 0, sizeof(fresh));
	if (*ld.conf.alias_file != '\0' &&
	    alias_table_load(&fresh, ld.conf.alias_file, NULL) == -1 &&
	    errno != ENOENT) {
		log_warnx("%s has errors (newaliases shows them): keeping "
		    "the old aliases", ld.conf.alias_file);
		alias_table_free(&fresh);
		return;
	}
	alias_table_free(&aliases);
	aliases = fresh;
	log_event("event=aliases file=%s aliases=%zu",
	    log_q(ld.conf.alias_file), aliases.n);
}

static void
on_hup(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	(void)arg;
	aliases_reload();
	local_table_write(&ld.conf, &aliases);
}

/* Has the file changed since *sb was taken?  Updates *sb. */
static int
file_changed(const char *path, struct stat *sb)
{
	struct stat	 now;

	if (*path == '\0')
		return 0;
	if (stat(path, &now) == -1)
		memset(&now, 0, sizeof(now));
	if (now.st_ino == sb->st_ino && now.st_dev == sb->st_dev &&
	    now.st_mtim.tv_sec == sb->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == sb->st_mtim.tv_nsec &&
	    now.st_size == sb->st_size)
		return 0;
	*sb = now;
	return 1;
}

/* useradd, userdel, an edited alias_file: the tables follow by themselves. */
static void
on_refresh(evutil_socket_t fd, short events, void *arg)
{
	static struct stat	 passwd_sb, aliases_sb;
	static int		 first = 1;
	int			 pw, al;

	(void)fd;
	(void)events;
	(void)arg;
	pw = file_changed("/etc/passwd", &passwd_sb);
	al = file_changed(ld.conf.alias_file, &aliases_sb);
	if (first) {
		first = 0;
		return;
	}
	if (al)
		aliases_reload();
	if (pw || al)
		local_table_write(&ld.conf, &aliases);
}

/* Ferry's sendmail, beside this program, sends forwarded copies on. */
static void
find_sendmail(void)
{
	char	 self[PATH_MAX];
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if (path_join(sendmail_path, sizeof(sendmail_path), dirname(self),
	    "sendmail") == -1 || access(sendmail_path, X_OK) == -1)
		fatal("no sendmail beside locald (%s)", sendmail_path);
}

int
main(int argc, char **argv)
{
	struct privsep	 ps = { 0, 0, 0 };	/* keeps its identity */
	struct event	*hup, *refresh;
	struct timeval	 tv = { REFRESH_SECONDS, 0 };
	int		 ping_sock;

	daemon_setup(&ld, "locald", argc, argv);
	ps.uid = geteuid();
	ps.gid = getegid();
	find_sendmail();
	if (*ld.conf.alias_file != '\0' &&
	    alias_table_load(&aliases, ld.conf.alias_file, stderr) == -1 &&
	    errno != ENOENT)
		exit(EX_CONFIG);
	ping_sock = daemon_ping_open(&ld, &ps);
	daemon_detach(&ld);
	if (chdir("/") == -1)
		fatal("chdir /");

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_ping_serve(base, ping_sock, "locald");
	daemon_signals(base);
	if ((hup = evsignal_new(base, SIGHUP, on_hup, NULL)) == NULL ||
	    evsignal_add(hup, NULL) == -1 ||
	    (refresh = event_new(base, -1, EV_PERSIST, on_refresh,
	    NULL)) == NULL || evtimer_add(refresh, &tv) == -1)
		fatalx("cannot set up locald's events");
	on_refresh(-1, 0, NULL);
	local_table_write(&ld.conf, &aliases);
	log_event("event=start aliases=%zu mailbox=%s as_root=%s",
	    aliases.n, ld.conf.local_mailbox, geteuid() == 0 ? "yes" : "no");
	agent_start(base, &ld.conf, &agent_ops);
	event_base_dispatch(base);
	log_event("event=stop");
	return 0;
}
