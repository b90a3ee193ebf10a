/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_config.c: ferry.conf parsing: values, defaults, and a
 * "file:line: problem" message for every kind of bad line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char	 conf_path[] = "/tmp/ferry-test-conf-XXXXXX";
static char	 errors[4096];

/* Load text as a config file; the messages it printed land in errors. */
static int
load(struct config *conf, const char *text)
{
	FILE	*fp, *err;
	int	 saved, r;
	size_t	 n;

	if ((fp = fopen(conf_path, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
	fflush(stderr);
	saved = dup(2);
	err = tmpfile();
	dup2(fileno(err), 2);
	r = config_load(conf, conf_path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(err);
	n = fread(errors, 1, sizeof(errors) - 1, err);
	errors[n] = '\0';
	errors[strcspn(errors, "\n")] = '\0';	/* first message, one TAP line */
	fclose(err);
	return r;
}

/* The message must start with "path:line: " and mention what. */
static int
error_is(int line, const char *what)
{
	char	 prefix[128];

	snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	return strncmp(errors, prefix, strlen(prefix)) == 0 &&
	    strstr(errors, what) != NULL;
}

static void
test_values(void)
{
	struct config	 c;

	ok(load(&c, "# comment\n\nqueue_directory = /srv/q\n"
	    "max_message_size = 10M\nretry_min = 90s\nretry_max=2h\n"
	    "log_syslog = yes\nmyhostname = mx.example.org\n") == 0,
	    "valid file loads");
	ok(strcmp(c.queue_directory, "/srv/q") == 0, "path value");
	ok(c.max_message_size == 10 * 1024 * 1024, "size with M suffix");
	ok(c.retry_min == 90 && c.retry_max == 7200, "durations");
	ok(c.log_syslog == 1, "bool");
	ok(strcmp(c.myorigin, "mx.example.org") == 0,
	    "myorigin defaults to myhostname");
	ok(c.queue_lifetime == 5 * 86400, "default queue_lifetime is 5d");
	config_free(&c);
}

static void
test_errors(void)
{
	struct config	 c;

	ok(load(&c, "\nfrobnicate = 1\n") == -1 && error_is(2, "unknown key"),
	    "unknown key: %s", errors);
	ok(load(&c, "max_message_size = 10X\n") == -1 &&
	    error_is(1, "bad unit"), "bad size unit: %s", errors);
	ok(load(&c, "retry_min = soon\n") == -1 &&
	    error_is(1, "not a number"), "bad duration: %s", errors);
	ok(load(&c, "log_syslog = maybe\n") == -1 &&
	    error_is(1, "yes or no"), "bad bool: %s", errors);
	ok(load(&c, "queue_directory\n") == -1 &&
	    error_is(1, "key = value"), "missing '=': %s", errors);
	ok(load(&c, "max_recipients = 5\nmax_recipients = 6\n") == -1 &&
	    error_is(2, "twice"), "duplicate key: %s", errors);
	ok(load(&c, "queue_directory = spool\n") == -1 &&
	    error_is(1, "absolute path"), "relative path: %s", errors);
	ok(load(&c, "max_recipients = 0\n") == -1 &&
	    error_is(1, "out of range 1.."), "below the minimum: %s", errors);
	ok(load(&c, "max_message_size = 99999999999999999999\n") == -1 &&
	    error_is(1, "too large"), "overflow: %s", errors);
	ok(load(&c, "max_message_size = 9000000000000G\n") == -1 &&
	    error_is(1, "too large"), "overflow after the unit: %s", errors);
	ok(load(&c, "retry_min = 2h\nretry_max = 1h\n") == -1 &&
	    strstr(errors, "retry_min is larger") != NULL,
	    "retry_min above retry_max: %s", errors);
	ok(load(&c, "a = 1\nb = 2\n") == -1 && error_is(1, "unknown key"),
	    "first of two bad lines: %s", errors);
}

int
main(void)
{
	int	 fd;

	if ((fd = mkstemp(conf_path)) == -1)
		abort();
	close(fd);
	test_values();
	test_errors();
	unlink(conf_path);
	return tap_done();
}
