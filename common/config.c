/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * config.c: parse and validate ferry.conf.
 *
 * Syntax: "key = value" lines, '#' starts a comment line, blank lines are
 * ignored.  Every error is reported on stderr as "file:line: message" and
 * makes config_load() fail; the caller exits with EX_CONFIG.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "netaddr.h"
#include "route.h"
#include "util.h"

#define KEY(n, t, d, m, h) \
	{ #n, t, offsetof(struct config, n), d, m, 0, h, NULL }
#define NUM(n, t, d, lo, hi, h) \
	{ #n, t, offsetof(struct config, n), d, lo, hi, h, NULL }
#define CHOICE(n, d, c, h) \
	{ #n, CONF_CHOICE, offsetof(struct config, n), d, 0, 0, h, c }

/*
 * Maxima keep every use safe: durations fit an int of milliseconds
 * (timers) and added to time_t never overflow; sizes and counts fit an
 * int.
 */
#define HOUR	3600LL
#define DAY	86400LL

const struct config_key config_keys[] = {
	KEY(queue_directory, CONF_PATH, "/var/spool/ferry", 0,
	    "Spool directory owned by queued (q/ holds messages and "
	    "envelopes, corrupt/ what could not be read)."),
	KEY(run_directory, CONF_PATH, "/run/ferry", 0,
	    "Sockets and pidfiles of the daemons."),
	KEY(log_directory, CONF_PATH, "/var/log/ferry", 0,
	    "One log file per daemon (queued.log, ...); reopened on SIGHUP."),
	KEY(log_syslog, CONF_BOOL, "no", 0,
	    "Also send every log line to syslog (facility mail)."),
	KEY(myhostname, CONF_STRING, "", 0,
	    "This host's name, used in Received and Message-ID headers. "
	    "Empty: the system host name."),
	KEY(myorigin, CONF_STRING, "", 0,
	    "Domain appended to local user names in sender addresses. "
	    "Empty: myhostname."),
	NUM(max_message_size, CONF_SIZE, "50M", 1024, 1024LL * 1024 * 1024,
	    "Largest message accepted, headers included."),
	NUM(max_recipients, CONF_NUMBER, "1000", 1, 100000,
	    "Most recipients of one message."),
	NUM(queue_min_free, CONF_SIZE, "100M", 0,
	    1024LL * 1024 * 1024 * 1024 * 1024,
	    "Refuse new messages (temporary failure) when the spool's file "
	    "system has less free space than this."),
	NUM(retry_min, CONF_DURATION, "5m", 1, 7 * DAY,
	    "Shortest wait before retrying a deferred recipient."),
	NUM(retry_max, CONF_DURATION, "1h", 1, 7 * DAY,
	    "Longest wait between retries; the wait grows with the "
	    "message's age between retry_min and retry_max."),
	NUM(queue_lifetime, CONF_DURATION, "5d", 1, 60 * DAY,
	    "After this long in the queue, undelivered recipients fail."),
	NUM(bounce_lifetime, CONF_DURATION, "2d", 1, 60 * DAY,
	    "queue_lifetime for messages with the null sender (bounces)."),
	KEY(queue_user, CONF_USER, "ferry-queue", 0,
	    "User queued runs as when started as root."),
	KEY(relay_user, CONF_USER, "ferry-relay", 0,
	    "User relayd runs as when started as root; it owns the Maildirs "
	    "relayd delivers to."),
	KEY(routes_file, CONF_OPTPATH, "", 0,
	    "Routing table: \"domain route\" lines, '#' comments; the "
	    "first exact domain match wins, then default_route. A route is "
	    "smtp:[host]:port (a smarthost, no MX lookup), smtp:host:port "
	    "(the host's MX), mx (the recipient domain's MX) or "
	    "maildir:/path/%u/Maildir (%u is the local part). Empty: none."),
	KEY(default_route, CONF_ROUTE, "mx", 0,
	    "Route for domains the routes_file does not name."),
	CHOICE(relay_tls, "may", "none may encrypt verify",
	    "TLS for outgoing SMTP: none, may (STARTTLS when offered, "
	    "unverified), encrypt (STARTTLS required, unverified) or verify "
	    "(STARTTLS required, certificate and host name verified)."),
	KEY(relay_tls_ca_file, CONF_OPTPATH, "", 0,
	    "CA certificates for relay_tls = verify. Empty: the system's."),
	KEY(relay_auth_file, CONF_OPTPATH, "", 0,
	    "Logins at smarthosts: one line \"user password\" for every "
	    "route, or a \"route ROUTE\" stanza per smarthost with a "
	    "password or OAuth2 (XOAUTH2, OAUTHBEARER) credentials; see "
	    "ferry-relayd(8). Read as root before relayd drops privileges; "
	    "refused if others may read or write it: make it 0600. Empty: "
	    "no AUTH."),
	KEY(relay_state_directory, CONF_PATH, "/var/lib/ferry-relay", 0,
	    "relayd's own state: the OAuth2 tokens of each route "
	    "(oauth-ROUTE, 0600). relayd makes it, owned by relay_user."),
	KEY(relay_oauth_ca_file, CONF_OPTPATH, "", 0,
	    "CA certificates to verify OAuth2 token endpoints with. Empty: "
	    "the system's."),
	NUM(relay_oauth_refresh_ahead, CONF_DURATION, "5m", 1, HOUR,
	    "Refresh an OAuth2 access token this long before it expires "
	    "(at most half its life), without waiting for mail."),
	KEY(relay_helo_name, CONF_STRING, "", 0,
	    "Name relayd gives in EHLO. Empty: myhostname."),
	NUM(relay_mx_port, CONF_NUMBER, "25", 1, 65535,
	    "Port of MX hosts (25; tests point it elsewhere)."),
	NUM(relay_max_processes, CONF_NUMBER, "20", 1, 1000,
	    "Most delivery processes relayd runs at once."),
	NUM(relay_destination_concurrency, CONF_NUMBER, "5", 1, 1000,
	    "Most connections to one destination (MX domain or smarthost)."),
	NUM(relay_connect_timeout, CONF_DURATION, "30s", 1, HOUR,
	    "Time to connect to a remote SMTP server."),
	NUM(relay_command_timeout, CONF_DURATION, "5m", 1, HOUR,
	    "Time to wait for the greeting or a reply to a command "
	    "(RFC 5321 section 4.5.3.2)."),
	NUM(relay_data_timeout, CONF_DURATION, "10m", 1, HOUR,
	    "Time to send one block of message data, and to wait for the "
	    "reply after the final dot."),
	NUM(relay_idle_timeout, CONF_DURATION, "5s", 1, HOUR,
	    "How long an open connection waits for another message to the "
	    "same destination before QUIT."),
	NUM(delay_warning_time, CONF_DURATION, "0", 0, 60 * DAY,
	    "Tell the sender once when a message has been undelivered this "
	    "long. 0: never."),
	KEY(smtpd_user, CONF_USER, "ferry-smtpd", 0,
	    "User smtpd runs as when started as root."),
	KEY(smtp_listen, CONF_LISTEN, "0.0.0.0:25 [::]:25", 0,
	    "SMTP listeners (address:port, IPv6 in brackets), STARTTLS "
	    "offered when a certificate is set. Empty: none."),
	KEY(submission_listen, CONF_LISTEN, "", 0,
	    "Submission listeners (587): like SMTP, but MAIL needs AUTH."),
	KEY(smtps_listen, CONF_LISTEN, "", 0,
	    "Implicit-TLS submission listeners (465, RFC 8314); MAIL needs "
	    "AUTH. Need smtpd_tls_cert_file."),
	KEY(smtpd_tls_cert_file, CONF_OPTPATH, "", 0,
	    "PEM certificate chain for STARTTLS and implicit TLS. Empty: no "
	    "TLS."),
	KEY(smtpd_tls_key_file, CONF_OPTPATH, "", 0,
	    "PEM private key of smtpd_tls_cert_file (read as root)."),
	KEY(accepted_domains, CONF_DOMAINS, "", 0,
	    "Domains whose mail this host accepts from anyone. Empty: "
	    "myhostname and localhost."),
	KEY(mydestination, CONF_DOMAINS, "$myhostname localhost", 0,
	    "Local domains: their mail goes to locald, which delivers it to "
	    "the host's users through alias_file and ~/.forward, and smtpd "
	    "accepts a recipient of them only if it is a user or an alias. "
	    "$myhostname stands for myhostname; routes_file does not apply "
	    "to these domains. Empty: none."),
	CHOICE(local_recipient_reject_code, "550", "550 450",
	    "Reply to RCPT for an unknown user of mydestination: 550, or 450 "
	    "while testing a new set-up."),
	CHOICE(recipient_delimiter, "+", "+ - none",
	    "Separates a local part from its extension: user+ext is looked "
	    "up as is, then as user. none: no extensions."),
	KEY(alias_file, CONF_OPTPATH, "/etc/aliases", 0,
	    "The aliases(5) table, in its text form, read by locald as root; "
	    "newaliases checks it, ferryctl reload rereads it. Empty: no "
	    "aliases."),
	CHOICE(local_mailbox, "mbox", "mbox maildir",
	    "Where locald puts a user's mail: mbox (mail_spool_directory/USER, "
	    "locked with fcntl, then a dotlock) or maildir (~/Maildir/)."),
	KEY(mail_spool_directory, CONF_PATH, "/var/mail", 0,
	    "Directory of the users' mbox files (local_mailbox = mbox)."),
	KEY(local_alias_user, CONF_USER, "ferry-mda", 0,
	    "User that |command and /file targets of alias_file run as "
	    "(never root); a ~/.forward's run as its owner."),
	KEY(local_include_commands, CONF_BOOL, "no", 0,
	    "Allow |command and /file targets inside :include: files."),
	NUM(local_command_timeout, CONF_DURATION, "10m", 1, HOUR,
	    "Time a |command delivery may take; then it is killed and the "
	    "recipient deferred."),
	NUM(local_max_processes, CONF_NUMBER, "20", 1, 1000,
	    "Most local deliveries locald runs at once."),
	KEY(recipients_file, CONF_OPTPATH, "", 0,
	    "Valid recipients of accepted_domains, one per line: "
	    "user@domain, or @domain for every address of a domain. Empty: "
	    "every address of accepted_domains is valid."),
	KEY(smtpd_users_file, CONF_OPTPATH, "", 0,
	    "AUTH users, \"name:crypt-hash\" lines (ferryctl passwd). Empty: "
	    "no AUTH."),
	KEY(mynetworks, CONF_NETWORKS, "127.0.0.0/8 [::1]/128", 0,
	    "Networks whose clients may relay to any domain on the SMTP "
	    "listeners without AUTH."),
	CHOICE(smtpd_auth_plaintext, "no", "no loopback yes",
	    "Offer AUTH without TLS: no (only after STARTTLS), loopback (also "
	    "to loopback clients; not behind a local proxy), yes (to all)."),
	CHOICE(smtpd_sender_policy, "login", "login any",
	    "login: an authenticated user may only use the sender <login> or "
	    "<login@accepted domain> (or <>); any: any sender."),
	CHOICE(smtpd_bare_lf, "reject", "reject normalize",
	    "A bare CR or LF in a message: reject ends the session with 521; "
	    "normalize turns it into CRLF. Only CRLF.CRLF ends DATA either "
	    "way."),
	KEY(smtpd_vrfy, CONF_BOOL, "no", 0,
	    "Answer VRFY from the recipient table (no: 252 for all)."),
	NUM(smtpd_max_sessions, CONF_NUMBER, "2000", 1, 100000,
	    "Concurrent SMTP sessions; more get 421."),
	NUM(smtpd_max_sessions_per_ip, CONF_NUMBER, "50", 1, 100000,
	    "Concurrent SMTP sessions from one client address; more get 421."),
	NUM(smtpd_timeout, CONF_DURATION, "5m", 1, HOUR,
	    "Idle time allowed while smtpd waits for a command or data."),
	NUM(smtpd_queue_wait, CONF_DURATION, "2m", 1, HOUR,
	    "How long smtpd waits for queued to create or commit a message "
	    "before saying 451."),
	NUM(smtpd_max_errors, CONF_NUMBER, "10", 1, 1000,
	    "Errors in one session before smtpd says 421 and disconnects."),
	NUM(smtpd_auth_failure_delay, CONF_DURATION, "2s", 0, 60,
	    "Delay before answering a failed AUTH, times the session's "
	    "failures so far."),
	NUM(smtpd_auth_max_failures, CONF_NUMBER, "3", 1, 100,
	    "Failed AUTHs in one session before disconnecting it."),
	NUM(smtpd_auth_ip_max_failures, CONF_NUMBER, "10", 1, 10000,
	    "Failed AUTHs from one client address within an hour before "
	    "its AUTH is refused outright (454) until the hour is over."),
	KEY(delegate_user, CONF_USER, "ferry-deleg", 0,
	    "User delegated runs as when started as root."),
	KEY(delegate_servers, CONF_SERVERS, "", 0,
	    "Delegate SMTP servers, host[:port] (default port 25), tried in "
	    "order. Empty: no delegate."),
	CHOICE(delegate_tls, "verify", "none may encrypt verify",
	    "STARTTLS to the delegate: never; when offered; required; "
	    "required with the certificate and host name verified."),
	KEY(delegate_tls_ca_file, CONF_OPTPATH, "", 0,
	    "CA certificates for delegate_tls = verify. Empty: the system's."),
	KEY(delegate_auth, CONF_DOMAINS, "", 0,
	    "Domains (of accepted_domains) whose users' AUTH credentials the "
	    "delegate checks, unless smtpd_users_file has the user. A user "
	    "name without @ belongs to delegate_login_domain."),
	KEY(delegate_recipients, CONF_DOMAINS, "", 0,
	    "Domains whose recipients the delegate must accept (unless the "
	    "recipients table lists them)."),
	CHOICE(delegate_login_form, "as-given", "as-given local-part "
	    "add-domain", "The user name sent to the delegate: as the client "
	    "gave it, its local part, or with @delegate_login_domain added."),
	KEY(delegate_login_domain, CONF_STRING, "", 0,
	    "The domain of user names without @ (delegate_auth, and what "
	    "delegate_login_form = add-domain adds). Empty: the first of "
	    "accepted_domains."),
	KEY(delegate_probe_sender, CONF_SENDER, "", 0,
	    "MAIL FROM of recipient probes: an address, \"null\" for <>, or "
	    "\"sender\" for the client's own. Empty: postmaster@ the first "
	    "of accepted_domains."),
	CHOICE(delegate_reject_text, "fixed", "fixed pass",
	    "What smtpd says for a recipient the delegate refuses: \"550 "
	    "5.1.1 User unknown\", or the delegate's own text."),
	NUM(delegate_connections, CONF_NUMBER, "2", 1, DELEGATE_MAX_CONNECTIONS,
	    "Connections to the delegates at most."),
	NUM(delegate_rate, CONF_NUMBER, "5", 1, 10000,
	    "Probes per second at most (a token bucket)."),
	NUM(delegate_wait, CONF_DURATION, "10s", 1, HOUR,
	    "How long smtpd waits for an answer before saying 4xx; the probe "
	    "goes on and fills the cache."),
	NUM(delegate_timeout, CONF_DURATION, "30s", 1, HOUR,
	    "Timeout for connecting and for each reply of the delegate."),
	NUM(delegate_dead_time, CONF_DURATION, "5m", 1, DAY,
	    "A delegate that cannot be reached is skipped this long."),
	NUM(delegate_positive_ttl, CONF_DURATION, "7d", 1, 365 * DAY,
	    "How long a recipient the delegate accepted stays cached."),
	NUM(delegate_negative_ttl, CONF_DURATION, "1h", 1, 365 * DAY,
	    "How long a recipient the delegate refused stays cached."),
	NUM(delegate_auth_ttl, CONF_DURATION, "5m", 0, DAY,
	    "How long good credentials stay cached (in memory, as an HMAC). "
	    "0: not at all."),
	KEY(delegate_selfcheck, CONF_BOOL, "yes", 0,
	    "At start and daily, probe a made-up address of each "
	    "delegate_recipients domain, to find a delegate that accepts "
	    "anything."),
	NUM(delegate_auth_max_failures, CONF_NUMBER, "3", 1, 1000,
	    "Failed AUTHs for one user at the delegate within 15 minutes "
	    "after which that user is refused here without asking (the "
	    "delegate may lock the account)."),
	KEY(delegate_cache_file, CONF_OPTPATH, "/var/lib/ferry/delegate.cache",
	    0, "Where delegated keeps recipient answers across restarts. "
	    "Empty: memory only."),
	KEY(license_user, CONF_USER, "ferry-lic", 0,
	    "User licensed runs as when started as root."),
	KEY(license_files, CONF_PATHS, "", 0,
	    "Licence files (readable by license_user); the valid one that "
	    "runs longest counts, so a renewal can be installed early. Empty: "
	    "no licence, and licensed is not started."),
	KEY(license_public_key, CONF_PATH, "/etc/ferry/license.pub", 0,
	    "The vendor's Ed25519 public key (PEM) that signs licences."),
	KEY(webrelay, CONF_BOOL, "yes", 0,
	    "WebSmtp: when the SMTP route is unreachable or refuses to relay, "
	    "post the message over HTTPS to webrelay_url, if the licence has "
	    "the webrelay feature. no: never."),
	KEY(webrelay_url, CONF_URL, "", 0,
	    "The WebSmtp service (https:// only). Empty: no WebSmtp."),
	KEY(webrelay_ca_file, CONF_OPTPATH, "", 0,
	    "CA certificates (PEM) the service's certificate is checked "
	    "against. Empty: the system's."),
	KEY(webrelay_auth_file, CONF_OPTPATH, "", 0,
	    "File holding one line basic:USER:KEY: HTTP Basic credentials "
	    "sent instead of the licence (a Mailgun-style messages.mime "
	    "endpoint). Read as root before webrelayd drops privileges; "
	    "refused if others may read or write it (make it 0600). Empty: "
	    "the licence."),
	NUM(webrelay_timeout, CONF_DURATION, "60s", 1, HOUR,
	    "Time to connect, and the longest silence while posting; the "
	    "whole post may take this plus 1 s per 32 KiB of message."),
	KEY(webrelay_user, CONF_USER, "ferry-web", 0,
	    "User webrelayd runs as when started as root."),
};

/* Keys that are gone, with what to do instead (after "NAME moved to"). */
static const struct {
	const char	*name;
	const char	*hint;
} retired_keys[] = {
	{ "webrelay_auth", "webrelay_auth_file (a root-read file): put "
	    "basic:USER:KEY in a file of mode 0600, name it there and remove "
	    "this line" },
};

#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))
const size_t config_nkeys = CONFIG_NKEYS;
#define CONFIG_NRETIRED	(sizeof(retired_keys) / sizeof(retired_keys[0]))
#define CONFIG_LINE_MAX	1024

static const struct config_key *
config_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static const char *
config_retired(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NRETIRED; i++)
		if (strcmp(retired_keys[i].name, name) == 0)
			return retired_keys[i].hint;
	return NULL;
}

/* Parse "123", "10k", "5m"...: multiply by the unit the suffix names. */
static int
parse_scaled(const char *v, const char *units, const long long *scale,
    long long min, long long max, long long *out, const char **why)
{
	static char	 msg[64];
	char		*end;
	long long	 n, mult = 1;
	const char	*u;

	if (!isdigit((unsigned char)*v)) {
		*why = "not a number";
		return -1;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == ERANGE) {
		*why = "number too large";
		return -1;
	}
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL) {
			*why = "bad unit";
			return -1;
		}
		mult = scale[u - units];
	}
	if (n > LLONG_MAX / mult) {
		*why = "number too large";
		return -1;
	}
	if (n * mult < min || n * mult > max) {
		snprintf(msg, sizeof(msg), "value out of range %lld..%lld",
		    min, max);
		*why = msg;
		return -1;
	}
	*out = n * mult;
	return 0;
}

