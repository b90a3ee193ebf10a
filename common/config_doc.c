/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * config_doc.c: the two documents made from the configuration key table
 * (config.c): the commented defaults file, etc/ferry.conf, and the
 * manual page ferry.conf(5), so that neither can drift from the keys.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_doc.h"
#include "netaddr.h"
#include "util.h"

/* Print word-wrapped help as comment lines. */
static void
print_comment(FILE *fp, const char *text)
{
	const char	*p = text, *brk;
	int		 width = 74;

	while (*p != '\0') {
		if ((int)strlen(p) <= width) {
			fprintf(fp, "# %s\n", p);
			return;
		}
		for (brk = p + width; brk > p && *brk != ' '; brk--)
			;
		if (brk == p)
			brk = p + width;
		fprintf(fp, "# %.*s\n", (int)(brk - p), p);
		p = *brk == ' ' ? brk + 1 : brk;
	}
}

static void
print_lines(FILE *fp, const char *const *lines)
{
	for (; *lines != NULL; lines++)
		fprintf(fp, "%s\n", *lines);
}

/*
 * The two documents the table prints, etc/ferry.conf and ferry.conf(5):
 * the lines before the keys, one key, the lines after them.
 */
struct key_printer {
	const char *const	*head;
	void			(*key)(FILE *, const struct config_key *);
	const char *const	*tail;
};

static void
config_print(FILE *fp, const struct key_printer *kp)
{
	size_t	 i;

	print_lines(fp, kp->head);
	for (i = 0; i < config_nkeys; i++)
		kp->key(fp, &config_keys[i]);
	print_lines(fp, kp->tail);
}

static const char *const defaults_head[] = {
	"# ferry.conf: Ferry's configuration.  Every key with its default;",
	"# \"key = value\", '#' starts a comment.  Sizes take k, M or G,",
	"# durations s, m, h, d or w.",
	NULL
};

static const char *const defaults_tail[] = { NULL };

static void
defaults_key(FILE *fp, const struct config_key *key)
{
	fprintf(fp, "\n");
	print_comment(fp, key->help);
	if (key->max != 0)
		fprintf(fp, "# Range: %lld..%lld.\n", key->min, key->max);
	fprintf(fp, "#%s =%s%s\n", key->name, *key->fallback != '\0' ? " " : "",
	    key->fallback);
}

void
config_print_defaults(FILE *fp)
{
	static const struct key_printer	 kp = {
		defaults_head, defaults_key, defaults_tail
	};

	config_print(fp, &kp);
}

/* The words of a CONF_CHOICE key, as "a | b | c". */
static const char *
manpage_choices(const struct config_key *key)
{
	static char	 buf[128];
	const char	*p = key->choices;
	char		 word[32];

	buf[0] = '\0';
	while (word_next(&p, word, sizeof(word)) == 1) {
		if (buf[0] != '\0')
			strlcat(buf, " | ", sizeof(buf));
		strlcat(buf, word, sizeof(buf));
	}
	return buf;
}

/* What a value of each type looks like, for ferry.conf(5). */
static const char *
manpage_type(const struct config_key *key)
{
	switch (key->type) {
	case CONF_PATH:
		return "path";
	case CONF_STRING:
		return "name";
	case CONF_USER:
		return "user";
	case CONF_BOOL:
		return "yes | no";
	case CONF_NUMBER:
		return "number";
	case CONF_SIZE:
		return "size";
	case CONF_DURATION:
		return "duration";
	case CONF_OPTPATH:
		return "path | empty";
	case CONF_ROUTE:
		return "route";
	case CONF_CHOICE:
		return manpage_choices(key);
	case CONF_LISTEN:
		return "address:port ...";
	case CONF_DOMAINS:
		return "domain ...";
	case CONF_NETWORKS:
		return "network ...";
	case CONF_SERVERS:
		return "host[:port] ...";
	case CONF_SENDER:
		return "address | null | sender | empty";
	case CONF_PATHS:
		return "path ...";
	case CONF_URL:
		return "https-URL | empty";
	}
	return "value";
}

