/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * submit.c: what queued adds to a local submission.
 *
 * sendmail writes the user's input, as it came, to ID.in.  At commit,
 * submit_rewrite() copies it to ID.msg: a Received header naming the
 * submitter's uid first; the header block with Bcc removed (and, for -t,
 * its To, Cc and Bcc addresses added to the envelope as Postfix does);
 * Message-ID, Date and From where missing; then the body.  Every line
 * ending (LF, CR or CRLF) becomes CRLF, so nothing bare leaves Ferry.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "message.h"
#include "submit.h"
#include "util.h"

#define FIELD_MAX	65536	/* longest header field, folded lines included */

struct rewrite {
	const struct submit_req	*req;
	struct envelope		*env;
	FILE			*in;
	FILE			*out;
	char			*field;		/* header field being read */
	size_t			 flen;
	int			 has_msgid, has_date, has_from;
	const char		*why;
};

/*
 * Parse addr, qualify a bare local part with origin (when origin is not
 * NULL), and add it to env unless it is there already.
 */
int
queue_add_rcpt(struct envelope *env, const char *addr, const char *origin,
    const char **why)
{
	struct mailaddr	 a;
	char		 buf[ADDR_MAX + 1];
	size_t		 i;

	if (addr_parse(addr, origin != NULL ? ADDR_ALLOW_NODOMAIN : 0, &a,
	    why) == -1)
		return -1;
	if (a.domain[0] == '\0')
		strlcpy(a.domain, origin, sizeof(a.domain));
	if (addr_format(&a, buf, sizeof(buf)) == -1) {
		*why = "address too long";
		return -1;
	}
	for (i = 0; i < env->nrcpt; i++)
		if (strcmp(env->rcpt[i].addr, buf) == 0)
			return 0;
	envelope_add_rcpt(env, buf);
	return 0;
}

/* Parse and set the envelope sender; "" and "<>" are the null sender. */
int
queue_set_sender(struct envelope *env, const char *addr, const char *origin,
    const char **why)
{
	struct mailaddr	 a;
	char		 buf[ADDR_MAX + 1];
	int		 flags = ADDR_ALLOW_NULL;

	if (origin != NULL)
		flags |= ADDR_ALLOW_NODOMAIN;
	if (addr_parse(addr, flags, &a, why) == -1)
		return -1;
	if (!addr_is_null(&a) && a.domain[0] == '\0')
		strlcpy(a.domain, origin, sizeof(a.domain));
	if (addr_format(&a, buf, sizeof(buf)) == -1) {
		*why = "address too long";
		return -1;
	}
	free(env->sender);
	env->sender = xstrdup(buf);
	return 0;
}

static int
field_is(const char *field, const char *name)
{
	size_t	 n = strlen(name);

	return strncasecmp(field, name, n) == 0 && field[n] == ':';
}

static int
add_header_rcpts(struct rewrite *rw)
{
	const char	*list = strchr(rw->field, ':') + 1;
	char		 addr[ADDR_MAX + 3];
	int		 r;

	while ((r = addr_list_next(&list, addr, sizeof(addr))) == 1) {
		if (rw->env->nrcpt >= (size_t)rw->req->conf->max_recipients) {
			rw->why = "too many recipients";
			return -1;
		}
		if (queue_add_rcpt(rw->env, addr, rw->req->conf->myorigin,
		    &rw->why) == -1)
			return -1;
	}
	if (r == -1) {
		rw->why = "bad address in a To, Cc or Bcc header";
		return -1;
	}
	return 0;
}

/* Write the buffered header field, unless it is Bcc. */
static int
flush_field(struct rewrite *rw)
{
	char	*f = rw->field;

	if (rw->flen == 0)
		return 0;
	rw->field[rw->flen] = '\0';
	rw->flen = 0;
	if (rw->req->header_rcpts && (field_is(f, "To") || field_is(f, "Cc") ||
	    field_is(f, "Bcc")) && add_header_rcpts(rw) == -1)
		return -1;
	if (field_is(f, "Bcc"))
		return 0;
	rw->has_msgid |= field_is(f, "Message-ID");
	rw->has_date |= field_is(f, "Date");
	rw->has_from |= field_is(f, "From");
	fputs(f, rw->out);
	return 0;
}

/* Append a physical line and its CRLF to the field being read. */
static int
field_append(struct rewrite *rw, const char *line, size_t n)
{
	if (rw->flen + n + 2 >= FIELD_MAX) {
		rw->why = "header field too long";
		return -1;
	}
	/* A field is written as a C string: a NUL would cut its CRLF off
	 * and glue the next field, or the body, onto it. */
	if (memchr(line, '\0', n) != NULL) {
		rw->why = "NUL byte in a header";
		return -1;
	}
	memcpy(rw->field + rw->flen, line, n);
	memcpy(rw->field + rw->flen + n, "\r\n", 2);
	rw->flen += n + 2;
	return 0;
}

/* Write the From header a local user's message lacks. */
static void
write_from(struct rewrite *rw)
{
	const char	*p;

	fputs("From: ", rw->out);
	if (rw->req->fullname[0] != '\0') {
		fputc('"', rw->out);
		for (p = rw->req->fullname; *p != '\0'; p++) {
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				continue;
			if (*p == '"' || *p == '\\')
				fputc('\\', rw->out);
			fputc(*p, rw->out);
		}
		fputs("\" <", rw->out);
	}
	if (rw->env->sender[0] != '\0')
		fputs(rw->env->sender, rw->out);
	else
		fprintf(rw->out, "%s@%s", rw->req->login,
		    rw->req->conf->myorigin);
	fprintf(rw->out, "%s\r\n", rw->req->fullname[0] != '\0' ? ">" : "");
}

