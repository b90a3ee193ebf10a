/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * refusal.c: the policy that decides whether a 5xx reply to MAIL or
 * RCPT refuses to relay (the mail may go by WebSmtp) or refuses the
 * address (the sender gets a bounce).
 *
 * The enhanced status code (RFC 3463) decides when the reply has one:
 *
 *	5.7.1	delivery not authorized (Postfix "Relay access denied",
 *		Sendmail "Relaying denied", Exchange "Unable to relay",
 *		Gmail "not authorized to send email directly")
 *	5.7.54	Exchange: unable to relay recipient in non-accepted domain
 *	5.7.57	Exchange Online: client not authenticated to send
 *		anonymous mail during MAIL FROM
 *	5.7.60	Exchange Online: client may not send as this sender
 *	5.7.64	Exchange Online: TenantAttribution; relay access denied
 *
 * Any other specific code is about something else: 5.1.1 is an unknown
 * user even when the text says "relay recipient table" (Postfix).  Only
 * without a code, or with the catch-all 5.7.0 ("other security
 * status"), does the text decide: a 530 (authentication required,
 * RFC 4954) or the word "relay", unless the reply says the address is
 * unknown.
 */
#include <ctype.h>
#include <string.h>

#include "refusal.h"

/* The detail numbers of 5.7.x that refuse relaying (table above). */
static const int relay_details[] = { 1, 54, 57, 60, 64 };

/*
 * Parse the enhanced status code "C.SSS.DDD" starting the reply text
 * after "550 " (or "550-" for the first line of several).  Returns 0
 * and its parts, or -1 when the reply has none.
 */
static int
enhanced_code(const char *text, int *class, int *subject, int *detail)
{
	int		*part[3] = { class, subject, detail };
	const char	*p = text;
	int		 i, digits;

	if (strlen(p) < 4)
		return -1;
	p += 4;
	for (i = 0; i < 3; i++) {
		*part[i] = 0;
		for (digits = 0; isdigit((unsigned char)*p) && digits < 4;
		    digits++, p++)
			*part[i] = *part[i] * 10 + (*p - '0');
		if (digits == 0 || digits > (i == 0 ? 1 : 3))
			return -1;
		if (i < 2 && *p++ != '.')
			return -1;
	}
	return *p == ' ' || *p == '\0' ? 0 : -1;
}

static int
text_says_relay_refused(int code, const char *text)
{
	if (code == 530)
		return 1;
	return strcasestr(text, "relay") != NULL &&
	    strcasestr(text, "unknown") == NULL;
}

/*
 * code is the reply's three-digit code, text the whole reply as relayd
 * read it ("550 5.7.1 <a@b>: Relay access denied").
 */
int
reply_is_relay_refusal(int code, const char *text)
{
	int	 class, subject, detail;
	size_t	 i;

	if (code < 500 || code > 599)
		return 0;
	if (enhanced_code(text, &class, &subject, &detail) == -1 ||
	    (class == 5 && subject == 7 && detail == 0))
		return text_says_relay_refused(code, text);
	if (class != 5 || subject != 7)
		return 0;
	for (i = 0; i < sizeof(relay_details) / sizeof(relay_details[0]); i++)
		if (detail == relay_details[i])
			return 1;
	return 0;
}
