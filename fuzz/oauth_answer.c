/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth_answer.c: fuzz reading a token endpoint's answer
 * (common/oauth_answer.c): the first byte picks the HTTP status, the
 * rest is the body.  A token kept must be of the characters RFC 6750 and
 * 6749 allow, the texts printable ASCII, and only a 200 may say OK.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const long	 statuses[] = { 200, 400, 401, 403, 429, 500, 503 };

static void
check_printable(const char *t, int allow_blank)
{
	for (; *t != '\0'; t++)
		if (*t < (allow_blank ? ' ' : '!') || *t > '~')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct oauth_answer	 a;
	long				 http;

	if (size == 0 || size > 65536)
		return 0;
	http = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	memset(&a, 0, sizeof(a));
	oauth_answer_parse(http, (const char *)data + 1, size - 1, &a);
	if (a.status == OAUTH_OK && http != 200)
		abort();
	check_printable(a.access_token, 0);
	check_printable(a.refresh_token, 0);
	check_printable(a.device_code, 0);
	check_printable(a.user_code, 0);
	check_printable(a.verification_uri, 1);
	check_printable(a.error, 1);
	check_printable(a.text, 1);
	if (a.expires_in < 0 || a.interval < 0)
		abort();
	return 0;
}
