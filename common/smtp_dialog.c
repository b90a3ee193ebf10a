/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_dialog.c: greeting, EHLO, STARTTLS and AUTH as a client.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "base64.h"
#include "smtp_dialog.h"

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