/* True if the text s[0..len) ends a sentence: '.', '!' or '?', maybe in ). */
static int
ends_sentence(const char *s, size_t len)
{
	while (len > 0 && strchr(")\"'", s[len - 1]) != NULL)
		len--;
	return len > 0 && strchr(".!?", s[len - 1]) != NULL;
}

/*
 * Text as roff reads it on text lines: each sentence on a line of its
 * own (roff spaces sentences by line ends), lines broken at blanks to
 * stay within 80 columns, a backslash as \e, and \& before a '.' or '\''
 * that begins a line, which would make it a request.
 */
static void
mdoc_text(FILE *fp, const char *s)
{
	const char	*start = s;
	size_t		 col = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' && col == 0)
			continue;	/* a blank would begin the line */
		if (*s == ' ' && (ends_sentence(start, s - start) ||
		    col + 1 + strcspn(s + 1, " ") > 72)) {
			fputc('\n', fp);
			col = 0;
			continue;
		}
		if (col == 0 && (*s == '.' || *s == '\''))
			col += fprintf(fp, "\\&");
		if (*s == '\\')
			col += fprintf(fp, "\\e");
		else {
			fputc(*s, fp);
			col++;
		}
	}
	fputc('\n', fp);
}

/*
 * One quoted macro argument: \& first so that a word like "No" is not
 * called as a macro, a double quote doubled.
 */
static void
mdoc_arg(FILE *fp, const char *s)
{
	fputs("\"\\&", fp);
	for (; *s != '\0'; s++)
		if (*s == '\\')
			fputs("\\e", fp);
		else if (*s == '"')
			fputs("\"\"", fp);
		else
			fputc(*s, fp);
	fputc('"', fp);
}

static const char *const manpage_head_lines[] = {
	".\\\" Copyright (c) 2026 The Ferry authors",
	".\\\" SPDX-License-Identifier: ISC",
	".\\\" ferry.conf.5: generated by ferry-control manpage from the key",
	".\\\" table in common/config.c; edit the table, not this file.",
	".Dd December 7, 2026",
	".Dt FERRY.CONF 5",
	".Os",
	".Sh NAME",
	".Nm ferry.conf",
	".Nd configuration file of the Ferry mail transfer agent",
	".Sh DESCRIPTION",
	".Nm",
	"is the one configuration file every Ferry program reads:",
	"the daemons, the local submission program",
	".Xr sendmail 1 ,",
	"and the administration tool",
	".Xr ferryctl 8 .",
	"Each program reads",
	".Pa /etc/ferry/ferry.conf",
	"unless another file is given with",
	".Fl c",
	"(the daemons,",
	".Nm ferryctl )",
	"or",
	".Fl C",
	"(sendmail, mailq, newaliases).",
	".Pp",
	"Every line is one of:",
	".Bl -bullet",
	".It",
	".Dq Ar key No = Ar value :",
	"blanks around the key and the value do not count;",
	"the value is the rest of the line, so a",
	".Ql #",
	"after it is part of the value.",
	".It",
	"a comment: its first character other than a blank is",
	".Ql # .",
	".It",
	"a blank line.",
	".El",
	".Pp",
	"A key the file does not set keeps its default.",
	"An unknown key, a key given twice, a value that does not fit its key,",
	"a line without",
	".Ql =",
	"or a line longer than 1024 bytes is an error.",
	"Each error is reported on standard error as",
	".Dq Ar file : Ns Ar line : Ar message ,",
	"every bad line of the file in one pass, and the program that read the",
	"file exits with status 78",
	".Pq Dv EX_CONFIG .",
	"A key that Ferry no longer knows is refused with what to do instead.",
	".Ic ferryctl check",
	"checks the file without starting anything.",
	".Pp",
	"Values have these types:",
	".Bl -tag -width duration",
	".It Ar path",
	"An absolute path.",
	"Where the type also allows",
	".Ar empty ,",
	"an empty value switches the feature off.",
	".It Ar name",
	"A host or domain name; empty means the default the key describes.",
	".It Ar user",
	"A Unix user name.",
	".It Ar number",
	"A decimal number within the key's range.",
	".It Ar size",
	"A number of bytes, with an optional suffix",
	".Ql k ,",
	".Ql M",
	"or",
	".Ql G",
	"(powers of 1024).",
	".It Ar duration",
	"A number of seconds, with an optional suffix",
	".Ql s ,",
	".Ql m ,",
	".Ql h ,",
	".Ql d",
	"or",
	".Ql w .",
	".It Ar route",
	"A route as in the",
	".Cm routes_file :",
	".Ql smtp:[host]:port ,",
	".Ql smtp:host:port ,",
	".Ql mx",
	"or",
	".Ql maildir:/path/%u/Maildir .",
	".It Ar ...",
	"Lists are separated by blanks and may be empty.",
	".El",
	".Pp",
	"Some keys depend on others:",
	".Cm smtpd_tls_cert_file",
	"and",
	".Cm smtpd_tls_key_file",
	"are set together, and",
	".Cm smtps_listen",
	"needs them;",
	".Cm retry_min",
	"may not be larger than",
	".Cm retry_max ;",
	"the domains of",
	".Cm delegate_auth",
	"and",
	".Cm delegate_recipients",
	"must be in",
	".Cm accepted_domains",
	"and need",
	".Cm delegate_servers .",
	"In",
	".Cm mydestination",
	"and",
	".Cm accepted_domains",
	"the word",
	".Ql $myhostname",
	"stands for the value of",
	".Cm myhostname .",
	".Sh KEYS",
	"The keys, in the order of the commented default file that",
	".Ic ferry-control defaults",
	"prints, with the type and default of each:",
	".Bl -tag -width Ds",
	NULL
};

