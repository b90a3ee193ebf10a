/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
#ifndef FERRY_CONFIG_DOC_H
#define FERRY_CONFIG_DOC_H

#include <stdio.h>

/* etc/ferry.conf: every key, commented, with its help and default. */
void	 config_print_defaults(FILE *);
/* ferry.conf(5) in mdoc: the file's syntax, then every key. */
void	 config_print_manpage(FILE *);

#endif
