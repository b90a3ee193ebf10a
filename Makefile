# Ferry: one Makefile for every program, the tests and the benchmarks.
#
#   make                build everything into bin/
#   make run / stop     start / stop the suite on run/ferry.conf (loopback)
#   make test           build, then run every test (SAN=1: ASan + UBSan)
#   make bench          benchmarks (figures, not pass/fail)
#   make install        PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
SAN	?= 0
PYTHON	:= /usr/bin/python3

PKGS	:= libbsd-overlay libevent
CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -pthread
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif

OBJ	:= obj/san$(SAN)

COMMON	:= common/addr.c common/base64.c common/config.c common/daemon.c \
	   common/ipc.c common/ipc_server.c common/log.c common/netaddr.c \
	   common/privsep.c common/route.c common/users.c \
	   common/util.c common/workq.c
# A delivery agent's link to queued, for relayd and webrelayd.
AGENT	:= common/qlink.c common/agent.c
QUEUED	:= queue/queued.c queue/store.c queue/envelope.c queue/submit.c \
	   queue/message.c queue/sched.c queue/commit.c queue/dispatch.c \
	   queue/wake.c queue/bounce.c \
	   queue/websmtp.c common/license_state.c
# The SMTP client's I/O, for the daemons that talk to other servers.
SMTPIO	:= common/smtp_io.c common/smtp_dialog.c
RELAYD	:= relayd/relayd.c relayd/routes.c relayd/job.c relayd/worker.c \
	   relayd/smtp_client.c relayd/refusal.c relayd/dns.c \
	   relayd/maildir.c $(SMTPIO) \
	   $(AGENT)
WEBRELAYD := webrelayd/webrelayd.c webrelayd/post.c webrelayd/answer.c \
	   $(AGENT)
SMTPD	:= smtpd/smtpd.c smtpd/listener.c smtpd/clients.c smtpd/session.c \
	   smtpd/command.c smtpd/body.c smtpd/auth.c smtpd/policy.c \
	   smtpd/lookup.c smtpd/dclient.c smtpd/table.c smtpd/qclient.c \
	   smtpd/tls.c common/password.c
DELEGATED := delegated/delegated.c delegated/serve.c delegated/probe.c \
	   delegated/cache.c $(SMTPIO)
# The signed licence, for the programs that check it.
LICENSE	:= common/license.c common/license_state.c
FERRYLICENSE := licensed/ferry-license.c $(LICENSE)
LICENSED := licensed/licensed.c common/qlink.c $(LICENSE)
SENDMAIL := sendmail/sendmail.c
CONTROL	:= control/ferry-control.c control/delegate.c control/license.c \
	   common/password.c $(LICENSE)
UNITS	:= $(wildcard t/unit/test_*.c)

PROGS	:= bin/queued bin/licensed bin/relayd bin/webrelayd bin/smtpd \
	   bin/delegated bin/ferry-license \
	   bin/sendmail bin/mailq bin/ferry-control bin/ferryctl
UNITBIN	:= $(UNITS:t/unit/%.c=t/unit/bin/%)
# LD_PRELOAD shims the tests inject faults with (never sanitized).
SHIMS	:= $(patsubst t/shim/%.c,t/shim/bin/%.so,$(wildcard t/shim/*.c))

objs	= $(patsubst %.c,$(OBJ)/%.o,$(1))

all: deps-build $(PROGS) $(UNITBIN) $(SHIMS)

# Installs missing Debian packages when run as root; otherwise lists them.
deps-build:
	@etc/install-deps build

deps-test:
	@etc/install-deps build test users

# Objects of another SAN setting live in another directory; the stamp
# relinks bin/ when the setting changes.
# The flags above call pkg-config when used, so the packages
# deps-build installs are there before the first compile.
$(OBJ)/.stamp: | deps-build
	@mkdir -p $(OBJ) && rm -f obj/san*/.stamp && touch $@

$(OBJ)/%.o: %.c $(wildcard common/*.h queue/*.h relayd/*.h smtpd/*.h delegated/*.h \
	    webrelayd/*.h control/*.h) $(OBJ)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

bin/queued: $(call objs,$(QUEUED) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/relayd: $(call objs,$(RELAYD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libssl libcrypto) -lresolv

bin/webrelayd: $(call objs,$(WEBRELAYD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl json-c)

bin/smtpd: $(call objs,$(SMTPD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) \
		$(shell pkg-config --libs libevent_openssl libssl libcrypto)

bin/delegated: $(call objs,$(DELEGATED) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libssl libcrypto)

bin/licensed: $(call objs,$(LICENSED) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcrypto)

bin/ferry-license: $(call objs,$(FERRYLICENSE) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcrypto)

bin/sendmail: $(call objs,$(SENDMAIL) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/mailq: bin/sendmail
	ln -sf sendmail $@

bin/ferry-control: $(call objs,$(CONTROL) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcrypto)

bin/ferryctl: etc/ferryctl
	@mkdir -p bin
	install -m 0755 $< $@

t/unit/bin/%: $(OBJ)/t/unit/%.o $(call objs,$(COMMON))
	@mkdir -p t/unit/bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

t/shim/bin/%.so: t/shim/%.c
	@mkdir -p t/shim/bin
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared -fPIC \
		-o $@ $< -ldl

# Unit tests of a daemon's own policy link that module too.
t/unit/bin/test_refusal: $(call objs,relayd/refusal.c)
t/unit/bin/test_password: $(call objs,common/password.c)
t/unit/bin/test_password: LDLIBS += -lcrypto

run: all
	@etc/install-deps run users
	@etc/mkrunconf
	@bin/ferryctl -c $(CURDIR)/run/ferry.conf start
	@echo
	@echo "Ferry is running with run/ferry.conf.  Send a first message:"
	@echo "  swaks --server 127.0.0.1:2525 --from me@localhost --to you@localhost"
	@echo "  ls run/mail/you/Maildir/new/"
	@echo "or with curl, or locally with sendmail:"
	@echo "  echo hello | curl -sS --crlf -T - smtp://127.0.0.1:2525 \\"
	@echo "      --mail-from me@localhost --mail-rcpt you@localhost"
	@echo "  echo hi | bin/sendmail -C run/ferry.conf you@localhost"
	@echo "Submission with AUTH: bin/ferryctl -c run/ferry.conf passwd me, then"
	@echo "  swaks --server 127.0.0.1:2587 --tls --auth-user me --to someone@example.com"
	@echo "See the queue with: bin/mailq -C run/ferry.conf"
	@echo "Stop it with: make stop"

stop:
	@if [ -f run/ferry.conf ]; then \
		bin/ferryctl -c $(CURDIR)/run/ferry.conf stop; fi

test: deps-test all
	$(PYTHON) -m pytest -q t

bench: deps-test all
	POSTFIX=$(POSTFIX) $(PYTHON) bench/run.py

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)/etc/ferry
	install -m 0755 bin/queued bin/licensed bin/relayd bin/webrelayd \
		bin/smtpd \
		bin/delegated bin/ferry-license bin/ferry-control \
		bin/ferryctl \
		$(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 bin/sendmail $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sf ../sbin/sendmail $(DESTDIR)$(PREFIX)/bin/mailq
	test -e $(DESTDIR)/etc/ferry/ferry.conf || \
		install -m 0644 etc/ferry.conf $(DESTDIR)/etc/ferry/ferry.conf

clean:
	rm -rf obj bin t/unit/bin t/shim/bin

.PHONY: all deps-build deps-test run stop test bench install clean

# Keep the unit tests' objects: they are intermediate files to make.
.SECONDARY:
