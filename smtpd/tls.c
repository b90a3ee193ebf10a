/*
 * tls.c: the server side's TLS context, loaded once as root.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"

static void
tls_fatal(const char *what, const char *path)
{
	char	 buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	fatalx("%s %s: %s", what, path, buf);
}

/* TLS 1.2 and later, no renegotiation; the chain and key must match. */
SSL_CTX *
tls_server_context(const char *cert, const char *key)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		tls_fatal("cannot create a TLS context for", cert);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		tls_fatal("cannot load certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		tls_fatal("cannot load private key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		tls_fatal("key does not match certificate", cert);
	return ctx;
}
