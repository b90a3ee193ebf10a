/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_dialog.c: greeting, EHLO, STARTTLS and AUTH as a client.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "base64.h"
#include "smtp_dialog.h"
#include "util.h"

/*
 * A client TLS context for mode ("verify": the peer's certificate is
 * checked against ca, or the system's CAs when ca is empty).
 */
SSL_CTX *
smtp_tls_context(const char *mode, const char *ca, char *why, size_t whylen)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(why, whylen, "cannot create TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (strcmp(mode, "verify") != 0) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((*ca != '\0' ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		snprintf(why, whylen, "cannot load CA file %s", ca);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
parse_ehlo(struct smtp_conn *c, const struct smtp_reply *r)
{
	const char	*k;
	int		 i;

	c->ext = 0;
	for (i = 1; i < r->nlines; i++) {
		k = r->lines[i];
		if (strcasecmp(k, "PIPELINING") == 0)
			c->ext |= EXT_PIPELINING;
		else if (strncasecmp(k, "SIZE", 4) == 0)
			c->ext |= EXT_SIZE;
		else if (strcasecmp(k, "8BITMIME") == 0)
			c->ext |= EXT_8BITMIME;
		else if (strcasecmp(k, "STARTTLS") == 0)
			c->ext |= EXT_STARTTLS;
		else if (strcasecmp(k, "SMTPUTF8") == 0)
			c->ext |= EXT_SMTPUTF8;
		else if (strncasecmp(k, "AUTH ", 5) == 0 ||
		    strncasecmp(k, "AUTH=", 5) == 0) {
			if (strcasestr(k + 5, "PLAIN") != NULL)
				c->ext |= EXT_AUTH_PLAIN;
			if (strcasestr(k + 5, "LOGIN") != NULL)
				c->ext |= EXT_AUTH_LOGIN;
			if (strcasestr(k + 5, "XOAUTH2") != NULL)
				c->ext |= EXT_AUTH_XOAUTH2;
			if (strcasestr(k + 5, "OAUTHBEARER") != NULL)
				c->ext |= EXT_AUTH_OAUTHBEARER;
		}
	}
}

/* Send a command and read its reply; -1 if either failed. */
int
smtp_command(struct smtp_conn *c, struct smtp_reply *r, const char *cmd)
{
	int	 t = c->policy->timeout;

	if (io_printf(&c->io, t, "%s\r\n", cmd) == -1) {
		memset(r, 0, sizeof(*r));
		snprintf(r->text, sizeof(r->text), "%s: write failed",
		    c->io.peer);
		return -1;
	}
	return io_read_reply(&c->io, r, t);
}

static int
ehlo(struct smtp_conn *c, struct smtp_reply *r)
{
	char	 cmd[300];

	snprintf(cmd, sizeof(cmd), "EHLO %s", c->policy->helo);
	if (smtp_command(c, r, cmd) == 0 && r->code == 250) {
		parse_ehlo(c, r);
		return 0;
	}
	if (r->code < 500)
		return -1;
	snprintf(cmd, sizeof(cmd), "HELO %s", c->policy->helo);
	c->ext = 0;
	return smtp_command(c, r, cmd) == 0 && r->code == 250 ? 0 : -1;
}

/* STARTTLS as the policy asks; -1 when TLS was required and failed. */
static int
start_tls(struct smtp_conn *c, const char *host, struct smtp_reply *r,
    char *why, size_t whylen)
{
	const char	*mode = c->policy->tls;
	int		 required = strcmp(mode, "may") != 0;

	if (strcmp(mode, "none") == 0)
		return 0;
	if (!(c->ext & EXT_STARTTLS)) {
		if (!required)
			return 0;
		snprintf(why, whylen, "%s does not offer STARTTLS (tls = %s)",
		    c->io.peer, mode);
		return -1;
	}
	if (smtp_command(c, r, "STARTTLS") != 0 || r->code != 220) {
		snprintf(why, whylen, "STARTTLS refused: %s", r->text);
		return required ? -1 : 0;
	}
	if (io_starttls(&c->io, c->policy->tls_ctx, host, c->policy->timeout,
	    why, whylen) == -1)
		return -1;	/* the session is dead either way */
	c->tls = 1;
	if (ehlo(c, r) == -1) {
		snprintf(why, whylen, "EHLO after STARTTLS: %s", r->text);
		return -1;
	}
	return 0;
}

/*
 * On a connected c: the greeting, EHLO and STARTTLS.  host is the name
 * the certificate must carry.  -1 with why (and r: the last reply).
 */
int
smtp_greet(struct smtp_conn *c, const char *host, struct smtp_reply *r,
    char *why, size_t whylen)
{
	c->ext = c->tls = 0;
	if (io_read_reply(&c->io, r, c->policy->timeout) == -1 ||
	    r->code != 220) {
		snprintf(why, whylen, "greeting: %s", r->text);
		return -1;
	}
	if (ehlo(c, r) == -1) {
		snprintf(why, whylen, "EHLO/HELO: %s", r->text);
		return -1;
	}
	return start_tls(c, host, r, why, whylen);
}

/*
 * Does the refusal of a password login say that the server takes no
 * passwords at all (Exchange Online: 5.7.30, or 5.7.139 saying so)?  An
 * admin's problem then, not a bad password.
 */
int
smtp_basic_auth_disabled(const struct smtp_reply *r)
{
	return strstr(r->text, "5.7.30") != NULL ||
	    (strstr(r->text, "5.7.139") != NULL &&
	    (strcasestr(r->text, "disabled") != NULL ||
	    strcasestr(r->text, "not supported") != NULL));
}

/*
 * AUTH PLAIN, or LOGIN if that is all the server offers; 0 on 235.  r
 * has the server's last reply.  Nothing here keeps the password.
 */
int
smtp_auth(struct smtp_conn *c, const char *user, const char *password,
    struct smtp_reply *r)
{
	char	 raw[600], cmd[900], b64[800] = "";
	size_t	 ulen = strlen(user), plen = strlen(password);
	int	 ok;

	memset(r, 0, sizeof(*r));
	if (ulen + plen + 2 > sizeof(raw))
		return -1;
	if (c->ext & EXT_AUTH_PLAIN) {
		raw[0] = '\0';
		memcpy(raw + 1, user, ulen + 1);
		memcpy(raw + ulen + 2, password, plen);
		ok = base64_encode(raw, ulen + plen + 2, b64, sizeof(b64)) == 0;
		snprintf(cmd, sizeof(cmd), "AUTH PLAIN %s", b64);
		ok = ok && smtp_command(c, r, cmd) == 0 && r->code == 235;
	} else {
		ok = base64_encode(user, ulen, b64, sizeof(b64)) == 0 &&
		    smtp_command(c, r, "AUTH LOGIN") == 0 && r->code == 334 &&
		    smtp_command(c, r, b64) == 0 && r->code == 334;
		ok = ok && base64_encode(password, plen, b64,
		    sizeof(b64)) == 0 && smtp_command(c, r, b64) == 0 &&
		    r->code == 235;
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(cmd, sizeof(cmd));
	explicit_bzero(b64, sizeof(b64));
	return ok ? 0 : -1;
}

/*
 * The client's first message of mech (EXT_AUTH_XOAUTH2 or _OAUTHBEARER):
 * Google's and Microsoft's "user=U^Aauth=Bearer T^A^A", or RFC 7628's
 * GS2 header with the user (',' and '=' escaped), host and port.
 */
static char *
bearer_message(int mech, const char *user, const char *token,
    const char *host, int port, int *len)
{
	char	*msg, name[3 * 256 + 1];
	size_t	 i, o = 0;

	if (mech == EXT_AUTH_XOAUTH2) {
		*len = asprintf(&msg, "user=%s\001auth=Bearer %s\001\001",
		    user, token);
		return *len == -1 ? NULL : msg;
	}
	for (i = 0; user[i] != '\0' && o < sizeof(name) - 4; i++) {
		if (user[i] == ',' || user[i] == '=') {
			snprintf(name + o, 4, "=%s", user[i] == ',' ? "2C" :
			    "3D");
			o += 3;
		} else
			name[o++] = user[i];
	}
	name[o] = '\0';
	*len = asprintf(&msg, "n,a=%s,\001host=%s\001port=%d\001"
	    "auth=Bearer %s\001\001", name, host, port, token);
	return *len == -1 ? NULL : msg;
}

/* Write one line, then read the reply; -1 if either failed. */
static int
send_line(struct smtp_conn *c, const char *a, const char *b,
    struct smtp_reply *r)
{
	int	 t = c->policy->timeout;

	if (io_write(&c->io, a, strlen(a), t) == -1 ||
	    io_write(&c->io, b, strlen(b), t) == -1 ||
	    io_write(&c->io, "\r\n", 2, t) == -1) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return io_read_reply(&c->io, r, t);
}

/*
 * AUTH XOAUTH2 or OAUTHBEARER (mech, an EXT_AUTH_ flag) with an OAuth2
 * access token; 0 on 235, r has the server's last reply.  The response
 * goes on the AUTH line while that line stays within RFC 5321's 512
 * octets, else after the server's empty 334 (RFC 4954 4).  A 334 after
 * it is an error challenge: XOAUTH2 answers it with an empty line,
 * OAUTHBEARER with a single ^A (RFC 7628 3.2.3); then comes the 535.
 */
int
smtp_auth_bearer(struct smtp_conn *c, int mech, const char *user,
    const char *token, const char *host, int port, struct smtp_reply *r)
{
	const char	*name = mech == EXT_AUTH_XOAUTH2 ? "XOAUTH2" :
			    "OAUTHBEARER";
	char		 cmd[32], *msg, *b64 = NULL;
	size_t		 b64len;
	int		 len, ok = 0;

	memset(r, 0, sizeof(*r));
	if ((msg = bearer_message(mech, user, token, host, port, &len)) ==
	    NULL)
		return -1;
	b64len = (len + 2) / 3 * 4 + 1;
	b64 = xmalloc(b64len);
	if (base64_encode(msg, len, b64, b64len) == -1)
		goto done;
	if (strlen(b64) + strlen(name) + 8 <= 512) {
		snprintf(cmd, sizeof(cmd), "AUTH %s ", name);
		if (send_line(c, cmd, b64, r) == -1)
			goto done;
	} else {
		snprintf(cmd, sizeof(cmd), "AUTH %s", name);
		if (send_line(c, cmd, "", r) == -1 || r->code != 334 ||
		    send_line(c, b64, "", r) == -1)
			goto done;
	}
	if (r->code == 334 && send_line(c, mech == EXT_AUTH_XOAUTH2 ? "" :
	    "AQ==", "", r) == -1)
		goto done;
	ok = r->code == 235;
done:
	explicit_bzero(msg, len);
	free(msg);
	explicit_bzero(b64, b64len);
	free(b64);
	return ok ? 0 : -1;
}
