/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * policy.c: who may send what where.  Mail for accepted_domains and the
 * local domains (mydestination) is taken from anyone (if the recipient
 * exists); mail for anywhere else
 * only from authenticated clients or mynetworks on the SMTP port.
 * Addresses arrive here already through the one strict parser.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

int
policy_local_domain(const char *domain)
{
	return word_in_list(smtpd_conf()->mydestination, domain);
}

int
policy_accepted_domain(const char *domain)
{
	return word_in_list(smtpd_conf()->accepted_domains, domain) ||
	    policy_local_domain(domain);
}

/*
 * An address literal is never one of ours, and a local part with '%' or
 * '!' is an old routing trick that a next hop might still honour.
 */
enum rcpt_verdict
policy_rcpt(const struct session *s, const struct mailaddr *ma)
{
	if (!ma->literal && policy_accepted_domain(ma->domain))
		return strpbrk(ma->local, "%!") != NULL ? RCPT_DENIED :
		    RCPT_LOCAL;
	if (s->login[0] != '\0' || (s->trusted && s->kind == LISTEN_SMTP))
		return RCPT_RELAY;
	return RCPT_DENIED;
}

/*
 * smtpd_sender_policy = login: an authenticated user sends as its login
 * (when that is an address) or as login@ one of accepted_domains, or
 * with the null sender.
 */
int
policy_sender_ok(const struct session *s, const struct mailaddr *ma)
{
	char	 addr[ADDR_MAX + 3];

	if (strcmp(smtpd_conf()->smtpd_sender_policy, "any") == 0 ||
	    addr_is_null(ma))
		return 1;
	if (strchr(s->login, '@') != NULL) {
		addr_format(ma, addr, sizeof(addr));
		return strcasecmp(addr, s->login) == 0;
	}
	return strcasecmp(ma->local, s->login) == 0 && !ma->literal &&
	    policy_accepted_domain(ma->domain);
}
