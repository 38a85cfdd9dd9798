"""The throughput cases of scripts/bench, each a table of tools run in paired rounds over the
same corpus: one-literal and field-condition rules beside `rg`/`grep -c -F -f`, a
never-matching rule beside `wc -l` and `cat`, a frequency rule beside ElastAlert 2's
FrequencyRule; and the peak RSS of `klaxon test` over the JSON corpus.

Python 3.11 standard library only.
"""

from __future__ import annotations

import json
import os
import re
import statistics

import corpus
from configs import (any_rule, counts_from_log, field_rule, file_source, klaxon_env,
                     literal_query, scene)
from elastalert_setup import elastalert_ready
from session import Case, Other, Tool
from tools import BENCH, ROOT, SKIP, Proc, paired_rounds, run, warm


def literal_case(bench, name: str, kind: str, fields: bool) -> None:
    path, counts = bench.corpus(kind, bench.size)
    lit_path = os.path.join(BENCH, "literals.txt")
    with open(lit_path, "w") as f:
        f.write("\n".join(corpus.CODES) + "\n")
    rules, expected = [], 0
    for i, code in enumerate(corpus.CODES):
        if not fields:
            q = literal_query(code)
            expected = counts["code_lines"]
        else:
            q, n = field_rule(i, code, counts)
            expected += n
        rules.append((f"r{i:03d}.yaml", any_rule(f"{name}-{i:03d}", q)))
    config = scene(name, file_source(path, kind), rules)
    title = {
        "plain": "plain lines, 100 one-literal rules",
        "json": "JSON lines, 100 one-literal rules",
        "fields": "JSON lines, 100 rules with field conditions",
    }[name]
    case = Case(name, title, counts["bytes"])
    case.tools.append(Tool("klaxon"))
    iss = "issue"
    floors = {
        "plain": {"rg": (1.0, iss), "grep": (2.0, iss)},
        "json": {"rg": (0.8, iss)},
        "fields": {"rg": (0.5, iss)},
    }[name]
    for tool, exe in (("rg", bench.rg), ("grep", bench.grep)):
        fl = floors.get(tool)
        for ci in (True, False):
            flag = ["-i"] if ci else []
            label = f"{tool} -c -F{' -i' if ci else ''} -f"
            t = Tool(label, [exe or tool, "-c", "-F", *flag, "-f", lit_path, path],
                     available=bool(exe))
            if not exe:
                t.note = "not available"
            if fl:
                t.floor = fl[0]
                t.floor_note = "issue" if not ci else "like for like"
            case.tools.append(t)
    if name == "fields":
        case.mbs_floor = 300.0
    bench.cases.append(case)
    if not bench.config_ok(config):
        return
    warm(path)

    def klaxon_run(_t):
        p = bench.run_once(f"{name}: klaxon run --once", config)
        if p is None:
            return None
        got = counts_from_log(p.stderr)
        if got is None:
            bench.check(f"{name}: klaxon match count", False,
                        "no `klaxon stopped events=N alerts=N` line on stderr")
            return None
        if not any(c[0] == f"{name}: Klaxon alerts (one per matching line and rule)"
                   for c in bench.checks):
            bench.check(f"{name}: Klaxon alerts (one per matching line and rule)",
                        got[1] == expected, f"{got[1]} (expected {expected})")
        elif got[1] != expected:
            bench.check(f"{name}: Klaxon alerts, later round", False,
                        f"{got[1]} (expected {expected})")
        return p.wall, p.cpu

    seen = set()

    def tool_count(t: Tool, p: Proc) -> None:
        if t.name in seen:
            return
        seen.add(t.name)
        want = counts["code_lines"] if " -i " in t.name else counts["code_lines_exact"]
        got = p.stdout.strip()
        bench.check(f"{name}: {t.name} count", got == str(want),
                    f"{got} (expected {want})")

    paired_rounds(case, bench.rounds, klaxon_run, tool_count)


def never_case(bench, kind: str) -> None:
    name = f"never-{kind}"
    path, counts = bench.corpus(kind, bench.size)
    rule = any_rule(f"{name}", f'"ERROR" AND {corpus.NEVER}')
    config = scene(name, file_source(path, kind), [("never.yaml", rule)])
    case = Case(name, f"{'JSON' if kind == 'json' else 'plain'} lines, one never-matching rule",
                counts["bytes"])
    case.tools = [Tool("klaxon"),
                  Tool("wc -l", ["wc", "-l", path], floor=0.7, floor_note="issue"),
                  Tool("cat", ["cat", path])]
    bench.cases.append(case)
    if not bench.config_ok(config):
        return
    warm(path)
    checked = set()

    def klaxon_run(_t):
        p = bench.run_once(f"{name}: klaxon run --once", config)
        if p is None:
            return None
        got = counts_from_log(p.stderr)
        if "k" not in checked:
            checked.add("k")
            bench.check(f"{name}: Klaxon alerts", got is not None and got[1] == 0,
                        f"{got[1] if got else 'no stop line'} (expected 0)")
        return p.wall, p.cpu

    def tool_count(t: Tool, p: Proc) -> None:
        if t.name == "wc -l" and t.name not in checked:
            checked.add(t.name)
            got = p.stdout.split()[0] if p.stdout.split() else ""
            bench.check(f"{name}: wc -l count", got == str(counts["lines"]),
                        f"{got} (expected {counts['lines']})")

    paired_rounds(case, bench.rounds, klaxon_run, tool_count)


def frequency_case(bench) -> None:
    path, counts = bench.corpus("frequency", bench.events)
    rule = (
        "name: frequency\nsource: logs\n"
        f"query: '{corpus.FREQ_QUERY}'\ntype: frequency\n"
        f"threshold: {corpus.FREQ_THRESHOLD}\nwindow: {corpus.FREQ_WINDOW_S}s\n"
        "group_by: [sku]\nrealert: 0s\nnotify: [console]\n"
    )
    config = scene("frequency", file_source(path, "json"), [("frequency.yaml", rule)])
    case = Case("frequency", f"frequency rule, {counts['keys']:,} keys, "
                f"{counts['lines']:,} JSON events", counts["bytes"])
    klaxon = Tool("klaxon")
    ea = Tool("ElastAlert 2 FrequencyRule (rule only, in process)", floor=25.0,
              floor_note="issue", in_process=True)
    case.tools = [klaxon, ea]
    bench.cases.append(case)
    ea_parse = []
    if not elastalert_ready(bench):
        ea.available = False
        ea.note = bench.elastalert_note
    if not bench.config_ok(config):
        return
    warm(path)
    checked = set()

    def one(t: Tool):
        if t is klaxon:
            p = bench.run_once("frequency: klaxon run --once", config)
            if p is None:
                return None
            got = counts_from_log(p.stderr)
            if "k" not in checked:
                checked.add("k")
                ok = got is not None and got == (counts["lines"], counts["alerts"])
                bench.check("frequency: Klaxon events and alerts", ok,
                            f"{got} (expected ({counts['lines']}, {counts['alerts']}))")
            return p.wall, p.cpu
        p = run([*bench.elastalert_python, os.path.join(ROOT, "scripts", "bench.d",
                 "elastalert_frequency.py"), path, str(corpus.FREQ_THRESHOLD),
                 str(corpus.FREQ_WINDOW_S), "sku"], env=bench.elastalert_env)
        if p.rc != 0:
            t.available = False
            t.note = "failed: " + " ".join(p.stderr.strip().splitlines()[-1:])
            return SKIP
        res = json.loads(p.stdout.strip().splitlines()[-1])
        ea_parse.append(res["parse_s"])
        if "e" not in checked:
            checked.add("e")
            bench.check("frequency: ElastAlert matches", res["matches"] == counts["alerts"],
                        f"{res['matches']} (expected {counts['alerts']})")
        return res["rule_s"], res["rule_cpu_s"]

    paired_rounds(case, bench.rounds, one)
    if klaxon.walls:
        w = statistics.median(klaxon.walls)
        eps = counts["lines"] / w
        bench.others.append(Other(
            "frequency rule, events/s (klaxon run --once, whole process)",
            f"{eps / 1e6:.2f} M events/s",
            f"{counts['lines']:,} events, {counts['keys']:,} sku keys, threshold "
            f"{corpus.FREQ_THRESHOLD} in {corpus.FREQ_WINDOW_S}s, {counts['alerts']} alerts; "
            f"median wall {w:.2f} s",
            "≥ 2 M events/s", eps >= 2e6))
    if ea.walls and ea.available:
        w = statistics.median(ea.walls)
        bench.others.append(Other(
            "ElastAlert 2 FrequencyRule, events/s (add_data only)",
            f"{counts['lines'] / w / 1e6:.3f} M events/s",
            f"same events and rule; parsing JSON to dicts with datetimes took "
            f"{statistics.median(ea_parse):.2f} s more (excluded); ElastAlert "
            f"{bench.versions.get('elastalert2', '?')}", "—", None))


def test_rss_case(bench) -> None:
    path, counts = bench.corpus("json", bench.size)
    rule = any_rule("test-rss", literal_query(corpus.CODES[0]))
    config = scene("test-rss", file_source(path, "json"), [("rule.yaml", rule)])
    if not bench.config_ok(config):
        return
    warm(path)
    rule_path = os.path.join(os.path.dirname(config), "rules", "rule.yaml")
    p = run([bench.binary, "test", rule_path, "--input", path, "-c", config, "--json"],
            env=klaxon_env())
    if not bench.klaxon_ok("test-rss: klaxon test", p):
        return
    alerts = sum(1 for line in p.stdout.splitlines() if line.startswith("{"))
    bench.check("test-rss: klaxon test --json alerts", alerts == counts["per_code"][0],
                f"{alerts} (expected {counts['per_code'][0]})")
    mb = p.maxrss_kb * 1024 / 1e6
    bench.others.append(Other(
        "`klaxon test RULE --input FILE` peak RSS",
        f"{mb:.1f} MB",
        f"{counts['bytes'] / 1e6:,.0f} MB JSON file, one `any` rule, {alerts} alert(s); "
        f"{p.wall:.2f} s wall, {p.cpu:.2f} s CPU",
        "< 100 MB", mb < 100))
    # The same with a rule that alerts on every line: what a replay holds must not grow with
    # the alerts it prints (stdout to /dev/null; the count comes from the summary).
    every = any_rule("test-rss-every", "_exists_:level")
    with open(rule_path, "w") as f:
        f.write(every)
    p = run([bench.binary, "test", rule_path, "--input", path, "-c", config], capture=False,
            env=klaxon_env())
    if not bench.klaxon_ok("test-rss: klaxon test, every line alerting", p):
        return
    found = re.search(r"(\d+) alert\(s\)", p.stderr)
    alerts = int(found.group(1)) if found else -1
    bench.check("test-rss: klaxon test alerts on every line", alerts == counts["lines"],
                f"{alerts} (expected {counts['lines']})")
    mb = p.maxrss_kb * 1024 / 1e6
    bench.others.append(Other(
        "`klaxon test` peak RSS, every line an alert",
        f"{mb:.1f} MB",
        f"same file, `_exists_:level` with `realert: 0s`: {alerts:,} alerts printed; "
        f"{p.wall:.2f} s wall, {p.cpu:.2f} s CPU",
        "< 100 MB", mb < 100))
