/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * envelope.c: read and write envelopes.
 *
 * The format is text, one "key value" per line, opening with a version
 * line and closing with "end", so a truncated file is recognised and
 * never half-interpreted.  Values are escaped (%XX for blanks, control
 * bytes and '%'; "-" for the empty string): remote replies are hostile
 * input and can never inject a line (OpenSMTPD CVE-2020-8794).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "util.h"

#define ENVELOPE_MAGIC	"ferry-envelope 1"
#define ENV_LINE_MAX	8192
#define ERROR_MAX	512	/* longest error text kept per recipient */

static const char *const rcpt_state_names[] = {
	"pending", "deferred", "delivered", "failed"
};

const char *
rcpt_state_name(enum rcpt_state s)
{
	return rcpt_state_names[s];
}

int
queue_id_valid(const char *id)
{
	size_t	 i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!isxdigit((unsigned char)id[i]) || islower((unsigned char)id[i]))
			return 0;
	return id[QUEUE_ID_LEN] == '\0';
}

void
envelope_init(struct envelope *env, const char *id)
{
	memset(env, 0, sizeof(*env));
	strlcpy(env->id, id, sizeof(env->id));
	env->sender = xstrdup("");
	env->uid = -1;
}

void
envelope_add_rcpt(struct envelope *env, const char *addr)
{
	struct rcpt	*r;

	env->rcpt = xreallocarray(env->rcpt, env->nrcpt + 1,
	    sizeof(*env->rcpt));
	r = &env->rcpt[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->error = xstrdup("");
}

/* Keep a bounded copy of an error text. */
void
envelope_set_error(struct rcpt *r, const char *text)
{
	free(r->error);
	r->error = strndup(text, ERROR_MAX);
	if (r->error == NULL)
		r->error = xstrdup("");
}

/* An RFC 3463 status code: class, subject and detail, "5.1.1". */
static int
status_valid(const char *s)
{
	size_t	 subject, detail;

	if (s[0] == '\0' || strchr("245", s[0]) == NULL || s[1] != '.')
		return 0;
	subject = strspn(s + 2, "0123456789");
	if (subject < 1 || subject > 3 || s[2 + subject] != '.')
		return 0;
	detail = strspn(s + 3 + subject, "0123456789");
	return detail >= 1 && detail <= 3 && s[3 + subject + detail] == '\0';
}

/*
 * Record the status of a reply: its enhanced code ("550 5.1.1 ..." gives
 * 5.1.1) when it has one of the same class as fallback, else fallback.
 */
void
envelope_set_status(struct rcpt *r, const char *reply, const char *fallback)
{
	char	 code[RCPT_STATUS_LEN];
	size_t	 n;

	strlcpy(r->status, fallback, sizeof(r->status));
	if (strspn(reply, "0123456789") != 3 ||
	    (reply[3] != ' ' && reply[3] != '-') || reply[4] != fallback[0])
		return;
	n = strcspn(reply + 4, " \t\r\n");
	if (n >= sizeof(code))
		return;
	memcpy(code, reply + 4, n);
	code[n] = '\0';
	if (status_valid(code))
		strlcpy(r->status, code, sizeof(r->status));
}

void
envelope_free(struct envelope *env)
{
	size_t	 i;

	for (i = 0; i < env->nrcpt; i++) {
		free(env->rcpt[i].addr);
		free(env->rcpt[i].error);
	}
	free(env->rcpt);
	free(env->sender);
	memset(env, 0, sizeof(*env));
}

/* True when no recipient is left to try. */
int
envelope_done(const struct envelope *env)
{
	size_t	 i;

	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == RCPT_PENDING ||
		    env->rcpt[i].state == RCPT_DEFERRED)
			return 0;
	return 1;
}

static void
put_escaped(FILE *fp, const char *s)
{
	if (*s == '\0' || strcmp(s, "-") == 0) {
		fputs(*s == '\0' ? "-" : "%2D", fp);
		return;
	}
	for (; *s != '\0'; s++) {
		unsigned char	 c = *s;

		if (c <= ' ' || c == '%' || c == 0x7f)
			fprintf(fp, "%%%02X", c);
		else
			fputc(c, fp);
	}
}

int
envelope_write(const struct envelope *env, FILE *fp)
{
	const struct rcpt	*r;
	size_t			 i;

	fprintf(fp, "%s\nid %s\narrival %lld\nsender ", ENVELOPE_MAGIC,
	    env->id, (long long)env->arrival);
	put_escaped(fp, env->sender);
	fprintf(fp, "\nsize %lld\n", env->size);
	if (env->uid != -1)
		fprintf(fp, "uid %lld\n", env->uid);
	if (env->warned)
		fprintf(fp, "warned 1\n");
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpt[i];
		fprintf(fp, "rcpt %s %u %lld ", rcpt_state_name(r->state),
		    r->tries, (long long)r->next_try);
		put_escaped(fp, r->addr);
		fputc(' ', fp);
		put_escaped(fp, r->error);
		if (r->status[0] != '\0')
			fprintf(fp, " %s", r->status);
		if (r->status[0] != '\0' && r->via == CHANNEL_WEB)
			fprintf(fp, " websmtp");
		fputc('\n', fp);
	}
	fprintf(fp, "end\n");
	return ferror(fp) ? -1 : 0;
}

