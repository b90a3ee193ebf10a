/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * store.h: the queue on disk (doc/queue.md).  Only queued includes this;
 * the rest of the daemon never builds a path.  All paths are relative to
 * the spool directory, which is queued's working directory (or root).
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include "envelope.h"

typedef void (*store_load_cb)(struct envelope *, void *);

int	 store_open(void);
int	 store_space_ok(long long);
int	 store_reserve(char *);
int	 store_create_input(const char *);
int	 store_open_input(const char *);
int	 store_open_message(const char *, int);
int	 store_write_envelope(const struct envelope *, int, const char **);
int	 store_sync(void);
void	 store_discard(const char *);
void	 store_remove_input(const char *);
void	 store_remove(const char *);
int	 store_recover(store_load_cb, void *);

#endif
