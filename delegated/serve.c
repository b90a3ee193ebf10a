/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * serve.c: delegated's event loop side: questions from smtpd and from
 * ferryctl, the cache, one probe per question in flight, the rate limit.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "delegated.h"
#include "ipc_server.h"
#include "log.h"
#include "netaddr.h"
#include "util.h"

TAILQ_HEAD(probe_list, probe);

static struct probe_list	 in_flight = TAILQ_HEAD_INITIALIZER(in_flight);
static struct probe_list	 held = TAILQ_HEAD_INITIALIZER(held);
static struct workq		*probes;
static struct event		*tick;
static char			 catchall[256];	/* domains that take anything */
static int			 selfchecked;
static double			 tokens;
static struct timespec		 last_fill;

static void	 probe_done(struct workq_item *);
static void	 probe_sender(struct probe *, const char *);

static void
reply_answer(struct ipc_conn *c, uint32_t reqid, int result, const char *text)
{
	struct ipc_frame	 f;

	ipc_frame_init(&f, IPC_DELEG_ANSWER, reqid);
	ipc_put_u32(&f, result);
	ipc_put_str(&f, text);
	ipc_conn_send(c, &f, -1);
}

/*
 * What smtpd may pass on of a refusal (delegate_reject_text = pass): the
 * delegate's text without its reply code and enhanced status code, which
 * smtpd supplies itself (550 5.1.1).  "" in the default fixed mode.
 */
static const char *
refusal_text(const char *reply)
{
	const char	*p = reply;
	size_t		 n;

	if (strcmp(deleg_conf()->delegate_reject_text, "pass") != 0)
		return "";
	if (strspn(p, "0123456789") == 3 && p[3] == ' ')
		p += 4;
	n = strspn(p, "0123456789.");
	if (n >= 5 && p[n] == ' ' && p[1] == '.')
		p += n + 1;
	return p;
}

static const char *
result_name(int result)
{
	return result == DELEG_YES ? "yes" : result == DELEG_NO ? "no" :
	    "tempfail";
}

/* The token bucket: delegate_rate probes a second, as many in a burst. */
static int
take_token(void)
{
	double		 rate = deleg_conf()->delegate_rate;
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	tokens += rate * ((now.tv_sec - last_fill.tv_sec) +
	    (now.tv_nsec - last_fill.tv_nsec) / 1e9);
	if (tokens > rate)
		tokens = rate;
	last_fill = now;
	if (tokens < 1)
		return 0;
	tokens--;
	return 1;
}

/* Start held probes while tokens last; come back for the rest. */
static void
release_held(evutil_socket_t fd, short events, void *arg)
{
	struct timeval	 tv = { 0, 0 };
	struct probe	*p;

	(void)fd;
	(void)events;
	(void)arg;
	while ((p = TAILQ_FIRST(&held)) != NULL && take_token()) {
		TAILQ_REMOVE(&held, p, entry);
		TAILQ_INSERT_TAIL(&in_flight, p, entry);
		workq_push(probes, &p->item);
	}
	if (!TAILQ_EMPTY(&held)) {
		tv.tv_usec = 1000000 / deleg_conf()->delegate_rate;
		evtimer_add(tick, &tv);
	}
}

void
serve_init(struct event_base *base)
{
	const struct config	*conf = deleg_conf();

	clock_gettime(CLOCK_MONOTONIC, &last_fill);
	tokens = conf->delegate_rate;
	if ((tick = evtimer_new(base, release_held, NULL)) == NULL)
		fatalx("evtimer_new");
	probes = workq_new(base, conf->delegate_connections, probe_run,
	    probe_done, probe_idle, DELEG_IDLE_SECS);
}

static struct probe *
find_probe(enum probe_kind kind, const char *key)
{
	struct probe_list	*lists[] = { &in_flight, &held };
	struct probe		*p;
	size_t			 i;

	for (i = 0; i < 2; i++)
		TAILQ_FOREACH(p, lists[i], entry)
			if (p->kind == kind && strcmp(p->key, key) == 0)
				return p;
	return NULL;
}

