/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_oauth.c: the parsers of OAuth2 logins: relay_auth_file's two forms
 * (common/credentials.c) and what a token endpoint's answers mean
 * (common/oauth_answer.c): tokens, rotation, and which refusals are the
 * admin's to fix.
 */
#include <stdio.h>
#include <string.h>

#include "credentials.h"
#include "oauth.h"
#include "tap.h"

/* Parse text as relay_auth_file; -1 if refused (stderr kept quiet). */
static int
parse(const char *text, struct credentials *creds)
{
	FILE	*fp, *saved = stderr;
	int	 r;

	must((fp = fmemopen((void *)text, strlen(text), "r")) != NULL,
	    "fmemopen");
	stderr = fopen("/dev/null", "w");
	r = credentials_parse("auth", fp, creds);
	fclose(stderr);
	stderr = saved;
	fclose(fp);
	return r;
}

static void
test_credentials(void)
{
	struct credentials	 c;
	const struct credential	*a;

	ok(parse("alice pass with blanks\n", &c) == 0 && c.n == 1 &&
	    c.v[0].route == NULL && strcmp(c.v[0].password,
	    "pass with blanks") == 0, "the old form: one password, all routes");
	ok(credentials_find(&c, "smtp:[x]:25") == &c.v[0],
	    "the old form is found for any route");
	credentials_free(&c);
	ok(parse("# M365\nroute smtp:[smtp.office365.com]:587\n"
	    "user a@example.com\noauth xoauth2\n"
	    "token_endpoint https://login.example/token\nclient_id id\n"
	    "scope s1 s2  \n\nroute smtp:[isp.example]:25\nuser b\n"
	    "password p w\n", &c) == 0 && c.n == 2, "two stanzas");
	a = credentials_find(&c, "smtp:[smtp.office365.com]:587");
	ok(a != NULL && a->kind == CRED_OAUTH && a->mech == MECH_XOAUTH2 &&
	    a->grant == GRANT_REFRESH_TOKEN && strcmp(a->scope, "s1 s2") == 0,
	    "an OAuth2 stanza, trailing blanks dropped");
	a = credentials_find(&c, "smtp:[isp.example]:25");
	ok(a != NULL && a->kind == CRED_PASSWORD &&
	    strcmp(a->password, "p w") == 0, "a password stanza");
	ok(credentials_find(&c, "smtp:[other]:25") == NULL,
	    "no login for another route");
	credentials_forget_oauth(&c);
	ok(c.v[0].client_secret == NULL && c.v[0].refresh_token == NULL &&
	    c.v[0].user != NULL, "forgetting keeps the user");
	credentials_free(&c);
	ok(parse("route smtp:[a]:25\nuser u\noauth xoauth2\n"
	    "token_endpoint http://a/token\nclient_id i\n", &c) == -1,
	    "a token endpoint over http is refused");
	ok(parse("route smtp:[a]:25\nuser u\npassword p\noauth auto\n"
	    "token_endpoint https://a/t\nclient_id i\n", &c) == -1,
	    "password and oauth at once are refused");
	ok(parse("route mx\nuser u\npassword p\n", &c) == -1,
	    "a login for mx is refused");
	ok(parse("route smtp:[a]:25\nuser u\npassword p\n"
	    "client_key /etc/ferry/k\n", &c) == -1,
	    "an OAuth2 key in a password stanza is refused");
	ok(parse("route smtp:[a]:25\nuser u\npassword p\n"
	    "grant client_credentials\n", &c) == -1,
	    "a grant in a password stanza is refused");
	ok(parse("route smtp:[a]:25\nuser u\noauth auto\n"
	    "token_endpoint https://a/t\nclient_id i\n"
	    "grant client_credentials\n", &c) == -1,
	    "client_credentials without a secret is refused");
	ok(parse("user u\n#\nroute smtp:[a]:25\n", &c) == -1,
	    "the old form's line must come alone");
	ok(parse("# c\nuser u\n", &c) == -1, "a key before any route");
}

static void
test_answers(void)
{
	static struct oauth_answer	 a;
	const char			*ok200 = "{\"access_token\":\"eyJ.a-b_c\","
	    "\"expires_in\":\"3599\",\"refresh_token\":\"0.R2\"}\n";
	const char			*bad = "{\"access_token\":\"a b\"}";
	const char			*grant = "{\"error\":\"invalid_grant\","
	    "\"error_description\":\"AADSTS70008: expired\\u0007\"}";

	oauth_answer_parse(200, ok200, strlen(ok200), &a);
	ok(a.status == OAUTH_OK && strcmp(a.access_token, "eyJ.a-b_c") == 0 &&
	    a.expires_in == 3599 && strcmp(a.refresh_token, "0.R2") == 0,
	    "a token, its lifetime as a string, a rotated refresh token");
	oauth_answer_parse(200, bad, strlen(bad), &a);
	ok(a.status == OAUTH_OK && a.access_token[0] == '\0',
	    "a token with a blank is not kept");
	oauth_answer_parse(400, grant, strlen(grant), &a);
	ok(a.status == OAUTH_CONFIG && strcmp(a.error, "invalid_grant") == 0 &&
	    strcmp(a.text, "AADSTS70008: expired?") == 0,
	    "invalid_grant is the admin's; control characters cleaned");
	oauth_answer_parse(400, "{\"error\":\"authorization_pending\"}", 33,
	    &a);
	ok(a.status == OAUTH_PENDING, "authorization_pending");
	oauth_answer_parse(400, "{\"error\":\"slow_down\"}", 21, &a);
	ok(a.status == OAUTH_SLOW_DOWN, "slow_down");
	oauth_answer_parse(503, "<html>busy</html>", 17, &a);
	ok(a.status == OAUTH_TEMP && strcmp(a.error, "http-503") == 0,
	    "a 503 without JSON is temporary");
	oauth_answer_parse(401, "", 0, &a);
	ok(a.status == OAUTH_CONFIG, "a bare 401 is the admin's");
	oauth_answer_parse(200, "{\"access_token\":\"x\"} junk", 26, &a);
	ok(a.status == OAUTH_TEMP, "junk after the JSON is refused");
}

int
main(void)
{
	test_credentials();
	test_answers();
	return tap_done();
}
