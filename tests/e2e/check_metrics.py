#!/usr/bin/env python3
"""Parses a /metrics scrape with prometheus_client's text-format parser (not
ours) and checks that every metric the Grafana dashboard uses is exported.
Usage: check_metrics.py SCRAPE_FILE METRICS_TXT. Prints one JSON line."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
wanted = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
families = {}
samples = {}
for fam in text_string_to_metric_families(text):  # raises on malformed text
    families[fam.name] = fam.type
    for s in fam.samples:
        samples[s.name] = samples.get(s.name, 0) + 1
declared = set()
for line in text.splitlines():
    if line.startswith("# TYPE "):
        declared.add(line.split()[2])
missing = []
for name in wanted:
    base = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
    if name not in samples and name not in declared and base not in declared:
        missing.append(name)
print(json.dumps({"families": len(families), "samples": sum(samples.values()), "missing": missing}))
sys.exit(1 if missing else 0)
