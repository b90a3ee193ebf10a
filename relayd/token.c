/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * token.c: starting relayd's token process (relayd-token.c), and how a
 * delivery process asks it for an OAuth2 access token (doc/oauth.md).
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "privsep.h"
#include "relayd.h"
#include "util.h"

#define TOKEN_WAIT		60	/* seconds a delivery waits for a token */

/* relayd-token beside our own program: bin/ in the tree, or libexec. */
static int
token_program(char *path, size_t size)
{
	char	 self[PATH_MAX];
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return -1;
	self[n] = '\0';
	return path_join(path, size, dirname(self), "relayd-token");
}

/*
 * Start the token process for the OAuth2 routes of creds, listening on
 * run_directory/relayd-token.sock (made while d's daemon is root), fd
 * TOKEN_SOCK_FD for it.  Returns its pid, or -1: no OAuth2 route, no
 * process.
 */
pid_t
token_start(const struct daemon_ctx *d, const struct privsep *ps,
    const struct credentials *creds)
{
	char	 prog[PATH_MAX];
	char	*argv[] = { "relayd-token", "-c", (char *)d->conf_path,
		    d->foreground ? "-f" : NULL, NULL };
	size_t	 i;
	pid_t	 pid;
	int	 lsock;

	for (i = 0; i < creds->n; i++)
		if (creds->v[i].kind == CRED_OAUTH)
			break;
	if (i == creds->n)
		return -1;
	if (token_program(prog, sizeof(prog)) == -1 ||
	    access(prog, X_OK) == -1)
		fatal("cannot run the token process %s", prog);
	lsock = daemon_listen(d, ps, "relayd-token.sock", 0600);
	if ((pid = fork()) == -1)
		fatal("fork token process");
	if (pid > 0) {
		close(lsock);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (lsock == TOKEN_SOCK_FD)
		fcntl(lsock, F_SETFD, 0);
	else if (dup2(lsock, TOKEN_SOCK_FD) == -1)
		_exit(EX_OSERR);
	closefrom(TOKEN_SOCK_FD + 1);
	execv(prog, argv);
	fprintf(stderr, "relayd: cannot run %s: %s\n", prog, strerror(errno));
	_exit(EX_OSERR);
}

/*
 * In a delivery process: an access token for route into token (size
 * bytes).  refused: the token a server just refused, or NULL.  0, or the
 * IPC_TOKEN result (TOKEN_TEMP, TOKEN_CONFIG) with why.
 */
int
token_get(const struct config *conf, const char *route, const char *refused,
    char *token, size_t size, char *why, size_t whylen)
{
	struct ipc_frame	*f, *rep;
	char			 path[PATH_MAX];
	const unsigned char	*tok;
	size_t			 toklen;
	uint32_t		 result = TOKEN_TEMP;
	int			 s;

	snprintf(why, whylen, "the token process does not answer");
	if (path_join(path, sizeof(path), conf->run_directory,
	    "relayd-token.sock") == -1 ||
	    (s = ipc_connect(path, TOKEN_WAIT)) == -1)
		return TOKEN_TEMP;
	f = xmalloc(sizeof(*f));
	rep = xmalloc(sizeof(*rep));
	ipc_frame_init(f, IPC_TOKEN_GET, 1);
	ipc_put_str(f, route);
	ipc_put_bytes(f, refused != NULL ? refused : "",
	    refused != NULL ? strlen(refused) : 0);
	if (ipc_call(s, f, -1, rep) == 0 && rep->type == IPC_TOKEN &&
	    ipc_get_u32(rep, &result) == 0 &&
	    ipc_get_bytes(rep, &tok, &toklen) == 0 &&
	    ipc_get_str(rep, why, whylen) == 0 && ipc_get_end(rep) == 0) {
		if (result == TOKEN_OK && (toklen == 0 || toklen >= size)) {
			result = TOKEN_TEMP;
			snprintf(why, whylen, "unusable token");
		} else if (result == TOKEN_OK) {
			memcpy(token, tok, toklen);
			token[toklen] = '\0';
		} else if (result != TOKEN_CONFIG)
			result = TOKEN_TEMP;
	} else
		result = TOKEN_TEMP;
	close(s);
	explicit_bzero(rep, sizeof(*rep));
	free(rep);
	free(f);
	return result;
}
