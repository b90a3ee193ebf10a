/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * tap.h: a minimal TAP producer for the C unit tests (run by
 * t/test_unit.py).  ok(cond, name) prints "ok N - name" or "not ok N";
 * must(cond, what) stops the test when a step it depends on fails.
 */
#ifndef FERRY_TAP_H
#define FERRY_TAP_H

#include <stdio.h>
#include <stdlib.h>

static int	 tap_n, tap_failed;

#define ok(cond, ...) do {						\
	int _c = (cond);						\
	printf("%sok %d - ", _c ? "" : "not ", ++tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!_c)							\
		tap_failed++;						\
} while (0)

/* A step a check depends on: if it fails, no later result means anything. */
#define must(cond, what) do {						\
	if (!(cond)) {							\
		printf("Bail out! %s failed\n", (what));			\
		exit(1);						\
	}								\
} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
