/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license.c: reading and checking a signed licence (license.h).
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "base64.h"
#include "license.h"

#define SIG_PREFIX	"signature: "
#define ED25519_SIG	64

/* The vendor's public key (PEM); NULL with why. */
EVP_PKEY *
license_public_key(const char *path, char *why, size_t whylen)
{
	EVP_PKEY	*key;
	FILE		*fp;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	fclose(fp);
	if (key == NULL || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
		snprintf(why, whylen, "%s: not an Ed25519 public key", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* "YYYY-MM-DD" as 00:00 UTC of that day; -1 if it is no date. */
static time_t
parse_date(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10 || (end = strptime(s, "%Y-%m-%d", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	return timegm(&tm);
}

static int
set_field(struct license *l, const char *key, const char *value,
    unsigned *seen)
{
	static const char	*keys[] = { "id", "customer", "issued",
	    "support-until", "features" };
	size_t			 i;
	char			*dst = NULL;
	size_t			 size = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]) || (*seen & (1U << i)))
		return -1;
	*seen |= 1U << i;
	switch (i) {
	case 0:
		dst = l->id, size = sizeof(l->id);
		break;
	case 1:
		dst = l->customer, size = sizeof(l->customer);
		break;
	case 2:
		return (l->issued = parse_date(value)) == -1 ? -1 : 0;
	case 3:
		if ((l->support_until = parse_date(value)) == -1)
			return -1;
		l->support_until += 86400;	/* the whole last day */
		return 0;
	default:
		dst = l->features, size = sizeof(l->features);
		break;
	}
	return strlcpy(dst, value, size) >= size ? -1 : 0;
}

static int
bad(struct license *l, const char *why, int lineno)
{
	l->state = LICENSE_INVALID;
	if (lineno > 0)
		snprintf(l->reason, sizeof(l->reason), "line %d: %s", lineno,
		    why);
	else
		snprintf(l->reason, sizeof(l->reason), "%s", why);
	return -1;
}

/*
 * Read the fields of buf (len bytes) into l.  *sig_at: where the
 * signature line starts (len if there is none: a licence to sign).
 * -1 with l->reason if a line is not "key: value" of a known key.
 */
int
license_parse(const char *buf, size_t len, struct license *l, size_t *sig_at)
{
	char		 line[512], *colon;
	const char	*nl;
	size_t		 pos = 0, n;
	unsigned	 seen = 0;
	int		 lineno = 0;

	memset(l, 0, sizeof(*l));
	*sig_at = len;
	if (memchr(buf, '\0', len) != NULL)
		return bad(l, "a NUL byte", 0);
	while (pos < len) {
		lineno++;
		/* buf is read() bytes: no NUL ends them. */
		if ((nl = memchr(buf + pos, '\n', len - pos)) == NULL ||
		    (n = nl - (buf + pos)) >= sizeof(line))
			return bad(l, "not a complete line", lineno);
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		if (strncmp(line, SIG_PREFIX, strlen(SIG_PREFIX)) == 0) {
			if (pos + n + 1 != len)
				return bad(l, "text after the signature",
				    lineno + 1);
			*sig_at = pos;
			break;
		}
		if ((colon = strstr(line, ": ")) == NULL)
			return bad(l, "expected \"key: value\"", lineno);
		*colon = '\0';
		if (set_field(l, line, colon + 2, &seen) == -1)
			return bad(l, "unknown, repeated or bad field", lineno);
		pos += n + 1;
	}
	if (seen != 0x1f)
		return bad(l, "a field is missing (id, customer, issued, "
		    "support-until, features)", 0);
	return 0;
}

static int
verify_signature(const char *buf, size_t sig_at, size_t len, EVP_PKEY *key,
    struct license *l)
{
	char		 b64[256];
	unsigned char	 sig[128];
	size_t		 off = sig_at + strlen(SIG_PREFIX);
	ssize_t		 n;
	EVP_MD_CTX	*ctx;
	int		 ok;

	if (sig_at == len)
		return bad(l, "not signed", 0);
	if (len - off - 1 >= sizeof(b64))
		return bad(l, "signature too long", 0);
	memcpy(b64, buf + off, len - off - 1);
	b64[len - off - 1] = '\0';
	if ((n = base64_decode(b64, sig, sizeof(sig))) != ED25519_SIG)
		return bad(l, "signature is not 64 bytes of base64", 0);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return bad(l, "out of memory", 0);
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, n, (const unsigned char *)buf,
	    sig_at) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : bad(l, "signature does not match (tampered, or "
	    "signed with another key)", 0);
}

/* Read path and decide its state at time now. */
void
license_check(const char *path, EVP_PKEY *key, time_t now, struct license *l)
{
	char	 buf[LICENSE_MAX + 1];
	ssize_t	 len;
	size_t	 sig_at;
	int	 fd;

	memset(l, 0, sizeof(*l));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		l->state = errno == ENOENT ? LICENSE_MISSING : LICENSE_INVALID;
		snprintf(l->reason, sizeof(l->reason), "%s", strerror(errno));
		return;
	}
	len = read(fd, buf, sizeof(buf));
	close(fd);
	if (len < 0 || len > LICENSE_MAX) {
		bad(l, len < 0 ? strerror(errno) : "file too large", 0);
		return;
	}
	if (license_parse(buf, len, l, &sig_at) == -1 ||
	    verify_signature(buf, sig_at, len, key, l) == -1)
		return;
	memcpy(l->text, buf, len);
	l->text[len] = '\0';
	if (now < l->issued) {
		l->state = LICENSE_NOT_YET_VALID;
		snprintf(l->reason, sizeof(l->reason), "issued in the future "
		    "(or this clock is wrong)");
	} else if (now >= l->support_until) {
		l->state = LICENSE_EXPIRED;
		snprintf(l->reason, sizeof(l->reason), "support ended");
	} else {
		l->state = LICENSE_VALID;
		/* the day in progress counts */
		l->days_left = (l->support_until - now + 86399) / 86400;
	}
}
