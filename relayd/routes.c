/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * routes.c: the routing table (routes_file): "domain route" per line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "relayd.h"
#include "util.h"

struct route_entry {
	char	*domain;
	char	*route;
	char	*where;		/* "FILE:LINE: DOMAIN ROUTE", for messages */
};

static struct route_entry	*routes;
static size_t			 nroutes;

/* Load path (if not empty); errors as "file:line: problem" on stderr. */
int
routes_load(const char *path)
{
	char		 line[1024], *domain, *route, *end;
	const char	*why;
	FILE		*fp;
	int		 lineno = 0, errors = 0;

	if (*path == '\0')
		return 0;
	if ((fp = fopen(path, "re")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n#")] = '\0';
		domain = strtok_r(line, " \t", &end);
		if (domain == NULL)
			continue;
		route = strtok_r(NULL, " \t", &end);
		if (route == NULL || strtok_r(NULL, " \t", &end) != NULL) {
			fprintf(stderr, "%s:%d: expected \"domain route\"\n",
			    path, lineno);
			errors++;
			continue;
		}
		if (route_parse(route, NULL, &why) == -1) {
			fprintf(stderr, "%s:%d: %s\n", path, lineno, why);
			errors++;
			continue;
		}
		routes = xreallocarray(routes, nroutes + 1, sizeof(*routes));
		routes[nroutes].domain = xstrdup(domain);
		routes[nroutes].route = xstrdup(route);
		if (asprintf(&routes[nroutes].where, "%s:%d: %s %s", path,
		    lineno, domain, route) == -1)
			fatal("asprintf");
		nroutes++;
	}
	fclose(fp);
	return errors > 0 ? -1 : 0;
}

/* The route for a recipient domain: the table's first match, or the default. */
const char *
routes_lookup(const struct config *conf, const char *domain)
{
	size_t	 i;

	for (i = 0; i < nroutes; i++)
		if (strcasecmp(routes[i].domain, domain) == 0)
			return routes[i].route;
	return conf->default_route;
}

/* Call fn for every route in the table, with the line that gave it. */
void
routes_foreach(void (*fn)(const char *, const char *, const struct privsep *),
    const struct privsep *ps)
{
	size_t	 i;

	for (i = 0; i < nroutes; i++)
		fn(routes[i].where, routes[i].route, ps);
}
