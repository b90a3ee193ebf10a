/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_mailbox.c: locald's mbox and Maildir delivery, in-process as the
 * current user in a temporary directory: what an mbox gets (From line,
 * trace headers, >From quoting, LF line ends, the blank line), appends,
 * the files it refuses (symlink, hard link, someone else's, a FIFO), the
 * fcntl lock and the dotlock it waits for, and the Maildir store.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../local/locald.h"
#include "tap.h"
#include "util.h"

#define SENDER		"alice@example.org"
#define RCPT		"bob@example.net"
#define TRACE		"Return-Path: <" SENDER ">\nDelivered-To: " RCPT "\n"

struct buf {
	char	*p;
	size_t	 len, cap;
};

static char	 base[] = "/tmp/test_mailbox.XXXXXX";

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/*
 * One line of a test message: CRLF into in, and as an mbox holds it
 * (LF, ">From ") into mbox, and as a Maildir holds it (LF, no quoting)
 * into md.
 */
static void
msg_line(struct buf *in, struct buf *mbox, struct buf *md, const char *line)
{
	buf_str(in, line);
	buf_str(in, "\r\n");
	if (strncmp(line, "From ", 5) == 0)
		buf_str(mbox, ">");
	buf_str(mbox, line);
	buf_str(mbox, "\n");
	buf_str(md, line);
	buf_str(md, "\n");
}

static char *
path_in(const char *name)
{
	static char	 path[4][512];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", base, name);
	return path[i];
}

/* The queue file of a message: written to path, opened for reading. */
static int
msg_open(const char *name, const struct buf *in)
{
	char	*path = path_in(name);
	int	 fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, in->p, in->len) != (ssize_t)in->len)
		abort();
	return fd;
}

static char *
file_read(const char *path, size_t *lenp)
{
	struct buf	 b = { NULL, 0, 0 };
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	buf_add(&b, "", 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, n);
	close(fd);
	*lenp = b.len;
	return b.p;
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	return lstat(path, &sb) == -1 ? -1 : sb.st_size;
}

static double
now(void)
{
	return monotonic_ms() / 1000.0;
}

/* Does the mbox message at p (len bytes) hold exactly the message want? */
static int
mbox_message_is(const char *p, size_t len, const struct buf *want)
{
	const char	*from = "From " SENDER "  ";
	const char	*nl = memchr(p, '\n', len);
	size_t		 head, tl = strlen(TRACE);

	if (nl == NULL || len < strlen(from) ||
	    memcmp(p, from, strlen(from)) != 0)
		return 0;
	head = nl + 1 - p;
	return len == head + tl + want->len + 1 &&
	    memcmp(p + head, TRACE, tl) == 0 &&
	    memcmp(p + head + tl, want->p, want->len) == 0 &&
	    p[len - 1] == '\n';
}

/*
 * Split an mbox as its readers do (mboxo): a message starts with "From "
 * at the start of the file or after a blank line.  At most max starts.
 */
static size_t
mbox_split(const char *p, size_t len, size_t *start, size_t max)
{
	size_t	 i, n = 0;

	for (i = 0; i + 5 <= len; i++)
		if ((i == 0 || (i >= 2 && p[i - 1] == '\n' &&
		    p[i - 2] == '\n')) && memcmp(p + i, "From ", 5) == 0) {
			if (n < max)
				start[n] = i;
			n++;
		}
	return n;
}

static struct buf	 in1, mbox1, md1;	/* a short message */
static struct buf	 in2, mbox2, md2;	/* a long one */
static struct delivery	 d1, d2;

