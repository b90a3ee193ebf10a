/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * log.c: per-daemon log files.
 *
 * The daemon opens its log directory once, before it drops privileges
 * and chroots, and keeps that directory open: log_reopen() (on SIGHUP,
 * after logrotate moved the file away) then works with openat() even
 * from inside a chroot.  Until log_open() succeeds, and always in
 * foreground mode, lines also go to stderr.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048
#define LOG_QBUF_COUNT	8
#define LOG_QBUF_SIZE	512

static const char	*log_name = "ferry";
static int		 log_foreground = 1;
static int		 log_dirfd = -1;
static int		 log_fd = -1;
static int		 log_syslog;
static int		 log_created;	/* this process made log_fd's file */
static char		 log_file[64];

void
log_init(const char *name, int foreground)
{
	log_name = name;
	log_foreground = foreground;
}

/* Open the log file, noting whether it was made here (log_chown()). */
static int
log_open_file(void)
{
	const int	 flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	int		 fd, created = 1;

	fd = openat(log_dirfd, log_file, flags | O_CREAT | O_EXCL, 0640);
	if (fd == -1 && errno == EEXIST) {
		created = 0;
		fd = openat(log_dirfd, log_file, flags);
	}
	if (fd == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	log_created = created;
	return 0;
}

/* Open DIR/NAME.log; with use_syslog, lines also go to syslog(3). */
int
log_open(const char *dir, int use_syslog)
{
	int	 n;

	n = snprintf(log_file, sizeof(log_file), "%s.log", log_name);
	if (n < 0 || (size_t)n >= sizeof(log_file)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	log_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log_dirfd == -1)
		return -1;
	if (log_open_file() == -1)
		return -1;
	log_syslog = use_syslog;
	if (log_syslog)
		openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
	return 0;
}

/*
 * Hand the log file to the user the daemon is about to become, if the
 * daemon made it: a file that was there (the daemon's own from an earlier
 * start, or one an admin made) keeps its owner and mode.  The descriptor
 * opened as root writes to it either way.
 */
int
log_chown(uid_t uid, gid_t gid)
{
	if (log_fd == -1 || !log_created)
		return 0;
	return fchown(log_fd, uid, gid);
}

/*
 * Called on SIGHUP.  If the file cannot be reopened (the directory is not
 * writable by the unprivileged user and logrotate did not "create" the
 * new file), keep writing to the old one and say so there.
 */
void
log_reopen(void)
{
	if (log_dirfd == -1)
		return;
	if (log_open_file() == -1)
		log_warn("cannot reopen log file %s", log_file);
}

/*
 * Quote a value for a key=value field.  Returns one of a few rotating
 * static buffers, so up to LOG_QBUF_COUNT values can appear in one call.
 */
const char *
log_q(const char *s)
{
	static char	 bufs[LOG_QBUF_COUNT][LOG_QBUF_SIZE];
	static int	 next;
	char		*b, *p, *end;
	int		 plain = *s != '\0';
	const char	*c;

	b = bufs[next];
	next = (next + 1) % LOG_QBUF_COUNT;
	for (c = s; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == '"' || *c == '\\' ||
		    *c == '=' || *c == 0x7f)
			plain = 0;
	if (plain && strlen(s) < LOG_QBUF_SIZE) {
		memcpy(b, s, strlen(s) + 1);
		return b;
	}
	p = b;
	end = b + LOG_QBUF_SIZE - 6;	/* room for an escape, '"' and NUL */
	*p++ = '"';
	for (c = s; *c != '\0' && p < end; c++) {
		unsigned char	 ch = *c;

		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = ch;
		} else if (ch < ' ' || ch == 0x7f)
			p += snprintf(p, 5, "\\x%02x", ch);
		else
			*p++ = ch;
	}
	*p++ = '"';
	*p = '\0';
	return b;
}

/*
 * One write(2) per line, so that the lines of a daemon's processes stay
 * whole in their shared O_APPEND file.  A line that cannot be written has
 * nowhere else to be reported: it is lost.
 */
static void
log_put(int fd, const char *line, size_t len)
{
	if (write(fd, line, len) == -1)
		return;
}

/* Write one finished line (without prefix and newline) everywhere it goes. */
static void
log_write(int prio, const char *text)
{
	char		 line[LOG_LINE_MAX], stamp[32];
	struct timespec	 ts;
	struct tm	 tm;
	int		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld]: %s", stamp,
	    ts.tv_nsec / 1000000, log_name, (long)getpid(), text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (log_fd != -1)
		log_put(log_fd, line, n);
	if (log_fd == -1 || log_foreground)
		log_put(STDERR_FILENO, line, n);
	if (log_syslog)
		syslog(prio, "%s", text);
}

static void
log_vevent(int prio, const char *fmt, va_list ap)
{
	char	 text[LOG_LINE_MAX];

	vsnprintf(text, sizeof(text), fmt, ap);
	log_write(prio, text);
}

void
log_event(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vevent(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* An event the admin must act on: the same line, at syslog's warning. */
void
log_alert(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vevent(LOG_WARNING, fmt, ap);
	va_end(ap);
}

static void
log_error(int prio, const char *event, int with_errno, const char *fmt,
    va_list ap)
{
	char	 msg[LOG_QBUF_SIZE - 8], text[LOG_LINE_MAX];
	int	 saved = errno;
	size_t	 len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved));
	}
	snprintf(text, sizeof(text), "event=%s msg=%s", event, log_q(msg));
	log_write(prio, text);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_error(LOG_WARNING, "error", 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_error(LOG_WARNING, "error", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_error(LOG_CRIT, "fatal", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_error(LOG_CRIT, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
