#!/usr/bin/env python3
"""Checks the Grafana dashboard deploy/grafana/sluice.json.

- Every metric named in a query (panel targets and variable queries) is listed
  in deploy/grafana/metrics.txt, the metrics the code exports (a separate test
  checks that side).
- Every panel and query uses the ${DS_PROMETHEUS} data source variable, and
  the dashboard defines that variable.
- Grafana 10 schema: schemaVersion 36 or newer, unique panel ids, panels
  inside the 24-column grid without overlaps, balanced brackets in queries.
- sluice.json is what deploy/grafana/generate.py writes (not edited by hand).

usage: check_dashboard.py [REPO_ROOT]
"""
import json
import os
import re
import subprocess
import sys

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "atan2", "inf", "nan",
}


def strip_promql(expr):
    """Removes string literals, label matchers, ranges and grouping clauses."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^{}]*\}", " ", e)
    e = re.sub(r"\[[^\[\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    return e


def metric_names(expr):
    """Metric names in a PromQL expression (identifiers that are not functions,
    keywords, or grouping labels)."""
    names = set()
    m = re.fullmatch(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,\s*\w+\s*\)\s*", expr)
    if m:
        return {m.group(1)}
    e = strip_promql(expr)
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_WORDS or word.startswith("__"):
            continue
        names.add(word)
    return names


def self_test():
    cases = {
        'sum by (le) (rate(sluice_x_bucket{a="b",ns=~"$namespace"}[$__rate_interval]))': {"sluice_x_bucket"},
        'histogram_quantile(0.99, sum by (le, provider) (rate(a_bucket[5m])))': {"a_bucket"},
        'count(a < scalar(max(b))) or vector(0)': {"a", "b"},
        'sum(rate(x{stat!~"ENROUTE|ACCEPTD"}[1m])) / sum(rate(y[1m]))': {"x", "y"},
        'topk(10, sum by (customer) (rate(z[$__rate_interval])))': {"z"},
        "label_values(sluice_sender_submits_total, provider)": {"sluice_sender_submits_total"},
        'a * on (stage) group_left (foo) b offset 5m': {"a", "b"},
    }
    for expr, want in cases.items():
        got = metric_names(expr)
        assert got == want, f"metric_names({expr!r}) = {got}, want {want}"


def balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    gdir = os.path.join(root, "deploy", "grafana")
    self_test()
    failures = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            print(f"FAIL {what}")
            failures.append(what)

    listed = [l.strip() for l in open(os.path.join(gdir, "metrics.txt"), encoding="utf-8") if l.strip()]
    check(len(listed) == len(set(listed)), "metrics.txt lists each metric once")
    for name in listed:
        check(re.fullmatch(r"sluice_[a-z0-9_]+", name) is not None, f"metrics.txt: {name!r} is a sluice_ metric name")
    listed = set(listed)

    d = json.load(open(os.path.join(gdir, "sluice.json"), encoding="utf-8"))
    check(d.get("schemaVersion", 0) >= 36, f"schemaVersion {d.get('schemaVersion')} is Grafana 10's (>= 36)")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    check(ds is not None and ds.get("type") == "datasource" and ds.get("query") == "prometheus",
          "variable DS_PROMETHEUS is a Prometheus data source variable")

    queries = []  # (where, expr)
    for v in variables.values():
        if v.get("type") == "query":
            q = v.get("query")
            queries.append((f"variable {v['name']}", q.get("query") if isinstance(q, dict) else q))
            check(v.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}", f"variable {v['name']} uses ${{DS_PROMETHEUS}}")

    ids = set()
    cells = {}
    for p in all_panels(d.get("panels", [])):
        title = p.get("title", "?")
        check(p.get("id") not in ids, f"panel {title!r}: unique id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        check(g.get("x", 0) + g.get("w", 0) <= 24 and g.get("w", 0) > 0 and g.get("h", 0) > 0,
              f"panel {title!r}: inside the 24-column grid")
        mine = {(x, y) for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0))
                for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0))}
        hit = sorted({cells[c] for c in mine if c in cells})
        check(not hit, f"panel {title!r} overlaps {hit}")
        cells.update({c: title for c in mine})
        if p.get("type") == "row":
            continue
        check(p.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}", f"panel {title!r} uses ${{DS_PROMETHEUS}}")
        check(bool(p.get("targets")), f"panel {title!r} has queries")
        for t in p.get("targets", []):
            check(t.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}",
                  f"panel {title!r} query {t.get('refId')} uses ${{DS_PROMETHEUS}}")
            queries.append((f"panel {title!r} query {t.get('refId')}", t.get("expr", "")))

    used = set()
    for where, expr in queries:
        check(bool(expr), f"{where}: has an expression")
        check(balanced(expr), f"{where}: balanced brackets in {expr!r}")
        names = metric_names(expr)
        check(bool(names), f"{where}: names a metric")
        for n in sorted(names):
            used.add(n)
            check(n in listed, f"{where}: metric {n} is listed in deploy/grafana/metrics.txt")
    for n in sorted(listed - used):
        print(f"note: {n} is listed in metrics.txt but no panel uses it")

    gen = subprocess.run([sys.executable, os.path.join(gdir, "generate.py"), "--check"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(gen.returncode == 0, "sluice.json is what generate.py writes: " + gen.stdout.strip())

    print(f"check_dashboard: {len(queries)} queries, {len(used)} metrics; {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
