/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * base64.c: fuzz the strict decoder (common/base64.c): whatever it
 * accepts must encode back to the very same text, so that each byte
 * string has exactly one spelling.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	 out[1024];
	char		*in, back[1400];
	ssize_t		 n;

	if ((in = strndup((const char *)data, size)) == NULL)
		return 0;
	n = base64_decode(in, out, sizeof(out));
	if (n >= 0 && (base64_encode(out, n, back, sizeof(back)) == -1 ||
	    strcmp(back, in) != 0))
		abort();
	free(in);
	return 0;
}
