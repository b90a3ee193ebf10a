/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * websmtp.c: the WebSmtp policy (DESIGN.md, "A message's way through").
 *
 * A recipient relayd reports unreachable or relay-refused goes to
 * webrelayd when all of these hold:
 *	- webrelay = yes and webrelay_url is set;
 *	- licensed's latest word is a valid licence with the webrelay
 *	  feature (licensed connects to queued.sock and sends LICENSE_STATE
 *	  whenever that changes; without licensed there is no licence);
 *	- a webrelayd is connected to take the recipient;
 *	- for relay-refused, the message is not the site's own: its sender
 *	  or one of its recipients is outside the local domains (myhostname,
 *	  myorigin, accepted_domains).  Mail between the system and its own
 *	  admins falls back only when the server is unreachable: a refusal
 *	  of such mail is a configuration error the admin must see.
 * Otherwise the result stands as without WebSmtp, and the log says why.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "license_state.h"
#include "log.h"
#include "netaddr.h"
#include "queued.h"
#include "websmtp.h"

static struct license_state_msg	 licence;	/* licensed's latest */
static int			 licensed_up;
static int			 web_agents;	/* webrelayds connected */

/* LICENSE_STATE from licensed; -1 if the frame is malformed. */
int
websmtp_licence(struct ipc_frame *f)
{
	static struct license_state_msg	 m;

	if (license_state_get(f, &m) == -1)
		return -1;
	if (!licensed_up || m.state != licence.state ||
	    strcmp(m.id, licence.id) != 0)
		log_event("event=license state=%s id=%s features=%s",
		    license_state_name(m.state), log_q(m.id),
		    log_q(m.features));
	licence = m;
	licensed_up = 1;
	return 0;
}

void
websmtp_licence_lost(void)
{
	log_event("event=license state=unknown reason=\"licensed went away\"");
	memset(&licence, 0, sizeof(licence));
	licensed_up = 0;
}

/* A webrelayd FETCHed for the first time (1), or went away (-1). */
void
websmtp_agent(int delta)
{
	web_agents += delta;
}

/*
 * May WebSmtp be used at all now?  If not, *why says why.  LATER: what
 * it needs is configured but not there yet (or not again): licensed has
 * not told queued about the licence, or no webrelayd is connected, as
 * after a restart of either.
 */
enum websmtp_verdict
websmtp_ready(const char **why)
{
	const struct config	*conf = queue_conf();
	static char		 msg[sizeof(licence.reason) + 64];

	if (!conf->webrelay)
		*why = "webrelay = no";
	else if (conf->webrelay_url[0] == '\0')
		*why = "webrelay_url is not set";
	else if (!licensed_up) {
		*why = "licensed is not connected";
		return conf->license_files[0] != '\0' ? WEBSMTP_LATER :
		    WEBSMTP_NO;
	} else if (licence.state != LICENSE_VALID) {
		snprintf(msg, sizeof(msg), "licence %s: %s",
		    license_state_name(licence.state), licence.reason);
		*why = msg;
	} else if (!license_feature(licence.features, "webrelay"))
		*why = "the licence lacks the webrelay feature";
	else if (web_agents == 0) {
		*why = "webrelayd is not connected";
		return WEBSMTP_LATER;
	} else
		return WEBSMTP_YES;
	return WEBSMTP_NO;
}

/* The licence text webrelayd presents to the service. */
const char *
websmtp_credential(void)
{
	return licence.text;
}

/* Is the address's domain one of the site's own?  "" (<>) is the system. */
static int
local_address(const char *addr)
{
	const struct config	*conf = queue_conf();
	const char		*at = strrchr(addr, '@');
	const char		*domain;

	if (*addr == '\0')
		return 1;
	domain = at != NULL ? at + 1 : conf->myhostname;
	return strcasecmp(domain, conf->myhostname) == 0 ||
	    strcasecmp(domain, conf->myorigin) == 0 ||
	    word_in_list(conf->accepted_domains, domain);
}

/* Sender and every recipient in the local domains. */
static int
site_mail(const struct envelope *env)
{
	size_t	 i;

	if (!local_address(env->sender))
		return 0;
	for (i = 0; i < env->nrcpt; i++)
		if (!local_address(env->rcpt[i].addr))
			return 0;
	return 1;
}

/*
 * Where should this result of relayd's send the recipient?  Only
 * unreachable and relay-refused are candidates; for those the answer and,
 * unless it is YES, the reason are logged.  LATER makes the caller defer
 * a relay refusal instead of failing it: WebSmtp may well take it once
 * licensed or webrelayd is back.
 */
enum websmtp_verdict
websmtp_route(const struct envelope *env, const struct rcpt *r,
    enum delivery_result result)
{
	enum websmtp_verdict	 v;
	const char		*why;

	if (result != RESULT_UNREACHABLE && result != RESULT_RELAY_REFUSED)
		return WEBSMTP_NO;
	if ((v = websmtp_ready(&why)) == WEBSMTP_YES) {
		if (result == RESULT_UNREACHABLE || !site_mail(env))
			return WEBSMTP_YES;
		v = WEBSMTP_NO;
		why = "local mail falls back only when the server is "
		    "unreachable";
	}
	log_event("event=websmtp-skip id=%s to=%s why=%s%s", env->id,
	    log_q(r->addr), log_q(why), v == WEBSMTP_LATER ?
	    " retry=yes" : "");
	return v;
}
