/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * webrelay_answer.c: fuzz reading the WebSmtp service's answer
 * (webrelayd/answer.c): the first byte picks the HTTP status, the rest
 * is the body.  Every text made must be valid UTF-8 without control
 * characters, within WEB_TEXT_MAX bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "../webrelayd/webrelayd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const long	 statuses[] = { 200, 202, 400, 401, 413, 422, 429,
	500, 503, 0 };

static void
check_text(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n > WEB_TEXT_MAX || !valid_utf8((const unsigned char *)t, n))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] < ' ' || t[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 body[WEB_BODY_MAX + 1];
	struct agent_rcpt	 rcpt[2] = { { 0, "a@example.org" },
	    { 1, "b@example.org" } };
	struct agent_work	 w;
	struct web_answer	 a;
	struct web_outcome	 o;
	size_t			 i;

	if (size == 0 || size - 1 > WEB_BODY_MAX)
		return 0;
	memset(&a, 0, sizeof(a));
	a.status = statuses[data[0] % (sizeof(statuses) /
	    sizeof(statuses[0]))];
	a.failed = a.status == 0;
	strlcpy(a.error, "Connection refused", sizeof(a.error));
	strlcpy(a.reason, "Reason", sizeof(a.reason));
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	a.body = body;
	a.bodylen = size - 1;
	memset(&w, 0, sizeof(w));
	w.nrcpt = 2;
	w.rcpt = rcpt;
	answer_read(&a, &w, &o);
	check_text(o.service_id);
	for (i = 0; i < w.nrcpt; i++)
		check_text(answer_rcpt_text(&o, i));
	answer_free(&o, w.nrcpt);
	return 0;
}
