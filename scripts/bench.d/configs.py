"""Klaxon as scripts/bench runs it: a generated klaxon.yaml (one file source `logs`), its
rules (one-literal, field-condition and startup rules), a fresh state_dir for each run, the
environment it runs in, and the event and alert counts it logs when it stops.

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import re
import shutil

import corpus
from tools import RUNS


def klaxon_env() -> dict:
    env = dict(os.environ)
    env["KLAXON_LOG"] = "info"
    # The HTTP server runs, as a user has it, on a port of its own: a Klaxon already on the
    # default port must not make the benchmark fail.
    env["KLAXON_LISTEN"] = "127.0.0.1:0"
    return env


def scene(name: str, source: str, rules: list[tuple[str, str]], channels: str | None = None,
          extra: str = "") -> str:
    """A directory under target/bench/runs/ with klaxon.yaml (one source `logs`), rules/ and
    a state_dir that each run starts without; returns the config path."""
    d = os.path.join(RUNS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "rules"))
    for file, text in rules:
        with open(os.path.join(d, "rules", file), "w") as f:
            f.write(text)
    channels = channels or "  console:\n    type: console\n"
    with open(os.path.join(d, "klaxon.yaml"), "w") as f:
        f.write(
            "sources:\n  logs:\n" + source
            + "channels:\n" + channels
            + "rules: rules\nstate_dir: state\nshutdown_timeout: 5s\n"
            # A match is an alert of its own (the counts are checked); events from the
            # corpus (2026-11-01) are older than max_alert_age, so they are recorded and
            # build state but page no one: delivery does not enter the measurement.
            + "grouping: {group_by: [rule], group_wait: 0s, group_interval: 1h}\n"
            + extra
        )
    return os.path.join(d, "klaxon.yaml")


def file_source(path: str, fmt: str, extra: str = "") -> str:
    s = (f"    type: file\n    include: [\"{path}\"]\n    read_from: beginning\n"
         f"    format: {fmt}\n")
    if fmt == "json":
        s += "    time_field: \"@timestamp\"\n    timezone: UTC\n"
    else:
        s += "    time_format: \"%Y-%m-%d %H:%M:%S%.f\"\n    timezone: UTC\n"
    return s + extra


def any_rule(name: str, query: str, notify: str = "console", group_by: str = "") -> str:
    q = query.replace("'", "''")
    return (f"name: {name}\nsource: logs\nquery: '{q}'\ntype: any\n{group_by}"
            f"realert: 0s\nnotify: [{notify}]\n")


def literal_query(code: str) -> str:
    """A one-literal query: a bare word for a single token, a quoted phrase otherwise."""
    return code if re.fullmatch(r"[a-z_]+", code) else f'"{code}"'


def fresh(config: str) -> None:
    shutil.rmtree(os.path.join(os.path.dirname(config), "state"), ignore_errors=True)


def counts_from_log(stderr: str) -> tuple[int, int] | None:
    """(events, alerts) from the `klaxon stopped events=N alerts=N` line `klaxon run` logs."""
    for line in reversed(stderr.splitlines()):
        if "klaxon stopped" in line:
            ev = re.search(r"\bevents=(\d+)", line)
            al = re.search(r"\balerts=(\d+)", line)
            if ev and al:
                return int(ev.group(1)), int(al.group(1))
    return None


def field_rule(i: int, code: str, counts: dict | None = None) -> tuple[str, int]:
    """Rule i of the field-conditions case: its query, and how many lines of the corpus
    with these `counts` it matches."""
    lit = literal_query(code)
    c = counts or {"by_level": [{}] * len(corpus.CODES), "by_service": [{}] * len(corpus.CODES),
                   "by_method": [{}] * len(corpus.CODES), "status_5xx": [0] * len(corpus.CODES)}
    kind = i % 5
    if kind == 0:
        return f"level:ERROR AND {lit}", c["by_level"][i].get("ERROR", 0)
    if kind == 1:
        svc = corpus.SERVICES[i % len(corpus.SERVICES)]
        return f'service:"{svc}" AND {lit}', c["by_service"][i].get(svc, 0)
    if kind == 2:
        return f"http.status:>=500 AND {lit}", c["status_5xx"][i]
    if kind == 3:
        by = c["by_level"][i]
        return f"level:(ERROR OR WARN) AND {lit}", by.get("ERROR", 0) + by.get("WARN", 0)
    return f"http.method:POST AND {lit}", c["by_method"][i].get("POST", 0)


def startup_rule(j: int) -> str:
    """Rule j of the 1,000-rule startup case: one-literal and field-condition queries,
    `any` and `frequency` rules."""
    i = j % len(corpus.CODES)
    code = corpus.CODES[i]
    q = literal_query(code) if j % 3 == 0 else field_rule(i, code)[0]
    name = f"startup-{j:04d}"
    if j % 4 == 0:
        return (f"name: {name}\nsource: logs\nquery: '{q}'\ntype: frequency\nthreshold: 5\n"
                "window: 1m\ngroup_by: [order_id]\nnotify: [console]\n")
    return any_rule(name, q, group_by="group_by: [service]\n")