/*
 * A domain or host name is valid if an address in it is: the one rule for
 * myhostname and for the domain lists built from it.
 */
static int
valid_domain(const char *name)
{
	struct mailaddr	 ma;
	char		 probe[260];
	const char	*why;

	if (name[0] == '[' || snprintf(probe, sizeof(probe), "x@%s", name) >=
	    (int)sizeof(probe))
		return 0;
	return addr_parse(probe, 0, &ma, &why) == 0;
}

static int
valid_choice(const char *choices, const char *v, const char **why)
{
	static char	 msg[128];
	char		 word[32];

	while (word_next(&choices, word, sizeof(word)) == 1)
		if (strcmp(word, v) == 0)
			return 1;
	snprintf(msg, sizeof(msg), "must be one of: %s", choices);
	*why = msg;
	return 0;
}

static int
valid_list(enum config_type type, const char *v, const char **why)
{
	struct sockaddr_storage	 ss;
	struct netmask		 nm;
	socklen_t		 len;
	char			 word[256], probe[260];
	int			 r, port;

	while ((r = word_next(&v, word, sizeof(word))) != 0) {
		if (r == -1)
			goto bad;
		switch (type) {
		case CONF_LISTEN:
			if (listen_parse(word, &ss, &len) == -1)
				goto bad;
			break;
		case CONF_NETWORKS:
			if (netmask_parse(word, &nm) == -1)
				goto bad;
			break;
		case CONF_SERVERS:
			if (hostport_parse(word, probe, sizeof(probe), 25,
			    &port) == -1)
				goto bad;
			break;
		case CONF_PATHS:
			if (word[0] != '/')
				goto bad;
			break;
		default:
			/* "$myhostname", filled in by config_finish() */
			if (strcmp(word, "$myhostname") != 0 &&
			    !valid_domain(word))
				goto bad;
			break;
		}
	}
	return 1;
bad:
	*why = type == CONF_LISTEN ? "expected address:port ..." :
	    type == CONF_NETWORKS ? "expected networks (10.0.0.0/8 ...)" :
	    type == CONF_SERVERS ? "expected host[:port] ..." :
	    type == CONF_PATHS ? "expected absolute paths" :
	    "expected domain names";
	return 0;
}

