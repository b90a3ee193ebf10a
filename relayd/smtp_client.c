/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_client.c: one outgoing SMTP session (RFC 5321), the way relayd
 * uses it: open a connection to the best reachable server of a
 * destination, then deliver one message after another on it.
 *
 * EHLO with HELO fallback; STARTTLS by relay_tls; AUTH as the route's
 * credentials say (relay_auth_file): PLAIN or LOGIN with a password when
 * the server offers either, XOAUTH2 or OAUTHBEARER with an access token
 * from the token process (token.c), which is asked before connecting, and
 * once more if the server refuses the token; PIPELINING, SIZE,
 * 8BITMIME and SMTPUTF8 when offered; dot-stuffing while the message
 * streams from its file; a timeout on every step.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "dns.h"
#include "log.h"
#include "oauth.h"
#include "refusal.h"
#include "relayd.h"
#include "smtp_dialog.h"
#include "util.h"

/* Where in the dialogue a reply came: decides what "refused" means. */
enum smtp_stage {
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA
};

struct smtp_session {
	const struct config	*conf;
	struct smtp_conn	 conn;
	int			 broken;	/* the connection is unusable */
	int			 port;		/* the server's, for OAUTHBEARER */
	char			 token[OAUTH_TOKEN_MAX];	/* OAuth2 */
};

static struct smtp_policy	 policy;	/* from the configuration */

const char *
relay_result_name(int result)
{
	static const char *const names[] = {
		"delivered", "temp", "perm", "unreachable", "relay-refused"
	};

	return result >= 0 && result <= RESULT_RELAY_REFUSED ? names[result] : "?";
}

static int
classify(const struct smtp_reply *r, enum smtp_stage stage)
{
	if (r->code == 0)
		return RESULT_TEMP;	/* lost the connection mid-way */
	if (r->code < 400)
		return RESULT_DELIVERED;
	if (r->code < 500)
		return RESULT_TEMP;
	if (stage != STAGE_DATA && reply_is_relay_refusal(r->code, r->text))
		return RESULT_RELAY_REFUSED;
	return RESULT_PERM;
}

/* relay_helo_name, relay_tls and its CA file, relay_command_timeout. */
static int
policy_init(const struct config *conf, char *why, size_t whylen)
{
	if (policy.helo != NULL)
		return 0;
	if (strcmp(conf->relay_tls, "none") != 0 &&
	    (policy.tls_ctx = smtp_tls_context(conf->relay_tls,
	    conf->relay_tls_ca_file, why, whylen)) == NULL)
		return -1;
	policy.helo = conf->relay_helo_name;
	policy.tls = conf->relay_tls;
	policy.timeout = conf->relay_command_timeout;
	return 0;
}

static int
command(struct smtp_session *s, struct smtp_reply *r, const char *cmd)
{
	return smtp_command(&s->conn, r, cmd);
}

static void
log_refusal(const struct smtp_session *s, const char *mech,
    const struct smtp_reply *r)
{
	if ((strcmp(mech, "PLAIN") == 0 || strcmp(mech, "LOGIN") == 0) &&
	    smtp_basic_auth_disabled(r))
		log_event("event=auth-refused relay=%s mechanism=%s reply=%s "
		    "hint=%s", s->conn.io.peer, mech, log_q(r->text),
		    log_q("the server takes no password: give the route "
		    "OAuth2 credentials (oauth in relay_auth_file)"));
	else
		log_event("event=auth-refused relay=%s mechanism=%s reply=%s",
		    s->conn.io.peer, mech, log_q(r->text));
}

/* AUTH PLAIN or LOGIN, if the server offers either (as before OAuth2). */
static int
password_login(struct smtp_session *s, const struct credential *cred,
    struct smtp_reply *r)
{
	if (!(s->conn.ext & (EXT_AUTH_PLAIN | EXT_AUTH_LOGIN)))
		return 0;
	if (smtp_auth(&s->conn, cred->user, cred->password, r) == 0)
		return 0;
	log_refusal(s, s->conn.ext & EXT_AUTH_PLAIN ? "PLAIN" : "LOGIN", r);
	return -1;
}

