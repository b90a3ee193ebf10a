/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * command.c: the |command target: the message on a program's standard
 * input, in a delivery process that already is the user the command runs
 * as (the recipient for a ~/.forward, local_alias_user for alias_file).
 * Nothing here changes identity or logs: all it says goes into *st.
 *
 * Nothing of the envelope reaches a shell: a command line of only the
 * characters of SAFE_CHARS runs by execve() with its words as argv, and
 * only a line that holds anything else goes to /bin/sh -c, as the user
 * wrote it (OpenSMTPD CVE-2020-7247 built a shell line from a sender
 * address).  As Postfix's exec_command() does, a first word found nowhere
 * in PATH goes to the shell too: it may be a built-in ("exit 67").
 *
 * The environment is new and holds only the variables Postfix's local(8)
 * sets, so procmail and maildrop wrappers find what they expect; no
 * descriptor but 0, 1 and 2 survives into the command (Postfix once
 * leaked its epoll descriptor into them); the command runs in a session
 * and process group of its own, killed whole at the time limit.
 *
 * A child of ours feeds the message to the command's standard input, so
 * that a command that stops reading cannot block us; we read the output
 * (standard output and error together) until it ends, keep its first
 * OUTPUT_KEEP bytes for the reply and reap the command.  Its exit status
 * is read as sysexits(3), as Postfix's sys_exits.c reads it; an RFC 3463
 * code at the start of its output says more (Postfix 2.3 and later).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "locald.h"
#include "util.h"

/* A command line of these alone needs no shell (Postfix's set less '!=') */
#define SAFE_CHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%-_+:,./"
#define BLANKS		" \t"
#define SEARCH_PATH	"/usr/bin:/bin"
#define SHELL_PATH	"/bin/sh"
#define OUTPUT_KEEP	1024	/* of the command's output, for the reply */
#define REAP_POLL_MS	10	/* between waitpid() tries once output ended */

/* What the command's process tells us when it could not exec. */
struct exec_failure {
	int		 setup;		/* before exec: dup2, setsid, chdir */
	int		 error;		/* errno */
};

/* A command, ready to run: its argv and environment. */
struct command_run {
	char		**argv;		/* NULL: the shell's */
	char		*words;		/* what argv points into */
	char		*envp[12];
	const char	*line;		/* for the shell fallback */
	const char	*home;
};

struct exit_code {
	int		 status;
	const char	*code;		/* RFC 3463; class 4 is a retry */
	const char	*text;
};

/* As Postfix's sys_exits.c: only EX_OSERR and EX_TEMPFAIL are retried. */
static const struct exit_code exit_codes[] = {
	{ EX_USAGE, "5.3.0", "command line usage error" },
	{ EX_DATAERR, "5.6.0", "data format error" },
	{ EX_NOINPUT, "5.3.0", "cannot open input" },
	{ EX_NOUSER, "5.1.1", "user unknown" },
	{ EX_NOHOST, "5.1.2", "host name unknown" },
	{ EX_UNAVAILABLE, "5.3.0", "service unavailable" },
	{ EX_SOFTWARE, "5.3.0", "internal software error" },
	{ EX_OSERR, "4.3.0", "system resource problem" },
	{ EX_OSFILE, "5.3.0", "critical OS file missing" },
	{ EX_CANTCREAT, "5.2.0", "cannot create user output file" },
	{ EX_IOERR, "5.3.0", "input/output error" },
	{ EX_TEMPFAIL, "4.3.0", "temporary failure" },
	{ EX_PROTOCOL, "5.5.0", "remote error in protocol" },
	{ EX_NOPERM, "5.7.0", "permission denied" },
	{ EX_CONFIG, "5.3.5", "local configuration error" },
};

static const struct exit_code *
exit_code_find(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
		if (exit_codes[i].status == status)
			return &exit_codes[i];
	return NULL;
}

/* Does the command line need /bin/sh to mean what it says? */
static int
command_needs_shell(const char *line)
{
	return line[strspn(line, SAFE_CHARS BLANKS)] != '\0';
}

/* "KEY=value" into *slot; -1 (the key in *bad) for a control character. */
static int
env_put(char **slot, const char *key, const char *value, const char **bad)
{
	if (value == NULL)
		value = "";
	if (str_has_control(value)) {
		*bad = key;
		return -1;
	}
	if (asprintf(slot, "%s=%s", key, value) == -1) {
		*slot = NULL;
		*bad = NULL;
		return -1;
	}
	return 0;
}

