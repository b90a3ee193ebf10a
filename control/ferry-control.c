/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ferry-control: the IPC side of ferryctl.
 *
 * SUMMARY
 *	ferry-control [-c file] check | defaults | manpage | get KEY |
 *	    ping DAEMON | flush | delete ID | passwd [-d] USER |
 *	    delegate test ADDRESS | delegate list | delegate forget ADDRESS|all |
 *	    license | oauth login ROUTE | oauth status | oauth problems
 *
 * DESCRIPTION
 *	check		validate the configuration ("file:line: problem")
 *	defaults	print the documented default configuration
 *	manpage		print ferry.conf(5), in mdoc(7), from the same table
 *	get KEY		print a configuration value
 *	ping DAEMON	exit 0 if DAEMON answers on run_directory/DAEMON.sock
 *	flush		make every deferred recipient due now
 *	delete ID	remove a message from the queue
 *	passwd [-d] USER
 *			set USER's password in smtpd_users_file, or delete
 *			USER with -d.  The password is read from standard
 *			input: asked twice without echo on a terminal, else
 *			one line.
 *	delegate test ADDRESS	probe ADDRESS at the delegate now
 *	delegate list	the recipient answers delegated has cached
 *	delegate forget ADDRESS|all
 *			drop a cached answer (or all of them)
 *	license		licensed's view of the support licence (exit 1 if it
 *			is not valid)
 *	oauth login ROUTE
 *			the device-code sign-in for an OAuth2 route of
 *			relay_auth_file; stores its refresh token
 *	oauth status	every OAuth2 route's tokens and last error (exit 1
 *			if the provider refused a route's refresh)
 *	oauth problems	only the routes the provider refused (ferryctl
 *			status)
 *	The queue requests use queued's private socket: root or queued's user;
 *	the delegate requests delegated's: root or delegated's user.
 *
 * EXIT STATUS
 *	0 success, 1 no answer (ping), 64 usage (or a bad user name),
 *	65 no such message, or an unusable password, 67 no such user
 *	(passwd -d), 70 the password cannot be hashed, 74 users file not
 *	readable or writable, 75 queue not reachable, 78 configuration error.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "config_doc.h"
#include "control.h"
#include "ipc.h"
#include "password.h"
#include "users.h"
#include "util.h"

#define PING_TIMEOUT	5
#define QUEUE_TIMEOUT	60
#define USERS_MODE	0640

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: ferry-control [-c file] check | defaults | "
	    "manpage | get key |\n"
	    "                     ping daemon | flush | delete id | "
	    "passwd [-d] user |\n"
	    "                     delegate test address | delegate list | "
	    "delegate forget address|all | license |\n"
	    "                     oauth login route | oauth status | "
	    "oauth problems\n");
	exit(EX_USAGE);
}

int
connect_daemon(const struct config *conf, const char *daemon, int timeout)
{
	char	 name[64], path[PATH_MAX];
	int	 s;

	if (strchr(daemon, '/') != NULL ||
	    snprintf(name, sizeof(name), "%s.sock", daemon) >=
	    (int)sizeof(name) ||
	    path_join(path, sizeof(path), conf->run_directory, name) == -1)
		usage();
	if ((s = ipc_connect(path, timeout)) == -1)
		return -1;
	if (ipc_hello(s, "ferry-control") == -1) {
		close(s);
		return -1;
	}
	return s;
}

