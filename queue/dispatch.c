/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * dispatch.c: queued's answers to IPC requests, one function per type.
 *
 * The private socket (other daemons, ferry-control) may create and
 * commit messages, fetch work, report results, list, flush and delete.
 * The public socket (sendmail, any local user) may only submit, list and
 * flush.  A frame that does not parse closes its connection.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bounce.h"
#include "log.h"
#include "queued.h"
#include "sched.h"
#include "store.h"
#include "submit.h"
#include "util.h"
#include "websmtp.h"

/* A message being created on one connection, not yet committed. */
struct pending {
	struct envelope	 env;
	int		 msgfd;		/* ID.msg */
	int		 infd;		/* ID.in (local submission), or -1 */
	long long	 insize;	/* bytes written to ID.in */
	int		 error_class;	/* IPC_ERR_*, when error is set */
	char		 error[ADDR_MAX + 128];	/* why the commit will fail */
};

struct conn_state {
	int		 public;
	int		 fetched;	/* a delivery agent: may hold messages */
	enum delivery_channel channel;	/* its channel, from FETCH */
	int		 licensed;	/* licensed: it tells the licence */
	struct pending	*pending;
};

static struct conn_state *
conn_state(struct ipc_conn *c, int public)
{
	struct conn_state	*cs = c->data;

	if (cs == NULL) {
		cs = xcalloc(1, sizeof(*cs));
		cs->public = public;
		c->data = cs;
	}
	return cs;
}

static void
pending_free(struct pending *p, int discard)
{
	if (discard)
		store_discard(p->env.id);
	if (p->msgfd != -1)
		close(p->msgfd);
	if (p->infd != -1)
		close(p->infd);
	envelope_free(&p->env);
	free(p);
}

/* The commit will fail, for the first reason found. */
static void
pending_refuse(struct pending *p, int class, const char *why)
{
	if (p->error[0] != '\0')
		return;
	p->error_class = class;
	strlcpy(p->error, why, sizeof(p->error));
}

void
queue_conn_closed(struct ipc_conn *c)
{
	struct conn_state	*cs = c->data;

	queue_commit_forget(c);
	if (cs == NULL)
		return;
	if (cs->licensed)
		websmtp_licence_lost();
	if (cs->fetched && cs->channel == CHANNEL_WEB)
		websmtp_agent(-1);
	if (cs->fetched) {
		queue_wake_forget(c);
		sched_release(c);
		queue_wake();		/* what c held is due again */
	}
	if (cs->pending != NULL) {
		log_event("event=abandon id=%s uid=%lu", cs->pending->env.id,
		    (unsigned long)c->uid);
		pending_free(cs->pending, 1);
	}
	free(cs);
	c->data = NULL;
}

/* CREATE / SUBMIT: reserve an ID and pass the file to write. */
static void
handle_create(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	const struct config	*conf = queue_conf();
	struct ipc_frame	 rep;
	struct pending		*p;
	char			 id[QUEUE_ID_LEN + 1];
	int			 fd, give;

	if (ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad create frame");
		return;
	}
	if (cs->pending != NULL) {
		ipc_conn_close(c, "create while a message is open");
		return;
	}
	if (!store_space_ok(conf->queue_min_free)) {
		log_event("event=refuse reason=\"not enough free space\"");
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_NOSPACE,
		    "not enough free space in the queue");
		return;
	}
	if ((fd = store_reserve(id)) == -1) {
		log_warn("cannot create a message file");
		ipc_conn_reply_error(c, f->reqid, errno == ENOSPC ?
		    IPC_ERR_NOSPACE : IPC_ERR_TEMP, "cannot create a message "
		    "file");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	envelope_init(&p->env, id);
	p->msgfd = fd;
	p->infd = -1;
	if (cs->public && (p->infd = store_create_input(id)) == -1) {
		log_warn("id=%s cannot create the input file", id);
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_TEMP,
		    "cannot create a message file");
		pending_free(p, 1);
		return;
	}
	/*
	 * smtpd writes ID.msg itself; a local user's input comes over the
	 * socket instead (SUBMIT_DATA), so no descriptor of the spool ever
	 * reaches a uid queued does not trust.
	 */
	give = -1;
	if (!cs->public && (give = dup(p->msgfd)) == -1) {
		log_warn("dup");
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_TEMP, "out of files");
		pending_free(p, 1);
		return;
	}
	cs->pending = p;
	ipc_frame_init(&rep, IPC_CREATED, f->reqid);
	ipc_put_str(&rep, id);
	ipc_put_u64(&rep, conf->max_message_size);
	ipc_conn_send(c, &rep, give);
}

