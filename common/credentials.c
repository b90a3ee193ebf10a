/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * credentials.c: parse relay_auth_file (credentials.h).
 *
 * Every error is "FILE:LINE: what is wrong" on stderr and never shows a
 * secret; a file with any error is refused as a whole.  Lines read are
 * wiped, and so is every secret when the table is freed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "credentials.h"
#include "log.h"
#include "oauth.h"
#include "route.h"
#include "secret.h"
#include "util.h"

#define CRED_LINE_MAX	16384	/* refresh tokens run to a few KiB */

/*
 * The keys of a stanza, and where each string is kept; offset 0 (the
 * route's) marks oauth and grant, which are words, not strings.
 */
static const struct cred_key {
	const char	*name;
	size_t		 offset;
} cred_keys[] = {
	{ "user", offsetof(struct credential, user) },
	{ "password", offsetof(struct credential, password) },
	{ "oauth", 0 },
	{ "grant", 0 },
	{ "token_endpoint", offsetof(struct credential, token_endpoint) },
	{ "device_endpoint", offsetof(struct credential, device_endpoint) },
	{ "client_id", offsetof(struct credential, client_id) },
	{ "client_secret", offsetof(struct credential, client_secret) },
	{ "client_certificate",
	    offsetof(struct credential, client_certificate) },
	{ "client_key", offsetof(struct credential, client_key) },
	{ "scope", offsetof(struct credential, scope) },
	{ "refresh_token", offsetof(struct credential, refresh_token) },
};

struct parse {
	const char		*path;
	int			 lineno;
	int			 errors;
	int			 seen_mech, seen_grant;
	int			 in_route;	/* a route line was seen */
	struct credential	*cur;		/* NULL: that route was refused */
	struct credentials	*creds;
};

static void __attribute__((__format__(__printf__, 3, 4)))
parse_error(struct parse *p, int lineno, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s:%d: ", p->path, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	p->errors++;
}