/* Send a queue request (type, optional id) and expect IPC_OK. */
static int
queue_request(const struct config *conf, uint32_t type, const char *id)
{
	static struct ipc_frame	 req, rep;
	char			 text[IPC_STR_MAX + 1];
	uint32_t		 class;
	int			 s;

	if ((s = connect_daemon(conf, "queued", QUEUE_TIMEOUT)) == -1) {
		fprintf(stderr, "ferry-control: queue not reachable: %s\n",
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	ipc_frame_init(&req, type, 1);
	if (id != NULL)
		ipc_put_str(&req, id);
	if (ipc_call(s, &req, -1, &rep) == -1) {
		fprintf(stderr, "ferry-control: %s\n", strerror(errno));
		return EX_TEMPFAIL;
	}
	close(s);
	if (rep.type == IPC_OK)
		return EX_OK;
	if (rep.type == IPC_ERROR && ipc_get_u32(&rep, &class) == 0 &&
	    ipc_get_str(&rep, text, sizeof(text)) == 0) {
		fprintf(stderr, "ferry-control: %s\n", text);
		return class == IPC_ERR_PERM ? EX_DATAERR : EX_TEMPFAIL;
	}
	fprintf(stderr, "ferry-control: bad reply from queued\n");
	return EX_PROTOCOL;
}

static int
ping(const struct config *conf, const char *daemon)
{
	int	 s;

	if ((s = connect_daemon(conf, daemon, PING_TIMEOUT)) == -1)
		return 1;
	close(s);
	return 0;
}

static int
get_value(const struct config *conf, const char *key)
{
	char	 value[PATH_MAX];

	if (config_value(conf, key, value, sizeof(value)) == -1) {
		fprintf(stderr, "ferry-control: unknown key %s\n", key);
		return EX_USAGE;
	}
	printf("%s\n", value);
	return EX_OK;
}

/*
 * passwd: smtpd_users_file holds "name:crypt-hash" lines; comments and
 * blank lines are kept as they are.  The file is rewritten beside itself
 * and renamed over the old one, so smtpd reads either the old file or the
 * new one, never half of one.  The password is never printed or logged.
 */

/* One line of standard input, read a byte at a time so that no stdio
 * buffer keeps a copy of the password. */
static int
read_password_line(char *buf, size_t size)
{
	size_t	 len = 0;
	ssize_t	 n;
	char	 c;

	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "ferry-control: passwd: cannot read "
			    "the password: %s\n", strerror(errno));
			return EX_IOERR;
		}
		if (n == 0 || c == '\n')
			break;
		if (c == '\0' || len + 1 >= size) {
			fprintf(stderr, "ferry-control: passwd: the password "
			    "is longer than %d bytes or holds a NUL byte\n",
			    PASSWORD_MAX);
			return EX_DATAERR;
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	return EX_OK;
}

/* The password twice from the terminal, without echo. */
static int
read_password_tty(char *buf, size_t size)
{
	char	 again[PASSWORD_MAX + 2];
	int	 status = EX_OK;

	if (readpassphrase("Password: ", buf, size, RPP_REQUIRE_TTY) == NULL ||
	    readpassphrase("Again: ", again, sizeof(again),
	    RPP_REQUIRE_TTY) == NULL) {
		fprintf(stderr, "ferry-control: passwd: cannot read the "
		    "password: %s\n", strerror(errno));
		status = EX_IOERR;
	} else if (strcmp(buf, again) != 0) {
		fprintf(stderr, "ferry-control: passwd: the passwords do not "
		    "match\n");
		status = EX_DATAERR;
	}
	explicit_bzero(again, sizeof(again));
	return status;
}

/* Refuse an empty or too long password; hash the others into hash. */
static int
hash_password(const char *pw, char *hash, size_t size)
{
	if (pw[0] == '\0') {
		fprintf(stderr, "ferry-control: passwd: empty password\n");
		return EX_DATAERR;
	}
	if (strlen(pw) > PASSWORD_MAX) {
		fprintf(stderr, "ferry-control: passwd: the password is "
		    "longer than %d bytes\n", PASSWORD_MAX);
		return EX_DATAERR;
	}
	if (password_hash(pw, hash, size) == -1) {
		fprintf(stderr, "ferry-control: passwd: cannot hash the "
		    "password: %s\n", strerror(errno));
		return EX_SOFTWARE;
	}
	return EX_OK;
}

/* Read the new password and hash it into hash. */
static int
read_new_hash(char *hash, size_t size)
{
	char	 pw[PASSWORD_MAX + 2];
	int	 status;

	if (isatty(STDIN_FILENO))
		status = read_password_tty(pw, sizeof(pw));
	else
		status = read_password_line(pw, sizeof(pw));
	if (status == EX_OK)
		status = hash_password(pw, hash, size);
	explicit_bzero(pw, sizeof(pw));
	return status;
}

/* Create tmp for the new file: mode 0640 whatever the umask, and, when
 * gid is not -1, owned by root and smtpd's group so smtpd can read it. */
static int
users_tmp_create(const char *tmp, gid_t gid)
{
	int	 fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    USERS_MODE);
	if (fd == -1) {
		if (errno == EEXIST)
			fprintf(stderr, "ferry-control: passwd: %s exists: "
			    "another passwd is running, or one was "
			    "interrupted (then remove it)\n", tmp);
		else
			fprintf(stderr, "ferry-control: passwd: cannot create "
			    "%s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, USERS_MODE) == -1 ||
	    (gid != (gid_t)-1 && fchown(fd, 0, gid) == -1)) {
		fprintf(stderr, "ferry-control: passwd: cannot set the mode "
		    "or owner of %s: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

/* Is line (read as smtpd reads it, users_line_parse) user's entry? */
static int
users_line_is(const char *line, const char *user)
{
	char		*copy, *name, *hash;
	const char	*why;
	int		 is;

	copy = xstrdup(line);
	is = users_line_parse(copy, &name, &hash, &why) == 1 &&
	    strcasecmp(name, user) == 0;
	free(copy);
	return is;
}

/*
 * Copy in (NULL: no file yet) to out with user's line replaced by
 * "user:hash", or dropped when hash is NULL.  A repeated line for user is
 * dropped too, so the result has at most one.  *found says whether there
 * was one.  Every other line, a bad one too, is copied as it is.
 */
static void
users_copy(FILE *in, FILE *out, const char *user, const char *hash,
    int *found)
{
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 n;
	int	 newline = 1;

	*found = 0;
	while (in != NULL && (n = getline(&line, &size, in)) != -1) {
		if (users_line_is(line, user)) {
			if (hash != NULL && !*found)
				fprintf(out, "%s:%s\n", user, hash);
			*found = 1;
			continue;
		}
		fwrite(line, 1, n, out);
		newline = line[n - 1] == '\n';
	}
	free(line);
	if (!newline)
		putc('\n', out);
	if (hash != NULL && !*found)
		fprintf(out, "%s:%s\n", user, hash);
}

/* Make the written tmp file the users file: fsync, close, rename. */
static int
users_install(FILE *out, const char *tmp, const char *file)
{
	int	 r;

	r = fflush(out) == EOF || ferror(out) || fsync(fileno(out)) == -1;
	if (fclose(out) == EOF || r) {
		fprintf(stderr, "ferry-control: passwd: cannot write %s: %s\n",
		    tmp, strerror(errno));
		return -1;
	}
	if (rename(tmp, file) == -1) {
		fprintf(stderr, "ferry-control: passwd: cannot rename %s to "
		    "%s: %s\n", tmp, file, strerror(errno));
		return -1;
	}
	return 0;
}

/* Rewrite file with user set to hash, or deleted when hash is NULL. */
static int
users_update(const char *file, const char *user, const char *hash,
    gid_t gid, int *found)
{
	char	 tmp[PATH_MAX];
	FILE	*in, *out = NULL;
	int	 fd, status = EX_IOERR;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp)) {
		fprintf(stderr, "ferry-control: passwd: %s: name too long\n",
		    file);
		return EX_IOERR;
	}
	if ((in = fopen(file, "re")) == NULL && errno != ENOENT) {
		fprintf(stderr, "ferry-control: passwd: cannot read %s: %s\n",
		    file, strerror(errno));
		return EX_IOERR;
	}
	if ((fd = users_tmp_create(tmp, gid)) == -1)
		goto done;
	if ((out = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "ferry-control: passwd: %s\n", strerror(errno));
		close(fd);
		goto fail;
	}
	users_copy(in, out, user, hash, found);
	if (in != NULL && ferror(in)) {
		fprintf(stderr, "ferry-control: passwd: cannot read %s\n",
		    file);
		goto fail;
	}
	if (!*found && hash == NULL) {
		fprintf(stderr, "ferry-control: passwd: no user %s in %s\n",
		    user, file);
		status = EX_NOUSER;
		goto fail;
	}
	/* users_install() closes out, whatever happens. */
	if (users_install(out, tmp, file) == -1) {
		out = NULL;
		goto fail;
	}
	if (fsync_parent(file) == -1)
		fprintf(stderr, "ferry-control: passwd: cannot sync the "
		    "directory of %s: %s\n", file, strerror(errno));
	else
		status = EX_OK;
	goto done;
fail:
	if (out != NULL)
		fclose(out);
	unlink(tmp);
done:
	if (in != NULL)
		fclose(in);
	return status;
}

/* The group the users file gets when run as root; -1 otherwise. */
static int
users_group(const struct config *conf, gid_t *gid)
{
	struct passwd	*pw;

	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(conf->smtpd_user)) == NULL) {
		fprintf(stderr, "ferry-control: passwd: no user %s "
		    "(smtpd_user); etc/install-deps users creates it\n",
		    conf->smtpd_user);
		return -1;
	}
	*gid = pw->pw_gid;
	return 0;
}