/* Undo put_escaped() in place; -1 on a malformed escape. */
static int
unescape(char *s)
{
	char	*in, *out;
	int	 hi, lo;

	if (strcmp(s, "-") == 0) {
		*s = '\0';
		return 0;
	}
	for (in = out = s; *in != '\0'; in++) {
		if (*in != '%') {
			*out++ = *in;
			continue;
		}
		if (!isxdigit((unsigned char)in[1]) ||
		    !isxdigit((unsigned char)in[2]))
			return -1;
		hi = isdigit((unsigned char)in[1]) ? in[1] - '0' :
		    (toupper((unsigned char)in[1]) - 'A' + 10);
		lo = isdigit((unsigned char)in[2]) ? in[2] - '0' :
		    (toupper((unsigned char)in[2]) - 'A' + 10);
		if (hi == 0 && lo == 0)
			return -1;
		*out++ = hi * 16 + lo;
		in += 2;
	}
	*out = '\0';
	return 0;
}

static int
parse_number(const char *s, long long min, long long max, long long *out)
{
	const char	*err;

	*out = strtonum(s, min, max, &err);
	return err == NULL ? 0 : -1;
}

static int
parse_state(const char *s, enum rcpt_state *state)
{
	size_t	 i;

	for (i = 0; i < sizeof(rcpt_state_names) / sizeof(*rcpt_state_names);
	    i++)
		if (strcmp(s, rcpt_state_names[i]) == 0) {
			*state = i;
			return 0;
		}
	return -1;
}

/* "rcpt STATE TRIES NEXT_TRY ADDR ERROR [STATUS [websmtp]]" */
static int
parse_rcpt(struct envelope *env, char *value)
{
	char		*f[5], *p = value, *via = NULL;
	long long	 tries, next;
	enum rcpt_state	 state;
	struct rcpt	*r;
	int		 i;

	for (i = 0; i < 5; i++)
		if ((f[i] = strsep(&p, " ")) == NULL || *f[i] == '\0')
			return -1;
	if (p != NULL && (via = strchr(p, ' ')) != NULL) {
		*via++ = '\0';
		if (strcmp(via, "websmtp") != 0)
			return -1;
	}
	if ((p != NULL && !status_valid(p)) ||
	    parse_state(f[0], &state) == -1 ||
	    parse_number(f[1], 0, 1000000, &tries) == -1 ||
	    parse_number(f[2], 0, 1LL << 40, &next) == -1 ||
	    unescape(f[3]) == -1 || *f[3] == '\0' || unescape(f[4]) == -1)
		return -1;
	envelope_add_rcpt(env, f[3]);
	r = &env->rcpt[env->nrcpt - 1];
	r->state = state;
	r->tries = tries;
	r->next_try = next;
	envelope_set_error(r, f[4]);
	if (p != NULL)
		strlcpy(r->status, p, sizeof(r->status));
	r->via = via != NULL ? CHANNEL_WEB : CHANNEL_SMTP;
	return 0;
}

static int
parse_line(struct envelope *env, char *line, unsigned int *seen)
{
	char		*key, *value;
	long long	 n;

	key = line;
	if ((value = strchr(line, ' ')) == NULL)
		return -1;
	*value++ = '\0';
	if (strcmp(key, "id") == 0 && !(*seen & 1)) {
		*seen |= 1;
		if (!queue_id_valid(value))
			return -1;
		strlcpy(env->id, value, sizeof(env->id));
	} else if (strcmp(key, "arrival") == 0 && !(*seen & 2)) {
		*seen |= 2;
		if (parse_number(value, 0, 1LL << 40, &n) == -1)
			return -1;
		env->arrival = n;
	} else if (strcmp(key, "sender") == 0 && !(*seen & 4)) {
		*seen |= 4;
		if (unescape(value) == -1)
			return -1;
		free(env->sender);
		env->sender = xstrdup(value);
	} else if (strcmp(key, "size") == 0 && !(*seen & 8)) {
		*seen |= 8;
		if (parse_number(value, 0, 1LL << 50, &env->size) == -1)
			return -1;
	} else if (strcmp(key, "uid") == 0 && !(*seen & 16)) {
		*seen |= 16;
		if (parse_number(value, 0, 0xffffffffLL, &env->uid) == -1)
			return -1;
	} else if (strcmp(key, "warned") == 0 && !(*seen & 32)) {
		*seen |= 32;
		if (strcmp(value, "1") != 0)
			return -1;
		env->warned = 1;
	} else if (strcmp(key, "rcpt") == 0) {
		return parse_rcpt(env, value);
	} else
		return -1;
	return 0;
}

/*
 * Read an envelope.  Anything unknown, repeated, missing or truncated is
 * an error (*why says which): the caller moves the file to corrupt/.
 */
int
envelope_read(struct envelope *env, FILE *fp, const char **why)
{
	char		 line[ENV_LINE_MAX];
	unsigned int	 seen = 0;
	size_t		 len;
	int		 ended = 0;

	envelope_init(env, "");
	*why = "truncated";
	if (fgets(line, sizeof(line), fp) == NULL ||
	    strcmp(line, ENVELOPE_MAGIC "\n") != 0) {
		*why = "not a ferry envelope (version line)";
		goto fail;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		len = strlen(line);
		if (ended || len == 0 || line[len - 1] != '\n') {
			*why = ended ? "data after end" : "line too long";
			goto fail;
		}
		line[len - 1] = '\0';
		if (strcmp(line, "end") == 0) {
			ended = 1;
			continue;
		}
		if (parse_line(env, line, &seen) == -1) {
			*why = "bad line";
			goto fail;
		}
	}
	if (!ended || ferror(fp))
		goto fail;
	if ((seen & 15) != 15 || env->nrcpt == 0) {
		*why = "missing fields";
		goto fail;
	}
	return 0;
fail:
	envelope_free(env);
	return -1;
}
