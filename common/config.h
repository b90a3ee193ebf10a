/*
 * config.h: ferry.conf, the one configuration file every program reads.
 *
 * Every key is declared once, in the table in config.c, with its type,
 * default and description; that table also prints the documented default
 * file (etc/ferry.conf is its output).
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdio.h>

#define FERRY_CONF_DEFAULT	"/etc/ferry/ferry.conf"

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
	char		*relay_helo_name;
	long long	 relay_mx_port;
	long long	 relay_max_processes;
	long long	 relay_destination_concurrency;
	long long	 relay_connect_timeout;
	long long	 relay_command_timeout;
	long long	 relay_data_timeout;
	long long	 relay_idle_timeout;
	long long	 delay_warning_time;
};

int	 config_load(struct config *, const char *);
int	 config_value(const struct config *, const char *, char *, size_t);
void	 config_print_defaults(FILE *);
void	 config_free(struct config *);

#endif