/* passwd [-d] USER (argv[0] is "passwd"). */
static int
passwd_command(const struct config *conf, const char *path, int argc,
    char **argv)
{
	char		 hash[PASSWORD_HASH_MAX], user[USER_NAME_MAX + 1];
	gid_t		 gid;
	int		 ch, delete = 0, found, status;

	optind = 0;	/* glibc: start over on the subcommand's arguments */
	while ((ch = getopt(argc, argv, "+d")) != -1) {
		if (ch != 'd')
			usage();
		delete = 1;
	}
	if (argc - optind != 1)
		usage();
	if (strlcpy(user, argv[optind], sizeof(user)) >= sizeof(user) ||
	    !users_name_valid(user)) {
		fprintf(stderr, "ferry-control: passwd: bad user name: 1 to "
		    "%d bytes, no ':', blank or control character, no '#' "
		    "first\n", USER_NAME_MAX);
		return EX_USAGE;
	}
	users_name_fold(user);	/* names are one user in any case */
	if (conf->smtpd_users_file[0] == '\0') {
		fprintf(stderr, "ferry-control: smtpd_users_file is not set "
		    "in %s\n", path);
		return EX_CONFIG;
	}
	if (users_group(conf, &gid) == -1)
		return EX_CONFIG;
	if (!delete && (status = read_new_hash(hash, sizeof(hash))) != EX_OK)
		return status;
	status = users_update(conf->smtpd_users_file, user,
	    delete ? NULL : hash, gid, &found);
	if (status == EX_OK)
		printf("ferry-control: passwd: %s %s\n", user,
		    delete ? "deleted" : found ? "changed" : "added");
	return status;
}