/* RCPT: no reply; the first bad address fails the commit. */
static void
handle_rcpt(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	const struct config	*conf = queue_conf();
	struct pending		*p = cs->pending;
	char			 addr[IPC_STR_MAX + 1];
	char			 text[sizeof(p->error)];
	const char		*why;

	if (ipc_get_str(f, addr, sizeof(addr)) == -1 ||
	    ipc_get_end(f) == -1 || p == NULL) {
		ipc_conn_close(c, "bad rcpt frame");
		return;
	}
	if (p->error[0] != '\0')
		return;
	if (p->env.nrcpt >= (size_t)conf->max_recipients) {
		pending_refuse(p, IPC_ERR_PERM, "too many recipients");
		return;
	}
	if (queue_add_rcpt(&p->env, addr, cs->public ? conf->myorigin : NULL,
	    &why) == -1) {
		snprintf(text, sizeof(text), "bad recipient %.*s: %s",
		    ADDR_MAX, addr, why);
		pending_refuse(p, IPC_ERR_PERM, text);
	}
}

/*
 * SUBMIT_DATA {bytes}: the next piece of a local submission, appended to
 * ID.in.  queued counts what it writes, so max_message_size holds however
 * the submitter behaves; past it (or on a write error) the input is
 * dropped and its space given back, and the commit fails.  No reply.
 */
static void
handle_submit_data(struct ipc_conn *c, struct ipc_frame *f,
    struct conn_state *cs)
{
	const struct config	*conf = queue_conf();
	struct pending		*p = cs->pending;
	const unsigned char	*data;
	size_t			 n;

	if (ipc_get_bytes(f, &data, &n) == -1 || ipc_get_end(f) == -1 ||
	    p == NULL || p->infd == -1) {
		ipc_conn_close(c, "bad submit-data frame");
		return;
	}
	if (p->error[0] != '\0')
		return;
	if ((long long)n > conf->max_message_size - p->insize)
		pending_refuse(p, IPC_ERR_PERM,
		    "message exceeds max_message_size");
	else if (write_full(p->infd, data, n) == -1) {
		log_warn("id=%s cannot write the input file", p->env.id);
		if (errno == ENOSPC)
			pending_refuse(p, IPC_ERR_NOSPACE,
			    "no space left in the queue");
		else
			pending_refuse(p, IPC_ERR_TEMP,
			    "cannot write the input file");
	} else {
		p->insize += n;
		return;
	}
	if (ftruncate(p->infd, 0) == -1)
		log_warn("id=%s cannot truncate the input file", p->env.id);
}

static void
commit_fail(struct ipc_conn *c, struct conn_state *cs, uint32_t reqid,
    int class, const char *why)
{
	log_event("event=reject id=%s uid=%lu reason=%s", cs->pending->env.id,
	    (unsigned long)c->uid, log_q(why));
	ipc_conn_reply_error(c, reqid, class, why);
	pending_free(cs->pending, 1);
	cs->pending = NULL;
}

/* The common end of COMMIT and SUBMIT_COMMIT: check, sync, rename. */
static void
commit_pending(struct ipc_conn *c, struct conn_state *cs, uint32_t reqid)
{
	const struct config	*conf = queue_conf();
	struct pending		*p = cs->pending;
	struct stat		 st;

	if (p->error[0] != '\0') {
		commit_fail(c, cs, reqid, p->error_class, p->error);
		return;
	}
	if (p->env.nrcpt == 0) {
		commit_fail(c, cs, reqid, IPC_ERR_PERM, "no recipients");
		return;
	}
	if (fstat(p->msgfd, &st) == -1) {
		commit_fail(c, cs, reqid, IPC_ERR_TEMP, "cannot stat message");
		return;
	}
	if (st.st_size > conf->max_message_size) {
		commit_fail(c, cs, reqid, IPC_ERR_PERM,
		    "message exceeds max_message_size");
		return;
	}
	p->env.size = st.st_size;
	p->env.arrival = time(NULL);
	queue_commit_new(c, reqid, &p->env, p->msgfd, p->infd != -1);
	p->msgfd = -1;		/* the commit's now */
	pending_free(p, 0);
	cs->pending = NULL;
}

/* Read the id a commit names and check it is this connection's message. */
static int
get_pending_id(struct ipc_frame *f, struct conn_state *cs)
{
	char	 id[QUEUE_ID_LEN + 2];

	return ipc_get_str(f, id, sizeof(id)) == 0 && cs->pending != NULL &&
	    strcmp(id, cs->pending->env.id) == 0 ? 0 : -1;
}

