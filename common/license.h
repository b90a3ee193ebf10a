/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * license.h: Ferry's signed support licence.
 *
 * A licence is "key: value" lines (id, customer, issued, support-until,
 * features), then one "signature: BASE64" line: an Ed25519 signature by
 * the vendor's key over exactly the bytes before that line.  Dates are
 * YYYY-MM-DD (UTC); support-until is the last valid day.
 */
#ifndef FERRY_LICENSE_H
#define FERRY_LICENSE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "license_state.h"

#define LICENSE_MAX	4096	/* bytes in a licence file */

struct license {
	enum license_state	 state;
	char			 reason[160];	/* why, unless valid */
	char			 id[64];
	char			 customer[128];
	char			 features[128];
	time_t			 issued;	/* 00:00 UTC that day */
	time_t			 support_until;	/* 00:00 UTC the day after */
	long			 days_left;
	char			 text[LICENSE_MAX + 1];	/* the file */
};

EVP_PKEY	*license_public_key(const char *, char *, size_t);
int		 license_parse(const char *, size_t, struct license *,
		    size_t *);
void		 license_check(const char *, EVP_PKEY *, time_t,
		    struct license *);

#endif
