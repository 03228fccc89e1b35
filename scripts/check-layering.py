#!/usr/bin/env python3
"""Fails when a lower layer includes a higher one (cmake/layers.txt).

    scripts/check-layering.py [REPO]     check the tree (ctest case `layering`)
    scripts/check-layering.py --self-test
                                          check that a tree with one bad include
                                          fails and the same tree without it passes
                                          (ctest case `layering_self_test`)

Every `#include "..."` and `#include <...>` in a layer's directory whose path
starts with a layer name, or climbs out of the directory with `../`, must name
the layer itself or one its line in cmake/layers.txt allows, or match an
`allow FILE HEADER` exception exactly. The build enforces the same table
through per-layer include roots (cmake/layers.cmake); this check also covers
headers no target compiles yet and `../` paths, and names the file and line.
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
SOURCE = re.compile(r"\.(c|cc|cpp|cxx|h|hh|hpp|hxx|ipp|inc)$")


def read_layers(path):
    layers, allowed = {}, set()
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            fields = raw.split("#", 1)[0].split()
            if not fields:
                continue
            if fields[0] == "allow":
                if len(fields) < 3:
                    sys.exit(f"{path}:{number}: expected 'allow FILE HEADER reason'")
                allowed.add((fields[1], fields[2]))
            else:
                if len(fields) < 2:
                    sys.exit(f"{path}:{number}: expected 'LAYER DIRECTORY [MAY-INCLUDE...]'")
                layers[fields[0]] = (fields[1], set(fields[2:]) | {fields[0]})
    for name, (_, sees) in layers.items():
        unknown = sees - layers.keys()
        if unknown:
            sys.exit(f"{path}: layer {name} may include unknown layer(s) {sorted(unknown)}")
    return layers, allowed


def check(repo, out=sys.stdout):
    """Returns the number of violations found in REPO, printing each."""
    layers, allowed = read_layers(os.path.join(repo, "cmake", "layers.txt"))
    used, violations, files = set(), 0, 0
    for layer, (directory, sees) in layers.items():
        top = os.path.join(repo, directory)
        for dirpath, _, names in os.walk(top):
            for name in sorted(names):
                if not SOURCE.search(name):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, repo)
                files += 1
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        header = m.group(1)
                        if header.startswith("../") or "/../" in header:
                            # Resolve against the including file's directory.
                            resolved = os.path.normpath(os.path.join(dirpath, header))
                            target = None
                            for other, (odir, _) in layers.items():
                                if resolved.startswith(os.path.join(repo, odir) + os.sep):
                                    target = other
                            if target == layer:
                                continue
                            print(f"{rel}:{number}: `{header}` climbs out of {directory}/: "
                                  f"include it as <layer>/<file>", file=out)
                            violations += 1
                            continue
                        first = header.split("/", 1)[0]
                        if "/" not in header or first not in layers or first in sees:
                            continue
                        if (rel, header) in allowed:
                            used.add((rel, header))
                            continue
                        print(f"{rel}:{number}: layer {layer} includes `{header}` of layer "
                              f"{first}; {layer} may include only {', '.join(sorted(sees))} "
                              f"(cmake/layers.txt)", file=out)
                        violations += 1
    for rel, header in sorted(allowed - used):
        print(f"note: exception `allow {rel} {header}` is no longer needed; "
              f"remove it from cmake/layers.txt", file=out)
    print(f"check-layering: {files} files in {len(layers)} layers, "
          f"{len(used)} allowed exception(s), {violations} violation(s)", file=out)
    return violations


def self_test():
    """A layer table and a tree that obeys it, then one bad include, then a `../` one."""
    with tempfile.TemporaryDirectory(prefix="stt-layering-") as tmp:
        os.makedirs(os.path.join(tmp, "cmake"))
        with open(os.path.join(tmp, "cmake", "layers.txt"), "w") as f:
            f.write("low src/low\nhigh src/high low\n"
                    "allow src/low/ok.hpp high/excused.hpp  the exception mechanism\n")
        for rel, text in {
            "src/low/a.hpp": '#pragma once\n#include <vector>\n#include "low/b.hpp"\n',
            "src/low/b.hpp": "#pragma once\n",
            "src/low/ok.hpp": '#pragma once\n#include "high/excused.hpp"\n',
            "src/high/excused.hpp": "#pragma once\n",
            "src/high/c.cpp": '#include "low/a.hpp"\n#include "high/excused.hpp"\n',
        }.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w") as f:
                f.write(text)
        quiet = open(os.devnull, "w")
        failures = []
        if check(tmp, quiet) != 0:
            failures.append("a tree that obeys its layers was rejected")
        bad = os.path.join(tmp, "src/low/a.hpp")
        with open(bad, "a") as f:
            f.write('#include "high/excused.hpp"\n')
        if check(tmp, quiet) != 1:
            failures.append("an include of a higher layer was not reported")
        with open(bad, "w") as f:
            f.write('#pragma once\n#include "../high/excused.hpp"\n')
        if check(tmp, quiet) != 1:
            failures.append("a `../` include into a higher layer was not reported")
        for failure in failures:
            print(f"check-layering self-test: FAILED: {failure}")
        if not failures:
            print("check-layering self-test: 3 cases passed")
        return len(failures)


def main():
    if sys.argv[1:] == ["--self-test"]:
        return 1 if self_test() else 0
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    return 1 if check(os.path.abspath(repo)) else 0


if __name__ == "__main__":
    sys.exit(main())
