/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * answer.c: what the WebSmtp service's answer means for each recipient
 * (README.md, "WebSmtp: the request and the answer").
 *
 * The texts end up in queued's log, in mailq and in bounces, so they
 * say where they come from ("WebSmtp: "), hold no control characters
 * and stay within WEB_TEXT_MAX bytes, cut between UTF-8 characters.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "addr.h"
#include "util.h"
#include "webrelayd.h"

/*
 * Control characters become blanks, a byte that starts no well-formed
 * UTF-8 character '?' (json-c passes any byte on); trailing blanks go.
 */
static void
text_clean(char *text)
{
	unsigned char	*p;
	size_t		 n;

	for (p = (unsigned char *)text; *p != '\0'; p += n) {
		n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		if (n > 1 && !valid_utf8(p, n)) {
			*p = '?';
			n = 1;
		} else if (*p < ' ' || *p == 0x7f)
			*p = ' ';
	}
	while ((char *)p > text && p[-1] == ' ')
		*--p = '\0';
}

/* A text cut by snprintf: drop the UTF-8 character it cut in half. */
static void
text_uncut(char *text)
{
	size_t		 len = strlen(text), start = len, need;
	unsigned char	 lead;

	while (start > 0 && ((unsigned char)text[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0)
		return;
	lead = text[--start];
	if (lead < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (start + need > len)
		text[start] = '\0';
}

static void
text_make(char *out, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));

static void
text_make(char *out, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(out, WEB_TEXT_MAX + 1, fmt, ap);
	va_end(ap);
	if (n > WEB_TEXT_MAX)
		text_uncut(out);
	text_clean(out);
}

/* "WebSmtp: STATUS[ id=ID][ WORDS]", words given by their length. */
static void
text_status(char *out, long status, const char *id, const char *words,
    size_t len)
{
	while (len > 0 && isspace((unsigned char)*words)) {
		words++;
		len--;
	}
	if (len > WEB_TEXT_MAX)
		len = WEB_TEXT_MAX;
	text_make(out, "WebSmtp: %ld%s%s%s%.*s", status, *id != '\0' ?
	    " id=" : "", id, len > 0 ? " " : "", (int)len, words);
}

/* The body as a JSON object, or NULL. */
static struct json_object *
body_object(const struct web_answer *a)
{
	struct json_object	*json;

	if (a->bodylen == 0 || (json = json_tokener_parse(a->body)) == NULL)
		return NULL;
	if (!json_object_is_type(json, json_type_object)) {
		json_object_put(json);
		return NULL;
	}
	return json;
}

/* A member that is a string (or, for ids, a number); NULL if none. */
static const char *
member(struct json_object *obj, const char *key, int number_too)
{
	struct json_object	*v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	if (json_object_is_type(v, json_type_string) ||
	    (number_too && json_object_is_type(v, json_type_int)))
		return json_object_get_string(v);
	return NULL;
}

/* What the service says when it refuses: its message, else a line. */
static void
refusal_text(char *out, const struct web_answer *a, struct json_object *json)
{
	const char	*msg = member(json, "message", 0), *line;

	if (msg != NULL && *msg != '\0') {
		text_status(out, a->status, "", msg, strlen(msg));
		return;
	}
	line = a->body + strspn(a->body, " \t\r\n");
	if (*line != '\0')
		text_status(out, a->status, "", line, strcspn(line, "\r\n"));
	else
		text_status(out, a->status, "", a->reason, strlen(a->reason));
}

static void
set_all(struct web_outcome *o, size_t n, enum delivery_result result)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		o->result[i] = result;
}

/*
 * 2xx: the recipients the body lists as "failed" or "deferred" get that
 * result with their own message; every other one is delivered.
 */
static void
read_recipients(struct web_outcome *o, const struct agent_work *w,
    long status, struct json_object *json)
{
	struct json_object	*list, *r;
	enum delivery_result	 result;
	const char		*to, *st, *msg;
	char			 text[WEB_TEXT_MAX + 1];
	size_t			 i, j, n;

	if (json == NULL || !json_object_object_get_ex(json, "recipients",
	    &list) || !json_object_is_type(list, json_type_array))
		return;
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(list, i);
		if ((to = member(r, "to", 0)) == NULL ||
		    (st = member(r, "status", 0)) == NULL)
			continue;
		if (strcmp(st, "failed") == 0)
			result = RESULT_PERM;
		else if (strcmp(st, "deferred") == 0)
			result = RESULT_TEMP;
		else
			continue;
		if ((msg = member(r, "message", 0)) == NULL || *msg == '\0')
			msg = st;
		text_status(text, status, o->service_id, msg, strlen(msg));
		for (j = 0; j < w->nrcpt; j++) {
			if (strcasecmp(w->rcpt[j].addr, to) != 0)
				continue;
			o->result[j] = result;
			free(o->rcpt_text[j]);
			o->rcpt_text[j] = xstrdup(text);
		}
	}
}

static void
read_accepted(struct web_outcome *o, const struct web_answer *a,
    const struct agent_work *w, struct json_object *json)
{
	const char	*id = member(json, "id", 1);
	const char	*msg = member(json, "message", 0);

	if (id != NULL) {
		if (strlcpy(o->service_id, id, sizeof(o->service_id)) >=
		    sizeof(o->service_id))
			text_uncut(o->service_id);
		text_clean(o->service_id);
	}
	if (msg == NULL)
		msg = "";
	text_status(o->text, a->status, o->service_id, msg, strlen(msg));
	set_all(o, w->nrcpt, RESULT_DELIVERED);
	read_recipients(o, w, a->status, json);
}

/*
 * Classify the answer to one post (README.md): 2xx delivered but for the
 * recipients the body singles out; 400, 413, 422 permanent; anything
 * else, and no answer at all, temporary.  A refusal that came before the
 * transfer broke (413 in the middle of the upload, say) still counts.
 */
void
answer_read(const struct web_answer *a, const struct agent_work *w,
    struct web_outcome *o)
{
	struct json_object	*json;

	memset(o, 0, sizeof(*o));
	o->result = xcalloc(w->nrcpt, sizeof(*o->result));
	o->rcpt_text = xcalloc(w->nrcpt, sizeof(*o->rcpt_text));
	if (a->retry_after > 0)
		o->retry_after = a->retry_after > WEB_RETRY_MAX ?
		    WEB_RETRY_MAX : a->retry_after;
	if (a->failed && a->status < 400) {
		text_make(o->text, "WebSmtp: cannot post: %s", a->error);
		set_all(o, w->nrcpt, RESULT_TEMP);
		return;
	}
	json = body_object(a);
	if (a->status >= 200 && a->status <= 299)
		read_accepted(o, a, w, json);
	else {
		refusal_text(o->text, a, json);
		if (a->status == 400 || a->status == 413 || a->status == 422)
			set_all(o, w->nrcpt, RESULT_PERM);
		else
			set_all(o, w->nrcpt, RESULT_TEMP);
		o->credential_refused = a->status >= 401 && a->status <= 403;
	}
	json_object_put(json);
}

/* Recipient i's text. */
const char *
answer_rcpt_text(const struct web_outcome *o, size_t i)
{
	return o->rcpt_text[i] != NULL ? o->rcpt_text[i] : o->text;
}

void
answer_free(struct web_outcome *o, size_t nrcpt)
{
	size_t	 i;

	for (i = 0; i < nrcpt; i++)
		free(o->rcpt_text[i]);
	free(o->rcpt_text);
	free(o->result);
}
