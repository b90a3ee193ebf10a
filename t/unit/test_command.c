/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_command.c: locald's |command delivery, run as the current user in
 * a temporary directory.  The test binary is its own probe: run as
 * "test_command --probe-env FILE" (and -args, -fds) it writes what the
 * command sees, with no shell in between to add to it.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../local/locald.h"
#include "tap.h"
#include "util.h"

extern char	**environ;

static char	 dir[] = "/tmp/ferry-command.XXXXXX";
static char	 self[PATH_MAX];

#define MESSAGE	"Subject: piped\r\nFrom: a@example.net\r\n\r\nline one\r\n" \
		"From the body\r\nlast\r\n"
#define HEAD	"Return-Path: <sender@example.net>\n" \
		"Delivered-To: bob+ext@example.org\n"
#define AS_LF	"Subject: piped\nFrom: a@example.net\n\nline one\n" \
		"From the body\nlast\n"

static int
probe(int argc, char **argv)
{
	FILE		*f;
	DIR		*dp;
	struct dirent	*de;
	int		 i;

	if ((f = fopen(argv[2], "w")) == NULL)
		_exit(2);
	if (strcmp(argv[1], "--probe-env") == 0)
		for (i = 0; environ[i] != NULL; i++)
			fprintf(f, "%s\n", environ[i]);
	else if (strcmp(argv[1], "--probe-args") == 0)
		for (i = 3; i < argc; i++)
			fprintf(f, "%s\n", argv[i]);
	else if (strcmp(argv[1], "--probe-fds") == 0) {
		if ((dp = opendir("/proc/self/fd")) == NULL)
			_exit(2);
		while ((de = readdir(dp)) != NULL)
			if (de->d_name[0] != '.' &&
			    atoi(de->d_name) != dirfd(dp) &&
			    atoi(de->d_name) != fileno(f))
				fprintf(f, "%s ", de->d_name);
		closedir(dp);
	} else if (strcmp(argv[1], "--probe-signals") == 0) {
		sigset_t	 set;
		struct sigaction sa;

		sigprocmask(SIG_BLOCK, NULL, &set);
		for (i = 1; i < 32; i++)
			if (sigismember(&set, i) == 1 ||
			    (sigaction(i, NULL, &sa) == 0 &&
			    sa.sa_handler == SIG_IGN))
				fprintf(f, "%d ", i);
	} else
		_exit(2);
	fclose(f);
	_exit(0);
}

/* DIR/name, in a static buffer of its own per call slot. */
static const char *
path(const char *name)
{
	static char	 buf[8][PATH_MAX];
	static int	 slot;

	slot = (slot + 1) % 8;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", dir, name);
	return buf[slot];
}

