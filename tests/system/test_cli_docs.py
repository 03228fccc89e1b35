#!/usr/bin/env python3
"""docs/cli.md says what sttctl prints, and this test holds it to that.

Every ```console block of the page is a transcript: a line "$ sttctl ..." is a command, the
lines after it (up to the next "$ " line or the end of the block) are what it prints, stdout
then stderr. The page's one ```toml block is the config the transcripts were taken with.
The test starts sttd with that config (only its control socket moved to a temporary
directory) on a host whose underlay is as the page says, runs every command in page order
against it, and compares the output line by line. Masked, on both sides, only what must
vary between runs: sttd's version and uptime, the kernel's neighbour state of the peer, the
temporary socket and config paths.
It also checks that every verb `sttctl --help` lists is documented on the page.

STT_CLI_DOC names another page to check (to see the test fail on a changed copy)."""

import os
import re
import shlex

import stt_harness as H

DOC = os.environ.get("STT_CLI_DOC", os.path.join(H.REPO, "docs", "cli.md"))
DOC_SOCKET = "/run/stt/sttd.sock"
DOC_CONFIG = "/etc/stt/sttd.toml"
# The underlay MACs the page's transcripts show: fixed here, so nothing random remains.
UNDERLAY_MACS = ("02:00:5e:00:01:01", "02:00:5e:00:01:02")

# Values that differ from run to run: (pattern, replacement), applied to both sides.
MASKS = [
    (re.compile(r"(?m)^(\s*uptime_s\s+)\d+$"), r"\g<1>UPTIME"),
    (re.compile(r"(?m)^(\s*version\s+)\S+$"), r"\g<1>VERSION"),
    (re.compile(r'"uptime_s":\d+'), '"uptime_s":UPTIME'),
    (re.compile(r'"version":"[^"]*"'), '"version":VERSION'),
    # The kernel's neighbour entry of a peer ages (reachable, then stale, ...).
    (re.compile(r"\b(reachable|stale|delay|probe) *"), "STATE "),
]


def read_doc(path):
    with open(path) as f:
        return f.read()


def blocks(text, lang):
    """[(first line number, [lines])] of the ```LANG fenced blocks of a Markdown text."""
    out, cur, start = [], None, 0
    for no, line in enumerate(text.splitlines(), start=1):
        if cur is None and line.strip() == "```" + lang:
            cur, start = [], no + 1
        elif cur is not None and line.strip() == "```":
            out.append((start, cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def transcripts(text):
    """[(line number, command, [expected output lines])] in page order."""
    out = []
    for start, lines in blocks(text, "console"):
        for i, line in enumerate(lines):
            if line.startswith("$ "):
                out.append((start + i, line[2:], []))
            elif out and out[-1][0] >= start:
                out[-1][2].append(line)
            else:
                raise AssertionError("%s:%d: a console block must start with '$ '" %
                                     (DOC, start + i))
    return out


def masked(text):
    for pattern, repl in MASKS:
        text = pattern.sub(repl, text)
    return text


class CliDocs(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.text = read_doc(DOC)
        tomls = blocks(cls.text, "toml")
        if len(tomls) != 1:
            raise H.HarnessError("%s: expected exactly one ```toml block (the examples' "
                                 "config), found %d" % (DOC, len(tomls)))
        config = "\n".join(tomls[0][1]) + "\n"
        if DOC_SOCKET not in config:
            raise H.HarnessError("%s: the examples' config does not name %s" %
                                 (DOC, DOC_SOCKET))
        cls.hosts, cls.under = H.two_hosts(4)
        for h, mac in zip(cls.hosts, UNDERLAY_MACS):
            h.ip(["link", "set", "dev", "veth0", "address", mac])
        cls.d = H.Daemon(cls.hosts[0], None, [{"name": "blue"}, {"name": "red"}],
                         label="clidocs", config_text=config.replace(DOC_SOCKET, "@SOCK@"))
        cls.d.start()
        # The page shows the peer resolved: wait for it, not for a time.
        H.wait_for(lambda: all(p["resolved"] for p in cls.d.ctl_json(["show"])["peers"]), 10,
                   "the peers to resolve")

    def run_example(self, command):
        argv = shlex.split(command)
        self.assertEqual(argv[0], "sttctl", "an example that is not an sttctl command")
        p = self.d.host.exec([H.STTCTL, "-s", self.d.socket] + argv[1:], check=False)
        out = (p.stdout + p.stderr).replace(self.d.socket, DOC_SOCKET)
        out = out.replace(self.d.config, DOC_CONFIG)
        return p, out

    def test_transcripts_match(self):
        examples = transcripts(self.text)
        self.assertGreaterEqual(len(examples), 10, "the page lost its transcripts")
        record = {}
        # In page order: the commands that change the FDB are seen by the ones after them.
        for line_no, command, expected in examples:
            with self.subTest("%s:%d: $ %s" % (os.path.basename(DOC), line_no, command)):
                p, out = self.run_example(command)
                record[line_no] = (len(expected), out)
                self.assertEqual(masked(out).splitlines(), masked("\n".join(expected)).splitlines(),
                                 "docs/cli.md:%d `%s` prints otherwise" % (line_no, command))
                # An error is a line on stderr and a non-zero status; success, neither.
                self.assertEqual(p.returncode != 0, p.stderr != "", out)
        # STT_CLI_DOC_RECORD=FILE: the page with the outputs seen, for a writer to compare
        # (the check above is unchanged by it).
        if os.environ.get("STT_CLI_DOC_RECORD"):
            lines = self.text.splitlines()
            for line_no in sorted(record, reverse=True):
                n, out = record[line_no]
                lines[line_no:line_no + n] = out.splitlines()
            with open(os.environ["STT_CLI_DOC_RECORD"], "w") as f:
                f.write("\n".join(lines) + "\n")

    def test_every_verb_is_documented(self):
        help_text = H.run([H.STTCTL, "--help"]).stdout
        verbs = re.findall(r"(?m)^  (\S+)\s{2,}\S", re.split("(?i)subcommands:", help_text)[1])
        self.assertIn("show", verbs)
        for v in verbs:
            with self.subTest(v):
                sub = H.run([H.STTCTL, v, "--help"]).stdout
                parts = re.split("(?i)subcommands:", sub)
                subverbs = re.findall(r"(?m)^  (\S+)\s{2,}\S", parts[1]) if len(parts) > 1 else []
                for name in ["sttctl %s %s" % (v, s) for s in subverbs] or ["sttctl " + v]:
                    self.assertIn(name, self.text, "%s is not documented in %s" % (name, DOC))


if __name__ == "__main__":
    H.main()