/* COMMIT {id, sender}: smtpd wrote ID.msg itself. */
static void
handle_commit(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	char		 sender[IPC_STR_MAX + 1];
	const char	*why;

	if (get_pending_id(f, cs) == -1 ||
	    ipc_get_str(f, sender, sizeof(sender)) == -1 ||
	    ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad commit frame");
		return;
	}
	if (queue_set_sender(&cs->pending->env, sender, NULL, &why) == -1) {
		commit_fail(c, cs, f->reqid, IPC_ERR_PERM, why);
		return;
	}
	commit_pending(c, cs, f->reqid);
}

/* SUBMIT_COMMIT {id, sender, login, fullname, flags}: rewrite ID.in. */
static void
handle_submit_commit(struct ipc_conn *c, struct ipc_frame *f,
    struct conn_state *cs)
{
	char			 sender[IPC_STR_MAX + 1], login[64];
	char			 fullname[256];
	uint32_t		 flags;
	struct submit_req	 req;
	struct pending		*p = cs->pending;
	const char		*why;

	if (get_pending_id(f, cs) == -1 ||
	    ipc_get_str(f, sender, sizeof(sender)) == -1 ||
	    ipc_get_str(f, login, sizeof(login)) == -1 ||
	    ipc_get_str(f, fullname, sizeof(fullname)) == -1 ||
	    ipc_get_u32(f, &flags) == -1 || ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad submit-commit frame");
		return;
	}
	/* sendmail's word, not queued's: it goes into a From header */
	if (!unix_name_valid(login)) {
		commit_fail(c, cs, f->reqid, IPC_ERR_PERM,
		    "the login name is not a user name");
		return;
	}
	req.conf = queue_conf();
	req.login = login;
	req.fullname = fullname;
	req.uid = c->uid;
	req.header_rcpts = (flags & SUBMIT_HEADER_RCPTS) != 0;
	p->env.uid = c->uid;
	if (queue_set_sender(&p->env, sender, req.conf->myorigin, &why) == -1) {
		commit_fail(c, cs, f->reqid, IPC_ERR_PERM, why);
		return;
	}
	if (p->error[0] == '\0' &&
	    submit_rewrite(&req, &p->env, p->infd, p->msgfd, &why) == -1) {
		if (errno != 0)
			log_warn("id=%s %s", p->env.id, why);
		commit_fail(c, cs, f->reqid, errno == 0 ? IPC_ERR_PERM :
		    errno == ENOSPC ? IPC_ERR_NOSPACE : IPC_ERR_TEMP, why);
		return;
	}
	commit_pending(c, cs, f->reqid);
}

/*
 * All recipients settled: the sender hears of the failed ones, then the
 * message leaves the queue.  -1 if the bounce could not be committed: the
 * message stays, done, and the next sweep tries again.
 */
static int
message_done(struct qmsg *m)
{
	size_t	 i, delivered = 0, failed = 0;

	if (bounce_wanted(&m->env, BOUNCE_FAILED) &&
	    bounce_commit(&m->env, BOUNCE_FAILED) == -1)
		return -1;
	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.rcpt[i].state == RCPT_DELIVERED)
			delivered++;
		else
			failed++;
	}
	log_event("event=done id=%s delivered=%zu failed=%zu", m->env.id,
	    delivered, failed);
	store_remove(m->env.id);
	sched_remove(m);
	return 0;
}

/*
 * Load a committed envelope at start-up.  One whose recipients are all
 * settled is scheduled too: the first sweep sends its bounce, then
 * removes it, once every envelope is loaded.
 */
void
queue_load(struct envelope *env, void *arg)
{
	(void)arg;
	sched_add(env);
}

static void
log_expired(const struct qmsg *m)
{
	size_t	 i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpt[i].state == RCPT_FAILED)
			log_event("event=expire id=%s to=%s reason=%s",
			    m->env.id, log_q(m->env.rcpt[i].addr),
			    log_q(m->env.rcpt[i].error));
}

/*
 * Tell the sender, once, that the message is still being retried after
 * delay_warning_time.  Returns 1 if the envelope changed.
 */