static void
messages_make(void)
{
	char	 line[512];
	int	 i;

	msg_line(&in1, &mbox1, &md1, "From: Alice <" SENDER ">");
	msg_line(&in1, &mbox1, &md1, "To: " RCPT);
	msg_line(&in1, &mbox1, &md1, "Subject: From lines");
	msg_line(&in1, &mbox1, &md1, "");
	msg_line(&in1, &mbox1, &md1, "From the start of the body.");
	msg_line(&in1, &mbox1, &md1, "Not From here.");
	msg_line(&in1, &mbox1, &md1, "");
	/* a header-looking place: after a blank line, a header follows */
	msg_line(&in1, &mbox1, &md1,
	    "From carol@example.com Mon Jan  1 00:00:00 2024");
	msg_line(&in1, &mbox1, &md1, "Subject: not a new message");
	msg_line(&in1, &mbox1, &md1, "");
	msg_line(&in1, &mbox1, &md1, ">From quoted once stays as it is");
	msg_line(&in1, &mbox1, &md1, "a bare\rCR stays");
	msg_line(&in1, &mbox1, &md1, "end");

	/*
	 * More than 64 KiB, read 65536 bytes at a time: a "From " line
	 * whose word the first read cuts (Fro|m), one starting right at
	 * 131072, and a CR LF cut at 196608.
	 */
	msg_line(&in2, &mbox2, &md2, "Subject: long");
	msg_line(&in2, &mbox2, &md2, "");
	for (i = 0; in2.len < 65536 - 3 - 200; i++) {
		snprintf(line, sizeof(line), "%06d filler filler filler", i);
		msg_line(&in2, &mbox2, &md2, line);
	}
	memset(line, 'x', sizeof(line));
	line[65536 - 3 - in2.len - 2] = '\0';
	msg_line(&in2, &mbox2, &md2, line);
	msg_line(&in2, &mbox2, &md2, "From across the boundary");
	for (i = 0; in2.len < 131072 - 200; i++)
		msg_line(&in2, &mbox2, &md2, "more filler text for the mbox");
	memset(line, 'y', sizeof(line));
	line[131072 - in2.len - 2] = '\0';
	msg_line(&in2, &mbox2, &md2, line);
	msg_line(&in2, &mbox2, &md2, "From at the boundary");
	for (i = 0; in2.len < 196608 - 200; i++)
		msg_line(&in2, &mbox2, &md2, "and more filler");
	memset(line, 'z', sizeof(line));
	line[196608 - 1 - in2.len] = '\0';
	msg_line(&in2, &mbox2, &md2, line);
	msg_line(&in2, &mbox2, &md2, "From after a cut CR LF");
	msg_line(&in2, &mbox2, &md2, "the end");

	d1.id = d2.id = "QID123";
	d1.sender = d2.sender = SENDER;
	d1.recipient = d2.recipient = RCPT;
	d1.msgfd = msg_open("msg1", &in1);
	d2.msgfd = msg_open("msg2", &in2);
}

static void
test_long_message_cuts(void)
{
	ok(in2.len > 196608 && memcmp(in2.p + 65533, "From", 4) == 0 &&
	    memcmp(in2.p + 131072, "From", 4) == 0 &&
	    memcmp(in2.p + 196607, "\r\nFrom", 6) == 0,
	    "the long message has From lines across 64 KiB read boundaries");
}

static void
test_mbox_content(void)
{
	struct delivery_status	 st;
	struct stat		 sb;
	size_t			 len, start[4];
	char			*p, *mb = path_in("mbox");

	mbox_deliver(mb, &d1, &st);
	ok(st.result == RESULT_DELIVERED && strncmp(st.text, "250 2.0.0 ",
	    10) == 0, "delivered to a new mbox: %s", st.text);
	ok(stat(mb, &sb) == 0 && (sb.st_mode & 07777) == 0600 &&
	    sb.st_uid == geteuid(), "the new mbox is 0600 and ours");
	p = file_read(mb, &len);
	ok(p != NULL && mbox_message_is(p, len, &mbox1),
	    "From line, Return-Path, Delivered-To, >From in the body, "
	    "LF line ends, a blank line at the end");
	ok(p != NULL && strstr(p, "\r\n") == NULL, "no CR LF left");
	ok(file_size(path_in("mbox.lock")) == -1, "the dotlock is gone");
	free(p);

	mbox_deliver(mb, &d2, &st);
	ok(st.result == RESULT_DELIVERED, "second delivery: %s", st.text);
	p = file_read(mb, &len);
	ok(p != NULL && mbox_split(p, len, start, 4) == 2,
	    "two messages in the mbox");
	ok(p != NULL && mbox_message_is(p, start[1], &mbox1),
	    "the first is unchanged");
	ok(p != NULL && mbox_message_is(p + start[1], len - start[1], &mbox2),
	    "the second, over 64 KiB, is appended whole, From quoted across "
	    "read boundaries");
	free(p);
}