static void
add_waiter(struct probe *p, struct ipc_conn *c, uint32_t reqid)
{
	struct waiter	*w;

	if (c == NULL)
		return;
	w = xcalloc(1, sizeof(*w));
	w->conn = c;
	w->reqid = reqid;
	TAILQ_INSERT_TAIL(&p->waiters, w, entry);
}

/*
 * Ask the delegate, unless the same question is already on its way:
 * then c (if any) waits for that answer too.  p is taken over.
 */
static void
start_probe(struct probe *p, struct ipc_conn *c, uint32_t reqid)
{
	struct probe	*same = find_probe(p->kind, p->key);

	if (same != NULL) {
		add_waiter(same, c, reqid);
		explicit_bzero(p, sizeof(*p));
		free(p);
		return;
	}
	TAILQ_INIT(&p->waiters);
	add_waiter(p, c, reqid);
	TAILQ_INSERT_TAIL(&held, p, entry);
	release_held(-1, 0, NULL);
}

/*
 * A made-up address of a delegated domain was accepted: the delegate
 * takes anything (a catch-all, or it rejects later by bounce), so its
 * "yes" means nothing.  Said loudly, and by `ferryctl status`.
 */
static void
selfcheck_done(struct probe *p)
{
	const char	*domain = strchr(p->address, '@') + 1;

	selfchecked = 1;
	if (p->result == DELEG_YES) {
		log_event("event=delegate-catchall domain=%s server=%s "
		    "probe=%s warning=%s", domain, log_q(p->server),
		    p->address, log_q("the delegate accepts made-up "
		    "recipients: its recipient checks are ineffective"));
		if (strstr(catchall, domain) == NULL &&
		    strlen(catchall) + strlen(domain) + 2 < sizeof(catchall)) {
			strlcat(catchall, *catchall ? " " : "", sizeof(catchall));
			strlcat(catchall, domain, sizeof(catchall));
		}
	} else
		log_event("event=selfcheck domain=%s result=%s reply=%s",
		    domain, result_name(p->result), log_q(p->reply));
}

/* At start and daily: probe a random local part of each domain. */
void
serve_selfcheck(void)
{
	const char	*list = deleg_conf()->delegate_recipients;
	char		 domain[256];
	struct probe	*p;

	catchall[0] = '\0';
	if (!deleg_conf()->delegate_selfcheck)
		return;
	while (word_next(&list, domain, sizeof(domain)) == 1) {
		p = xcalloc(1, sizeof(*p));
		p->kind = PROBE_RCPT;
		p->selfcheck = 1;
		snprintf(p->address, sizeof(p->address),
		    "ferry-check-%08x%08x@%s", arc4random(), arc4random(),
		    domain);
		/* a key no real question has: never shared, never cached */
		snprintf(p->key, sizeof(p->key), "!%.300s", p->address);
		probe_sender(p, "");
		start_probe(p, NULL, 0);
	}
}

static void
reply_status(struct ipc_conn *c, uint32_t reqid)
{
	char	 text[400];

	if (*catchall != '\0')
		snprintf(text, sizeof(text), "the delegate accepts made-up "
		    "recipients of %s: recipient checks are ineffective",
		    catchall);
	else
		snprintf(text, sizeof(text), "%s",
		    !deleg_conf()->delegate_selfcheck ? "self-check off" :
		    selfchecked ? "recipient checks effective" :
		    "self-check not done yet");
	reply_answer(c, reqid, *catchall != '\0' ? DELEG_NO : DELEG_YES,
	    text);
}

/* Back from a worker: log, cache, answer every waiter. */
static void
probe_done(struct workq_item *item)
{
	struct probe		*p = (struct probe *)item;
	struct waiter		*w;
	const char		*text = "";

	TAILQ_REMOVE(&in_flight, p, entry);
	if (p->kind == PROBE_AUTH) {
		log_event("event=probe kind=auth user=%s server=%s result=%s "
		    "reply=%s", log_q(p->user), log_q(p->server),
		    result_name(p->result), log_q(p->reply));
		if (p->misconfigured)
			log_event("event=delegate-config server=%s reply=%s "
			    "warning=%s", log_q(p->server), log_q(p->reply),
			    log_q("the delegate refuses basic authentication: "
			    "a configuration problem, not a bad password"));
		if (p->result == DELEG_YES) {
			auth_remember(p->key);
			auth_succeeded(p->user);
		} else if (p->result == DELEG_NO)
			auth_failed(p->user);
	} else if (p->selfcheck) {
		selfcheck_done(p);
	} else {
		log_event("event=probe kind=rcpt address=%s server=%s "
		    "result=%s cache=stored reply=%s", log_q(p->address),
		    log_q(p->server), result_name(p->result),
		    log_q(p->reply));
		/* a temporary failure keeps what was known */
		if (p->result != DELEG_TEMP)
			cache_put(p->key, p->result, p->reply);
		text = p->result == DELEG_NO ? refusal_text(p->reply) : "";
	}
	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, entry);
		if (w->conn != NULL)
			reply_answer(w->conn, w->reqid, p->result, text);
		free(w);
	}
	free(p);
}

