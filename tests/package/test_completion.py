#!/usr/bin/env python3
"""sttctl's bash completion (packaging/bash-completion/sttctl) in a real bash with
bash-completion loaded: verbs, sub-verbs, keywords, the options of encap/decap
from their --help, and network names and peers from a running sttd."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import stt_harness as H  # noqa: E402

COMPLETION = os.path.join(H.REPO, "packaging", "bash-completion", "sttctl")
NETS = [{"name": "blue", "context_id": 0x61}, {"name": "red", "context_id": 0x62}]


def complete(line):
    """COMPREPLY for the command line `line` (completing its last word)."""
    script = r"""
source /usr/share/bash-completion/bash_completion
source "$1"
COMP_LINE="$2"
COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_sttctl sttctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""
    env = dict(os.environ, PATH=os.path.dirname(H.STTCTL) + ":" + os.environ["PATH"])
    p = subprocess.run(["bash", "-c", script, "complete", COMPLETION, line], env=env,
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0 or p.stderr.strip():
        raise H.HarnessError("completion of %r: exit %d, stderr %s" %
                             (line, p.returncode, p.stderr.strip()))
    return sorted(w for w in p.stdout.split("\n") if w)


class Completion(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        nets = [dict(n, peers=[cls.under[1]]) for n in NETS]
        cls.d = H.Daemon(cls.hosts[0], cls.under[0], nets).start()

    def test_verbs_and_keywords(self):
        self.assertTrue({"show", "stats", "reassembly", "reload", "fdb", "peer", "encap",
                         "decap"} <= set(complete("sttctl ")))
        self.assertEqual(complete("sttctl fdb "), sorted(["show", "add", "del", "-s", "--socket",
                                                          "-j", "--json", "-h", "--help"]))
        self.assertEqual(complete("sttctl peer a"), ["add"])
        self.assertEqual(complete("sttctl fdb add 02:00:00:00:00:01 n"), ["network"])
        self.assertEqual(complete("sttctl fdb add 02:00:00:00:00:01 p"), ["peer"])

    def test_offline_options_come_from_help(self):
        self.assertEqual(complete("sttctl decap --tr"), ["--trust-checksums"])
        self.assertIn("--context-id", complete("sttctl encap --con"))

    def test_networks_and_peers_from_the_daemon(self):
        s = self.d.socket
        self.assertEqual(complete("sttctl -s %s fdb show network " % s), ["blue", "red"])
        self.assertEqual(complete("sttctl -s %s peer add 10.0.0.9 network b" % s), ["blue"])
        self.assertEqual(complete("sttctl -s %s peer del " % s), [self.under[1]])
        self.assertEqual(complete("sttctl --socket %s fdb add 02:00:00:00:00:01 peer " % s),
                         [self.under[1]])

    def test_no_daemon_no_names_and_no_hang(self):
        t0 = time.monotonic()
        self.assertEqual(complete("sttctl -s /nonexistent/sttd.sock fdb show network "), [])
        self.assertLess(time.monotonic() - t0, 10)


if __name__ == "__main__":
    H.main()
