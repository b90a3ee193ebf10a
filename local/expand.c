/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * expand.c: one local recipient, from its address to its deliveries
 * (doc/local.md, "Expansion").
 *
 * This runs in a recipient process: a child of locald, still root, that
 * opens nothing on a user's behalf.  Each delivery runs in a process of
 * its own that has become the user first (run_as): the recipient for its
 * mailbox and its ~/.forward, local_alias_user for the |command and
 * /file targets of alias_file.  Such a process reports back over a pipe
 * in lines the recipient process parses as untrusted input: "F ADDRESS"
 * for each address a ~/.forward sends the mail on to, then one
 * "R RESULT TEXT".
 *
 * Addresses an alias or a ~/.forward names are not delivered here but
 * sent on as one new message, through Ferry's own sendmail, with a
 * Delivered-To header naming this recipient: each gets its own state and
 * its own bounce in the queue, and a loop ends at the Delivered-To check.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "aliases.h"
#include "forward.h"
#include "header.h"
#include "locald.h"
#include "log.h"
#include "netaddr.h"
#include "util.h"

#define FORWARD_MAX	1000		/* addresses one recipient goes on to */
#define REPORT_MAX	(256 * 1024)	/* what a delivery process may say */
#define INCLUDE_DEPTH	5

/* Whom a delivery process becomes. */
struct identity {
	uid_t		 uid;
	gid_t		 gid;
	char		 user[64];
	char		 home[PATH_MAX];
};

/* A recipient under way: the address's parts and what was found. */
struct expansion {
	const struct local_job	*job;
	char		 rcpt[ADDR_MAX + 1];	/* local@domain, folded */
	char		 full[ADDR_LOCAL_MAX * 2 + 3];	/* local part, folded */
	char		 local[ADDR_LOCAL_MAX * 2 + 3];	/* no extension */
	char		 extension[ADDR_LOCAL_MAX * 2 + 3];
	char		 domain[ADDR_DOMAIN_MAX + 1];
	struct delivery_status st;		/* the worst so far, or no text */
	char		*fwd[FORWARD_MAX];
	size_t		 nfwd;
	struct identity	 fwd_as;		/* who sends them on */
	char		 fwd_sender[ADDR_MAX + 1];
};

enum task_kind { TASK_USER, TASK_MAILBOX, TASK_FILE, TASK_COMMAND,
	TASK_FORWARD };

struct task {
	enum task_kind	 kind;
	const char	*arg;		/* the file or the command */
	int		 spool_group;	/* mbox: keep the spool's group */
};

/* Worse results win: a deferral retries everything, then a bounce. */
static int
severity(enum delivery_result r)
{
	return r == RESULT_TEMP ? 3 : r == RESULT_PERM ? 2 : 1;
}

/* Keep in *worst the worse of it and st; a status without text is none. */
static void
keep_worst(struct delivery_status *worst, const struct delivery_status *st)
{
	if (worst->text[0] == '\0' ||
	    severity(st->result) > severity(worst->result))
		*worst = *st;
}

static void
merge(struct expansion *x, const struct delivery_status *st)
{
	keep_worst(&x->st, st);
}

/* error:CODE TEXT, as a result: 4xx defers, 5xx bounces. */
static void
error_status(struct delivery_status *st, const char *text)
{
	delivery_status_set(st, text[0] == '4' ? RESULT_TEMP : RESULT_PERM,
	    "%s", text);
}

static void
merge_set(struct expansion *x, enum delivery_result r, const char *text)
{
	struct delivery_status	 st;

	delivery_status_set(&st, r, "%s", text);
	merge(x, &st);
}

/* Is addr (a target) the local user name itself, in a local domain? */
static int
names_self(const struct expansion *x, const char *addr, const char *name)
{
	struct mailaddr	 ma;
	const char	*why;

	if (addr_parse(addr, ADDR_ALLOW_NODOMAIN, &ma, &why) == -1)
		return 0;
	if (ma.domain[0] != '\0' &&
	    !word_in_list(x->job->conf->mydestination, ma.domain))
		return 0;
	return strcasecmp(ma.local, name) == 0;
}

