/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * bounce.c: build and commit a delivery status notification.
 *
 * A bounce is a new message from the null sender to the original sender:
 * multipart/report (RFC 6522) with a human explanation, a
 * message/delivery-status part (RFC 3464) with one block per recipient,
 * and the original's header block as text/rfc822-headers.  It is durable,
 * directory fsync included, before the caller removes the original, so a
 * crash in between sends a bounce twice but never loses one.
 *
 * Remote replies are hostile text.  Before one goes into the report it
 * becomes printable ASCII on one logical line, folded at blanks, so
 * nothing a server says can add a field, a MIME part or a bare CR or LF.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bounce.h"
#include "log.h"
#include "message.h"
#include "queued.h"
#include "store.h"
#include "util.h"

#define HEADERS_MAX	65536	/* most of the original's headers returned */
#define FOLD_WIDTH	78	/* RFC 5322's recommended line length */
#define FIELD_MAX	600	/* a report field: a type and an error text */

static const struct {
	enum rcpt_state	 state;		/* the recipients it reports */
	const char	*action;	/* RFC 3464 Action */
	const char	*status;	/* for a recipient without one */
	const char	*subject;
	const char	*explanation;
} kinds[] = {
	[BOUNCE_FAILED] = { RCPT_FAILED, "failed", "5.0.0",
	    "Undelivered Mail Returned to Sender",
	    "Your message could not be delivered to the recipients below.\r\n"
	    "The mail system gave up; each recipient is listed with the\r\n"
	    "reason.  The headers of your message are attached.\r\n" },
	[BOUNCE_DELAYED] = { RCPT_DEFERRED, "delayed", "4.0.0",
	    "Delayed Mail (still being retried)",
	    "This is a warning only: you do not need to send your message\r\n"
	    "again.  It could not be delivered yet to the recipients below,\r\n"
	    "and the mail system keeps trying.  You will get another notice\r\n"
	    "if it gives up.  The headers of your message are attached.\r\n" }
};

/* A sender hears of what happened to these recipients: is there any? */
int
bounce_wanted(const struct envelope *env, enum bounce_kind kind)
{
	size_t	 i;

	if (env->sender[0] == '\0')
		return 0;	/* a bounce never bounces */
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == kinds[kind].state)
			return 1;
	return 0;
}

static int
is_blank(unsigned char c)
{
	return c <= ' ' || c == 0x7f;
}

/*
 * Write "name: value" and CRLF.  Control bytes (a multi-line reply's line
 * ends too) separate words like blanks, 8-bit bytes become '?', and the
 * line is folded before a word that would pass FOLD_WIDTH.
 */
