# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""ferry-license: Ed25519 key pairs, signing and checking licences
(common/license.c; the format is in the README, "Licence").  licensed, the
daemon that gates WebSmtp on the licence, comes with its own issue."""

import datetime
import os
import stat

import pytest

from conftest import BIN, run

TOOL = str(BIN / "ferry-license")


def day(offset):
    return (datetime.datetime.now(datetime.timezone.utc).date() +
        datetime.timedelta(days=offset)).isoformat()


def text(issued=-30, until=365, features="webrelay", extra=""):
    return ("id: FERRY-T-1\ncustomer: Example GmbH\nissued: %s\n"
        "support-until: %s\nfeatures: %s\n%s" % (day(issued), day(until),
        features, extra))


@pytest.fixture
def keys(tmp_path):
    r = run([TOOL, "keygen", tmp_path / "vendor.key", tmp_path / "vendor.pub"])
    assert r.returncode == 0, r.stderr
    return tmp_path / "vendor.key", tmp_path / "vendor.pub"


def sign(keys, body, tmp_path, name="licence"):
    r = run([TOOL, "sign", keys[0]], input=body.encode())
    assert r.returncode == 0, r.stderr
    p = tmp_path / name
    p.write_bytes(r.stdout)
    return p


def verify(pub, path):
    r = run([TOOL, "verify", pub, path])
    return r.returncode, r.stdout.decode()


def test_keygen_modes(keys):
    """The private key is 0600, the public one 0644; both are PEM."""
    private, public = keys
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public).st_mode) == 0o644
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_never_overwrites(keys):
    r = run([TOOL, "keygen", keys[0], keys[1]])
    assert r.returncode == 73, r.stderr


def test_sign_appends_one_signature_line(keys, tmp_path):
    body = text()
    lic = sign(keys, body, tmp_path).read_text()
    assert lic.startswith(body)
    (sig,) = lic[len(body):].splitlines()
    assert sig.startswith("signature: ") and len(sig) == len(
        "signature: ") + 88, sig


def test_valid_with_days_left(keys, tmp_path):
    rc, out = verify(keys[1], sign(keys, text(until=10), tmp_path))
    assert rc == 0, out
    assert "valid, 11 days left" in out, out
    assert "customer: Example GmbH" in out and "features: webrelay" in out


def test_expired(keys, tmp_path):
    rc, out = verify(keys[1], sign(keys, text(issued=-400, until=-1),
        tmp_path))
    assert rc == 1 and "expired" in out, out


def test_last_day_still_valid(keys, tmp_path):
    """support-until is the last valid day."""
    rc, out = verify(keys[1], sign(keys, text(until=0), tmp_path))
    assert rc == 0 and "valid, 1 days left" in out, out


def test_issued_in_the_future(keys, tmp_path):
    rc, out = verify(keys[1], sign(keys, text(issued=2, until=300),
        tmp_path))
    assert rc == 1 and "not-yet-valid" in out, out


def test_every_tampered_byte_is_invalid(keys, tmp_path):
    """Changing any one byte of the signed text (or the signature) makes
    the licence invalid."""
    good = sign(keys, text(), tmp_path).read_bytes()
    for i in range(0, len(good) - 1, 7):
        bad = bytearray(good)
        bad[i] = ord("A") if bad[i] != ord("A") else ord("B")
        p = tmp_path / "bad"
        p.write_bytes(bytes(bad))
        rc, out = verify(keys[1], p)
        assert rc == 1 and "invalid" in out, (i, out)


def test_wrong_key(keys, tmp_path):
    lic = sign(keys, text(), tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    r = run([TOOL, "keygen", other / "k", other / "p"])
    assert r.returncode == 0
    rc, out = verify(other / "p", lic)
    assert rc == 1 and "signature does not match" in out, out


def test_missing_file(keys, tmp_path):
    rc, out = verify(keys[1], tmp_path / "nothing")
    assert rc == 1 and "missing" in out, out


@pytest.mark.parametrize("body", [
    text(extra="color: blue\n"),                      # unknown field
    text().replace("issued: ", "issued: 2026-13-45 #"),  # bad date
    text().replace("features: webrelay\n", ""),        # missing field
    text() + "id: again\n",                            # repeated field
    text().rstrip("\n"),                               # no final newline
])
def test_bad_text_is_not_signed(keys, body):
    r = run([TOOL, "sign", keys[0]], input=body.encode())
    assert r.returncode == 65, r.stderr
    assert r.stdout == b""


def test_text_after_the_signature_is_invalid(keys, tmp_path):
    lic = sign(keys, text(), tmp_path)
    lic.write_bytes(lic.read_bytes() + b"features: more\n")
    rc, out = verify(keys[1], lic)
    assert rc == 1 and "after the signature" in out, out


def test_signing_twice_refused(keys, tmp_path):
    lic = sign(keys, text(), tmp_path)
    r = run([TOOL, "sign", keys[0], lic])
    assert r.returncode == 65 and b"already signed" in r.stderr


def test_show(keys, tmp_path):
    r = run([TOOL, "show", sign(keys, text(), tmp_path)])
    assert r.returncode == 0
    assert b"id: FERRY-T-1" in r.stdout and b"signed: yes" in r.stdout


def test_usage():
    assert run([TOOL]).returncode == 64
    assert run([TOOL, "frobnicate", "x"]).returncode == 64
