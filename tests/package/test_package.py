#!/usr/bin/env python3
"""The Debian package, end to end, as root on this machine (ctest label `package`).

Builds stt_<version>_amd64.deb with the documented command (packaging/build-deb.sh)
from the test build tree, runs lintian (no errors; every warning is one
docs/packaging.md lists), installs it with dpkg -i, checks sttd --version,
sttctl --version, man -w, the units (systemd-analyze verify), the conffile and
the bash completion, then removes and purges it and checks that every path it
owned is gone. The machine is left as it was found, also on failure: the test
refuses to start when stt is already installed or any path it would own
exists, and purges the package on the way out whatever happened.

Usage: test_package.py --build-dir BUILD
Prints "N passed, N failed" as its last line, like the other root suites.
"""

import argparse
import atexit
import os
import re
import signal
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The lintian warnings docs/packaging.md explains; any other warning fails the test.
ALLOWED_WARNINGS = {
    "maintainer-script-calls-systemctl",
}
# Every path the package owns or makes (the units of sttd@NAME included).
OWNED = [
    "/usr/sbin/sttd", "/usr/bin/sttctl",
    "/lib/systemd/system/sttd.service", "/lib/systemd/system/sttd@.service",
    "/usr/share/man/man8/sttd.8.gz", "/usr/share/man/man8/sttctl.8.gz",
    "/usr/share/man/man5/sttd.toml.5.gz",
    "/usr/share/bash-completion/completions/sttctl",
    "/usr/share/doc/stt", "/etc/stt",
]

