#!/usr/bin/env python3
"""Checks that deploy/helm/sluice/README.md documents every value.

values.yaml marks each value with a `# --` comment (the helm-docs
convention). This checks that
- every leaf value (a scalar, a list, an inline map) carries such a comment,
  itself or on the object it belongs to (e.g. podSecurityContext);
- every commented value has a row in the README's tables (keys in the first
  column, in backquotes; `stages.<stage>.x` stands for all six stages);
- every README row names a value that exists;
- values.schema.json names the same top-level keys as values.yaml.

values.yaml is read with a small indentation parser (PyYAML is not needed):
block mappings two spaces per level, one key per line.

usage: check_chart_docs.py [REPO_ROOT]
"""
import json
import os
import re
import sys

STAGES = ("gateway", "assembler", "router", "scheduler", "sender", "dlr")


def parse_values(path):
    """[(dotted path, is_leaf, documented)] in file order."""
    entries = []
    stack = []          # keys of the enclosing mappings
    doc = False         # a `# --` comment block precedes the next key
    in_list = None      # indentation of a block list being skipped
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("# --"):
            doc = True
            continue
        if s.startswith("#"):
            continue
        if not s:
            doc = False
            continue
        indent = len(line) - len(line.lstrip(" "))
        if in_list is not None and (indent > in_list or (indent == in_list and s.startswith("- "))):
            continue    # inside a block list value
        in_list = None
        m = re.match(r"^( *)([A-Za-z0-9_]+):(?:\s+(.*))?$", line)
        if not m:
            raise SystemExit(f"{path}:{i + 1}: cannot read {line!r}")
        level = len(m.group(1)) // 2
        stack = stack[:level] + [m.group(2)]
        value = (m.group(3) or "").strip()
        nxt = next((l for l in lines[i + 1:] if l.strip() and not l.strip().startswith("#")), "")
        nxt_indent = len(nxt) - len(nxt.lstrip(" "))
        if value == "" and nxt.strip().startswith("- ") and nxt_indent >= indent:
            in_list = nxt_indent
            leaf = True
        else:
            leaf = value != "" or nxt_indent <= indent
        entries.append((".".join(stack), leaf, doc))
        doc = False
    return entries


def normalize(path):
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] == "stages" and parts[1] in STAGES:
        parts[1] = "<stage>"
    return ".".join(parts)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    chart = os.path.join(root, "deploy", "helm", "sluice")
    failures = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            print(f"FAIL {what}")
            failures.append(what)

    entries = parse_values(os.path.join(chart, "values.yaml"))
    documented = {p for p, _, d in entries if d}
    for path, leaf, _ in entries:
        if leaf:
            parts = path.split(".")
            ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            check(bool(ancestors & documented), f"values.yaml: {path} has a `# --` comment (or its object has)")

    readme = open(os.path.join(chart, "README.md"), encoding="utf-8").read()
    rows = set(re.findall(r"^\| `([A-Za-z0-9_.<>]+)` \|", readme, re.M))
    wanted = {normalize(p) for p in documented}
    all_paths = {normalize(p) for p, _, _ in entries}
    for p in sorted(wanted):
        check(p in rows, f"README.md has a row for `{p}`")
    for r in sorted(rows):
        check(r in all_paths, f"README.md row `{r}` names a value in values.yaml")
    for s in STAGES:
        check(f"| {s} |" in readme, f"README.md lists the defaults of stage {s}")

    schema = json.load(open(os.path.join(chart, "values.schema.json"), encoding="utf-8"))
    top_values = {p for p, _, _ in entries if "." not in p}
    top_schema = set(schema.get("properties", {})) - {"global"}
    check(top_values == top_schema,
          f"values.schema.json and values.yaml have the same top-level keys "
          f"(only in values: {sorted(top_values - top_schema)}, only in schema: {sorted(top_schema - top_values)})")

    print(f"check_chart_docs: {len(entries)} values, {len(rows)} README rows; "
          f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
