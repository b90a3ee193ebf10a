/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * sendmail, mailq: the local submission program.
 *
 * SUMMARY
 *	sendmail [-C file] [-t] [-i] [-f sender] [-F name] [-v] [--] rcpt...
 *	sendmail -bp | mailq [-C file]		list the queue
 *	sendmail -q				retry deferred mail now
 *	sendmail -bi | -I | newaliases [-C file]	check alias_file
 *
 * DESCRIPTION
 *	Runs as the invoking user, with no privileges.  Asks queued (on
 *	run_directory/submit.sock) for a new message, sends it standard input
 *	over that socket as it comes (a line "." alone ends it, unless -i or
 *	-oi), and asks queued to commit it.  queued adds the headers a local message
 *	lacks and records the caller's uid.  Flags other programs pass to
 *	sendmail that mean nothing here are accepted and ignored.
 *
 * EXIT STATUS
 *	sysexits(3): 0 queued, 64 usage, 65 bad address or message,
 *	75 queue not running or temporary failure, 78 configuration error.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#define LIBBSD_OPENBSD_VIS	/* silence libbsd: we use only strvis() */
#include <vis.h>

#include "addr.h"
#include "config.h"
#include "ipc.h"
#include "newaliases.h"
#include "result.h"
#include "util.h"

#define IPC_TIMEOUT	300	/* seconds; a commit of a large message syncs */

enum mode {
	MODE_DELIVER,
	MODE_LIST,
	MODE_FLUSH,
	MODE_ALIASES
};

struct options {
	enum mode	 mode;
	const char	*conf_path;
	const char	*sender;	/* -f, or NULL */
	const char	*fullname;	/* -F, or NULL */
	int		 header_rcpts;	/* -t */
	int		 ignore_dots;	/* -i, -oi */
	int		 verbose;	/* -v */
	char		**rcpts;
	int		 nrcpts;
};

static struct ipc_frame	 req, rep;
static uint32_t		 next_reqid = 1;

static void __attribute__((__noreturn__))
die(int status, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: sendmail [-C file] [-t] [-i] [-f sender] "
	    "[-F name] [-v] [--] recipient ...\n"
	    "       sendmail [-C file] -bp | -q | -bi\n"
	    "       mailq [-C file]\n"
	    "       newaliases [-C file]\n");
	exit(EX_USAGE);
}

/*
 * -bm (deliver), -bp (list), -bi (newaliases); -bs and the other modes do
 * not exist.
 */
static void
set_b_mode(struct options *o, const char *arg)
{
	if (strcmp(arg, "m") == 0)
		o->mode = MODE_DELIVER;
	else if (strcmp(arg, "p") == 0)
		o->mode = MODE_LIST;
	else if (strcmp(arg, "i") == 0)
		o->mode = MODE_ALIASES;
	else
		die(EX_USAGE, "-b%s is not supported", arg);
}

/*
 * The flags of sendmail(8) that applications pass.  Options taking an
 * argument that Ferry ignores (-B -N -O -R -V -X -L -h -p -A and most -o)
 * are consumed so that their argument is not taken for a recipient.
 */
static void
parse_options(int argc, char **argv, struct options *o)
{
	const char	*prog = strrchr(argv[0], '/');
	int		 ch;

	prog = prog != NULL ? prog + 1 : argv[0];
	memset(o, 0, sizeof(*o));
	o->conf_path = FERRY_CONF_DEFAULT;
	if (strcmp(prog, "mailq") == 0)
		o->mode = MODE_LIST;
	else if (strcmp(prog, "newaliases") == 0)
		o->mode = MODE_ALIASES;
	while ((ch = getopt(argc, argv,
	    "+A:B:b:C:cF:f:GhIiL:mN:nO:o:p:q::R:r:tUV:vX:")) != -1) {
		switch (ch) {
		case 'b':
			set_b_mode(o, optarg);
			break;
		case 'C':
			o->conf_path = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 'I':
			o->mode = MODE_ALIASES;
			break;
		case 'i':
			o->ignore_dots = 1;
			break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				o->ignore_dots = 1;
			break;
		case 'q':
			o->mode = MODE_FLUSH;
			break;
		case 't':
			o->header_rcpts = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case '?':
			usage();
		default:
			break;	/* accepted and ignored, as other MTAs do */
		}
	}
	o->rcpts = argv + optind;
	o->nrcpts = argc - optind;
}

