/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * relayd-token: relayd's token process (doc/oauth.md).
 *
 * relayd starts it, as root, before it forks any delivery process, with
 * run_directory/relayd-token.sock listening on fd TOKEN_SOCK_FD.  It
 * reads relay_auth_file itself, becomes relay_user, and is then the only
 * process that holds the client secrets, keys and refresh tokens, and
 * the only one that talks to token endpoints: a program of its own, so
 * that libcurl and what it brings (Kerberos, LDAP, GnuTLS, ...) are in
 * no process that talks SMTP.  It serves one request at a time, so that
 * many deliveries that need a token at once cause one request to the
 * endpoint, and the others get its token.  Each route's state file
 * (oauth_state.c) keeps the token, so a restarted relayd reuses it; a
 * state file changed by someone else (ferryctl oauth login) is read
 * again before the next answer.  Once a second it refreshes the tokens
 * that have been used and expire within relay_oauth_refresh_ahead.
 * SIGHUP, passed on by relayd, reopens the log (relayd.log: it logs as
 * relayd).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "credentials.h"
#include "ipc.h"
#include "log.h"
#include "oauth.h"
#include "privsep.h"
#include "relayd.h"
#include "util.h"

#define RETRY_TEMP		30	/* seconds between tries after an outage */
#define RETRY_CONFIG		600	/* ... after a refusal, unless the file changes */
#define CLIENT_TIMEOUT		5	/* seconds to read a request */

struct slot {
	const struct credential	*cred;
	char			 path[PATH_MAX];
	struct oauth_state	*st;
	struct stat		 seen;		/* the file as last read or written */
	int			 used;		/* handed out since refreshed */
	time_t			 next_try;	/* after an error: not before */
};

static struct slot		*slots;
static size_t			 nslots;
static const struct config	*tconf;
static volatile sig_atomic_t	 reopen_log;

static void
on_hup(int sig)
{
	(void)sig;
	reopen_log = 1;
}

/* The file changed under us (a login)?  Then read it, and try again now. */
static void
slot_reload(struct slot *s)
{
	struct stat	 st;

	if (stat(s->path, &st) == -1) {
		if (errno != ENOENT)
			log_warn("oauth state %s", s->path);
		return;
	}
	if (st.st_ino == s->seen.st_ino && st.st_size == s->seen.st_size &&
	    st.st_mtim.tv_sec == s->seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->seen.st_mtim.tv_nsec)
		return;
	if (oauth_state_load(s->path, s->st) == -1) {
		log_warn("oauth state %s: ignored", s->path);
		oauth_state_wipe(s->st);
	}
	strlcpy(s->st->route, s->cred->route, sizeof(s->st->route));
	s->seen = st;
	s->next_try = 0;
}

static void
slot_save(struct slot *s)
{
	if (oauth_state_save(s->path, s->st, (uid_t)-1, (gid_t)-1) == -1) {
		log_warn("cannot write oauth state %s", s->path);
		return;
	}
	if (stat(s->path, &s->seen) == -1)
		memset(&s->seen, 0, sizeof(s->seen));
}

/* Seconds of its life a token keeps in reserve: refresh below this. */
static long long
refresh_margin(const struct slot *s)
{
	long long	 life = s->st->expires_at - s->st->refreshed_at;
	long long	 ahead = tconf->relay_oauth_refresh_ahead;

	return ahead < life / 2 ? ahead : life / 2;
}

/* Still worth handing out: a session may take a while to log in. */
static int
slot_usable(const struct slot *s, time_t now)
{
	long long	 life = s->st->expires_at - s->st->refreshed_at;
	long long	 least = life / 4 < 60 ? life / 4 : 60;

	return s->st->access_token[0] != '\0' &&
	    s->st->expires_at - now > least;
}

static int
slot_due(const struct slot *s, time_t now)
{
	return s->st->access_token[0] == '\0' ||
	    s->st->expires_at - now <= refresh_margin(s);
}

static const char *
grant_name(const struct credential *c)
{
	return c->grant == GRANT_CLIENT_CREDENTIALS ? "client_credentials" :
	    "refresh_token";
}

