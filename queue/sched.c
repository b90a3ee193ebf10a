/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * sched.c: when each recipient is due, and who holds it.
 *
 * A message is handed to one delivery agent at a time (owner); the
 * recipients due at that moment are marked as handed, and each report
 * settles one of them.  If the agent goes away, its messages become
 * available again: delivery is at least once, never zero times.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "sched.h"
#include "util.h"

int	 qmsg_cmp(struct qmsg *, struct qmsg *);

/* Not _STATIC: libbsd does not define the __unused that variant needs. */
RB_HEAD(qmsg_tree, qmsg);
RB_PROTOTYPE(qmsg_tree, qmsg, by_id, qmsg_cmp)
RB_GENERATE(qmsg_tree, qmsg, by_id, qmsg_cmp)

static struct qmsg_tree		 sched_tree = RB_INITIALIZER(&sched_tree);
static TAILQ_HEAD(, qmsg)	 sched_list =
    TAILQ_HEAD_INITIALIZER(sched_list);
static const struct config	*sched_conf;
static size_t			 sched_n;

int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return strcmp(a->env.id, b->env.id);
}

void
sched_init(const struct config *conf)
{
	sched_conf = conf;
}

/*
 * A recipient of a local domain (mydestination) is locald's, always: its
 * channel follows from its address, so the envelope does not record it.
 */
static void
assign_local(struct envelope *env)
{
	const char	*at;
	size_t		 i;

	for (i = 0; i < env->nrcpt; i++) {
		at = strrchr(env->rcpt[i].addr, '@');
		if (at != NULL &&
		    word_in_list(sched_conf->mydestination, at + 1))
			env->rcpt[i].via = CHANNEL_LOCAL;
	}
}

/* Schedule a committed message; takes over the envelope's contents. */
struct qmsg *
sched_add(struct envelope *env)
{
	struct qmsg	*m;

	m = xcalloc(1, sizeof(*m));
	m->env = *env;
	memset(env, 0, sizeof(*env));
	assign_local(&m->env);
	m->handed = xcalloc(m->env.nrcpt, 1);
	RB_INSERT(qmsg_tree, &sched_tree, m);
	TAILQ_INSERT_TAIL(&sched_list, m, by_arrival);
	sched_n++;
	return m;
}

void
sched_remove(struct qmsg *m)
{
	RB_REMOVE(qmsg_tree, &sched_tree, m);
	TAILQ_REMOVE(&sched_list, m, by_arrival);
	sched_n--;
	envelope_free(&m->env);
	free(m->handed);
	free(m);
}

struct qmsg *
sched_find(const char *id)
{
	struct qmsg	 key;

	memset(&key, 0, sizeof(key));
	strlcpy(key.env.id, id, sizeof(key.env.id));
	return RB_FIND(qmsg_tree, &sched_tree, &key);
}

struct qmsg *
sched_first(void)
{
	return TAILQ_FIRST(&sched_list);
}

struct qmsg *
sched_next(struct qmsg *m)
{
	return TAILQ_NEXT(m, by_arrival);
}

size_t
sched_count(void)
{
	return sched_n;
}

static int
rcpt_due(const struct rcpt *r, time_t now)
{
	return r->state == RCPT_PENDING ||
	    (r->state == RCPT_DEFERRED && r->next_try <= now);
}

/* The oldest message nobody holds with a recipient due; NULL if none. */
struct qmsg *
sched_first_due(time_t now)
{
	struct qmsg	*m;
	size_t		 i;

	TAILQ_FOREACH(m, &sched_list, by_arrival) {
		if (m->owner != NULL)
			continue;
		for (i = 0; i < m->env.nrcpt; i++)
			if (rcpt_due(&m->env.rcpt[i], now))
				return m;
	}
	return NULL;
}

/*
 * Is r due now for an agent of channel ch?  A recipient sent to WebSmtp
 * goes back to relayd when WebSmtp may not be used any more (web_ok 0:
 * the licence ended, licensed went away, a restart with webrelay = no).
 */
static int
rcpt_due_on(const struct rcpt *r, enum delivery_channel ch, int web_ok,
    time_t now)
{
	if (!rcpt_due(r, now))
		return 0;
	if (r->via == CHANNEL_WEB && !web_ok)
		return ch == CHANNEL_SMTP;
	return r->via == ch;
}

/*
 * Hand the oldest message with recipients due on channel ch to owner;
 * those recipients are marked in m->handed.  NULL if nothing is due.
 */
struct qmsg *
sched_take_due(void *owner, enum delivery_channel ch, int web_ok, time_t now)
{
	struct qmsg	*m;
	size_t		 i, n;

	TAILQ_FOREACH(m, &sched_list, by_arrival) {
		if (m->owner != NULL)
			continue;
		for (n = 0, i = 0; i < m->env.nrcpt; i++) {
			m->handed[i] = rcpt_due_on(&m->env.rcpt[i], ch, web_ok,
			    now);
			n += m->handed[i];
		}
		if (n == 0)
			continue;
		for (i = 0; i < m->env.nrcpt; i++)
			if (m->handed[i])
				m->env.rcpt[i].via = ch;
		m->owner = owner;
		return m;
	}
	return NULL;
}

/* The earliest retry time after now of a deferred recipient; 0 if none. */
time_t
sched_next_retry(time_t now)
{
	struct qmsg		*m;
	const struct rcpt	*r;
	time_t			 next = 0;
	size_t			 i;

	TAILQ_FOREACH(m, &sched_list, by_arrival)
		for (i = 0; i < m->env.nrcpt; i++) {
			r = &m->env.rcpt[i];
			if (r->state == RCPT_DEFERRED && r->next_try > now &&
			    (next == 0 || r->next_try < next))
				next = r->next_try;
		}
	return next;
}

