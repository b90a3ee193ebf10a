/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ipc.c: frames over SOCK_SEQPACKET, descriptor passing, peer credentials.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

enum ipc_tag {
	IPC_TAG_U32 = 1,
	IPC_TAG_U64 = 2,
	IPC_TAG_STR = 3,
	IPC_TAG_BYTES = 4
};

static const struct {
	uint32_t	 type;
	const char	*name;
} ipc_names[] = {
	{ IPC_HELLO, "hello" }, { IPC_OK, "ok" }, { IPC_ERROR, "error" },
	{ IPC_CREATE, "create" }, { IPC_CREATED, "created" },
	{ IPC_RCPT, "rcpt" }, { IPC_COMMIT, "commit" },
	{ IPC_SUBMIT, "submit" }, { IPC_SUBMIT_COMMIT, "submit-commit" },
	{ IPC_COMMITTED, "committed" }, { IPC_SUBMIT_DATA, "submit-data" },
	{ IPC_FETCH, "fetch" },
	{ IPC_WORK, "work" }, { IPC_WORK_RCPT, "work-rcpt" },
	{ IPC_NO_WORK, "no-work" }, { IPC_REPORT, "report" },
	{ IPC_LIST, "list" }, { IPC_LIST_MSG, "list-msg" },
	{ IPC_LIST_RCPT, "list-rcpt" }, { IPC_LIST_END, "list-end" },
	{ IPC_FLUSH, "flush" }, { IPC_DELETE, "delete" },
	{ IPC_WAKE, "wake" }, { IPC_JOB, "job" }, { IPC_JOB_RCPT, "job-rcpt" },
	{ IPC_RESULT, "result" }, { IPC_JOB_DONE, "job-done" },
	{ IPC_DELEG_AUTH, "deleg-auth" }, { IPC_DELEG_RCPT, "deleg-rcpt" },
	{ IPC_DELEG_ANSWER, "deleg-answer" }, { IPC_DELEG_TEST, "deleg-test" },
	{ IPC_DELEG_LIST, "deleg-list" }, { IPC_DELEG_ENTRY, "deleg-entry" },
	{ IPC_DELEG_FORGET, "deleg-forget" }, { IPC_DELEG_STATUS, "deleg-status" },
	{ IPC_LICENSE_QUERY, "license-query" },
	{ IPC_LICENSE_STATE, "license-state" },
	{ IPC_TOKEN_GET, "token-get" }, { IPC_TOKEN, "token" },
};

const char *
ipc_type_name(uint32_t type)
{
	size_t	 i;

	for (i = 0; i < sizeof(ipc_names) / sizeof(ipc_names[0]); i++)
		if (ipc_names[i].type == type)
			return ipc_names[i].name;
	return "unknown";
}

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

void
ipc_frame_init(struct ipc_frame *f, uint32_t type, uint32_t reqid)
{
	f->type = type;
	f->reqid = reqid;
	f->len = IPC_HEADER_SIZE;
	f->pos = IPC_HEADER_SIZE;
	f->fd = -1;
	f->error = 0;
}

static void
ipc_put(struct ipc_frame *f, int tag, const void *data, size_t n)
{
	if (f->error || n > sizeof(f->buf) - f->len - 1) {
		f->error = 1;
		return;
	}
	f->buf[f->len++] = tag;
	memcpy(f->buf + f->len, data, n);
	f->len += n;
}

void
ipc_put_u32(struct ipc_frame *f, uint32_t v)
{
	unsigned char	 b[4];

	put_be(b, v, 4);
	ipc_put(f, IPC_TAG_U32, b, 4);
}

void
ipc_put_u64(struct ipc_frame *f, uint64_t v)
{
	unsigned char	 b[8];

	put_be(b, v, 8);
	ipc_put(f, IPC_TAG_U64, b, 8);
}

/* A length-prefixed field (a string or bytes) of at most max bytes. */
static void
ipc_put_sized(struct ipc_frame *f, int tag, const void *data, size_t n,
    size_t max)
{
	unsigned char	 b[4];

	if (n > max || f->error || n + 5 > sizeof(f->buf) - f->len) {
		f->error = 1;
		return;
	}
	put_be(b, n, 4);
	ipc_put(f, tag, b, 4);
	memcpy(f->buf + f->len, data, n);
	f->len += n;
}

