/*
 * command.c: the |command target: the message on a program's standard
 * input, in a delivery process that already is the user the command runs
 * as (the recipient for a ~/.forward, local_alias_user for alias_file).
 *
 * Nothing of the envelope reaches a shell: a command runs by execve()
 * with its words as argv, and only a command line that itself holds a
 * shell metacharacter goes to /bin/sh -c, as the user wrote it (OpenSMTPD
 * CVE-2020-7247 built a shell line from a sender address).  The
 * environment is new and holds only the variables Postfix's local(8)
 * sets, so procmail and maildrop wrappers find what they expect; no
 * descriptor but 0, 1 and 2 survives into the command (Postfix once
 * leaked its epoll descriptor into them); the command runs in a process
 * group of its own, killed whole at the time limit.  Its exit status is
 * read as sysexits(3), as Postfix reads it; an RFC 3463 code at the start
 * of its output says more.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
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

#define SHELL_META	"\"'`\\$;&|<>()*?[]{}~#=!\n"
#define OUTPUT_KEEP	1024	/* of the command's output, for the reply */
#define ARGV_MAX	64
#define ENV_MAX		16
#define SEARCH_PATH	"/usr/bin:/bin"

struct exit_code {
	int		 status;
	int		 temporary;
	const char	*code;		/* RFC 3463 */
	const char	*text;
};

/* As Postfix's sys_exits.c: only these two are worth a retry. */
static const struct exit_code exit_codes[] = {
	{ EX_USAGE, 0, "5.3.0", "command line usage error" },
	{ EX_DATAERR, 0, "5.6.0", "data format error" },
	{ EX_NOINPUT, 0, "5.3.0", "cannot open input" },
	{ EX_NOUSER, 0, "5.1.1", "user unknown" },
	{ EX_NOHOST, 0, "5.1.2", "host name unknown" },
	{ EX_UNAVAILABLE, 0, "5.3.0", "service unavailable" },
	{ EX_SOFTWARE, 0, "5.3.0", "internal software error" },
	{ EX_OSERR, 1, "4.3.0", "system resource problem" },
	{ EX_OSFILE, 0, "5.3.0", "critical operating system file missing" },
	{ EX_CANTCREAT, 0, "5.2.0", "cannot create output file" },
	{ EX_IOERR, 0, "5.3.0", "input/output error" },
	{ EX_TEMPFAIL, 1, "4.3.0", "temporary failure" },
	{ EX_PROTOCOL, 0, "5.5.0", "remote error in protocol" },
	{ EX_NOPERM, 0, "5.7.0", "permission denied" },
	{ EX_CONFIG, 0, "5.3.5", "local configuration error" },
};

/* KEY=value strings into env; -1 if a value holds a control character. */
static int
make_env(const struct delivery *d, char store[ENV_MAX][1100], char **env)
{
	const char	*keys[] = { "SENDER", "RECIPIENT", "ORIGINAL_RECIPIENT",
			    "USER", "LOGNAME", "HOME", "LOCAL", "EXTENSION",
			    "DOMAIN", "SHELL", "PATH" };
	const char	*values[] = { d->sender, d->recipient,
			    d->orig_recipient, d->user, d->user, d->home,
			    d->local, d->extension, d->domain, "/bin/sh",
			    SEARCH_PATH };
	size_t		 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (str_has_control(values[i]))
			return -1;
		snprintf(store[i], sizeof(store[i]), "%s=%s", keys[i],
		    values[i]);
		env[i] = store[i];
	}
	env[i] = NULL;
	return 0;
}

/* In the command's process: exec it, never return. */
static void __attribute__((__noreturn__))
command_exec(const char *command, const struct delivery *d, char **env)
{
	char		*argv[ARGV_MAX + 1], copy[4096], path[4200], *w, *p;
	const char	*dir;
	int		 argc = 0;

	if (strpbrk(command, SHELL_META) != NULL) {
		execle("/bin/sh", "sh", "-c", command, (char *)NULL, env);
		_exit(EX_OSERR);
	}
	if (strlcpy(copy, command, sizeof(copy)) >= sizeof(copy))
		_exit(EX_USAGE);
	for (p = copy; (w = strsep(&p, " \t")) != NULL;)
		if (*w != '\0' && argc < ARGV_MAX)
			argv[argc++] = w;
	argv[argc] = NULL;
	if (argc == 0)
		_exit(EX_USAGE);
	if (strchr(argv[0], '/') != NULL)
		execve(argv[0], argv, env);
	else
		for (dir = SEARCH_PATH; *dir != '\0';) {
			size_t	 n = strcspn(dir, ":");

			snprintf(path, sizeof(path), "%.*s/%s", (int)n, dir,
			    argv[0]);
			execve(path, argv, env);
			dir += n + (dir[n] == ':');
		}
	(void)d;
	_exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
}

static pid_t
start_command(const char *command, const struct delivery *d, char **env,
    int in, int out)
{
	pid_t	 pid;
	int	 sig;

	if ((pid = fork()) != 0)
		return pid;
	setsid();
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EX_OSERR);
	closefrom(3);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (chdir(d->home) == -1 && chdir("/") == -1)
		_exit(EX_OSERR);
	command_exec(command, d, env);
}