static void
write_missing_headers(struct rewrite *rw, time_t now)
{
	if (!rw->has_msgid)
		fprintf(rw->out, "Message-ID: <%s@%s>\r\n", rw->env->id,
		    rw->req->conf->myhostname);
	if (!rw->has_date) {
		fputs("Date: ", rw->out);
		message_write_date(rw->out, now);
		fputs("\r\n", rw->out);
	}
	if (!rw->has_from)
		write_from(rw);
}

/*
 * Copy the header block.  Returns 1 if a line that is no header ended it
 * early (that line is then in line and starts the body), 0 otherwise.
 */
static int
rewrite_headers(struct rewrite *rw, char *line, size_t size, ssize_t *lenp)
{
	ssize_t	 n;
	int	 ended, first = 1;

	while ((n = message_read_line(rw->in, line, size, &ended)) != -1) {
		if (first && strncmp(line, "From ", 5) == 0) {
			first = 0;
			continue;	/* an mbox separator, as Postfix drops */
		}
		first = 0;
		if (n == 0)
			break;
		if ((line[0] == ' ' || line[0] == '\t') && rw->flen > 0) {
			if (field_append(rw, line, n) == -1)
				return -1;
			continue;
		}
		if (flush_field(rw) == -1)
			return -1;
		if (!message_header_start(line) || (size_t)n == size - 1) {
			*lenp = n;
			return ended ? 1 : 2;
		}
		if (field_append(rw, line, n) == -1)
			return -1;
	}
	return flush_field(rw);
}

/*
 * Copy the body, turning every line ending into CRLF; at_bol says whether
 * the output is at the start of a line, so the message ends with CRLF.
 */
static void
rewrite_body(struct rewrite *rw, int at_bol)
{
	char	 buf[16384];
	size_t	 n, i;
	int	 cr = 0;

	while ((n = fread(buf, 1, sizeof(buf), rw->in)) > 0) {
		for (i = 0; i < n; i++) {
			if (cr && buf[i] == '\n') {
				cr = 0;
				continue;
			}
			cr = buf[i] == '\r';
			if (buf[i] == '\r' || buf[i] == '\n') {
				fputs("\r\n", rw->out);
				at_bol = 1;
			} else {
				putc_unlocked(buf[i], rw->out);
				at_bol = 0;
			}
		}
	}
	if (!at_bol)
		fputs("\r\n", rw->out);
}

static int
rewrite_message(struct rewrite *rw, time_t now)
{
	char	*line;
	ssize_t	 n = 0;
	int	 r;

	fprintf(rw->out, "Received: by %s (Ferry, from userid %lu)\r\n"
	    "\tid %s; ", rw->req->conf->myhostname,
	    (unsigned long)rw->req->uid, rw->env->id);
	message_write_date(rw->out, now);
	fputs("\r\n", rw->out);
	line = xmalloc(FIELD_MAX);
	r = rewrite_headers(rw, line, FIELD_MAX, &n);
	if (r != -1) {
		write_missing_headers(rw, now);
		fputs("\r\n", rw->out);
		if (r > 0) {
			fwrite(line, 1, n, rw->out);
			if (r == 1)
				fputs("\r\n", rw->out);
		}
		rewrite_body(rw, r != 2);
	}
	free(line);
	return r == -1 ? -1 : 0;
}

/* A stdio stream on a copy of fd, so fclose() leaves fd open. */
static FILE *
fdopen_dup(int fd, const char *mode)
{
	FILE	*fp;
	int	 copy;

	if ((copy = dup(fd)) == -1)
		return NULL;
	if ((fp = fdopen(copy, mode)) == NULL)
		close(copy);
	return fp;
}

/*
 * Rewrite the raw input (infd) into the message file (outfd) and record
 * its size in env.  Returns 0, or -1 with *why: errno is 0 for a problem
 * with the message (permanent), else the system error (temporary).
 */
int
submit_rewrite(const struct submit_req *req, struct envelope *env, int infd,
    int outfd, const char **why)
{
	struct rewrite	 rw;
	struct stat	 st;
	int		 ret = -1;

	memset(&rw, 0, sizeof(rw));
	rw.req = req;
	rw.env = env;
	rw.field = xmalloc(FIELD_MAX);
	*why = "cannot read or write the queue file";
	if (lseek(infd, 0, SEEK_SET) == -1 || ftruncate(outfd, 0) == -1 ||
	    lseek(outfd, 0, SEEK_SET) == -1)
		goto done;
	if ((rw.in = fdopen_dup(infd, "r")) == NULL ||
	    (rw.out = fdopen_dup(outfd, "w")) == NULL)
		goto done;
	if (rewrite_message(&rw, time(NULL)) == -1) {
		*why = rw.why;
		errno = 0;
		goto done;
	}
	if (ferror(rw.in) || fflush(rw.out) == EOF || fstat(outfd, &st) == -1)
		goto done;
	env->size = st.st_size;
	ret = 0;
done:
	if (rw.in != NULL)
		fclose(rw.in);
	if (rw.out != NULL && fclose(rw.out) == EOF)
		ret = -1;
	free(rw.field);
	return ret;
}