static int
warn_delayed(struct qmsg *m, time_t now)
{
	long long	 after = queue_conf()->delay_warning_time;

	if (after == 0 || m->env.warned || now - m->env.arrival < after ||
	    !bounce_wanted(&m->env, BOUNCE_DELAYED) ||
	    bounce_commit(&m->env, BOUNCE_DELAYED) == -1)
		return 0;
	m->env.warned = 1;
	return 1;
}

/* Expire, warn, and finish what is done, for every message. */
void
queue_sweep(time_t now)
{
	struct qmsg	*m, *next;
	const char	*step;
	int		 changed;

	for (m = sched_first(); m != NULL; m = next) {
		next = sched_next(m);
		if ((changed = sched_expire(m, now)) > 0)
			log_expired(m);
		if (envelope_done(&m->env) && message_done(m) == 0)
			continue;
		changed |= warn_delayed(m, now);
		if (!changed)
			continue;
		if (store_write_envelope(&m->env, -1, &step) == -1)
			log_warn("id=%s cannot record expiry or warning: %s",
			    m->env.id, step);
		else
			queue_commit_update(NULL, 0);
	}
}

/*
 * FETCH {channel}: hand the oldest message with recipients due on the
 * agent's channel, read-only, with those recipients.
 */
static void
handle_fetch(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	struct ipc_frame	 rep;
	struct qmsg		*m;
	const char		*why;
	uint32_t		 channel;
	size_t			 i, n = 0;
	int			 fd, web_ok;

	if (ipc_get_u32(f, &channel) == -1 || ipc_get_end(f) == -1 ||
	    channel > CHANNEL_LAST) {
		ipc_conn_close(c, "bad fetch frame");
		return;
	}
	if (!cs->fetched && channel == CHANNEL_WEB)
		websmtp_agent(1);
	else if (cs->fetched && channel != cs->channel) {
		ipc_conn_close(c, "fetch on another channel");
		return;
	}
	cs->fetched = 1;
	cs->channel = channel;
	queue_wake_forget(c);
	queue_sweep(time(NULL));
	web_ok = websmtp_ready(&why) == WEBSMTP_YES;
	if ((m = sched_take_due(c, channel, web_ok, time(NULL))) == NULL) {
		ipc_frame_init(&rep, IPC_NO_WORK, f->reqid);
		ipc_conn_send(c, &rep, -1);
		queue_wake_sleep(c);
		return;
	}
	if ((fd = store_open_message(m->env.id, O_RDONLY)) == -1) {
		log_warn("id=%s open message", m->env.id);
		sched_release(c);
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_TEMP,
		    "cannot open message");
		return;
	}
	for (i = 0; i < m->env.nrcpt; i++)
		n += m->handed[i];
	ipc_frame_init(&rep, IPC_WORK, f->reqid);
	ipc_put_str(&rep, m->env.id);
	ipc_put_str(&rep, m->env.sender);
	ipc_put_u64(&rep, m->env.size);
	ipc_put_u32(&rep, n);
	ipc_put_str(&rep, channel == CHANNEL_WEB ? websmtp_credential() : "");
	ipc_conn_send(c, &rep, fd);
	for (i = 0; i < m->env.nrcpt; i++) {
		if (!m->handed[i])
			continue;
		ipc_frame_init(&rep, IPC_WORK_RCPT, f->reqid);
		ipc_put_u32(&rep, i);
		ipc_put_str(&rep, m->env.rcpt[i].addr);
		ipc_conn_send(c, &rep, -1);
	}
	log_event("event=fetch id=%s peer=%s nrcpt=%zu", m->env.id,
	    log_q(c->peer), n);
}

/* Log a result; relayd's failure that sends the recipient to WebSmtp too. */
static void
log_result(const struct qmsg *m, const struct rcpt *r,
    const struct result_info *info, int to_web, const char *text)
{
	if (to_web)
		log_event("event=websmtp id=%s to=%s reason=%s tries=%u "
		    "reply=%s", m->env.id, log_q(r->addr), info->class,
		    r->tries, log_q(text));
	else
		log_event("event=%s id=%s to=%s class=%s tries=%u%s reply=%s",
		    info->event, m->env.id, log_q(r->addr), info->class,
		    r->tries, r->via == CHANNEL_WEB ? " via=websmtp" : "",
		    log_q(text));
}

/*
 * REPORT {id, index, result, text, retry_after}: record one recipient's
 * outcome.  relayd's unreachable or relay-refused may instead send the
 * recipient to WebSmtp (websmtp.c).
 */