static void
add_forward(struct expansion *x, const char *addr)
{
	struct mailaddr	 ma;
	const char	*why;
	char		 buf[ADDR_MAX + 1];
	size_t		 i;

	if (addr_parse(addr, ADDR_ALLOW_NODOMAIN, &ma, &why) == -1) {
		merge_set(x, RESULT_PERM, "550 5.1.3 bad forwarding address");
		return;
	}
	if (ma.domain[0] == '\0')
		strlcpy(ma.domain, x->job->conf->myorigin, sizeof(ma.domain));
	if (addr_format(&ma, buf, sizeof(buf)) == -1)
		return;
	for (i = 0; i < x->nfwd; i++)
		if (strcasecmp(x->fwd[i], buf) == 0)
			return;
	if (x->nfwd == FORWARD_MAX) {
		merge_set(x, RESULT_PERM, "550 5.3.4 too many forwarding "
		    "addresses");
		return;
	}
	x->fwd[x->nfwd++] = xstrdup(buf);
}

static int
identity_from(const struct passwd *pw, struct identity *id)
{
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	if (strlcpy(id->user, pw->pw_name, sizeof(id->user)) >=
	    sizeof(id->user) ||
	    strlcpy(id->home, pw->pw_dir, sizeof(id->home)) >=
	    sizeof(id->home))
		return -1;
	return 0;
}

/*
 * Become id for good: its groups (and the mail spool's group for an
 * mbox delivery, whose dotlock needs it, as Postfix gives it), its gid,
 * its uid.  Without root, locald delivers only as itself.
 */
static void
become(const struct identity *id, const struct local_job *job,
    int spool_group)
{
	gid_t		 groups[NGROUPS_MAX + 1];
	int		 n = NGROUPS_MAX;
	struct stat	 sb;

	umask(077);
	if (geteuid() != 0)
		return;
	if (getgrouplist(id->user, id->gid, groups, &n) == -1)
		n = 1, groups[0] = id->gid;
	if (spool_group && stat(job->conf->mail_spool_directory, &sb) == 0 &&
	    (sb.st_mode & S_IWGRP) != 0 && n < NGROUPS_MAX)
		groups[n++] = sb.st_gid;
	if (setgroups(n, groups) == -1 ||
	    setresgid(id->gid, id->gid, id->gid) == -1 ||
	    setresuid(id->uid, id->uid, id->uid) == -1)
		_exit(EX_OSERR);
	if (id->uid != 0 && (setuid(0) != -1 || geteuid() == 0))
		_exit(EX_OSERR);
}

static void
fill_delivery(const struct expansion *x, const struct identity *id,
    struct delivery *d)
{
	d->id = x->job->id;
	d->sender = x->job->sender;
	d->recipient = x->rcpt;
	d->orig_recipient = x->job->addr;
	d->user = id->user;
	d->home = id->home;
	d->local = x->local;
	d->extension = x->extension;
	d->domain = x->domain;
	d->msgfd = x->job->msgfd;
}

static void
deliver_mailbox(const struct expansion *x, const struct delivery *d,
    struct delivery_status *st)
{
	char	 path[PATH_MAX];

	if (strcmp(x->job->conf->local_mailbox, "maildir") == 0) {
		if (path_join(path, sizeof(path), d->home, "Maildir") == -1)
			delivery_status_set(st, RESULT_PERM, "550 5.3.5 home "
			    "directory path too long");
		else
			maildir_deliver(path, d, st);
		return;
	}
	if (path_join(path, sizeof(path), x->job->conf->mail_spool_directory,
	    d->user) == -1)
		delivery_status_set(st, RESULT_PERM, "550 5.3.5 mailbox path "
		    "too long");
	else
		mbox_deliver(path, d, st);
}

/* Ferry's sendmail, with the copy on its standard input. */
static void
deliver_forward(const struct expansion *x, const struct delivery *d,
    struct delivery_status *st)
{
	const char	*argv[FORWARD_MAX + 10];
	char		*envp[] = { "PATH=/usr/bin:/bin", NULL };
	int		 p[2], status, argc = 0;
	size_t		 i;
	pid_t		 pid;

