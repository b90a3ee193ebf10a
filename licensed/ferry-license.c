/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ferry-license: make and check Ferry's signed licences.
 *
 * SUMMARY
 *	ferry-license keygen PRIVATE PUBLIC
 *	ferry-license sign PRIVATE [FILE]
 *	ferry-license verify PUBLIC FILE
 *	ferry-license show FILE
 *
 * DESCRIPTION
 *	keygen	make an Ed25519 key pair: PRIVATE (mode 0600) signs, PUBLIC
 *		goes to the sites, named by license_public_key.
 *	sign	read an unsigned licence (FILE or standard input: id,
 *		customer, issued, support-until and features lines) and print
 *		it with its signature line.
 *	verify	print the licence's state (valid, expired, not-yet-valid,
 *		invalid) with the days left or the reason.
 *	show	print the fields, unchecked.
 *
 * EXIT STATUS
 *	0 done (verify: valid), 1 verify: not valid, 64 usage, 65 bad
 *	licence text, 66 cannot read, 73 cannot write, 70 crypto failure.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "base64.h"
#include "license.h"

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: ferry-license keygen private public\n"
	    "       ferry-license sign private [file]\n"
	    "       ferry-license verify public file\n"
	    "       ferry-license show file\n");
	exit(EX_USAGE);
}

static int
write_pem(const char *path, EVP_PKEY *key, int private)
{
	FILE	*fp;
	int	 fd, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    private ? 0600 : 0644);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "ferry-license: %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	ok = private ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_PUBKEY(fp, key);
	if (fclose(fp) == EOF || !ok) {
		fprintf(stderr, "ferry-license: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static int
keygen(const char *private, const char *public)
{
	EVP_PKEY	*key = NULL;
	EVP_PKEY_CTX	*ctx;
	int		 status = EX_OK;

	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_keygen(ctx, &key) != 1) {
		fprintf(stderr, "ferry-license: cannot make a key\n");
		status = EX_SOFTWARE;
	} else if (write_pem(private, key, 1) == -1 ||
	    write_pem(public, key, 0) == -1)
		status = EX_CANTCREAT;
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return status;
}

/* Read at most LICENSE_MAX bytes of path ("-": standard input). */
static ssize_t
read_text(const char *path, char *buf)
{
	ssize_t	 n, len = 0;
	int	 fd = strcmp(path, "-") == 0 ? STDIN_FILENO :
	    open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		fprintf(stderr, "ferry-license: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	while (len <= LICENSE_MAX &&
	    (n = read(fd, buf + len, LICENSE_MAX + 1 - len)) > 0)
		len += n;
	if (fd != STDIN_FILENO)
		close(fd);
	if (len > LICENSE_MAX) {
		fprintf(stderr, "ferry-license: %s: larger than %d bytes\n",
		    path, LICENSE_MAX);
		return -1;
	}
	return len;
}

static int
sign(const char *private, const char *path)
{
	char		 buf[LICENSE_MAX + 1], b64[128];
	unsigned char	 sig[64];
	size_t		 siglen = sizeof(sig), sig_at;
	struct license	 l;
	EVP_PKEY	*key;
	EVP_MD_CTX	*ctx;
	FILE		*fp;
	ssize_t		 len;
	int		 ok;

	if ((len = read_text(path, buf)) == -1)
		return EX_NOINPUT;
	if (license_parse(buf, len, &l, &sig_at) == -1 || sig_at != (size_t)len) {
		fprintf(stderr, "ferry-license: %s: %s\n", path,
		    sig_at != (size_t)len ? "already signed" : l.reason);
		return EX_DATAERR;
	}
	if ((fp = fopen(private, "re")) == NULL) {
		fprintf(stderr, "ferry-license: %s: %s\n", private,
		    strerror(errno));
		return EX_NOINPUT;
	}
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	ctx = EVP_MD_CTX_new();
	ok = key != NULL && ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)buf, len) == 1 &&
	    base64_encode(sig, siglen, b64, sizeof(b64)) == 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	if (!ok) {
		fprintf(stderr, "ferry-license: cannot sign with %s\n",
		    private);
		return EX_SOFTWARE;
	}
	fwrite(buf, 1, len, stdout);
	printf("signature: %s\n", b64);
	return EX_OK;
}

static void
print_fields(const struct license *l)
{
	char	 issued[16], until[16];
	time_t	 last = l->support_until - 86400;

	strftime(issued, sizeof(issued), "%Y-%m-%d", gmtime(&l->issued));
	strftime(until, sizeof(until), "%Y-%m-%d", gmtime(&last));
	printf("id: %s\ncustomer: %s\nissued: %s\nsupport-until: %s\n"
	    "features: %s\n", l->id, l->customer, issued, until, l->features);
}

static int
verify(const char *public, const char *path)
{
	struct license	 l;
	EVP_PKEY	*key;
	char		 why[256];

	if ((key = license_public_key(public, why, sizeof(why))) == NULL) {
		fprintf(stderr, "ferry-license: %s\n", why);
		return EX_NOINPUT;
	}
	license_check(path, key, time(NULL), &l);
	EVP_PKEY_free(key);
	if (l.state == LICENSE_VALID)
		printf("%s: valid, %ld days left\n", path, l.days_left);
	else
		printf("%s: %s: %s\n", path, license_state_name(l.state),
		    l.reason);
	if (l.state != LICENSE_INVALID && l.state != LICENSE_MISSING)
		print_fields(&l);
	return l.state == LICENSE_VALID ? EX_OK : 1;
}

static int
show(const char *path)
{
	char		 buf[LICENSE_MAX + 1];
	struct license	 l;
	size_t		 sig_at;
	ssize_t		 len;

	if ((len = read_text(path, buf)) == -1)
		return EX_NOINPUT;
	if (license_parse(buf, len, &l, &sig_at) == -1) {
		fprintf(stderr, "ferry-license: %s: %s\n", path, l.reason);
		return EX_DATAERR;
	}
	print_fields(&l);
	printf("signed: %s\n", sig_at != (size_t)len ? "yes (unchecked)" :
	    "no");
	return EX_OK;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "keygen") == 0)
		return keygen(argv[2], argv[3]);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "sign") == 0)
		return sign(argv[2], argc == 4 ? argv[3] : "-");
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return show(argv[2]);
	usage();
}
