/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * lookup.h: the two questions smtpd asks about people, behind one
 * interface: "is this password good?" and "does this recipient exist?".
 * Local tables answer now; delegated (another SMTP server) can answer
 * later through the same calls.  The answer comes through the callback,
 * possibly before the call returns; smtpd waits either way.
 */
#ifndef FERRY_LOOKUP_H
#define FERRY_LOOKUP_H

struct mailaddr;
struct session;

enum lookup_result {
	LOOKUP_YES,
	LOOKUP_NO,
	LOOKUP_TEMP		/* cannot say now: a 4xx */
};

/* text: the delegate's reason for a refusal, when it is passed on. */
typedef void (*lookup_cb)(struct session *, enum lookup_result,
	    const char *);

struct event_base;

void	 lookup_init(struct event_base *);
void	 lookup_cancel(struct session *);
int	 lookup_can_auth(void);
void	 lookup_auth(struct session *, const char *, const char *, lookup_cb);
void	 lookup_rcpt(struct session *, const struct mailaddr *, lookup_cb);

/* dclient.c: the same questions, asked of delegated. */
void	 dclient_auth(struct session *, const char *, const char *,
	    lookup_cb);
void	 dclient_rcpt(struct session *, const char *, lookup_cb);
void	 dclient_cancel(struct session *);

#endif