int
main(int argc, char **argv)
{
	struct config	 conf;
	const char	*path = FERRY_CONF_DEFAULT, *verb;
	int		 ch, status;

	/* "+": options after the verb are the subcommand's (passwd -d). */
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			usage();
		path = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	verb = argv[0];
	if (strcmp(verb, "defaults") == 0 && argc == 1) {
		config_print_defaults(stdout);
		return EX_OK;
	}
	if (strcmp(verb, "manpage") == 0 && argc == 1) {
		config_print_manpage(stdout);
		return EX_OK;
	}
	if (config_load(&conf, path) == -1)
		return EX_CONFIG;
	if (strcmp(verb, "check") == 0 && argc == 1) {
		printf("%s: ok\n", path);
		status = EX_OK;
	} else if (strcmp(verb, "get") == 0 && argc == 2)
		status = get_value(&conf, argv[1]);
	else if (strcmp(verb, "ping") == 0 && argc == 2)
		status = ping(&conf, argv[1]);
	else if (strcmp(verb, "flush") == 0 && argc == 1)
		status = queue_request(&conf, IPC_FLUSH, NULL);
	else if (strcmp(verb, "delete") == 0 && argc == 2)
		status = queue_request(&conf, IPC_DELETE, argv[1]);
	else if (strcmp(verb, "passwd") == 0)
		status = passwd_command(&conf, path, argc, argv);
	else if (strcmp(verb, "delegate") == 0)
		status = delegate_command(&conf, argc, argv);
	else if (strcmp(verb, "license") == 0 && argc == 1)
		status = license_command(&conf);
	else if (strcmp(verb, "oauth") == 0 &&
	    (status = oauth_command(&conf, argc, argv)) != -1)
		;
	else
		usage();
	config_free(&conf);
	return status;
}
