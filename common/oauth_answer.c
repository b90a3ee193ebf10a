/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth_answer.c: what a token endpoint's answer means (oauth.h).
 *
 * RFC 6749 5.1 and 5.2, RFC 8628 3.2 and 3.5.  The body is another
 * party's bytes: it is parsed as JSON of bounded length, a token is kept
 * only if it is made of the characters RFC 6750 allows, and texts keep
 * printable ASCII only, so that they can be logged as they are.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "oauth.h"
#include "util.h"

/* Error codes after which only the admin can help (RFC 6749 5.2, 8628). */
static const char *const config_errors[] = {
	"invalid_grant", "invalid_client", "unauthorized_client",
	"invalid_scope", "invalid_request", "unsupported_grant_type",
	"access_denied", "expired_token"
};

void
oauth_answer_set(struct oauth_answer *a, enum oauth_status status,
    const char *error, const char *text)
{
	a->status = status;
	strlcpy(a->error, error, sizeof(a->error));
	strlcpy(a->text, text, sizeof(a->text));
}

/* Printable ASCII only, control characters and the rest as '?'. */
static void
clean_text(char *dst, size_t size, const char *src)
{
	size_t	 i;

	for (i = 0; src[i] != '\0' && i < size - 1; i++)
		dst[i] = src[i] >= ' ' && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static const char *
get_string(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A number, or a string of digits (some servers send "3600"). */
static long long
get_seconds(struct json_object *o, const char *key, long long dflt)
{
	struct json_object	*v;
	const char		*s;
	char			*end;
	long long		 n;

	if (!json_object_object_get_ex(o, key, &v))
		return dflt;
	if (json_object_is_type(v, json_type_int))
		n = json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0')
			return dflt;
	} else
		return dflt;
	return n < 0 ? dflt : n;
}

/*
 * Copy a token if it has only RFC 6750's b64token characters (access
 * tokens) or visible ASCII (refresh tokens, device codes: RFC 6749 A).
 */
static int
get_token(struct json_object *o, const char *key, char *dst, size_t size,
    int strict)
{
	const char	*s = get_string(o, key);
	size_t		 i;

	if (s == NULL || *s == '\0' || strlen(s) >= size)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (strict ? !(isalnum((unsigned char)s[i]) ||
		    strchr("-._~+/=", s[i]) != NULL) :
		    !(s[i] > ' ' && s[i] < 0x7f))
			return -1;
	}
	memcpy(dst, s, i + 1);
	return 0;
}

/* Only blanks after the JSON text? */
static int
rest_is_blank(const char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)p[i]))
			return 0;
	return 1;
}

static void
parse_error_answer(long http, struct json_object *o, struct oauth_answer *a)
{
	const char	*error = o != NULL ? get_string(o, "error") : NULL;
	const char	*desc = o != NULL ? get_string(o, "error_description") :
			    NULL;
	char		 code[64], text[OAUTH_TEXT_MAX];
	size_t		 i;

	if (error == NULL) {
		snprintf(code, sizeof(code), "http-%ld", http);
		snprintf(text, sizeof(text), "the token endpoint answered "
		    "HTTP %ld", http);
		/* 400 and 401 are about the request: ours to fix */
		oauth_answer_set(a, http == 400 || http == 401 ? OAUTH_CONFIG :
		    OAUTH_TEMP, code, text);
		return;
	}
	clean_text(code, sizeof(code), error);
	clean_text(text, sizeof(text), desc != NULL ? desc : error);
	oauth_answer_set(a, OAUTH_TEMP, code, text);
	if (strcmp(code, "authorization_pending") == 0)
		a->status = OAUTH_PENDING;
	else if (strcmp(code, "slow_down") == 0)
		a->status = OAUTH_SLOW_DOWN;
	for (i = 0; i < sizeof(config_errors) / sizeof(config_errors[0]); i++)
		if (strcmp(code, config_errors[i]) == 0)
			a->status = OAUTH_CONFIG;
}

static void
parse_success(struct json_object *o, struct oauth_answer *a)
{
	const char	*uri;

	oauth_answer_set(a, OAUTH_OK, "", "");
	if (get_token(o, "access_token", a->access_token,
	    sizeof(a->access_token), 1) == -1)
		a->access_token[0] = '\0';
	if (get_token(o, "refresh_token", a->refresh_token,
	    sizeof(a->refresh_token), 0) == -1)
		a->refresh_token[0] = '\0';
	a->expires_in = get_seconds(o, "expires_in", 3600);
	if (get_token(o, "device_code", a->device_code,
	    sizeof(a->device_code), 0) == -1)
		a->device_code[0] = '\0';
	if (get_token(o, "user_code", a->user_code, sizeof(a->user_code),
	    0) == -1)
		a->user_code[0] = '\0';
	/* Google says verification_url, RFC 8628 verification_uri */
	if ((uri = get_string(o, "verification_uri")) == NULL)
		uri = get_string(o, "verification_url");
	if (uri != NULL && strncmp(uri, "https://", 8) == 0)
		clean_text(a->verification_uri, sizeof(a->verification_uri),
		    uri);
	a->interval = get_seconds(o, "interval", 5);
}

/* The answer of HTTP status http with body[0..len) into a. */
void
oauth_answer_parse(long http, const char *body, size_t len,
    struct oauth_answer *a)
{
	struct json_tokener	*tok;
	struct json_object	*o = NULL;

	if ((tok = json_tokener_new()) == NULL) {
		oauth_answer_set(a, OAUTH_TEMP, "internal", "out of memory");
		return;
	}
	if (len <= INT32_MAX)
		o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    !rest_is_blank(body + json_tokener_get_parse_end(tok),
	    len - json_tokener_get_parse_end(tok)) ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (http == 200 && o != NULL)
		parse_success(o, a);
	else if (http == 200)
		oauth_answer_set(a, OAUTH_TEMP, "bad-answer",
		    "the token endpoint's answer is not a JSON object");
	else
		parse_error_answer(http, o, a);
	if (o != NULL)
		json_object_put(o);
}