/* Python's mailbox module reads the mbox as two messages, if there. */
static void
test_mbox_python(void)
{
	char	 cmd[1024], out[256] = "";
	FILE	*fp;

	if (access("/usr/bin/python3", X_OK) == -1) {
		ok(1, "# SKIP no /usr/bin/python3");
		return;
	}
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c 'import mailbox, sys; "
	    "print(\",\".join(m[\"Subject\"] for m in mailbox.mbox(sys.argv[1])"
	    "))' %s", path_in("mbox"));
	if ((fp = popen(cmd, "r")) != NULL) {
		if (fgets(out, sizeof(out), fp) == NULL)
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
		pclose(fp);
	}
	ok(strcmp(out, "From lines,long") == 0,
	    "Python's mailbox.mbox reads the two messages: %s", out);
}

static void
test_mbox_header_from(void)
{
	struct buf		 in = { NULL, 0, 0 }, mb = { NULL, 0, 0 };
	struct buf		 md = { NULL, 0, 0 };
	struct delivery		 d = d1;
	struct delivery_status	 st;
	size_t			 len, start[4];
	char			*p, *path = path_in("mbox-header-from");

	/* a "From " line among the header lines: no reader may split there */
	msg_line(&in, &mb, &md, "Subject: a From line in the header");
	msg_line(&in, &mb, &md,
	    "From evil@example.com Mon Jan  1 00:00:00 2024");
	msg_line(&in, &mb, &md, "");
	msg_line(&in, &mb, &md, "body");
	d.msgfd = msg_open("msg-header-from", &in);
	mbox_deliver(path, &d, &st);
	p = file_read(path, &len);
	ok(st.result == RESULT_DELIVERED && p != NULL &&
	    mbox_split(p, len, start, 4) == 1 && mbox_message_is(p, len, &mb),
	    "a From line in the header is quoted too");
	close(d.msgfd);
	free(p);
	free(in.p);
	free(mb.p);
	free(md.p);
}

