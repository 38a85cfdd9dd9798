"""Parses an OpenMetrics exposition (stdin) with the Prometheus project's own Python
client parser, strictly, and prints every sample as JSON: {"name", "labels", "value"}.
Exits non-zero (with the parser's error) on anything the parser rejects."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
json.dump(samples, sys.stdout)
