# Ferry: one Makefile for every program, the tests and the benchmarks.
#
#   make                build everything into bin/
#   make run / stop     start / stop the suite on run/ferry.conf (loopback)
#   make test           build, then run every test (SAN=1: ASan + UBSan)
#   make bench          benchmarks (figures, not pass/fail)
#   make chaos          kill -9 random daemons 1000 times under load (figures)
#   make fuzz           libFuzzer harnesses, each run FUZZ_SECONDS (fuzz/)
#   make deb            ferry_VERSION_ARCH.deb (debian/; the rest in dist/)
#   make install        build and install (README "Installed files"):
#                       PREFIX=/usr/local SYSCONFDIR=/etc LOCALSTATEDIR=/var
#                       DESTDIR=; make install-users for the system users
#   make uninstall      remove what install put there
#   make man            man/ferry.conf.5 from the config key table
#   make install-units  the systemd units into UNITDIR (doc/systemd.md)

PREFIX	?= /usr/local
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
DESTDIR	?=
BINDIR	:= $(PREFIX)/bin
SBINDIR	:= $(PREFIX)/sbin
LIBEXECDIR := $(PREFIX)/libexec/ferry
DOCDIR	:= $(PREFIX)/share/doc/ferry
MANDIR	?= $(PREFIX)/share/man
# DEPS=no: never run etc/install-deps (install and package builds).
DEPS	?= yes
# systemd also reads /usr/local/lib/systemd/system; the Debian package
# passes UNITDIR=/lib/systemd/system.
UNITDIR	?= $(PREFIX)/lib/systemd/system
SAN	?= 0
PYTHON	:= /usr/bin/python3
VERSION	:= $(shell cat VERSION)

PKGS	:= libbsd-overlay libevent
CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
	   -DFERRY_CONF_DEFAULT='"$(SYSCONFDIR)/ferry/ferry.conf"' \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -pthread
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif

OBJ	:= obj/san$(SAN)

COMMON	:= common/addr.c common/aliases.c common/base64.c common/config.c \
	   common/config_doc.c \
	   common/daemon.c common/ipc.c common/ipc_server.c common/log.c \
	   common/maildir.c common/netaddr.c common/privsep.c common/route.c \
	   common/secret.c common/users.c common/util.c common/workq.c
# A delivery agent's link to queued, for relayd, webrelayd and locald.
AGENT	:= common/qlink.c common/agent.c
QUEUED	:= queue/queued.c queue/store.c queue/envelope.c queue/submit.c \
	   queue/message.c queue/sched.c queue/commit.c queue/dispatch.c \
	   queue/wake.c queue/bounce.c \
	   queue/websmtp.c common/license_state.c
# relay_auth_file (and the client certificates it names), for relayd;
# with the OAuth2 token requests, for relayd-token and ferry-control.
CREDENTIALS := common/credentials.c common/oauth_assertion.c
CREDENTIALS_LIBS = $(shell pkg-config --libs json-c libcrypto)
OAUTH	:= $(CREDENTIALS) common/oauth.c common/oauth_answer.c \
	   common/oauth_state.c
OAUTH_LIBS = $(shell pkg-config --libs libcurl json-c libcrypto)
# The SMTP client's I/O, for the daemons that talk to other servers.
SMTPIO	:= common/smtp_io.c common/smtp_dialog.c
RELAYD	:= relayd/relayd.c relayd/routes.c relayd/job.c relayd/worker.c \
	   relayd/smtp_client.c relayd/refusal.c relayd/dns.c \
	   relayd/maildir.c relayd/token.c $(SMTPIO) $(CREDENTIALS) \
	   $(AGENT)
# relayd's token process: the only program of relayd's with libcurl.
RELAYD_TOKEN := relayd/relayd-token.c $(OAUTH)
WEBRELAYD := webrelayd/webrelayd.c webrelayd/post.c webrelayd/answer.c \
	   $(AGENT)
LOCALD	:= local/locald.c local/expand.c local/forward.c local/header.c \
	   local/recipients.c local/copy.c local/mailbox.c local/maildir.c \
	   local/command.c $(AGENT)
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
SENDMAIL := sendmail/sendmail.c sendmail/newaliases.c
CONTROL	:= control/ferry-control.c control/delegate.c control/license.c \
	   control/oauth.c common/password.c $(LICENSE) $(OAUTH)
