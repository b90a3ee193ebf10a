/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * ipc.h: framing of the messages Ferry's processes exchange over
 * SOCK_SEQPACKET UNIX sockets (see doc/ipc.md).
 *
 * One sendmsg() is one frame: a 12-byte header {type, payload length,
 * request id} and typed fields, all big-endian.  Writers use ipc_put_*;
 * readers use the bounds-checked ipc_get_* and finish with ipc_get_end(),
 * which fails on leftover bytes.  Any failure sets the frame's error flag,
 * so a sequence of calls can be checked once.
 */
#ifndef FERRY_IPC_H
#define FERRY_IPC_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION	1
#define IPC_HEADER_SIZE	12
#define IPC_FRAME_MAX	65536
#define IPC_STR_MAX	4096	/* longest string field a reader accepts */
/* most bytes in one bytes field: a frame less its header and one tag */
#define IPC_DATA_MAX	(IPC_FRAME_MAX - IPC_HEADER_SIZE - 5)
#define QUEUE_ID_LEN	16	/* queue IDs: 16 upper-case hex digits */

enum ipc_type {
	IPC_HELLO = 1,
	IPC_OK = 2,
	IPC_ERROR = 3,
	IPC_CREATE = 10,
	IPC_CREATED = 11,
	IPC_RCPT = 12,
	IPC_COMMIT = 13,
	IPC_SUBMIT = 14,
	IPC_SUBMIT_COMMIT = 15,
	IPC_COMMITTED = 16,
	IPC_SUBMIT_DATA = 17,
	IPC_FETCH = 20,
	IPC_WORK = 21,
	IPC_WORK_RCPT = 22,
	IPC_NO_WORK = 23,
	IPC_REPORT = 24,
	IPC_LIST = 30,
	IPC_LIST_MSG = 31,
	IPC_LIST_RCPT = 32,
	IPC_LIST_END = 33,
	IPC_FLUSH = 34,
	IPC_DELETE = 35,
	IPC_WAKE = 36,
	IPC_JOB = 40,
	IPC_JOB_RCPT = 41,
	IPC_RESULT = 42,
	IPC_JOB_DONE = 43,
	IPC_DELEG_AUTH = 50,
	IPC_DELEG_RCPT = 51,
	IPC_DELEG_ANSWER = 52,
	IPC_DELEG_TEST = 53,
	IPC_DELEG_LIST = 54,
	IPC_DELEG_ENTRY = 55,
	IPC_DELEG_FORGET = 56,
	IPC_DELEG_STATUS = 57,
	IPC_LICENSE_QUERY = 60,
	IPC_LICENSE_STATE = 61,
	IPC_TOKEN_GET = 70,
	IPC_TOKEN = 71
};

/* Results in IPC_TOKEN. */
#define TOKEN_OK	0
#define TOKEN_TEMP	1
#define TOKEN_CONFIG	2

/* Results in IPC_DELEG_ANSWER. */
#define DELEG_YES	0
#define DELEG_NO	1
#define DELEG_TEMP	2

/* Error classes carried by IPC_ERROR. */
#define IPC_ERR_TEMP	0
#define IPC_ERR_PERM	1
#define IPC_ERR_NOSPACE	2	/* temporary: the queue's file system is full */

/* Flags of IPC_SUBMIT_COMMIT. */
#define SUBMIT_HEADER_RCPTS	0x1	/* sendmail -t */

struct ipc_frame {
	uint32_t	 type;
	uint32_t	 reqid;
	size_t		 len;		/* bytes used in buf, header included */
	size_t		 pos;		/* read cursor */
	int		 fd;		/* descriptor received, or -1 */
	int		 error;		/* a put or get failed */
	unsigned char	 buf[IPC_FRAME_MAX];
};

void	 ipc_frame_init(struct ipc_frame *, uint32_t, uint32_t);
void	 ipc_put_u32(struct ipc_frame *, uint32_t);
void	 ipc_put_u64(struct ipc_frame *, uint64_t);
void	 ipc_put_str(struct ipc_frame *, const char *);
void	 ipc_put_bytes(struct ipc_frame *, const void *, size_t);
int	 ipc_get_u32(struct ipc_frame *, uint32_t *);
int	 ipc_get_u64(struct ipc_frame *, uint64_t *);
int	 ipc_get_str(struct ipc_frame *, char *, size_t);
int	 ipc_get_bytes(struct ipc_frame *, const unsigned char **, size_t *);
int	 ipc_get_end(struct ipc_frame *);
void	 ipc_frame_finish(struct ipc_frame *);
int	 ipc_frame_parse(struct ipc_frame *, size_t);

int	 ipc_sendmsg(int, const void *, size_t, int);
int	 ipc_send(int, struct ipc_frame *, int);
int	 ipc_recv(int, struct ipc_frame *);
int	 ipc_peer_uid(int, uid_t *);
int	 ipc_listen(const char *, mode_t);
int	 ipc_connect(const char *, int);
int	 ipc_connect_nonblock(const char *);
int	 ipc_hello(int, const char *);
int	 ipc_call(int, struct ipc_frame *, int, struct ipc_frame *);
const char *ipc_type_name(uint32_t);

#endif
