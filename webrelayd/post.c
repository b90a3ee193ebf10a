/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * post.c: one POST to the WebSmtp service, in webrelayd's worker thread.
 *
 * One libcurl handle serves every post, so the connection to the service
 * (and its TLS session) is kept and reused from one message to the next.
 * The message is streamed from its descriptor with pread(): memory does
 * not grow with its size.  Nothing here logs (common/workq.h); what went
 * wrong is left in the answer for the event loop to tell.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base64.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "webrelayd.h"

#define POST_BYTES_PER_SECOND	32768	/* slowest pace a post may keep */
#define AUTH_PREFIX		"Authorization: Ferry-License "

/* The message part, read on demand at offset. */
struct message_part {
	int		 fd;
	uint64_t	 size;
	uint64_t	 offset;
	int		 error;		/* errno of a failed read; -1: short */
};

static CURL		*handle;
static long		 timeout;	/* webrelay_timeout */
static int		 basic;		/* webrelay_auth_file is set */
static char		 errbuf[CURL_ERROR_SIZE];

/* The answer's body: keep the first WEB_BODY_MAX bytes, drop the rest. */
static size_t
keep_body(char *data, size_t size, size_t n, void *arg)
{
	struct web_answer	*a = arg;
	size_t			 len = size * n, room;

	room = WEB_BODY_MAX - a->bodylen;
	if (room > len)
		room = len;
	memcpy(a->body + a->bodylen, data, room);
	a->bodylen += room;
	a->body[a->bodylen] = '\0';
	return len;
}

/* Header lines: keep the reason phrase of the last status line. */
static size_t
keep_reason(char *data, size_t size, size_t n, void *arg)
{
	struct web_answer	*a = arg;
	size_t			 len = size * n, i = 0;
	const char		*p, *end = data + len;

	if (len < 5 || memcmp(data, "HTTP/", 5) != 0)
		return len;
	/* "HTTP/1.1 503 Service Unavailable\r\n"; HTTP/2 has no phrase */
	if ((p = memchr(data, ' ', len)) != NULL) {
		while (p < end && *p == ' ')
			p++;
		while (p < end && isdigit((unsigned char)*p))
			p++;
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != '\r' && *p != '\n' &&
		    i < sizeof(a->reason) - 1)
			a->reason[i++] = *p++;
	}
	a->reason[i] = '\0';
	return len;
}

static size_t
read_message(char *buf, size_t size, size_t n, void *arg)
{
	struct message_part	*m = arg;
	size_t			 want = size * n;
	ssize_t			 r;

	if (m->offset >= m->size)
		return 0;
	if (want > m->size - m->offset)
		want = m->size - m->offset;
	do
		r = pread(m->fd, buf, want, (off_t)m->offset);
	while (r == -1 && errno == EINTR);
	if (r <= 0) {
		/* a file shorter than its size would leave curl waiting */
		m->error = r == 0 ? -1 : errno;
		return CURL_READFUNC_ABORT;
	}
	m->offset += r;
	return r;
}

/* libcurl rewinds the form to send it again (a retried connection, auth). */
static int
seek_message(void *arg, curl_off_t offset, int origin)
{
	struct message_part	*m = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > m->size)
		return CURL_SEEKFUNC_CANTSEEK;
	m->offset = offset;
	return CURL_SEEKFUNC_OK;
}