static int
connect_queue(const struct config *conf)
{
	char	 path[PATH_MAX];
	int	 s;

	if (path_join(path, sizeof(path), conf->run_directory,
	    "submit.sock") == -1)
		die(EX_CONFIG, "run_directory too long");
	if ((s = ipc_connect(path, IPC_TIMEOUT)) == -1)
		die(EX_TEMPFAIL, "queue is not running: %s: %s", path,
		    strerror(errno));
	if (ipc_hello(s, "sendmail") == -1)
		die(EX_TEMPFAIL, "queue does not answer: %s", strerror(errno));
	return s;
}

static void
request(uint32_t type)
{
	ipc_frame_init(&req, type, next_reqid++);
}

static void
call(int s)
{
	if (ipc_call(s, &req, -1, &rep) == -1)
		die(EX_TEMPFAIL, "lost the queue: %s", strerror(errno));
	if (rep.type == IPC_ERROR) {
		uint32_t	 class;
		char		 text[IPC_STR_MAX + 1];

		if (ipc_get_u32(&rep, &class) == -1 ||
		    ipc_get_str(&rep, text, sizeof(text)) == -1)
			die(EX_PROTOCOL, "bad reply from the queue");
		die(class == IPC_ERR_PERM ? EX_DATAERR : EX_TEMPFAIL, "%s",
		    text);
	}
}

/* Check addresses before reading a message that would then be refused. */
static void
check_addresses(const struct options *o)
{
	struct mailaddr	 a;
	const char	*why;
	int		 i;

	if (o->sender != NULL && addr_parse(o->sender,
	    ADDR_ALLOW_NULL | ADDR_ALLOW_NODOMAIN, &a, &why) == -1)
		die(EX_DATAERR, "bad sender address %s: %s", o->sender, why);
	for (i = 0; i < o->nrcpts; i++)
		if (addr_parse(o->rcpts[i], ADDR_ALLOW_NODOMAIN, &a, &why) == -1)
			die(EX_DATAERR, "bad recipient address %s: %s",
			    o->rcpts[i], why);
	if (o->nrcpts == 0 && !o->header_rcpts)
		die(EX_USAGE, "no recipients given (and no -t)");
}

/* The input on its way to queued, in SUBMIT_DATA frames. */
struct copier {
	int		 sock;
	unsigned long long written, max;
	unsigned char	 buf[IPC_DATA_MAX];
	size_t		 used;
};

static void
copier_flush(struct copier *cp)
{
	if (cp->used == 0)
		return;
	request(IPC_SUBMIT_DATA);
	ipc_put_bytes(&req, cp->buf, cp->used);
	if (ipc_send(cp->sock, &req, -1) == -1)
		die(EX_TEMPFAIL, "lost the queue: %s", strerror(errno));
	cp->used = 0;
}

static void
copier_put(struct copier *cp, const char *s, size_t n)
{
	if (cp->written + n > cp->max)
		die(EX_DATAERR, "message exceeds the maximum size (%llu bytes)",
		    cp->max);
	cp->written += n;
	while (n > 0) {
		size_t	 room = sizeof(cp->buf) - cp->used;
		size_t	 k = n < room ? n : room;

		memcpy(cp->buf + cp->used, s, k);
		cp->used += k;
		s += k;
		n -= k;
		if (cp->used == sizeof(cp->buf))
			copier_flush(cp);
	}
}

/*
 * Copy standard input to the message file.  Unless ignore_dots, a line
 * holding only "." ends the message; a held "." (or ".\r") is written
 * when the next byte shows it was not that line.
 */