static void
test_mbox_refused(void)
{
	struct delivery_status	 st;
	char			*p;
	size_t			 len;
	int			 fd;

	fd = open(path_in("victim"), O_WRONLY | O_CREAT, 0600);
	must(write(fd, "untouched\n", 10) == 10, "write");
	close(fd);
	must(symlink(path_in("victim"), path_in("symlink")) == 0, "symlink");
	mbox_deliver(path_in("symlink"), &d1, &st);
	p = file_read(path_in("victim"), &len);
	ok(st.result == RESULT_TEMP && strstr(st.text, "symbolic link") &&
	    strncmp(st.text, "451 4.", 6) == 0, "symlink: deferred: %s",
	    st.text);
	ok(p != NULL && strcmp(p, "untouched\n") == 0,
	    "symlink: its target is untouched");
	free(p);

	must(link(path_in("victim"), path_in("hardlink")) == 0, "link");
	mbox_deliver(path_in("hardlink"), &d1, &st);
	p = file_read(path_in("victim"), &len);
	ok(st.result == RESULT_TEMP && strstr(st.text, "more than one link"),
	    "hard link: deferred: %s", st.text);
	ok(p != NULL && strcmp(p, "untouched\n") == 0,
	    "hard link: the file is untouched");
	free(p);

	mkfifo(path_in("fifo"), 0600);
	mbox_deliver(path_in("fifo"), &d1, &st);
	ok(st.result == RESULT_TEMP, "a FIFO with no reader: deferred at "
	    "once: %s", st.text);
	mkdir(path_in("dir"), 0700);
	mbox_deliver(path_in("dir"), &d1, &st);
	ok(st.result == RESULT_TEMP, "a directory: deferred: %s", st.text);
	mbox_deliver(path_in("nodir/mbox"), &d1, &st);
	ok(st.result == RESULT_TEMP && strstr(st.text, "No such file"),
	    "a missing directory: deferred: %s", st.text);

	if (geteuid() != 0) {
		ok(1, "# SKIP someone else's mailbox: not root");
		return;
	}
	fd = open(path_in("others"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	must(chown(path_in("others"), 65534, 65534) == 0, "chown");
	mbox_deliver(path_in("others"), &d1, &st);
	ok(st.result == RESULT_TEMP &&
	    strstr(st.text, "owned by someone else") &&
	    file_size(path_in("others")) == 0,
	    "someone else's mailbox: deferred, untouched: %s", st.text);
}

static void
test_mbox_devnull(void)
{
	struct delivery_status	 st;
	struct stat		 sb;

	mbox_deliver("/dev/null", &d1, &st);
	ok(st.result == RESULT_DELIVERED && stat("/dev/null", &sb) == 0 &&
	    S_ISCHR(sb.st_mode), "/dev/null: delivered: %s", st.text);
}

/*
 * A child takes an fcntl lock on path and holds it for hold seconds, or
 * until *release is closed if hold is 0.  Returns once the lock is held.
 */
static pid_t
lock_holder(const char *path, int hold, int *release)
{
	struct flock	 fl;
	int		 ready[2], rel[2], fd;
	pid_t		 pid;
	char		 c;

	if (pipe(ready) == -1 || pipe(rel) == -1)
		abort();
	if ((pid = fork()) == 0) {
		close(ready[0]);
		close(rel[1]);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) == -1 ||
		    fcntl(fd, F_SETLKW, &fl) == -1)
			_exit(1);
		must(write(ready[1], "x", 1) == 1, "write");
		if (hold > 0)
			sleep(hold);
		else
			must(read(rel[0], &c, 1) != -1, "read");
		_exit(0);
	}
	close(ready[1]);
	close(rel[0]);
	must(read(ready[0], &c, 1) == 1, "read");
	close(ready[0]);
	*release = rel[1];
	return pid;
}

