/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtpd_command.c: fuzz the parsing under smtpd's MAIL and RCPT
 * commands (smtpd/command.c): the path split from its parameters, the
 * address parser on the path, and the ESMTP parameters word by word.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "netaddr.h"
#include "../smtpd/smtpd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr	 ma;
	char		*line, *path, *params, word[128], *eq;
	const char	*why, *p;
	long long	 msgsize;
	int		 r;

	if (size == 0 || (line = strndup((const char *)data + 1,
	    size - 1)) == NULL)
		return 0;
	if (split_path(line, data[0] & 1 ? "TO:" : "FROM:", &path,
	    &params) == 0) {
		addr_parse(path, data[0] & 1 ? 0 : ADDR_ALLOW_NULL, &ma, &why);
		p = params;
		while ((r = word_next(&p, word, sizeof(word))) == 1) {
			if ((eq = strchr(word, '=')) != NULL)
				*eq++ = '\0';
			if (strcasecmp(word, "SIZE") == 0 &&
			    size_param(eq, &msgsize) == 0 && msgsize < 0)
				abort();
		}
	}
	free(line);
	return 0;
}
