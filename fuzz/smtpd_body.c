/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * smtpd_body.c: fuzz the DATA and BDAT byte machine (smtpd/body.c).
 * The first byte chooses DATA or BDAT, normalizing or refusing bare
 * line ends, and where TCP splits the rest.  Whatever reaches the queue
 * file must have no bare CR or LF.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../smtpd/smtpd.h"

#include "crlf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct body		 b;
	enum body_status	 st = BODY_MORE;
	size_t			 off, chunk, used;
	int			 fd, dots, normalize;

	if (size < 2)
		return 0;
	dots = data[0] & 1;
	normalize = (data[0] >> 1) & 1;
	chunk = data[1] + 1;
	data += 2;
	size -= 2;
	if ((fd = memfd_create("body", MFD_CLOEXEC)) == -1)
		abort();
	memset(&b, 0, sizeof(b));
	body_begin(&b, fd, dots, 1 << 20);
	for (off = 0; off < size && st == BODY_MORE; off += used) {
		st = body_feed(&b, data + off, chunk < size - off ? chunk :
		    size - off, &used, normalize);
		if (used > size - off)
			abort();
	}
	if (st == BODY_MORE && !dots)
		body_finish(&b);
	else if (st == BODY_END)
		body_finish(&b);
	crlf_check_file(fd, 0);
	body_end(&b);
	return 0;
}
