/*
 * commit.c: group commit.
 *
 * A new envelope or a recipient state change is renamed into place at
 * once, but its reply waits until the spool directory has been fsynced.
 * The fsync runs from an event activated by the first waiting reply; it
 * is processed after every other event of the same loop iteration, so
 * all the commits that arrived together share one directory fsync.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queued.h"
#include "sched.h"
#include "store.h"
#include "util.h"

struct commit {
	TAILQ_ENTRY(commit)	 entry;
	struct ipc_conn		*conn;		/* NULL once it went away */
	uint32_t		 reqid;
	int			 is_new;
	struct envelope		 env;		/* a new message's */
};

static TAILQ_HEAD(, commit)	 waiting = TAILQ_HEAD_INITIALIZER(waiting);
static struct event		*sync_event;

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
		log_warn("fsync of the queue directory");
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

void
queue_commit_init(struct event_base *base)
{
	sync_event = event_new(base, -1, 0, sync_waiting, NULL);
	if (sync_event == NULL)
		fatalx("event_new");
}

static void
commit_wait(struct commit *cm)
{
	if (TAILQ_EMPTY(&waiting))
		event_active(sync_event, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&waiting, cm, entry);
}

/* env (taken over) is renamed into place; reply COMMITTED once synced. */
void
queue_commit_new(struct ipc_conn *conn, uint32_t reqid, struct envelope *env)
{
	struct commit	*cm;

	cm = xcalloc(1, sizeof(*cm));
	cm->conn = conn;
	cm->reqid = reqid;
	cm->is_new = 1;
	cm->env = *env;
	memset(env, 0, sizeof(*env));
	commit_wait(cm);
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
}
