/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ipc.c: fuzz reading an IPC frame (common/ipc.c) as a daemon reads one
 * from a peer: the header check, then fields of the types the first
 * byte chooses, then the end check.
 */
#include <stdint.h>
#include <string.h>

#include "ipc.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct ipc_frame	 f;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 str[256];
	const unsigned char *bytes;
	size_t		 n;
	uint64_t	 v64;
	uint32_t	 v32;
	unsigned	 kinds, i;

	if (size < 1 || size - 1 > sizeof(f.buf))
		return 0;
	kinds = data[0];
	memcpy(f.buf, data + 1, size - 1);
	f.fd = -1;
	if (ipc_frame_parse(&f, size - 1) == -1)
		return 0;
	for (i = 0; i < 16; i++) {
		switch ((kinds >> (i % 8)) & 3) {
		case 0:
			ipc_get_u32(&f, &v32);
			break;
		case 1:
			ipc_get_u64(&f, &v64);
			break;
		case 2:
			ipc_get_str(&f, str, sizeof(str));
			break;
		default:
			if (i % 2 == 0)
				ipc_get_str(&f, str, 8);
			else if (ipc_get_bytes(&f, &bytes, &n) == 0 && n > 0)
				v32 = bytes[n - 1];	/* must be readable */
			break;
		}
	}
	ipc_get_end(&f);
	return 0;
}
