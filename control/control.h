/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * control.h: ferry-control's pieces.
 */
#ifndef FERRY_CONTROL_H
#define FERRY_CONTROL_H

struct config;

int	 connect_daemon(const struct config *, const char *, int);
int	 delegate_command(const struct config *, int, char **);
int	 license_command(const struct config *);
int	 oauth_command(const struct config *, int, char **);

#endif
