/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_password.c: a hash made by password_hash() accepts its password
 * and nothing else; locked and empty hashes accept nothing.
 */
#include <string.h>

#include "password.h"
#include "tap.h"

static void
test_hash_and_check(void)
{
	char	 hash[PASSWORD_HASH_MAX], again[PASSWORD_HASH_MAX];
	char	 locked[PASSWORD_HASH_MAX + 1];

	ok(password_hash("s3cret pass", hash, sizeof(hash)) == 0, "hash");
	ok(strncmp(hash, "$y$", 3) == 0, "yescrypt hash: %s", hash);
	ok(password_check("s3cret pass", hash) == 1, "right password");
	ok(password_check("s3cret pasS", hash) == 0, "wrong password");
	ok(password_check("s3cret pas", hash) == 0, "prefix of the password");
	ok(password_check("", hash) == 0, "empty password");

	ok(password_hash("s3cret pass", again, sizeof(again)) == 0 &&
	    strcmp(hash, again) != 0, "a fresh salt each time");
	ok(password_check("s3cret pass", again) == 1, "second hash checks");

	locked[0] = '!';
	strlcpy(locked + 1, hash, sizeof(locked) - 1);
	ok(password_check("s3cret pass", locked) == 0, "locked with !");
	locked[0] = '*';
	ok(password_check("s3cret pass", locked) == 0, "locked with *");
	ok(password_check("s3cret pass", "*") == 0, "hash *");
	ok(password_check("s3cret pass", "") == 0, "empty hash");
	ok(password_check("s3cret pass", "$y$j9T$") == 0, "salt only");
	ok(password_check("s3cret pass", "garbage") == 0, "not a hash");
}

static void
test_hash_too_small(void)
{
	char	 small[16];

	ok(password_hash("x", small, sizeof(small)) == -1,
	    "hash refused when out is too small");
}

int
main(void)
{
	test_hash_and_check();
	test_hash_too_small();
	return tap_done();
}
