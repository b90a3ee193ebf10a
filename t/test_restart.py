# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""queued start-up: messages survive restarts, debris is cleaned, damaged
envelopes go to corrupt/ and are logged, never interpreted."""

import os
import re

import pytest

from conftest import BIN, run, wait_for

FAKE = ["00000001AAAAAAA1", "00000001AAAAAAA2", "00000001AAAAAAA3",
    "00000001AAAAAAA4"]


def listing(ferry):
    return {e["id"]: (e["sender"], e["rcpts"], e["size"])
        for e in ferry.mailq_entries()}


def test_messages_survive_queued_restart(ferry):
    ids = [ferry.submit("a%d@example.test" % i, "b@example.test",
        body="body %d\n" % i) for i in range(3)]
    before = listing(ferry)
    files = {i: ferry.read_msg(i) for i in ids}
    ferry.restart()
    assert listing(ferry) == before
    assert {i: ferry.read_msg(i) for i in ids} == files


def test_messages_survive_queued_crash(ferry):
    ids = [ferry.submit("a%d@example.test" % i) for i in range(3)]
    before = listing(ferry)
    ferry.kill()
    ferry.start()
    assert listing(ferry) == before
    assert sorted(before) == sorted(ids)


def test_queued_sigterm_exits_0_and_logs_stop(ferry):
    assert ferry.stop() == 0
    assert ferry.log_events("stop")
    assert ferry.log_events("start")


def test_queued_starts_over_stale_sockets_after_crash(ferry):
    ferry.kill()
    assert ferry.socket_path().exists()  # left behind by the crash
    ferry.start()
    assert ferry.ping()
    ferry.submit("rcpt@example.test")


def test_second_queued_on_same_config_refuses_to_start(ferry):
    r = run([BIN / "queued", "-f", "-c", ferry.conf_path], timeout=15)
    # a fatal error (exit 1) that names the running copy
    assert r.returncode == 1 and b"already running" in r.stderr, r
    assert ferry.ping()
    ferry.submit("rcpt@example.test")


def test_restart_removes_tmp_in_and_orphan_msg(ferry):
    keep = ferry.submit("rcpt@example.test")
    ferry.stop()
    ferry.put_queue_file(FAKE[0] + ".tmp", b"version 1\nsender x\n")
    ferry.put_queue_file(FAKE[1] + ".in", b"Subject: half\n\nhalf a mes")
    ferry.put_queue_file(FAKE[2] + ".msg", b"Subject: orphan\r\n\r\nx\r\n")
    # a .tmp next to a committed message: an envelope rewrite that crashed
    ferry.put_queue_file(keep + ".tmp", b"version 1\nsender half")
    ferry.start()
    assert ferry.queue_files() == [keep + ".env", keep + ".msg"]
    assert ferry.queue_files("corrupt") == []
    (ev,) = ferry.log_events("recover")[-1:]
    assert ev.get("removed") == "4", ev["_line"]
    assert ev.get("loaded") == "1", ev["_line"]
    assert [e["id"] for e in ferry.mailq_entries()] == [keep]


def test_restart_moves_env_without_msg_to_corrupt(ferry):
    ferry.stop()
    msgid = FAKE[3]
    ferry.put_queue_file(msgid + ".env", b"version 1\nend\n")
    ferry.start()
    assert ferry.queue_files() == []
    assert msgid + ".env" in ferry.queue_files("corrupt")
    assert msgid in ferry.log()
    (ev,) = ferry.log_events("recover")[-1:]
    assert ev.get("corrupt") == "1", ev["_line"]
    assert "Mail queue is empty" in ferry.mailq().stdout.decode()


def corrupt_one(ferry, damage):
    """Submit two messages, stop, damage the envelope of the first with
    damage(bytes) -> bytes, start; returns (damaged id, intact id)."""
    bad = ferry.submit("bad@example.test")
    good = ferry.submit("good@example.test")
    ferry.stop()
    env = ferry.read_env(bad)
    ferry.put_queue_file(bad + ".env", damage(env))
    ferry.start()
    return bad, good


def assert_quarantined(ferry, bad, good):
    assert ferry.queue_files() == [good + ".env", good + ".msg"]
    corrupt = ferry.queue_files("corrupt")
    assert bad + ".env" in corrupt, corrupt
    lines = [l for l in ferry.log().splitlines() if bad in l]
    assert lines, ferry.log()
    assert [e["id"] for e in ferry.mailq_entries()] == [good]


def test_restart_moves_truncated_env_to_corrupt(ferry):
    bad, good = corrupt_one(ferry, lambda env: env[:len(env) // 2])
    assert_quarantined(ferry, bad, good)


def test_restart_moves_env_without_end_line_to_corrupt(ferry):
    def drop_end(env):
        lines = env.rstrip(b"\n").split(b"\n")
        assert lines[-1] == b"end", env
        return b"\n".join(lines[:-1]) + b"\n"
    bad, good = corrupt_one(ferry, drop_end)
    assert_quarantined(ferry, bad, good)


def test_restart_moves_garbage_env_to_corrupt(ferry):
    bad, good = corrupt_one(ferry, lambda env: os.urandom(300))
    assert_quarantined(ferry, bad, good)


def test_restart_moves_empty_env_to_corrupt(ferry):
    bad, good = corrupt_one(ferry, lambda env: b"")
    assert_quarantined(ferry, bad, good)


def test_restart_moves_env_with_unknown_key_to_corrupt(ferry):
    def add_key(env):
        lines = env.rstrip(b"\n").split(b"\n")
        return b"\n".join(lines[:-1] + [b"frobnicate yes", lines[-1]]) + \
            b"\n"
    bad, good = corrupt_one(ferry, add_key)
    assert_quarantined(ferry, bad, good)


def test_restart_moves_env_with_wrong_version_to_corrupt(ferry):
    def bump(env):
        lines = env.split(b"\n")
        assert lines[0] == b"ferry-envelope 1", env
        return b"ferry-envelope 999\n" + b"\n".join(lines[1:])
    bad, good = corrupt_one(ferry, bump)
    assert_quarantined(ferry, bad, good)


def test_envelope_is_text_with_version_and_end_lines(ferry):
    msgid = ferry.submit("rcpt@example.test")
    env = ferry.read_env(msgid)
    assert env.endswith(b"\n")
    lines = env.rstrip(b"\n").split(b"\n")
    assert lines[0] == b"ferry-envelope 1", env
    assert lines[-1] == b"end", env
    assert b"\r" not in env


def test_restart_moves_env_with_wrong_size_to_corrupt(ferry):
    def grow(env):
        return re.sub(rb"(?m)^size (\d+)$",
            lambda m: b"size %d" % (int(m[1]) + 1), env)
    bad, good = corrupt_one(ferry, grow)
    assert_quarantined(ferry, bad, good)


def test_restart_moves_env_with_repeated_key_to_corrupt(ferry):
    def repeat(env):
        lines = env.split(b"\n")
        sender = [l for l in lines if l.startswith(b"sender ")][0]
        return env.replace(sender, sender + b"\n" + sender)
    bad, good = corrupt_one(ferry, repeat)
    assert_quarantined(ferry, bad, good)


def test_restart_moves_unknown_file_names_to_corrupt(ferry):
    msgid = ferry.submit("rcpt@example.test")
    ferry.stop()
    for name in ("junk", "0123.msg", FAKE[0] + ".xyz"):
        ferry.put_queue_file(name, b"x")
    ferry.start()
    assert ferry.queue_files() == [msgid + ".env", msgid + ".msg"]
    assert sorted(ferry.queue_files("corrupt")) == sorted(
        ["junk", "0123.msg", FAKE[0] + ".xyz"])


def test_corrupt_envelope_keeps_its_message_body_in_corrupt(ferry):
    # the body is the only copy of the mail: it goes along with the
    # damaged envelope for a human to look at, it is not deleted
    bad, good = corrupt_one(ferry, lambda env: env[:len(env) // 2])
    body = (ferry.corrupt_dir / (bad + ".msg"))
    assert body.exists(), ferry.queue_files("corrupt")


def test_queue_files_are_not_world_readable(ferry):
    msgid = ferry.submit("rcpt@example.test")
    for name in (msgid + ".msg", msgid + ".env"):
        mode = os.stat(ferry.q_dir / name).st_mode
        assert mode & 0o077 == 0, "%s mode %o" % (name, mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_queue_files_belong_to_queue_user(ferry):
    import pwd
    msgid = ferry.submit("rcpt@example.test")
    uid = pwd.getpwnam(ferry.conf.get("queue_user", "ferry-queue")).pw_uid
    for name in (msgid + ".msg", msgid + ".env"):
        assert os.stat(ferry.q_dir / name).st_uid == uid


def test_restart_twice_keeps_corrupt_files_and_queue(ferry):
    msgid = ferry.submit("rcpt@example.test")
    ferry.stop()
    ferry.put_queue_file(FAKE[0] + ".env", b"garbage\n")
    ferry.start()
    ferry.restart()
    assert FAKE[0] + ".env" in ferry.queue_files("corrupt")
    assert [e["id"] for e in ferry.mailq_entries()] == [msgid]
    wait_for(ferry.ping, what="ping")
