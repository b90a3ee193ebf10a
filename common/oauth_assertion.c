/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * oauth_assertion.c: a client that proves itself with a certificate
 * instead of a secret (oauth.h).
 *
 * The token endpoint gets a JWT the client signed with its private key
 * (RFC 7523 2.2, OpenID Connect's private_key_jwt): PS256, naming the
 * certificate by its SHA-1 and SHA-256 thumbprints (x5t, x5t#S256), as
 * Microsoft Entra ID asks.  Each assertion lives ASSERTION_LIFE seconds
 * and carries a fresh random jti, so a copied one cannot be replayed.
 *
 * The key is read as root when relay_auth_file is, under the same rules
 * (secret.c), and kept in memory only: the token process signs with it
 * after it gave up root, and every other process frees it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "oauth.h"
#include "secret.h"
#include "util.h"

#define ASSERTION_LIFE	600	/* seconds; Entra ID asks for 5 to 10 min */
#define THUMB_MAX	64	/* base64url of a SHA-256 digest, and more */

struct client_cert {
	EVP_PKEY	*key;
	char		 x5t[THUMB_MAX];	/* SHA-1 of the DER, base64url */
	char		 x5t_s256[THUMB_MAX];	/* SHA-256 of it */
	char		 sha1_hex[41];	/* the thumbprint as Entra ID shows it */
	time_t		 not_after;
};

/* RFC 7515 2: base64url without padding.  -1 if out is too small. */
static int
base64url(const void *in, size_t len, char *out, size_t outlen)
{
	char	*p;

	if (base64_encode(in, len, out, outlen) == -1)
		return -1;
	for (p = out; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	return 0;
}

/* The certificate's names: its thumbprints, and when it ends. */
static int
identify(X509 *cert, struct client_cert *cc)
{
	unsigned char	 sha1[EVP_MAX_MD_SIZE], sha256[EVP_MAX_MD_SIZE];
	unsigned int	 n1, n256;
	struct tm	 tm;

	if (X509_digest(cert, EVP_sha1(), sha1, &n1) != 1 ||
	    X509_digest(cert, EVP_sha256(), sha256, &n256) != 1 ||
	    base64url(sha1, n1, cc->x5t, sizeof(cc->x5t)) == -1 ||
	    base64url(sha256, n256, cc->x5t_s256, sizeof(cc->x5t_s256)) == -1 ||
	    n1 * 2 >= sizeof(cc->sha1_hex) ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return -1;
	hex_encode(sha1, n1, cc->sha1_hex, 1);
	cc->not_after = timegm(&tm);
	return 0;
}

/* Refuse to ask for a passphrase: relayd has no one to ask. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * The certificate (cert != NULL) or the private key in fp, which is
 * closed; the stdio buffer is ours and wiped, since either file may hold
 * the key.
 */
static void
read_pem(FILE *fp, X509 **cert, EVP_PKEY **key)
{
	char	 buf[BUFSIZ];

	setvbuf(fp, buf, _IOFBF, sizeof(buf));
	if (cert != NULL)
		*cert = PEM_read_X509(fp, NULL, no_passphrase, NULL);
	else
		*key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	explicit_bzero(buf, sizeof(buf));
}

static X509 *
read_certificate(const char *path, const char **why)
{
	FILE	*fp;
	X509	*cert;

	if ((fp = fopen(path, "re")) == NULL) {
		*why = strerror(errno);
		return NULL;
	}
	read_pem(fp, &cert, NULL);
	if (cert == NULL)
		*why = "no PEM certificate in it";
	return cert;
}

/* where: "FILE:LINE: client_key" for secret_open()'s messages. */
static EVP_PKEY *
read_key(const char *where, const char *path, const char **why)
{
	FILE		*fp;
	EVP_PKEY	*key;

	if ((fp = secret_open(where, path)) == NULL) {
		*why = NULL;	/* secret_open() said why */
		return NULL;
	}
	read_pem(fp, NULL, &key);
	if (key == NULL)
		*why = "no unencrypted PEM private key in it";
	else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		*why = "not an RSA key (PS256 needs one)";
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

/*
 * Load c's client_certificate and its key (client_key, or the same file)
 * into c->cert.  0, or -1 with "WHERE: what is wrong" on stderr.
 */
int
oauth_cert_load(struct credential *c, const char *where)
{
	struct client_cert	*cc;
	const char		*keypath, *why = NULL;
	char			 keywhere[PATH_MAX + 32];
	X509			*cert;

	keypath = c->client_key != NULL ? c->client_key : c->client_certificate;
	snprintf(keywhere, sizeof(keywhere), "%s: %s", where,
	    c->client_key != NULL ? "client_key" : "client_certificate");
	if ((cert = read_certificate(c->client_certificate, &why)) == NULL) {
		fprintf(stderr, "%s: client_certificate %s: %s\n", where,
		    c->client_certificate, why);
		ERR_clear_error();
		return -1;
	}
	cc = xcalloc(1, sizeof(*cc));
	c->cert = cc;
	if ((cc->key = read_key(keywhere, keypath, &why)) != NULL) {
		if (X509_check_private_key(cert, cc->key) != 1)
			why = "the key is not the certificate's";
		else if (identify(cert, cc) == -1)
			why = "cannot read its thumbprint or expiry";
	}
	X509_free(cert);
	ERR_clear_error();	/* libcurl's TLS must not find our errors */
	if (cc->key != NULL && why == NULL)
		return 0;
	if (why != NULL)
		fprintf(stderr, "%s %s: %s\n", keywhere, keypath, why);
	oauth_cert_free(c);
	return -1;
}

void
oauth_cert_free(struct credential *c)
{
	if (c->cert == NULL)
		return;
	EVP_PKEY_free(c->cert->key);	/* clears the private numbers */
	explicit_bzero(c->cert, sizeof(*c->cert));
	free(c->cert);
	c->cert = NULL;
}

/*
 * The SHA-1 thumbprint (hex, as Entra ID shows it) and end of c's
 * certificate; -1 if c has none.
 */
int
oauth_cert_info(const struct credential *c, const char **sha1_hex,
    time_t *not_after)
{
	if (c->cert == NULL)
		return -1;
	*sha1_hex = c->cert->sha1_hex;
	*not_after = c->cert->not_after;
	return 0;
}

/* Append base64url(json) and sep to out; -1 if it does not fit. */
static int
add_part(char *out, size_t outlen, json_object *o, const char *sep)
{
	const char	*s;
	size_t		 len = strlen(out);

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || base64url(s, strlen(s), out + len, outlen - len) == -1)
		return -1;
	return strlcat(out, sep, outlen) < outlen ? 0 : -1;
}

static json_object *
header(const struct client_cert *cc)
{
	json_object	*h = json_object_new_object();

	json_object_object_add(h, "alg", json_object_new_string("PS256"));
	json_object_object_add(h, "typ", json_object_new_string("JWT"));
	json_object_object_add(h, "x5t", json_object_new_string(cc->x5t));
	json_object_object_add(h, "x5t#S256",
	    json_object_new_string(cc->x5t_s256));
	return h;
}

static json_object *
claims(const struct credential *c, time_t now)
{
	json_object	*p = json_object_new_object();
	unsigned char	 jti[16];
	char		 hex[sizeof(jti) * 2 + 1];

	arc4random_buf(jti, sizeof(jti));
	hex_encode(jti, sizeof(jti), hex, 0);
	json_object_object_add(p, "aud",
	    json_object_new_string(c->token_endpoint));
	json_object_object_add(p, "iss", json_object_new_string(c->client_id));
	json_object_object_add(p, "sub", json_object_new_string(c->client_id));
	json_object_object_add(p, "jti", json_object_new_string(hex));
	json_object_object_add(p, "iat", json_object_new_int64(now));
	json_object_object_add(p, "nbf", json_object_new_int64(now));
	json_object_object_add(p, "exp",
	    json_object_new_int64(now + ASSERTION_LIFE));
	return p;
}

/* RSASSA-PSS with SHA-256, MGF1 SHA-256, salt as long as the digest. */
static unsigned char *
sign_ps256(EVP_PKEY *key, const char *data, size_t *siglen)
{
	EVP_MD_CTX	*md;
	EVP_PKEY_CTX	*pctx;
	unsigned char	*sig = NULL;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0 &&
	    EVP_DigestSign(md, NULL, siglen, (const unsigned char *)data,
	    strlen(data)) == 1) {
		sig = xmalloc(*siglen);
		if (EVP_DigestSign(md, sig, siglen,
		    (const unsigned char *)data, strlen(data)) != 1) {
			free(sig);
			sig = NULL;
		}
	}
	EVP_MD_CTX_free(md);
	return sig;
}

/*
 * The client assertion for c's token endpoint, signed now, in out.
 * 0, or -1 if it cannot be made (out too small, OpenSSL failed).
 */
int
oauth_assertion(const struct credential *c, char *out, size_t outlen)
{
	json_object	*h, *p;
	unsigned char	*sig;
	size_t		 siglen, len;
	int		 r = -1;

	*out = '\0';
	h = header(c->cert);
	p = claims(c, time(NULL));
	if (add_part(out, outlen, h, ".") == 0 &&
	    add_part(out, outlen, p, "") == 0 &&
	    (sig = sign_ps256(c->cert->key, out, &siglen)) != NULL) {
		len = strlen(out);
		if (len + 1 < outlen) {
			out[len] = '.';
			r = base64url(sig, siglen, out + len + 1,
			    outlen - len - 1);
		}
		free(sig);
	}
	json_object_put(h);
	json_object_put(p);
	return r;
}
