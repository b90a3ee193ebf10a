/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * cache.c: what the delegate said, so that it is asked rarely.
 *
 * Recipient answers live in a tree and in delegate_cache_file (one
 * "address TAB result TAB stored TAB expires TAB text" line each),
 * written whole to a temporary file and renamed into place by
 * cache_save(), so a restart begins with what was known.  Good
 * credentials are remembered in memory only, as HMAC-SHA256 of name and
 * password under a key made at start that never leaves the process.
 * Failed logins are counted per user name, so that a user who keeps
 * failing is refused here before the delegate locks the account.
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "delegated.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

#define AUTH_FAILURE_WINDOW	900	/* seconds a failed login counts */

struct entry {
	RB_ENTRY(entry)		 node;
	char			 key[DELEG_KEY_MAX];
	struct cache_entry	 e;
};

static int
entry_cmp(struct entry *a, struct entry *b)
{
	return strcmp(a->key, b->key);
}

RB_HEAD(entry_tree, entry);
RB_PROTOTYPE(entry_tree, entry, node, entry_cmp)
RB_GENERATE(entry_tree, entry, node, entry_cmp)

static struct entry_tree	 rcpts = RB_INITIALIZER(&rcpts);
static struct entry_tree	 logins = RB_INITIALIZER(&logins);
static struct entry_tree	 failures = RB_INITIALIZER(&failures);
static const char		*cache_path;
static int			 dirty;
static unsigned char		 hmac_key[32];

static struct entry *
find(struct entry_tree *t, const char *key, time_t now)
{
	struct entry	 k, *e;

	if (strlcpy(k.key, key, sizeof(k.key)) >= sizeof(k.key))
		return NULL;
	if ((e = RB_FIND(entry_tree, t, &k)) != NULL && e->e.expires <= now) {
		RB_REMOVE(entry_tree, t, e);
		free(e);
		dirty |= t == &rcpts;
		return NULL;
	}
	return e;
}

