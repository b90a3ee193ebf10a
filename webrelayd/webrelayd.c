/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * webrelayd: the WebSmtp agent.
 *
 * SUMMARY
 *	webrelayd [-f] [-c file]
 *
 * DESCRIPTION
 *	Takes from queued (FETCH for the web channel on queued.sock) the
 *	recipients that queued sends by WebSmtp because the SMTP route was
 *	unreachable or refused to relay, posts each message with its
 *	envelope over HTTPS to webrelay_url (post.c), reads the service's
 *	answer per recipient (answer.c) and reports every recipient's
 *	result to queued: delivered, temp or perm.  One message at a time,
 *	over one connection kept for the next one; the licence text queued
 *	hands out with the work is the credential (or the HTTP Basic key of
 *	webrelay_auth_file).
 *	run_directory/webrelayd.sock answers pings.  See doc/webrelayd.md.
 *
 * CONFIGURATION
 *	run_directory, log_directory, webrelay_url, webrelay_ca_file,
 *	webrelay_auth_file, webrelay_timeout, webrelay_user.
 *
 * FILES AND PRIVILEGES
 *	Started as root, it sets up libcurl, reads webrelay_auth_file
 *	(which only root need read: common/secret.c refuses it if others
 *	may), binds its ping socket and becomes webrelay_user; the key
 *	stays in libcurl's handle only.  It does not chroot: the service's
 *	host name needs the system resolver, and TLS the CA files
 *	(webrelay_ca_file must be readable by webrelay_user).  It reads the
 *	message files queued hands it and writes nothing but its log.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "daemon.h"
#include "log.h"
#include "privsep.h"
#include "secret.h"
#include "util.h"
#include "webrelayd.h"

static struct daemon_ctx		 wd;
static char				 auth[1024];	/* basic:USER:KEY */
static struct workq			*posts;
static struct web_post			*posting;	/* in the worker */
static TAILQ_HEAD(, web_post)		 waiting =
					    TAILQ_HEAD_INITIALIZER(waiting);

static int
has_room(void)
{
	return posting == NULL && TAILQ_EMPTY(&waiting);
}

static void
post_free(struct web_post *p)
{
	agent_work_free(p->work);
	free(p->answer.body);
	free(p);
}

/* Hand the oldest waiting message to the worker, if it is free. */
static void
post_next(void)
{
	struct web_post	*p;

	if (posting != NULL || (p = TAILQ_FIRST(&waiting)) == NULL)
		return;
	TAILQ_REMOVE(&waiting, p, entry);
	p->answer.body = xmalloc(WEB_BODY_MAX + 1);
	p->answer.body[0] = '\0';
	posting = p;
	workq_push(posts, &p->item);
}

static void
take_work(struct agent_work *w)
{
	struct web_post	*p;

	p = xcalloc(1, sizeof(*p));
	p->work = w;
	TAILQ_INSERT_TAIL(&waiting, p, entry);
	post_next();
}

/* The post's result for the log: the recipients', or "mixed". */
static const char *
post_result(const struct web_outcome *o, size_t nrcpt)
{
	static const char	*names[] = { "delivered", "temp", "perm" };
	size_t			 i;

	for (i = 1; i < nrcpt; i++)
		if (o->result[i] != o->result[0])
			return "mixed";
	if (nrcpt == 0 || o->result[0] > RESULT_PERM)
		return "none";
	return names[o->result[0]];
}

static void
log_post(const struct web_post *p, const struct web_outcome *o)
{
	const struct agent_work	*w = p->work;

	log_event("event=post id=%s status=%ld nrcpt=%zu bytes=%llu "
	    "seconds=%.3f service-id=%s result=%s retry-after=%u reply=%s",
	    w->id, p->answer.status, w->nrcpt, (unsigned long long)w->size,
	    p->answer.seconds, log_q(o->service_id),
	    post_result(o, w->nrcpt), o->retry_after, log_q(o->text));
	if (o->credential_refused)
		log_alert("event=websmtp-credential-refused id=%s status=%ld "
		    "auth=%s reply=%s warning=%s", w->id, p->answer.status,
		    post_uses_basic() ? "basic" : "licence", log_q(o->text),
		    log_q(post_uses_basic() ? "the WebSmtp service refuses "
		    "the key of webrelay_auth_file; its mail stays queued" :
		    "the WebSmtp service refuses the licence; its mail stays "
		    "queued"));
	if (p->stale)
		log_event("event=post-unreported id=%s why=%s", w->id,
		    log_q("queued went away during the post; it hands the "
		    "message out again"));
}