	argv[argc++] = "sendmail";
	argv[argc++] = "-C";
	argv[argc++] = x->job->conf->source;
	argv[argc++] = "-i";
	argv[argc++] = "-f";
	argv[argc++] = x->fwd_sender[0] != '\0' ? x->fwd_sender : "<>";
	argv[argc++] = "--";
	for (i = 0; i < x->nfwd; i++)
		argv[argc++] = x->fwd[i];
	argv[argc] = NULL;
	if (pipe(p) == -1 || (pid = fork()) == -1) {
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 cannot run "
		    "sendmail: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(p[1]);
		if (dup2(p[0], 0) == -1)
			_exit(EX_OSERR);
		closefrom(3);
		execve(x->job->sendmail, (char **)argv, envp);
		_exit(EX_OSERR);
	}
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	if (delivery_copy(p[1], d, COPY_FORWARD) == -1 && errno != EPIPE) {
		close(p[1]);
		kill(pid, SIGTERM);
	} else
		close(p[1]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 forwarded "
		    "to %zu address%s", x->nfwd, x->nfwd == 1 ? "" : "es");
	else if (WIFEXITED(status) && (WEXITSTATUS(status) == EX_DATAERR ||
	    WEXITSTATUS(status) == EX_USAGE))
		delivery_status_set(st, RESULT_PERM, "554 5.3.4 the queue "
		    "refused the forwarded copy (sendmail exit %d)",
		    WEXITSTATUS(status));
	else
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 forwarding "
		    "failed (sendmail status %d)", status);
}

static void
report(int fd, const struct delivery_status *st)
{
	dprintf(fd, "R %d %s\n", st->result, st->text);
}

/* The targets of a ~/.forward, as the user (in the delivery process). */
static void
user_targets(const struct expansion *x, const struct delivery *d,
    const struct alias_target *t, size_t n, int out, int depth,
    struct delivery_status *worst);

static void
user_include(const struct expansion *x, const struct delivery *d,
    const char *path, int out, int depth, struct delivery_status *worst)
{
	struct alias_target	*t;
	struct delivery_status	 st;
	size_t			 n;
	int			 r;

	if (depth >= INCLUDE_DEPTH) {
		delivery_status_set(&st, RESULT_PERM, "554 5.4.6 :include: "
		    "files nested too deep");
		keep_worst(worst, &st);
		return;
	}
	if ((r = forward_read(path, geteuid(), &t, &n, &st)) != 1) {
		if (r == 0)
			delivery_status_set(&st, RESULT_TEMP, "451 4.3.0 "
			    ":include: file %s is missing", path);
		keep_worst(worst, &st);
		return;
	}
	user_targets(x, d, t, n, out, depth + 1, worst);
	alias_targets_free(t, n);
}

static void
user_targets(const struct expansion *x, const struct delivery *d,
    const struct alias_target *t, size_t n, int out, int depth,
    struct delivery_status *worst)
{
	struct delivery_status	 st;
	int			 to_mailbox = 0;
	size_t			 i;

	for (i = 0; i < n; i++) {
		st.result = RESULT_DELIVERED;
		st.text[0] = '\0';
		switch (t[i].kind) {
		case ALIAS_ADDRESS:
			/* \user is the same user: only the mailbox */
			if (names_self(x, t[i].value, d->user))
				to_mailbox = 1;
			else
				dprintf(out, "F %s\n", t[i].value);
			continue;
		case ALIAS_FILE:
		case ALIAS_COMMAND:
			if (depth > 0 &&
			    !x->job->conf->local_include_commands) {
				delivery_status_set(&st, RESULT_PERM, "550 "
				    "5.7.1 an :include: file may not name "
				    "commands or files");
			} else if (t[i].kind == ALIAS_FILE)
				mbox_deliver(t[i].value, d, &st);
			else
				command_deliver(t[i].value, d,
				    x->job->conf->local_command_timeout, &st);
			break;
		case ALIAS_INCLUDE:
			user_include(x, d, t[i].value, out, depth, worst);
			continue;
		case ALIAS_ERROR:
			error_status(&st, t[i].value);
			break;
		}
		keep_worst(worst, &st);
	}
	if (to_mailbox) {
		deliver_mailbox(x, d, &st);
		keep_worst(worst, &st);
	}
}

