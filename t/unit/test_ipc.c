/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * test_ipc.c: frame encoding, the bounds checks of every reader, and
 * descriptor passing over a real SOCK_SEQPACKET socket pair.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "tap.h"

static struct ipc_frame	 f, g;

/* Encode f and decode it again into g, as a receiver would. */
static int
roundtrip(void)
{
	ipc_frame_finish(&f);
	memcpy(g.buf, f.buf, f.len);
	return ipc_frame_parse(&g, f.len);
}

static void
test_fields(void)
{
	uint32_t	 u32;
	uint64_t	 u64;
	char		 s[16];

	ipc_frame_init(&f, IPC_REPORT, 7);
	ipc_put_u32(&f, 0xdeadbeef);
	ipc_put_u64(&f, 1ULL << 40);
	ipc_put_str(&f, "hello");
	ok(roundtrip() == 0 && g.type == IPC_REPORT && g.reqid == 7,
	    "header survives");
	ok(ipc_get_u32(&g, &u32) == 0 && u32 == 0xdeadbeef, "u32");
	ok(ipc_get_u64(&g, &u64) == 0 && u64 == 1ULL << 40, "u64");
	ok(ipc_get_str(&g, s, sizeof(s)) == 0 && strcmp(s, "hello") == 0,
	    "string");
	ok(ipc_get_end(&g) == 0, "nothing left over");
	ok(strcmp(ipc_type_name(IPC_REPORT), "report") == 0, "type names");
}

static void
test_bad_frames(void)
{
	uint32_t	 u32;
	uint64_t	 u64;
	char		 s[4];
	char		 big[IPC_STR_MAX + 2];

	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_u32(&f, 1);
	roundtrip();
	ok(ipc_get_end(&g) == -1, "leftover bytes fail");
	roundtrip();
	ok(ipc_get_u64(&g, &u64) == -1, "wrong field tag fails");
	ok(ipc_get_u32(&g, &u32) == -1, "error is sticky");

	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_str(&f, "toolong");
	roundtrip();
	ok(ipc_get_str(&g, s, sizeof(s)) == -1, "string larger than buffer");

	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_u32(&f, 1);
	roundtrip();
	g.len -= 2;
	ok(ipc_get_u32(&g, &u32) == -1, "truncated field");

	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_u32(&f, 1);
	ipc_frame_finish(&f);
	memcpy(g.buf, f.buf, f.len);
	ok(ipc_frame_parse(&g, f.len - 1) == -1, "length mismatch");
	ok(ipc_frame_parse(&g, 5) == -1, "short header");

	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_str(&f, "a");
	roundtrip();
	g.buf[IPC_HEADER_SIZE + 1] = 0x7f;	/* string length far too big */
	ok(ipc_get_str(&g, big, sizeof(big)) == -1, "string past the end");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ipc_frame_init(&f, IPC_OK, 1);
	ipc_put_str(&f, big);
	ok(f.error, "writer refuses a string over IPC_STR_MAX");
}

static void
test_bytes(void)
{
	static unsigned char	 data[IPC_DATA_MAX + 1];
	const unsigned char	*p;
	size_t			 n;
	char			 s[8];

	memset(data, 0, sizeof(data));
	data[1] = '\r';
	ipc_frame_init(&f, IPC_SUBMIT_DATA, 3);
	ipc_put_bytes(&f, data, IPC_DATA_MAX);
	ok(!f.error && f.len == IPC_FRAME_MAX, "bytes fill a whole frame");
	ok(roundtrip() == 0 && ipc_get_bytes(&g, &p, &n) == 0 &&
	    n == IPC_DATA_MAX && p[0] == '\0' && p[1] == '\r' &&
	    ipc_get_end(&g) == 0, "bytes, NUL and CR included");

	ipc_frame_init(&f, IPC_SUBMIT_DATA, 3);
	ipc_put_bytes(&f, data, IPC_DATA_MAX + 1);
	ok(f.error, "writer refuses bytes over IPC_DATA_MAX");

	ipc_frame_init(&f, IPC_SUBMIT_DATA, 3);
	ipc_put_bytes(&f, "abc", 3);
	roundtrip();
	g.buf[IPC_HEADER_SIZE + 1] = 0x7f;	/* length far too big */
	ok(ipc_get_bytes(&g, &p, &n) == -1, "bytes past the end");
	roundtrip();
	ok(ipc_get_str(&g, s, sizeof(s)) == -1, "bytes are no string");
}

static void
test_socket(void)
{
	int		 sv[2], fds[2], pfd[2];
	char		 s[8], byte;
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct cmsghdr	*c;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1 ||
	    pipe(pfd) == -1)
		abort();
	ipc_frame_init(&f, IPC_CREATED, 3);
	ipc_put_str(&f, "id");
	ok(ipc_send(sv[0], &f, pfd[1]) == 0, "send with a descriptor");
	ok(ipc_recv(sv[1], &g) == 1 && g.type == IPC_CREATED && g.fd != -1 &&
	    ipc_get_str(&g, s, sizeof(s)) == 0 && ipc_get_end(&g) == 0,
	    "receive frame and descriptor");
	ok(write(g.fd, "z", 1) == 1 && read(pfd[0], &byte, 1) == 1 &&
	    byte == 'z', "the descriptor is the pipe");
	ok((fcntl(g.fd, F_GETFD) & FD_CLOEXEC) != 0, "received close-on-exec");
	close(g.fd);

	/* Two descriptors in one frame: refused, and both closed. */
	fds[0] = pfd[0];
	fds[1] = pfd[1];
	ipc_frame_init(&f, IPC_OK, 4);
	ipc_frame_finish(&f);
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = f.buf;
	iov.iov_len = f.len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	sendmsg(sv[0], &msg, 0);
	errno = 0;
	ok(ipc_recv(sv[1], &g) == -1 && errno == EBADMSG,
	    "two descriptors: malformed");

	/* A record shorter than a header. */
	send(sv[0], "abc", 3, 0);
	errno = 0;
	ok(ipc_recv(sv[1], &g) == -1 && errno == EBADMSG, "short record");
	close(sv[0]);
	ok(ipc_recv(sv[1], &g) == 0, "end of file");
	close(sv[1]);
	close(pfd[0]);
	close(pfd[1]);
}

int
main(void)
{
	test_fields();
	test_bad_frames();
	test_bytes();
	test_socket();
	return tap_done();
}