/* Back from the worker, in the event loop: log, report, next. */
static void
post_done(struct workq_item *item)
{
	struct web_post		*p = (struct web_post *)item;
	const struct agent_work	*w = p->work;
	struct web_outcome	 o;
	size_t			 i;

	answer_read(&p->answer, w, &o);
	log_post(p, &o);
	for (i = 0; i < w->nrcpt && !p->stale; i++)
		agent_report(w->id, w->rcpt[i].index, o.result[i],
		    answer_rcpt_text(&o, i),
		    o.result[i] == RESULT_TEMP ? o.retry_after : 0);
	answer_free(&o, w->nrcpt);
	posting = NULL;
	post_free(p);
	post_next();
	if (has_room())
		agent_fetch();
}

/*
 * queued went away: it hands out again whatever it had given us, so
 * waiting messages are forgotten, and a post under way is not reported.
 */
static void
queued_lost(void)
{
	struct web_post	*p;

	if (posting != NULL)
		posting->stale = 1;
	while ((p = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, p, entry);
		post_free(p);
	}
}

static const struct agent_ops	 agent_ops = {
	"webrelayd", CHANNEL_WEB, has_room, take_work, queued_lost
};

/* Why line is not basic:USER:KEY (USER without a colon), or NULL. */
static const char *
auth_invalid(const char *line)
{
	const char	*user, *key, *p;

	if (line[0] == '\0')
		return "expected basic:USER:KEY: the line is empty";
	if (strncmp(line, "basic:", 6) != 0)
		return "expected basic:USER:KEY: the scheme must be basic";
	user = line + 6;
	if ((key = strchr(user, ':')) == NULL)
		return "expected basic:USER:KEY: no colon after USER";
	if (key == user)
		return "expected basic:USER:KEY: USER is empty";
	if (key[1] == '\0')
		return "expected basic:USER:KEY: KEY is empty";
	for (p = user; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return "expected basic:USER:KEY: a control character";
	return NULL;
}

/*
 * webrelay_auth_file, read while still root: its one line is checked as
 * "FILE:1: what is wrong" (never showing the key).  Exits 78 if it is
 * missing, readable by others or wrong.
 */
static void
read_auth(const char *path)
{
	const char	*why;

	if (*path == '\0')
		return;
	if (secret_read("webrelay_auth_file", path, auth, sizeof(auth)) == -1)
		exit(EX_CONFIG);
	if ((why = auth_invalid(auth)) != NULL)
		secret_refuse(path, why, auth, sizeof(auth));
}

int
main(int argc, char **argv)
{
	struct privsep		 ps;
	struct event_base	*base;
	const char		*ca;
	int			 ping_sock;

	daemon_setup(&wd, "webrelayd", argc, argv);
	if (wd.conf.webrelay_url[0] == '\0') {
		fprintf(stderr, "webrelayd: webrelay_url is not set in %s: "
		    "there is no WebSmtp service to post to\n", wd.conf_path);
		exit(EX_CONFIG);
	}
	post_global_init();
	if (privsep_init(&ps, wd.conf.webrelay_user) == -1)
		exit(EX_CONFIG);
	read_auth(wd.conf.webrelay_auth_file);
	if (log_chown(ps.uid, ps.gid) == -1)
		fatal("chown log file");
	ping_sock = daemon_ping_open(&wd, &ps);
	daemon_detach(&wd);
	privsep_drop(&ps, "/", 0);
	ca = wd.conf.webrelay_ca_file;
	if (ca[0] != '\0' && access(ca, R_OK) == -1)
		log_warn("webrelay_ca_file %s: every post will fail", ca);
	post_init(&wd.conf, auth);
	explicit_bzero(auth, sizeof(auth));

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	daemon_ping_serve(base, ping_sock, "webrelayd");
	daemon_signals(base);
	posts = workq_new(base, 1, post_message, post_done, NULL, 0);
	log_event("event=start auth=%s timeout=%lld",
	    post_uses_basic() ? "basic" : "licence", wd.conf.webrelay_timeout);
	agent_start(base, &wd.conf, &agent_ops);
	event_base_dispatch(base);
	log_event("event=stop");
	return 0;
}
