/*
 * lookup.c: answers to "is this password good?" and "does this recipient
 * exist?" from the local tables.  Every caller goes through here, so a
 * delegate (another SMTP server, through delegated) can be asked instead
 * without touching the protocol code.
 */
#include <sys/types.h>

#include "lookup.h"
#include "password.h"
#include "smtpd.h"
#include "table.h"

int
lookup_can_auth(void)
{
	return table_has_users();
}

void
lookup_auth(struct session *s, const char *user, const char *pass,
    lookup_cb done)
{
	const char	*hash = table_user_hash(user);

	done(s, hash != NULL && password_check(pass, hash) ? LOOKUP_YES :
	    LOOKUP_NO);
}

void
lookup_rcpt(struct session *s, const struct mailaddr *ma, lookup_cb done)
{
	done(s, table_rcpt_known(ma) ? LOOKUP_YES : LOOKUP_NO);
}
