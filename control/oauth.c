/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth.c: ferry-control oauth login ROUTE | status | problems.
 *
 * login walks the admin through the device authorization grant (RFC
 * 8628): it asks the route's device_endpoint for a code, prints where to
 * enter it, polls the token endpoint at the interval the provider asks
 * for, and stores the refresh token and the first access token in the
 * route's state file, handed to relay_user (relayd's token process reads
 * it again by itself).  status shows every OAuth2 route's state file;
 * problems prints only the routes whose last refresh the provider
 * refused, for ferryctl status.  All read relay_auth_file: root only.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "credentials.h"
#include "oauth.h"
#include "util.h"

#define SLOW_DOWN_STEP	5	/* seconds more per slow_down, RFC 8628 3.5 */

static void
format_time(long long t, char *buf, size_t size)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		strlcpy(buf, "never", size);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The state file's owner: relay_user when we are root, else ourselves. */
static int
state_owner(const struct config *conf, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(conf->relay_user)) == NULL) {
		fprintf(stderr, "ferry-control: no user %s (relay_user)\n",
		    conf->relay_user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* relay_state_directory, made for relay_user if it is not there yet. */
static int
state_directory(const struct config *conf, uid_t uid, gid_t gid)
{
	const char	*dir = conf->relay_state_directory;

	if (mkdir(dir, 0700) == -1) {
		if (errno == EEXIST)
			return 0;
		fprintf(stderr, "ferry-control: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	if (uid != (uid_t)-1 && chown(dir, uid, gid) == -1) {
		fprintf(stderr, "ferry-control: chown %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Store what the login got; 0, or an exit status. */
static int
store_login(const struct config *conf, const struct credential *c,
    const struct oauth_answer *a)
{
	struct oauth_state	*st;
	char			 path[PATH_MAX], until[64];
	uid_t			 uid;
	gid_t			 gid;
	int			 status = EX_OK;

	if (a->refresh_token[0] == '\0') {
		fprintf(stderr, "ferry-control: oauth: %s: the provider gave "
		    "no refresh token (does scope include offline_access?)\n",
		    c->route);
		return EX_PROTOCOL;
	}
	if (state_owner(conf, &uid, &gid) == -1 ||
	    state_directory(conf, uid, gid) == -1)
		return EX_CANTCREAT;
	st = xcalloc(1, sizeof(*st));
	oauth_state_path(conf->relay_state_directory, c->route, path,
	    sizeof(path));
	strlcpy(st->route, c->route, sizeof(st->route));
	strlcpy(st->refresh_token, a->refresh_token, sizeof(st->refresh_token));
	oauth_seed(c->refresh_token, st->seed);
	strlcpy(st->access_token, a->access_token, sizeof(st->access_token));
	st->refreshed_at = time(NULL);
	st->expires_at = st->refreshed_at + a->expires_in;
	if (oauth_state_save(path, st, uid, gid) == -1) {
		fprintf(stderr, "ferry-control: cannot write %s: %s\n", path,
		    strerror(errno));
		status = EX_CANTCREAT;
	} else {
		format_time(st->expires_at, until, sizeof(until));
		printf("ferryctl: oauth: %s: refresh token stored in %s; "
		    "access token valid until %s\n", c->route, path, until);
	}
	oauth_state_wipe(st);
	free(st);
	return status;
}

/* Poll until the user approves, refuses or the code expires. */
static int
device_wait(const struct config *conf, const struct credential *c,
    struct oauth_answer *a)
{
	char		*code = xstrdup(a->device_code);
	long long	 interval = a->interval > 0 ? a->interval : 5;
	time_t		 deadline = time(NULL) + (a->expires_in > 0 ?
			    a->expires_in : 900);
	int		 status = EX_TEMPFAIL;

	for (;;) {
		if (time(NULL) >= deadline) {
			fprintf(stderr, "ferry-control: oauth: %s: the code "
			    "expired before it was entered\n", c->route);
			break;
		}
		sleep((unsigned int)interval);
		switch (oauth_device_poll(c, conf->relay_oauth_ca_file, code,
		    a)) {
		case OAUTH_PENDING:
			continue;
		case OAUTH_SLOW_DOWN:
			interval += SLOW_DOWN_STEP;
			continue;
		case OAUTH_OK:
			status = store_login(conf, c, a);
			break;
		default:
			fprintf(stderr, "ferry-control: oauth: %s: %s: %s\n",
			    c->route, a->error, a->text);
			status = a->status == OAUTH_CONFIG ? EX_NOPERM :
			    EX_TEMPFAIL;
			break;
		}
		break;
	}
	explicit_bzero(code, strlen(code));
	free(code);
	return status;
}

static int
login(const struct config *conf, const struct credential *c)
{
	struct oauth_answer	*a;
	int			 status;

	if (c->grant != GRANT_REFRESH_TOKEN) {
		fprintf(stderr, "ferry-control: oauth: %s: grant "
		    "client_credentials needs no login\n", c->route);
		return EX_USAGE;
	}
	a = xmalloc(sizeof(*a));
	if (oauth_device_start(c, conf->relay_oauth_ca_file, a) != OAUTH_OK) {
		fprintf(stderr, "ferry-control: oauth: %s: %s: %s\n",
		    c->route, a->error, a->text);
		status = a->status == OAUTH_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
	} else {
		printf("To let Ferry send mail as %s through %s, open\n"
		    "    %s\nand enter the code\n    %s\n"
		    "Waiting for the sign-in (the code is valid for %lld "
		    "minutes)...\n", c->user, c->route, a->verification_uri,
		    a->user_code, (a->expires_in > 0 ? a->expires_in : 900) /
		    60);
		fflush(stdout);
		status = device_wait(conf, c, a);
	}
	oauth_answer_wipe(a);
	free(a);
	return status;
}

/* How the client proves itself; when a certificate ends, that mail ends. */
static void
show_client(const struct credential *c)
{
	const char	*thumb;
	time_t		 end;
	char		 when[64];

	if (oauth_cert_info(c, &thumb, &end) == -1) {
		printf("  client %s, with %s\n", c->client_id,
		    c->client_secret != NULL ? "a secret" : "no secret");
		return;
	}
	format_time(end, when, sizeof(when));
	printf("  client %s, with certificate %s, %s %s\n", c->client_id,
	    thumb, end > time(NULL) ? "valid until" : "EXPIRED at", when);
}

static void
show_route(const struct config *conf, const struct credential *c,
    const struct oauth_state *st, int loaded)
{
	char		 when[64];
	long long	 left = st->expires_at - time(NULL);

	printf("%s\n  user %s, mechanism %s, grant %s\n", c->route, c->user,
	    c->mech == MECH_AUTO ? "auto" : credential_mech_name(c->mech),
	    c->grant == GRANT_CLIENT_CREDENTIALS ? "client_credentials" :
	    "refresh_token");
	show_client(c);
	format_time(st->expires_at, when, sizeof(when));
	if (st->access_token[0] == '\0')
		printf("  access token: no access token yet\n");
	else if (left > 0)
		printf("  access token: valid until %s (%lld min left)\n",
		    when, left / 60);
	else
		printf("  access token: expired at %s\n", when);
	format_time(st->refreshed_at, when, sizeof(when));
	printf("  refreshed: %s\n", when);
	if (c->grant == GRANT_REFRESH_TOKEN)
		printf("  refresh token: %s\n",
		    oauth_refresh_token(st, c) == st->refresh_token ?
		    "stored by Ferry" : c->refresh_token != NULL ?
		    "from relay_auth_file" : "none: run ferryctl oauth login");
	format_time(st->error_at, when, sizeof(when));
	if (st->error_class == OAUTH_ERROR_NONE)
		printf("  last error: none\n");
	else
		printf("  last error: %s (%s, %s)\n", st->error,
		    st->error_class == OAUTH_ERROR_CONFIG ?
		    "the provider refused: mail to this route stays queued" :
		    "temporary", when);
	if (!loaded)
		printf("  (no state file yet in %s)\n",
		    conf->relay_state_directory);
}

/* status (every route) or problems (refused ones only); 1 if any. */
static int
show(const struct config *conf, const struct credentials *creds,
    int problems_only)
{
	struct oauth_state	*st = xmalloc(sizeof(*st));
	char			 path[PATH_MAX];
	size_t			 i, n = 0;
	int			 r, refused = 0;

	for (i = 0; i < creds->n; i++) {
		if (creds->v[i].kind != CRED_OAUTH)
			continue;
		n++;
		oauth_state_path(conf->relay_state_directory,
		    creds->v[i].route, path, sizeof(path));
		if ((r = oauth_state_load(path, st)) == -1)
			fprintf(stderr, "ferry-control: %s: %s\n", path,
			    strerror(errno));
		if (st->error_class == OAUTH_ERROR_CONFIG)
			refused++;
		if (!problems_only)
			show_route(conf, &creds->v[i], st, r == 0);
		else if (st->error_class == OAUTH_ERROR_CONFIG)
			printf("relayd: oauth %s: the provider refused the "
			    "refresh: %s; mail to it stays queued (ferryctl "
			    "oauth login %s)\n", creds->v[i].route, st->error,
			    creds->v[i].route);
	}
	if (n == 0 && !problems_only)
		printf("no OAuth2 route in relay_auth_file\n");
	oauth_state_wipe(st);
	free(st);
	return refused > 0;
}

int
oauth_command(const struct config *conf, int argc, char **argv)
{
	struct credentials	 creds;
	const struct credential	*c;
	int			 status;

	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "login") == 0 && argc != 3)
		return -1;
	if (strcmp(argv[1], "login") != 0 && (argc != 2 ||
	    (strcmp(argv[1], "status") != 0 &&
	    strcmp(argv[1], "problems") != 0)))
		return -1;
	if (credentials_load(conf->relay_auth_file, &creds) == -1)
		return EX_CONFIG;
	if (strcmp(argv[1], "login") != 0)
		status = show(conf, &creds, strcmp(argv[1], "problems") == 0);
	else if ((c = credentials_find(&creds, argv[2])) == NULL ||
	    c->kind != CRED_OAUTH) {
		fprintf(stderr, "ferry-control: oauth: %s: no OAuth2 route of "
		    "that name in %s\n", argv[2], *conf->relay_auth_file ?
		    conf->relay_auth_file : "relay_auth_file (not set)");
		status = EX_CONFIG;
	} else
		status = login(conf, c);
	credentials_free(&creds);
	return status;
}