static void
handle_report(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	char			 id[QUEUE_ID_LEN + 2], text[IPC_STR_MAX + 1];
	uint32_t		 index, result, retry_after;
	const struct result_info *info;
	struct qmsg		*m;
	struct rcpt		 saved, *r;
	enum websmtp_verdict	 route;
	const char		*step;
	int			 to_web;

	if (ipc_get_str(f, id, sizeof(id)) == -1 ||
	    ipc_get_u32(f, &index) == -1 || ipc_get_u32(f, &result) == -1 ||
	    ipc_get_str(f, text, sizeof(text)) == -1 ||
	    ipc_get_u32(f, &retry_after) == -1 || ipc_get_end(f) == -1 ||
	    (info = sched_result_info(result)) == NULL) {
		ipc_conn_close(c, "bad report frame");
		return;
	}
	m = sched_find(id);
	if (m == NULL || m->owner != c || index >= m->env.nrcpt ||
	    !m->handed[index]) {
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_PERM,
		    "no such recipient in your hands");
		return;
	}
	r = &m->env.rcpt[index];
	saved = *r;
	saved.error = xstrdup(saved.error);
	route = cs->channel == CHANNEL_SMTP ?
	    websmtp_route(&m->env, r, result) : WEBSMTP_NO;
	to_web = route == WEBSMTP_YES;
	if (route == WEBSMTP_LATER && result == RESULT_RELAY_REFUSED) {
		result = RESULT_TEMP;	/* until licensed has spoken */
		info = sched_result_info(result);
	}
	sched_result(m, index, result, text, retry_after, time(NULL));
	if (to_web)
		sched_to_web(m, index);
	log_result(m, r, info, to_web, text);
	if (envelope_done(&m->env) && message_done(m) == 0) {
		free(saved.error);
		ipc_conn_reply_ok(c, f->reqid);
		return;
	}
	if (store_write_envelope(&m->env, -1, &step) == -1) {
		log_warn("id=%s cannot record result: %s", id, step);
		free(r->error);
		*r = saved;
		m->handed[index] = 1;
		m->owner = c;
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_TEMP,
		    "cannot record result");
		return;
	}
	free(saved.error);
	queue_commit_update(c, f->reqid);
	if (r->state == RCPT_DEFERRED)
		queue_wake_at(r->next_try);
	if (m->owner == NULL || to_web)
		queue_wake();	/* due while c held it, or for webrelayd */
}

/* LIST: one LIST_MSG per message, its unsettled LIST_RCPTs, LIST_END. */
static void
handle_list(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	struct ipc_frame	 rep;
	struct qmsg		*m;
	const struct rcpt	*r;
	size_t			 i, n;

	(void)cs;
	if (ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad list frame");
		return;
	}
	queue_sweep(time(NULL));
	for (m = sched_first(); m != NULL; m = sched_next(m)) {
		for (n = 0, i = 0; i < m->env.nrcpt; i++)
			n += m->env.rcpt[i].state != RCPT_DELIVERED;
		ipc_frame_init(&rep, IPC_LIST_MSG, f->reqid);
		ipc_put_str(&rep, m->env.id);
		ipc_put_u64(&rep, m->env.size);
		ipc_put_u64(&rep, m->env.arrival);
		ipc_put_str(&rep, m->env.sender);
		ipc_put_u32(&rep, n);
		ipc_conn_send(c, &rep, -1);
		for (i = 0; i < m->env.nrcpt; i++) {
			r = &m->env.rcpt[i];
			if (r->state == RCPT_DELIVERED)
				continue;
			ipc_frame_init(&rep, IPC_LIST_RCPT, f->reqid);
			ipc_put_str(&rep, r->addr);
			ipc_put_u32(&rep, r->state);
			ipc_put_u64(&rep, r->next_try);
			ipc_put_str(&rep, r->error);
			ipc_put_u32(&rep, r->via);
			ipc_conn_send(c, &rep, -1);
		}
	}
	ipc_frame_init(&rep, IPC_LIST_END, f->reqid);
	ipc_conn_send(c, &rep, -1);
}

/*
 * A flush retries every deferred message now, so one from a local user in
 * a loop would hammer every destination: users' flushes count only once
 * a minute.  Root's (and ferryctl's) always do.
 */
#define FLUSH_USER_INTERVAL	60