/* MAIL FROM of a recipient probe (delegate_probe_sender). */
static void
probe_sender(struct probe *p, const char *client)
{
	const struct config	*conf = deleg_conf();
	const char		*v = conf->delegate_probe_sender;
	const char		*domains = conf->accepted_domains;
	char			 first[256] = "";

	if (strcmp(v, "null") == 0)
		p->sender[0] = '\0';
	else if (strcmp(v, "sender") == 0)
		strlcpy(p->sender, client, sizeof(p->sender));
	else if (*v != '\0')
		strlcpy(p->sender, v, sizeof(p->sender));
	else {
		word_next(&domains, first, sizeof(first));
		snprintf(p->sender, sizeof(p->sender), "postmaster@%s", first);
	}
}

/* RCPT {address, sender}: from the cache, or by a probe. */
static void
handle_rcpt(struct ipc_conn *c, struct ipc_frame *f, int force)
{
	const struct config	*conf = deleg_conf();
	const struct cache_entry *ce;
	struct mailaddr		 ma, ms;
	struct probe		*p;
	char			 addr[IPC_STR_MAX + 1], sender[IPC_STR_MAX + 1];
	const char		*why;

	sender[0] = '\0';
	if (ipc_get_str(f, addr, sizeof(addr)) == -1 || (!force &&
	    ipc_get_str(f, sender, sizeof(sender)) == -1) ||
	    ipc_get_end(f) == -1 || addr_parse(addr, 0, &ma, &why) == -1) {
		ipc_conn_close(c, "bad delegate question");
		return;
	}
	/* the sender may become the probe's MAIL FROM: only an address */
	if (addr_parse(sender, ADDR_ALLOW_NULL, &ms, &why) == -1 ||
	    addr_format(&ms, sender, sizeof(sender)) == -1) {
		ipc_conn_close(c, "bad sender in delegate question");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->kind = PROBE_RCPT;
	addr_format(&ma, p->address, sizeof(p->address));
	strlcpy(p->key, p->address, sizeof(p->key));
	if (!force && (ce = cache_get(p->key)) != NULL) {
		log_event("event=answer kind=rcpt address=%s result=%s "
		    "cache=hit", log_q(p->address), result_name(ce->result));
		reply_answer(c, f->reqid, ce->result,
		    ce->result == DELEG_NO ? refusal_text(ce->text) : "");
		/* past half its life, a "yes" is asked again behind the scenes */
		if (ce->result == DELEG_YES && time(NULL) - ce->stored >
		    conf->delegate_positive_ttl / 2) {
			probe_sender(p, sender);
			start_probe(p, NULL, 0);
		} else
			free(p);
		return;
	}
	probe_sender(p, sender);
	start_probe(p, c, f->reqid);
}

/* The user name the delegate gets (delegate_login_form). */
static void
login_name(const char *user, char *out, size_t size)
{
	const struct config	*conf = deleg_conf();
	const char		*form = conf->delegate_login_form;
	const char		*domains = conf->accepted_domains;
	char			 domain[256];

	if (strcmp(form, "local-part") == 0)
		snprintf(out, size, "%.*s", (int)strcspn(user, "@"), user);
	else if (strcmp(form, "add-domain") == 0 && strchr(user, '@') == NULL) {
		if (*conf->delegate_login_domain != '\0')
			strlcpy(domain, conf->delegate_login_domain,
			    sizeof(domain));
		else
			word_next(&domains, domain, sizeof(domain));
		if (snprintf(out, size, "%s@%s", user, domain) >= (int)size)
			strlcpy(out, user, size);	/* too long: as given */
	} else
		strlcpy(out, user, size);
}

/* AUTH {user, password}: good credentials seen lately, or a probe. */
static void
handle_auth(struct ipc_conn *c, struct ipc_frame *f)
{
	struct probe	*p;
	char		 user[256], password[256];

	if (ipc_get_str(f, user, sizeof(user)) == -1 ||
	    ipc_get_str(f, password, sizeof(password)) == -1 ||
	    ipc_get_end(f) == -1) {
		explicit_bzero(password, sizeof(password));
		ipc_conn_close(c, "bad delegate question");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->kind = PROBE_AUTH;
	login_name(user, p->user, sizeof(p->user));
	auth_key(p->user, password, p->key, sizeof(p->key));
	if (auth_cached(p->key)) {
		log_event("event=answer kind=auth user=%s result=yes "
		    "cache=hit", log_q(p->user));
		reply_answer(c, f->reqid, DELEG_YES, "");
		free(p);
	} else if (auth_refused(p->user)) {
		log_event("event=answer kind=auth user=%s result=no "
		    "cache=too-many-failures", log_q(p->user));
		reply_answer(c, f->reqid, DELEG_NO, "");
		free(p);
	} else {
		strlcpy(p->password, password, sizeof(p->password));
		start_probe(p, c, f->reqid);
	}
	explicit_bzero(password, sizeof(password));
}

void
serve_smtpd_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	if (f->type == IPC_DELEG_AUTH)
		handle_auth(c, f);
	else if (f->type == IPC_DELEG_RCPT)
		handle_rcpt(c, f, 0);
	else
		ipc_conn_close(c, "unexpected frame type");
}

struct list_ctx {
	struct ipc_conn	*conn;
	uint32_t	 reqid;
};

static void
list_one(const char *key, const struct cache_entry *ce, void *arg)
{
	struct list_ctx		*lc = arg;
	struct ipc_frame	 f;

	ipc_frame_init(&f, IPC_DELEG_ENTRY, lc->reqid);
	ipc_put_str(&f, key);
	ipc_put_u32(&f, ce->result);
	ipc_put_u64(&f, ce->expires);
	ipc_put_str(&f, ce->text);
	ipc_conn_send(lc->conn, &f, -1);
}

/* ferryctl delegate test|list|forget. */
void
serve_control_frame(struct ipc_conn *c, struct ipc_frame *f)
{
	struct list_ctx		 lc = { c, f->reqid };
	struct ipc_frame	 end;
	char			 key[IPC_STR_MAX + 1];

	switch (f->type) {
	case IPC_DELEG_TEST:
		handle_rcpt(c, f, 1);
		break;
	case IPC_DELEG_LIST:
		if (ipc_get_end(f) == -1) {
			ipc_conn_close(c, "bad list frame");
			break;
		}
		cache_foreach(list_one, &lc);
		ipc_frame_init(&end, IPC_LIST_END, f->reqid);
		ipc_conn_send(c, &end, -1);
		break;
	case IPC_DELEG_STATUS:
		if (ipc_get_end(f) == -1)
			ipc_conn_close(c, "bad status frame");
		else
			reply_status(c, f->reqid);
		break;
	case IPC_DELEG_FORGET:
		if (ipc_get_str(f, key, sizeof(key)) == -1 ||
		    ipc_get_end(f) == -1) {
			ipc_conn_close(c, "bad forget frame");
			break;
		}
		log_event("event=forget address=%s entries=%d", log_q(key),
		    cache_forget(key));
		cache_save();
		ipc_conn_reply_ok(c, f->reqid);
		break;
	default:
		ipc_conn_close(c, "unexpected frame type");
		break;
	}
}

/* c went away: its questions are still answered, to nobody. */
void
serve_conn_closed(struct ipc_conn *c)
{
	struct probe_list	*lists[] = { &in_flight, &held };
	struct probe		*p;
	struct waiter		*w;
	size_t			 i;

	for (i = 0; i < 2; i++)
		TAILQ_FOREACH(p, lists[i], entry)
			TAILQ_FOREACH(w, &p->waiters, entry)
				if (w->conn == c)
					w->conn = NULL;
}