static int
add_field(curl_mime *mime, const char *name, const char *value)
{
	curl_mimepart	*part;

	if ((part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, name) != CURLE_OK ||
	    curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
		return -1;
	return 0;
}

/* from, one to per recipient (so Bcc survives), the message itself. */
static curl_mime *
build_form(const struct agent_work *w, struct message_part *m)
{
	curl_mime	*mime;
	curl_mimepart	*part;
	size_t		 i;

	if ((mime = curl_mime_init(handle)) == NULL)
		return NULL;
	if (add_field(mime, "from", w->sender) == -1)
		goto fail;
	for (i = 0; i < w->nrcpt; i++)
		if (add_field(mime, "to", w->rcpt[i].addr) == -1)
			goto fail;
	if ((part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "message") != CURLE_OK ||
	    curl_mime_filename(part, "message.eml") != CURLE_OK ||
	    curl_mime_type(part, "message/rfc822") != CURLE_OK ||
	    curl_mime_data_cb(part, (curl_off_t)w->size, read_message,
	    seek_message, NULL, m) != CURLE_OK)
		goto fail;
	return mime;
fail:
	curl_mime_free(mime);
	return NULL;
}

/* Free a header list, wiping the credential it holds first. */
static void
free_headers(struct curl_slist *list)
{
	struct curl_slist	*h;

	for (h = list; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(list);
}

static struct curl_slist *
build_headers(const struct agent_work *w, const char **why)
{
	char			 key[64];
	char			 auth[sizeof(AUTH_PREFIX) +
				    (IPC_STR_MAX + 2) / 3 * 4];
	struct curl_slist	*list, *more;
	size_t			 plen = sizeof(AUTH_PREFIX) - 1;

	*why = "out of memory";
	snprintf(key, sizeof(key), "Idempotency-Key: %s", w->id);
	if ((list = curl_slist_append(NULL, key)) == NULL || basic)
		return list;
	memcpy(auth, AUTH_PREFIX, plen);
	if (base64_encode(w->credential, strlen(w->credential), auth + plen,
	    sizeof(auth) - plen) == -1) {
		*why = "the licence is too long to send";
		more = NULL;
	} else
		more = curl_slist_append(list, auth);
	explicit_bzero(auth, sizeof(auth));
	if (more == NULL) {
		free_headers(list);
		return NULL;
	}
	return more;
}

/* Why the transfer failed, in the fewest true words. */
static void
transfer_error(struct web_answer *a, CURLcode rc, const struct message_part *m)
{
	char	 buf[128];

	if (m->error == -1)
		snprintf(a->error, sizeof(a->error), "the queue file is "
		    "shorter than its size");
	else if (m->error != 0)
		snprintf(a->error, sizeof(a->error), "cannot read the queue "
		    "file: %s", strerror_r(m->error, buf, sizeof(buf)));
	else
		strlcpy(a->error, errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(rc), sizeof(a->error));
}

/* workq: post one message and keep the answer. */
void
post_message(struct workq_item *item)
{
	struct web_post		*p = (struct web_post *)item;
	const struct agent_work	*w = p->work;
	struct web_answer	*a = &p->answer;
	struct message_part	 m = { w->fd, w->size, 0, 0 };
	struct curl_slist	*headers = NULL;
	curl_mime		*mime = NULL;
	curl_off_t		 retry = 0;
	const char		*why = "out of memory";
	CURLcode		 rc;

	a->failed = 1;
	if (!basic && w->credential[0] == '\0')
		why = "no licence to send as the credential";
	else if ((mime = build_form(w, &m)) != NULL)
		headers = build_headers(w, &why);
	if (headers == NULL) {
		strlcpy(a->error, why, sizeof(a->error));
		goto done;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(handle, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(handle, CURLOPT_TIMEOUT,
	    timeout + (long)(w->size / POST_BYTES_PER_SECOND));
	curl_easy_setopt(handle, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(handle, CURLOPT_HEADERDATA, a);
	rc = curl_easy_perform(handle);
	curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_getinfo(handle, CURLINFO_RETRY_AFTER, &retry);
	curl_easy_getinfo(handle, CURLINFO_TOTAL_TIME, &a->seconds);
	a->retry_after = retry;
	a->failed = rc != CURLE_OK;
	if (a->failed)
		transfer_error(a, rc, &m);
	curl_easy_setopt(handle, CURLOPT_MIMEPOST, NULL);
	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
done:
	curl_mime_free(mime);
	free_headers(headers);
}

int
post_uses_basic(void)
{
	return basic;
}

/* Before dropping privileges: libcurl's TLS set-up may read system files. */
void
post_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
}

/*
 * basic:USER:KEY from webrelay_auth_file: HTTP Basic instead of the
 * licence.  libcurl keeps copies; ours is wiped.
 */
static int
set_basic_auth(const char *auth)
{
	char	*copy, *key;
	int	 failed;

	copy = xstrdup(auth + 6);
	key = strchr(copy, ':');	/* webrelayd.c made sure there is one */
	*key++ = '\0';
	failed = curl_easy_setopt(handle, CURLOPT_HTTPAUTH,
	    (long)CURLAUTH_BASIC) != CURLE_OK ||
	    curl_easy_setopt(handle, CURLOPT_USERNAME, copy) != CURLE_OK ||
	    curl_easy_setopt(handle, CURLOPT_PASSWORD, key) != CURLE_OK;
	explicit_bzero(copy, strlen(copy) + 1 + strlen(key));
	free(copy);
	return failed ? -1 : 0;
}

/*
 * The settings every post shares; after dropping privileges.  auth is
 * webrelay_auth_file's line, read before, or empty: the licence.
 */
void
post_init(const struct config *conf, const char *auth)
{
	const char	*ca = conf->webrelay_ca_file;

	timeout = conf->webrelay_timeout;
	basic = auth[0] != '\0';
	if ((handle = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	if (curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(handle, CURLOPT_URL, conf->webrelay_url) ||
	    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, timeout) ||
	    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
	    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, timeout) ||
	    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(handle, CURLOPT_USERAGENT, "ferry-webrelayd") ||
	    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, keep_body) ||
	    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, keep_reason))
		fatalx("libcurl refuses the WebSmtp settings");
	/* webrelay_ca_file alone, not the system's CAs besides */
	if (ca[0] != '\0' &&
	    (curl_easy_setopt(handle, CURLOPT_CAINFO, ca) != CURLE_OK ||
	    curl_easy_setopt(handle, CURLOPT_CAPATH, NULL) != CURLE_OK))
		fatalx("libcurl refuses webrelay_ca_file %s", ca);
	if (basic && set_basic_auth(auth) == -1)
		fatalx("libcurl refuses HTTP Basic authentication");
}
