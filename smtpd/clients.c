/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * clients.c: what smtpd remembers about each client address: how many
 * sessions it has open (smtpd_max_sessions_per_ip) and how many AUTH
 * attempts failed in the current hour (smtpd_auth_ip_max_failures).  An
 * entry lives while it has sessions or a failure count to remember.
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <stdlib.h>
#include <time.h>

#include "smtpd.h"
#include "util.h"

#define AUTH_WINDOW	3600	/* seconds a failure is held against an address */

struct client {
	RB_ENTRY(client)	 entry;
	struct netaddr		 addr;
	int			 sessions;
	int			 auth_failures;
	time_t			 window_start;
};

static int
client_cmp(struct client *a, struct client *b)
{
	return netaddr_cmp(&a->addr, &b->addr);
}

RB_HEAD(client_tree, client);
RB_PROTOTYPE(client_tree, client, entry, client_cmp)
RB_GENERATE(client_tree, client, entry, client_cmp)

static struct client_tree	 clients = RB_INITIALIZER(&clients);

static void
client_expire(struct client *c, time_t now)
{
	if (c->auth_failures > 0 && now - c->window_start >= AUTH_WINDOW)
		c->auth_failures = 0;
}

/* The entry for addr, with one more session counted. */
struct client *
client_get(const struct netaddr *addr)
{
	struct client	 key, *c;

	key.addr = *addr;
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->addr = *addr;
		RB_INSERT(client_tree, &clients, c);
	}
	c->sessions++;
	return c;
}

/* A session of c ended. */
void
client_put(struct client *c)
{
	c->sessions--;
	client_expire(c, time(NULL));
	if (c->sessions == 0 && c->auth_failures == 0) {
		RB_REMOVE(client_tree, &clients, c);
		free(c);
	}
}

int
client_sessions(const struct client *c)
{
	return c->sessions;
}

int
client_auth_refused(struct client *c)
{
	client_expire(c, time(NULL));
	return c->auth_failures >= smtpd_conf()->smtpd_auth_ip_max_failures;
}

void
client_auth_failed(struct client *c)
{
	time_t	 now = time(NULL);

	client_expire(c, now);
	if (c->auth_failures++ == 0)
		c->window_start = now;
}

/* Drop addresses with no session whose failures have run out. */
void
clients_sweep(void)
{
	struct client	*c, *next;
	time_t		 now = time(NULL);

	RB_FOREACH_SAFE(c, client_tree, &clients, next) {
		client_expire(c, now);
		if (c->sessions == 0 && c->auth_failures == 0) {
			RB_REMOVE(client_tree, &clients, c);
			free(c);
		}
	}
}