/* Postfix local(8)'s variables, and only those. */
static int
env_make(struct command_run *r, const struct delivery *d, const char **bad)
{
	const char	*keys[] = { "PATH", "SHELL", "HOME", "USER", "LOGNAME",
			    "SENDER", "RECIPIENT", "LOCAL", "EXTENSION",
			    "DOMAIN", "ORIGINAL_RECIPIENT" };
	const char	*values[] = { SEARCH_PATH, SHELL_PATH, d->home,
			    d->user, d->user, d->sender, d->recipient,
			    d->local, d->extension, d->domain,
			    d->orig_recipient };
	size_t		 i, n = sizeof(keys) / sizeof(keys[0]);

	for (i = 0; i < n; i++)
		if (env_put(&r->envp[i], keys[i], values[i], bad) == -1)
			return -1;
	r->envp[n] = NULL;
	return 0;
}

/* The words of a line without metacharacters as r->argv; -1 on ENOMEM. */
static int
argv_split(struct command_run *r, const char *line)
{
	char	*p, *w;
	size_t	 n = 0, words = 1;

	for (p = (char *)line; *p != '\0'; p++)
		words += *p == ' ' || *p == '\t';
	if ((r->words = strdup(line)) == NULL ||
	    (r->argv = calloc(words + 1, sizeof(*r->argv))) == NULL)
		return -1;
	for (p = r->words; (w = strsep(&p, BLANKS)) != NULL;)
		if (*w != '\0')
			r->argv[n++] = w;
	return 0;
}

static void
run_free(struct command_run *r)
{
	size_t	 i;

	for (i = 0; r->envp[i] != NULL; i++)
		free(r->envp[i]);
	free(r->argv);
	free(r->words);
}

static void __attribute__((__noreturn__))
exec_failed(int fd, int setup)
{
	struct exec_failure	 f = { setup, errno };

	ssize_t			 n;

	n = write(fd, &f, sizeof(f));
	(void)n;
	_exit(127);
}

/* execve() in SEARCH_PATH, as execvp() would in the command's own PATH. */
static void
exec_search(char *const *argv, char *const *envp)
{
	char		 path[4096];
	const char	*dir;
	size_t		 n;
	int		 denied = 0;

	if (strchr(argv[0], '/') != NULL) {
		execve(argv[0], argv, envp);
		return;
	}
	for (dir = SEARCH_PATH; *dir != '\0'; dir += n + (dir[n] == ':')) {
		n = strcspn(dir, ":");
		if (snprintf(path, sizeof(path), "%.*s/%s", (int)n, dir,
		    argv[0]) >= (int)sizeof(path))
			continue;
		execve(path, argv, envp);
		if (errno == EACCES)
			denied = 1;
		else if (errno != ENOENT && errno != ENOTDIR)
			return;
	}
	errno = denied ? EACCES : ENOENT;
}

/*
 * The command's process: stdin from in, stdout and stderr to out, nothing
 * else open but the close-on-exec report descriptor, default signals, a
 * session of its own.  Never returns.
 */