/* A Unix user: their ~/.forward if they have one, else their mailbox. */
static void
task_user(const struct expansion *x, const struct delivery *d, int out,
    struct delivery_status *st)
{
	struct alias_target	*t;
	char			 path[PATH_MAX];
	size_t			 n;
	int			 r;

	if (path_join(path, sizeof(path), d->home, ".forward") == -1) {
		delivery_status_set(st, RESULT_PERM, "550 5.3.5 home "
		    "directory path too long");
		return;
	}
	if ((r = forward_read(path, geteuid(), &t, &n, st)) == -1)
		return;
	if (r == 0 || n == 0) {
		/* no ~/.forward, or an empty one: do not forward */
		deliver_mailbox(x, d, st);
		return;
	}
	st->result = RESULT_DELIVERED;
	st->text[0] = '\0';
	user_targets(x, d, t, n, out, 0, st);
	alias_targets_free(t, n);
	if (st->text[0] == '\0')
		delivery_status_set(st, RESULT_DELIVERED, "250 2.0.0 "
		    "forwarded by %s", path);
}

/* In the delivery process, as id: one task; then "R ..." on out. */
static void __attribute__((__noreturn__))
task_run(const struct expansion *x, const struct identity *id,
    const struct task *task, int out)
{
	struct delivery		 d;
	struct delivery_status	 st;

	become(id, x->job, task->spool_group);
	fill_delivery(x, id, &d);
	delivery_status_set(&st, RESULT_TEMP, "451 4.3.0 nothing done");
	switch (task->kind) {
	case TASK_USER:
		task_user(x, &d, out, &st);
		break;
	case TASK_MAILBOX:
		deliver_mailbox(x, &d, &st);
		break;
	case TASK_FILE:
		mbox_deliver(task->arg, &d, &st);
		break;
	case TASK_COMMAND:
		command_deliver(task->arg, &d,
		    x->job->conf->local_command_timeout, &st);
		break;
	case TASK_FORWARD:
		deliver_forward(x, &d, &st);
		break;
	}
	report(out, &st);
	_exit(0);
}

/*
 * One line of a delivery process's report, which runs as a user and is
 * not trusted: "F ADDRESS" (an address the one parser accepts) or
 * "R RESULT TEXT" (RESULT 0, 1 or 2; TEXT without control characters).
 */
static int
report_line(struct expansion *x, char *line, struct delivery_status *st)
{
	char	*p;

	if (strncmp(line, "F ", 2) == 0) {
		add_forward(x, line + 2);
		return 0;
	}
	if (strncmp(line, "R ", 2) != 0 || line[2] < '0' ||
	    line[2] > '0' + RESULT_PERM || line[3] != ' ')
		return -1;
	for (p = line + 4; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	delivery_status_set(st, line[2] - '0', "%s", line + 4);
	return 1;
}

static void
read_report(struct expansion *x, FILE *fp, const struct identity *id,
    struct delivery_status *st)
{
	char	 line[4096];
	size_t	 total = 0;
	int	 have = 0, r;

	while (fgets(line, sizeof(line), fp) != NULL && have == 0) {
		total += strlen(line);
		line[strcspn(line, "\n")] = '\0';
		if (total > REPORT_MAX || (r = report_line(x, line, st)) == -1)
			break;
		have = r;
	}
	if (!have)
		delivery_status_set(st, RESULT_TEMP, "451 4.3.0 the delivery "
		    "process as %s gave no valid report", id->user);
}

/* Run task as id in a process of its own, and merge what it reports. */
static void
run_as(struct expansion *x, const struct identity *id,
    const struct task *task)
{
	struct delivery_status	 st;
	FILE			*fp;
	int			 p[2], status;
	pid_t			 pid;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		delivery_status_set(&st, RESULT_TEMP, "451 4.3.0 cannot start "
		    "a delivery process: %s", strerror(errno));
		merge(x, &st);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		task_run(x, id, task, p[1]);
	}
	close(p[1]);
	if ((fp = fdopen(p[0], "r")) == NULL)
		fatal("fdopen");
	read_report(x, fp, id, &st);
	fclose(fp);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		delivery_status_set(&st, RESULT_TEMP, "451 4.3.0 the delivery "
		    "process as %s failed (status %d)", id->user, status);
	merge(x, &st);
}

