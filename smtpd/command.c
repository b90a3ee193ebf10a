/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * command.c: the SMTP verbs (RFC 5321, with RFC 1870 SIZE, RFC 3030
 * CHUNKING, RFC 6531 SMTPUTF8) and their replies (doc/smtpd.md).
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "lookup.h"
#include "smtpd.h"
#include "table.h"
#include "util.h"

#define BDAT_MAX	(1LL << 40)	/* larger chunks are a syntax error */
#define HARVEST_FREE	2	/* unknown recipients answered at once */
#define HARVEST_DELAY_MAX 5	/* seconds, for each one after those */

/*
 * Where a session is in the dialogue, for the command table: before a
 * greeting (also after TLS starts, RFC 3207 4.2), greeted, or inside a
 * mail transaction.
 */
#define PH_INIT		0x1
#define PH_GREETED	0x2
#define PH_MAIL		0x4
#define PH_ANY		(PH_INIT | PH_GREETED | PH_MAIL)

struct command {
	const char	*verb;
	void		(*handler)(struct session *, char *);
	int		 needs_args;	/* 1 yes, 0 no, -1 either */
	int		 phases;	/* PH_*: where the verb is allowed */
};

static int
needs_auth_for_mail(const struct session *s)
{
	return s->kind != LISTEN_SMTP && s->login[0] == '\0';
}

static int
has_8bit(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	return 0;
}

