/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth_state.c: the state file of an OAuth2 route (oauth.h).
 *
 * relay_state_directory/oauth-NAME, NAME being the route with every byte
 * outside [A-Za-z0-9.-] as '_', holds "key value" lines: the route, the
 * current refresh token (the admin's, or the one the provider rotated it
 * to), the access token and when it expires, the last refresh and the
 * last error.  Mode 0600, owned by relay_user; it is replaced by
 * rename(2), so a reader sees the old file or the new one, never half.
 *
 * The stored refresh token replaces the one in relay_auth_file only while
 * that one is what it was when the token was stored (the seed, a hash of
 * it): an admin who puts a new refresh token in the file gets it used.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "log.h"
#include "oauth.h"
#include "util.h"

#define STATE_LINE_MAX	(OAUTH_TOKEN_MAX + 64)

static const char *const class_names[] = { "none", "temp", "config" };

const char *
oauth_error_class_name(enum oauth_error_class c)
{
	return class_names[c];
}

void
oauth_state_path(const char *dir, const char *route, char *buf, size_t size)
{
	size_t	 i, len;

	len = snprintf(buf, size, "%s/oauth-", dir);
	for (i = 0; route[i] != '\0' && len + i < size - 1; i++)
		buf[len + i] = isalnum((unsigned char)route[i]) ||
		    route[i] == '.' || route[i] == '-' ? route[i] : '_';
	buf[len + i] = '\0';
}

static int
set_number(long long *dst, const char *v)
{
	char	*end;

	*dst = strtoll(v, &end, 10);
	return *v != '\0' && *end == '\0' ? 0 : -1;
}

static int
set_class(enum oauth_error_class *dst, const char *v)
{
	int	 i;

	for (i = 0; i < 3; i++)
		if (strcmp(v, class_names[i]) == 0) {
			*dst = i;
			return 0;
		}
	return -1;
}

static int
set_string(char *dst, size_t size, const char *v)
{
	return strlcpy(dst, v, size) < size ? 0 : -1;
}

/* One "key value" line into st; -1 if it is malformed. */
static int
state_line(struct oauth_state *st, char *line)
{
	char	*v;

	if ((v = strchr(line, ' ')) == NULL)
		return -1;
	*v++ = '\0';
	if (strcmp(line, "route") == 0)
		return set_string(st->route, sizeof(st->route), v);
	if (strcmp(line, "refresh_token") == 0)
		return set_string(st->refresh_token,
		    sizeof(st->refresh_token), v);
	if (strcmp(line, "seed") == 0)
		return set_string(st->seed, sizeof(st->seed), v);
	if (strcmp(line, "access_token") == 0)
		return set_string(st->access_token, sizeof(st->access_token),
		    v);
	if (strcmp(line, "expires_at") == 0)
		return set_number(&st->expires_at, v);
	if (strcmp(line, "refreshed_at") == 0)
		return set_number(&st->refreshed_at, v);
	if (strcmp(line, "error_at") == 0)
		return set_number(&st->error_at, v);
	if (strcmp(line, "error_class") == 0)
		return set_class(&st->error_class, v);
	if (strcmp(line, "error") == 0)
		return set_string(st->error, sizeof(st->error), v);
	return 0;	/* a key of a later version */
}

/*
 * Read path into st.  0; 1 if there is no such file (st empty); -1 with
 * errno (EINVAL: a malformed line) and st empty.
 */
int
oauth_state_load(const char *path, struct oauth_state *st)
{
	FILE	*fp;
	char	*line;
	int	 r = 0, saved;

	memset(st, 0, sizeof(*st));
	if ((fp = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 1 : -1;
	line = xmalloc(STATE_LINE_MAX);
	while (r == 0 && fgets(line, STATE_LINE_MAX, fp) != NULL) {
		if (line[strcspn(line, "\n")] != '\n' ||
		    (line[strcspn(line, "\n")] = '\0',
		    state_line(st, line) == -1)) {
			errno = EINVAL;
			r = -1;
		}
	}
	if (r == 0 && ferror(fp))
		r = -1;
	saved = errno;
	fclose(fp);
	explicit_bzero(line, STATE_LINE_MAX);
	free(line);
	if (r == -1)
		oauth_state_wipe(st);
	errno = saved;
	return r;
}

/* The file's text; the caller wipes and frees it. */
static char *
state_text(const struct oauth_state *st, int *len)
{
	char	*text;

	*len = asprintf(&text, "route %s\nrefresh_token %s\nseed %s\n"
	    "access_token %s\nexpires_at %lld\nrefreshed_at %lld\n"
	    "error_class %s\nerror_at %lld\nerror %s\n", st->route,
	    st->refresh_token, st->seed, st->access_token, st->expires_at, st->refreshed_at,
	    class_names[st->error_class], st->error_at, st->error);
	if (*len == -1)
		fatal("asprintf");
	return text;
}

/*
 * Replace path by st: a new file (0600, handed to uid:gid unless uid is
 * -1) written, synced and renamed over it, then the directory synced.
 * 0, or -1 with errno; the old file is then untouched.
 */
int
oauth_state_save(const char *path, const struct oauth_state *st, uid_t uid,
    gid_t gid)
{
	char	 tmp[PATH_MAX], dir[PATH_MAX], *text;
	int	 fd, dfd, len, saved, r = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	(void)unlink(tmp);	/* left by a crash: ours to replace */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	text = state_text(st, &len);
	if ((uid == (uid_t)-1 || fchown(fd, uid, gid) == 0) &&
	    write_full(fd, text, len) == 0 && fsync(fd) == 0)
		r = 0;
	saved = errno;
	explicit_bzero(text, len);
	free(text);
	if (close(fd) == -1 && r == 0) {
		saved = errno;
		r = -1;
	}
	if (r == 0 && rename(tmp, path) == -1) {
		saved = errno;
		r = -1;
	}
	if (r == -1) {
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	strlcpy(dir, path, sizeof(dir));
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* The seed of the refresh token relay_auth_file gives (NULL: none). */
void
oauth_seed(const char *refresh_token, char *seed)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];

	if (refresh_token == NULL)
		refresh_token = "";
	SHA256((const unsigned char *)refresh_token, strlen(refresh_token),
	    md);
	hex_encode(md, sizeof(md), seed, 0);
}

/* The refresh token to use: the stored one, unless the file's changed. */
const char *
oauth_refresh_token(const struct oauth_state *st, const struct credential *c)
{
	char	 seed[OAUTH_SEED_LEN + 1];

	oauth_seed(c->refresh_token, seed);
	if (st->refresh_token[0] != '\0' && strcmp(st->seed, seed) == 0)
		return st->refresh_token;
	return c->refresh_token;
}

void
oauth_state_wipe(struct oauth_state *st)
{
	explicit_bzero(st, sizeof(*st));
}
