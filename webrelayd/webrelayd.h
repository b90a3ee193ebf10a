/*
 * Copyright (c) 2026 The Ferry authors
 * SPDX-License-Identifier: ISC
 */
/*
 * webrelayd.h: the WebSmtp agent's shared types (doc/webrelayd.md).
 */
#ifndef FERRY_WEBRELAYD_H
#define FERRY_WEBRELAYD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "config.h"
#include "result.h"
#include "workq.h"

#define WEB_BODY_MAX	(64 * 1024)	/* bytes of an answer kept */
#define WEB_TEXT_MAX	400		/* longest report text */
#define WEB_RETRY_MAX	86400		/* longest Retry-After passed on */
#define WEB_ERROR_SIZE	256		/* libcurl's CURL_ERROR_SIZE */

/* What the service answered to one post, or why there was no answer. */
struct web_answer {
	long		 status;	/* HTTP status; 0: none */
	int		 failed;	/* the transfer did not complete */
	char		 error[WEB_ERROR_SIZE];	/* libcurl's words, if failed */
	char		 reason[128];	/* the status line's reason phrase */
	long long	 retry_after;	/* seconds; 0: none */
	char		*body;		/* WEB_BODY_MAX + 1 bytes, NUL-ended */
	size_t		 bodylen;
	double		 seconds;	/* the whole post */
};

/*
 * One message to post.  The worker thread fills in the answer; everything
 * else belongs to the event loop.
 */
struct web_post {
	struct workq_item	 item;		/* first: the queue's link */
	TAILQ_ENTRY(web_post)	 entry;		/* waiting */
	struct agent_work	*work;
	int			 stale;		/* queued went away meanwhile */
	struct web_answer	 answer;
};

/* The answer, read per recipient. */
struct web_outcome {
	char			 service_id[128];
	int			 credential_refused;	/* 401, 402, 403 */
	uint32_t		 retry_after;	/* for temporary results */
	char			 text[WEB_TEXT_MAX + 1];	/* the post's */
	enum delivery_result	*result;	/* per recipient */
	char			**rcpt_text;	/* per recipient; NULL: text */
};

/* post.c (post_message in the worker thread) */
void	 post_global_init(void);
void	 post_init(const struct config *, const char *);
int	 post_uses_basic(void);
void	 post_message(struct workq_item *);

/* answer.c */
void	 answer_read(const struct web_answer *, const struct agent_work *,
	    struct web_outcome *);
void	 answer_free(struct web_outcome *, size_t);
const char *answer_rcpt_text(const struct web_outcome *, size_t);

#endif
