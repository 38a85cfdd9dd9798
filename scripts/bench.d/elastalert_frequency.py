"""ElastAlert 2's FrequencyRule driven in process on the events of a JSON-lines file.

Run by scripts/bench with the Python of the venv that has `elastalert2` installed:

    python elastalert_frequency.py FILE THRESHOLD WINDOW_SECONDS QUERY_KEY [BATCH]

Parses every line into a dict with a datetime `@timestamp` (timed separately), then feeds
the events to `FrequencyRule.add_data` in batches of BATCH (10,000: ElastAlert's default
`max_query_size`), as ElastAlert does with each page of search hits, and times only the
rule (wall and CPU). Matches are taken off the rule after each batch, as ElastAlert's
loop does. Prints one JSON object.
"""

import datetime
import json
import sys
import time
from importlib.metadata import version

from elastalert.ruletypes import FrequencyRule


def main() -> None:
    path, threshold, window_s, query_key = sys.argv[1:5]
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 10_000
    t = time.perf_counter()
    c = time.process_time()
    events = []
    with open(path, "rb") as f:
        for line in f:
            ev = json.loads(line)
            ev["@timestamp"] = datetime.datetime.fromisoformat(ev["@timestamp"])
            events.append(ev)
    parse_s = time.perf_counter() - t
    parse_cpu = time.process_time() - c

    rule = FrequencyRule({
        "name": "bench-frequency",
        "type": "frequency",
        "num_events": int(threshold),
        "timeframe": datetime.timedelta(seconds=float(window_s)),
        "query_key": query_key,
        "timestamp_field": "@timestamp",
    })
    matches = 0
    rule_s = 0.0
    rule_cpu = 0.0
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        t = time.perf_counter()
        c = time.process_time()
        rule.add_data(chunk)
        rule_s += time.perf_counter() - t
        rule_cpu += time.process_time() - c
        matches += len(rule.matches)
        rule.matches = []
    print(json.dumps({
        "events": len(events),
        "keys": len({e[query_key] for e in events}),
        "matches": matches,
        "parse_s": parse_s,
        "parse_cpu_s": parse_cpu,
        "rule_s": rule_s,
        "rule_cpu_s": rule_cpu,
        "version": version("elastalert2"),
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