/* A HELO/EHLO argument: a domain or an address literal, nothing odd. */
static int
valid_helo(const char *arg)
{
	const char	*p;

	if (*arg == '\0' || strlen(arg) > 255)
		return 0;
	for (p = arg; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:[]", *p) == NULL)
			return 0;
	return 1;
}

/* HELO or EHLO: a new start (RFC 5321 4.1.4); -1 after a 501. */
static int
greeted(struct session *s, char *arg, int esmtp)
{
	if (!valid_helo(arg)) {
		session_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	session_reset(s);
	strlcpy(s->helo, arg, sizeof(s->helo));
	s->esmtp = esmtp;
	return 0;
}

static void
cmd_helo(struct session *s, char *arg)
{
	if (greeted(s, arg, 0) == 0)
		session_reply(s, "250 %s", smtpd_conf()->myhostname);
}

static void
cmd_ehlo(struct session *s, char *arg)
{
	const struct config	*conf = smtpd_conf();
	const char		*ext[12];
	size_t			 n = 0, i;

	if (greeted(s, arg, 1) == -1)
		return;
	ext[n++] = "PIPELINING";
	ext[n++] = NULL;		/* SIZE, with its number */
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (!s->tls && smtpd_tls_ctx() != NULL)
		ext[n++] = "STARTTLS";
	if (s->login[0] == '\0' && lookup_can_auth() &&
	    session_auth_allowed(s))
		ext[n++] = "AUTH PLAIN LOGIN";
	ext[n++] = "CHUNKING";
	ext[n++] = "SMTPUTF8";
	session_reply(s, "250-%s", conf->myhostname);
	for (i = 0; i < n; i++) {
		if (ext[i] == NULL)
			session_reply(s, "250%cSIZE %lld", i + 1 < n ? '-' : ' ',
			    conf->max_message_size);
		else
			session_reply(s, "250%c%s", i + 1 < n ? '-' : ' ',
			    ext[i]);
	}
}

/*
 * "FROM:<path> params" (or "TO:"): the path without brackets into *path
 * and the parameters into *params.  The closing '>' is found outside
 * quoted strings, so "<\"a>b\"@c>" is one path.
 */
int
split_path(char *arg, const char *prefix, char **path, char **params)
{
	size_t	 n = strlen(prefix);
	char	*p;
	int	 quoted = 0;

	if (strncasecmp(arg, prefix, n) != 0)
		return -1;
	p = arg + n;
	while (*p == ' ')
		p++;
	if (*p++ != '<')
		return -1;
	*path = p;
	for (; *p != '\0'; p++) {
		if (*p == '\\' && quoted && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '>' && !quoted)
			break;
	}
	if (*p != '>')
		return -1;
	*p++ = '\0';
	if (*p != '\0' && *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	*params = p;
	return 0;
}

/*
 * SIZE=n: a number too long to hold is certainly too big.  -1 if the
 * value is not a number.
 */
int
size_param(const char *v, long long *size)
{
	if (v == NULL || *v == '\0' || strspn(v, "0123456789") != strlen(v))
		return -1;
	*size = strlen(v) > 18 ? LLONG_MAX : strtoll(v, NULL, 10);
	return 0;
}

/* MAIL parameters; 0, or -1 after a reply. */
static int
mail_params(struct session *s, char *params, long long *size)
{
	char		 word[128], *eq;
	const char	*p = params;
	int		 r;

	*size = 0;
	while ((r = word_next(&p, word, sizeof(word))) != 0) {
		if (r == -1)
			goto unsupported;
		if ((eq = strchr(word, '=')) != NULL)
			*eq++ = '\0';
		if (strcasecmp(word, "SIZE") == 0) {
			if (size_param(eq, size) == -1)
				goto bad;
		} else if (strcasecmp(word, "BODY") == 0) {
			if (eq == NULL || (strcasecmp(eq, "7BIT") != 0 &&
			    strcasecmp(eq, "8BITMIME") != 0))
				goto bad;
		} else if (strcasecmp(word, "SMTPUTF8") == 0 && eq == NULL)
			s->smtputf8 = 1;
		else if (strcasecmp(word, "AUTH") == 0 && eq != NULL)
			;	/* RFC 4954 5: we do not trust other servers' word */
		else
			goto unsupported;
	}
	return 0;
bad:
	session_reply(s, "501 5.5.4 Bad value for %s", word);
	return -1;
unsupported:
	session_reply(s, "555 5.5.4 Unsupported parameter");
	return -1;
}

static void
cmd_mail(struct session *s, char *arg)
{
	const struct config	*conf = smtpd_conf();
	struct mailaddr		 ma;
	char			*path, *params;
	const char		*why;
	long long		 size;

	if (needs_auth_for_mail(s)) {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (split_path(arg, "FROM:", &path, &params) == -1) {
		session_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	s->smtputf8 = 0;
	if (mail_params(s, params, &size) == -1)
		return;
	if (size > conf->max_message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds limit");
		return;
	}
	if (addr_parse(path, ADDR_ALLOW_NULL, &ma, &why) == -1) {
		session_reply(s, "501 5.1.7 Bad sender address: %s", why);
		return;
	}
	if (has_8bit(path) && !s->smtputf8) {
		session_reply(s, "553 5.6.7 Address needs SMTPUTF8");
		return;
	}
	if (s->login[0] != '\0' && !policy_sender_ok(s, &ma)) {
		log_event("event=reject session=%08x client=%s login=%s "
		    "sender=%s reason=%s", s->id, s->ip, log_q(s->login),
		    log_q(path), log_q("sender not owned"));
		session_reply(s, "553 5.7.1 Sender address not owned by %s",
		    s->login);
		return;
	}
	addr_format(&ma, s->sender, sizeof(s->sender));
	s->in_mail = 1;
	session_reply(s, "250 2.1.0 Ok");
}

/* 550 5.1.1, or 450 4.1.1 for a local user while testing a set-up. */
static const char *
rcpt_unknown_code(const struct session *s)
{
	const char	*at = strrchr(s->pending_rcpt, '@');

	if (at != NULL && policy_local_domain(at + 1) &&
	    strcmp(smtpd_conf()->local_recipient_reject_code, "450") == 0)
		return "450 4.1.1";
	return "550 5.1.1";
}

static void
rcpt_checked(struct session *s, enum lookup_result r, const char *text)
{
	char	 reply[SMTP_LINE_MAX - 2];
	int	 delay;

	switch (r) {
	case LOOKUP_YES:
		s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1,
		    sizeof(*s->rcpts));
		s->rcpts[s->nrcpt++] = xstrdup(s->pending_rcpt);
		session_reply(s, "250 2.1.5 Ok");
		break;
	case LOOKUP_NO:
		log_event("event=reject session=%08x client=%s rcpt=%s "
		    "reason=%s", s->id, s->ip, log_q(s->pending_rcpt),
		    log_q("user unknown"));
		snprintf(reply, sizeof(reply), "%s %s", rcpt_unknown_code(s),
		    text != NULL ? text : "User unknown");
		/* harvesting the address list gets slow, then errors end it */
		if (++s->unknown_rcpts > HARVEST_FREE) {
			delay = s->unknown_rcpts - HARVEST_FREE;
			session_reply_later(s, delay > HARVEST_DELAY_MAX ?
			    HARVEST_DELAY_MAX : delay, reply, 0);
			return;
		}
		session_reply(s, "%s", reply);
		break;
	case LOOKUP_TEMP:
		session_reply(s, "451 4.4.3 Cannot check the recipient now, "
		    "try again later");
		break;
	}
	session_resume(s);
}

/*
 * "RCPT TO:<Postmaster>" needs no domain (RFC 5321 4.5.1): it is the
 * postmaster of the first accepted domain.
 */
static int
parse_rcpt(char *path, struct mailaddr *ma, const char **why)
{
	const char	*domains = smtpd_conf()->accepted_domains;

	if (strcasecmp(path, "postmaster") == 0) {
		if (addr_parse(path, ADDR_ALLOW_NODOMAIN, ma, why) == -1)
			return -1;
		word_next(&domains, ma->domain, sizeof(ma->domain));
		return 0;
	}
	return addr_parse(path, 0, ma, why);
}

static void
cmd_rcpt(struct session *s, char *arg)
{
	struct mailaddr	 ma;
	char		*path, *params;
	const char	*why;

	if (split_path(arg, "TO:", &path, &params) == -1) {
		session_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (*params != '\0') {
		session_reply(s, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (s->nrcpt >= (size_t)smtpd_conf()->max_recipients) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (parse_rcpt(path, &ma, &why) == -1) {
		session_reply(s, "501 5.1.3 Bad recipient address: %s", why);
		return;
	}
	if (has_8bit(path) && !s->smtputf8) {
		session_reply(s, "553 5.6.7 Address needs SMTPUTF8");
		return;
	}
	addr_format(&ma, s->pending_rcpt, sizeof(s->pending_rcpt));
	switch (policy_rcpt(s, &ma)) {
	case RCPT_DENIED:
		log_event("event=reject session=%08x client=%s rcpt=%s "
		    "reason=%s", s->id, s->ip, log_q(s->pending_rcpt),
		    log_q("relay access denied"));
		session_reply(s, "554 5.7.1 Relay access denied");
		return;
	case RCPT_LOCAL:
		/* RFC 5321 4.5.1: postmaster exists, whatever the tables say */
		if (strcasecmp(ma.local, "postmaster") != 0)
			break;
		/* FALLTHROUGH */
	case RCPT_RELAY:
		session_wait(s);
		rcpt_checked(s, LOOKUP_YES, NULL);
		return;
	}
	session_wait(s);
	lookup_rcpt(s, &ma, rcpt_checked);
}


/* The reply when the queue cannot take a message now. */
static const char *
queue_trouble(int status)
{
	/* RFC 3463 4.3.1; Postfix gives the same when queue_minfree is hit */
	if (status == QC_NOSPACE)
		return "452 4.3.1 Insufficient system storage";
	return "451 4.3.0 Queue not available, try again later";
}

static void
message_committed(struct session *s, int status, const char *text)
{
	switch (status) {
	case QC_OK:
		log_event("event=queued session=%08x client=%s id=%s from=%s "
		    "nrcpt=%zu size=%lld", s->id, s->ip, s->queue_id,
		    log_q(s->sender), s->nrcpt, s->body.size);
		s->messages++;
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
		break;
	case QC_PERM:
		session_reply(s, "554 5.3.0 %s", text);
		break;
	case QC_NOSPACE:
		session_reply(s, "%s", queue_trouble(status));
		break;
	default:
		session_reply(s, "451 4.3.0 %s", text);
		break;
	}
	session_reset(s);
	session_resume(s);
}

/* The whole message is in: check it, then let queued commit it. */
static void
message_complete(struct session *s)
{
	if (body_finish(&s->body) == -1 || s->body.failed) {
		session_reply(s, "%s", s->body.failed_errno == ENOSPC ?
		    queue_trouble(QC_NOSPACE) :
		    "451 4.3.0 Cannot write the queue file");
		session_reset(s);
	} else if (s->body.too_big) {
		session_reply(s, "552 5.3.4 Message size exceeds limit");
		session_reset(s);
	} else {
		session_wait(s);
		qclient_commit(s, message_committed);
	}
}

void
command_data_end(struct session *s)
{
	message_complete(s);
}

void
command_chunk_end(struct session *s)
{
	if (s->bdat_error != NULL) {
		session_reply(s, "%s", s->bdat_error);
		session_reset(s);
	} else if (s->bdat_last)
		message_complete(s);
	else
		session_reply(s, "250 2.0.0 Chunk received");
}

/* queued made the message file: write the header, open the data. */
static int
message_opened(struct session *s, int status, const char *text, int dots)
{
	if (status != QC_OK) {
		log_event("event=queue-error session=%08x client=%s error=%s",
		    s->id, s->ip, log_q(text));
		return -1;
	}
	body_begin(&s->body, s->body.fd, dots, smtpd_conf()->max_message_size);
	if (body_header(&s->body, s) == -1)
		return -1;
	return 0;
}

static void
data_opened(struct session *s, int status, const char *text)
{
	if (message_opened(s, status, text, 1) == -1) {
		session_reply(s, "%s", queue_trouble(status));
		session_reset(s);
	} else {
		session_enter_state(s, S_DATA);
		session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	}
	session_resume(s);
}

static void
cmd_data(struct session *s, char *arg)
{
	(void)arg;
	if (s->queue != NULL) {
		session_reply(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	if (s->nrcpt == 0) {
		session_reply(s, "503 5.5.1 Need RCPT command");
		return;
	}
	session_wait(s);
	if (qclient_open(s, data_opened) == -1)
		data_opened(s, QC_TEMP, "cannot reach queued");
}

static void
chunk_opened(struct session *s, int status, const char *text)
{
	if (message_opened(s, status, text, 0) == -1) {
		s->bdat_error = queue_trouble(status);
		qclient_close(s);
		body_begin(&s->body, -1, 0, LLONG_MAX);	/* read, drop */
	}
	session_enter_state(s, S_BDAT);
	if (s->bdat_left == 0) {
		session_enter_state(s, S_COMMAND);
		command_chunk_end(s);
	}
	session_resume(s);
}

/* "BDAT size [LAST]": the chunk is read even when it is refused. */
static void
cmd_bdat(struct session *s, char *arg)
{
	char		*end;
	long long	 size;

	if (!isdigit((unsigned char)*arg) ||
	    (size = strtoll(arg, &end, 10)) > BDAT_MAX ||
	    (*end != '\0' && strcasecmp(end, " LAST") != 0)) {
		session_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = *end != '\0';
	if (s->queue == NULL && s->bdat_error == NULL) {
		if (s->in_mail && s->nrcpt > 0) {
			session_wait(s);
			if (qclient_open(s, chunk_opened) == -1)
				chunk_opened(s, QC_TEMP, "cannot reach queued");
			return;
		}
		s->bdat_error = s->in_mail ? "503 5.5.1 Need RCPT command" :
		    "503 5.5.1 Need MAIL command";
		body_begin(&s->body, -1, 0, LLONG_MAX);		/* read, drop */
	}
	session_enter_state(s, S_BDAT);
	if (size == 0) {
		session_enter_state(s, S_COMMAND);
		command_chunk_end(s);
	}
}

static void
cmd_rset(struct session *s, char *arg)
{
	(void)arg;
	session_reset(s);
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, char *arg)
{
	(void)arg;
	session_close(s, "221 2.0.0 Bye");
}

static void
vrfy_checked(struct session *s, enum lookup_result r, const char *text)
{
	(void)text;
	if (r == LOOKUP_YES)
		session_reply(s, "250 2.1.5 <%s>", s->pending_rcpt);
	else if (r == LOOKUP_NO)
		session_reply(s, "550 5.1.1 User unknown");
	else
		session_reply(s, "451 4.4.3 Cannot check the address now");
	session_resume(s);
}

static void
cmd_vrfy(struct session *s, char *arg)
{
	struct mailaddr	 ma;
	const char	*why;
	size_t		 len = strlen(arg);

	if (!smtpd_conf()->smtpd_vrfy) {
		session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		return;
	}
	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg[len - 1] = '\0';
		arg++;
	}
	if (addr_parse(arg, 0, &ma, &why) == -1 ||
	    !policy_accepted_domain(ma.domain)) {
		session_reply(s, "252 2.5.2 Cannot VRFY this address");
		return;
	}
	addr_format(&ma, s->pending_rcpt, sizeof(s->pending_rcpt));
	session_wait(s);
	lookup_rcpt(s, &ma, vrfy_checked);
}

static void
cmd_help(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static void
cmd_starttls(struct session *s, char *arg)
{
	(void)arg;
	if (s->tls || smtpd_tls_ctx() == NULL) {
		session_reply(s, "503 5.5.1 TLS not available");
		return;
	}
	session_starttls(s);
}

static const struct command commands[] = {
	{ "HELO",	cmd_helo,	1,	PH_ANY },
	{ "EHLO",	cmd_ehlo,	1,	PH_ANY },
	{ "MAIL",	cmd_mail,	1,	PH_GREETED },
	{ "RCPT",	cmd_rcpt,	1,	PH_MAIL },
	{ "DATA",	cmd_data,	0,	PH_MAIL },
	{ "BDAT",	cmd_bdat,	1,	PH_ANY },	/* reads the chunk */
	{ "RSET",	cmd_rset,	0,	PH_ANY },
	{ "NOOP",	cmd_noop,	-1,	PH_ANY },
	{ "QUIT",	cmd_quit,	0,	PH_ANY },
	{ "VRFY",	cmd_vrfy,	1,	PH_ANY },
	{ "HELP",	cmd_help,	-1,	PH_ANY },
	{ "STARTTLS",	cmd_starttls,	0,	PH_INIT | PH_GREETED },
	{ "AUTH",	auth_command,	1,	PH_GREETED },	/* RFC 4954 4 */
};

static int
session_phase(const struct session *s)
{
	if (s->helo[0] == '\0')
		return PH_INIT;
	return s->in_mail ? PH_MAIL : PH_GREETED;
}

/* c is not allowed where s is: say what is missing or in the way. */
static void
command_out_of_sequence(struct session *s, const struct command *c)
{
	switch (session_phase(s)) {
	case PH_INIT:
		session_reply(s, "503 5.5.1 Send EHLO first");
		break;
	case PH_GREETED:
		session_reply(s, "503 5.5.1 Need MAIL command");
		break;
	default:
		session_reply(s, "503 5.5.1 %s not allowed in a mail "
		    "transaction", c->verb);
		break;
	}
}

/* One command line, CRLF removed. */
void
command_line(struct session *s, char *line)
{
	const struct command	*c;
	size_t			 i, n;
	char			*arg;

	n = strcspn(line, " ");
	arg = line[n] == ' ' ? line + n + 1 : line + n;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		c = &commands[i];
		if (strlen(c->verb) != n || strncasecmp(line, c->verb, n) != 0)
			continue;
		if ((c->phases & session_phase(s)) == 0) {
			command_out_of_sequence(s, c);
			return;
		}
		if ((c->needs_args == 1 && *arg == '\0') ||
		    (c->needs_args == 0 && line[n] != '\0')) {
			session_reply(s, "501 5.5.4 Syntax error in "
			    "parameters");
			return;
		}
		c->handler(s, arg);
		return;
	}
	session_reply(s, "500 5.5.1 Command unrecognized");
}
