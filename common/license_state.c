/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license_state.c: the fields of LICENSE_STATE (doc/ipc.md), in order:
 * u32 state, u64 days left, str id, str customer, str support-until,
 * str features, str reason, str text.
 */
#include <sys/types.h>

#include <string.h>

#include "license_state.h"

void
license_state_put(struct ipc_frame *f, const struct license_state_msg *m)
{
	ipc_put_u32(f, m->state);
	ipc_put_u64(f, m->days_left);
	ipc_put_str(f, m->id);
	ipc_put_str(f, m->customer);
	ipc_put_str(f, m->support_until);
	ipc_put_str(f, m->features);
	ipc_put_str(f, m->reason);
	ipc_put_str(f, m->text);
}

/* -1 if the frame is malformed or the state unknown. */
int
license_state_get(struct ipc_frame *f, struct license_state_msg *m)
{
	if (ipc_get_u32(f, &m->state) == -1 ||
	    ipc_get_u64(f, &m->days_left) == -1 ||
	    ipc_get_str(f, m->id, sizeof(m->id)) == -1 ||
	    ipc_get_str(f, m->customer, sizeof(m->customer)) == -1 ||
	    ipc_get_str(f, m->support_until, sizeof(m->support_until)) == -1 ||
	    ipc_get_str(f, m->features, sizeof(m->features)) == -1 ||
	    ipc_get_str(f, m->reason, sizeof(m->reason)) == -1 ||
	    ipc_get_str(f, m->text, sizeof(m->text)) == -1 ||
	    ipc_get_end(f) == -1 || m->state > LICENSE_MISSING)
		return -1;
	return 0;
}

const char *
license_state_name(uint32_t state)
{
	static const char	*names[] = { "valid", "expired",
	    "not-yet-valid", "invalid", "missing" };

	return state <= LICENSE_MISSING ? names[state] : "unknown";
}

/* Is name one of the blank- or comma-separated features? */
int
license_feature(const char *features, const char *name)
{
	const char	*p = features;
	size_t		 n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == features || strchr(" ,", p[-1]) != NULL) &&
		    (p[n] == '\0' || strchr(" ,", p[n]) != NULL))
			return 1;
		p += n;
	}
	return 0;
}
