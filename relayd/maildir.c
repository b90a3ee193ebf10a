/*
 * maildir.c: local delivery into a Maildir (tmp/, then new/).
 *
 * The file is written in tmp/ under a unique name, fsynced, linked into
 * new/ and the directory fsynced before the recipient counts as
 * delivered: a crash before that leaves at most a stray file in tmp/,
 * which Maildir readers ignore, and the message is delivered again.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relayd.h"
#include "util.h"

/* path with %u replaced by the local part, which may not escape it. */
static int
maildir_path(const char *tmpl, const char *addr, char *buf, size_t size,
    const char **why)
{
	char		 local[256];
	const char	*at = strrchr(addr, '@'), *p;
	size_t		 n = at != NULL ? (size_t)(at - addr) : strlen(addr), o = 0;

	if (n == 0 || n >= sizeof(local) || addr[0] == '.' ||
	    memchr(addr, '/', n) != NULL || memchr(addr, '"', n) != NULL) {
		*why = "550 5.1.3 bad mailbox name for local delivery";
		return -1;
	}
	memcpy(local, addr, n);
	local[n] = '\0';
	for (p = tmpl; *p != '\0' && o + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			o += strlcpy(buf + o, local, size - o);
			p++;
		} else
			buf[o++] = *p;
	}
	if (o + 8 >= size) {
		*why = "550 5.1.3 mailbox path too long";
		return -1;
	}
	buf[o] = '\0';
	return 0;
}

/* mkdir -p for the Maildir and its tmp, new and cur. */
static int
maildir_make(const char *dir)
{
	char		 path[PATH_MAX];
	char		*p;
	const char	*sub[] = { "tmp", "new", "cur" };
	size_t		 i;

	strlcpy(path, dir, sizeof(path));
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

static int
copy_message(int out, int in, const char *head)
{
	char	 buf[65536];
	ssize_t	 n;
	off_t	 off = 0;

	if (write(out, head, strlen(head)) != (ssize_t)strlen(head))
		return -1;
	while ((n = pread(in, buf, sizeof(buf), off)) > 0) {
		if (write(out, buf, n) != n)
			return -1;
		off += n;
	}
	return n == -1 ? -1 : 0;
}

/* Deliver the message to one recipient's Maildir. */
static void
maildir_one(const char *tmpl, struct relay_job *job, struct relay_rcpt *rc)
{
	char		 dir[PATH_MAX - 512], tmp[PATH_MAX], new[PATH_MAX];
	char		 name[200], head[1024], host[64];
	const char	*why = NULL;
	struct timespec	 ts;
	int		 fd, saved;

	if (maildir_path(tmpl, rc->addr, dir, sizeof(dir), &why) == -1) {
		rc->result = RESULT_PERM;
		strlcpy(rc->reply, why, sizeof(rc->reply));
		return;
	}
	gethostname(host, sizeof(host));
	host[strcspn(host, "/:")] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%s.%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), job->id,
	    host);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
	snprintf(new, sizeof(new), "%s/new/%s", dir, name);
	snprintf(head, sizeof(head), "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	    job->sender, rc->addr);
	fd = -1;
	if (maildir_make(dir) == -1 ||
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
	    copy_message(fd, job->fd, head) == -1 || fsync(fd) == -1 ||
	    link(tmp, new) == -1)
		goto fail;
	if (fsync_parent(new) == -1) {
		/* not durable, so not delivered: the retry writes it anew */
		saved = errno;
		unlink(new);
		errno = saved;
		goto fail;
	}
	close(fd);
	unlink(tmp);
	rc->result = RESULT_DELIVERED;
	snprintf(rc->reply, sizeof(rc->reply), "250 2.0.0 delivered to %.400s/new",
	    dir);
	return;
fail:
	rc->result = RESULT_TEMP;	/* disk full, permissions: fixable */
	snprintf(rc->reply, sizeof(rc->reply),
	    "451 4.3.0 Maildir delivery to %.300s failed: %s", dir,
	    strerror(errno));
	if (fd != -1) {
		close(fd);
		unlink(tmp);
	}
}

void
maildir_deliver(struct relay_job *job, const struct route *route)
{
	size_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		maildir_one(route->path, job, &job->rcpt[i]);
}