static void
fetch_failed(struct slot *s, const struct oauth_answer *a, time_t now)
{
	struct oauth_state	*st = s->st;
	int			 config = a->status == OAUTH_CONFIG;

	st->error_class = config ? OAUTH_ERROR_CONFIG : OAUTH_ERROR_TEMP;
	st->error_at = now;
	snprintf(st->error, sizeof(st->error), "%s: %s", a->error, a->text);
	s->next_try = now + (config ? RETRY_CONFIG : RETRY_TEMP);
	if (config)
		log_alert("event=oauth-error route=%s class=config error=%s "
		    "text=%s hint=%s", log_q(s->cred->route), log_q(a->error),
		    log_q(a->text), log_q("mail to this route stays queued; "
		    "run ferryctl oauth login, or fix relay_auth_file"));
	else
		log_event("event=oauth-error route=%s class=temp error=%s "
		    "text=%s", log_q(s->cred->route), log_q(a->error),
		    log_q(a->text));
}

/* Ask the token endpoint; the state (and its file) records the outcome. */
static void
slot_fetch(struct slot *s, time_t now)
{
	struct oauth_state	*st = s->st;
	struct oauth_answer	*a = xmalloc(sizeof(*a));
	const char		*rt = oauth_refresh_token(st, s->cred);
	int			 rotated;

	if (oauth_grant(s->cred, rt, tconf->relay_oauth_ca_file, a) !=
	    OAUTH_OK)
		fetch_failed(s, a, now);
	else {
		rotated = a->refresh_token[0] != '\0' && (rt == NULL ||
		    strcmp(a->refresh_token, rt) != 0);
		if (rotated) {
			strlcpy(st->refresh_token, a->refresh_token,
			    sizeof(st->refresh_token));
			oauth_seed(s->cred->refresh_token, st->seed);
		}
		strlcpy(st->access_token, a->access_token,
		    sizeof(st->access_token));
		st->refreshed_at = now;
		st->expires_at = now + a->expires_in;
		st->error_class = OAUTH_ERROR_NONE;
		st->error[0] = '\0';
		st->error_at = 0;
		s->used = 0;
		s->next_try = 0;
		log_event("event=oauth-token route=%s grant=%s expires_in=%lld "
		    "rotated=%s", log_q(s->cred->route), grant_name(s->cred),
		    a->expires_in, rotated ? "yes" : "no");
	}
	slot_save(s);
	oauth_answer_wipe(a);
	free(a);
}

static struct slot *
slot_find(const char *route)
{
	size_t	 i;

	for (i = 0; i < nslots; i++)
		if (strcmp(slots[i].cred->route, route) == 0)
			return &slots[i];
	return NULL;
}

/* The answer to one TOKEN_GET: frame f is reused for the reply. */
static void
answer(struct ipc_frame *f, const char *route, const unsigned char *refused,
    size_t refusedlen)
{
	struct slot	*s = slot_find(route);
	time_t		 now = time(NULL);
	uint32_t	 reqid = f->reqid;
	const char	*text = "";
	int		 result;

	if (s == NULL) {
		ipc_frame_init(f, IPC_TOKEN, reqid);
		ipc_put_u32(f, TOKEN_CONFIG);
		ipc_put_bytes(f, "", 0);
		ipc_put_str(f, "no OAuth2 credentials for this route");
		return;
	}
	slot_reload(s);
	if (refusedlen > 0 && refusedlen == strlen(s->st->access_token) &&
	    memcmp(refused, s->st->access_token, refusedlen) == 0) {
		log_event("event=oauth-token-refused route=%s",
		    log_q(s->cred->route));
		s->st->access_token[0] = '\0';
		s->next_try = 0;
	}
	if (slot_due(s, now) && now >= s->next_try)
		slot_fetch(s, now);
	ipc_frame_init(f, IPC_TOKEN, reqid);
	if (slot_usable(s, now)) {
		s->used = 1;
		result = TOKEN_OK;
	} else {
		result = s->st->error_class == OAUTH_ERROR_CONFIG ?
		    TOKEN_CONFIG : TOKEN_TEMP;
		text = s->st->error[0] != '\0' ? s->st->error :
		    "no access token";
	}
	ipc_put_u32(f, result);
	ipc_put_bytes(f, result == TOKEN_OK ? s->st->access_token : "",
	    result == TOKEN_OK ? strlen(s->st->access_token) : 0);
	ipc_put_str(f, text);
}

