/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license.c: fuzz reading a licence file's fields (common/license.c),
 * with the bytes exactly as read() leaves them: no NUL after them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "license.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct license	 l;
	char		*buf;
	size_t		 sig_at;

	if (size > LICENSE_MAX)
		return 0;
	/* A copy of its own size, so ASan sees a read past the end. */
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (license_parse(buf, size, &l, &sig_at) == 0 && sig_at > size)
		abort();
	free(buf);
	return 0;
}