static void
copy_input(struct copier *cp, int ignore_dots)
{
	enum { BOL, MID, DOT, DOTCR } st = BOL;
	char	 in[65536];
	size_t	 n, i;

	while ((n = fread(in, 1, sizeof(in), stdin)) > 0) {
		for (i = 0; i < n; i++) {
			char	 c = in[i];

			if (st == DOT && c == '\r') {
				st = DOTCR;
				continue;
			}
			if ((st == DOT || st == DOTCR) && c == '\n')
				return;
			if (st == DOT || st == DOTCR)
				copier_put(cp, ".\r", st == DOT ? 1 : 2);
			if (st == BOL && c == '.' && !ignore_dots) {
				st = DOT;
				continue;
			}
			copier_put(cp, &c, 1);
			st = c == '\n' ? BOL : MID;
		}
	}
	if (ferror(stdin))
		die(EX_IOERR, "cannot read standard input: %s", strerror(errno));
	if (st == DOT || st == DOTCR)
		copier_put(cp, ".\r", st == DOT ? 1 : 2);
}

/* The full name part of a GECOS field: up to the first comma, bounded. */
static const char *
gecos_name(const char *gecos)
{
	static char	 name[200];

	if (gecos == NULL)
		return "";
	strlcpy(name, gecos, sizeof(name));
	name[strcspn(name, ",")] = '\0';
	return name;
}

static void
submit(const struct config *conf, const struct options *o)
{
	struct copier	*cp;
	struct passwd	*pw;
	char		 id[QUEUE_ID_LEN + 1], login[64], uidname[32];
	const char	*fullname = o->fullname;
	uint64_t	 max;
	int		 s, i;

	check_addresses(o);
	if ((pw = getpwuid(getuid())) == NULL) {
		snprintf(uidname, sizeof(uidname), "uid%lu",
		    (unsigned long)getuid());
		strlcpy(login, uidname, sizeof(login));
	} else
		strlcpy(login, pw->pw_name, sizeof(login));
	if (fullname == NULL && pw != NULL && pw->pw_gecos != NULL)
		fullname = pw->pw_gecos;
	s = connect_queue(conf);
	request(IPC_SUBMIT);
	call(s);
	if (rep.type != IPC_CREATED || rep.fd != -1 ||
	    ipc_get_str(&rep, id, sizeof(id)) == -1 ||
	    ipc_get_u64(&rep, &max) == -1 || ipc_get_end(&rep) == -1)
		die(EX_PROTOCOL, "bad reply from the queue");
	cp = xcalloc(1, sizeof(*cp));
	cp->sock = s;
	cp->max = max;
	copy_input(cp, o->ignore_dots);
	copier_flush(cp);
	free(cp);
	for (i = 0; i < o->nrcpts; i++) {
		request(IPC_RCPT);
		ipc_put_str(&req, o->rcpts[i]);
		if (ipc_send(s, &req, -1) == -1)
			die(EX_TEMPFAIL, "lost the queue: %s", strerror(errno));
	}
	request(IPC_SUBMIT_COMMIT);
	ipc_put_str(&req, id);
	ipc_put_str(&req, o->sender != NULL ? o->sender : login);
	ipc_put_str(&req, login);
	ipc_put_str(&req, gecos_name(fullname));
	ipc_put_u32(&req, o->header_rcpts ? SUBMIT_HEADER_RCPTS : 0);
	call(s);
	if (rep.type != IPC_COMMITTED)
		die(EX_PROTOCOL, "bad reply from the queue");
	if (o->verbose)
		fprintf(stderr, "sendmail: queued as %s\n", id);
	close(s);
}

/*
 * Make queue text safe for a terminal: remote replies and addresses are
 * hostile input, and a CR, LF or escape sequence in them must not forge
 * lines of the listing.  Returns one of two static buffers.
 */
static const char *
safe(const char *s)
{
	static char	 bufs[2][IPC_STR_MAX * 4 + 1];
	static int	 next;
	char		*b = bufs[next];

	next = !next;
	strvis(b, s, VIS_CSTYLE | VIS_TAB | VIS_NL);	/* fits: s <= IPC_STR_MAX */
	return b;
}

