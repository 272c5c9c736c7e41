#!/usr/bin/env python3
"""Checks the Dockerfile against Debian 12 and against the built binaries.

Docker cannot run on the project's machines, so the image is never built in
tests; this checks what can be checked without it:

1. The Dockerfile has a build stage on debian:bookworm and a runtime stage on
   debian:bookworm-slim, runs as uid 10001, exposes 2775, 3550 and 8080 and
   has ENTRYPOINT ["/usr/local/bin/sluice"].
2. Every package the runtime stage installs exists in Debian 12's apt index
   (`apt-cache show`), and so does every package the build stage installs.
3. Every shared library that `ldd` reports for the binaries (build/app/sluice,
   and the simulators when built) belongs to a package (`dpkg -S`) that the
   runtime image has: one the Dockerfile names, a dependency of those
   (`apt-cache depends --recurse`), or one of Debian's required packages
   and essential packages with their dependencies (what debian:bookworm-slim
   is made of). A library linked directly
   (DT_NEEDED) must come from a named package or a required one, not by
   accident through another package's dependencies.

usage: check_dockerfile.py [--dockerfile FILE] BINARY [BINARY...]
Missing optional binaries (prefixed with '?') are skipped.
Exit 0: all good; 1: a check failed; 77: skipped (not Debian 12, or no apt index).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

SKIP = 77


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logical_lines(text):
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if cur and line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        out.append(cur)
        cur = ""
    if cur:
        out.append(cur)
    return out


def parse_dockerfile(path):
    """Returns (args, stages): ARG defaults before the first FROM, and a list of
    stages, each {"from": image, "name": alias, "lines": [instructions]}."""
    args, stages = {}, []
    for line in logical_lines(open(path, encoding="utf-8").read()):
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            image = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), image)
            stages.append({"from": image, "name": name, "lines": []})
        elif not stages and word == "ARG":
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif stages:
            stages[-1]["lines"].append(line)
    return args, stages


def apt_installed_packages(stage):
    """Package names after `apt-get install` in a stage's RUN instructions."""
    pkgs = []
    for line in stage["lines"]:
        if not line.upper().startswith("RUN "):
            continue
        for cmd in re.split(r"&&|;|\|\|", line[4:]):
            words = shlex.split(cmd)
            words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
            if len(words) >= 2 and words[0] == "apt-get" and "install" in words[1:]:
                after = words[words.index("install") + 1:]
                pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def base_packages():
    """What debian:bookworm-slim is made of: Debian's required and essential
    packages (debootstrap's minbase) and their dependencies. Read from this
    machine's dpkg database, which has all of them installed."""
    r = run(["dpkg-query", "-W", "-f", "${Package}\t${Priority}\t${Essential}\t${db:Status-Status}\n"])
    seed = []
    for line in r.stdout.splitlines():
        name, prio, essential, status = (line.split("\t") + ["", "", "", ""])[:4]
        if status == "installed" and (prio == "required" or essential == "yes"):
            seed.append(name)
    return depends_closure(seed) if seed else set()


def depends_closure(pkgs):
    """The packages apt would bring along with pkgs (Depends and Pre-Depends, recursively)."""
    r = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
             "--no-breaks", "--no-replaces", "--no-enhances", *pkgs])
    closure = set(pkgs)
    for line in r.stdout.splitlines():
        if line and not line[0].isspace() and not line.startswith("<"):
            closure.add(line.strip().split(":")[0])
    return closure


def owning_packages(paths):
    """{path: package} for library paths, with one dpkg -S call (dpkg is slow
    to start); each path is also tried in its merged-/usr spellings."""
    spellings = {}
    for path in paths:
        cands = [path, os.path.realpath(path)]
        for p in list(cands):
            cands.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
        for c in cands:
            spellings.setdefault(c, set()).add(path)
    r = run(["dpkg", "-S", *sorted(spellings)])
    owners = {}
    for line in r.stdout.splitlines():
        # "libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3"
        pkgs, _, file = line.rpartition(": ")
        for path in spellings.get(file, ()):
            owners.setdefault(path, pkgs.split(",")[0].strip().split(":")[0])
    return owners


def apt_versions(pkgs):
    """{package: candidate version} for the packages in the apt index, one apt-cache call."""
    r = run(["apt-cache", "show", "--no-all-versions", *pkgs])
    found = {}
    for stanza in r.stdout.split("\n\n"):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        version = re.search(r"^Version: (\S+)$", stanza, re.M)
        if name and version:
            found.setdefault(name.group(1), version.group(1))
    return found


def ldd_libraries(binary):
    """(soname, path) for each library ldd resolves; unresolved ones have path None."""
    r = run(["ldd", binary])
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        m = re.match(r"(\S+) => (\S+)", line)
        if m:
            libs.append((m.group(1), None if m.group(2) == "not" else m.group(2)))
        elif line.startswith("/"):
            libs.append((os.path.basename(line.split()[0]), line.split()[0]))  # the dynamic loader
    return libs


