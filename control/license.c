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
#include "license.h"

#define LICENSE_TIMEOUT	10

/* Exit 0 if the licence is valid, 1 if not, 75 if licensed is down. */
int
license_command(const struct config *conf)
{
	static struct ipc_frame	 req, rep;
	char			 id[IPC_STR_MAX + 1], customer[IPC_STR_MAX + 1];
	char			 until[64], features[IPC_STR_MAX + 1];
	char			 reason[IPC_STR_MAX + 1];
	uint32_t		 state;
	uint64_t		 days;
	int			 s;

	if ((s = connect_daemon(conf, "licensed", LICENSE_TIMEOUT)) == -1) {
		fprintf(stderr, "ferry-control: licensed not reachable: %s\n",
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	ipc_frame_init(&req, IPC_LICENSE_QUERY, 1);
	if (ipc_call(s, &req, -1, &rep) == -1 ||
	    rep.type != IPC_LICENSE_STATE || ipc_get_u32(&rep, &state) == -1 ||
	    ipc_get_u64(&rep, &days) == -1 ||
	    ipc_get_str(&rep, id, sizeof(id)) == -1 ||
	    ipc_get_str(&rep, customer, sizeof(customer)) == -1 ||
	    ipc_get_str(&rep, until, sizeof(until)) == -1 ||
	    ipc_get_str(&rep, features, sizeof(features)) == -1 ||
	    ipc_get_str(&rep, reason, sizeof(reason)) == -1 ||
	    ipc_get_end(&rep) == -1 || state > LICENSE_MISSING) {
		fprintf(stderr, "ferry-control: bad reply from licensed\n");
		close(s);
		return EX_PROTOCOL;
	}
	close(s);
	if (state == LICENSE_VALID)
		printf("licence: valid, %llu days left\n",
		    (unsigned long long)days);
	else
		printf("licence: %s: %s\n", license_state_name(state), reason);
	if (*id != '\0')
		printf("  id: %s\n  customer: %s\n  support-until: %s\n"
		    "  features: %s\n", id, customer, until, features);
	return state == LICENSE_VALID ? EX_OK : 1;
}