void
ipc_put_str(struct ipc_frame *f, const char *s)
{
	ipc_put_sized(f, IPC_TAG_STR, s, strlen(s), IPC_STR_MAX);
}

/* Raw bytes, up to what is left of the frame (IPC_DATA_MAX in all). */
void
ipc_put_bytes(struct ipc_frame *f, const void *data, size_t n)
{
	ipc_put_sized(f, IPC_TAG_BYTES, data, n, IPC_DATA_MAX);
}

/* Check that a field with this tag and n value bytes follows. */
static const unsigned char *
ipc_get(struct ipc_frame *f, int tag, size_t n)
{
	const unsigned char	*p;

	if (f->error || f->len - f->pos < 1 + n || f->buf[f->pos] != tag) {
		f->error = 1;
		return NULL;
	}
	p = f->buf + f->pos + 1;
	f->pos += 1 + n;
	return p;
}

int
ipc_get_u32(struct ipc_frame *f, uint32_t *v)
{
	const unsigned char	*p;

	if ((p = ipc_get(f, IPC_TAG_U32, 4)) == NULL)
		return -1;
	*v = get_be(p, 4);
	return 0;
}

int
ipc_get_u64(struct ipc_frame *f, uint64_t *v)
{
	const unsigned char	*p;

	if ((p = ipc_get(f, IPC_TAG_U64, 8)) == NULL)
		return -1;
	*v = get_be(p, 8);
	return 0;
}

/* Copy a string field into buf; fails if it does not fit or holds a NUL. */
int
ipc_get_str(struct ipc_frame *f, char *buf, size_t size)
{
	const unsigned char	*p;
	size_t			 n;

	if ((p = ipc_get(f, IPC_TAG_STR, 4)) == NULL)
		return -1;
	n = get_be(p, 4);
	if (n >= size || n > f->len - f->pos ||
	    memchr(f->buf + f->pos, '\0', n) != NULL) {
		f->error = 1;
		return -1;
	}
	memcpy(buf, f->buf + f->pos, n);
	buf[n] = '\0';
	f->pos += n;
	return 0;
}

/* Point *data at a bytes field inside f and set *n to its length. */
int
ipc_get_bytes(struct ipc_frame *f, const unsigned char **data, size_t *n)
{
	const unsigned char	*p;

	if ((p = ipc_get(f, IPC_TAG_BYTES, 4)) == NULL)
		return -1;
	*n = get_be(p, 4);
	if (*n > f->len - f->pos) {
		f->error = 1;
		return -1;
	}
	*data = f->buf + f->pos;
	f->pos += *n;
	return 0;
}

/* The reader's last call: fails on any earlier error or leftover byte. */
int
ipc_get_end(struct ipc_frame *f)
{
	if (f->error || f->pos != f->len) {
		f->error = 1;
		return -1;
	}
	return 0;
}

/* Write the header once all fields are in. */
void
ipc_frame_finish(struct ipc_frame *f)
{
	put_be(f->buf, f->type, 4);
	put_be(f->buf + 4, f->len - IPC_HEADER_SIZE, 4);
	put_be(f->buf + 8, f->reqid, 4);
}

/* Validate the header of n received bytes in f->buf. */
int
ipc_frame_parse(struct ipc_frame *f, size_t n)
{
	f->error = 0;
	f->pos = IPC_HEADER_SIZE;
	f->len = n;
	if (n < IPC_HEADER_SIZE ||
	    get_be(f->buf + 4, 4) != n - IPC_HEADER_SIZE) {
		f->error = 1;
		return -1;
	}
	f->type = get_be(f->buf, 4);
	f->reqid = get_be(f->buf + 8, 4);
	return 0;
}

/* Send len bytes of a finished frame as one record, with fd unless -1. */
int
ipc_sendmsg(int sock, const void *buf, size_t len, int fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return n == -1 ? -1 : 0;
}

/* Send f, with fd attached unless it is -1.  Fails on a frame in error. */
int
ipc_send(int sock, struct ipc_frame *f, int fd)
{
	if (f->error) {
		errno = EMSGSIZE;
		return -1;
	}
	ipc_frame_finish(f);
	return ipc_sendmsg(sock, f->buf, f->len, fd);
}

