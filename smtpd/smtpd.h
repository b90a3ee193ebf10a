/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtpd.h: the SMTP front end's shared types (see doc/smtpd.md).
 */
#ifndef FERRY_SMTPD_H
#define FERRY_SMTPD_H

#include <sys/types.h>

#include <stdint.h>

#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "netaddr.h"

#define SMTP_LINE_MAX	1000	/* octets, CRLF included (RFC 5321 4.5.3.1) */
#define BODY_BUF_SIZE	65536
#define SMTPD_INPUT_MAX	(256 * 1024)	/* bytes read ahead of the parser */
#define SMTPD_OUTPUT_MAX (64 * 1024)	/* replies unread before we stop */

struct bufferevent;
struct client;
struct qclient;
struct ssl_ctx_st;

enum listener_kind {
	LISTEN_SMTP,		/* port 25: STARTTLS if configured */
	LISTEN_SUBMISSION,	/* port 587: STARTTLS, MAIL needs AUTH */
	LISTEN_SMTPS		/* port 465: implicit TLS, MAIL needs AUTH */
};

enum session_state {
	S_COMMAND,		/* reading command lines */
	S_AUTH_PLAIN,		/* AUTH PLAIN: waiting for the response */
	S_AUTH_USER,		/* AUTH LOGIN: waiting for the user name */
	S_AUTH_PASS,		/* AUTH LOGIN: waiting for the password */
	S_DATA,			/* DATA: message text up to CRLF.CRLF */
	S_BDAT			/* BDAT: bdat_left octets of a chunk */
};

/* Where the message text goes: the queue file, through the CRLF rules. */
struct body {
	int		 fd;		/* the queue file, or -1 */
	int		 state;		/* body.c's line state */
	int		 dots;		/* DATA (dot-stuffed) or BDAT */
	int		 bare;		/* a bare CR or LF was rejected */
	int		 failed;	/* a write to the queue file failed */
	int		 failed_errno;	/* and why */
	int		 too_big;
	long long	 size;		/* octets of message so far */
	long long	 max;
	size_t		 len;		/* bytes waiting in buf */
	char		*buf;		/* BODY_BUF_SIZE, during a message */
};

struct session {
	uint32_t		 id;		/* in every log line */
	int			 fd;
	enum listener_kind	 kind;
	struct netaddr		 addr;
	char			 ip[NETADDR_STRLEN];
	int			 loopback;
	int			 trusted;	/* in mynetworks */
	struct client		*client;	/* per-address counts */
	struct bufferevent	*bev;
	int			 tls;		/* TLS is on */
	int			 tls_pending;	/* STARTTLS said 220 */

	enum session_state	 state;
	int			 in_input;	/* inside session_input() */
	int			 waiting;	/* on queued, a lookup, a delay */
	int			 closing;
	int			 discarding;	/* skipping an overlong line */
	int			 errors;
	struct event		*delay;		/* session_reply_later() */
	char			 delayed_reply[SMTP_LINE_MAX];
	int			 delayed_close;
	int			 unknown_rcpts;	/* refused: a harvester? */
	struct event		*handshake;	/* TLS handshake deadline */
	void			*lookup;	/* a lookup in progress */

	char			 helo[256];
	int			 esmtp;
	char			 login[256];	/* authenticated user, or "" */
	int			 auth_failures;
	char			 auth_user[256];	/* AUTH LOGIN, first step */

	/* The mail transaction. */
	int			 in_mail;
	char			 sender[ADDR_MAX + 3];
	int			 smtputf8;
	char			**rcpts;
	size_t			 nrcpt;
	struct qclient		*queue;
	char			 queue_id[32];
	long long		 bdat_left;
	int			 bdat_last;
	const char		*bdat_error;	/* read the chunk, then say this */
	char			 pending_rcpt[ADDR_MAX + 3];	/* in lookup */
	struct body		 body;
	size_t			 messages;	/* queued in this session */
};

/* smtpd.c */
const struct config	*smtpd_conf(void);
struct event_base	*smtpd_base(void);
struct ssl_ctx_st	*smtpd_tls_ctx(void);
const char		*smtpd_queue_socket(void);
const char		*smtpd_delegate_socket(void);

/* listener.c */
void	 listeners_open(const struct config *);
void	 listeners_start(struct event_base *);

/* clients.c */
struct client	*client_get(const struct netaddr *);
void		 client_put(struct client *);
int		 client_sessions(const struct client *);
int		 client_auth_refused(struct client *);
void		 client_auth_failed(struct client *);
void		 clients_sweep(void);

/* session.c */
void	 session_start(int, const struct netaddr *, enum listener_kind,
	    struct client *);
int	 session_count(void);
void	 session_reply(struct session *, const char *, ...)
	    __attribute__((__format__(__printf__, 2, 3)));
void	 session_close(struct session *, const char *);
void	 session_wait(struct session *);
void	 session_reply_later(struct session *, int, const char *, int);
void	 session_resume(struct session *);
void	 session_starttls(struct session *);
void	 session_reset(struct session *);
void	 session_enter_state(struct session *, enum session_state);
int	 session_auth_allowed(const struct session *);

/* command.c */
void	 command_line(struct session *, char *);
void	 command_data_end(struct session *);
void	 command_chunk_end(struct session *);
int	 split_path(char *, const char *, char **, char **);
int	 size_param(const char *, long long *);

/* body.c */
enum body_status { BODY_MORE, BODY_END, BODY_BARE };
void	 body_begin(struct body *, int, int, long long);
void	 body_end(struct body *);
int	 body_header(struct body *, struct session *);
enum body_status body_feed(struct body *, const unsigned char *, size_t,
	    size_t *, int);
int	 body_finish(struct body *);

/* auth.c */
void	 auth_command(struct session *, char *);
void	 auth_response(struct session *, char *);

/* policy.c */
enum rcpt_verdict { RCPT_LOCAL, RCPT_RELAY, RCPT_DENIED };
int	 policy_accepted_domain(const char *);
int	 policy_local_domain(const char *);
enum rcpt_verdict policy_rcpt(const struct session *,
	    const struct mailaddr *);
int	 policy_sender_ok(const struct session *, const struct mailaddr *);

/* qclient.c */
typedef void (*qclient_cb)(struct session *, int, const char *);
#define QC_OK	0
#define QC_TEMP	1
#define QC_PERM	2
#define QC_NOSPACE	3	/* the queue's file system is full */
int	 qclient_open(struct session *, qclient_cb);
void	 qclient_commit(struct session *, qclient_cb);
void	 qclient_close(struct session *);

/* tls.c */
struct ssl_ctx_st *tls_server_context(const char *, const char *);

#endif
