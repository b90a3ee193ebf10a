/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license.c: ferry-control license, licensed's answer for people.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ipc.h"
#include "license_state.h"

#define LICENSE_TIMEOUT	10

/* Exit 0 if the licence is valid, 1 if not, 75 if licensed is down. */
int
license_command(const struct config *conf)
{
	static struct ipc_frame	 req, rep;
	static struct license_state_msg m;
	int			 s;

	if ((s = connect_daemon(conf, "licensed", LICENSE_TIMEOUT)) == -1) {
		fprintf(stderr, "ferry-control: licensed not reachable: %s\n",
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	ipc_frame_init(&req, IPC_LICENSE_QUERY, 1);
	if (ipc_call(s, &req, -1, &rep) == -1 ||
	    rep.type != IPC_LICENSE_STATE ||
	    license_state_get(&rep, &m) == -1) {
		fprintf(stderr, "ferry-control: bad reply from licensed\n");
		close(s);
		return EX_PROTOCOL;
	}
	close(s);
	if (m.state == LICENSE_VALID)
		printf("licence: valid, %llu days left\n",
		    (unsigned long long)m.days_left);
	else
		printf("licence: %s: %s\n", license_state_name(m.state),
		    m.reason);
	if (m.id[0] != '\0')
		printf("  id: %s\n  customer: %s\n  support-until: %s\n"
		    "  features: %s\n", m.id, m.customer, m.support_until,
		    m.features);
	return m.state == LICENSE_VALID ? EX_OK : 1;
}
