# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""ferry.conf: parsing, errors as FILE:LINE, defaults, ferry-control check."""

import os
import re
import shutil

import pytest

from conftest import BIN, REPO, _new_base, run

GOOD_PREFIX = "# a comment\n\nmyhostname = mx.example.test\n"
SECRET = "key-0f3c9d81e2b7a645"
BAD_LINENO = 4  # the bad line comes right after GOOD_PREFIX

BAD_LINES = {
    "unknown_key": "no_such_key = 1",
    "bad_size_suffix": "max_message_size = 12Q",
    "bad_size_word": "max_message_size = big",
    "negative_size": "max_message_size = -5M",
    "bad_duration_suffix": "retry_min = 5x",
    "bad_duration_word": "queue_lifetime = forever",
    "bad_bool": "log_syslog = maybe",
    "bad_number": "max_recipients = ten",
    "missing_equals": "myorigin example.test",
    "empty_key": "= value",
    "duplicate_key": "myhostname = other.example.test",
    "relay_helo_name_dot": "relay_helo_name = .",
    "relay_helo_name_trailing_dot": "relay_helo_name = mx.example.test.",
    "myorigin_blank_label": "myorigin = a..example.test",
    "webrelay_url_http": "webrelay_url = http://relay.example.test/v3",
    "webrelay_url_no_host": "webrelay_url = https:///v3",
    "webrelay_auth_retired": "webrelay_auth = basic:api:" + SECRET,
    "webrelay_auth_file_relative": "webrelay_auth_file = api.key",
}


@pytest.fixture
def conf_dir():
    base = _new_base()
    yield base
    shutil.rmtree(base, ignore_errors=True)


