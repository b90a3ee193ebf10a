/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * envelope.c: fuzz reading an envelope file (queue/envelope.c).  What
 * reads must write and read again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../queue/envelope.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 env, again;
	const char	*why;
	char		*text = NULL;
	size_t		 len = 0;
	FILE		*fp;

	if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (envelope_read(&env, fp, &why) == -1) {
		fclose(fp);
		return 0;
	}
	fclose(fp);
	if ((fp = open_memstream(&text, &len)) == NULL)
		abort();
	if (envelope_write(&env, fp) == -1)
		abort();
	fclose(fp);
	if ((fp = fmemopen(text, len, "r")) == NULL ||
	    envelope_read(&again, fp, &why) == -1)
		abort();
	fclose(fp);
	envelope_free(&again);
	envelope_free(&env);
	free(text);
	return 0;
}
