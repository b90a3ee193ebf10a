/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * probe.c: the SMTP dialogues with the delegate, run by worker threads
 * (one connection each at most, so delegate_connections threads mean
 * that many connections).
 *
 * Recipient probes share a pool of open connections, the one used last
 * first, so that probes one after another all go over one connection
 * and a second opens only when probes run at once: MAIL, RCPT, RSET,
 * never DATA.  An AUTH probe uses a fresh connection for one attempt.
 * At most delegate_connections are open in all: a worker needing a new
 * one when that many are open first closes an idle one.  Servers are tried in the order of
 * delegate_servers; one that cannot be reached is skipped for
 * delegate_dead_time.  Nothing here logs: the event loop does, from the
 * probe's answer.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "delegated.h"
#include "ipc.h"
#include "netaddr.h"
#include "smtp_dialog.h"
#include "util.h"

#define SERVERS_MAX	8

struct server {
	char	 host[256];
	int	 port;
	time_t	 dead_until;		/* under lock */
};

static struct server		 servers[SERVERS_MAX];
static int			 nservers;
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static struct smtp_policy	 policy;
static time_t			 dead_time;

/* Open connections for recipient probes, not in use; under lock. */
static struct smtp_conn		*idle[DELEGATE_MAX_CONNECTIONS];
static time_t			 idle_since[DELEGATE_MAX_CONNECTIONS];
static int			 nidle, nopen, max_open;

int
probe_init(const struct config *conf)
{
	const char	*list = conf->delegate_servers;
	char		 word[300], why[256];

	while (nservers < SERVERS_MAX && word_next(&list, word,
	    sizeof(word)) == 1)
		if (hostport_parse(word, servers[nservers].host,
		    sizeof(servers[nservers].host), 25,
		    &servers[nservers].port) == 0)
			nservers++;
	max_open = conf->delegate_connections;
	if (max_open > (int)(sizeof(idle) / sizeof(idle[0])))
		max_open = sizeof(idle) / sizeof(idle[0]);
	policy.helo = conf->myhostname;
	policy.tls = conf->delegate_tls;
	policy.timeout = conf->delegate_timeout;
	dead_time = conf->delegate_dead_time;
	if (strcmp(policy.tls, "none") != 0 &&
	    (policy.tls_ctx = smtp_tls_context(policy.tls,
	    conf->delegate_tls_ca_file, why, sizeof(why))) == NULL) {
		fprintf(stderr, "delegated: %s\n", why);
		return -1;
	}
	return 0;
}

static int
server_alive(int i, time_t now)
{
	int	 alive;

	pthread_mutex_lock(&lock);
	alive = servers[i].dead_until <= now;
	pthread_mutex_unlock(&lock);
	return alive;
}

static void
server_dead(int i)
{
	pthread_mutex_lock(&lock);
	servers[i].dead_until = time(NULL) + dead_time;
	pthread_mutex_unlock(&lock);
}

/* Connect to server i and greet it: 0, or -1 with why. */
static int
open_server(struct smtp_conn *c, int i, char *why, size_t whylen)
{
	struct addrinfo		 hints, *res, *ai;
	struct smtp_reply	 r;
	char			 port[8], peer[300];
	int			 err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", servers[i].port);
	if ((err = getaddrinfo(servers[i].host, port, &hints, &res)) != 0) {
		snprintf(why, whylen, "%s: %s", servers[i].host,
		    gai_strerror(err));
		return -1;
	}
	err = -1;
	for (ai = res; ai != NULL && err == -1; ai = ai->ai_next) {
		snprintf(peer, sizeof(peer), "%s:%d", servers[i].host,
		    servers[i].port);
		if (io_connect(&c->io, ai->ai_addr, ai->ai_addrlen, peer,
		    policy.timeout) == -1) {
			snprintf(why, whylen, "connect to %.200s: %s", peer,
			    strerror(errno));
			continue;
		}
		if (smtp_greet(c, servers[i].host, &r, why, whylen) == 0)
			err = 0;
		else
			io_close(&c->io);
	}
	freeaddrinfo(res);
	return err;
}

static void
conn_close(struct smtp_conn *c, int quit)
{
	struct smtp_reply	 r;

	if (c == NULL)
		return;
	if (quit)
		smtp_command(c, &r, "QUIT");
	io_close(&c->io);
	free(c);
	pthread_mutex_lock(&lock);
	nopen--;
	pthread_mutex_unlock(&lock);
}

/* Room for one more connection: close an idle one if need be. */
static void
make_room(void)
{
	struct smtp_conn	*victim = NULL;

	pthread_mutex_lock(&lock);
	if (nopen >= max_open && nidle > 0) {
		victim = idle[0];	/* the one idle longest */
		nidle--;
		memmove(idle, idle + 1, nidle * sizeof(idle[0]));
		memmove(idle_since, idle_since + 1,
		    nidle * sizeof(idle_since[0]));
	}
	nopen++;
	pthread_mutex_unlock(&lock);
	conn_close(victim, 1);
}

