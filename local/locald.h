/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * locald.h: what locald's parts share (doc/local.md).
 *
 * locald keeps root only to become a recipient: every delivery runs in a
 * child that has dropped to the recipient's uid, gid and groups (or to
 * local_alias_user for the |command and /file targets of alias_file)
 * before it opens anything.  The functions below marked "in a child" run
 * there, as that user, and only report what happened in *st.
 */
#ifndef FERRY_LOCALD_H
#define FERRY_LOCALD_H

#include <sys/types.h>

#include "config.h"
#include "result.h"

#define DELIVERY_TEXT_MAX	512

/* One recipient's delivery: what is written before the message, and who. */
struct delivery {
	const char	*id;		/* queue ID: file names, logs */
	const char	*sender;	/* envelope sender; "" is the null one */
	const char	*recipient;	/* Delivered-To: local@domain, folded */
	const char	*orig_recipient;	/* as the message was sent to */
	const char	*user;		/* the Unix account (or alias user) */
	const char	*home;		/* its home directory */
	const char	*local;		/* the local part, no extension */
	const char	*extension;	/* after recipient_delimiter, or "" */
	const char	*domain;
	int		 msgfd;		/* the message (CRLF), read by pread */
};

/* What a delivery did: a result and a reply-like text ("250 2.0.0 ..."). */
struct delivery_status {
	enum delivery_result result;	/* DELIVERED, TEMP or PERM */
	char		 text[DELIVERY_TEXT_MAX];
};

void	 delivery_status_set(struct delivery_status *, enum delivery_result,
	    const char *, ...) __attribute__((__format__(printf, 3, 4)));

/* copy.c: the message as a local file or program sees it. */
#define COPY_MBOX	0x1	/* "From " line, >From quoting, blank line */
#define COPY_FORWARD	0x2	/* Delivered-To only: the copy sent on */
int	 delivery_copy(int, const struct delivery *, int);

/* mailbox.c (in a child): an mbox file, and the /file target. */
#define MBOX_LOCK_WAIT	10	/* seconds, for both locks */
void	 mbox_deliver(const char *, const struct delivery *,
	    struct delivery_status *);

/* maildir.c (in a child): ~/Maildir/ */
void	 maildir_deliver(const char *, const struct delivery *,
	    struct delivery_status *);

/* command.c (in a child): the |command target. */
void	 command_deliver(const char *, const struct delivery *, long long,
	    struct delivery_status *);

struct alias_table;
struct header_info;

/* One recipient of a message, as a recipient process works on it. */
struct local_job {
	const struct config	*conf;
	const struct alias_table *aliases;
	const struct header_info *header;
	const char		*id;
	const char		*sender;
	const char		*addr;		/* as queued has it */
	int			 msgfd;
	const char		*sendmail;	/* Ferry's, for forwarding */
};

/* expand.c (in the recipient process): everything for one recipient. */
void	 local_deliver(const struct local_job *, struct delivery_status *);

/* recipients.c: run_directory/local-recipients, for smtpd. */
int	 local_table_write(const struct config *, const struct alias_table *);

#endif