def write_conf(base, text):
    path = os.path.join(base, "ferry.conf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def assert_config_error(r, path, lineno):
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 78, (r.returncode, err)
    assert "%s:%d:" % (path, lineno) in err, err
    # one line of diagnosis, something after the location
    line = [l for l in err.splitlines() if "%s:%d:" % (path, lineno) in l][0]
    assert line.split("%s:%d:" % (path, lineno), 1)[1].strip(), err


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_config_error_from_ferry_control_check(conf_dir, kind):
    path = write_conf(conf_dir, GOOD_PREFIX + BAD_LINES[kind] + "\n")
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert_config_error(r, path, BAD_LINENO)


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_config_error_from_queued(conf_dir, kind):
    path = write_conf(conf_dir, GOOD_PREFIX + BAD_LINES[kind] + "\n")
    r = run([BIN / "queued", "-f", "-c", path], timeout=15)
    assert_config_error(r, path, BAD_LINENO)


@pytest.mark.parametrize("name", [".", "a..b", "mx.example.test.",
    "-mx.test", "mx_1.example.test", "[1.2.3.4]"])
def test_myhostname_must_be_a_domain_name(conf_dir, name):
    """myhostname is checked as accepted_domains' entries are: the
    accepted_domains derived from it must be a value that key accepts."""
    path = write_conf(conf_dir, "# a comment\nmyhostname = %s\n" % name)
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert_config_error(r, path, 2)
    path = write_conf(conf_dir, "accepted_domains = %s\n" % name)
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert_config_error(r, path, 1)


@pytest.mark.parametrize("kind", ["unknown_key", "bad_size_suffix"])
def test_config_error_from_sendmail(conf_dir, kind):
    path = write_conf(conf_dir, GOOD_PREFIX + BAD_LINES[kind] + "\n")
    r = run([BIN / "sendmail", "-C", path, "rcpt@example.test"],
        input=b"Subject: x\n\nx\n")
    assert_config_error(r, path, BAD_LINENO)


def test_retired_webrelay_auth_names_its_successor(conf_dir):
    """The key that held the Basic API key in ferry.conf, which everyone
    may read, is refused with where it went, and its value not shown."""
    path = write_conf(conf_dir, GOOD_PREFIX + BAD_LINES[
        "webrelay_auth_retired"] + "\n")
    for argv in ([BIN / "ferry-control", "-c", path, "check"],
            [BIN / "webrelayd", "-f", "-c", path]):
        r = run(argv, timeout=15)
        assert_config_error(r, path, BAD_LINENO)
        err = r.stderr.decode()
        assert "%s:%d: webrelay_auth moved to webrelay_auth_file (a " \
            "root-read file): " % (path, BAD_LINENO) in err, err
        assert SECRET not in err, err


# webrelay_auth_file's line, checked by webrelayd as the old
# webrelay_auth's value was
BAD_WEBAUTH = {
    "scheme": ("bearer:" + SECRET, "the scheme must be basic"),
    "no_key": ("basic:api:", "KEY is empty"),
    "no_user": ("basic::" + SECRET, "USER is empty"),
    "no_colon": ("basic:api" + SECRET, "no colon after USER"),
    "empty": ("", "the line is empty"),
    "control": ("basic:a\x01pi:" + SECRET, "a control character"),
    "too_long": ("basic:api:" + SECRET * 100, "line too long"),
}


@pytest.mark.parametrize("kind", sorted(BAD_WEBAUTH))
def test_bad_webrelay_auth_file(conf_dir, kind):
    """FILE:1: what is wrong, exit 78 before webrelayd starts, and never
    the key."""
    line, what = BAD_WEBAUTH[kind]
    key = os.path.join(conf_dir, "api.key")
    with open(key, "w") as f:
        f.write(line + "\n")
    os.chmod(key, 0o600)
    path = write_conf(conf_dir, GOOD_PREFIX + "".join("%s = %s\n" % kv
        for kv in (("run_directory", conf_dir), ("log_directory", conf_dir),
        ("webrelay_url", "https://127.0.0.1:1/v3"),
        ("webrelay_auth_file", key))))
    r = run([BIN / "webrelayd", "-f", "-c", path], timeout=15)
    assert_config_error(r, key, 1)
    err = r.stderr.decode()
    assert what in err, err
    assert SECRET not in err, err
    for name in os.listdir(conf_dir):
        if name.endswith(".log"):
            with open(os.path.join(conf_dir, name)) as f:
                assert SECRET not in f.read(), name


def test_config_missing_file_is_an_error(conf_dir):
    path = os.path.join(conf_dir, "nonexistent.conf")
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert r.returncode == 78, r
    assert path in r.stderr.decode()


def test_config_valid_file_passes_check(conf_dir):
    text = """# every kind of value
queue_directory = /var/spool/ferry
run_directory = /run/ferry
log_directory = /var/log/ferry
log_syslog = yes
myhostname = mx.example.test
myorigin = example.test
max_message_size = 10M
max_recipients = 50
queue_min_free = 1G

retry_min = 30s
retry_max = 2h
queue_lifetime = 3d
bounce_lifetime = 1w
queue_user = ferry-queue
"""
    path = write_conf(conf_dir, text)
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert r.returncode == 0, r.stderr
    assert ": ok" in r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize("line", [
    "myorigin   =   spaced.example.test   ",
    "   myorigin = indented.example.test",
    "myorigin=tight.example.test",
    "\tmyorigin\t=\ttabs.example.test",
])
def test_config_whitespace_and_comments_are_tolerated(conf_dir, line):
    path = write_conf(conf_dir, "  # indented comment\n\n" + line + "\n")
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert r.returncode == 0, r.stderr
    g = run([BIN / "ferry-control", "-c", path, "get", "myorigin"])
    assert g.stdout.decode().strip() == line.split("=")[1].strip()


@pytest.mark.parametrize("key,value,expect", [
    ("max_message_size", "2k", "2048"),
    ("max_message_size", "3M", str(3 * 1024 * 1024)),
    ("max_message_size", "1G", str(1024 ** 3)),
    ("max_message_size", "100000", "100000"),
    ("retry_min", "90", "90"),
    ("retry_min", "2m", "120"),
    ("retry_max", "3h", "10800"),
    ("queue_lifetime", "5d", str(5 * 86400)),
    ("bounce_lifetime", "1w", str(7 * 86400)),
    ("myorigin", "example.test", "example.test"),
])
def test_config_get_prints_value(conf_dir, key, value, expect):
    path = write_conf(conf_dir, "%s = %s\n" % (key, value))
    r = run([BIN / "ferry-control", "-c", path, "get", key])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().strip()
    # the value as written or in base units are both fine
    assert out in (value, expect), out


def test_config_get_reports_default_for_unset_key(conf_dir):
    path = write_conf(conf_dir, "# nothing\n")
    r = run([BIN / "ferry-control", "-c", path, "get", "queue_directory"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "/var/spool/ferry"


def test_config_get_unknown_key_fails(conf_dir):
    path = write_conf(conf_dir, "# nothing\n")
    r = run([BIN / "ferry-control", "-c", path, "get", "no_such_key"])
    assert r.returncode == 64, r  # usage: no such key


def test_etc_ferry_conf_equals_defaults_output():
    r = run([BIN / "ferry-control", "defaults"])
    assert r.returncode == 0, r.stderr
    assert (REPO / "etc" / "ferry.conf").read_bytes() == r.stdout


def test_etc_ferry_conf_passes_check():
    path = REPO / "etc" / "ferry.conf"
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert r.returncode == 0, r.stderr
    assert ": ok" in r.stdout.decode() + r.stderr.decode()


def table_keys():
    """Every key of the one table in common/config.c, read from its
    source."""
    src = (REPO / "common" / "config.c").read_text()
    keys = re.findall(r"^\t(?:KEY|NUM|CHOICE)\((\w+),", src, re.M)
    assert len(keys) > 50, keys
    return keys


def test_defaults_document_every_key():
    """Every key of the table has a `#key = default` line in the defaults
    output, with its help as a comment right above it."""
    lines = run([BIN / "ferry-control", "defaults"]).stdout.decode() \
        .splitlines()
    for key in table_keys():
        at = [i for i, l in enumerate(lines)
            if re.match(r"#%s =( |$)" % key, l)]
        assert len(at) == 1, (key, at)
        assert at[0] > 0 and lines[at[0] - 1].startswith("# "), key


def test_defaults_output_read_back_gives_defaults(conf_dir):
    r = run([BIN / "ferry-control", "defaults"])
    path = write_conf(conf_dir, r.stdout.decode())
    for key, want in [("max_message_size", ("50M", str(50 << 20))),
            ("retry_min", ("5m", "300")), ("queue_user", ("ferry-queue",)),
            ("max_recipients", ("1000",))]:
        g = run([BIN / "ferry-control", "-c", path, "get", key])
        assert g.returncode == 0, g.stderr
        assert g.stdout.decode().strip() in want, (key, g.stdout)


def test_queued_refuses_to_start_with_bad_config_and_leaves_no_socket(
        ferry_factory):
    ferry = ferry_factory(daemons=())
    with open(ferry.conf_path, "a") as f:
        f.write("retry_min = soon\n")
    nlines = len(ferry.conf_path.read_text().splitlines())
    r = run([BIN / "queued", "-f", "-c", ferry.conf_path], timeout=15)
    assert_config_error(r, str(ferry.conf_path), nlines)
    assert not ferry.socket_path().exists()
    assert not ferry.submit_socket.exists()


def numeric_keys():
    """(key, min, max) of every key whose defaults entry has a Range."""
    r = run([BIN / "ferry-control", "defaults"])
    keys, lo_hi = [], None
    for line in r.stdout.decode().splitlines():
        if line.startswith("# Range: "):
            lo, hi = line[len("# Range: "):].rstrip(".").split("..")
            lo_hi = (int(lo), int(hi))
        elif line.startswith("#") and " =" in line and lo_hi:
            keys.append((line[1:].split(" =")[0],) + lo_hi)
            lo_hi = None
    return keys


def test_every_number_has_a_range():
    keys = dict((k, (lo, hi)) for k, lo, hi in numeric_keys())
    assert keys["relay_mx_port"] == (1, 65535)
    assert keys["delegate_connections"][1] == 64
    assert len(keys) >= 30, keys


@pytest.mark.parametrize("key,lo,hi", numeric_keys())
def test_number_max_accepted_and_max_plus_one_refused(conf_dir, key, lo, hi):
    extra = "retry_min = 1\n" if key == "retry_max" else \
        "retry_max = %d\n" % hi if key == "retry_min" else ""
    path = write_conf(conf_dir, GOOD_PREFIX + "%s = %d\n%s" % (key, hi, extra))
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert r.returncode == 0, r.stderr
    path = write_conf(conf_dir, GOOD_PREFIX + "%s = %d\n" % (key, hi + 1))
    r = run([BIN / "ferry-control", "-c", path, "check"])
    assert_config_error(r, path, BAD_LINENO)
    assert b"out of range %d..%d" % (lo, hi) in r.stderr, r.stderr


def test_relay_mx_port_70000_refused(conf_dir):
    path = write_conf(conf_dir, GOOD_PREFIX + "relay_mx_port = 70000\n")
    r = run([BIN / "queued", "-f", "-c", path], timeout=15)
    assert_config_error(r, path, BAD_LINENO)
