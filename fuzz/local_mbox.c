/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * local_mbox.c: fuzz what locald makes of a message's bytes: the loop
 * evidence in its header (local/header.c) and its mbox copy
 * (local/copy.c).  In the copy no body line may start with "From ",
 * which a reader would take for the next message, and it must end with a
 * blank line.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../local/header.h"
#include "../local/locald.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_copy(const char *out, size_t len)
{
	const char	*body, *p;

	if (len < 2 || out[len - 1] != '\n' || out[len - 2] != '\n')
		abort();
	/* the head's lines, then the message's header, then its body */
	if ((body = memmem(out, len, "\n\n", 2)) == NULL)
		abort();
	for (p = body; (p = memmem(p, len - (p - out), "\nFrom ", 6)) != NULL;
	    p++)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_info	 h;
	struct delivery		 d;
	char			*out;
	off_t			 len;
	int			 in, copy;
	size_t			 i;

	if ((in = memfd_create("msg", 0)) == -1 ||
	    (copy = memfd_create("copy", 0)) == -1)
		abort();
	if (size > 0 && write(in, data, size) != (ssize_t)size)
		abort();
	if (header_scan(in, &h) == -1 || h.ndelivered_to >
	    HEADER_DELIVERED_TO_MAX)
		abort();
	for (i = 0; i < h.ndelivered_to; i++)
		if (strchr(h.delivered_to[i], '@') == NULL)
			abort();
	header_free(&h);
	memset(&d, 0, sizeof(d));
	d.sender = "a@example.org";
	d.recipient = "b@example.org";
	d.msgfd = in;
	if (delivery_copy(copy, &d, COPY_MBOX) == -1)
		abort();
	if ((len = lseek(copy, 0, SEEK_END)) <= 0)
		abort();
	if ((out = malloc(len)) == NULL || pread(copy, out, len, 0) != len)
		abort();
	check_copy(out, len);
	free(out);
	close(in);
	close(copy);
	return 0;
}
