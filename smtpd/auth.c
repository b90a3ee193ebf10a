/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * auth.c: AUTH PLAIN and LOGIN (RFC 4954, 4616).
 *
 * Credentials live only in stack buffers that are wiped after the check
 * and never reach a log.  A failure is answered after a delay that grows
 * with the session's failures; smtpd_auth_max_failures end the session,
 * and an address with smtpd_auth_ip_max_failures in the last hour is
 * refused before its credentials are looked at.
 */
#include <sys/types.h>

#include <string.h>
#include <strings.h>

#include "base64.h"
#include "log.h"
#include "lookup.h"
#include "smtpd.h"

#define AUTH_FIELD_MAX	255	/* user names and passwords, in octets */

static void	 auth_check(struct session *, const char *, const char *);

/*
 * Decode a client response; -1 (after a reply) if it is not base64, or
 * holds a NUL where none may be (a NUL would cut the text short).
 */
static ssize_t
decode(struct session *s, const char *in, unsigned char *out, size_t size,
    int nul_ok)
{
	ssize_t	 n;

	if (strcmp(in, "*") == 0) {
		session_enter_state(s, S_COMMAND);
		session_reply(s, "501 5.7.0 Authentication cancelled");
		return -1;
	}
	if ((n = base64_decode(in, out, size - 1)) == -1 ||
	    (!nul_ok && memchr(out, '\0', n) != NULL)) {
		session_enter_state(s, S_COMMAND);
		session_reply(s, "501 5.5.2 Cannot decode response");
		return -1;
	}
	out[n] = '\0';
	return n;
}

/* "authzid NUL authcid NUL passwd" (RFC 4616); authzid empty or same. */
static void
auth_plain(struct session *s, const char *response)
{
	unsigned char	 buf[3 * (AUTH_FIELD_MAX + 1)];
	char		*authz, *user, *pass, *end, *nul;
	ssize_t		 n;

	if ((n = decode(s, response, buf, sizeof(buf), 1)) == -1)
		return;
	authz = (char *)buf;
	end = authz + n;
	user = pass = NULL;
	if ((nul = memchr(authz, '\0', end - authz)) != NULL) {
		user = nul + 1;
		if ((nul = memchr(user, '\0', end - user)) != NULL)
			pass = nul + 1;
	}
	if (pass == NULL || memchr(pass, '\0', end - pass) != NULL ||
	    (*authz != '\0' && strcmp(authz, user) != 0)) {
		session_enter_state(s, S_COMMAND);
		session_reply(s, "501 5.5.2 Bad AUTH PLAIN response");
	} else
		auth_check(s, user, pass);
	explicit_bzero(buf, sizeof(buf));
}

/* A response to our 334 challenge. */
void
auth_response(struct session *s, char *line)
{
	unsigned char	 buf[AUTH_FIELD_MAX + 1];

	switch (s->state) {
	case S_AUTH_PLAIN:
		auth_plain(s, line);
		break;
	case S_AUTH_USER:
		if (decode(s, line, (unsigned char *)s->auth_user,
		    sizeof(s->auth_user), 0) == -1)
			break;
		session_enter_state(s, S_AUTH_PASS);
		session_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		break;
	case S_AUTH_PASS:
		if (decode(s, line, buf, sizeof(buf), 0) != -1)
			auth_check(s, s->auth_user, (const char *)buf);
		explicit_bzero(buf, sizeof(buf));
		break;
	default:
		break;
	}
}

void
auth_command(struct session *s, char *arg)
{
	char	*initial;

	if (s->login[0] != '\0') {
		session_reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (!lookup_can_auth()) {
		session_reply(s, "503 5.5.1 AUTH not available");
		return;
	}
	if (!session_auth_allowed(s)) {
		session_reply(s, "538 5.7.11 Encryption required");
		return;
	}
	if (client_auth_refused(s->client)) {
		log_event("event=auth-refused session=%08x client=%s reason=%s",
		    s->id, s->ip, log_q("too many failures from this address"));
		session_reply(s, "454 4.7.0 Too many authentication failures, "
		    "try later");
		return;
	}
	if ((initial = strchr(arg, ' ')) != NULL)
		*initial++ = '\0';
	if (strcasecmp(arg, "PLAIN") == 0) {
		session_enter_state(s, S_AUTH_PLAIN);
		if (initial == NULL)
			session_reply(s, "334 ");
		else
			auth_plain(s, strcmp(initial, "=") == 0 ? "" : initial);
	} else if (strcasecmp(arg, "LOGIN") == 0) {
		session_enter_state(s, S_AUTH_USER);
		if (initial == NULL)
			session_reply(s, "334 VXNlcm5hbWU6");	/* "Username:" */
		else
			auth_response(s, initial);
	} else
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
}

static void
auth_checked(struct session *s, enum lookup_result r, const char *text)
{
	int	 last;

	(void)text;
	if (r == LOOKUP_YES) {
		log_event("event=auth session=%08x client=%s user=%s "
		    "result=ok", s->id, s->ip, log_q(s->auth_user));
		strlcpy(s->login, s->auth_user, sizeof(s->login));
		session_reply(s, "235 2.7.0 Authentication successful");
		session_resume(s);
		return;
	}
	if (r == LOOKUP_TEMP) {
		log_event("event=auth session=%08x client=%s user=%s "
		    "result=tempfail", s->id, s->ip, log_q(s->auth_user));
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		session_resume(s);
		return;
	}
	s->auth_failures++;
	client_auth_failed(s->client);
	log_event("event=auth session=%08x client=%s user=%s result=failed "
	    "failures=%d", s->id, s->ip, log_q(s->auth_user), s->auth_failures);
	last = s->auth_failures >= smtpd_conf()->smtpd_auth_max_failures;
	session_reply_later(s, smtpd_conf()->smtpd_auth_failure_delay *
	    s->auth_failures, last ? "421 4.7.0 Too many authentication "
	    "failures" : "535 5.7.8 Authentication credentials invalid", last);
}

/* Ask the lookup; the session waits for the answer. */
static void
auth_check(struct session *s, const char *user, const char *pass)
{
	session_enter_state(s, S_COMMAND);
	if (*user == '\0' || strlen(user) >= sizeof(s->auth_user)) {
		session_reply(s, "535 5.7.8 Authentication credentials invalid");
		return;
	}
	if (user != s->auth_user)
		strlcpy(s->auth_user, user, sizeof(s->auth_user));
	session_wait(s);
	lookup_auth(s, user, pass, auth_checked);
}
