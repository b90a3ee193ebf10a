/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_dialog.h: the client side of an SMTP conversation up to the
 * point where mail (or a probe) can start: greeting, EHLO (HELO if
 * refused), STARTTLS as a policy says, AUTH.  relayd delivers over it;
 * delegated asks its questions over it.  Blocking, with a timeout per
 * reply; no logging, so threads may use it.
 */
#ifndef FERRY_SMTP_DIALOG_H
#define FERRY_SMTP_DIALOG_H

#include "smtp_io.h"

/* Extensions the server announced in its EHLO reply. */
#define EXT_PIPELINING	0x01
#define EXT_SIZE	0x02
#define EXT_8BITMIME	0x04
#define EXT_STARTTLS	0x08
#define EXT_AUTH_PLAIN	0x10
#define EXT_AUTH_LOGIN	0x20
#define EXT_SMTPUTF8	0x40
#define EXT_AUTH_XOAUTH2	0x80
#define EXT_AUTH_OAUTHBEARER	0x100

struct smtp_policy {
	const char	*helo;		/* our name in EHLO */
	const char	*tls;		/* none, may, encrypt or verify */
	SSL_CTX		*tls_ctx;	/* smtp_tls_context(), unless "none" */
	int		 timeout;	/* seconds per reply */
};

struct smtp_conn {
	struct smtp_io			 io;
	const struct smtp_policy	*policy;
	int				 ext;		/* EXT_* */
	int				 tls;		/* STARTTLS done */
};

SSL_CTX	*smtp_tls_context(const char *, const char *, char *, size_t);
int	 smtp_command(struct smtp_conn *, struct smtp_reply *, const char *);
int	 smtp_greet(struct smtp_conn *, const char *, struct smtp_reply *,
	    char *, size_t);
int	 smtp_auth(struct smtp_conn *, const char *, const char *,
	    struct smtp_reply *);
int	 smtp_basic_auth_disabled(const struct smtp_reply *);
int	 smtp_auth_bearer(struct smtp_conn *, int, const char *, const char *,
	    const char *, int, struct smtp_reply *);

#endif
