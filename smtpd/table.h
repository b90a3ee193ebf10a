/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * table.h: smtpd's tables, read at start (as root) and again on SIGHUP
 * through directory handles kept from start-up, so a chrooted smtpd can
 * still reread them.  A table that fails to load keeps the old contents.
 * The local recipients table (locald's) is also reread when it changes.
 */
#ifndef FERRY_TABLE_H
#define FERRY_TABLE_H

struct config;
struct mailaddr;

int		 tables_open(const struct config *);
void		 tables_reload(void);
int		 table_has_users(void);
const char	*table_user_hash(const char *);
int		 table_rcpt_known(const struct mailaddr *);
int		 table_rcpt_listed(const struct mailaddr *);
int		 table_local_known(const char *);

#endif
