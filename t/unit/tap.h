/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * tap.h: a minimal TAP producer for the C unit tests (run by
 * t/test_unit.py).  ok(cond, name) prints "ok N - name" or "not ok N".
 */
#ifndef FERRY_TAP_H
#define FERRY_TAP_H

#include <stdio.h>

static int	 tap_n, tap_failed;

#define ok(cond, ...) do {						\
	int _c = (cond);						\
	printf("%sok %d - ", _c ? "" : "not ", ++tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!_c)							\
		tap_failed++;						\
} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