/* One connection: only relayd's own processes may ask. */
static void
serve(int lsock)
{
	struct ipc_frame	*f;
	struct timeval		 tv = { CLIENT_TIMEOUT, 0 };
	char			 route[PATH_MAX];
	const unsigned char	*refused;
	size_t			 refusedlen;
	uid_t			 uid;
	int			 c;

	if ((c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	f = xmalloc(sizeof(*f));
	if (ipc_peer_uid(c, &uid) == -1 || uid != getuid() ||
	    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		goto done;
	if (ipc_recv(c, f) != 1 || f->type != IPC_TOKEN_GET ||
	    ipc_get_str(f, route, sizeof(route)) == -1 ||
	    ipc_get_bytes(f, &refused, &refusedlen) == -1 ||
	    ipc_get_end(f) == -1)
		goto done;
	answer(f, route, refused, refusedlen);
	if (ipc_send(c, f, -1) == -1)
		log_warn("token process: cannot answer");
done:
	explicit_bzero(f, sizeof(*f));
	free(f);
	close(c);
}

/* The timer: refresh ahead what is in use and about to expire. */
static void
refresh_ahead(void)
{
	time_t	 now = time(NULL);
	size_t	 i;

	for (i = 0; i < nslots; i++) {
		slot_reload(&slots[i]);
		if (slots[i].used && slot_due(&slots[i], now) &&
		    now >= slots[i].next_try)
			slot_fetch(&slots[i], now);
	}
}

static void __attribute__((__noreturn__))
token_main(int lsock)
{
	struct pollfd	 pfd = { lsock, POLLIN, 0 };

	signal(SIGHUP, on_hup);
	for (;;) {
		if (poll(&pfd, 1, 1000) == 1)
			serve(lsock);
		if (reopen_log) {
			reopen_log = 0;
			log_reopen();
		}
		refresh_ahead();
	}
}

/* A slot for each OAuth2 route of creds. */
static void
slots_init(const struct credentials *creds)
{
	size_t	 i;

	for (i = 0; i < creds->n; i++) {
		if (creds->v[i].kind != CRED_OAUTH)
			continue;
		slots = xreallocarray(slots, nslots + 1, sizeof(*slots));
		memset(&slots[nslots], 0, sizeof(*slots));
		slots[nslots].cred = &creds->v[i];
		slots[nslots].st = xcalloc(1, sizeof(struct oauth_state));
		oauth_state_path(tconf->relay_state_directory,
		    creds->v[i].route, slots[nslots].path,
		    sizeof(slots[nslots].path));
		strlcpy(slots[nslots].st->route, creds->v[i].route,
		    sizeof(slots[nslots].st->route));
		nslots++;
	}
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: relayd-token [-f] [-c file]\n"
	    "relayd starts this program, with its socket as fd %d\n",
	    TOKEN_SOCK_FD);
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	static struct config		 conf;
	static struct credentials	 creds;
	struct privsep			 ps;
	const char			*conf_path = FERRY_CONF_DEFAULT;
	socklen_t			 len = sizeof(int);
	int				 ch, foreground = 0, listening = 0;

	while ((ch = getopt(argc, argv, "c:f")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || getsockopt(TOKEN_SOCK_FD, SOL_SOCKET,
	    SO_ACCEPTCONN, &listening, &len) == -1 || !listening)
		usage();
	if (config_load(&conf, conf_path) == -1)
		exit(EX_CONFIG);
	log_init("relayd", foreground);
	if (log_open(conf.log_directory, conf.log_syslog) == -1)
		fatal("cannot open log in %s", conf.log_directory);
	if (privsep_init(&ps, conf.relay_user) == -1 ||
	    credentials_load(conf.relay_auth_file, &creds) == -1)
		exit(EX_CONFIG);
	privsep_drop(&ps, "/", 0);
	tconf = &conf;
	slots_init(&creds);
	log_event("event=token-process-start routes=%zu", nslots);
	token_main(TOKEN_SOCK_FD);
}
