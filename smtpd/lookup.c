/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * lookup.c: answers to "is this password good?" and "does this recipient
 * exist?" from the local tables.  Every caller goes through here, so a
 * delegate (another SMTP server, through delegated) can be asked instead
 * without touching the protocol code.
 *
 * A crypt(3) check costs tens of milliseconds by design, too long to
 * hold every other session up: one worker thread (common/workq.c)
 * computes the hashes.  It sees only copies of the hash and the
 * password; the sessions, the tables and the callbacks stay with the
 * event loop's thread.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lookup.h"
#include "password.h"
#include "smtpd.h"
#include "table.h"
#include "util.h"
#include "workq.h"

struct auth_check {
	struct workq_item	 item;		/* first: the queue's link */
	struct session		*session;	/* NULL once it went away */
	lookup_cb		 done;
	char			 hash[PASSWORD_HASH_MAX];
	char			 password[PASSWORD_MAX + 1];
	int			 known;		/* hash is the user's */
	int			 ok;		/* the worker's answer */
};

static struct workq	*checks;
static char		 decoy_hash[PASSWORD_HASH_MAX];	/* the worker's */

/* In the worker thread: the slow part. */
static void
check_password(struct workq_item *item)
{
	struct auth_check	*c = (struct auth_check *)item;

	if (!c->known && decoy_hash[0] == '\0' &&
	    password_hash("decoy", decoy_hash, sizeof(decoy_hash)) == -1)
		strlcpy(decoy_hash, "*", sizeof(decoy_hash));
	c->ok = password_check(c->password, c->known ? c->hash :
	    decoy_hash) && c->known;
	explicit_bzero(c->password, sizeof(c->password));
}

/* Back in the event loop: answer the session, if it is still there. */
static void
password_checked(struct workq_item *item)
{
	struct auth_check	*c = (struct auth_check *)item;

	if (c->session != NULL) {
		c->session->lookup = NULL;
		c->done(c->session, c->ok ? LOOKUP_YES : LOOKUP_NO, NULL);
	}
	free(c);
}

/* One worker: yescrypt takes 16 MB while it runs. */
void
lookup_init(struct event_base *base)
{
	checks = workq_new(base, 1, check_password, password_checked, NULL,
	    0);
}

/* s is going away: its check may finish, but nobody is told. */
void
lookup_cancel(struct session *s)
{
	if (s->lookup != NULL)
		((struct auth_check *)s->lookup)->session = NULL;
	s->lookup = NULL;
	dclient_cancel(s);
}

int
lookup_can_auth(void)
{
	return table_has_users() || *smtpd_conf()->delegate_auth != '\0';
}

/* Does the delegate check this user's password (delegate_auth)? */
static int
delegated_user(const char *user)
{
	const struct config	*conf = smtpd_conf();
	const char		*at = strrchr(user, '@');
	const char		*domains = conf->accepted_domains;
	char			 first[ADDR_DOMAIN_MAX + 1] = "";

	if (at != NULL)
		return word_in_list(conf->delegate_auth, at + 1);
	if (*conf->delegate_login_domain != '\0')
		return word_in_list(conf->delegate_auth,
		    conf->delegate_login_domain);
	word_next(&domains, first, sizeof(first));
	return word_in_list(conf->delegate_auth, first);
}

/*
 * An unknown user's password is checked against a decoy hash (made by
 * the worker when first needed: a yescrypt hash costs 16 MB while it
 * runs) and then refused, so the answer's timing does not tell who
 * exists.
 */
void
lookup_auth(struct session *s, const char *user, const char *pass,
    lookup_cb done)
{
	struct auth_check	*c;
	const char		*hash = table_user_hash(user);

	/* the local table first; then, if configured, the delegate */
	if (hash == NULL && delegated_user(user)) {
		dclient_auth(s, user, pass, done);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->session = s;
	c->done = done;
	c->known = hash != NULL;
	if (hash != NULL)
		strlcpy(c->hash, hash, sizeof(c->hash));
	strlcpy(c->password, pass, sizeof(c->password));
	s->lookup = c;
	workq_push(checks, &c->item);
}

/*
 * A local domain's recipient exists if locald's table names its local
 * part, folded to lower case, or the part before recipient_delimiter.
 */
static void
local_rcpt(struct session *s, const struct mailaddr *ma, lookup_cb done)
{
	const char	*delim = smtpd_conf()->recipient_delimiter;
	char		 key[sizeof(ma->local)], text[ADDR_MAX + 40], *p;
	int		 r;

	strlcpy(key, ma->local, sizeof(key));
	for (p = key; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	r = table_local_known(key);
	if (r == 0 && strcmp(delim, "none") != 0 &&
	    (p = strchr(key, *delim)) != NULL && p != key) {
		*p = '\0';
		r = table_local_known(key);
	}
	if (r == -1)
		done(s, LOOKUP_TEMP, NULL);
	else if (r == 0) {
		snprintf(text, sizeof(text), "<%s>: no such user here",
		    s->pending_rcpt);
		done(s, LOOKUP_NO, text);
	} else
		done(s, LOOKUP_YES, NULL);
}

/*
 * Local domains: locald's table.  Others: the recipients table first;
 * for delegated domains, then the delegate.
 */
void
lookup_rcpt(struct session *s, const struct mailaddr *ma, lookup_cb done)
{
	char	 addr[ADDR_MAX + 3];

	if (policy_local_domain(ma->domain))
		local_rcpt(s, ma, done);
	else if (!word_in_list(smtpd_conf()->delegate_recipients, ma->domain))
		done(s, table_rcpt_known(ma) ? LOOKUP_YES : LOOKUP_NO, NULL);
	else if (table_rcpt_listed(ma))
		done(s, LOOKUP_YES, NULL);
	else if (addr_format(ma, addr, sizeof(addr)) == -1)
		done(s, LOOKUP_NO, NULL);
	else
		dclient_rcpt(s, addr, done);
}
