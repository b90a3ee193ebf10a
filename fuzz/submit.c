/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * submit.c: fuzz queued's rewrite of a local submission (queue/submit.c)
 * with and without sendmail -t, which reads recipients from the To, Cc
 * and Bcc headers.  The message written must have no bare CR or LF.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "../queue/envelope.h"
#include "../queue/submit.h"

#include "crlf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config		 conf;
	struct submit_req	 req;
	struct envelope		 env;
	const char		*why;
	int			 in, out;

	if (size == 0)
		return 0;
	memset(&conf, 0, sizeof(conf));
	conf.myhostname = "mail.example";
	conf.myorigin = "example";
	conf.max_recipients = 50;
	memset(&req, 0, sizeof(req));
	req.conf = &conf;
	req.login = "user";
	req.fullname = data[0] & 2 ? "A \"B\" \\ C" : "";
	req.uid = 1000;
	req.header_rcpts = data[0] & 1;
	if ((in = memfd_create("in", MFD_CLOEXEC)) == -1 ||
	    (out = memfd_create("msg", MFD_CLOEXEC)) == -1)
		abort();
	if (write(in, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	envelope_init(&env, "0123456789abcdef");
	if (submit_rewrite(&req, &env, in, out, &why) == 0)
		crlf_check_file(out, 1);
	envelope_free(&env);
	close(in);
	close(out);
	return 0;
}
