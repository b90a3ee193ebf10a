/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * commit.c: group commit.
 *
 * A new message's file and envelope are synced by one of a few worker
 * threads (fdatasync ID.msg, write and fdatasync ID.tmp, rename it to
 * ID.env), so that several messages' syncs run at once and the file
 * system can fold them into one journal commit.  A recipient state
 * change is renamed into place at once by the event loop.  Either way
 * the reply waits until the spool directory has been fsynced.  That
 * fsync runs from an event activated by the first waiting reply; it is
 * processed after every other event of the same loop iteration, so all
 * the commits that are ready together share one directory fsync.
 *
 * The workers (common/workq.c) see only the commit they sync: its
 * descriptor and its envelope.  They do not log, schedule or reply; the
 * event loop does, once a sync is done.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queued.h"
#include "sched.h"
#include "store.h"
#include "util.h"
#include "workq.h"

#define SYNC_THREADS	4

struct commit {
	struct workq_item	 item;		/* first: the sync queue's link */
	TAILQ_ENTRY(commit)	 entry;		/* syncing or waiting */
	struct ipc_conn		*conn;		/* NULL once it went away */
	uint32_t		 reqid;
	int			 is_new;
	int			 msgfd;		/* a new message's, to sync */
	int			 drop_input;	/* ID.in goes once synced */
	int			 sync_failed;	/* the worker's answer */
	int			 sync_errno;	/* and, if it failed, why */
	const char		*sync_step;
	struct envelope		 env;		/* a new message's */
};

TAILQ_HEAD(commit_list, commit);

/* The event loop's: syncing (by a worker), waiting (for the dir fsync). */
static struct commit_list	 syncing = TAILQ_HEAD_INITIALIZER(syncing);
static struct commit_list	 waiting = TAILQ_HEAD_INITIALIZER(waiting);
static struct event		*sync_event;
static struct workq		*syncs;

static void
reply_committed(struct commit *cm, int synced)
{
	struct ipc_frame	 f;

	if (cm->conn == NULL)
		return;
	if (!synced) {
		ipc_conn_reply_error(cm->conn, cm->reqid, IPC_ERR_TEMP,
		    "cannot sync the queue directory");
		return;
	}
	if (!cm->is_new) {
		ipc_conn_reply_ok(cm->conn, cm->reqid);
		return;
	}
	ipc_frame_init(&f, IPC_COMMITTED, cm->reqid);
	ipc_put_str(&f, cm->env.id);
	ipc_conn_send(cm->conn, &f, -1);
}

static void
log_commit(const struct envelope *env)
{
	char	 uid[32] = "";

	if (env->uid != -1)
		snprintf(uid, sizeof(uid), " uid=%lld", env->uid);
	log_event("event=commit id=%s from=%s size=%lld nrcpt=%zu%s",
	    env->id, log_q(env->sender), env->size, env->nrcpt, uid);
}

/* A new message is durable: schedule it (env is taken over). */
void
queue_commit_schedule(struct envelope *env)
{
	log_commit(env);
	sched_add(env);
	queue_wake();
}

/* Sync the directory, then answer and schedule everything waiting. */
static void
sync_waiting(evutil_socket_t fd, short events, void *arg)
{
	struct commit	*cm;
	int		 synced;

	(void)fd;
	(void)events;
	(void)arg;
	synced = store_sync() == 0;
	if (!synced)
		log_warn("cannot commit: fsync of the queue directory");
	while ((cm = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, cm, entry);
		reply_committed(cm, synced);
		if (cm->is_new && synced)
			queue_commit_schedule(&cm->env);
		else if (cm->is_new) {
			/* Not acknowledged: better gone than duplicated. */
			store_remove(cm->env.id);
			envelope_free(&cm->env);
		}
		free(cm);
	}
}

static void
commit_wait(struct commit *cm)
{
	if (TAILQ_EMPTY(&waiting))
		event_active(sync_event, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&waiting, cm, entry);
}

/* In a sync thread: the message, then its envelope, renamed in place. */
static void
sync_new(struct workq_item *item)
{
	struct commit	*cm = (struct commit *)item;

	cm->sync_failed = store_write_envelope(&cm->env, cm->msgfd,
	    &cm->sync_step) == -1;
	cm->sync_errno = cm->sync_failed ? errno : 0;
}

/* Back in the event loop: on to the directory fsync, or refused. */
static void
new_synced(struct workq_item *item)
{
	struct commit	*cm = (struct commit *)item;

	TAILQ_REMOVE(&syncing, cm, entry);
	close(cm->msgfd);
	if (!cm->sync_failed) {
		if (cm->drop_input)
			store_remove_input(cm->env.id);
		commit_wait(cm);
		return;
	}
	log_warnx("id=%s cannot commit: %s: %s", cm->env.id, cm->sync_step,
	    strerror(cm->sync_errno));
	if (cm->conn != NULL)
		ipc_conn_reply_error(cm->conn, cm->reqid,
		    cm->sync_errno == ENOSPC ? IPC_ERR_NOSPACE : IPC_ERR_TEMP,
		    "cannot write the queue file");
	store_discard(cm->env.id);
	envelope_free(&cm->env);
	free(cm);
}

void
queue_commit_init(struct event_base *base)
{
	sync_event = event_new(base, -1, 0, sync_waiting, NULL);
	if (sync_event == NULL)
		fatalx("event_new");
	syncs = workq_new(base, SYNC_THREADS, sync_new, new_synced, NULL, 0);
}

/*
 * A new message: env (taken over) and msgfd (likewise) are synced and
 * the envelope renamed into place by a worker; COMMITTED once the
 * directory is synced too.  drop_input: remove ID.in after the rename.
 */
void
queue_commit_new(struct ipc_conn *conn, uint32_t reqid, struct envelope *env,
    int msgfd, int drop_input)
{
	struct commit	*cm;

	cm = xcalloc(1, sizeof(*cm));
	cm->conn = conn;
	cm->reqid = reqid;
	cm->is_new = 1;
	cm->msgfd = msgfd;
	cm->drop_input = drop_input;
	cm->env = *env;
	memset(env, 0, sizeof(*env));
	TAILQ_INSERT_TAIL(&syncing, cm, entry);
	workq_push(syncs, &cm->item);
}

/* A recipient state change is renamed into place; reply OK once synced. */
void
queue_commit_update(struct ipc_conn *conn, uint32_t reqid)
{
	struct commit	*cm;

	cm = xcalloc(1, sizeof(*cm));
	cm->conn = conn;
	cm->reqid = reqid;
	commit_wait(cm);
}

/* conn is closing: its commits still complete, unanswered. */
void
queue_commit_forget(struct ipc_conn *conn)
{
	struct commit	*cm;

	TAILQ_FOREACH(cm, &waiting, entry)
		if (cm->conn == conn)
			cm->conn = NULL;
	TAILQ_FOREACH(cm, &syncing, entry)
		if (cm->conn == conn)
			cm->conn = NULL;
}