static const char *const manpage_tail_lines[] = {
	".El",
	".Sh FILES",
	".Bl -tag -width Ds -compact",
	".It Pa /etc/ferry/ferry.conf",
	"the configuration file",
	".It Pa /etc/aliases",
	"the default",
	".Cm alias_file",
	".El",
	".Sh EXAMPLES",
	"A host that delivers its own users' mail and sends everything else",
	"through the provider's submission server:",
	".Bd -literal -offset indent",
	"myhostname = mail.example.org",
	"default_route = smtp:[smtp.provider.example]:587",
	"relay_tls = verify",
	"relay_auth_file = /etc/ferry/relay-auth",
	".Ed",
	".Sh SEE ALSO",
	".Xr mailq 1 ,",
	".Xr newaliases 1 ,",
	".Xr sendmail 1 ,",
	".Xr aliases 5 ,",
	".Xr forward 5 ,",
	".Xr ferry 8 ,",
	".Xr ferry-delegated 8 ,",
	".Xr ferry-licensed 8 ,",
	".Xr ferry-locald 8 ,",
	".Xr ferry-queued 8 ,",
	".Xr ferry-relayd 8 ,",
	".Xr ferry-smtpd 8 ,",
	".Xr ferry-webrelayd 8 ,",
	".Xr ferryctl 8",
	NULL
};

static void
manpage_key(FILE *fp, const struct config_key *key)
{
	const char	*unit;

	fprintf(fp, ".It Cm %s Ar ", key->name);
	mdoc_arg(fp, manpage_type(key));
	fprintf(fp, "\n");
	mdoc_text(fp, key->help);
	if (*key->fallback == '\0')
		fprintf(fp, "Default: empty.\n");
	else {
		fprintf(fp, "Default:\n.Ql ");
		mdoc_arg(fp, key->fallback);
		fprintf(fp, " .\n");
	}
	if (key->max != 0) {
		unit = key->type == CONF_SIZE ? " bytes" :
		    key->type == CONF_DURATION ? " seconds" : "";
		fprintf(fp, "Range: %lld to %lld%s.\n", key->min, key->max,
		    unit);
	}
}

void
config_print_manpage(FILE *fp)
{
	static const struct key_printer	 kp = {
		manpage_head_lines, manpage_key, manpage_tail_lines
	};

	config_print(fp, &kp);
}