static void
handle_flush(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	static time_t	 last_user_flush;
	time_t		 now = time(NULL);
	char		 why[128];

	(void)cs;
	if (ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad flush frame");
		return;
	}
	if (c->uid != 0 && c->uid != geteuid()) {
		if (last_user_flush != 0 &&
		    now - last_user_flush < FLUSH_USER_INTERVAL) {
			snprintf(why, sizeof(why), "the queue was flushed %lld s "
			    "ago; a user may flush it once a minute",
			    (long long)(now - last_user_flush));
			log_event("event=flush-refused uid=%lu",
			    (unsigned long)c->uid);
			ipc_conn_reply_error(c, f->reqid, IPC_ERR_TEMP, why);
			return;
		}
		last_user_flush = now;
	}
	sched_flush();
	log_event("event=flush uid=%lu", (unsigned long)c->uid);
	ipc_conn_reply_ok(c, f->reqid);
	queue_wake();
}

static void
handle_delete(struct ipc_conn *c, struct ipc_frame *f, struct conn_state *cs)
{
	char		 id[QUEUE_ID_LEN + 2];
	struct qmsg	*m;

	(void)cs;
	if (ipc_get_str(f, id, sizeof(id)) == -1 || ipc_get_end(f) == -1) {
		ipc_conn_close(c, "bad delete frame");
		return;
	}
	if ((m = sched_find(id)) == NULL) {
		ipc_conn_reply_error(c, f->reqid, IPC_ERR_PERM,
		    "no such message");
		return;
	}
	log_event("event=delete id=%s uid=%lu", id, (unsigned long)c->uid);
	store_remove(id);
	sched_remove(m);
	ipc_conn_reply_ok(c, f->reqid);
}

/* LICENSE_STATE from licensed, unasked: what WebSmtp may do. */
static void
handle_license_state(struct ipc_conn *c, struct ipc_frame *f,
    struct conn_state *cs)
{
	if (websmtp_licence(f) == -1) {
		ipc_conn_close(c, "bad license-state frame");
		return;
	}
	cs->licensed = 1;
	queue_wake();	/* recipients held for WebSmtp may go either way */
}

/*
 * Who may send a request: on the private socket an administrator (uid
 * 0, queued's own), a delivery agent (relayd, webrelayd) or licensed,
 * told apart by uid (queue_peer_roles); the public socket; smtpd's
 * (which can only put messages in).
 */
#define ON_ADMIN	QUEUE_ROLE_ADMIN
#define ON_AGENT	QUEUE_ROLE_AGENT
#define ON_LICENSED	QUEUE_ROLE_LICENSED
#define ON_PUBLIC	0x10
#define ON_SMTPD	0x20

static const struct {
	uint32_t	 type;
	int		 who;		/* ON_* that may send it */
	void		(*handle)(struct ipc_conn *, struct ipc_frame *,
			    struct conn_state *);
} handlers[] = {
	{ IPC_CREATE,		ON_ADMIN | ON_SMTPD,	handle_create },
	{ IPC_SUBMIT,		ON_PUBLIC,		handle_create },
	{ IPC_RCPT,	ON_ADMIN | ON_PUBLIC | ON_SMTPD, handle_rcpt },
	{ IPC_COMMIT,		ON_ADMIN | ON_SMTPD,	handle_commit },
	{ IPC_SUBMIT_DATA,	ON_PUBLIC,		handle_submit_data },
	{ IPC_SUBMIT_COMMIT,	ON_PUBLIC,		handle_submit_commit },
	{ IPC_FETCH,		ON_ADMIN | ON_AGENT,	handle_fetch },
	{ IPC_REPORT,		ON_ADMIN | ON_AGENT,	handle_report },
	{ IPC_LIST,		ON_ADMIN | ON_PUBLIC,	handle_list },
	{ IPC_FLUSH,		ON_ADMIN | ON_PUBLIC,	handle_flush },
	{ IPC_DELETE,		ON_ADMIN,		handle_delete },
	{ IPC_LICENSE_STATE,	ON_ADMIN | ON_LICENSED,	handle_license_state },
};

static void
dispatch(struct ipc_conn *c, struct ipc_frame *f, int who)
{
	struct conn_state	*cs = conn_state(c, who == ON_PUBLIC);
	size_t			 i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == f->type)
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0]))
		ipc_conn_close(c, "unexpected frame type");
	else if (!(handlers[i].who & who))
		ipc_conn_close(c, "request not allowed on this socket");
	else
		handlers[i].handle(c, f, cs);
	if (f->fd != -1)
		close(f->fd);	/* no request carries a descriptor */
}

void
queue_private_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	dispatch(c, f, queue_peer_roles(c->uid));
}

void
queue_public_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	dispatch(c, f, ON_PUBLIC);
}

void
queue_smtpd_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	dispatch(c, f, ON_SMTPD);
}
