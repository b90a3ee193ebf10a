/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * util.h: allocation wrappers and small string helpers shared by every
 * Ferry program.  The x* allocators never return NULL: running out of
 * memory is fatal, as in OpenBSD's daemons.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 path_join(char *, size_t, const char *, const char *);
int	 write_full(int, const void *, size_t);
char	*str_trim(char *);
int	 str_has_control(const char *);
void	 hex_encode(const void *, size_t, char *, int);
long long monotonic_ms(void);
int	 unix_name_valid(const char *);
int	 fsync_parent(const char *);

#endif
