/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * addr.c: parse mail addresses (RFC 5321 section 4.1.2) and extract
 * address specifications from RFC 5322 address-list header fields.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* RFC 5322 atext, plus any non-ASCII byte (RFC 6531 UTF-8). */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
parse_dot_string(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return -1;
		} else if (!is_atext(s[i]))
			return -1;
	}
	return 0;
}

/* Quoted-string: printable ASCII or UTF-8, quoted-pairs; never '@'. */
static int
parse_quoted(const char *s, size_t n)
{
	size_t	 i;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return -1;
	for (i = 1; i < n - 1; i++) {
		unsigned char	 c = s[i];

		if (c == '\\') {
			if (++i >= n - 1 || (unsigned char)s[i] < ' ' ||
			    s[i] == 0x7f)
				return -1;
			continue;
		}
		if (c == '"' || c == '@' || c < ' ' || c == 0x7f)
			return -1;
	}
	return 0;
}

static int
parse_literal(const char *s, size_t n)
{
	char	 buf[64];
	unsigned char	 bin[16];

	if (n < 3 || n - 2 >= sizeof(buf) || s[n - 1] != ']')
		return -1;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, bin) == 1 ? 0 : -1;
	return inet_pton(AF_INET, buf, bin) == 1 ? 0 : -1;
}

/* Domain: dot-separated labels of letters, digits and inner hyphens. */
static int
parse_domain(const char *s, size_t n)
{
	size_t	 i, label = 0;

	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char	 c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (c == '-' ? label == 0 : !(isalnum(c) || c >= 0x80))
			return -1;
		if (++label > 63)
			return -1;
	}
	return (label == 0 || s[n - 1] == '-') ? -1 : 0;
}

/* Find the '@' that separates local part and domain, outside quotes. */
static const char *
find_at(const char *s, size_t n)
{
	size_t	 i;
	int	 quoted = 0;

	for (i = 0; i < n; i++) {
		if (quoted && s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			return s + i;
	}
	return NULL;
}

/*
 * Well-formed UTF-8 (RFC 3629): no overlong forms, surrogates or code
 * points past U+10FFFF.  Plain ASCII passes.
 */
int
valid_utf8(const unsigned char *s, size_t n)
{
	size_t		 i = 0, k, len;
	unsigned long	 cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4;
		else
			return 0;
		if (i + len > n)
			return 0;
		cp = s[i] & (0x7f >> len);
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

/*
 * Parse s into a.  Returns 0, or -1 with *why set to a short reason fit
 * for an SMTP reply or an error message.
 */
int
addr_parse(const char *s, int flags, struct mailaddr *a, const char **why)
{
	const char	*at, *local, *domain;
	size_t		 n, llen, dlen;

	memset(a, 0, sizeof(*a));
	n = strlen(s);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	} else if (n > 0 && (s[0] == '<' || s[n - 1] == '>')) {
		*why = "unbalanced angle brackets";
		return -1;
	}
	if (n == 0) {
		if (flags & ADDR_ALLOW_NULL)
			return 0;
		*why = "empty address";
		return -1;
	}
	if (s[0] == '@') {
		*why = "source routes are not accepted";
		return -1;
	}
	if (n > ADDR_MAX) {
		*why = "address too long";
		return -1;
	}
	if (!valid_utf8((const unsigned char *)s, n)) {
		*why = "malformed UTF-8";
		return -1;
	}
	local = s;
	if ((at = find_at(s, n)) == NULL) {
		if (!(flags & ADDR_ALLOW_NODOMAIN)) {
			*why = "address has no domain";
			return -1;
		}
		llen = n;
		domain = NULL;
		dlen = 0;
	} else {
		llen = at - s;
		domain = at + 1;
		dlen = n - llen - 1;
	}
	if (llen == 0 || llen > ADDR_LOCAL_MAX * 2 ||
	    (local[0] == '"' ? parse_quoted(local, llen) :
	    llen > ADDR_LOCAL_MAX ? -1 : parse_dot_string(local, llen)) == -1) {
		*why = "bad local part";
		return -1;
	}
	if (domain != NULL) {
		if (domain[0] == '[') {
			if (parse_literal(domain, dlen) == -1) {
				*why = "bad address literal";
				return -1;
			}
			a->literal = 1;
		} else if (parse_domain(domain, dlen) == -1) {
			*why = "bad domain";
			return -1;
		}
		memcpy(a->domain, domain, dlen);
		a->domain[dlen] = '\0';
		for (n = 0; n < dlen; n++)
			a->domain[n] = tolower((unsigned char)a->domain[n]);
	}
	memcpy(a->local, local, llen);
	a->local[llen] = '\0';
	return 0;
}

int
addr_is_null(const struct mailaddr *a)
{
	return a->local[0] == '\0';
}

/* "local@domain", "local" or "" for the null address. */
int
addr_format(const struct mailaddr *a, char *buf, size_t size)
{
	int	 n;

	if (a->domain[0] == '\0')
		n = snprintf(buf, size, "%s", a->local);
	else
		n = snprintf(buf, size, "%s@%s", a->local, a->domain);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Skip blanks, folding and (nested) comments of RFC 5322 CFWS. */
static const char *
skip_cfws(const char *p)
{
	int	 depth;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		for (depth = 0; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

/*
 * Copy one element of an address list, up to a top-level ',' or ';',
 * keeping only the addr-spec: a display name before '<' and a group name
 * before ':' are dropped, as are comments and blanks outside quotes.
 */
static int
copy_element(const char **pp, char *buf, size_t size, size_t *lenp)
{
	const char	*p;
	size_t		 n = 0;
	int		 quoted = 0, angle = 0;

	for (p = *pp; *p != '\0'; p++) {
		if (!quoted) {
			if ((*p == ',' || *p == ';') && !angle)
				break;
			if (*p == '(') {
				p = skip_cfws(p) - 1;
				continue;
			}
			if (*p == ' ' || *p == '\t' || *p == '\r' ||
			    *p == '\n')
				continue;
			if (*p == '>' && angle) {
				angle = 0;
				continue;
			}
			if (*p == '<' || (*p == ':' && !angle)) {
				angle = *p == '<';
				n = 0;
				continue;
			}
		} else if (*p == '\\' && p[1] != '\0') {
			if (n + 2 >= size)
				return -1;
			buf[n++] = *p++;
			buf[n++] = *p;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		if (n + 1 >= size)
			return -1;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	*pp = p;
	*lenp = n;
	return 0;
}

/*
 * Extract the next addr-spec from an RFC 5322 address-list (the value of
 * To, Cc or Bcc): "Name <a@b>, c@d (comment), group: e@f;".  Writes it
 * into buf and advances *pp.  Returns 1 when an address was found, 0 at
 * the end of the list, -1 when an element does not fit; the caller
 * validates buf with addr_parse().
 */
int
addr_list_next(const char **pp, char *buf, size_t size)
{
	const char	*p = *pp;
	size_t		 n;

	for (;;) {
		p = skip_cfws(p);
		if (*p == '\0') {
			*pp = p;
			return 0;
		}
		if (*p == ',' || *p == ';') {
			p++;
			continue;
		}
		if (copy_element(&p, buf, size, &n) == -1)
			return -1;
		if (n > 0) {
			*pp = p;
			return 1;
		}
	}
}
