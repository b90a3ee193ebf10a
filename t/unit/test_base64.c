/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_base64.c: the decoder takes each byte string in exactly one
 * spelling, so a signature cannot be re-spelled and still verify.
 */
#include <string.h>

#include "base64.h"
#include "tap.h"

static int
decodes(const char *in, const char *want, size_t wantlen)
{
	unsigned char	 out[64];
	ssize_t		 n;

	n = base64_decode(in, out, sizeof(out));
	if (want == NULL)
		return n == -1;
	return n == (ssize_t)wantlen && memcmp(out, want, wantlen) == 0;
}

/* The 16 spellings of a 2-byte end differ in the 4 bits '=' drops. */
static int
one_spelling_of_two_bytes(void)
{
	static const char	 alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char		 out[8];
	char			 in[5];
	int			 i, accepted = 0;

	for (i = 0; i < 64; i++) {
		snprintf(in, sizeof(in), "EW%c=", alphabet[i]);
		if (base64_decode(in, out, sizeof(out)) == 2 &&
		    out[0] == 0x11 && out[1] == 0x64)
			accepted++;
	}
	return accepted == 1;
}

int
main(void)
{
	ok(decodes("EWQ=", "\x11\x64", 2), "canonical one-pad text");
	ok(decodes("EWT=", NULL, 0), "pad bits set under one '=' refused");
	ok(decodes("QQ==", "A", 1), "canonical two-pad text");
	ok(decodes("QR==", NULL, 0), "pad bits set under two '=' refused");
	ok(decodes("QUJD", "ABC", 3), "no padding");
	ok(decodes("QUJ", NULL, 0), "missing padding refused");
	ok(one_spelling_of_two_bytes(), "one of 64 spellings decodes");
	return tap_done();
}
