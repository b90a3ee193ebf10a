/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * job.c: a relay_job as IPC frames, master to delivery process:
 * JOB {id, route, domain, sender, size, n} with the message fd, then n
 * JOB_RCPT {index, addr}.  Both ends are relayd, but a delivery process
 * still parses with the bounds-checked readers.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "relayd.h"
#include "util.h"

int
job_send(int sock, const struct relay_job *job)
{
	struct ipc_frame	*f;
	size_t			 i;
	int			 ret = -1;

	f = xmalloc(sizeof(*f));
	ipc_frame_init(f, IPC_JOB, 0);
	ipc_put_str(f, job->id);
	ipc_put_str(f, job->route);
	ipc_put_str(f, job->domain);
	ipc_put_str(f, job->sender);
	ipc_put_u64(f, job->size);
	ipc_put_u32(f, job->nrcpt);
	if (ipc_send(sock, f, job->fd) == -1)
		goto done;
	for (i = 0; i < job->nrcpt; i++) {
		ipc_frame_init(f, IPC_JOB_RCPT, 0);
		ipc_put_u32(f, job->rcpt[i].index);
		ipc_put_str(f, job->rcpt[i].addr);
		if (ipc_send(sock, f, -1) == -1)
			goto done;
	}
	ret = 0;
done:
	free(f);
	return ret;
}

/* Returns 1 with a job, 0 at end of file, -1 on a bad frame. */
int
job_recv(int sock, struct relay_job *job)
{
	struct ipc_frame	*f;
	char			 sender[IPC_STR_MAX + 1], addr[IPC_STR_MAX + 1];
	uint64_t		 size;
	uint32_t		 n, i;
	int			 r;

	memset(job, 0, sizeof(*job));
	job->fd = -1;
	f = xmalloc(sizeof(*f));
	if ((r = ipc_recv(sock, f)) <= 0)
		goto done;
	r = -1;
	job->fd = f->fd;
	if (f->type != IPC_JOB || f->fd == -1 ||
	    ipc_get_str(f, job->id, sizeof(job->id)) == -1 ||
	    ipc_get_str(f, job->route, sizeof(job->route)) == -1 ||
	    ipc_get_str(f, job->domain, sizeof(job->domain)) == -1 ||
	    ipc_get_str(f, sender, sizeof(sender)) == -1 ||
	    ipc_get_u64(f, &size) == -1 || ipc_get_u32(f, &n) == -1 ||
	    ipc_get_end(f) == -1 || n == 0 || n > 100000)
		goto done;
	job->sender = xstrdup(sender);
	job->size = size;
	job->rcpt = xcalloc(n, sizeof(*job->rcpt));
	for (i = 0; i < n; i++) {
		if (ipc_recv(sock, f) != 1 || f->type != IPC_JOB_RCPT ||
		    ipc_get_u32(f, &job->rcpt[i].index) == -1 ||
		    ipc_get_str(f, addr, sizeof(addr)) == -1 ||
		    ipc_get_end(f) == -1)
			goto done;
		job->rcpt[i].addr = xstrdup(addr);
		job->rcpt[i].result = -1;
		job->nrcpt++;
	}
	r = 1;
done:
	free(f);
	if (r != 1)
		job_free(job);
	return r;
}

void
job_free(struct relay_job *job)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		free(job->rcpt[i].addr);
	free(job->rcpt);
	free(job->sender);
	if (job->fd != -1)
		close(job->fd);
	memset(job, 0, sizeof(*job));
	job->fd = -1;
}
