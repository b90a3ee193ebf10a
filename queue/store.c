/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * store.c: message and envelope files in q/, durably.
 *
 * A message ID.msg is reserved empty with O_EXCL, written through the fd
 * handed to smtpd or sendmail (raw local input goes to ID.in first), and
 * committed by store_write_envelope(): ID.tmp is written and fdatasynced,
 * then renamed to ID.env.  The rename is the commit point; store_sync()
 * makes it durable and is shared by every commit pending at that moment.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define STORE_DIR	"q"
#define CORRUPT_DIR	"corrupt"
#define OPEN_FLAGS	(O_CLOEXEC | O_NOFOLLOW)

static int	 store_dirfd = -1;

static void
store_path(char *buf, size_t size, const char *id, const char *suffix)
{
	snprintf(buf, size, "%s/%s.%s", STORE_DIR, id, suffix);
}

/* Open q/ for directory fsyncs; q/ and corrupt/ exist (queued made them). */
int
store_open(void)
{
	store_dirfd = open(STORE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return store_dirfd == -1 ? -1 : 0;
}

int
store_space_ok(long long min_free)
{
	struct statvfs	 st;

	if (fstatvfs(store_dirfd, &st) == -1)
		return 0;
	return (long long)st.f_bavail * (long long)st.f_frsize >= min_free;
}

/*
 * Pick a new ID (32 bits of time, 32 random) and reserve it by creating
 * an empty ID.msg.  Returns the open read-write fd of ID.msg.
 */
int
store_reserve(char *id)
{
	char	 path[64];
	int	 fd, tries;

	for (tries = 0; tries < 10; tries++) {
		snprintf(id, QUEUE_ID_LEN + 1, "%08X%08X",
		    (unsigned int)time(NULL), arc4random());
		store_path(path, sizeof(path), id, "msg");
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | OPEN_FLAGS, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* Create ID.in, where a local submission writes its raw input. */
int
store_create_input(const char *id)
{
	char	 path[64];

	store_path(path, sizeof(path), id, "in");
	return open(path, O_RDWR | O_CREAT | O_EXCL | OPEN_FLAGS, 0600);
}

int
store_open_input(const char *id)
{
	char	 path[64];

	store_path(path, sizeof(path), id, "in");
	return open(path, O_RDONLY | OPEN_FLAGS);
}

int
store_open_message(const char *id, int flags)
{
	char	 path[64];

	store_path(path, sizeof(path), id, "msg");
	return open(path, flags | OPEN_FLAGS);
}

/*
 * Write ID.tmp, sync it, rename it to ID.env.  The caller syncs q/.
 * With msgfd (a new message's ID.msg, else -1), the message is synced
 * first; both files' writeback is started before either sync waits, so
 * the file system can put both in one journal commit.  On failure *step
 * names what failed and errno says why (runs in sync threads: it logs
 * nothing itself).
 */
int
store_write_envelope(const struct envelope *env, int msgfd,
    const char **step)
{
	char	 tmp[64], path[64];
	FILE	*fp = NULL;
	int	 fd, saved;

	store_path(tmp, sizeof(tmp), env->id, "tmp");
	store_path(path, sizeof(path), env->id, "env");
	*step = "create ID.tmp";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | OPEN_FLAGS, 0600);
	if (fd == -1)
		return -1;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto fail;
	}
	*step = "write ID.tmp";
	if (envelope_write(env, fp) == -1 || fflush(fp) == EOF)
		goto fail;
	if (msgfd != -1) {
		/* only a hint: the fdatasync()s below are the guarantee */
		(void)sync_file_range(msgfd, 0, 0, SYNC_FILE_RANGE_WRITE);
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	*step = "fdatasync ID.msg";
	if (msgfd != -1 && fdatasync(msgfd) == -1)
		goto fail;
	*step = "fdatasync ID.tmp";
	if (fdatasync(fd) == -1)
		goto fail;
	*step = "close ID.tmp";
	if (fclose(fp) == EOF) {
		fp = NULL;
		goto fail;
	}
	fp = NULL;
	*step = "rename ID.tmp to ID.env";
	if (rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fp != NULL)
		fclose(fp);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
store_sync(void)
{
	return fsync(store_dirfd);
}

/* Remove what an uncommitted message left (ID.in, ID.msg, ID.tmp). */
void
store_discard(const char *id)
{
	static const char *const suffixes[] = { "in", "tmp", "msg" };
	char	 path[64];
	size_t	 i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		store_path(path, sizeof(path), id, suffixes[i]);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("id=%s unlink %s", id, path);
	}
}

/* The raw input of a committed local submission is no longer needed. */
void
store_remove_input(const char *id)
{
	char	 path[64];

	store_path(path, sizeof(path), id, "in");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s unlink %s", id, path);
}

/*
 * Remove a committed message: the envelope first, so that a crash in
 * between leaves an orphan ID.msg, which start-up deletes.
 */
void
store_remove(const char *id)
{
	char	 path[64];

	store_path(path, sizeof(path), id, "env");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s unlink %s", id, path);
	store_discard(id);
}

static void
store_to_corrupt(const char *name, const char *why)
{
	char	 from[300], to[300];

	snprintf(from, sizeof(from), "%s/%s", STORE_DIR, name);
	snprintf(to, sizeof(to), "%s/%s", CORRUPT_DIR, name);
	if (rename(from, to) == -1)
		log_warn("rename %s to %s", from, to);
	else
		log_event("event=corrupt file=%s reason=%s", log_q(name),
		    log_q(why));
}

static int
store_exists(const char *id, const char *suffix)
{
	char		 path[64];
	struct stat	 st;

	store_path(path, sizeof(path), id, suffix);
	return stat(path, &st) == 0;
}

/* Load one committed envelope; anything odd goes to corrupt/. */
static int
store_load(const char *id, store_load_cb cb, void *arg)
{
	struct envelope	 env;
	struct stat	 st;
	const char	*why;
	char		 path[64], name[64];
	FILE		*fp;
	int		 ok;

	snprintf(name, sizeof(name), "%s.env", id);
	if (!store_exists(id, "msg")) {
		store_to_corrupt(name, "no message file");
		return -1;
	}
	store_path(path, sizeof(path), id, "env");
	if ((fp = fopen(path, "re")) == NULL) {
		log_warn("id=%s open %s", id, path);
		return -1;
	}
	ok = envelope_read(&env, fp, &why) == 0;
	fclose(fp);
	if (ok && strcmp(env.id, id) != 0) {
		envelope_free(&env);
		why = "id does not match file name";
		ok = 0;
	}
	store_path(path, sizeof(path), id, "msg");
	if (ok && (stat(path, &st) == -1 || st.st_size != env.size)) {
		envelope_free(&env);
		why = "message size does not match envelope";
		ok = 0;
	}
	if (!ok) {
		store_to_corrupt(name, why);
		snprintf(name, sizeof(name), "%s.msg", id);
		store_to_corrupt(name, why);
		return -1;
	}
	cb(&env, arg);
	return 0;
}

/*
 * Start-up: delete what was never committed, move what cannot be read to
 * corrupt/, and hand every committed envelope to cb.  queued is the only
 * writer, so nothing here is in flight.
 */
int
store_recover(store_load_cb cb, void *arg)
{
	DIR		*dir;
	struct dirent	*de;
	char		 id[QUEUE_ID_LEN + 1], path[300];
	const char	*dot;
	int		 removed = 0, corrupt = 0, loaded = 0;

	if ((dir = opendir(STORE_DIR)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		dot = strchr(de->d_name, '.');
		if (dot == NULL || dot - de->d_name != QUEUE_ID_LEN) {
			store_to_corrupt(de->d_name, "unknown file");
			corrupt++;
			continue;
		}
		memcpy(id, de->d_name, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		snprintf(path, sizeof(path), "%s/%s", STORE_DIR, de->d_name);
		if (!queue_id_valid(id)) {
			store_to_corrupt(de->d_name, "bad queue id");
			corrupt++;
		} else if (strcmp(dot, ".tmp") == 0 || strcmp(dot, ".in") == 0 ||
		    (strcmp(dot, ".msg") == 0 && !store_exists(id, "env"))) {
			if (unlink(path) == 0)
				removed++;
		} else if (strcmp(dot, ".env") == 0) {
			if (store_load(id, cb, arg) == 0)
				loaded++;
			else
				corrupt++;
		} else if (strcmp(dot, ".msg") != 0) {
			store_to_corrupt(de->d_name, "unknown file");
			corrupt++;
		}
	}
	closedir(dir);
	if (store_sync() == -1)
		return -1;
	log_event("event=recover loaded=%d removed=%d corrupt=%d", loaded,
	    removed, corrupt);
	return 0;
}
