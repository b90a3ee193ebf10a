/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth.h: OAuth2 access tokens for smarthost logins (doc/oauth.md).
 *
 * oauth.c asks a token endpoint over HTTPS (RFC 6749 refresh-token and
 * client-credentials grants, RFC 8628 device authorization) and parses
 * its answer; oauth_assertion.c signs for a client with a certificate;
 * oauth_state.c keeps what it got in a state file per route.
 * Blocking; nothing here logs.
 */
#ifndef FERRY_OAUTH_H
#define FERRY_OAUTH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>

#include "credentials.h"

#define OAUTH_TOKEN_MAX	16384	/* longest token kept, NUL included */
#define OAUTH_TEXT_MAX	256
#define OAUTH_SEED_LEN	64	/* hex SHA-256 */

/* What became of a request to the token endpoint. */
enum oauth_status {
	OAUTH_OK,
	OAUTH_PENDING,		/* device flow: not approved yet */
	OAUTH_SLOW_DOWN,	/* device flow: poll less often */
	OAUTH_TEMP,		/* try again later: network, 5xx */
	OAUTH_CONFIG		/* refused: the admin must act */
};

struct oauth_answer {
	enum oauth_status status;
	char		 error[64];	/* the endpoint's error code, or ours */
	char		 text[OAUTH_TEXT_MAX];	/* why, printable, no secret */
	char		 access_token[OAUTH_TOKEN_MAX];
	char		 refresh_token[OAUTH_TOKEN_MAX];	/* "": none new */
	long long	 expires_in;
	/* device authorization only */
	char		 device_code[OAUTH_TOKEN_MAX];
	char		 user_code[64];
	char		 verification_uri[512];
	long long	 interval;
};

/* Grants, each filling *a; OAUTH_OK when a token came. */
enum oauth_status oauth_grant(const struct credential *, const char *,
	    const char *, struct oauth_answer *);
enum oauth_status oauth_device_start(const struct credential *, const char *,
	    struct oauth_answer *);
enum oauth_status oauth_device_poll(const struct credential *, const char *,
	    const char *, struct oauth_answer *);
void	 oauth_answer_parse(long, const char *, size_t, struct oauth_answer *);
void	 oauth_answer_set(struct oauth_answer *, enum oauth_status,
	    const char *, const char *);
void	 oauth_answer_wipe(struct oauth_answer *);

/* A client's certificate and the assertions it signs. */
#define OAUTH_ASSERTION_MAX	8192
int	 oauth_cert_load(struct credential *, const char *);
void	 oauth_cert_free(struct credential *);
int	 oauth_assertion(const struct credential *, char *, size_t);
int	 oauth_cert_info(const struct credential *, const char **, time_t *);

/* The state file of one route. */
enum oauth_error_class {
	OAUTH_ERROR_NONE,
	OAUTH_ERROR_TEMP,
	OAUTH_ERROR_CONFIG
};

struct oauth_state {
	char		 route[PATH_MAX];
	char		 refresh_token[OAUTH_TOKEN_MAX];
	char		 seed[OAUTH_SEED_LEN + 1];	/* oauth_seed() */
	char		 access_token[OAUTH_TOKEN_MAX];
	long long	 expires_at;	/* of the access token, time(3) */
	long long	 refreshed_at;
	enum oauth_error_class error_class;
	long long	 error_at;
	char		 error[OAUTH_TEXT_MAX + 80];	/* "code: text" */
};

void	 oauth_state_path(const char *, const char *, char *, size_t);
int	 oauth_state_load(const char *, struct oauth_state *);
int	 oauth_state_save(const char *, const struct oauth_state *, uid_t,
	    gid_t);
void	 oauth_state_wipe(struct oauth_state *);
void	 oauth_seed(const char *, char *);
const char *oauth_refresh_token(const struct oauth_state *,
	    const struct credential *);
const char *oauth_error_class_name(enum oauth_error_class);

#endif
