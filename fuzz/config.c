/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * config.c: fuzz loading a configuration file (common/config.c).  The
 * input is written to a memory file that config_load() opens by path.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 conf;
	char		 path[64];
	int		 fd;

	if ((fd = memfd_create("ferry.conf", MFD_CLOEXEC)) == -1)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(&conf, path) == 0)
		config_free(&conf);
	close(fd);
	return 0;
}