/* https://HOST[...]: printable, no blanks, a host before any path. */
static int
valid_url(const char *v)
{
	const char	*p;

	if (strncasecmp(v, "https://", 8) != 0 || strlen(v) > 2000 ||
	    v[8] == '\0' || v[8] == '/')
		return 0;
	for (p = v; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int
config_set(struct config *conf, const struct config_key *key, const char *v,
    const char **why)
{
	static const char	 size_units[] = "kMG";
	static const long long	 size_scale[] = { 1024LL, 1024LL * 1024,
	    1024LL * 1024 * 1024 };
	static const char	 time_units[] = "smhdw";
	static const long long	 time_scale[] = { 1, 60, 3600, 86400,
	    7 * 86400 };
	struct mailaddr	 ma;
	char		*base = (char *)conf;
	char		**str = (char **)(base + key->offset);
	long long	*num = (long long *)(base + key->offset);
	int		*flag = (int *)(base + key->offset);

	switch (key->type) {
	case CONF_PATH:
		if (v[0] != '/' || strlen(v) >= PATH_MAX - 64) {
			*why = "must be an absolute path";
			return -1;
		}
		break;
	case CONF_OPTPATH:
		if (*v != '\0' && (v[0] != '/' || strlen(v) >= PATH_MAX - 64)) {
			*why = "must be empty or an absolute path";
			return -1;
		}
		break;
	case CONF_ROUTE:
		if (route_parse(v, NULL, why) == -1)
			return -1;
		break;
	case CONF_CHOICE:
		if (!valid_choice(key->choices, v, why))
			return -1;
		break;
	case CONF_SENDER:
		if (*v != '\0' && strcmp(v, "null") != 0 &&
		    strcmp(v, "sender") != 0 && addr_parse(v, 0, &ma,
		    why) == -1) {
			*why = "must be an address, null or sender";
			return -1;
		}
		break;
	case CONF_LISTEN:
	case CONF_DOMAINS:
	case CONF_NETWORKS:
	case CONF_SERVERS:
	case CONF_PATHS:
		if (!valid_list(key->type, v, why))
			return -1;
		break;
	case CONF_URL:
		if (*v != '\0' && !valid_url(v)) {
			*why = "must be empty or an https:// URL";
			return -1;
		}
		break;
	case CONF_STRING:
		if (*v != '\0' && (strlen(v) > 253 || !valid_domain(v))) {
			*why = "must be a host or domain name";
			return -1;
		}
		break;
	case CONF_USER:
		if (!unix_name_valid(v)) {
			*why = "must be a user name";
			return -1;
		}
		break;
	case CONF_BOOL:
		if (strcmp(v, "yes") == 0)
			*flag = 1;
		else if (strcmp(v, "no") == 0)
			*flag = 0;
		else {
			*why = "must be yes or no";
			return -1;
		}
		return 0;
	case CONF_NUMBER:
		return parse_scaled(v, "", NULL, key->min, key->max, num,
		    why);
	case CONF_SIZE:
		return parse_scaled(v, size_units, size_scale, key->min,
		    key->max, num, why);
	case CONF_DURATION:
		return parse_scaled(v, time_units, time_scale, key->min,
		    key->max, num, why);
	}
	free(*str);
	*str = xstrdup(v);
	return 0;
}

static void
config_defaults(struct config *conf)
{
	const char	*why;
	size_t		 i;

	memset(conf, 0, sizeof(*conf));
	for (i = 0; i < CONFIG_NKEYS; i++)
		if (config_set(conf, &config_keys[i], config_keys[i].fallback,
		    &why) == -1)
			abort();	/* the table itself is wrong */
}

/* Delegated domains are accepted ones, and need a delegate to ask. */
static int
check_delegate(const struct config *conf, const char *path)
{
	const char	*keys[] = { "delegate_auth", "delegate_recipients" };
	const char	*lists[] = { conf->delegate_auth,
			    conf->delegate_recipients };
	const char	*list;
	char		 d[256];
	size_t		 i;

	for (i = 0; i < 2; i++) {
		if (*lists[i] != '\0' && *conf->delegate_servers == '\0') {
			fprintf(stderr, "%s: %s needs delegate_servers\n",
			    path, keys[i]);
			return -1;
		}
		list = lists[i];
		while (word_next(&list, d, sizeof(d)) == 1)
			if (!word_in_list(conf->accepted_domains, d)) {
				fprintf(stderr, "%s: %s: %s is not in "
				    "accepted_domains\n", path, keys[i], d);
				return -1;
			}
	}
	return 0;
}

/* Replace the word "$myhostname" in the domain list *list. */
static void
expand_myhostname(char **list, const char *myhostname)
{
	const char	*p = *list;
	char		 word[256];
	char		*out = NULL;
	size_t		 n = 0;
	FILE		*fp;

	if (strstr(p, "$myhostname") == NULL)
		return;
	if ((fp = open_memstream(&out, &n)) == NULL)
		fatal("open_memstream");
	while (word_next(&p, word, sizeof(word)) == 1)
		fprintf(fp, "%s%s", ftell(fp) > 0 ? " " : "",
		    strcmp(word, "$myhostname") == 0 ? myhostname : word);
	if (fclose(fp) != 0)
		fatal("open_memstream");
	free(*list);
	*list = out;
}

/* Fill the defaults that depend on the system or on other keys. */
static int
config_finish(struct config *conf, const char *path)
{
	char	 host[256];

	if (conf->myhostname[0] == '\0') {
		if (gethostname(host, sizeof(host)) == -1) {
			fprintf(stderr, "%s: cannot get host name: %s\n", path,
			    strerror(errno));
			return -1;
		}
		host[sizeof(host) - 1] = '\0';
		if (!valid_domain(host)) {
			fprintf(stderr, "%s: the system host name \"%s\" is "
			    "no domain name: set myhostname\n", path, host);
			return -1;
		}
		free(conf->myhostname);
		conf->myhostname = xstrdup(host);
	}
	if (conf->relay_helo_name[0] == '\0') {
		free(conf->relay_helo_name);
		conf->relay_helo_name = xstrdup(conf->myhostname);
	}
	if (conf->myorigin[0] == '\0') {
		free(conf->myorigin);
		conf->myorigin = xstrdup(conf->myhostname);
	}
	expand_myhostname(&conf->mydestination, conf->myhostname);
	expand_myhostname(&conf->accepted_domains, conf->myhostname);
	if (conf->accepted_domains[0] == '\0') {
		free(conf->accepted_domains);
		if (asprintf(&conf->accepted_domains, "%s localhost",
		    conf->myhostname) == -1)
			fatal("asprintf");
	}
	if ((conf->smtpd_tls_cert_file[0] == '\0') !=
	    (conf->smtpd_tls_key_file[0] == '\0')) {
		fprintf(stderr, "%s: smtpd_tls_cert_file and smtpd_tls_key_file "
		    "go together\n", path);
		return -1;
	}
	if (conf->smtps_listen[0] != '\0' &&
	    conf->smtpd_tls_cert_file[0] == '\0') {
		fprintf(stderr, "%s: smtps_listen needs smtpd_tls_cert_file\n",
		    path);
		return -1;
	}
	if (check_delegate(conf, path) == -1)
		return -1;
	if (conf->retry_min > conf->retry_max) {
		fprintf(stderr, "%s: retry_min is larger than retry_max\n",
		    path);
		return -1;
	}
	return 0;
}

/*
 * One "key = value" line.  On error *msg says what is wrong, then the key
 * (or the line without '='), never the value: it may be a secret.
 */
static int
config_parse_line(struct config *conf, char *line, int lineno,
    const char **msg)
{
	static char		 buf[CONFIG_LINE_MAX + 256];
	const struct config_key	*key;
	const char		*why, *hint;
	char			*eq, *name, *value;

	if ((eq = strchr(line, '=')) == NULL) {
		why = "expected \"key = value\"";
		goto bad;
	}
	*eq = '\0';
	name = str_trim(line);
	value = str_trim(eq + 1);
	if ((hint = config_retired(name)) != NULL) {
		snprintf(buf, sizeof(buf), "%s moved to %s", name, hint);
		*msg = buf;
		return -1;
	}
	if ((key = config_find(name)) == NULL)
		why = "unknown key";
	else if (conf->source_line[key - config_keys] != 0)
		why = "key given twice";
	else {
		conf->source_line[key - config_keys] = lineno;
		if (config_set(conf, key, value, &why) == 0)
			return 0;
	}
bad:
	snprintf(buf, sizeof(buf), "%s: %s", why, line);
	*msg = buf;
	return -1;
}

/*
 * Load path into conf.  Reports every bad line, not only the first, so an
 * admin fixes the file in one pass.  Returns 0 or -1.
 */
int
config_load(struct config *conf, const char *path)
{
	char		 buf[CONFIG_LINE_MAX + 2], *line;
	const char	*msg;
	FILE		*fp;
	int		 lineno = 0, errors = 0;
	size_t		 len;

	if ((fp = fopen(path, "re")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	config_defaults(conf);
	conf->source = xstrdup(path);
	conf->source_line = xcalloc(CONFIG_NKEYS, sizeof(int));
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		lineno++;
		len = strlen(buf);
		if (len > CONFIG_LINE_MAX && buf[len - 1] != '\n') {
			fprintf(stderr, "%s:%d: line too long\n", path, lineno);
			errors++;
			while (len > 0 && buf[len - 1] != '\n' &&
			    fgets(buf, sizeof(buf), fp) != NULL)
				len = strlen(buf);
			continue;
		}
		line = str_trim(buf);
		if (*line == '\0' || *line == '#')
			continue;
		if (config_parse_line(conf, line, lineno, &msg) == -1) {
			fprintf(stderr, "%s:%d: %s\n", path, lineno, msg);
			errors++;
		}
	}
	if (ferror(fp)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		errors++;
	}
	fclose(fp);
	if (errors == 0 && config_finish(conf, path) == -1)
		errors++;
	if (errors > 0) {
		config_free(conf);
		return -1;
	}
	return 0;
}

/* Format the value of key as it would be written in the file. */
int
config_value(const struct config *conf, const char *name, char *buf,
    size_t size)
{
	const struct config_key	*key;
	const char		*base = (const char *)conf;
	int			 n;

	if ((key = config_find(name)) == NULL)
		return -1;
	switch (key->type) {
	case CONF_BOOL:
		n = snprintf(buf, size, "%s",
		    *(const int *)(base + key->offset) ? "yes" : "no");
		break;
	case CONF_NUMBER:
	case CONF_SIZE:
	case CONF_DURATION:
		n = snprintf(buf, size, "%lld",
		    *(const long long *)(base + key->offset));
		break;
	default:
		n = snprintf(buf, size, "%s",
		    *(char * const *)(base + key->offset));
		break;
	}
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/*
 * Where the value of a key came from, to report a problem with it in the
 * "file:line:" form of every configuration error: "FILE:LINE" when the
 * file set it, "FILE" when it kept its default.
 */
int
config_where(const struct config *conf, const char *name, char *buf,
    size_t size)
{
	const struct config_key	*key;
	int			 n, line;

	if ((key = config_find(name)) == NULL || conf->source == NULL)
		return -1;
	line = conf->source_line[key - config_keys];
	if (line > 0)
		n = snprintf(buf, size, "%s:%d", conf->source, line);
	else
		n = snprintf(buf, size, "%s", conf->source);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

void
config_free(struct config *conf)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		switch (config_keys[i].type) {
		case CONF_PATH:
		case CONF_STRING:
		case CONF_USER:
		case CONF_OPTPATH:
		case CONF_ROUTE:
		case CONF_CHOICE:
		case CONF_LISTEN:
		case CONF_DOMAINS:
		case CONF_NETWORKS:
		case CONF_SERVERS:
		case CONF_SENDER:
		case CONF_PATHS:
		case CONF_URL:
			free(*(char **)((char *)conf + config_keys[i].offset));
			break;
		default:
			break;
		}
	}
	free(conf->source);
	free(conf->source_line);
	memset(conf, 0, sizeof(*conf));
}
