/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * addr.c: fuzz the address parser (common/addr.c) with every flag
 * combination, the formatter on what it accepts, and the header address
 * list reader sendmail -t uses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr	 a;
	const char	*why, *list;
	char		*s, buf[ADDR_MAX + 3];
	int		 flags;

	if (size == 0)
		return 0;
	flags = data[0] & (ADDR_ALLOW_NULL | ADDR_ALLOW_NODOMAIN);
	if ((s = strndup((const char *)data + 1, size - 1)) == NULL)
		return 0;
	if (addr_parse(s, flags, &a, &why) == 0 &&
	    addr_format(&a, buf, sizeof(buf)) == 0 && !addr_is_null(&a) &&
	    addr_parse(buf, flags, &a, &why) == -1)
		abort();	/* what we format must parse again */
	list = s;
	while (addr_list_next(&list, buf, sizeof(buf)) == 1)
		;
	free(s);
	return 0;
}