results = {"passed": 0, "failed": 0}
installed = [False]


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" %
                             (" ".join(cmd), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def check(what, cond, detail=""):
    if cond:
        results["passed"] += 1
        print("ok    %s" % what)
    else:
        results["failed"] += 1
        print("FAIL  %s%s" % (what, (": " + detail) if detail else ""))
    return cond


def package_state():
    p = run(["dpkg-query", "-W", "-f=${Status}", "stt"], check=False)
    return p.stdout.strip() if p.returncode == 0 else "not known to dpkg"


def cleanup():
    """Purge whatever of the package is there; runs on every way out."""
    if installed[0] or package_state() != "not known to dpkg":
        run(["dpkg", "--purge", "stt"], check=False)
        installed[0] = False


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_package.py: needs root (dpkg -i)", file=sys.stderr)
        return 1

    # 0. The machine as found: no stt, nothing at the paths it would own.
    state = package_state()
    present = [p for p in OWNED if os.path.lexists(p)]
    if state != "not known to dpkg" or present:
        print("test_package.py: refusing to run: stt is '%s' and %s exist; this test must "
              "leave a machine as it found it" % (state, present or "no paths"), file=sys.stderr)
        return 1
    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    # 1. The documented command builds the .deb.
    p = run([os.path.join(REPO, "packaging", "build-deb.sh"), "--build-dir", args.build_dir,
             "--no-deps"])
    deb = p.stdout.strip().splitlines()[-1]
    version = re.search(r"stt_([^_]+)_amd64\.deb$", deb)
    check("build-deb.sh printed stt_<version>_amd64.deb: %s" % deb,
          version is not None and os.path.isfile(deb))
    version = version.group(1)
    info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout
    check("control: package stt, version %s, amd64" % version,
          "Package: stt" in info and "Version: %s" % version in info and
          "Architecture: amd64" in info, info)
    check("control: Depends names libc and nftables (shlibdeps ran)",
          "libc6" in info and "nftables" in info, info)
    contents = run(["dpkg-deb", "-c", deb]).stdout
    for path in OWNED[:-2] + ["/usr/share/doc/stt/copyright", "/usr/share/doc/stt/changelog.gz",
                              "/etc/stt/sttd.toml"]:
        check("the .deb holds %s" % path, (" ." + path + "\n") in contents)

    # 2. lintian: no errors; warnings only the documented ones.
    lint = run(["lintian", "--no-tag-display-limit", deb], check=False)
    tags = re.findall(r"^([EW]): stt[^:]*: (\S+)", lint.stdout, re.M)
    print(lint.stdout.strip())
    errors = sorted({t for lvl, t in tags if lvl == "E"})
    warnings = sorted({t for lvl, t in tags if lvl == "W"})
    check("lintian: no errors", not errors and lint.returncode == 0,
          "errors %s, exit %d, stderr %s" % (errors, lint.returncode, lint.stderr.strip()))
    check("lintian: only documented warnings", set(warnings) <= ALLOWED_WARNINGS,
          "undocumented: %s" % sorted(set(warnings) - ALLOWED_WARNINGS))

    # 3. dpkg -i, and what it put in place.
    installed[0] = True
    run(["dpkg", "-i", deb])
    check("dpkg: stt is installed", package_state() == "install ok installed", package_state())
    out = run(["/usr/sbin/sttd", "--version"]).stdout.strip()
    check("sttd --version prints %s" % version, version in out, out)
    out = run(["/usr/bin/sttctl", "--version"]).stdout.strip()
    check("sttctl --version prints %s" % version, version in out, out)
    for page, want in (("sttd", "/usr/share/man/man8/sttd.8.gz"),
                       ("sttctl", "/usr/share/man/man8/sttctl.8.gz"),
                       ("sttd.toml", "/usr/share/man/man5/sttd.toml.5.gz")):
        p = run(["man", "-w", page], check=False)
        check("man -w %s finds %s" % (page, want), p.stdout.strip() == want,
              p.stdout.strip() + p.stderr.strip())
    p = run(["man", "--warnings", "-P", "cat", "sttd"], check=False,
            env=dict(os.environ, MANWIDTH="80"))
    check("man sttd renders, no warnings", p.returncode == 0 and "sttd" in p.stdout and
          not p.stderr.strip(), p.stderr.strip())
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "stt"]).stdout
    check("/etc/stt/sttd.toml is a conffile", "/etc/stt/sttd.toml" in conffiles, conffiles)
    for unit in ("sttd.service", "sttd@.service"):
        text = open("/lib/systemd/system/" + unit).read()
        check("%s: Type=notify, ExecStart=/usr/sbin/sttd -c /etc/stt/..." % unit,
              "Type=notify" in text and re.search(r"^ExecStart=/usr/sbin/sttd -c /etc/stt/"
                                                  r"(sttd|%i)\.toml$", text, re.M), text[:400])
    # A template is verified through an instance of it.
    for unit in ("sttd.service", "sttd@example.service"):
        p = run(["systemd-analyze", "verify", unit], check=False)
        check("systemd-analyze verify %s" % unit, p.returncode == 0 and not p.stderr.strip(),
              p.stdout + p.stderr)
    p = run(["bash", "-c", "source /usr/share/bash-completion/bash_completion; "
             "source /usr/share/bash-completion/completions/sttctl; complete -p sttctl"],
            check=False)
    check("bash completion registers _sttctl", "_sttctl" in p.stdout, p.stdout + p.stderr)

    # 4. dpkg -r keeps the conffile; --purge removes everything.
    run(["dpkg", "-r", "stt"])
    left = [p for p in OWNED if os.path.lexists(p)]
    check("dpkg -r: only the conffile's /etc/stt is left", left == ["/etc/stt"], str(left))
    check("dpkg -r: state config-files", package_state() == "deinstall ok config-files",
          package_state())
    run(["dpkg", "--purge", "stt"])
    installed[0] = False
    left = [p for p in OWNED if os.path.lexists(p)]
    check("dpkg --purge: nothing left", not left, str(left))
    check("dpkg --purge: stt unknown to dpkg", package_state() == "not known to dpkg",
          package_state())

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    try:
        rc = main()
    except AssertionError as e:
        print("FAIL  %s" % e)
        print("%d passed, %d failed" % (results["passed"], results["failed"] + 1))
        rc = 1
    sys.exit(rc)
