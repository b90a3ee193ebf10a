/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * delegated.h: the delegate daemon's shared types (doc/delegated.md).
 */
#ifndef FERRY_DELEGATED_H
#define FERRY_DELEGATED_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "workq.h"

#define DELEG_TEXT_MAX	256
#define DELEG_KEY_MAX	(ADDR_MAX + 3)
#define DELEG_IDLE_SECS	10	/* a pooled connection idle this long: QUIT */

enum probe_kind {
	PROBE_AUTH,		/* are these credentials good? */
	PROBE_RCPT		/* would you accept this recipient? */
};

struct event_base;
struct ipc_conn;
struct ipc_frame;

/* Someone waiting for a probe's answer. */
struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct ipc_conn		*conn;		/* NULL once it went away */
	uint32_t		 reqid;
};

/*
 * One question for the delegate.  A worker thread fills in the answer;
 * everything else belongs to the event loop.
 */
struct probe {
	struct workq_item	 item;		/* first: the queue's link */
	TAILQ_ENTRY(probe)	 entry;		/* in flight, or rate-limited */
	enum probe_kind		 kind;
	int			 selfcheck;	/* a made-up address: no cache */
	char			 key[DELEG_KEY_MAX];	/* address, or HMAC */
	char			 user[256];	/* AUTH: the name to send */
	char			 password[256];	/* AUTH: wiped after use */
	char			 address[DELEG_KEY_MAX];	/* RCPT */
	char			 sender[DELEG_KEY_MAX];		/* RCPT */
	TAILQ_HEAD(, waiter)	 waiters;
	/* the answer */
	int			 result;	/* DELEG_YES, _NO, _TEMP */
	int			 misconfigured;	/* AUTH is off at the delegate */
	char			 reply[DELEG_TEXT_MAX];	/* the delegate's */
	char			 server[300];	/* who answered */
};

/* delegated.c */
const struct config	*deleg_conf(void);

/* serve.c */
void	 serve_init(struct event_base *);
void	 serve_selfcheck(void);
void	 serve_smtpd_frame(struct ipc_conn *, struct ipc_frame *);
void	 serve_control_frame(struct ipc_conn *, struct ipc_frame *);
void	 serve_conn_closed(struct ipc_conn *);

/* probe.c (worker threads) */
int	 probe_init(const struct config *);
void	 probe_run(struct workq_item *);
void	 probe_idle(void);

/* cache.c */
struct cache_entry {
	int		 result;	/* DELEG_YES or DELEG_NO */
	time_t		 stored;
	time_t		 expires;
	char		 text[DELEG_TEXT_MAX];
};
void	 cache_init(const char *);
const struct cache_entry *cache_get(const char *);
void	 cache_put(const char *, int, const char *);
int	 cache_forget(const char *);
void	 cache_save(void);
void	 cache_foreach(void (*)(const char *, const struct cache_entry *,
	    void *), void *);
void	 auth_key(const char *, const char *, char *, size_t);
int	 auth_cached(const char *);
void	 auth_remember(const char *);
int	 auth_refused(const char *);
void	 auth_failed(const char *);
void	 auth_succeeded(const char *);

#endif