/* local_alias_user, who runs alias_file's commands and files. */
static int
alias_identity(struct expansion *x, struct identity *id)
{
	struct passwd	*pw;

	pw = geteuid() == 0 ? getpwnam(x->job->conf->local_alias_user) :
	    getpwuid(geteuid());
	if (pw == NULL || identity_from(pw, id) == -1 ||
	    (geteuid() == 0 && id->uid == 0)) {
		merge_set(x, RESULT_TEMP, "451 4.3.5 local_alias_user is "
		    "unknown or root");
		return -1;
	}
	return 0;
}

/* A Unix account (never root); with_forward: its ~/.forward counts. */
static void
expand_user(struct expansion *x, const char *name, int with_forward)
{
	struct identity	 id;
	struct task	 task = { with_forward ? TASK_USER : TASK_MAILBOX,
			    NULL, 0 };
	struct passwd	*pw;
	char		 text[DELIVERY_TEXT_MAX];

	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH)
			merge_set(x, RESULT_TEMP, "451 4.3.0 cannot look up "
			    "the user");
		else {
			snprintf(text, sizeof(text), "550 5.1.1 <%s>: no such "
			    "user here", x->rcpt);
			merge_set(x, RESULT_PERM, text);
		}
		return;
	}
	if (identity_from(pw, &id) == -1) {
		merge_set(x, RESULT_PERM, "550 5.3.5 user name or home too "
		    "long");
		return;
	}
	if (id.uid == 0) {
		log_alert("event=root-mail id=%s to=%s warning=%s", x->job->id,
		    log_q(x->rcpt), log_q("mail for a uid-0 account is never "
		    "delivered as root: alias it to a person in alias_file; "
		    "it stays deferred"));
		merge_set(x, RESULT_TEMP, "451 4.3.5 mail for root must be "
		    "aliased to a person in alias_file");
		return;
	}
	if (geteuid() != 0 && id.uid != geteuid()) {
		snprintf(text, sizeof(text), "451 4.3.5 locald does not run "
		    "as root: it delivers only to its own user, not to %s",
		    id.user);
		merge_set(x, RESULT_TEMP, text);
		return;
	}
	task.spool_group = strcmp(x->job->conf->local_mailbox, "mbox") == 0;
	if (with_forward)
		x->fwd_as = id;
	run_as(x, &id, &task);
}

static void expand_targets(struct expansion *, const struct alias *,
    const struct alias_target *, size_t, const struct identity *, int);

/* An :include: of alias_file, read as local_alias_user. */
static void
expand_include(struct expansion *x, const struct alias *a, const char *path,
    const struct identity *as, int depth)
{
	struct alias_target	*t;
	struct delivery_status	 st;
	size_t			 n;
	int			 r;

	if (depth >= INCLUDE_DEPTH) {
		merge_set(x, RESULT_PERM, "554 5.4.6 :include: files nested "
		    "too deep");
		return;
	}
	/* root reads it, with the same rules as a ~/.forward */
	if ((r = forward_read(path, as->uid, &t, &n, &st)) != 1) {
		if (r == 0)
			delivery_status_set(&st, RESULT_TEMP, "451 4.3.0 "
			    ":include: file %s is missing", path);
		merge(x, &st);
		return;
	}
	expand_targets(x, a, t, n, as, depth + 1);
	alias_targets_free(t, n);
}

