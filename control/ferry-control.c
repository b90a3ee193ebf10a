/*
 * ferry-control: the IPC side of ferryctl.
 *
 * SUMMARY
 *	ferry-control [-c file] check | defaults | get KEY | ping DAEMON |
 *	    flush | delete ID
 *
 * DESCRIPTION
 *	check		validate the configuration ("file:line: problem")
 *	defaults	print the documented default configuration
 *	get KEY		print a configuration value
 *	ping DAEMON	exit 0 if DAEMON answers on run_directory/DAEMON.sock
 *	flush		make every deferred recipient due now
 *	delete ID	remove a message from the queue
 *	The queue requests use queued's private socket: root or queued's user.
 *
 * EXIT STATUS
 *	0 success, 1 no answer (ping), 64 usage, 65 no such message,
 *	75 queue not reachable, 78 configuration error.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "util.h"

#define PING_TIMEOUT	5
#define QUEUE_TIMEOUT	60

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: ferry-control [-c file] check | defaults | "
	    "get key | ping daemon | flush | delete id\n");
	exit(EX_USAGE);
}

static int
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

int
main(int argc, char **argv)
{
	struct config	 conf;
	const char	*path = FERRY_CONF_DEFAULT, *verb;
	int		 ch, status;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
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
	else
		usage();
	config_free(&conf);
	return status;
}