/* The mechanism for cred on this server: an EXT_AUTH_ flag, or 0. */
static int
bearer_mech(const struct smtp_session *s, const struct credential *cred)
{
	int	 ext = s->conn.ext;

	if (cred->mech == MECH_XOAUTH2)
		return ext & EXT_AUTH_XOAUTH2;
	if (cred->mech == MECH_OAUTHBEARER)
		return ext & EXT_AUTH_OAUTHBEARER;
	if (ext & EXT_AUTH_OAUTHBEARER)
		return EXT_AUTH_OAUTHBEARER;
	return ext & EXT_AUTH_XOAUTH2;
}

/*
 * AUTH with the access token in s; if the server refuses it, once more
 * with a fresh one (the token process drops the refused one).
 */
static int
bearer_login(struct smtp_session *s, const struct credential *cred,
    const char *host, struct smtp_reply *r, char *why, size_t whylen)
{
	int	 mech = bearer_mech(s, cred), tries;
	char	 name[16];

	if (mech == 0) {
		snprintf(why, whylen, "%s offers no AUTH %s", s->conn.io.peer,
		    cred->mech == MECH_AUTO ? "XOAUTH2 or OAUTHBEARER" :
		    credential_mech_name(cred->mech));
		return -1;
	}
	strlcpy(name, mech == EXT_AUTH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER",
	    sizeof(name));
	for (tries = 0; tries < 2; tries++) {
		if (smtp_auth_bearer(&s->conn, mech, cred->user, s->token,
		    host, s->port, r) == 0)
			return 0;
		log_refusal(s, name, r);
		/* the request carries the refused token before the reply
		 * overwrites it with the new one */
		if (r->code == 0 || r->code == 421 || tries > 0 ||
		    token_get(s->conf, cred->route, s->token, s->token,
		    sizeof(s->token), why, whylen) != 0)
			break;
	}
	if (r->code != 0)
		strlcpy(why, r->text, whylen);
	return -1;
}

/* Greeting, EHLO, TLS and AUTH on a fresh connection. */
static int
session_setup(struct smtp_session *s, const struct credential *cred,
    const char *host, char *why, size_t whylen, int *klass)
{
	struct smtp_reply	 r;
	SSL			*ssl = NULL;
	int			 failed;

	*klass = RESULT_UNREACHABLE;
	if (smtp_greet(&s->conn, host, &r, why, whylen) == -1)
		return -1;
	if (s->conn.tls && (ssl = s->conn.io.ssl) != NULL)
		log_event("event=tls relay=%s version=%s cipher=%s",
		    s->conn.io.peer, SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
	if (cred == NULL)
		return 0;
	strlcpy(why, r.text, whylen);
	if (cred->kind == CRED_PASSWORD)
		failed = password_login(s, cred, &r) == -1;
	else
		failed = bearer_login(s, cred, host, &r, why, whylen) == -1;
	if (!failed)
		return 0;
	/* Wrong credentials are ours to fix: retry later. */
	*klass = RESULT_TEMP;
	if (cred->kind == CRED_PASSWORD)
		strlcpy(why, r.text, whylen);
	return -1;
}

/*
 * An OAuth2 route's access token, before any connection: without one
 * there is no point in connecting.
 */
static int
session_token(struct smtp_session *s, const struct credential *cred,
    char *why, size_t whylen)
{
	char	 text[400];

	if (cred == NULL || cred->kind != CRED_OAUTH)
		return 0;
	if (token_get(s->conf, cred->route, NULL, s->token, sizeof(s->token),
	    text, sizeof(text)) == 0)
		return 0;
	snprintf(why, whylen, "4.7.0 no OAuth2 access token for %s: %s",
	    cred->route, text);
	return -1;
}

/*
 * Connect to the first server of the route that completes the greeting,
 * EHLO, TLS and AUTH (with cred, NULL for none).  NULL with why and
 * *klass when none does.
 */
struct smtp_session *
smtp_open(const struct config *conf, const struct credential *cred,
    const struct route *route, const char *domain, char *why, size_t whylen,
    int *klass)
{
	struct relay_addr	 addrs[DNS_MAX_ADDRS];
	struct smtp_session	*s;
	int			 n, i;

	if (policy_init(conf, why, whylen) == -1) {
		*klass = RESULT_UNREACHABLE;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->conf = conf;
	s->conn.policy = &policy;
	s->port = route->kind == ROUTE_MX ? conf->relay_mx_port : route->port;
	if (session_token(s, cred, why, whylen) == -1) {
		*klass = RESULT_TEMP;
		goto fail;
	}
	n = dns_destination(route, domain, conf->relay_mx_port, addrs, klass,
	    why, whylen);
	for (i = 0; i < n; i++) {
		if (io_connect(&s->conn.io, (struct sockaddr *)&addrs[i].ss,
		    addrs[i].len, addrs[i].peer,
		    conf->relay_connect_timeout) == -1) {
			snprintf(why, whylen, "connect to %s: %s",
			    addrs[i].peer, strerror(errno));
			*klass = RESULT_UNREACHABLE;
			continue;
		}
		log_event("event=connect relay=%s", addrs[i].peer);
		if (session_setup(s, cred, addrs[i].host, why, whylen,
		    klass) == 0)
			return s;
		io_close(&s->conn.io);
	}
fail:
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
	return NULL;
}

int
smtp_usable(const struct smtp_session *s)
{
	return !s->broken;
}

const char *
smtp_peer(const struct smtp_session *s)
{
	return s->conn.io.peer;
}

void
smtp_close(struct smtp_session *s)
{
	struct smtp_reply	 r;

	if (!s->broken)
		command(s, &r, "QUIT");
	io_close(&s->conn.io);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
}

/* Does the message hold any byte over 127?  Then declare 8BITMIME. */
static int
has_8bit(int fd)
{
	unsigned char	 buf[65536];
	ssize_t		 n;
	off_t		 off = 0;
	ssize_t		 i;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < n; i++)
			if (buf[i] & 0x80)
				return 1;
		off += n;
	}
	return 0;
}