static struct entry *
insert(struct entry_tree *t, const char *key)
{
	struct entry	 k, *e;

	strlcpy(k.key, key, sizeof(k.key));
	if ((e = RB_FIND(entry_tree, t, &k)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		strlcpy(e->key, key, sizeof(e->key));
		RB_INSERT(entry_tree, t, e);
	}
	return e;
}

/* Replies are hostile input: keep printable ASCII only, no tabs. */
static void
clean_text(char *dst, const char *src, size_t size)
{
	size_t	 i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

const struct cache_entry *
cache_get(const char *key)
{
	struct entry	*e = find(&rcpts, key, time(NULL));

	return e != NULL ? &e->e : NULL;
}

/* The delegate answered yes or no (a temporary failure is not kept). */
void
cache_put(const char *key, int result, const char *text)
{
	const struct config	*conf = deleg_conf();
	struct entry		*e = insert(&rcpts, key);

	e->e.result = result;
	e->e.stored = time(NULL);
	e->e.expires = e->e.stored + (result == DELEG_YES ?
	    conf->delegate_positive_ttl : conf->delegate_negative_ttl);
	clean_text(e->e.text, text, sizeof(e->e.text));
	dirty = 1;
}

/* Forget key, or everything for "all"; the number of entries dropped. */
int
cache_forget(const char *key)
{
	struct entry	*e, *next;
	int		 n = 0;

	RB_FOREACH_SAFE(e, entry_tree, &rcpts, next) {
		if (strcmp(key, "all") != 0 && strcmp(key, e->key) != 0)
			continue;
		RB_REMOVE(entry_tree, &rcpts, e);
		free(e);
		n++;
	}
	dirty |= n > 0;
	return n;
}

void
cache_foreach(void (*fn)(const char *, const struct cache_entry *, void *),
    void *arg)
{
	struct entry	*e, *next;
	time_t		 now = time(NULL);

	RB_FOREACH_SAFE(e, entry_tree, &rcpts, next)
		if (find(&rcpts, e->key, now) != NULL)
			fn(e->key, &e->e, arg);
}

static int
parse_entry(char *line, char *key, struct cache_entry *ce)
{
	char		*f[5], *p = line;
	long long	 stored, expires;
	int		 i;

	for (i = 0; i < 5; i++) {
		f[i] = p;
		if (i < 4 && (p = strchr(p, '\t')) == NULL)
			return -1;
		if (i < 4)
			*p++ = '\0';
	}
	f[4][strcspn(f[4], "\n")] = '\0';
	if (strlcpy(key, f[0], DELEG_KEY_MAX) >= DELEG_KEY_MAX ||
	    (strcmp(f[1], "yes") != 0 && strcmp(f[1], "no") != 0) ||
	    sscanf(f[2], "%lld", &stored) != 1 ||
	    sscanf(f[3], "%lld", &expires) != 1)
		return -1;
	ce->result = strcmp(f[1], "yes") == 0 ? DELEG_YES : DELEG_NO;
	ce->stored = stored;
	ce->expires = expires;
	clean_text(ce->text, f[4], sizeof(ce->text));
	return 0;
}

static void
cache_load(void)
{
	struct cache_entry	 ce;
	char			 line[DELEG_KEY_MAX + DELEG_TEXT_MAX + 80];
	char			 key[DELEG_KEY_MAX];
	FILE			*fp;
	time_t			 now = time(NULL);
	int			 lineno = 0, n = 0;

	if ((fp = fopen(cache_path, "re")) == NULL) {
		if (errno != ENOENT)
			log_warn("cannot read %s", cache_path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (parse_entry(line, key, &ce) == -1) {
			log_warnx("%s:%d: not a cache entry, skipped",
			    cache_path, lineno);
			continue;
		}
		if (ce.expires > now) {
			insert(&rcpts, key)->e = ce;
			n++;
		}
	}
	fclose(fp);
	log_event("event=cache-load file=%s entries=%d", log_q(cache_path), n);
}

void
cache_init(const char *path)
{
	arc4random_buf(hmac_key, sizeof(hmac_key));
	cache_path = *path != '\0' ? path : NULL;
	if (cache_path != NULL)
		cache_load();
}

/* Write the file again if anything changed: temporary file, rename. */
void
cache_save(void)
{
	struct entry	*e;
	char		 tmp[PATH_MAX];
	FILE		*fp;
	int		 fd;

	if (!dirty || cache_path == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", cache_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		log_warn("cannot write %s", tmp);
		if (fd != -1)
			close(fd);
		return;
	}
	RB_FOREACH(e, entry_tree, &rcpts)
		fprintf(fp, "%s\t%s\t%lld\t%lld\t%s\n", e->key,
		    e->e.result == DELEG_YES ? "yes" : "no",
		    (long long)e->e.stored, (long long)e->e.expires, e->e.text);
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1 || fclose(fp) == EOF ||
	    rename(tmp, cache_path) == -1 || fsync_parent(cache_path) == -1) {
		log_warn("cannot write %s", cache_path);
		unlink(tmp);
		return;
	}
	dirty = 0;
}

/* The key credentials are remembered under: hex HMAC of user NUL pass. */
void
auth_key(const char *user, const char *password, char *out, size_t size)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE], buf[520];
	unsigned int	 len = 0, i;
	size_t		 ulen = strlen(user), plen = strlen(password);

	out[0] = '\0';
	if (ulen + 1 + plen > sizeof(buf))
		return;
	memcpy(buf, user, ulen + 1);
	memcpy(buf + ulen + 1, password, plen);
	if (HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), buf, ulen + 1 + plen,
	    mac, &len) == NULL)
		len = 0;
	explicit_bzero(buf, sizeof(buf));
	for (i = 0; i < len && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int
auth_cached(const char *key)
{
	return *key != '\0' && find(&logins, key, time(NULL)) != NULL;
}

void
auth_remember(const char *key)
{
	struct entry	*e;

	if (*key == '\0' || deleg_conf()->delegate_auth_ttl == 0)
		return;
	e = insert(&logins, key);
	e->e.result = DELEG_YES;
	e->e.stored = time(NULL);
	e->e.expires = e->e.stored + deleg_conf()->delegate_auth_ttl;
}

/* Has user failed delegate_auth_max_failures times lately? */
int
auth_refused(const char *user)
{
	struct entry	*e = find(&failures, user, time(NULL));

	return e != NULL &&
	    e->e.result >= deleg_conf()->delegate_auth_max_failures;
}

void
auth_failed(const char *user)
{
	struct entry	*e = find(&failures, user, time(NULL));

	if (e == NULL) {
		e = insert(&failures, user);
		e->e.result = 0;
		e->e.expires = time(NULL) + AUTH_FAILURE_WINDOW;
	}
	e->e.result++;
}

void
auth_succeeded(const char *user)
{
	struct entry	*e = find(&failures, user, time(NULL));

	if (e != NULL) {
		RB_REMOVE(entry_tree, &failures, e);
		free(e);
	}
}
