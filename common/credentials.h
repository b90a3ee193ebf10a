/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * credentials.h: relay_auth_file, how relayd logs in to each smarthost.
 *
 * The file is read as root (common/secret.c's rules).  Its old form is
 * one line "user password" for every route.  Its stanza form gives each
 * route its own login, a password or OAuth2 (doc/oauth.md):
 *
 *	route smtp:[smtp.office365.com]:587
 *	user alice@example.com
 *	oauth xoauth2
 *	token_endpoint https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
 *	client_id ...
 *
 * A client proves itself with client_secret or with client_certificate
 * (a signed assertion, oauth_assertion.c); credentials_load() reads the
 * certificate and its key then, as root.
 */
#ifndef FERRY_CREDENTIALS_H
#define FERRY_CREDENTIALS_H

#include <stddef.h>
#include <stdio.h>

struct client_cert;

enum cred_kind {
	CRED_PASSWORD,
	CRED_OAUTH
};

enum oauth_mech {
	MECH_AUTO,		/* OAUTHBEARER if offered, else XOAUTH2 */
	MECH_XOAUTH2,
	MECH_OAUTHBEARER
};

enum oauth_grant {
	GRANT_REFRESH_TOKEN,
	GRANT_CLIENT_CREDENTIALS
};

struct credential {
	char		*route;		/* NULL: every route (the old form) */
	char		*where;		/* "FILE:LINE" of the route line */
	enum cred_kind	 kind;
	char		*user;
	char		*password;
	enum oauth_mech	 mech;
	enum oauth_grant grant;
	char		*token_endpoint;
	char		*device_endpoint;
	char		*client_id;
	char		*client_secret;
	char		*client_certificate;	/* path: a PEM certificate */
	char		*client_key;	/* path: its key; NULL: in the same file */
	struct client_cert *cert;	/* both, loaded (oauth_assertion.c) */
	char		*scope;
	char		*refresh_token;
};

struct credentials {
	struct credential	*v;
	size_t			 n;
};

int	 credentials_load(const char *, struct credentials *);
int	 credentials_parse(const char *, FILE *, struct credentials *);
const struct credential *credentials_find(const struct credentials *,
	    const char *);
void	 credentials_forget_oauth(struct credentials *);
void	 credentials_free(struct credentials *);
const char *credential_mech_name(enum oauth_mech);

#endif
