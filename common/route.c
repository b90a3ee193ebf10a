/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * route.c: parse one route ("smtp:[host]:port", "smtp:host:port", "mx",
 * "maildir:/path/%u/Maildir").
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static int
parse_host_port(const char *s, struct route *r, const char **why)
{
	const char	*colon, *host = s, *err;
	size_t		 len;
	long long	 port = 25;

	r->kind = ROUTE_HOST_MX;
	if (*s == '[') {
		if ((colon = strchr(s, ']')) == NULL) {
			*why = "unbalanced [ in route";
			return -1;
		}
		r->kind = ROUTE_SMARTHOST;
		host = s + 1;
		len = colon - host;
		colon = colon[1] == ':' ? colon + 1 : colon[1] == '\0' ?
		    NULL : colon + 1;
		if (colon != NULL && *colon != ':') {
			*why = "junk after ] in route";
			return -1;
		}
	} else {
		colon = strchr(s, ':');
		len = colon != NULL ? (size_t)(colon - s) : strlen(s);
	}
	if (len == 0 || len >= sizeof(r->host)) {
		*why = "bad host in route";
		return -1;
	}
	memcpy(r->host, host, len);
	r->host[len] = '\0';
	for (s = r->host; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(".-_:", *s) == NULL) {
			*why = "bad host in route";
			return -1;
		}
	if (colon != NULL) {
		port = strtonum(colon + 1, 1, 65535, &err);
		if (err != NULL) {
			*why = "bad port in route";
			return -1;
		}
	}
	r->port = port;
	return 0;
}

/* Parse s; r may be NULL to validate only.  -1 with *why on error. */
int
route_parse(const char *s, struct route *r, const char **why)
{
	struct route	 tmp;

	if (r == NULL)
		r = &tmp;
	memset(r, 0, sizeof(*r));
	if (strcmp(s, "mx") == 0) {
		r->kind = ROUTE_MX;
		return 0;
	}
	if (strncmp(s, "smtp:", 5) == 0)
		return parse_host_port(s + 5, r, why);
	if (strncmp(s, "maildir:", 8) == 0) {
		if (s[8] != '/' || strlen(s + 8) >= sizeof(r->path) - 256 ||
		    strstr(s + 8, "/../") != NULL) {
			*why = "maildir route needs an absolute path";
			return -1;
		}
		r->kind = ROUTE_MAILDIR;
		strlcpy(r->path, s + 8, sizeof(r->path));
		return 0;
	}
	*why = "route must be smtp:[host]:port, smtp:host:port, mx or "
	    "maildir:/path";
	return -1;
}
