/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * tls.c: the server side's TLS context, loaded once as root.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"

static const char *
tls_error(void)
{
	static char	 buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	return buf;
}

/*
 * TLS 1.2 and later, no renegotiation; the chain and key must match.
 * NULL (logged) if the files named in ferry.conf will not do: a
 * configuration error, as a table that cannot be read.
 */
SSL_CTX *
tls_server_context(const char *cert, const char *key)
{
	SSL_CTX		*ctx;
	const char	*what, *path;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("cannot create a TLS context for %s: %s", cert,
		    tls_error());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		what = "cannot load certificate";
		path = cert;
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM) != 1) {
		what = "cannot load private key";
		path = key;
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		what = "key does not match certificate";
		path = cert;
	} else
		return ctx;
	log_warnx("%s %s: %s", what, path, tls_error());
	SSL_CTX_free(ctx);
	return NULL;
}
