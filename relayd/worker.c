/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * worker.c: a delivery process.  relayd forks one per destination
 * (an MX domain, a smarthost, a Maildir route); it takes one job after
 * another from the master, keeps its SMTP connection open between them,
 * and answers each recipient with a RESULT, then JOB_DONE.  It blocks,
 * which keeps the SMTP dialogue plain to read; concurrency comes from
 * running several.  When the master closes the socket it says QUIT and
 * exits; when the master dies, the kernel kills it (PR_SET_PDEATHSIG).
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "relayd.h"
#include "util.h"

static int
send_results(int sock, const struct relay_job *job)
{
	struct ipc_frame	*f;
	size_t			 i;
	int			 ret = 0;

	f = xmalloc(sizeof(*f));
	for (i = 0; i < job->nrcpt && ret == 0; i++) {
		ipc_frame_init(f, IPC_RESULT, 0);
		ipc_put_u32(f, job->rcpt[i].index);
		ipc_put_u32(f, job->rcpt[i].result);
		ipc_put_str(f, job->rcpt[i].reply);
		ret = ipc_send(sock, f, -1);
	}
	if (ret == 0) {
		ipc_frame_init(f, IPC_JOB_DONE, 0);
		ret = ipc_send(sock, f, -1);
	}
	free(f);
	return ret;
}

static void
fail_all(struct relay_job *job, int result, const char *why)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++) {
		job->rcpt[i].result = result;
		strlcpy(job->rcpt[i].reply, why, sizeof(job->rcpt[i].reply));
	}
}

/* Deliver job on *sess, opening a session first if there is none. */
static void
deliver_smtp(const struct config *conf, const struct credential *cred,
    const struct route *route, struct relay_job *job,
    struct smtp_session **sess)
{
	char	 why[512];
	int	 klass;

	if (*sess != NULL && !smtp_usable(*sess)) {
		smtp_close(*sess);
		*sess = NULL;
	}
	if (*sess == NULL)
		*sess = smtp_open(conf, cred, route, job->domain, why,
		    sizeof(why), &klass);
	if (*sess == NULL) {
		fail_all(job, klass, why);
		return;
	}
	smtp_deliver(*sess, job);
}

/* One log line per recipient; the event says what queued will make of it. */
static void
log_results(const struct relay_job *job, const char *relay)
{
	const struct relay_rcpt	*r;
	const char		*event;
	size_t			 i;

	for (i = 0; i < job->nrcpt; i++) {
		r = &job->rcpt[i];
		if (r->result == RESULT_DELIVERED)
			event = "delivered";
		else if (r->result == RESULT_TEMP ||
		    r->result == RESULT_UNREACHABLE)
			event = "deferred";
		else
			event = "failed";
		log_event("event=%s id=%s to=%s relay=%s class=%s reply=%s",
		    event, job->id, log_q(r->addr), log_q(relay),
		    relay_result_name(r->result), log_q(r->reply));
	}
}

void
worker_main(int sock, const struct config *conf,
    const struct credentials *creds)
{
	struct smtp_session	*sess = NULL;
	struct relay_job	 job;
	struct route		 route;
	const char		*why;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	while (job_recv(sock, &job) == 1) {
		if (route_parse(job.route, &route, &why) == -1)
			fail_all(&job, RESULT_TEMP, why);
		else if (route.kind == ROUTE_MAILDIR)
			maildir_deliver(&job, &route);
		else
			deliver_smtp(conf, credentials_find(creds, job.route),
			    &route, &job, &sess);
		log_results(&job, route.kind == ROUTE_MAILDIR || sess == NULL ?
		    job.route : smtp_peer(sess));
		if (send_results(sock, &job) == -1)
			break;
		job_free(&job);
	}
	if (sess != NULL)
		smtp_close(sess);
	_exit(0);
}