/* A greeted connection to the first live server, or NULL with why. */
static struct smtp_conn *
connect_any(char *why, size_t whylen)
{
	struct smtp_conn	*c;
	time_t			 now = time(NULL);
	int			 i;

	make_room();
	c = xcalloc(1, sizeof(*c));
	c->policy = &policy;
	snprintf(why, whylen, "no delegate server is reachable");
	for (i = 0; i < nservers; i++) {
		if (!server_alive(i, now))
			continue;
		if (open_server(c, i, why, whylen) == 0)
			return c;
		server_dead(i);
	}
	free(c);
	pthread_mutex_lock(&lock);
	nopen--;
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* The idle connection used last, or a new one. */
static struct smtp_conn *
pool_take(char *why, size_t whylen)
{
	struct smtp_conn	*c = NULL;

	pthread_mutex_lock(&lock);
	if (nidle > 0)
		c = idle[--nidle];
	pthread_mutex_unlock(&lock);
	return c != NULL ? c : connect_any(why, whylen);
}

static void
pool_give(struct smtp_conn *c)
{
	pthread_mutex_lock(&lock);
	if (nidle < DELEGATE_MAX_CONNECTIONS) {
		idle_since[nidle] = time(NULL);
		idle[nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&lock);
	if (c != NULL)	/* the pool is full: never write past it */
		conn_close(c, 1);
}

static void
answer(struct probe *p, int result, const struct smtp_reply *r,
    const char *why)
{
	p->result = result;
	strlcpy(p->reply, r != NULL && r->code != 0 ? r->text : why,
	    sizeof(p->reply));
}

/*
 * MAIL, RCPT, RSET on c.  0: answered; 1: answered, but the connection
 * is no longer usable; -1: the connection failed before an answer.
 */
static int
ask_rcpt(struct smtp_conn *c, struct probe *p)
{
	struct smtp_reply	 r;
	char			 cmd[DELEG_KEY_MAX + 16];

	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", p->sender);
	if (smtp_command(c, &r, cmd) == -1)
		return -1;
	if (r.code / 100 != 2)
		answer(p, DELEG_TEMP, &r, NULL);	/* our sender refused */
	else {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", p->address);
		if (smtp_command(c, &r, cmd) == -1)
			return -1;
		answer(p, r.code / 100 == 2 ? DELEG_YES : r.code / 100 == 5 ?
		    DELEG_NO : DELEG_TEMP, &r, NULL);
	}
	return smtp_command(c, &r, "RSET") == 0 && r.code == 250 ? 0 : 1;
}

static void
probe_rcpt(struct probe *p)
{
	struct smtp_conn	*c;
	char			 why[256];
	int			 attempt, r;

	/* a pooled connection the server has closed gets one more try */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((c = pool_take(why, sizeof(why))) == NULL) {
			answer(p, DELEG_TEMP, NULL, why);
			return;
		}
		strlcpy(p->server, c->io.peer, sizeof(p->server));
		if ((r = ask_rcpt(c, p)) == 0) {
			pool_give(c);
			return;
		}
		conn_close(c, 0);
		if (r == 1)
			return;
		answer(p, DELEG_TEMP, NULL, "the delegate closed the "
		    "connection");
	}
}

static void
probe_auth(struct probe *p)
{
	struct smtp_conn	*c;
	struct smtp_reply	 r;
	char			 why[256];

	if ((c = connect_any(why, sizeof(why))) == NULL) {
		answer(p, DELEG_TEMP, NULL, why);
		return;
	}
	strlcpy(p->server, c->io.peer, sizeof(p->server));
	if (!(c->ext & (EXT_AUTH_PLAIN | EXT_AUTH_LOGIN))) {
		p->misconfigured = 1;
		answer(p, DELEG_TEMP, NULL, "the delegate offers no AUTH PLAIN "
		    "or LOGIN");
	} else if (smtp_auth(c, p->user, p->password, &r) == 0)
		answer(p, DELEG_YES, &r, NULL);
	else if (r.code / 100 == 5 && smtp_basic_auth_disabled(&r)) {
		p->misconfigured = 1;
		answer(p, DELEG_TEMP, &r, NULL);
	} else
		answer(p, r.code / 100 == 5 ? DELEG_NO : DELEG_TEMP, &r,
		    "no answer to AUTH");
	conn_close(c, 1);
}

/* In a worker that had no probe for a while: idle connections go. */
void
probe_idle(void)
{
	struct smtp_conn	*old[sizeof(idle) / sizeof(idle[0])];
	time_t			 limit = time(NULL) - DELEG_IDLE_SECS;
	int			 i, n = 0, kept = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nidle; i++) {
		if (idle_since[i] <= limit)
			old[n++] = idle[i];
		else {
			idle_since[kept] = idle_since[i];
			idle[kept++] = idle[i];
		}
	}
	nidle = kept;
	pthread_mutex_unlock(&lock);
	for (i = 0; i < n; i++)
		conn_close(old[i], 1);
}

/* In a worker thread. */
void
probe_run(struct workq_item *item)
{
	struct probe	*p = (struct probe *)item;

	p->reply[0] = '\0';
	if (p->kind == PROBE_AUTH)
		probe_auth(p);
	else
		probe_rcpt(p);
	explicit_bzero(p->password, sizeof(p->password));
}
