/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * base64.c: encoding and strict decoding.  The decoder refuses what a
 * lenient one would guess at (blanks, missing padding, stray characters),
 * because its input comes from the network.
 */
#include <string.h>

#include "base64.h"

static const char	 b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode len bytes into out (NUL-terminated); -1 if it does not fit. */
int
base64_encode(const void *in, size_t len, char *out, size_t size)
{
	const unsigned char	*p = in;
	unsigned long		 v;
	size_t			 i, o = 0;

	if (len > (size - 1) / 4 * 3 || size == 0)
		return -1;
	for (i = 0; i < len; i += 3) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

static int
b64_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return -1;
	return p - b64_alphabet;
}

/*
 * Decode the NUL-terminated in into out.  Returns the number of bytes, or
 * -1 if in is not canonical base64 or out is too small.
 */
ssize_t
base64_decode(const char *in, unsigned char *out, size_t size)
{
	size_t		 len = strlen(in), i, o = 0;
	unsigned long	 v;
	int		 d[4], k, pad;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && k >= 2 && i + 4 == len &&
			    (k == 3 || in[i + 3] == '=')) {
				d[k] = 0;
				pad++;
			} else if ((d[k] = b64_value(in[i + k])) == -1)
				return -1;
		}
		v = (unsigned long)d[0] << 18 | d[1] << 12 | d[2] << 6 | d[3];
		/* Bits the padding drops must be 0: one spelling per text. */
		if ((pad == 1 && (v & 0xff) != 0) ||
		    (pad == 2 && (v & 0xffff) != 0))
			return -1;
		if (o + 3 - pad > size)
			return -1;
		out[o++] = v >> 16;
		if (pad < 2)
			out[o++] = (v >> 8) & 0xff;
		if (pad < 1)
			out[o++] = v & 0xff;
	}
	return o;
}
