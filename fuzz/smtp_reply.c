/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtp_reply.c: fuzz reading a remote server's replies as relayd and
 * delegated do (common/smtp_io.c): the bytes stand in the read buffer,
 * and the connection ends after them.
 */
#include <stdint.h>
#include <string.h>

#include "smtp_io.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct smtp_io	 io;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply	 r;

	if (size > sizeof(io.rbuf))
		return 0;
	io.fd = -1;
	io.ssl = NULL;
	memcpy(io.rbuf, data, size);
	io.rpos = 0;
	io.rlen = size;
	strlcpy(io.peer, "fuzz[192.0.2.1]:25", sizeof(io.peer));
	while (io_read_reply(&io, &r, 1) == 0)
		;
	return 0;
}
