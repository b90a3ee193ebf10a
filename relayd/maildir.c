/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * maildir.c: relayd's maildir: routes, for virtual mailboxes that are no
 * Unix accounts: the path made from the route and the local part, then
 * common/maildir.c stores the message (tmp/, fsync, new/, fsync).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "relayd.h"
#include "util.h"

/* path with %u replaced by the local part, which may not escape it. */
static int
maildir_path(const char *tmpl, const char *addr, char *buf, size_t size,
    const char **why)
{
	char		 local[256];
	const char	*at = strrchr(addr, '@'), *p;
	size_t		 n = at != NULL ? (size_t)(at - addr) : strlen(addr), o = 0;

	if (n == 0 || n >= sizeof(local) || addr[0] == '.' ||
	    memchr(addr, '/', n) != NULL || memchr(addr, '"', n) != NULL) {
		*why = "550 5.1.3 bad mailbox name for local delivery";
		return -1;
	}
	memcpy(local, addr, n);
	local[n] = '\0';
	for (p = tmpl; *p != '\0' && o + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			o += strlcpy(buf + o, local, size - o);
			p++;
		} else
			buf[o++] = *p;
	}
	if (o + 8 >= size) {
		*why = "550 5.1.3 mailbox path too long";
		return -1;
	}
	buf[o] = '\0';
	return 0;
}

struct copy_arg {
	int		 in;
	const char	*head;
};

/* The message as queued has it (CRLF), after Return-Path and Delivered-To. */
static int
copy_message(int out, void *arg)
{
	const struct copy_arg	*ca = arg;
	char			 buf[65536];
	ssize_t			 n;
	off_t			 off = 0;

	if (write_full(out, ca->head, strlen(ca->head)) == -1)
		return -1;
	while ((n = pread(ca->in, buf, sizeof(buf), off)) > 0) {
		if (write_full(out, buf, n) == -1)
			return -1;
		off += n;
	}
	return n == -1 ? -1 : 0;
}

/* Deliver the message to one recipient's Maildir. */
static void
maildir_one(const char *tmpl, struct relay_job *job, struct relay_rcpt *rc)
{
	char		 dir[PATH_MAX - 512], head[1024];
	const char	*why = NULL;
	struct copy_arg	 ca = { job->fd, head };

	if (maildir_path(tmpl, rc->addr, dir, sizeof(dir), &why) == -1) {
		rc->result = RESULT_PERM;
		strlcpy(rc->reply, why, sizeof(rc->reply));
		return;
	}
	snprintf(head, sizeof(head), "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	    job->sender, rc->addr);
	if (maildir_store(dir, job->id, copy_message, &ca) == -1) {
		rc->result = RESULT_TEMP;	/* disk full, permissions: fixable */
		snprintf(rc->reply, sizeof(rc->reply),
		    "451 4.3.0 Maildir delivery to %.300s failed: %s", dir,
		    strerror(errno));
		return;
	}
	rc->result = RESULT_DELIVERED;
	snprintf(rc->reply, sizeof(rc->reply), "250 2.0.0 delivered to %.400s/new",
	    dir);
}

void
maildir_deliver(struct relay_job *job, const struct route *route)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		maildir_one(route->path, job, &job->rcpt[i]);
}