UNITS	:= $(wildcard t/unit/test_*.c)

PROGS	:= bin/queued bin/licensed bin/relayd bin/relayd-token bin/webrelayd \
	   bin/locald bin/smtpd \
	   bin/delegated bin/ferry-license \
	   bin/sendmail bin/mailq bin/newaliases bin/ferry-control bin/ferryctl
UNITBIN	:= $(UNITS:t/unit/%.c=t/unit/bin/%)
# LD_PRELOAD shims the tests inject faults with (never sanitized).
SHIMS	:= $(patsubst t/shim/%.c,t/shim/bin/%.so,$(wildcard t/shim/*.c))

objs	= $(patsubst %.c,$(OBJ)/%.o,$(1))

all: deps-build $(PROGS) $(UNITBIN) $(SHIMS) man

# Installs missing Debian packages when run as root; otherwise lists them.
INSTALL_DEPS = @[ "$(DEPS)" = no ] || etc/install-deps

deps-build:
	$(INSTALL_DEPS) build

deps-test:
	$(INSTALL_DEPS) build test users

deps-fuzz:
	$(INSTALL_DEPS) build fuzz

# Objects of another SAN setting live in another directory; the stamp
# relinks bin/ when the setting changes.
# The flags above call pkg-config when used, so the packages
# deps-build installs are there before the first compile.
$(OBJ)/.stamp: | deps-build
	@mkdir -p $(OBJ) && rm -f obj/san*/.stamp && touch $@

# The compiled-in configuration path follows SYSCONFDIR: .sysconfdir
# changes, and every object is rebuilt, only when SYSCONFDIR does.
$(shell mkdir -p $(OBJ) && \
    [ "$$(cat $(OBJ)/.sysconfdir 2>/dev/null)" = "$(SYSCONFDIR)" ] || \
    echo "$(SYSCONFDIR)" >$(OBJ)/.sysconfdir)

$(OBJ)/%.o: %.c $(wildcard common/*.h queue/*.h relayd/*.h smtpd/*.h delegated/*.h \
	    webrelayd/*.h control/*.h local/*.h sendmail/*.h) $(OBJ)/.stamp \
	    $(OBJ)/.sysconfdir
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

bin/queued: $(call objs,$(QUEUED) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/relayd: $(call objs,$(RELAYD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libssl libcrypto) \
		$(CREDENTIALS_LIBS) -lresolv

bin/relayd-token: $(call objs,$(RELAYD_TOKEN) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(OAUTH_LIBS)

bin/webrelayd: $(call objs,$(WEBRELAYD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl json-c)

bin/locald: $(call objs,$(LOCALD) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

bin/mailq bin/newaliases: bin/sendmail
	ln -sf sendmail $@

bin/ferry-control: $(call objs,$(CONTROL) $(COMMON))
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(OAUTH_LIBS) $(shell pkg-config --libs libcrypto)

bin/ferryctl: etc/ferryctl VERSION
	@mkdir -p bin
	sed 's/^version=@VERSION@$$/version=$(VERSION)/' etc/ferryctl >$@.tmp
	chmod 0755 $@.tmp && mv $@.tmp $@

t/unit/bin/%: $(OBJ)/t/unit/%.o $(call objs,$(COMMON))
	@mkdir -p t/unit/bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

t/shim/bin/%.so: t/shim/%.c
	@mkdir -p t/shim/bin
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared -fPIC \
		-o $@ $< -ldl

# Unit tests of modules outside common/ link them too.
t/unit/bin/test_refusal: $(call objs,relayd/refusal.c)
t/unit/bin/test_password: $(call objs,common/password.c)
t/unit/bin/test_password: LDLIBS += -lcrypto
t/unit/bin/test_license: $(call objs,$(LICENSE))
t/unit/bin/test_license: LDLIBS += $(shell pkg-config --libs libcrypto)
t/unit/bin/test_dns: $(call objs,relayd/dns.c)
t/unit/bin/test_dns: LDLIBS += -lresolv
t/unit/bin/test_oauth: $(call objs,$(CREDENTIALS) common/oauth_answer.c)
t/unit/bin/test_oauth: LDLIBS += $(CREDENTIALS_LIBS)
t/unit/bin/test_answer: $(call objs,webrelayd/answer.c)
t/unit/bin/test_answer: LDLIBS += $(shell pkg-config --libs json-c)
t/unit/bin/test_mailbox: $(call objs,local/mailbox.c local/maildir.c local/copy.c)
t/unit/bin/test_command: $(call objs,local/command.c local/copy.c)

# Fuzzing (fuzz/README.md): one libFuzzer harness per parser of untrusted
# bytes, built with clang into obj/fuzz and bin/fuzz.  A daemon's main()
# is renamed so its file links whole next to libFuzzer's.  Each run
# writes what it finds to obj/fuzz/corpus/NAME, reading the seeds in
# fuzz/corpus/NAME; a crash stops make with the input in obj/fuzz/.
FUZZ_SECONDS ?= 10
FUZZ_CC	:= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	   -Icommon -Dmain=ferry_main $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZERS	:= $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
FUZZBIN	:= $(FUZZERS:%=bin/fuzz/%)
FOBJ	:= obj/fuzz
fobjs	= $(patsubst %.c,$(FOBJ)/%.o,$(1))
SSL	= $(shell pkg-config --libs libssl libcrypto)

# What each harness links besides $(COMMON), and the libraries.
FUZZ_SRC_dns		:= relayd/dns.c
FUZZ_LIB_dns		:= -lresolv
FUZZ_SRC_license	:= $(LICENSE)
FUZZ_LIB_license	= $(SSL)
FUZZ_SRC_envelope	:= queue/envelope.c
FUZZ_SRC_submit		:= queue/submit.c queue/message.c queue/envelope.c
FUZZ_SRC_smtpd_command	:= $(SMTPD)
FUZZ_LIB_smtpd_command	= $(shell pkg-config --libs libevent_openssl) $(SSL)
FUZZ_SRC_smtpd_body	:= $(SMTPD)
FUZZ_LIB_smtpd_body	= $(FUZZ_LIB_smtpd_command)
FUZZ_SRC_webrelay_answer := webrelayd/answer.c
FUZZ_LIB_webrelay_answer = $(shell pkg-config --libs json-c)
FUZZ_SRC_aliases	:=
FUZZ_SRC_oauth_answer	:= common/oauth_answer.c
FUZZ_LIB_oauth_answer	= $(shell pkg-config --libs json-c)
FUZZ_SRC_credentials	:= $(CREDENTIALS)
FUZZ_LIB_credentials	= $(CREDENTIALS_LIBS)
FUZZ_SRC_local_mbox	:= local/header.c local/copy.c
FUZZ_SRC_smtp_reply	:= $(SMTPIO)
FUZZ_LIB_smtp_reply	= $(SSL)

fuzz: deps-fuzz $(FUZZBIN)
	@for f in $(FUZZERS); do \
		mkdir -p $(FOBJ)/corpus/$$f && \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s" && \
		bin/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
		    -print_final_stats=1 -close_fd_mask=3 \
		    -artifact_prefix=$(FOBJ)/$$f- \
		    $(FOBJ)/corpus/$$f fuzz/corpus/$$f \
		    >$(FOBJ)/$$f.log 2>&1 || \
		{ tail -n 60 $(FOBJ)/$$f.log; \
		  echo "fuzz: $$f FAILED, see $(FOBJ)/$$f.log"; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|#[0-9]+.*DONE)' \
		    $(FOBJ)/$$f.log | tr '\n' ' '; echo; \
	done

$(FOBJ)/%.o: %.c $(wildcard common/*.h queue/*.h relayd/*.h smtpd/*.h \
	    webrelayd/*.h local/*.h) | deps-fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
bin/fuzz/%: $(FOBJ)/fuzz/%.o $$(call fobjs,$$(sort $$(FUZZ_SRC_$$*) $(COMMON)))
	@mkdir -p bin/fuzz
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS) \
		$(FUZZ_LIB_$*)

run: all
	@etc/install-deps run users
	@etc/mkrunconf
	@bin/ferryctl -c $(CURDIR)/run/ferry.conf start
	@echo
	@echo "Ferry is running with run/ferry.conf.  Send a first message:"
	@echo "  swaks --server 127.0.0.1:2525 --from me@localhost --to root@localhost"
	@echo "  s-nail -f run/mail/$$(sed -n 's/^root: *//p' run/aliases)"
	@echo "(root is aliased in run/aliases; any user of this host works too)"
	@echo "or with curl, or locally with sendmail:"
	@echo "  echo hello | curl -sS --crlf -T - smtp://127.0.0.1:2525 \\"
	@echo "      --mail-from me@localhost --mail-rcpt root@localhost"
	@echo "  echo hi | bin/sendmail -C run/ferry.conf root"
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

# t/test_chaos.py at length; make test runs it with 60 kills.
chaos: deps-test all
	FERRY_CHAOS_KILLS=1000 $(PYTHON) -m pytest -q -s t/test_chaos.py

# The manual pages, by section.  ferry.conf.5 is made from the key table
# (ferry-control manpage) and is not in git.
MAN1	:= ferry-license.1 mailq.1 newaliases.1 sendmail.1
MAN5	:= aliases.5 ferry.conf.5 forward.5
MAN8	:= ferry.8 ferryctl.8 ferry-delegated.8 ferry-licensed.8 \
	   ferry-locald.8 ferry-queued.8 ferry-relayd.8 ferry-smtpd.8 \
	   ferry-webrelayd.8
MAN_INSTALLED := $(MAN1:%=$(MANDIR)/man1/%) $(MAN5:%=$(MANDIR)/man5/%) \
	   $(MAN8:%=$(MANDIR)/man8/%)

man: man/ferry.conf.5

man/ferry.conf.5: bin/ferry-control
	bin/ferry-control manpage >$@.tmp && mv $@.tmp $@

install-man: man
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(MAN1:%=man/%) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN5:%=man/%) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(MAN8:%=man/%) $(DESTDIR)$(MANDIR)/man8/

uninstall-man:
	rm -f $(MAN_INSTALLED:%=$(DESTDIR)%)

# The Debian package in dist/: ferry_VERSION_ARCH.deb, its debug symbols,
# .buildinfo and .changes; the package also at the top of the tree, for
# `dpkg -i ferry_*.deb`.  dpkg-buildpackage starts with debian/rules
# clean, i.e. make clean, and builds and installs through debian/rules
# with DEPS=no.
DEB	= dist/ferry_$(VERSION)_$(shell dpkg --print-architecture)
deb:
	$(INSTALL_DEPS) build deb
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog is at $$v, VERSION at" \
		    "$(VERSION)" >&2; exit 1; }
	@mkdir -p dist
	FERRY_DEB_DIR=dist dpkg-buildpackage -us -uc -b \
		--buildinfo-option=-udist --buildinfo-file=$(DEB).buildinfo \
		--changes-option=-udist --changes-file=$(DEB).changes
	ln -f $(DEB).deb .

.PHONY: deb

# What install puts where (README "Installed files" lists the result).
LIBEXEC_PROGS := queued licensed delegated webrelayd relayd relayd-token \
	   locald smtpd ferry-control
DOCS	:= README.md CHANGES LICENSE $(wildcard doc/*.md)
CONF	:= $(DESTDIR)$(SYSCONFDIR)/ferry/ferry.conf
# State directories, their owners and modes, as the daemons expect them
# (doc/queue.md, doc/delegated.md); the log directory stays root's.
STATE_DIRS := spool/ferry:ferry-queue:0700 spool/ferry/q:ferry-queue:0700 \
	   spool/ferry/corrupt:ferry-queue:0700 lib/ferry:ferry-deleg:0700 \
	   lib/ferry-relay:ferry-relay:0700 \
	   log/ferry:root:0755

install: DEPS := no
install: all install-man install-units
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/ferry $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 $(LIBEXEC_PROGS:%=bin/%) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 bin/sendmail $(DESTDIR)$(SBINDIR)/
	install -m 0755 bin/ferry-license $(DESTDIR)$(BINDIR)/
	ln -sf ../sbin/sendmail $(DESTDIR)$(BINDIR)/mailq
	ln -sf ../sbin/sendmail $(DESTDIR)$(BINDIR)/newaliases
	# locald sends forwarded copies with the sendmail beside it
	ln -sf ../../sbin/sendmail $(DESTDIR)$(LIBEXECDIR)/sendmail
	sed -e 's|^libexec=.*|libexec=$(LIBEXECDIR)|' \
	    -e 's|^conf=.*|conf=$(SYSCONFDIR)/ferry/ferry.conf|' \
	    bin/ferryctl >$(DESTDIR)$(SBINDIR)/ferryctl
	chmod 0755 $(DESTDIR)$(SBINDIR)/ferryctl
	sed 's|/usr/local/sbin/ferryctl|$(SBINDIR)/ferryctl|' \
	    etc/logrotate.ferry >$(DESTDIR)$(SYSCONFDIR)/logrotate.d/ferry
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ferry
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	test -e $(CONF) || install -m 0644 etc/ferry.conf $(CONF)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		$(MAKE) --no-print-directory install-dirs; fi

# The state directories under LOCALSTATEDIR, made with their owners (as
# root); install runs it when there is no DESTDIR, a package's maintainer
# scripts do the same.
install-dirs:
	@for d in $(STATE_DIRS); do \
		set -- $$(echo $$d | tr : ' '); \
		if ! id -u $$2 >/dev/null 2>&1; then \
			echo "install: $(DESTDIR)$(LOCALSTATEDIR)/$$1 not" \
			    "made: no user $$2 (make install-users)"; \
			continue; fi; \
		install -d -o $$2 -g $$(id -gn $$2) -m $$3 \
		    $(DESTDIR)$(LOCALSTATEDIR)/$$1 || exit 1; \
	done

install-users:
	etc/install-deps users
	@$(MAKE) --no-print-directory install-dirs

# Removes what install put there.  The configuration goes only while it
# is still the one installed; a state directory only when it is empty
# (it may hold mail).
uninstall: uninstall-man uninstall-units
	rm -f $(LIBEXEC_PROGS:%=$(DESTDIR)$(LIBEXECDIR)/%) \
	    $(DESTDIR)$(LIBEXECDIR)/sendmail \
	    $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(SBINDIR)/ferryctl \
	    $(DESTDIR)$(BINDIR)/mailq $(DESTDIR)$(BINDIR)/newaliases \
	    $(DESTDIR)$(BINDIR)/ferry-license \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ferry \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR)
	if cmp -s etc/ferry.conf $(CONF); then rm -f $(CONF); \
		rmdir $(DESTDIR)$(SYSCONFDIR)/ferry; fi
	-@for d in $(STATE_DIRS); do echo $${d%%:*}; done | sort -r | \
		while read d; do rmdir $(DESTDIR)$(LOCALSTATEDIR)/$$d \
		    2>/dev/null; done; true

# The systemd units (doc/systemd.md), from etc/systemd/ with the paths
# of this installation; uninstall-units removes exactly these.
SYSTEMD_UNITS := ferry.target ferry-.service.d/ferry.conf \
	   ferry-queued.service ferry-licensed.service ferry-delegated.service \
	   ferry-webrelayd.service ferry-relayd.service ferry-locald.service \
	   ferry-smtpd.service

install-units:
	install -d $(DESTDIR)$(UNITDIR)/ferry-.service.d
	for u in $(SYSTEMD_UNITS); do \
		sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
		    -e 's|@SBINDIR@|$(SBINDIR)|g' \
		    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		    etc/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

uninstall-units:
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(SYSTEMD_UNITS))
	-rmdir $(DESTDIR)$(UNITDIR)/ferry-.service.d

clean:
	rm -rf obj bin t/unit/bin t/shim/bin man/ferry.conf.5

.PHONY: all deps-build deps-test deps-fuzz run stop test bench chaos fuzz \
	install install-dirs install-users uninstall man install-man \
	uninstall-man install-units uninstall-units clean

# Keep the unit tests' objects: they are intermediate files to make.
# Only those: a bare .SECONDARY would make every target one, and a
# missing $(OBJ)/.stamp would then no longer relink bin/ after a build
# with another SAN setting.
.SECONDARY: $(UNITS:t/unit/%.c=$(OBJ)/t/unit/%.o)
