/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * delegate.c: ferry-control delegate test ADDRESS | list | status |
 * forget ADDRESS|all, through delegated's control socket.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ipc.h"

#define DELEGATE_TIMEOUT	60	/* a probe may take a while */

static const char *
result_name(uint32_t result)
{
	return result == DELEG_YES ? "accepted" : result == DELEG_NO ?
	    "refused" : "temporary failure";
}

/* DELEG_ANSWER {result, text}; -1 (said) if rep is not one. */
static int
get_answer(struct ipc_frame *rep, uint32_t *result, char *text, size_t size)
{
	if (rep->type != IPC_DELEG_ANSWER || ipc_get_u32(rep, result) == -1 ||
	    ipc_get_str(rep, text, size) == -1 || ipc_get_end(rep) == -1) {
		fprintf(stderr, "ferry-control: bad reply from delegated\n");
		return -1;
	}
	return 0;
}

static int
print_answer(struct ipc_frame *rep, const char *address)
{
	char		 text[IPC_STR_MAX + 1];
	uint32_t	 result;

	if (get_answer(rep, &result, text, sizeof(text)) == -1)
		return EX_PROTOCOL;
	printf("%s: %s%s%s\n", address, result_name(result),
	    *text != '\0' ? ": " : "", text);
	return result == DELEG_TEMP ? EX_TEMPFAIL : EX_OK;
}

/* The self-check: exit 0 if recipient checks work, 1 if not. */
static int
print_status(struct ipc_frame *rep)
{
	char		 text[IPC_STR_MAX + 1];
	uint32_t	 result;

	if (get_answer(rep, &result, text, sizeof(text)) == -1)
		return EX_PROTOCOL;
	printf("delegate: %s%s\n", result == DELEG_YES ? "" : "WARNING: ",
	    text);
	return result == DELEG_YES ? EX_OK : 1;
}

static int
list_entries(int s, struct ipc_frame *rep)
{
	char		 key[IPC_STR_MAX + 1], text[IPC_STR_MAX + 1], when[32];
	uint32_t	 result;
	uint64_t	 expires;
	time_t		 t;

	for (;;) {
		if (rep->type == IPC_LIST_END)
			return EX_OK;
		if (rep->type != IPC_DELEG_ENTRY ||
		    ipc_get_str(rep, key, sizeof(key)) == -1 ||
		    ipc_get_u32(rep, &result) == -1 ||
		    ipc_get_u64(rep, &expires) == -1 ||
		    ipc_get_str(rep, text, sizeof(text)) == -1 ||
		    ipc_get_end(rep) == -1) {
			fprintf(stderr, "ferry-control: bad reply from "
			    "delegated\n");
			return EX_PROTOCOL;
		}
		t = expires;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
		    localtime(&t));
		printf("%-40s %-4s until %s%s%s\n", key,
		    result == DELEG_YES ? "yes" : "no", when,
		    *text != '\0' ? "  " : "", text);
		if (ipc_recv(s, rep) != 1) {
			fprintf(stderr, "ferry-control: delegated closed the "
			    "connection\n");
			return EX_TEMPFAIL;
		}
	}
}

int
delegate_command(const struct config *conf, int argc, char **argv)
{
	static struct ipc_frame	 req, rep;
	int			 s, status;

	if (argc == 3 && strcmp(argv[1], "test") == 0) {
		ipc_frame_init(&req, IPC_DELEG_TEST, 1);
		ipc_put_str(&req, argv[2]);
	} else if (argc == 2 && strcmp(argv[1], "list") == 0)
		ipc_frame_init(&req, IPC_DELEG_LIST, 1);
	else if (argc == 2 && strcmp(argv[1], "status") == 0)
		ipc_frame_init(&req, IPC_DELEG_STATUS, 1);
	else if (argc == 3 && strcmp(argv[1], "forget") == 0) {
		ipc_frame_init(&req, IPC_DELEG_FORGET, 1);
		ipc_put_str(&req, argv[2]);
	} else {
		fprintf(stderr, "usage: ferry-control delegate test address | "
		    "list | status | forget address|all\n");
		return EX_USAGE;
	}
	if ((s = connect_daemon(conf, "delegated", DELEGATE_TIMEOUT)) == -1) {
		fprintf(stderr, "ferry-control: delegated not reachable: %s\n",
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	if (ipc_call(s, &req, -1, &rep) == -1) {
		fprintf(stderr, "ferry-control: %s\n", strerror(errno));
		close(s);
		return EX_TEMPFAIL;
	}
	if (req.type == IPC_DELEG_TEST)
		status = print_answer(&rep, argv[2]);
	else if (req.type == IPC_DELEG_STATUS)
		status = print_status(&rep);
	else if (req.type == IPC_DELEG_LIST)
		status = list_entries(s, &rep);
	else
		status = rep.type == IPC_OK ? EX_OK : EX_PROTOCOL;
	close(s);
	return status;
}
