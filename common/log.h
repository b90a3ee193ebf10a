/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * log.h: one log file per daemon, one line per event.
 *
 * A line is "TIME DAEMON[PID]: event=NAME key=value ...".  Values that
 * contain blanks, quotes or control characters are quoted by log_q().
 * Every line about a message carries id=QUEUEID.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <sys/types.h>

#include <stdarg.h>

void	 log_init(const char *, int);
int	 log_open(const char *, int);
int	 log_chown(uid_t, gid_t);
void	 log_reopen(void);
const char *log_q(const char *);

void	 log_event(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	 log_alert(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	 log_warn(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
void	 fatalx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __noreturn__));

#endif
