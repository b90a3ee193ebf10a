/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_refusal.c: which real servers' 5xx replies to MAIL and RCPT are
 * refusals to relay (WebSmtp may take the mail) and which refuse the
 * address (the sender gets a bounce).
 */
#include <string.h>

#include "../../relayd/refusal.h"
#include "tap.h"

struct reply_case {
	const char	*server;
	const char	*reply;
	int		 relay;
};

static const struct reply_case cases[] = {
	{ "Postfix", "554 5.7.1 <u@example.net>: Relay access denied", 1 },
	{ "Postfix", "550 5.1.1 <u@example.net>: Recipient address "
	    "rejected: User unknown in relay recipient table", 0 },
	{ "Postfix", "550 5.1.1 <u@example.net>: Recipient address "
	    "rejected: User unknown in local recipient table", 0 },
	{ "Postfix, no enhanced codes", "554 <u@example.net>: Relay access "
	    "denied", 1 },
	{ "Postfix, no enhanced codes", "550 <u@example.net>: Recipient "
	    "address rejected: User unknown in relay recipient table", 0 },
	{ "Postfix", "553 5.7.1 <s@example.org>: Sender address rejected: "
	    "not owned by user bob", 1 },
	{ "Postfix", "550 5.1.0 <s@example.org>: Sender address rejected: "
	    "undeliverable address: relay host unreachable", 0 },
	{ "Exchange", "550 5.7.54 SMTP; Unable to relay recipient in "
	    "non-accepted domain", 1 },
	{ "Exchange", "550 5.7.1 Unable to relay", 1 },
	{ "Exchange Online", "550 5.7.64 TenantAttribution; Relay Access "
	    "Denied [DB5EUR03FT010.eop-EUR03.prod.protection.outlook.com]",
	    1 },
	{ "Exchange Online", "530 5.7.57 Client not authenticated to send "
	    "mail. [AM0PR02CA0001.eurprd02.prod.outlook.com]", 1 },
	{ "Exchange Online", "550 5.7.60 SMTP; Client does not have "
	    "permissions to send as this sender", 1 },
	{ "Exchange Online", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
	    "Recipient u@example.net not found by SMTP address lookup", 0 },
	{ "Exchange Online", "550 5.4.1 Recipient address rejected: Access "
	    "denied. AS(201806281) [relay.example.outlook.com]", 0 },
	{ "Gmail", "550-5.7.1 [192.0.2.1] The IP you're using to send mail "
	    "is not authorized to send email directly to our servers. "
	    "Please use the SMTP relay at your service provider instead.", 1 },
	{ "Gmail", "550-5.1.1 The email account that you tried to reach "
	    "does not exist. Please try double-checking the recipient's "
	    "email address for typos or unnecessary spaces.", 0 },
	{ "Gmail", "530-5.7.0 Must issue a STARTTLS command first.", 1 },
	{ "Gmail", "552-5.2.2 The recipient's inbox is out of storage "
	    "space.", 0 },
	{ "Exim", "550 relay not permitted", 1 },
	{ "Exim", "550 Unrouteable address", 0 },
	{ "Exim", "550 5.7.1 relay not permitted", 1 },
	{ "Exim", "550 No Such User Here", 0 },
	{ "Sendmail", "550 5.7.1 <u@example.net>... Relaying denied", 1 },
	{ "Sendmail, no enhanced codes", "550 <u@example.net>... Relaying "
	    "denied", 1 },
	{ "generic", "550 5.7.0 relaying not allowed here", 1 },
	{ "generic", "550 5.7.0 Message rejected by policy", 0 },
	{ "generic", "530 Authentication required", 1 },
	{ "generic", "451 4.7.1 relay temporarily unavailable", 0 },
	{ "generic", "550 5.7.26 Unauthenticated email is not accepted "
	    "from this domain; relay via your provider", 0 },
	{ "malformed code", "550 5.7 relay denied", 1 },
	{ "malformed code", "550 5.7.1234 no such thing", 0 },
};

int
main(void)
{
	size_t	 i;
	int	 code;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		code = (cases[i].reply[0] - '0') * 100 +
		    (cases[i].reply[1] - '0') * 10 + (cases[i].reply[2] - '0');
		ok(reply_is_relay_refusal(code, cases[i].reply) ==
		    cases[i].relay, "%s: %s -> %s", cases[i].server,
		    cases[i].reply, cases[i].relay ? "relay-refused" : "perm");
	}
	return tap_done();
}
