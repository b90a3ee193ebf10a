/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_answer.c: the texts read from the WebSmtp service's answer reach
 * mailq and bounces, so they are whole UTF-8 characters and printable.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "../../webrelayd/webrelayd.h"
#include "tap.h"

static struct agent_rcpt	 rcpt = { 0, "a@example.org" };
static struct agent_work	 work = { .nrcpt = 1, .rcpt = &rcpt };

static void
read_answer(long status, const char *body, struct web_outcome *o)
{
	static char		 buf[WEB_BODY_MAX + 1];
	struct web_answer	 a;

	memset(&a, 0, sizeof(a));
	a.status = status;
	strlcpy(buf, body, sizeof(buf));
	a.body = buf;
	a.bodylen = strlen(buf);
	answer_read(&a, &work, o);
}

static int
valid_text(const char *t)
{
	size_t	 i;

	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] < ' ' || t[i] == 0x7f)
			return 0;
	return valid_utf8((const unsigned char *)t, strlen(t));
}

static void
test_long_id_cut_between_characters(void)
{
	struct web_outcome	 o;
	char			 body[512], want[200];

	/* 126 bytes, then a 2-byte character: 127 bytes fit, and a NUL. */
	memset(want, 'a', 126);
	want[126] = '\0';
	snprintf(body, sizeof(body), "{\"id\":\"%s\xc3\xa9zz\"}", want);
	read_answer(200, body, &o);
	ok(strcmp(o.service_id, want) == 0, "id cut before the character "
	    "that does not fit: \"%s\"", o.service_id);
	ok(valid_text(o.text), "post text is valid UTF-8");
	answer_free(&o, work.nrcpt);
}

static void
test_invalid_utf8_replaced(void)
{
	struct web_outcome	 o;

	read_answer(200, "{\"id\":\"x\xff\xc3-y\",\"message\":\"ok\x80\"}", &o);
	ok(strcmp(o.service_id, "x?" "?-y") == 0, "bytes of no character in "
	    "the id become '?': \"%s\"", o.service_id);
	ok(valid_text(o.text) && strstr(o.text, "ok?") != NULL,
	    "and in the message: \"%s\"", o.text);
	answer_free(&o, work.nrcpt);
	read_answer(200, "{\"id\":\"caf\xc3\xa9 \xe2\x82\xac\"}", &o);
	ok(strcmp(o.service_id, "caf\xc3\xa9 \xe2\x82\xac") == 0,
	    "well-formed UTF-8 kept");
	answer_free(&o, work.nrcpt);
}

int
main(void)
{
	test_long_id_cut_between_characters();
	test_invalid_utf8_replaced();
	return tap_done();
}
