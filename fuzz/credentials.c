/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * credentials.c: fuzz parsing relay_auth_file (common/credentials.c) from
 * a memory file.  A table that parsed must hold complete logins: a user,
 * and a password or the OAuth2 keys its grant needs, one way for the
 * client to prove itself, and no certificate loaded (only
 * credentials_load() reads files).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct credentials	 creds;
	const struct credential	*c;
	FILE			*fp, *saved = stderr;
	size_t			 i;

	if ((fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	stderr = fopen("/dev/null", "w");
	if (credentials_parse("fuzz", fp, &creds) == 0) {
		for (i = 0; i < creds.n; i++) {
			c = &creds.v[i];
			if (c->user == NULL ||
			    (c->kind == CRED_PASSWORD && c->password == NULL) ||
			    (c->kind == CRED_OAUTH && (c->token_endpoint ==
			    NULL || c->client_id == NULL)) ||
			    (c->client_secret != NULL &&
			    c->client_certificate != NULL) ||
			    (c->client_key != NULL &&
			    c->client_certificate == NULL) || c->cert != NULL ||
			    (c->route != NULL &&
			    credentials_find(&creds, c->route) != c))
				abort();
		}
		credentials_free(&creds);
	}
	fclose(stderr);
	stderr = saved;
	fclose(fp);
	return 0;
}
