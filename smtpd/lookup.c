/*
 * lookup.c: answers to "is this password good?" and "does this recipient
 * exist?" from the local tables.  Every caller goes through here, so a
 * delegate (another SMTP server, through delegated) can be asked instead
 * without touching the protocol code.
 *
 * A crypt(3) check costs tens of milliseconds by design, too long to
 * hold every other session up: one worker thread computes the hashes.
 * It sees only copies of the hash and the password; the sessions, the
 * tables and the callbacks stay with the event loop's thread, which
 * learns of finished checks through a pipe.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "lookup.h"
#include "password.h"
#include "smtpd.h"
#include "table.h"
#include "util.h"

struct auth_check {
	TAILQ_ENTRY(auth_check)	 entry;
	struct session		*session;	/* NULL once it went away */
	lookup_cb		 done;
	char			 hash[PASSWORD_HASH_MAX];
	char			 password[PASSWORD_MAX + 1];
	int			 known;		/* hash is the user's */
	int			 ok;		/* the worker's answer */
};

TAILQ_HEAD(check_list, auth_check);

static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 work = PTHREAD_COND_INITIALIZER;
static struct check_list	 todo = TAILQ_HEAD_INITIALIZER(todo);
static struct check_list	 finished = TAILQ_HEAD_INITIALIZER(finished);
static int			 wake_pipe[2] = { -1, -1 };
static char			 decoy_hash[PASSWORD_HASH_MAX];	/* worker's */

static void *
worker(void *arg)
{
	struct auth_check	*c;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while ((c = TAILQ_FIRST(&todo)) == NULL)
			pthread_cond_wait(&work, &lock);
		TAILQ_REMOVE(&todo, c, entry);
		pthread_mutex_unlock(&lock);
		if (!c->known && decoy_hash[0] == '\0' &&
		    password_hash("decoy", decoy_hash, sizeof(decoy_hash)) == -1)
			strlcpy(decoy_hash, "*", sizeof(decoy_hash));
		c->ok = password_check(c->password, c->known ? c->hash :
		    decoy_hash) && c->known;
		explicit_bzero(c->password, sizeof(c->password));
		pthread_mutex_lock(&lock);
		TAILQ_INSERT_TAIL(&finished, c, entry);
		/* a full pipe already has a wake-up in it */
		(void)!write(wake_pipe[1], "", 1);
	}
	return NULL;
}

static void
on_finished(evutil_socket_t fd, short events, void *arg)
{
	struct check_list	 ready = TAILQ_HEAD_INITIALIZER(ready);
	struct auth_check	*c;
	char			 buf[64];

	(void)events;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&lock);
	TAILQ_CONCAT(&ready, &finished, entry);
	pthread_mutex_unlock(&lock);
	while ((c = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, c, entry);
		if (c->session != NULL) {
			c->session->lookup = NULL;
			c->done(c->session, c->ok ? LOOKUP_YES : LOOKUP_NO);
		}
		free(c);
	}
}

/* Start the worker; before the first session, after dropping root. */
void
lookup_init(struct event_base *base)
{
	pthread_t	 tid;
	struct event	*ev;

	if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	if ((ev = event_new(base, wake_pipe[0], EV_READ | EV_PERSIST,
	    on_finished, NULL)) == NULL || event_add(ev, NULL) == -1)
		fatalx("event_new");
	if ((errno = pthread_create(&tid, NULL, worker, NULL)) != 0)
		fatal("pthread_create");
}

/* s is going away: its check may finish, but nobody is told. */
void
lookup_cancel(struct session *s)
{
	if (s->lookup != NULL)
		((struct auth_check *)s->lookup)->session = NULL;
	s->lookup = NULL;
}

int
lookup_can_auth(void)
{
	return table_has_users();
}

/*
 * An unknown user's password is checked against a decoy hash (made by
 * the worker when first needed: a yescrypt hash costs 16 MB while it
 * runs) and then refused, so the answer's timing does not tell who
 * exists.
 */
void
lookup_auth(struct session *s, const char *user, const char *pass,
    lookup_cb done)
{
	struct auth_check	*c;
	const char		*hash = table_user_hash(user);

	c = xcalloc(1, sizeof(*c));
	c->session = s;
	c->done = done;
	c->known = hash != NULL;
	if (hash != NULL)
		strlcpy(c->hash, hash, sizeof(c->hash));
	strlcpy(c->password, pass, sizeof(c->password));
	s->lookup = c;
	pthread_mutex_lock(&lock);
	TAILQ_INSERT_TAIL(&todo, c, entry);
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&lock);
}

void
lookup_rcpt(struct session *s, const struct mailaddr *ma, lookup_cb done)
{
	done(s, table_rcpt_known(ma) ? LOOKUP_YES : LOOKUP_NO);
}
