/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * users.h: the lines of smtpd_users_file, as smtpd reads them and
 * `ferryctl passwd` rewrites them.
 */
#ifndef FERRY_USERS_H
#define FERRY_USERS_H

#define USER_NAME_MAX	255

int	 users_name_valid(const char *);
void	 users_name_fold(char *);
int	 users_line_parse(char *, char **, char **, const char **);

#endif
