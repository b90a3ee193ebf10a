/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth.c: requests to an OAuth2 token endpoint (oauth.h).
 *
 * Each request is one POST of form fields over HTTPS with libcurl: the
 * server's certificate is verified (against ca_file if set), redirects
 * are not followed, and the answer's body is read up to ANSWER_MAX.
 * Every buffer that held a secret is wiped.  The endpoint is another
 * party: its answer is parsed as untrusted JSON and its texts cleaned
 * before anyone logs them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "oauth.h"
#include "util.h"

#define ANSWER_MAX	65536
#define FORM_MAX	(4 * OAUTH_TOKEN_MAX)
#define REQUEST_TIMEOUT	30	/* seconds for one request */

struct body {
	char	 buf[ANSWER_MAX + 1];
	size_t	 len;
	int	 overflow;
};

static size_t
keep_body(char *data, size_t size, size_t n, void *arg)
{
	struct body	*b = arg;
	size_t		 len = size * n;

	if (len > ANSWER_MAX - b->len) {
		b->overflow = 1;
		return 0;	/* libcurl stops the transfer */
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	return len;
}

/* Append "&name=value", value URL-encoded, to form; -1 if it is full. */
static int
form_add(CURL *h, char *form, const char *name, const char *value)
{
	char	*esc;
	size_t	 len = strlen(form);
	int	 n;

	if (value == NULL)
		return 0;
	if ((esc = curl_easy_escape(h, value, 0)) == NULL)
		return -1;
	n = snprintf(form + len, FORM_MAX - len, "%s%s=%s",
	    len > 0 ? "&" : "", name, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
	return n < 0 || (size_t)n >= FORM_MAX - len ? -1 : 0;
}

/* POST form to url; the answer goes to a, parsed. */
static enum oauth_status
post(const char *url, const char *ca_file, const char *form,
    struct oauth_answer *a)
{
	static struct body	 body;
	char			 err[CURL_ERROR_SIZE] = "";
	CURL			*h;
	CURLcode		 rc;
	long			 status = 0;

	memset(a, 0, sizeof(*a));
	body.len = body.overflow = 0;
	if ((h = curl_easy_init()) == NULL) {
		oauth_answer_set(a, OAUTH_TEMP, "internal", "cannot start libcurl");
		return a->status;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)REQUEST_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "Ferry");
	if (ca_file != NULL && *ca_file != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (body.overflow)
		oauth_answer_set(a, OAUTH_TEMP, "answer-too-long",
		    "the token endpoint's answer is over 64 KiB");
	else if (rc != CURLE_OK)
		oauth_answer_set(a, OAUTH_TEMP, "unreachable",
		    *err != '\0' ? err : curl_easy_strerror(rc));
	else
		oauth_answer_parse(status, body.buf, body.len, a);
	explicit_bzero(body.buf, body.len);
	return a->status;
}

/*
 * The client's own fields: client_id, and client_secret or a client
 * assertion signed now (RFC 7523 2.2) if it has either.
 */
static int
form_client(CURL *h, char *form, const struct credential *c)
{
	char	 assertion[OAUTH_ASSERTION_MAX];
	int	 r;

	if (form_add(h, form, "client_id", c->client_id) == -1)
		return -1;
	if (c->cert == NULL)
		return form_add(h, form, "client_secret", c->client_secret);
	if (oauth_assertion(c, assertion, sizeof(assertion)) == -1)
		return -1;
	r = form_add(h, form, "client_assertion_type",
	    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") == 0 &&
	    form_add(h, form, "client_assertion", assertion) == 0 ? 0 : -1;
	explicit_bzero(assertion, sizeof(assertion));
	return r;
}

/* Build a form with fill(), POST it to url, wipe it. */
static enum oauth_status
request(const char *url, const char *ca_file, struct oauth_answer *a,
    int (*fill)(CURL *, char *, const struct credential *, const char *),
    const struct credential *c, const char *arg)
{
	CURL			*h;
	char			*form;
	enum oauth_status	 st;

	form = xcalloc(1, FORM_MAX);
	if ((h = curl_easy_init()) == NULL || fill(h, form, c, arg) == -1 ||
	    form_client(h, form, c) == -1) {
		memset(a, 0, sizeof(*a));
		oauth_answer_set(a, OAUTH_CONFIG, "too-long",
		    "the credentials do not fit into a request, or the "
		    "client assertion cannot be signed");
		st = a->status;
	} else
		st = post(url, ca_file, form, a);
	if (h != NULL)
		curl_easy_cleanup(h);
	explicit_bzero(form, FORM_MAX);
	free(form);
	return st;
}

static int
fill_grant(CURL *h, char *form, const struct credential *c,
    const char *refresh_token)
{
	if (c->grant == GRANT_CLIENT_CREDENTIALS)
		return form_add(h, form, "grant_type", "client_credentials") ||
		    form_add(h, form, "scope", c->scope) ? -1 : 0;
	return form_add(h, form, "grant_type", "refresh_token") ||
	    form_add(h, form, "refresh_token", refresh_token) ||
	    form_add(h, form, "scope", c->scope) ? -1 : 0;
}

static int
fill_device_start(CURL *h, char *form, const struct credential *c,
    const char *unused)
{
	(void)unused;
	return form_add(h, form, "scope", c->scope);
}

static int
fill_device_poll(CURL *h, char *form, const struct credential *c,
    const char *device_code)
{
	(void)c;
	return form_add(h, form, "grant_type",
	    "urn:ietf:params:oauth:grant-type:device_code") ||
	    form_add(h, form, "device_code", device_code) ? -1 : 0;
}

/* An answer that said OK must carry an access token. */
static enum oauth_status
need_token(struct oauth_answer *a)
{
	if (a->status == OAUTH_OK && a->access_token[0] == '\0')
		oauth_answer_set(a, OAUTH_TEMP, "no-token",
		    "the token endpoint's answer has no usable access_token");
	return a->status;
}

/*
 * An access token by c's grant: with refresh_token (the current one) for
 * the refresh-token grant, by the client's secret for client credentials.
 */
enum oauth_status
oauth_grant(const struct credential *c, const char *refresh_token,
    const char *ca_file, struct oauth_answer *a)
{
	if (c->grant == GRANT_REFRESH_TOKEN &&
	    (refresh_token == NULL || *refresh_token == '\0')) {
		memset(a, 0, sizeof(*a));
		oauth_answer_set(a, OAUTH_CONFIG, "no-refresh-token",
		    "no refresh token yet: run ferryctl oauth login");
		return a->status;
	}
	request(c->token_endpoint, ca_file, a, fill_grant, c, refresh_token);
	return need_token(a);
}

/* RFC 8628 3.1: ask for a device code and the code the user types. */
enum oauth_status
oauth_device_start(const struct credential *c, const char *ca_file,
    struct oauth_answer *a)
{
	if (c->device_endpoint == NULL) {
		memset(a, 0, sizeof(*a));
		oauth_answer_set(a, OAUTH_CONFIG, "no-device-endpoint",
		    "the route has no device_endpoint");
		return a->status;
	}
	request(c->device_endpoint, ca_file, a, fill_device_start, c, NULL);
	if (a->status == OAUTH_OK && (a->device_code[0] == '\0' ||
	    a->user_code[0] == '\0' || a->verification_uri[0] == '\0'))
		oauth_answer_set(a, OAUTH_TEMP, "no-device-code", "the device "
		    "endpoint's answer lacks device_code, user_code or "
		    "verification_uri");
	return a->status;
}

/* RFC 8628 3.4: has the user approved yet? */
enum oauth_status
oauth_device_poll(const struct credential *c, const char *ca_file,
    const char *device_code, struct oauth_answer *a)
{
	request(c->token_endpoint, ca_file, a, fill_device_poll, c,
	    device_code);
	return need_token(a);
}

void
oauth_answer_wipe(struct oauth_answer *a)
{
	explicit_bzero(a, sizeof(*a));
}