/* Feeds the message to the command; a command may stop reading early. */
static pid_t
start_feeder(const struct delivery *d, int in)
{
	pid_t	 pid;

	if ((pid = fork()) != 0)
		return pid;
	signal(SIGPIPE, SIG_IGN);
	_exit(delivery_copy(in, d, 0) == -1 && errno != EPIPE ? 1 : 0);
}

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void
keep_output(char *keep, size_t *kept, const char *buf, size_t n)
{
	size_t	 room = OUTPUT_KEEP - *kept;

	if (n > room)
		n = room;
	memcpy(keep + *kept, buf, n);
	*kept += n;
}

/*
 * Keep the first OUTPUT_KEEP bytes of the output until it ends and the
 * command has exited; 0, or -1 at the deadline.
 */
static int
collect(int out, pid_t pid, long long deadline, char *keep, size_t *kept,
    int *status)
{
	struct pollfd	 pfd = { out, POLLIN, 0 };
	char		 buf[4096];
	ssize_t		 n;
	long long	 left;
	int		 reading = 1, exited = 0;

	while (reading || !exited) {
		if (!exited && waitpid(pid, status, WNOHANG) == pid)
			exited = 1;
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		if (!reading) {
			poll(NULL, 0, left < 20 ? left : 20);
			continue;
		}
		if (poll(&pfd, 1, left < 50 ? left : 50) <= 0)
			continue;
		n = read(out, buf, sizeof(buf));
		if (n > 0)
			keep_output(keep, kept, buf, n);
		else if (!(n == -1 && errno == EINTR))
			reading = 0;
	}
	return 0;
}

/* The output's first line, printable, and an RFC 3463 code it starts with. */
static void
output_text(char *keep, size_t kept, char *code, size_t codesize)
{
	size_t	 i;
	int	 a, b, c, n = 0;

	keep[kept] = '\0';
	keep[strcspn(keep, "\r\n")] = '\0';
	for (i = 0; keep[i] != '\0'; i++)
		if ((unsigned char)keep[i] < ' ' || keep[i] == 0x7f)
			keep[i] = '?';
	code[0] = '\0';
	if (sscanf(keep, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 &&
	    (a == 4 || a == 5) && (keep[n] == ' ' || keep[n] == '\0')) {
		snprintf(code, codesize, "%d.%d.%d", a, b, c);
		memmove(keep, keep + n + (keep[n] == ' '),
		    strlen(keep + n + (keep[n] == ' ')) + 1);
	}
}

static void
map_status(int status, char *out, const char *code, const char *command,
    struct delivery_status *st)
{
	const struct exit_code	*e = NULL;
	size_t			 i;
	int			 temp;

	(void)command;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 delivered "
		    "to command");
		return;
	}
	if (WIFSIGNALED(status)) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 command killed "
		    "by signal %d%s%s", WTERMSIG(status), *out ? ": " : "",
		    out);
		return;
	}
	for (i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
		if (exit_codes[i].status == WEXITSTATUS(status))
			e = &exit_codes[i];
	if (*code != '\0')
		temp = code[0] == '4';
	else
		temp = e != NULL && e->temporary;
	delivery_status_set(st, temp ? RESULT_TEMP : RESULT_PERM,
	    "%s %s command failed: exit %d (%s)%s%s", temp ? "451" : "550",
	    *code != '\0' ? code : e != NULL ? e->code : "5.3.0",
	    WEXITSTATUS(status), e != NULL ? e->text : "unknown status",
	    *out ? ": " : "", out);
}

void
command_deliver(const char *command, const struct delivery *d,
    long long timeout, struct delivery_status *st)
{
	char		 store[ENV_MAX][1100], *env[ENV_MAX + 1];
	char		 keep[OUTPUT_KEEP + 1], code[16];
	size_t		 kept = 0;
	int		 in[2], out[2], status = 0, fstatus, timed_out;
	pid_t		 pid, feeder;

	if (make_env(d, store, env) == -1) {
		delivery_status_set(st, RESULT_PERM, "550 5.3.0 a control "
		    "character in the envelope; no command runs with it");
		return;
	}
	if (pipe(in) == -1 || pipe(out) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 pipe: %s",
		    strerror(errno));
		return;
	}
	if ((pid = start_command(command, d, env, in[0], out[1])) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 fork: %s",
		    strerror(errno));
		return;
	}
	close(in[0]);
	close(out[1]);
	feeder = start_feeder(d, in[1]);
	close(in[1]);
	timed_out = collect(out[0], pid, now_ms() + timeout * 1000, keep,
	    &kept, &status) == -1;
	close(out[0]);
	if (timed_out) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	if (feeder != -1) {
		kill(feeder, SIGKILL);
		while (waitpid(feeder, &fstatus, 0) == -1 && errno == EINTR)
			;
	}
	if (timed_out) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 command timed "
		    "out after %lld s", timeout);
		return;
	}
	output_text(keep, kept, code, sizeof(code));
	map_status(status, keep, code, command, st);
}