static int
addr_is_utf8(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s & 0x80)
			return 1;
	return 0;
}

static void
set_all(struct relay_job *job, int only_pending, int result,
    const char *text)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++) {
		if (only_pending && job->rcpt[i].result != -1)
			continue;
		job->rcpt[i].result = result;
		strlcpy(job->rcpt[i].reply, text, sizeof(job->rcpt[i].reply));
	}
}

/*
 * Write the message, dot-stuffed: a '.' at the start of a line is
 * doubled.  queued stores CRLF only, so CRLF marks line starts; the body
 * is followed by CRLF if it lacks one, then ".".
 */
static int
send_body(struct smtp_session *s, int fd)
{
	char		 in[32768], out[65536 + 2];
	ssize_t		 n, i;
	size_t		 o;
	off_t		 off = 0;
	int		 bol = 1, t = s->conf->relay_data_timeout;
	char		 last = '\n';

	while ((n = pread(fd, in, sizeof(in), off)) > 0) {
		for (i = 0, o = 0; i < n; i++) {
			if (bol && in[i] == '.')
				out[o++] = '.';
			out[o++] = in[i];
			bol = in[i] == '\n';
		}
		last = in[n - 1];
		off += n;
		if (io_write(&s->conn.io, out, o, t) == -1)
			return -1;
	}
	if (n == -1)
		return -1;
	return io_write(&s->conn.io, last == '\n' ? ".\r\n" : "\r\n.\r\n",
	    last == '\n' ? 3 : 5, t);
}

/* MAIL FROM with the parameters the server understands. */
static void
mail_command(struct smtp_session *s, const struct relay_job *job, char *buf,
    size_t size)
{
	char	 params[128] = "";
	int	 utf8;
	size_t	 i;

	if (s->conn.ext & EXT_SIZE)
		snprintf(params, sizeof(params), " SIZE=%lld",
		    (long long)job->size);
	if ((s->conn.ext & EXT_8BITMIME) && has_8bit(job->fd))
		strlcat(params, " BODY=8BITMIME", sizeof(params));
	utf8 = addr_is_utf8(job->sender);
	for (i = 0; i < job->nrcpt; i++)
		utf8 |= addr_is_utf8(job->rcpt[i].addr);
	if (utf8 && (s->conn.ext & EXT_SMTPUTF8))
		strlcat(params, " SMTPUTF8", sizeof(params));
	snprintf(buf, size, "MAIL FROM:<%s>%s\r\n", job->sender, params);
}