static const char *
state_note(uint32_t state)
{
	switch (state) {
	case 1:
		return "deferred";
	case 3:
		return "failed";
	default:
		return NULL;
	}
}

static void
print_recipient(void)
{
	char		 addr[IPC_STR_MAX + 1], error[IPC_STR_MAX + 1];
	uint32_t	 state, via;
	uint64_t	 next;
	const char	*note;

	if (rep.type != IPC_LIST_RCPT ||
	    ipc_get_str(&rep, addr, sizeof(addr)) == -1 ||
	    ipc_get_u32(&rep, &state) == -1 || ipc_get_u64(&rep, &next) == -1 ||
	    ipc_get_str(&rep, error, sizeof(error)) == -1 ||
	    ipc_get_u32(&rep, &via) == -1 || ipc_get_end(&rep) == -1)
		die(EX_PROTOCOL, "bad reply from the queue");
	if ((note = state_note(state)) != NULL && error[0] != '\0')
		printf("%46s(%s%s: %s)\n", "", note,
		    via == CHANNEL_WEB ? " via WebSmtp" : "", safe(error));
	printf("%46s%s\n", "", safe(addr));
}

/* One LIST_MSG and its recipients, like Postfix's mailq. */
static uint64_t
print_message(int s)
{
	char		 id[QUEUE_ID_LEN + 1], sender[IPC_STR_MAX + 1];
	char		 when[32];
	uint64_t	 size, arrival;
	uint32_t	 n, i;
	time_t		 t;

	if (ipc_get_str(&rep, id, sizeof(id)) == -1 ||
	    ipc_get_u64(&rep, &size) == -1 ||
	    ipc_get_u64(&rep, &arrival) == -1 ||
	    ipc_get_str(&rep, sender, sizeof(sender)) == -1 ||
	    ipc_get_u32(&rep, &n) == -1 || ipc_get_end(&rep) == -1)
		die(EX_PROTOCOL, "bad reply from the queue");
	t = arrival;
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", localtime(&t));
	printf("%-16s %8llu %-19s %s\n", id, (unsigned long long)size, when,
	    sender[0] != '\0' ? safe(sender) : "MAILER-DAEMON");
	for (i = 0; i < n; i++) {
		if (ipc_recv(s, &rep) != 1)
			die(EX_TEMPFAIL, "lost the queue");
		print_recipient();
	}
	printf("\n");
	return size;
}

static void
list_queue(const struct config *conf)
{
	uint64_t	 bytes = 0;
	unsigned long	 count = 0;
	int		 s;

	s = connect_queue(conf);
	request(IPC_LIST);
	call(s);
	for (;;) {
		if (rep.type == IPC_LIST_END)
			break;
		if (rep.type != IPC_LIST_MSG)
			die(EX_PROTOCOL, "bad reply from the queue");
		if (count++ == 0)
			printf("%-16s %8s %-19s %s\n", "-Queue ID-", "--Size--",
			    "---Arrival Time----", "-Sender/Recipient-------");
		bytes += print_message(s);
		if (ipc_recv(s, &rep) != 1)
			die(EX_TEMPFAIL, "lost the queue");
	}
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %llu Kbytes in %lu Request%s.\n",
		    (unsigned long long)(bytes + 1023) / 1024, count,
		    count == 1 ? "" : "s");
	close(s);
}

static void
flush_queue(const struct config *conf)
{
	int	 s;

	s = connect_queue(conf);
	request(IPC_FLUSH);
	call(s);
	close(s);
}

int
main(int argc, char **argv)
{
	struct options	 o;
	struct config	 conf;

	parse_options(argc, argv, &o);
	if (config_load(&conf, o.conf_path) == -1)
		exit(EX_CONFIG);
	switch (o.mode) {
	case MODE_LIST:
		list_queue(&conf);
		break;
	case MODE_FLUSH:
		flush_queue(&conf);
		break;
	case MODE_DELIVER:
		submit(&conf, &o);
		break;
	case MODE_ALIASES:
		newaliases(&conf);
		break;
	}
	config_free(&conf);
	return EX_OK;
}