static void
test_mbox_locks(void)
{
	struct delivery_status	 st;
	struct timeval		 tv[2];
	double			 t;
	off_t			 size;
	pid_t			 pid;
	int			 release, fd, status;

	pid = lock_holder(path_in("locked"), 1, &release);
	t = now();
	mbox_deliver(path_in("locked"), &d1, &st);
	t = now() - t;
	ok(st.result == RESULT_DELIVERED && t > 0.8 && t < MBOX_LOCK_WAIT,
	    "an fcntl lock held for 1 s: waited %.1f s, then delivered: %s",
	    t, st.text);
	close(release);
	waitpid(pid, &status, 0);

	size = file_size(path_in("locked"));
	pid = lock_holder(path_in("locked"), 0, &release);
	t = now();
	mbox_deliver(path_in("locked"), &d1, &st);
	t = now() - t;
	ok(st.result == RESULT_TEMP && strstr(st.text, "451 4.2.0 mailbox ") &&
	    strstr(st.text, " is locked") && t >= MBOX_LOCK_WAIT - 0.5 &&
	    t < MBOX_LOCK_WAIT + 3, "an fcntl lock held longer than %d s: "
	    "deferred after %.1f s: %s", MBOX_LOCK_WAIT, t, st.text);
	ok(file_size(path_in("locked")) == size &&
	    file_size(path_in("locked.lock")) == -1,
	    "nothing written, no dotlock left behind");
	close(release);
	waitpid(pid, &status, 0);

	fd = open(path_in("locked.lock"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);
	if ((pid = fork()) == 0) {
		sleep(1);
		unlink(path_in("locked.lock"));
		_exit(0);
	}
	t = now();
	mbox_deliver(path_in("locked"), &d1, &st);
	t = now() - t;
	waitpid(pid, &status, 0);
	ok(st.result == RESULT_DELIVERED && t > 0.8 && t < MBOX_LOCK_WAIT &&
	    file_size(path_in("locked")) > size,
	    "a dotlock for 1 s: waited %.1f s, then delivered: %s", t,
	    st.text);

	/* a dotlock ten minutes old was left by a crash */
	size = file_size(path_in("locked"));
	fd = open(path_in("locked.lock"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 600;
	tv[1] = tv[0];
	utimes(path_in("locked.lock"), tv);
	t = now();
	mbox_deliver(path_in("locked"), &d1, &st);
	t = now() - t;
	ok(st.result == RESULT_DELIVERED && t < 0.5 &&
	    file_size(path_in("locked")) > size &&
	    file_size(path_in("locked.lock")) == -1,
	    "a stale dotlock is removed: delivered in %.1f s", t);
}

/*
 * mbox_deliver in a child that first runs setup(arg) (a limit, another
 * user): what it reported, or PERM if the child died before.
 */
static void
mbox_deliver_in_child(const char *path, const struct delivery *d,
    struct delivery_status *st, int (*setup)(void *), void *arg)
{
	int	 status, res[2];
	pid_t	 pid;

	if (pipe(res) == -1)
		abort();
	if ((pid = fork()) == 0) {
		if (setup(arg) == -1)
			_exit(2);
		mbox_deliver(path, d, st);
		must(write(res[1], st, sizeof(*st)) == (ssize_t)sizeof(*st),
		    "write");
		_exit(0);
	}
	close(res[1]);
	memset(st, 0, sizeof(*st));
	st->result = RESULT_PERM;
	strlcpy(st->text, "(the child died)", sizeof(st->text));
	must(read(res[0], st, sizeof(*st)) == (ssize_t)sizeof(*st), "read");
	close(res[0]);
	waitpid(pid, &status, 0);
}

static int
become_nobody(void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
	    setuid(65534) == -1)
		return -1;
	return 0;
}

/*
 * /var/mail without the mail group: no dotlock can be made, the fcntl
 * lock alone is taken.  Run as nobody in a child, if we are root.
 */
static void
test_mbox_no_dotlock(void)
{
	struct delivery_status	 st;
	char			*dir = path_in("spool");
	char			*mb = path_in("spool/nobody");
	int			 fd;

	if (geteuid() != 0) {
		ok(1, "# SKIP a spool without write access: not root");
		return;
	}
	mkdir(dir, 0755);
	fd = open(mb, O_WRONLY | O_CREAT, 0600);
	close(fd);
	must(chown(mb, 65534, 65534) == 0, "chown");
	chmod(base, 0711);
	mbox_deliver_in_child(mb, &d1, &st, become_nobody, NULL);
	ok(st.result == RESULT_DELIVERED && file_size(mb) > 0 &&
	    file_size(path_in("spool/nobody.lock")) == -1,
	    "a spool the user may not write in: fcntl lock only: %s", st.text);
	chmod(base, 0700);
}

static int
limit_file_size(void *arg)
{
	struct rlimit	 rl;

	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = *(off_t *)arg;
	return setrlimit(RLIMIT_FSIZE, &rl);
}

/* A write that fails half-way is cut off again. */
static void
test_mbox_truncated(void)
{
	struct delivery_status	 st;
	char			*mb = path_in("mbox");
	off_t			 size = file_size(mb), limit = size + 70000;

	mbox_deliver_in_child(mb, &d2, &st, limit_file_size, &limit);
	ok(st.result == RESULT_TEMP && strstr(st.text, "File too large") &&
	    file_size(mb) == size,
	    "a write failing after 70000 bytes: cut back to %lld: %s",
	    (long long)file_size(mb), st.text);
}

/* The names in dir, or -1 if it cannot be read; the last one to name. */
static int
dir_count(const char *dir, char *name, size_t size)
{
	DIR		*dp;
	struct dirent	*de;
	int		 n = 0;

	if ((dp = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (name != NULL)
			snprintf(name, size, "%s/%s", dir, de->d_name);
	}
	closedir(dp);
	return n;
}

static void
test_maildir(void)
{
	struct delivery_status	 st;
	struct delivery		 d = d1;
	struct stat		 sb;
	char			 name[1024], md[512], *p;
	size_t			 len;
	int			 fd;

	strlcpy(md, path_in("Maildir"), sizeof(md));
	maildir_deliver(md, &d1, &st);
	ok(st.result == RESULT_DELIVERED && strncmp(st.text, "250 2.0.0 ",
	    10) == 0, "Maildir: delivered: %s", st.text);
	ok(stat(md, &sb) == 0 && (sb.st_mode & 07777) == 0700 &&
	    dir_count(path_in("Maildir/cur"), NULL, 0) == 0,
	    "Maildir: made 0700 with cur/");
	ok(dir_count(path_in("Maildir/new"), name, sizeof(name)) == 1 &&
	    dir_count(path_in("Maildir/tmp"), NULL, 0) == 0,
	    "Maildir: one file in new/, none in tmp/");
	ok(strstr(name, "QQID123.") != NULL && stat(name, &sb) == 0 &&
	    (sb.st_mode & 07777) == 0600 && sb.st_nlink == 1,
	    "Maildir: a unique name with the queue ID, 0600, one link: %s",
	    name);
	p = file_read(name, &len);
	ok(p != NULL && len == strlen(TRACE) + md1.len &&
	    memcmp(p, TRACE, strlen(TRACE)) == 0 &&
	    memcmp(p + strlen(TRACE), md1.p, md1.len) == 0,
	    "Maildir: Return-Path, Delivered-To, the message with LF, "
	    "no From line or quoting");
	free(p);
	maildir_deliver(md, &d2, &st);
	ok(st.result == RESULT_DELIVERED &&
	    dir_count(path_in("Maildir/new"), NULL, 0) == 2,
	    "Maildir: a second message, a second file");

	d.msgfd = -1;	/* the message cannot be read: a failed write */
	maildir_deliver(md, &d, &st);
	ok(st.result == RESULT_TEMP && strncmp(st.text, "451 4.", 6) == 0 &&
	    dir_count(path_in("Maildir/new"), NULL, 0) == 2 &&
	    dir_count(path_in("Maildir/tmp"), NULL, 0) == 0,
	    "Maildir: a failed write leaves nothing in new/ or tmp/: %s",
	    st.text);

	mkdir(path_in("elsewhere"), 0700);
	must(symlink(path_in("elsewhere"), path_in("LinkedMaildir")) == 0,
	    "symlink");
	maildir_deliver(path_in("LinkedMaildir"), &d1, &st);
	ok(st.result == RESULT_TEMP && strstr(st.text, "symbolic link") &&
	    dir_count(path_in("elsewhere"), NULL, 0) == 0,
	    "Maildir: a symlink: deferred, nothing made there: %s", st.text);

	fd = open(path_in("NotADir"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	maildir_deliver(path_in("NotADir"), &d1, &st);
	ok(st.result == RESULT_TEMP, "Maildir: a file: deferred: %s",
	    st.text);

	if (geteuid() != 0) {
		ok(1, "# SKIP someone else's Maildir: not root");
		return;
	}
	mkdir(path_in("OthersMaildir"), 0700);
	must(chown(path_in("OthersMaildir"), 65534, 65534) == 0, "chown");
	maildir_deliver(path_in("OthersMaildir"), &d1, &st);
	ok(st.result == RESULT_TEMP &&
	    dir_count(path_in("OthersMaildir"), NULL, 0) == 0,
	    "Maildir: someone else's: deferred, nothing made: %s", st.text);
}

int
main(void)
{
	char	 cmd[600];

	setvbuf(stdout, NULL, _IONBF, 0);	/* no double output in forks */
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	messages_make();
	test_long_message_cuts();
	test_mbox_content();
	test_mbox_python();
	test_mbox_truncated();
	test_mbox_header_from();
	test_mbox_refused();
	test_mbox_devnull();
	test_mbox_locks();
	test_mbox_no_dotlock();
	test_maildir();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (tap_failed == 0)
		must(system(cmd) == 0, "system");
	else
		printf("# left in %s\n", base);
	return tap_done();
}