/*
 * Send MAIL, each RCPT and DATA and read their replies into r[0..n+1].
 * With PIPELINING (RFC 2920) the commands go out together and the
 * replies are read after; without it each reply is read before the next
 * command, and the transaction stops early when MAIL or every RCPT
 * failed.  A reply never read keeps code 0.  -1 if the connection broke.
 */
static int
envelope_dialogue(struct smtp_session *s, struct relay_job *job,
    struct smtp_reply *r)
{
	char	 cmd[SMTP_LINE_MAX];
	int	 t = s->conf->relay_command_timeout;
	int	 pipelined = (s->conn.ext & EXT_PIPELINING) != 0;
	size_t	 i, n = job->nrcpt + 2, accepted = 0;

	for (i = 0; i < n; i++) {
		if (i == 0)
			mail_command(s, job, cmd, sizeof(cmd));
		else if (i < n - 1)
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n",
			    job->rcpt[i - 1].addr);
		else if (!pipelined && accepted == 0)
			return 0;
		else
			strlcpy(cmd, "DATA\r\n", sizeof(cmd));
		if (io_write(&s->conn.io, cmd, strlen(cmd), t) == -1)
			return -1;
		if (pipelined)
			continue;
		if (io_read_reply(&s->conn.io, &r[i], t) == -1)
			return -1;
		if (i == 0 && r[0].code >= 300)
			return 0;
		if (i > 0 && r[i].code >= 200 && r[i].code < 300)
			accepted++;
	}
	for (i = 0; pipelined && i < n; i++)
		if (io_read_reply(&s->conn.io, &r[i], t) == -1)
			return -1;
	return 0;
}

/* Record MAIL and RCPT replies; returns how many recipients were accepted. */
static size_t
envelope_results(struct relay_job *job, const struct smtp_reply *r)
{
	size_t	 i, accepted = 0;

	if (r[0].code >= 300) {
		set_all(job, 0, classify(&r[0], STAGE_MAIL), r[0].text);
		return 0;
	}
	for (i = 0; i < job->nrcpt; i++) {
		if (r[i + 1].code >= 200 && r[i + 1].code < 300)
			accepted++;
		else {
			job->rcpt[i].result = classify(&r[i + 1], STAGE_RCPT);
			strlcpy(job->rcpt[i].reply, r[i + 1].text,
			    sizeof(job->rcpt[i].reply));
		}
	}
	return accepted;
}

/* Deliver one message on the session; every recipient gets a result. */
void
smtp_deliver(struct smtp_session *s, struct relay_job *job)
{
	struct smtp_reply	*r, *data, final;
	size_t			 accepted, i;

	set_all(job, 0, -1, "");
	r = xcalloc(job->nrcpt + 2, sizeof(*r));
	data = &r[job->nrcpt + 1];
	if (envelope_dialogue(s, job, r) == -1) {
		s->broken = 1;
		set_all(job, 0, RESULT_TEMP, "lost the connection");
		goto done;
	}
	accepted = envelope_results(job, r);
	if (accepted == 0 || data->code != 354) {
		if (accepted > 0)
			set_all(job, 1, classify(data, STAGE_DATA), data->text);
		if (data->code == 354)
			s->broken = 1;	/* DATA cannot be aborted cleanly */
		else if (command(s, &final, "RSET") == -1 || final.code != 250)
			s->broken = 1;
		goto done;
	}
	if (send_body(s, job->fd) == -1 ||
	    io_read_reply(&s->conn.io, &final, s->conf->relay_data_timeout) == -1) {
		s->broken = 1;
		set_all(job, 1, RESULT_TEMP, "lost the connection during DATA");
		goto done;
	}
	set_all(job, 1, classify(&final, STAGE_DATA), final.text);
	if (final.code == 421)
		s->broken = 1;
done:
	/* 421: the server is closing the connection (RFC 5321 3.8). */
	for (i = 0; i < job->nrcpt + 2; i++)
		if (r[i].code == 421)
			s->broken = 1;
	free(r);
}