static char *
slurp(const char *file)
{
	static char	 buf[1 << 16];
	ssize_t		 n;
	int		 fd;

	buf[0] = '\0';
	if ((fd = open(file, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
message_file(const char *name, const char *text, size_t pad)
{
	int	 fd;
	char	 line[80];

	fd = open(path(name), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) == -1)
		return -1;
	memset(line, 'x', sizeof(line) - 2);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	for (; pad >= sizeof(line); pad -= sizeof(line))
		if (write(fd, line, sizeof(line)) == -1)
			return -1;
	return fd;
}

static struct delivery_status
run(const char *command, const struct delivery *d, long long timeout)
{
	struct delivery_status	 st;

	memset(&st, 0, sizeof(st));
	delivery_status_set(&st, RESULT_DELIVERED, "(untouched)");
	command_deliver(command, d, timeout, &st);
	return st;
}

static const char *
cmdf(const char *fmt, ...) __attribute__((__format__(printf, 1, 2)));

static const char *
cmdf(const char *fmt, ...)
{
	static char	 buf[2 * PATH_MAX];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* Is every Postfix variable there with its value, and nothing else? */
static int
env_is(const char *got, const struct delivery *d, int shell)
{
	char		 want[4096], line[1024];
	const char	*p, *nl;
	size_t		 n, extra_ok;

	snprintf(want, sizeof(want), "PATH=/usr/bin:/bin\nSHELL=/bin/sh\n"
	    "HOME=%s\nUSER=%s\nLOGNAME=%s\nSENDER=%s\nRECIPIENT=%s\n"
	    "LOCAL=%s\nEXTENSION=%s\nDOMAIN=%s\nORIGINAL_RECIPIENT=%s\n",
	    d->home, d->user, d->user, d->sender, d->recipient, d->local,
	    d->extension, d->domain, d->orig_recipient);
	if (!shell)
		return strcmp(got, want) == 0;
	/* a shell adds its own (dash: PWD; bash: PWD, SHLVL, _) */
	n = 0;
	for (p = got; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		snprintf(line, sizeof(line), "%.*s\n", (int)(nl - p), p);
		extra_ok = strncmp(line, "PWD=", 4) == 0 ||
		    strncmp(line, "OLDPWD=", 7) == 0 ||
		    strncmp(line, "SHLVL=", 6) == 0 ||
		    strncmp(line, "_=", 2) == 0;
		if (strstr(want, line) != NULL)
			n++;
		else if (!extra_ok)
			return 0;
	}
	return n == 11;
}

static double
now(void)
{
	return monotonic_ms() / 1000.0;
}

static pid_t
pid_in(const char *name)
{
	char	*s = slurp(path(name));

	return s != NULL ? (pid_t)atol(s) : 0;
}

static void
test_timeout(const struct delivery *d)
{
	struct delivery_status	 st;
	double			 t0;
	pid_t			 pid, bg;
	int			 status;

	t0 = now();
	st = run(cmdf("echo $$ > %s; exec sleep 100", path("pid")), d, 1);
	t0 = now() - t0;
	pid = pid_in("pid");
	ok(st.result == RESULT_TEMP && strcmp(st.text, "451 4.3.0 command "
	    "timed out after 1 s") == 0, "a hanging command times out: %s",
	    st.text);
	ok(t0 >= 0.9 && t0 < 3, "after about a second (%.2f s)", t0);
	ok(pid > 0 && kill(pid, 0) == -1 && errno == ESRCH,
	    "the command (%ld) is gone", (long)pid);
	ok(pid > 0 && kill(-pid, 0) == -1 && errno == ESRCH,
	    "its process group is gone");

	/* a background child holding the output open: the group dies */
	st = run(cmdf("sleep 100 & echo $! > %s; wait", path("bg")), d, 1);
	bg = pid_in("bg");
	ok(st.result == RESULT_TEMP && strstr(st.text, "timed out") != NULL,
	    "a command waiting on its own child times out");
	/* we are the subreaper: the orphan's status comes to us */
	ok(bg > 0 && waitpid(bg, &status, 0) == bg && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGKILL, "its child was killed with it");
}

static void
test_exit_codes(const struct delivery *d)
{
	struct delivery_status	 st;

	st = run("exit 67", d, 10);
	ok(st.result == RESULT_PERM && strncmp(st.text, "550 5.1.1 ", 10) == 0
	    && strstr(st.text, "exit 67") != NULL, "exit 67: %s", st.text);
	st = run("exit 75", d, 10);
	ok(st.result == RESULT_TEMP && strncmp(st.text, "451 4.3.0 ", 10) == 0,
	    "exit 75: %s", st.text);
	st = run("exit 71", d, 10);
	ok(st.result == RESULT_TEMP, "exit 71 (EX_OSERR): %s", st.text);
	st = run("exit 78", d, 10);
	ok(st.result == RESULT_PERM && strncmp(st.text, "550 5.3.5", 9) == 0,
	    "exit 78: %s", st.text);
	st = run("exit 3", d, 10);
	ok(st.result == RESULT_PERM && strcmp(st.text,
	    "550 5.3.0 command died with status 3") == 0, "exit 3: %s",
	    st.text);
	st = run("echo 5.7.1 go away; exit 1", d, 10);
	ok(st.result == RESULT_PERM && strcmp(st.text, "550 5.7.1 go away")
	    == 0, "an RFC 3463 code in the output: %s", st.text);
	st = run("echo '4.2.2 mailbox full'; exit 75", d, 10);
	ok(st.result == RESULT_TEMP && strcmp(st.text,
	    "451 4.2.2 mailbox full") == 0, "a 4.x.x code: %s", st.text);
	st = run("echo '5.1.1x no'; echo more; exit 67", d, 10);
	ok(st.result == RESULT_PERM && strcmp(st.text, "550 5.1.1 user "
	    "unknown (command exit 67): 5.1.1x no more") == 0,
	    "not a code, then the output as one line: %s", st.text);
	st = run("printf '5.7.1 bad\\001th\\033ing\\n'; exit 1", d, 10);
	ok(strcmp(st.text, "550 5.7.1 bad_th_ing") == 0,
	    "control characters replaced: %s", st.text);
	st = run("echo 5.1.1 ignored; exit 0", d, 10);
	ok(st.result == RESULT_DELIVERED && strcmp(st.text,
	    "250 2.0.0 delivered to command") == 0, "exit 0 delivers");
	st = run("kill -TERM $$", d, 10);
	ok(st.result == RESULT_TEMP && strstr(st.text, "signal 15") != NULL,
	    "killed by a signal: %s", st.text);
	st = run("/nonexistent/program", d, 10);
	ok(st.result == RESULT_PERM && strcmp(st.text, "550 5.3.0 command "
	    "not found: /nonexistent/program") == 0, "%s", st.text);
	st = run(cmdf("%s", dir), d, 10);
	ok(st.result == RESULT_PERM && strstr(st.text, "cannot run") != NULL,
	    "a directory: %s", st.text);
	st = run("no-such-program-here x", d, 10);
	ok(st.result == RESULT_PERM && strstr(st.text, "status 127") != NULL,
	    "not in PATH: the shell says so: %s", st.text);
	st = run(" \t ", d, 10);
	ok(st.result == RESULT_PERM && strstr(st.text, "5.3.5") != NULL,
	    "an empty command is refused");
}

static void
test_shell_or_not(const struct delivery *d)
{
	struct delivery_status	 st;
	char			*s;

	st = run(cmdf("%s --probe-env %s x=y", self, path("a1")), d, 10);
	s = slurp(path("a1"));
	ok(st.result == RESULT_DELIVERED && s != NULL &&
	    strstr(s, "\nPWD=") != NULL, "'=' goes to the shell (PWD)");
	st = run(cmdf("%s --probe-args %s a%%b c@d,e x:y+z\t-_.", self,
	    path("a2")), d, 10);
	s = slurp(path("a2"));
	ok(st.result == RESULT_DELIVERED && s != NULL &&
	    strcmp(s, "a%b\nc@d,e\nx:y+z\n-_.\n") == 0,
	    "words split on blanks, no shell");
	st = run(cmdf("%s --probe-args %s 'a  b' \"$HOME\" c\\ d", self,
	    path("a3")), d, 10);
	s = slurp(path("a3"));
	ok(st.result == RESULT_DELIVERED && s != NULL &&
	    strcmp(s, cmdf("a  b\n%s\nc d\n", d->home)) == 0,
	    "quotes and $ go to the shell");
	st = run(cmdf("%s --probe-env %s", self, path("env1")), d, 10);
	s = slurp(path("env1"));
	ok(st.result == RESULT_DELIVERED && s != NULL && env_is(s, d, 0),
	    "no shell: exactly Postfix's variables, no PWD");
	st = run(cmdf("env > %s", path("env2")), d, 10);
	s = slurp(path("env2"));
	ok(st.result == RESULT_DELIVERED && s != NULL && env_is(s, d, 1),
	    "env through the shell: the same, and only the shell's own");
}

static void
test_process(struct delivery *d)
{
	struct delivery_status	 st;
	char			*s;
	const char		*home = d->home;

	st = run(cmdf("%s --probe-fds %s", self, path("fds")), d, 10);
	s = slurp(path("fds"));
	ok(st.result == RESULT_DELIVERED && s != NULL &&
	    strcmp(s, "0 1 2 ") == 0, "descriptors: %s", s != NULL ? s : "-");
	st = run(cmdf("ls /proc/self/fd > %s", path("fds2")), d, 10);
	s = slurp(path("fds2"));
	ok(s != NULL && strcmp(s, "0\n1\n2\n3\n") == 0,
	    "ls sees 0, 1, 2 and its own directory");
	st = run(cmdf("%s --probe-signals %s", self, path("sig")), d, 10);
	s = slurp(path("sig"));
	ok(s != NULL && *s == '\0', "no signal blocked or ignored: %s",
	    s != NULL ? s : "-");
	st = run(cmdf("umask > %s; pwd >> %s; ps -o pid=,pgid=,sid= -p $$ "
	    ">> %s", path("u"), path("u"), path("u")), d, 10);
	s = slurp(path("u"));
	ok(s != NULL && strncmp(s, cmdf("0077\n%s\n", dir), strlen(dir) + 6)
	    == 0, "umask 077, in the home directory");
	if (s != NULL && (s = strchr(s, '\n')) != NULL &&
	    (s = strchr(s + 1, '\n')) != NULL) {
		long	 pid, pgid, sid;

		ok(sscanf(s + 1, "%ld %ld %ld", &pid, &pgid, &sid) == 3 &&
		    pid == pgid && pid == sid, "a session of its own");
	} else
		ok(0, "a session of its own");
	d->home = "/nonexistent/home";
	st = run(cmdf("pwd > %s", path("pwd")), d, 10);
	s = slurp(path("pwd"));
	ok(s != NULL && strcmp(s, "/\n") == 0, "no home: in /");
	d->home = home;
}

static void
test_message(struct delivery *d)
{
	struct delivery_status	 st;
	char			*s;
	double			 t0;
	struct stat		 sb;
	int			 small = d->msgfd, big;

	st = run(cmdf("cat > %s", path("cat")), d, 10);
	s = slurp(path("cat"));
	ok(st.result == RESULT_DELIVERED && s != NULL &&
	    strcmp(s, HEAD AS_LF) == 0, "the command reads Return-Path, "
	    "Delivered-To and the message with LF ends");
	big = message_file("big", MESSAGE, 1 << 20);
	d->msgfd = big;
	t0 = now();
	st = run("true", d, 10);
	ok(st.result == RESULT_DELIVERED && now() - t0 < 5,
	    "a command not reading 1 MB: delivered: %s", st.text);
	st = run("exit 0", d, 10);
	ok(st.result == RESULT_DELIVERED, "the same through the shell");
	st = run(cmdf("head -c 10 > %s", path("head")), d, 10);
	ok(st.result == RESULT_DELIVERED, "one that stops reading early");
	st = run("cat", d, 10);
	ok(st.result == RESULT_DELIVERED, "1 MB in and 1 MB out: no deadlock");
	st = run(cmdf("cat > %s", path("bigcat")), d, 10);
	ok(st.result == RESULT_DELIVERED && stat(path("bigcat"), &sb) == 0 &&
	    sb.st_size == (off_t)(strlen(HEAD AS_LF) + 79 * ((1 << 20) / 80)),
	    "all of it arrives");
	close(big);
	d->msgfd = small;
}

int
main(int argc, char **argv)
{
	struct delivery		 d;
	struct delivery_status	 st;
	struct passwd		*pw;
	ssize_t			 n;

	if (argc >= 3 && strncmp(argv[1], "--probe-", 8) == 0)
		return probe(argc, argv);
	setvbuf(stdout, NULL, _IONBF, 0);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1 ||
	    mkdtemp(dir) == NULL || (pw = getpwuid(getuid())) == NULL) {
		perror("test_command: setup");
		return 1;
	}
	self[n] = '\0';
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	setenv("FERRY_TEST_LEAK", "1", 1);
	/* what a daemon may hold: none of it may reach a command */
	open("/dev/null", O_RDONLY);
	dup2(open("/dev/null", O_RDONLY), 40);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	{
		sigset_t	 set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}

	memset(&d, 0, sizeof(d));
	d.id = "TESTID";
	d.sender = "sender@example.net";
	d.recipient = "bob+ext@example.org";
	d.orig_recipient = "Bob+Ext@Example.org";
	d.user = pw->pw_name;
	d.home = dir;
	d.local = "bob";
	d.extension = "ext";
	d.domain = "example.org";
	if ((d.msgfd = message_file("msg", MESSAGE, 0)) == -1) {
		perror("test_command: message");
		return 1;
	}

	test_message(&d);
	test_shell_or_not(&d);
	test_process(&d);
	test_exit_codes(&d);
	test_timeout(&d);

	d.sender = "evil\n@example.net";
	st = run(cmdf("touch %s", path("evil")), &d, 10);
	ok(st.result == RESULT_PERM && strstr(st.text, "SENDER") != NULL &&
	    access(path("evil"), F_OK) == -1,
	    "a control character in the envelope: nothing runs: %s", st.text);

	if (!tap_failed) {
		char	 rm[PATH_MAX + 16];

		snprintf(rm, sizeof(rm), "rm -rf %s", dir);
		if (system(rm) != 0)
			perror("rm");
	}
	return tap_done();
}
