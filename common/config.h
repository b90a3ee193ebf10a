/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * config.h: ferry.conf, the one configuration file every program reads.
 *
 * Every key is declared once, in the table in config.c, with its type,
 * default and description; that table also prints the documented default
 * file (etc/ferry.conf is its output) and the manual page ferry.conf(5).
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdio.h>

/* The Makefile sets it from SYSCONFDIR. */
#ifndef FERRY_CONF_DEFAULT
#define FERRY_CONF_DEFAULT	"/etc/ferry/ferry.conf"
#endif

/* delegate_connections at most: the size of delegated's pool */
#define DELEGATE_MAX_CONNECTIONS	64

struct config {
	char		*queue_directory;
	char		*run_directory;
	char		*log_directory;
	int		 log_syslog;
	char		*myhostname;
	char		*myorigin;
	long long	 max_message_size;
	long long	 max_recipients;
	long long	 queue_min_free;
	long long	 retry_min;
	long long	 retry_max;
	long long	 queue_lifetime;
	long long	 bounce_lifetime;
	char		*queue_user;
	char		*relay_user;
	char		*routes_file;
	char		*default_route;
	char		*relay_tls;
	char		*relay_tls_ca_file;
	char		*relay_auth_file;
	char		*relay_state_directory;
	char		*relay_oauth_ca_file;
	long long	 relay_oauth_refresh_ahead;
	char		*relay_helo_name;
	long long	 relay_mx_port;
	long long	 relay_max_processes;
	long long	 relay_destination_concurrency;
	long long	 relay_connect_timeout;
	long long	 relay_command_timeout;
	long long	 relay_data_timeout;
	long long	 relay_idle_timeout;
	long long	 delay_warning_time;
	char		*smtpd_user;
	char		*smtp_listen;
	char		*submission_listen;
	char		*smtps_listen;
	char		*smtpd_tls_cert_file;
	char		*smtpd_tls_key_file;
	char		*accepted_domains;
	char		*mydestination;
	char		*local_recipient_reject_code;
	char		*recipient_delimiter;
	char		*alias_file;
	char		*local_mailbox;
	char		*mail_spool_directory;
	char		*local_alias_user;
	int		 local_include_commands;
	long long	 local_command_timeout;
	long long	 local_max_processes;
	char		*recipients_file;
	char		*smtpd_users_file;
	char		*mynetworks;
	char		*smtpd_auth_plaintext;
	char		*smtpd_sender_policy;
	char		*smtpd_bare_lf;
	int		 smtpd_vrfy;
	long long	 smtpd_max_sessions;
	long long	 smtpd_max_sessions_per_ip;
	long long	 smtpd_timeout;
	long long	 smtpd_queue_wait;
	long long	 smtpd_max_errors;
	long long	 smtpd_auth_failure_delay;
	long long	 smtpd_auth_max_failures;
	long long	 smtpd_auth_ip_max_failures;
	char		*delegate_user;
	char		*delegate_servers;
	char		*delegate_tls;
	char		*delegate_tls_ca_file;
	char		*delegate_auth;
	char		*delegate_recipients;
	char		*delegate_login_form;
	char		*delegate_login_domain;
	char		*delegate_probe_sender;
	char		*delegate_reject_text;
	long long	 delegate_connections;
	long long	 delegate_rate;
	long long	 delegate_wait;
	long long	 delegate_timeout;
	long long	 delegate_dead_time;
	long long	 delegate_positive_ttl;
	long long	 delegate_negative_ttl;
	long long	 delegate_auth_ttl;
	long long	 delegate_auth_max_failures;
	int		 delegate_selfcheck;
	char		*delegate_cache_file;
	char		*license_user;
	char		*license_files;
	char		*license_public_key;
	int		 webrelay;
	char		*webrelay_url;
	char		*webrelay_ca_file;
	char		*webrelay_auth_file;
	long long	 webrelay_timeout;
	char		*webrelay_user;

	/* where each key came from, for config_where() */
	char		*source;	/* the file loaded */
	int		*source_line;	/* per key: its line, 0 if default */
};

int	 config_load(struct config *, const char *);
int	 config_value(const struct config *, const char *, char *, size_t);
int	 config_where(const struct config *, const char *, char *, size_t);
void	 config_free(struct config *);

/*
 * The key table (config.c), which the parser and the documents made from
 * it (config_doc.c) share.
 */
enum config_type {
	CONF_PATH,	/* absolute path */
	CONF_STRING,	/* host or domain name */
	CONF_USER,	/* Unix user name */
	CONF_BOOL,	/* yes or no */
	CONF_NUMBER,	/* non-negative integer */
	CONF_SIZE,	/* bytes, with k, M or G suffix (1024-based) */
	CONF_DURATION,	/* seconds, with s, m, h, d or w suffix */
	CONF_OPTPATH,	/* absolute path, or empty */
	CONF_ROUTE,	/* a route, as in the routes file */
	CONF_CHOICE,	/* one of the words in the key's choices */
	CONF_LISTEN,	/* blank-separated address:port, maybe none */
	CONF_DOMAINS,	/* blank-separated domain names, maybe none */
	CONF_NETWORKS,	/* blank-separated networks, maybe none */
	CONF_SERVERS,	/* blank-separated host[:port], maybe none */
	CONF_SENDER,	/* an address, "null", "sender" or empty */
	CONF_PATHS,	/* blank-separated absolute paths, maybe none */
	CONF_URL	/* an https:// URL, or empty */
};

struct config_key {
	const char	*name;
	enum config_type type;
	size_t		 offset;
	const char	*fallback;	/* default, parsed like a value */
	long long	 min;		/* smallest valid number */
	long long	 max;		/* largest valid number */
	const char	*help;
	const char	*choices;	/* CONF_CHOICE: the valid words */
};

extern const struct config_key	 config_keys[];
extern const size_t		 config_nkeys;

#endif