def needed(binary):
    r = run(["readelf", "-d", binary])
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", r.stdout))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dockerfile", default=os.path.join(os.path.dirname(__file__), "..", "..", "Dockerfile"))
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()

    failures = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if ok:
            print(f"ok   {what}")
        else:
            print(f"FAIL {what}")
            failures.append(what)

    args, stages = parse_dockerfile(a.dockerfile)
    check(len(stages) >= 2, "the Dockerfile has a build and a runtime stage")
    if len(stages) < 2:
        return 1
    build, runtime = stages[0], stages[-1]
    check(build["from"] == "debian:bookworm", f"build stage FROM debian:bookworm (is {build['from']})")
    check(runtime["from"] == "debian:bookworm-slim", f"runtime stage FROM debian:bookworm-slim (is {runtime['from']})")
    rt = "\n".join(runtime["lines"])
    check(re.search(r'^ENTRYPOINT \["/usr/local/bin/sluice"\]$', rt, re.M) is not None,
          'ENTRYPOINT ["/usr/local/bin/sluice"]')
    expose = set()
    for line in runtime["lines"]:
        if line.upper().startswith("EXPOSE "):
            expose |= set(line.split()[1:])
    check({"2775", "3550", "8080"} <= expose, f"EXPOSE 2775 3550 8080 (has {' '.join(sorted(expose))})")
    users = [line.split()[1] for line in runtime["lines"] if line.upper().startswith("USER ")]
    check(bool(users) and users[-1].split(":")[0] in ("10001", "sluice"), "runs as the non-root user 10001")
    check(re.search(r"useradd .*--uid 10001", rt) is not None, "creates user sluice with uid 10001")
    check(re.search(r"COPY --from=\S+ \S+ /usr/local/bin/", rt) is not None, "copies the binaries to /usr/local/bin")
    build_pkgs = apt_installed_packages(build)
    runtime_pkgs = apt_installed_packages(runtime)
    check(bool(build_pkgs), f"build stage installs packages ({len(build_pkgs)})")
    check(bool(runtime_pkgs), f"runtime stage installs packages: {' '.join(runtime_pkgs)}")

    # The apt index must be Debian 12's for the rest to mean anything.
    osrel = open("/etc/os-release", encoding="utf-8").read() if os.path.exists("/etc/os-release") else ""
    if "VERSION_CODENAME=bookworm" not in osrel:
        print("skip: this machine is not Debian 12 (bookworm); the apt and dpkg checks need its index")
        return 1 if failures else SKIP
    if not apt_versions(["libc6"]):
        print("skip: the apt index is empty (run apt-get update)")
        return 1 if failures else SKIP

    versions = apt_versions(build_pkgs + runtime_pkgs)
    for p in build_pkgs + runtime_pkgs:
        check(p in versions, f"package {p} is in Debian 12's index" + (f" ({versions[p]})" if p in versions else ""))

    base = base_packages()
    check({"libc6", "libgcc-s1", "passwd"} <= base, f"the base image's packages are known ({len(base)})")
    closure = depends_closure(runtime_pkgs)
    image_pkgs = closure | base

    for spec in a.binaries:
        optional = spec.startswith("?")
        binary = spec[1:] if optional else spec
        if not os.path.exists(binary):
            if optional:
                print(f"skip {binary}: not built")
                continue
            check(False, f"{binary} exists (build it first)")
            continue
        direct = needed(binary)
        name = os.path.basename(binary)
        check(bool(direct), f"{name}: readelf lists its DT_NEEDED libraries")
        # Sanitizer runtimes appear only in the test build (scripts/test builds
        # with ASan+UBSan); the image is built without them.
        sanitizer = ("libasan.", "libubsan.", "liblsan.", "libtsan.")
        libs = [(so, path) for so, path in ldd_libraries(binary)
                if so != "linux-vdso.so.1" and not so.startswith(sanitizer)]
        owners = owning_packages([path for _, path in libs if path])
        for soname, path in libs:
            if path is None:
                check(False, f"{name}: {soname} resolves on this machine")
                continue
            pkg = owners.get(path)
            if pkg is None:
                check(False, f"{name}: {soname} ({path}) belongs to a Debian package")
            elif soname in direct:
                check(pkg in runtime_pkgs or pkg in base,
                      f"{name}: {soname} (linked directly) from {pkg}, "
                      + ("in the base image" if pkg in base and pkg not in runtime_pkgs else "named in the Dockerfile"))
            else:
                check(pkg in image_pkgs, f"{name}: {soname} from {pkg}, in the runtime image")

    print(f"check_dockerfile: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