/* Close every descriptor carried by a control message we will not use. */
static void
ipc_close_fds(struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	int		 fd;
	size_t		 i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			close(fd);
		}
	}
}

/*
 * Receive one frame.  Returns 1 with a valid header, 0 at end of file, -1
 * on error: errno EBADMSG for a malformed frame (truncated, bad length,
 * more than one descriptor), which the caller answers by closing the
 * connection.
 */
int
ipc_recv(int sock, struct ipc_frame *f)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(2 * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = f->buf;
	iov.iov_len = sizeof(f->buf);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	f->fd = -1;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0 && msg.msg_controllen == 0)
		return 0;
	cmsg = CMSG_FIRSTHDR(&msg);
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (cmsg != NULL && (cmsg->cmsg_level != SOL_SOCKET ||
	    cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    CMSG_NXTHDR(&msg, cmsg) != NULL))) {
		ipc_close_fds(&msg);
		errno = EBADMSG;
		return -1;
	}
	if (cmsg != NULL)
		memcpy(&f->fd, CMSG_DATA(cmsg), sizeof(int));
	if (ipc_frame_parse(f, n) == -1) {
		if (f->fd != -1)
			close(f->fd);
		f->fd = -1;
		errno = EBADMSG;
		return -1;
	}
	return 1;
}

int
ipc_peer_uid(int sock, uid_t *uid)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	*uid = cred.uid;
	return 0;
}

static int
ipc_sockaddr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Bind a listening socket at path with the given mode.  The caller holds
 * the daemon's pidfile lock, so a socket file left there is stale.
 */
int
ipc_listen(const char *path, mode_t mode)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 s;

	if (ipc_sockaddr(&sun, path) == -1)
		return -1;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT)
		goto fail;
	old = umask(0077);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (chmod(path, mode) == -1 || listen(s, 128) == -1)
		goto fail;
	return s;
fail:
	close(s);
	return -1;
}

/* Connect to path; replies slower than timeout seconds fail with EAGAIN. */
int
ipc_connect(const char *path, int timeout)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { timeout, 0 };
	int			 s, saved;

	if (ipc_sockaddr(&sun, path) == -1)
		return -1;
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(s);
		errno = saved;
		return -1;
	}
	return s;
}

/*
 * Client side of a blocking request: send req (with fd), receive the
 * reply with the same request id into rep.  Returns 0, or -1 with errno
 * (EPROTO for a reply that does not match).
 */
int
ipc_call(int sock, struct ipc_frame *req, int fd, struct ipc_frame *rep)
{
	int	 r;

	if (ipc_send(sock, req, fd) == -1)
		return -1;
	if ((r = ipc_recv(sock, rep)) <= 0) {
		if (r == 0)
			errno = ECONNRESET;
		return -1;
	}
	if (rep->reqid != req->reqid) {
		if (rep->fd != -1)
			close(rep->fd);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Connect without waiting: -1 (EAGAIN) when the backlog is full. */
int
ipc_connect_nonblock(const char *path)
{
	struct sockaddr_un	 sun;
	int			 s, saved;

	if (ipc_sockaddr(&sun, path) == -1)
		return -1;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1)
		return -1;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(s);
		errno = saved;
		return -1;
	}
	return s;
}

/* Open a connection as a client: exchange HELLO frames. */
int
ipc_hello(int sock, const char *name)
{
	struct ipc_frame	*req, *rep;
	uint32_t		 version;
	char			 peer[64];
	int			 ret = -1;

	req = malloc(sizeof(*req));
	rep = malloc(sizeof(*rep));
	if (req == NULL || rep == NULL)
		goto done;
	ipc_frame_init(req, IPC_HELLO, 0);
	ipc_put_u32(req, IPC_VERSION);
	ipc_put_str(req, name);
	if (ipc_call(sock, req, -1, rep) == -1)
		goto done;
	if (rep->type != IPC_HELLO || ipc_get_u32(rep, &version) == -1 ||
	    ipc_get_str(rep, peer, sizeof(peer)) == -1 ||
	    ipc_get_end(rep) == -1 || version != IPC_VERSION) {
		errno = EPROTO;
		goto done;
	}
	ret = 0;
done:
	free(req);
	free(rep);
	return ret;
}