/* The owner went away: what it held is available again. */
void
sched_release(void *owner)
{
	struct qmsg	*m;

	TAILQ_FOREACH(m, &sched_list, by_arrival) {
		if (m->owner != owner)
			continue;
		m->owner = NULL;
		memset(m->handed, 0, m->env.nrcpt);
	}
}

#define RETRY_AFTER_MAX	86400	/* an agent's Retry-After, believed up to */

/*
 * Wait before the next try: the message's age, clamped, with ±10 %
 * jitter; at least what the remote side asked for (Retry-After).
 */
static time_t
sched_backoff(const struct envelope *env, time_t now, uint32_t retry_after)
{
	long long	 delay = now - env->arrival;

	if (delay < sched_conf->retry_min)
		delay = sched_conf->retry_min;
	if (delay > sched_conf->retry_max)
		delay = sched_conf->retry_max;
	delay = delay * (90 + (long long)arc4random_uniform(21)) / 100;
	if (retry_after > RETRY_AFTER_MAX)
		retry_after = RETRY_AFTER_MAX;
	/* now is whole seconds: one more, so the wait is never shorter */
	if (retry_after > 0 && delay <= (long long)retry_after)
		delay = retry_after + 1;
	return now + (delay > 0 ? delay : 1);
}

static const struct result_info	 results[] = {
	[RESULT_DELIVERED] =	 { "delivered", "delivered", "2.0.0" },
	[RESULT_TEMP] =		 { "deferred", "temp", "4.0.0" },
	[RESULT_PERM] =		 { "failed", "perm", "5.0.0" },
	[RESULT_UNREACHABLE] =	 { "deferred", "unreachable", "4.4.1" },
	[RESULT_RELAY_REFUSED] = { "failed", "relay-refused", "5.7.1" }
};

/* How a result is logged and reported; NULL if there is no such result. */
const struct result_info *
sched_result_info(uint32_t result)
{
	if (result >= sizeof(results) / sizeof(results[0]))
		return NULL;
	return &results[result];
}

/*
 * Recipients of one message deferred in the same attempt (same tries,
 * same channel) are retried together, at the time the first one got:
 * one retry then carries them all, and for WebSmtp one post (with its
 * Idempotency-Key) stays one post.
 */
static void
retry_together(struct qmsg *m, size_t i)
{
	struct rcpt	*r = &m->env.rcpt[i], *o;
	size_t		 j;

	for (j = 0; j < m->env.nrcpt; j++) {
		o = &m->env.rcpt[j];
		if (j != i && o->state == RCPT_DEFERRED &&
		    o->tries == r->tries && o->via == r->via &&
		    !m->handed[j]) {
			r->next_try = o->next_try;
			return;
		}
	}
}

/* Record a result; retry_after (seconds) delays a temporary failure. */
void
sched_result(struct qmsg *m, size_t i, enum delivery_result result,
    const char *text, uint32_t retry_after, time_t now)
{
	struct rcpt	*r = &m->env.rcpt[i];

	m->handed[i] = 0;
	if (memchr(m->handed, 1, m->env.nrcpt) == NULL)
		m->owner = NULL;
	r->tries++;
	envelope_set_error(r, text);
	envelope_set_status(r, text, results[result].status);
	switch (result) {
	case RESULT_DELIVERED:
		r->state = RCPT_DELIVERED;
		break;
	case RESULT_TEMP:
	case RESULT_UNREACHABLE:
		r->state = RCPT_DEFERRED;
		r->next_try = sched_backoff(&m->env, now, retry_after);
		retry_together(m, i);
		break;
	case RESULT_PERM:
	case RESULT_RELAY_REFUSED:
		r->state = RCPT_FAILED;
		break;
	}
}

/* After sched_result(): the recipient goes to WebSmtp, due now. */
void
sched_to_web(struct qmsg *m, size_t i)
{
	struct rcpt	*r = &m->env.rcpt[i];

	r->via = CHANNEL_WEB;
	r->state = RCPT_DEFERRED;
	r->next_try = 0;
}

/*
 * Fail the undelivered recipients of a message older than its lifetime
 * (bounce_lifetime for the null sender).  Returns how many it failed.
 */
int
sched_expire(struct qmsg *m, time_t now)
{
	long long	 lifetime;
	struct rcpt	*r;
	char		 why[600];
	size_t		 i;
	int		 n = 0;

	lifetime = m->env.sender[0] == '\0' ? sched_conf->bounce_lifetime :
	    sched_conf->queue_lifetime;
	if (m->owner != NULL || now - m->env.arrival < lifetime)
		return 0;
	for (i = 0; i < m->env.nrcpt; i++) {
		r = &m->env.rcpt[i];
		if (r->state != RCPT_PENDING && r->state != RCPT_DEFERRED)
			continue;
		snprintf(why, sizeof(why), "expired after %lld s in the queue%s%s",
		    (long long)(now - m->env.arrival),
		    r->error[0] != '\0' ? "; last error: " : "", r->error);
		r->state = RCPT_FAILED;
		envelope_set_error(r, why);
		/* RFC 3463: delivery time expired */
		strlcpy(r->status, "4.4.7", sizeof(r->status));
		n++;
	}
	return n;
}

/* Make every deferred recipient due now. */
void
sched_flush(void)
{
	struct qmsg	*m;
	size_t		 i;

	TAILQ_FOREACH(m, &sched_list, by_arrival)
		for (i = 0; i < m->env.nrcpt; i++)
			if (m->env.rcpt[i].state == RCPT_DEFERRED)
				m->env.rcpt[i].next_try = 0;
}
