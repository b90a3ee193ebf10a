# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The manual pages in man/: mandoc finds nothing wrong with them, and
they document what the programs really have: every key of the config
table (ferry.conf(5) is generated from it), every ferryctl subcommand,
every option sendmail's getopt string accepts, every page ferry(8)
refers to."""
import re
import shutil

import pytest

from conftest import BIN, REPO, run

MAN = REPO / "man"


def makefile_pages():
    """The pages the Makefile's MAN1, MAN5 and MAN8 name."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    pages = []
    for sec in "158":
        m = re.search(r"^MAN%s\s*:=(.*)$" % sec, text, re.M)
        assert m, "no MAN%s in the Makefile" % sec
        pages += m.group(1).split()
    return pages


PAGES = makefile_pages()


def page(name):
    return (MAN / name).read_text()


def test_makefile_installs_every_page_in_man():
    """A page in man/ that MAN1, MAN5 and MAN8 miss is never installed."""
    assert sorted(p.name for p in MAN.iterdir()
                  if re.search(r"\.[158]$", p.name)) == sorted(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_page_is_mandoc_lint_clean(name):
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed (etc/install-deps test)")
    r = run(["mandoc", "-Tlint", "-Wwarning", MAN / name])
    assert (r.returncode, r.stdout + r.stderr) == (0, b"")


def defaults():
    """(key, default) of every key, in order, from `ferry-control
    defaults` (the table's own output, the same as etc/ferry.conf)."""
    out = run([BIN / "ferry-control", "defaults"], check=True).stdout
    return re.findall(r"^#([a-z][a-z0-9_]*) =(?: (.*))?$",
                      out.decode(), re.M)


def manpage_items(text):
    """{key: the text of its .It entry} from ferry.conf(5), in order."""
    items = {}
    for m in re.finditer(r"^\.It Cm (\S+) Ar .*\n((?:(?!\.It |\.El).*\n)*)",
                         text, re.M):
        items[m.group(1)] = m.group(2)
    return items


def test_ferry_conf_5_is_what_the_table_prints():
    """man/ferry.conf.5 is made by `make man`; a stale one would leave out
    the keys added since."""
    out = run([BIN / "ferry-control", "manpage"], check=True).stdout
    assert page("ferry.conf.5") == out.decode()


def test_ferry_conf_5_lists_every_key_with_its_default():
    keys = defaults()
    assert len(keys) > 50
    items = manpage_items(page("ferry.conf.5"))
    assert list(items) == [k for k, _ in keys]
    for key, value in keys:
        if value == "":
            want = "Default: empty.\n"
        else:
            escaped = value.replace("\\", "\\e").replace('"', '""')
            want = 'Default:\n.Ql "\\&%s" .\n' % escaped
        assert want in items[key], key


def help_texts():
    """{key: its help text} from the comment lines `ferry-control
    defaults` prints above each key (without the Range line)."""
    out = run([BIN / "ferry-control", "defaults"], check=True).stdout
    texts = {}
    for block in out.decode().split("\n\n")[1:]:
        lines = block.strip().splitlines()
        key = re.match(r"#(\S+) =", lines[-1]).group(1)
        texts[key] = " ".join(l[2:] for l in lines[:-1]
                              if not l.startswith("# Range: "))
    return texts


def test_ferry_conf_5_shows_every_help_text_whole():
    """Rendered, the page has each key's help word for word: no line of
    it taken for a roff request, no backslash eaten as an escape."""
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed (etc/install-deps test)")
    out = run(["mandoc", "-Tascii", MAN / "ferry.conf.5"], check=True)
    rendered = " ".join(re.sub(rb".\x08", b"", out.stdout).decode().split())
    texts = help_texts()
    assert len(texts) == len(defaults())
    for key, text in texts.items():
        assert " ".join(text.split()) in rendered, key


def see_also(text):
    """(name, section) of every .Xr in the SEE ALSO section."""
    section = text.split("\n.Sh SEE ALSO\n", 1)[1].split("\n.Sh ", 1)[0]
    return re.findall(r"^\.Xr (\S+) (\d)", section, re.M)


def test_ferry_8_refers_to_every_other_page_and_each_exists():
    refs = see_also(page("ferry.8"))
    for name, sec in refs:
        assert (MAN / ("%s.%s" % (name, sec))).is_file(), (name, sec)
    assert sorted("%s.%s" % r for r in refs) == \
        sorted(p for p in PAGES if p != "ferry.8")


def ferryctl_subcommands():
    """The words of ferryctl's usage message that are subcommands: lower
    case, neither an option nor a placeholder (FILE, ID, USER, ...)."""
    r = run([BIN / "ferryctl"])
    assert r.returncode == 64
    usage = re.sub(r"\[-c FILE\]|\[-d\]|usage:|ferryctl", " ",
                   r.stderr.decode())
    words = set(re.split(r"[\s|]+", usage)) - {""}
    return {w for w in words if re.fullmatch(r"[a-z]+", w)}


def cm_words(text):
    """The words each .It line of ferryctl(8) marks with Cm, up to the
    next macro (Ar, Op, Fl, ...)."""
    words = set()
    for line in re.findall(r"^\.It (.*)$", text, re.M):
        marked = False
        for tok in line.split():
            if tok == "Cm":
                marked = True
            elif re.fullmatch(r"[A-Z][a-z]|\|", tok):
                marked = False
            elif marked:
                words.add(tok)
    return words


def test_ferryctl_8_documents_every_subcommand():
    subcommands = ferryctl_subcommands()
    assert {"start", "stop", "reload", "passwd", "delegate", "forget",
            "version"} <= subcommands
    assert subcommands - cm_words(page("ferryctl.8")) == set()


def sendmail_options():
    """The option letters of sendmail's getopt string."""
    src = (REPO / "sendmail/sendmail.c").read_text()
    m = re.search(r'getopt\(argc, argv,\s*"([^"]*)"\)', src)
    assert m, "no getopt call in sendmail/sendmail.c"
    return [c for c in m.group(1) if c.isalpha()]


def test_sendmail_1_documents_every_option():
    options = sendmail_options()
    assert {"t", "i", "f", "F", "b", "o", "q"} <= set(options)
    text = page("sendmail.1")
    missing = [c for c in options
               if not re.search(r"^\.(It )?Fl %s([a-z ]|$)" % c, text,
                                re.M)]
    assert missing == []
