/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * aliases.c: fuzz the aliases(5) reader (common/aliases.c) with a whole
 * file, and the same bytes as a ~/.forward.  Every alias found must be
 * found again by its name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "aliases.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 path[] = "/tmp/ferry-fuzz-aliases-XXXXXX";
	static int		 made;
	struct alias_table	 at;
	struct alias_target	*t;
	size_t			 i, n;
	FILE			*fp;
	int			 fd;

	if (!made) {
		if ((fd = mkstemp(path)) == -1)
			abort();
		close(fd);
		made = 1;
	}
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, fp) != size)
		abort();
	fclose(fp);
	if (alias_table_load(&at, path, NULL) == 0) {
		for (i = 0; i < at.n; i++)
			if (alias_find(&at, at.v[i].name) == NULL)
				abort();
		alias_table_free(&at);
	}
	if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (alias_list_read(fp, "forward", &t, &n, NULL) == 0)
		alias_targets_free(t, n);
	fclose(fp);
	return 0;
}