static void
expand_targets(struct expansion *x, const struct alias *a,
    const struct alias_target *t, size_t n, const struct identity *as,
    int depth)
{
	struct task		 task = { TASK_FILE, NULL, 0 };
	struct delivery_status	 st;
	size_t			 i;

	for (i = 0; i < n; i++)
		switch (t[i].kind) {
		case ALIAS_ADDRESS:
			if (t[i].escaped)
				expand_user(x, t[i].value, 0);
			else if (names_self(x, t[i].value, a->name))
				expand_user(x, a->name, 0);
			else
				add_forward(x, t[i].value);
			break;
		case ALIAS_FILE:
		case ALIAS_COMMAND:
			if (depth > 0 &&
			    !x->job->conf->local_include_commands) {
				merge_set(x, RESULT_PERM, "550 5.7.1 an "
				    ":include: file may not name commands or "
				    "files");
				break;
			}
			task.kind = t[i].kind == ALIAS_FILE ? TASK_FILE :
			    TASK_COMMAND;
			task.arg = t[i].value;
			run_as(x, as, &task);
			break;
		case ALIAS_INCLUDE:
			expand_include(x, a, t[i].value, as, depth);
			break;
		case ALIAS_ERROR:
			error_status(&st, t[i].value);
			merge(x, &st);
			break;
		}
}

/* An alias: its targets; bounces of what it sends on go to owner-NAME. */
static void
expand_alias(struct expansion *x, const struct alias *a)
{
	struct identity	 as;
	char		 owner[ADDR_LOCAL_MAX + 16];

	if (alias_identity(x, &as) == -1)
		return;
	x->fwd_as = as;
	snprintf(owner, sizeof(owner), "owner-%s", a->name);
	if (alias_find(x->job->aliases, owner) != NULL)
		snprintf(x->fwd_sender, sizeof(x->fwd_sender), "%s@%s", owner,
		    x->job->conf->myorigin);
	expand_targets(x, a, a->targets, a->ntargets, &as, 0);
}

/* Fold the address and split off its extension. */
static int
expansion_init(struct expansion *x, const struct local_job *job)
{
	struct mailaddr	 ma;
	const char	*why, *delim = job->conf->recipient_delimiter;
	char		*p;

	memset(x, 0, sizeof(*x));
	x->job = job;
	strlcpy(x->fwd_sender, job->sender, sizeof(x->fwd_sender));
	if (addr_parse(job->addr, 0, &ma, &why) == -1)
		return -1;
	for (p = ma.local; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	if (addr_format(&ma, x->rcpt, sizeof(x->rcpt)) == -1)
		return -1;
	strlcpy(x->domain, ma.domain, sizeof(x->domain));
	strlcpy(x->full, ma.local, sizeof(x->full));
	strlcpy(x->local, ma.local, sizeof(x->local));
	if (strcmp(delim, "none") != 0 && (p = strchr(x->local, *delim)) !=
	    NULL && p != x->local) {
		strlcpy(x->extension, p + 1, sizeof(x->extension));
		*p = '\0';
	}
	return 0;
}

void
local_deliver(const struct local_job *job, struct delivery_status *st)
{
	struct expansion	*x;
	struct task		 fwd = { TASK_FORWARD, NULL, 0 };
	const struct alias	*a;
	size_t			 i;

	x = xcalloc(1, sizeof(*x));
	if (expansion_init(x, job) == -1) {
		delivery_status_set(st, RESULT_PERM, "550 5.1.3 bad address");
		free(x);
		return;
	}
	if (header_delivered_to(job->header, x->rcpt))
		merge_set(x, RESULT_PERM, "554 5.4.6 mail forwarding loop: "
		    "the message was delivered to this address before");
	else if (job->header->received > HOP_LIMIT)
		merge_set(x, RESULT_PERM, "554 5.4.6 too many hops: more "
		    "than 50 Received header fields");
	else if ((a = alias_find(job->aliases, x->full)) != NULL ||
	    (a = alias_find(job->aliases, x->local)) != NULL)
		expand_alias(x, a);
	else
		expand_user(x, x->local, 1);
	if (x->nfwd > 0 && (x->st.text[0] == '\0' ||
	    x->st.result != RESULT_TEMP)) {
		log_event("event=forward id=%s to=%s addresses=%zu as=%s",
		    job->id, log_q(x->rcpt), x->nfwd, log_q(x->fwd_as.user));
		run_as(x, &x->fwd_as, &fwd);
	}
	if (x->st.text[0] == '\0')
		merge_set(x, RESULT_PERM, "550 5.1.1 the alias expands to "
		    "nothing");
	*st = x->st;
	for (i = 0; i < x->nfwd; i++)
		free(x->fwd[i]);
	free(x);
}