static void
wipe_str(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void
credential_free(struct credential *c)
{
	size_t	 i;

	free(c->route);
	free(c->where);
	for (i = 0; i < sizeof(cred_keys) / sizeof(cred_keys[0]); i++)
		if (cred_keys[i].offset != 0)
			wipe_str((char **)((char *)c + cred_keys[i].offset));
	oauth_cert_free(c);
}

static int
is_https(const char *url)
{
	return url == NULL || strncasecmp(url, "https://", 8) == 0;
}

/* The first OAuth2 key a stanza gives, or NULL: a password needs none. */
static const char *
oauth_key_given(const struct parse *p, const struct credential *c)
{
	size_t	 i;

	if (p->seen_grant)
		return "grant";
	for (i = 0; i < sizeof(cred_keys) / sizeof(cred_keys[0]); i++)
		if (cred_keys[i].offset != 0 &&
		    cred_keys[i].offset != offsetof(struct credential, user) &&
		    cred_keys[i].offset != offsetof(struct credential,
		    password) &&
		    *(char **)((char *)c + cred_keys[i].offset) != NULL)
			return cred_keys[i].name;
	return NULL;
}

/* A stanza is complete: does it say enough, and nothing contradictory? */
static void
stanza_check(struct parse *p, const struct credential *c)
{
	const char	*key;
	int		 line = atoi(strrchr(c->where, ':') + 1);

	if (c->user == NULL)
		parse_error(p, line, "route %s: no user", c->route);
	if (c->password != NULL && c->kind == CRED_OAUTH)
		parse_error(p, line, "route %s: both password and oauth",
		    c->route);
	else if (c->password == NULL && c->kind != CRED_OAUTH)
		parse_error(p, line, "route %s: neither password nor oauth",
		    c->route);
	if (c->kind != CRED_OAUTH) {
		if ((key = oauth_key_given(p, c)) != NULL)
			parse_error(p, line, "route %s: %s needs oauth",
			    c->route, key);
		return;
	}
	if (c->token_endpoint == NULL)
		parse_error(p, line, "route %s: oauth needs token_endpoint",
		    c->route);
	if (c->client_id == NULL)
		parse_error(p, line, "route %s: oauth needs client_id",
		    c->route);
	if (c->client_secret != NULL && c->client_certificate != NULL)
		parse_error(p, line, "route %s: both client_secret and "
		    "client_certificate", c->route);
	if (c->client_key != NULL && c->client_certificate == NULL)
		parse_error(p, line, "route %s: client_key without "
		    "client_certificate", c->route);
	if (c->grant == GRANT_CLIENT_CREDENTIALS && c->client_secret == NULL &&
	    c->client_certificate == NULL)
		parse_error(p, line, "route %s: grant client_credentials "
		    "needs client_secret or client_certificate", c->route);
	if (!is_https(c->token_endpoint) || !is_https(c->device_endpoint))
		parse_error(p, line, "route %s: endpoints must be https:// "
		    "URLs", c->route);
}

static void
stanza_begin(struct parse *p, char *route)
{
	struct credentials	*cs = p->creds;
	struct credential	*c;
	struct route		 r;
	const char		*why;
	char			*where;

	if (route_parse(route, &r, &why) == -1) {
		parse_error(p, p->lineno, "%s", why);
		return;
	}
	if (r.kind == ROUTE_MX || r.kind == ROUTE_MAILDIR) {
		parse_error(p, p->lineno, "route %s: not a smarthost (smtp:)",
		    route);
		return;
	}
	if (credentials_find(cs, route) != NULL) {
		parse_error(p, p->lineno, "route %s: given twice", route);
		return;
	}
	if (asprintf(&where, "%s:%d", p->path, p->lineno) == -1)
		fatal("asprintf");
	cs->v = xreallocarray(cs->v, cs->n + 1, sizeof(*cs->v));
	c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	c->route = xstrdup(route);
	c->where = where;
	c->kind = CRED_PASSWORD;
	p->cur = c;
}

static void
set_mech(struct parse *p, struct credential *c, const char *v)
{
	if (strcmp(v, "auto") == 0)
		c->mech = MECH_AUTO;
	else if (strcmp(v, "xoauth2") == 0)
		c->mech = MECH_XOAUTH2;
	else if (strcmp(v, "oauthbearer") == 0)
		c->mech = MECH_OAUTHBEARER;
	else
		parse_error(p, p->lineno, "oauth \"%s\": expected auto, "
		    "xoauth2 or oauthbearer", v);
	c->kind = CRED_OAUTH;
}

static void
set_grant(struct parse *p, struct credential *c, const char *v)
{
	if (strcmp(v, "refresh_token") == 0)
		c->grant = GRANT_REFRESH_TOKEN;
	else if (strcmp(v, "client_credentials") == 0)
		c->grant = GRANT_CLIENT_CREDENTIALS;
	else
		parse_error(p, p->lineno, "grant \"%s\": expected "
		    "refresh_token or client_credentials", v);
}

/* "key value" inside a stanza; the value is the rest of the line. */
static void
stanza_line(struct parse *p, const char *key, const char *value)
{
	struct credential	*c = p->cur;
	const struct cred_key	*k = NULL;
	char			**slot;
	size_t			 i;
	int			*seen;

	for (i = 0; i < sizeof(cred_keys) / sizeof(cred_keys[0]); i++)
		if (strcmp(cred_keys[i].name, key) == 0)
			k = &cred_keys[i];
	if (k == NULL) {
		parse_error(p, p->lineno, "unknown key \"%s\"", key);
		return;
	}
	if (*value == '\0') {
		parse_error(p, p->lineno, "%s: no value", key);
		return;
	}
	if (k->offset == 0) {
		seen = strcmp(key, "oauth") == 0 ? &p->seen_mech :
		    &p->seen_grant;
		if ((*seen)++)
			parse_error(p, p->lineno, "%s given twice", key);
		else if (seen == &p->seen_mech)
			set_mech(p, c, value);
		else
			set_grant(p, c, value);
		return;
	}
	slot = (char **)((char *)c + k->offset);
	if (*slot != NULL)
		parse_error(p, p->lineno, "%s given twice", key);
	else
		*slot = xstrdup(value);
}

/* The old form: the first line is "user password", for every route. */
static void
old_form(struct parse *p, char *line)
{
	struct credentials	*cs = p->creds;
	struct credential	*c;
	char			*pass;

	if ((pass = strchr(line, ' ')) == NULL || pass == line ||
	    pass[1] == '\0') {
		parse_error(p, 1, "expected \"user password\" or \"route "
		    "ROUTE\"");
		return;
	}
	*pass++ = '\0';
	cs->v = xcalloc(1, sizeof(*cs->v));
	cs->n = 1;
	c = &cs->v[0];
	if (asprintf(&c->where, "%s:1", p->path) == -1)
		fatal("asprintf");
	c->kind = CRED_PASSWORD;
	c->user = xstrdup(line);
	c->password = xstrdup(pass);
}

/* One line of the stanza form. */
static void
parse_line(struct parse *p, char *line)
{
	char	*key, *value;
	size_t	 len;

	line[strcspn(line, "\r\n")] = '\0';
	key = line + strspn(line, " \t");
	if (*key == '\0' || *key == '#')
		return;
	value = key + strcspn(key, " \t");
	if (*value != '\0')
		*value++ = '\0';
	value += strspn(value, " \t");
	/* trailing blanks are no part of a value */
	len = strlen(value);
	while (len > 0 && isspace((unsigned char)value[len - 1]))
		value[--len] = '\0';
	if (strcmp(key, "route") == 0) {
		if (p->cur != NULL)
			stanza_check(p, p->cur);
		p->in_route = 1;
		p->cur = NULL;
		p->seen_mech = p->seen_grant = 0;
		stanza_begin(p, value);
	} else if (!p->in_route)
		parse_error(p, p->lineno, "\"%s\" before any \"route\" line",
		    key);
	else if (p->cur != NULL)
		stanza_line(p, key, value);
}

/*
 * Parse fp, named path in messages, into creds.  0, or -1 after every
 * error was told (creds is then empty).
 */
int
credentials_parse(const char *path, FILE *fp, struct credentials *creds)
{
	struct parse	 p = { .path = path, .creds = creds };
	char		*line;
	size_t		 len;

	memset(creds, 0, sizeof(*creds));
	line = xmalloc(CRED_LINE_MAX);
	while (fgets(line, CRED_LINE_MAX, fp) != NULL) {
		p.lineno++;
		len = strlen(line);
		if (len == CRED_LINE_MAX - 1 && line[len - 1] != '\n') {
			parse_error(&p, p.lineno, "line too long");
			break;
		}
		if (p.lineno == 1 && strncmp(line, "route", 5) != 0 &&
		    line[0] != '#' && line[strspn(line, " \t\r\n")] != '\0') {
			line[strcspn(line, "\r\n")] = '\0';
			old_form(&p, line);
		} else if (p.creds->n > 0 && p.creds->v[0].route == NULL) {
			if (line[strspn(line, " \t\r\n")] != '\0' &&
			    line[strspn(line, " \t")] != '#')
				parse_error(&p, p.lineno, "\"user password\" "
				    "must be the only line");
		} else
			parse_line(&p, line);
	}
	if (p.cur != NULL)
		stanza_check(&p, p.cur);
	explicit_bzero(line, CRED_LINE_MAX);
	free(line);
	if (p.errors == 0)
		return 0;
	credentials_free(creds);
	return -1;
}

/*
 * Read path (if not empty) as root: refused unless only root and its
 * group may read it.  Client certificates and their keys are read too,
 * the keys under the same rule.  0, or -1 with the reasons on stderr.
 */
int
credentials_load(const char *path, struct credentials *creds)
{
	FILE	*fp;
	char	 buf[BUFSIZ];
	size_t	 i;
	int	 r;

	memset(creds, 0, sizeof(*creds));
	if (*path == '\0')
		return 0;
	if ((fp = secret_open("relay_auth_file", path)) == NULL)
		return -1;
	setvbuf(fp, buf, _IOFBF, sizeof(buf));
	r = credentials_parse(path, fp, creds);
	fclose(fp);
	explicit_bzero(buf, sizeof(buf));
	for (i = 0; r == 0 && i < creds->n; i++)
		if (creds->v[i].client_certificate != NULL &&
		    oauth_cert_load(&creds->v[i], creds->v[i].where) == -1)
			r = -1;
	if (r == -1)
		credentials_free(creds);
	return r;
}

/* The login for route: its own stanza, or the old form's line. */
const struct credential *
credentials_find(const struct credentials *creds, const char *route)
{
	size_t	 i;

	for (i = 0; i < creds->n; i++)
		if (creds->v[i].route == NULL ||
		    strcmp(creds->v[i].route, route) == 0)
			return &creds->v[i];
	return NULL;
}

/*
 * Wipe what only the token process needs (client secrets and keys,
 * refresh tokens): relayd's other processes keep the rest.
 */
void
credentials_forget_oauth(struct credentials *creds)
{
	size_t	 i;

	for (i = 0; i < creds->n; i++) {
		wipe_str(&creds->v[i].client_secret);
		wipe_str(&creds->v[i].refresh_token);
		oauth_cert_free(&creds->v[i]);
	}
}

void
credentials_free(struct credentials *creds)
{
	size_t	 i;

	for (i = 0; i < creds->n; i++)
		credential_free(&creds->v[i]);
	free(creds->v);
	memset(creds, 0, sizeof(*creds));
}

const char *
credential_mech_name(enum oauth_mech mech)
{
	return mech == MECH_XOAUTH2 ? "XOAUTH2" :
	    mech == MECH_OAUTHBEARER ? "OAUTHBEARER" : "auto";
}