static void __attribute__((__noreturn__))
command_child(const struct command_run *r, int in, int out, int report)
{
	char		*sh[] = { "sh", "-c", (char *)r->line, NULL };
	struct sigaction sa;
	sigset_t	 none;
	int		 sig;

	/* above 2 first, so that no dup2() below overwrites another one */
	if ((in = fcntl(in, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (out = fcntl(out, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (report = fcntl(report, F_DUPFD_CLOEXEC, 3)) == -1)
		_exit(127);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		exec_failed(report, 1);
	if (report != 3 && dup3(report, 3, O_CLOEXEC) == -1)
		exec_failed(report, 1);
	report = 3;
	if (close_range(4, ~0U, 0) == -1)
		closefrom(4);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	umask(077);
	if (setsid() == -1)
		exec_failed(report, 1);
	if (r->home == NULL || chdir(r->home) == -1)
		if (chdir("/") == -1)
			exec_failed(report, 1);
	if (r->argv != NULL) {
		exec_search(r->argv, r->envp);
		/* not in PATH: perhaps a shell built-in, as Postfix has it */
		if (errno != ENOENT || strchr(r->argv[0], '/') != NULL)
			exec_failed(report, 0);
	}
	execve(SHELL_PATH, sh, r->envp);
	exec_failed(report, 0);
}

/*
 * Feeds the message to the command: a child, so that neither side waits
 * on the other.  A command may stop reading early (EPIPE): its exit status
 * says whether that was right.  Exits with the errno of any other error.
 */
static pid_t
feeder_start(const struct delivery *d, int in)
{
	pid_t	 pid;

	if ((pid = fork()) != 0)
		return pid;
	signal(SIGPIPE, SIG_IGN);
	if (delivery_copy(in, d, 0) == -1 && errno != EPIPE)
		_exit(errno > 0 && errno < 256 ? errno : EIO);
	_exit(0);
}

/* What the parent learns of one run. */
struct command_watch {
	int		 out;		/* the output; -1 at its end */
	int		 report;	/* exec failures; -1 at its end */
	struct exec_failure failure;
	int		 failed;
	char		 keep[OUTPUT_KEEP + 1];
	size_t		 kept;
};

static void
watch_read(struct command_watch *w, int *fd)
{
	char		 buf[8192];
	ssize_t		 n;
	size_t		 room;

	if ((n = read(*fd, buf, sizeof(buf))) == -1 &&
	    (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
	} else if (fd == &w->report) {
		if ((size_t)n >= sizeof(w->failure)) {
			memcpy(&w->failure, buf, sizeof(w->failure));
			w->failed = 1;
		}
	} else if ((room = OUTPUT_KEEP - w->kept) > 0) {
		/* the rest is drained unread */
		if ((size_t)n > room)
			n = room;
		memcpy(w->keep + w->kept, buf, n);
		w->kept += n;
	}
}

/*
 * Read the output to its end and reap the command; 0, or -1 at the
 * deadline (the command is then still there).
 */
static int
watch(struct command_watch *w, pid_t pid, long long deadline, int *status)
{
	struct pollfd	 pfd[2];
	long long	 left;
	int		 n, wait_ms = REAP_POLL_MS;

	for (;;) {
		if ((left = deadline - monotonic_ms()) <= 0)
			return -1;
		if (w->out == -1 && w->report == -1) {
			if (waitpid(pid, status, WNOHANG) == pid)
				return 0;
			/* output closed: it is exiting; look again soon */
			poll(NULL, 0, left < wait_ms ? left : wait_ms);
			if (wait_ms < 200)
				wait_ms *= 2;
			continue;
		}
		n = 0;
		if (w->out != -1)
			pfd[n++] = (struct pollfd){ w->out, POLLIN, 0 };
		if (w->report != -1)
			pfd[n++] = (struct pollfd){ w->report, POLLIN, 0 };
		if (poll(pfd, n, left > 60000 ? 60000 : left) <= 0)
			continue;
		while (n-- > 0)
			if (pfd[n].revents != 0)
				watch_read(w, pfd[n].fd == w->out ? &w->out :
				    &w->report);
	}
}

/* Wait for pid, as long as EINTR says to. */
static int
reap(pid_t pid)
{
	int	 status = 0;

	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return status;
}

/* The output as reply text: one line, printable ASCII, trimmed. */
static char *
output_text(char *keep, size_t kept)
{
	size_t	 i;

	keep[kept] = '\0';
	for (i = 0; i < kept; i++)
		if (keep[i] == '\n' || keep[i] == '\r' || keep[i] == '\t')
			keep[i] = ' ';
		else if ((unsigned char)keep[i] < ' ' ||
		    (unsigned char)keep[i] >= 0x7f)
			keep[i] = '_';
	return str_trim(keep);
}

/* The length of an RFC 3463 code ("4.2.2", "5.1.1") starting s, or 0. */
static size_t
output_code(const char *s)
{
	size_t	 a, b;

	if ((s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	if ((a = strspn(s + 2, "0123456789")) < 1 || a > 3 || s[2 + a] != '.')
		return 0;
	b = strspn(s + 3 + a, "0123456789");
	if (b < 1 || b > 3 || (s[3 + a + b] != '\0' && s[3 + a + b] != ' '))
		return 0;
	return 3 + a + b;
}

static void
status_failed(int temp, const char *code, const char *what,
    const char *out, struct delivery_status *st)
{
	delivery_status_set(st, temp ? RESULT_TEMP : RESULT_PERM,
	    "%s %s %s%s%s", temp ? "451" : "550", code, what,
	    *out != '\0' ? ": " : "", out);
}

/* The command's exit status (and output) as a delivery status. */
static void
status_map(int status, char *out, struct delivery_status *st)
{
	const struct exit_code	*e;
	char			 what[128], code[16];
	size_t			 n;

	if (WIFSIGNALED(status)) {
		snprintf(what, sizeof(what), "command killed by signal %d",
		    WTERMSIG(status));
		status_failed(1, "4.3.0", what, out, st);
		return;
	}
	if (WEXITSTATUS(status) == 0) {
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 "
		    "delivered to command");
		return;
	}
	if ((n = output_code(out)) > 0) {
		snprintf(code, sizeof(code), "%.*s", (int)n, out);
		out += n + strspn(out + n, " ");
		snprintf(what, sizeof(what), "%s", *out != '\0' ? out :
		    "command failed");
		status_failed(code[0] == '4', code, what, "", st);
		return;
	}
	if ((e = exit_code_find(WEXITSTATUS(status))) != NULL) {
		snprintf(what, sizeof(what), "%s (command exit %d)", e->text,
		    e->status);
		status_failed(e->code[0] == '4', e->code, what, out, st);
		return;
	}
	snprintf(what, sizeof(what), "command died with status %d",
	    WEXITSTATUS(status));
	status_failed(0, "5.3.0", what, out, st);
}

/* The command could not start (it was not even run). */
static void
status_exec_failed(const struct exec_failure *f, const struct command_run *r,
    struct delivery_status *st)
{
	const char	*name = r->argv != NULL ? r->argv[0] : SHELL_PATH;

	if (f->setup)
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot set "
		    "up the command: %s", strerror(f->error));
	else if (f->error == ENOENT || f->error == ENOTDIR)
		delivery_status_set(st, RESULT_PERM, "550 5.3.0 command not "
		    "found: %s", name);
	else if (f->error == EACCES || f->error == ENOEXEC ||
	    f->error == ELOOP || f->error == ENAMETOOLONG ||
	    f->error == EISDIR)
		delivery_status_set(st, RESULT_PERM, "550 5.3.0 cannot run "
		    "the command %s: %s", name, strerror(f->error));
	else
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot run "
		    "the command %s: %s", name, strerror(f->error));
}

/* Start the command and its feeder, watch them, fill *st; 0 or -1. */
static int
command_run(const struct command_run *r, const struct delivery *d,
    long long timeout, struct delivery_status *st)
{
	struct command_watch	 w;
	int			 in[2], out[2], report[2], status, fed;
	pid_t			 pid, feeder;

	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(out, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if (pipe2(report, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if ((pid = fork()) == 0)
		command_child(r, in[0], out[1], report[1]);
	close(in[0]);
	close(out[1]);
	close(report[1]);
	/* forked now: it must hold neither out[1] nor report[1] */
	feeder = pid == -1 ? -1 : feeder_start(d, in[1]);
	close(in[1]);
	if (pid == -1 || feeder == -1) {
		close(out[0]);
		close(report[0]);
		if (pid != -1) {
			kill(pid, SIGKILL);
			reap(pid);
		}
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.out = out[0];
	w.report = report[0];
	if (watch(&w, pid, monotonic_ms() + timeout * 1000, &status) == -1) {
		/* the whole group, and pid itself if not yet in it */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		reap(pid);
		kill(feeder, SIGKILL);
		reap(feeder);
		if (w.out != -1)
			close(w.out);
		if (w.report != -1)
			close(w.report);
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 command "
		    "timed out after %lld s", timeout);
		return 0;
	}
	/* it has exited: the feeder is done or stuck on a pipe no one reads */
	if (waitpid(feeder, &fed, WNOHANG) != feeder) {
		kill(feeder, SIGKILL);
		fed = reap(feeder);
	}
	if (w.failed)
		status_exec_failed(&w.failure, r, st);
	else if (WIFEXITED(fed) && WEXITSTATUS(fed) != 0 &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0)
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 the message "
		    "did not reach the command: %s",
		    strerror(WEXITSTATUS(fed)));
	else
		status_map(status, output_text(w.keep, w.kept), st);
	return 0;
}

void
command_deliver(const char *command, const struct delivery *d,
    long long timeout, struct delivery_status *st)
{
	struct command_run	 r;
	const char		*bad = NULL;

	memset(&r, 0, sizeof(r));
	r.line = command;
	r.home = d->home;
	if (timeout < 1)
		timeout = 1;
	if (command[strspn(command, BLANKS)] == '\0') {
		delivery_status_set(st, RESULT_PERM, "550 5.3.5 an empty "
		    "command");
		return;
	}
	if (env_make(&r, d, &bad) == -1) {
		if (bad != NULL)
			delivery_status_set(st, RESULT_PERM, "550 5.3.0 a "
			    "control character in %s; no command runs with "
			    "it", bad);
		else
			delivery_status_set(st, RESULT_TEMP, "451 4.3.0 out "
			    "of memory");
		run_free(&r);
		return;
	}
	if (!command_needs_shell(command) && argv_split(&r, command) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 out of memory");
		run_free(&r);
		return;
	}
	if (command_run(&r, d, timeout, st) == -1)
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot start "
		    "the command: %s", strerror(errno));
	run_free(&r);
}