static void
put_field(FILE *fp, const char *name, const char *value)
{
	const unsigned char	*p = (const unsigned char *)value;
	size_t			 first, col, len, i;

	fprintf(fp, "%s:", name);
	first = col = strlen(name) + 1;
	for (;;) {
		while (*p != '\0' && is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		for (len = 0; p[len] != '\0' && !is_blank(p[len]); len++)
			;
		if (col > first && col + 1 + len > FOLD_WIDTH) {
			fputs("\r\n", fp);
			col = 0;
		}
		fputc(' ', fp);
		for (i = 0; i < len; i++)
			fputc(p[i] < 0x80 ? p[i] : '?', fp);
		col += 1 + len;
		p += len;
	}
	fputs("\r\n", fp);
}

static void
put_date_field(FILE *fp, const char *name, time_t t)
{
	fprintf(fp, "%s: ", name);
	message_write_date(fp, t);
	fputs("\r\n", fp);
}

static void
put_headers(FILE *fp, const struct envelope *env, const char *to,
    const char *boundary, enum bounce_kind kind)
{
	const struct config	*conf = queue_conf();

	fprintf(fp, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n"
	    "To: <%s>\r\nSubject: %s\r\n", conf->myorigin, to,
	    kinds[kind].subject);
	put_date_field(fp, "Date", env->arrival);
	fprintf(fp, "Message-ID: <%s@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n",
	    env->id, conf->myhostname, boundary);
}

static void
put_part_start(FILE *fp, const char *boundary, const char *description,
    const char *type)
{
	fprintf(fp, "\r\n--%s\r\nContent-Description: %s\r\n"
	    "Content-Type: %s\r\n\r\n", boundary, description, type);
}

/* Part 1: for a person. */
static void
put_explanation(FILE *fp, const struct envelope *orig, enum bounce_kind kind)
{
	const struct rcpt	*r;
	char			 name[ADDR_MAX + 3];
	size_t			 i;

	fprintf(fp, "This is the mail system at host %s.\r\n\r\n%s",
	    queue_conf()->myhostname, kinds[kind].explanation);
	for (i = 0; i < orig->nrcpt; i++) {
		r = &orig->rcpt[i];
		if (r->state != kinds[kind].state)
			continue;
		snprintf(name, sizeof(name), "<%s>", r->addr);
		fputs("\r\n", fp);
		put_field(fp, name, r->error);
	}
}

/* Part 2: for programs (RFC 3464). */
static void
put_status(FILE *fp, const struct envelope *orig, enum bounce_kind kind)
{
	const struct config	*conf = queue_conf();
	const struct rcpt	*r;
	char			 diag[FIELD_MAX];
	size_t			 i;

	fprintf(fp, "Reporting-MTA: dns; %s\r\nX-Ferry-Queue-ID: %s\r\n",
	    conf->myhostname, orig->id);
	put_date_field(fp, "Arrival-Date", orig->arrival);
	for (i = 0; i < orig->nrcpt; i++) {
		r = &orig->rcpt[i];
		if (r->state != kinds[kind].state)
			continue;
		fprintf(fp, "\r\nFinal-Recipient: rfc822; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\n", r->addr,
		    kinds[kind].action,
		    r->status[0] != '\0' ? r->status : kinds[kind].status);
		if (r->error[0] != '\0') {
			/* a reply from a server, or Ferry's own reason */
			snprintf(diag, sizeof(diag), "%s; %s",
			    strspn(r->error, "0123456789") == 3 ? "smtp" :
			    "X-Ferry", r->error);
			put_field(fp, "Diagnostic-Code", diag);
		}
		if (kind == BOUNCE_DELAYED)
			put_date_field(fp, "Will-Retry-Until",
			    orig->arrival + conf->queue_lifetime);
	}
}

/* Part 3: the original's header block, bounded, lines ended by CRLF. */
static void
put_original_headers(FILE *fp, const char *id)
{
	FILE	*in;
	char	*line;
	ssize_t	 n;
	size_t	 total = 0;
	int	 fd, ended;

	if ((fd = store_open_message(id, O_RDONLY)) == -1 ||
	    (in = fdopen(fd, "r")) == NULL) {
		log_warn("id=%s cannot read the headers for a bounce", id);
		if (fd != -1)
			close(fd);
		return;
	}
	line = xmalloc(HEADERS_MAX + 1);
	while ((n = message_read_line(in, line, HEADERS_MAX + 1, &ended)) > 0) {
		if (total + n + 2 > HEADERS_MAX ||
		    (!message_header_start(line) && line[0] != ' ' &&
		    line[0] != '\t'))
			break;
		fwrite(line, 1, n, fp);
		fputs("\r\n", fp);
		total += n + 2;
	}
	free(line);
	fclose(in);
}

static void
put_report(FILE *fp, const struct envelope *orig, const struct envelope *env,
    enum bounce_kind kind)
{
	char	 boundary[QUEUE_ID_LEN + 300];

	snprintf(boundary, sizeof(boundary), "%s/%s", env->id,
	    queue_conf()->myhostname);
	put_headers(fp, env, orig->sender, boundary, kind);
	put_part_start(fp, boundary, "Notification",
	    "text/plain; charset=us-ascii");
	put_explanation(fp, orig, kind);
	put_part_start(fp, boundary, "Delivery report",
	    "message/delivery-status");
	put_status(fp, orig, kind);
	put_part_start(fp, boundary, "Message headers", "text/rfc822-headers");
	put_original_headers(fp, orig->id);
	fprintf(fp, "\r\n--%s--\r\n", boundary);
}

/*
 * Commit a bounce of kind about orig to its sender: message synced,
 * envelope renamed into place, directory synced, then scheduled.
 * -1 (logged) leaves nothing behind; the caller keeps orig and retries.
 */
int
bounce_commit(const struct envelope *orig, enum bounce_kind kind)
{
	struct envelope	 env;
	struct stat	 st;
	char		 id[QUEUE_ID_LEN + 1];
	FILE		*fp;
	const char	*step = "write the bounce";
	int		 fd;

	if ((fd = store_reserve(id)) == -1) {
		log_warn("id=%s cannot create a bounce", orig->id);
		return -1;
	}
	envelope_init(&env, id);
	env.arrival = time(NULL);
	envelope_add_rcpt(&env, orig->sender);
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto fail;
	}
	put_report(fp, orig, &env, kind);
	if (fflush(fp) == EOF || ferror(fp) || fdatasync(fd) == -1 ||
	    fstat(fd, &st) == -1) {
		fclose(fp);
		goto fail;
	}
	if (fclose(fp) == EOF)
		goto fail;
	env.size = st.st_size;
	if (store_write_envelope(&env, -1, &step) == -1)
		goto fail;
	step = "fsync of the queue directory";
	if (store_sync() == -1)
		goto fail;
	log_event("event=bounce id=%s bounce=%s action=%s", orig->id, id,
	    kinds[kind].action);
	queue_commit_schedule(&env);
	return 0;
fail:
	log_warn("id=%s cannot commit a bounce: %s", orig->id, step);
	store_remove(id);
	envelope_free(&env);
	return -1;
}
