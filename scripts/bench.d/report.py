"""The markdown report of scripts/bench: the machine and tools, the table of the throughput
cases, the other measurements, the checks and notes; and its copy into
docs/PERFORMANCE.md between the bench markers (--update-docs).

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess

from session import Tool
from tools import ROOT, first_line, log

DOC = os.path.join(ROOT, "docs", "PERFORMANCE.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def header(bench) -> list[str]:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "?"
    try:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src",
                                "Cargo.toml", "Cargo.lock"], capture_output=True, text=True)
        if dirty.stdout.strip():
            commit += " + uncommitted changes under src/"
    except OSError:
        pass
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    v = bench.versions
    tools = [f"klaxon {v.get('klaxon', '?')} (target/release)"]
    for k in ("rg", "grep", "wc", "cat", "elastalert2"):
        if k in v:
            tools.append(("ElastAlert 2 " if k == "elastalert2" else "") + v[k])
    tools.append(f"Python {platform.python_version()}")
    mode = ("short (smoke run: checks that everything runs and agrees; not a measurement)"
            if bench.short else "full")
    return [
        f"- **Machine:** {cpu}, {os.cpu_count()} CPUs (nproc), {mem / 2**30:.1f} GiB RAM; "
        f"{platform.system()} {platform.release()}; load average at start {' '.join(load)}",
        f"- **Date:** {bench.started:%Y-%m-%d %H:%M} UTC; **commit:** {commit}",
        f"- **Mode:** {mode}; corpora {bench.size} MiB (plain, JSON) and "
        f"{bench.events:,} frequency events, seed {bench.seed}; {bench.rounds} paired "
        f"round(s), tool order rotated each round; page cache warm",
        f"- **Tools:** {'; '.join(tools)}",
    ]


def markdown(bench) -> str:
    out = [f"### Whole-process results (`scripts/bench{' --short' if bench.short else ''}`)", ""]
    out += header(bench)
    out += [
        "",
        "Each row is one process from start to exit (Klaxon: `klaxon run --once -c "
        "klaxon.yaml` reading the whole file from a fresh state), except ElastAlert's rule, "
        "timed inside its process. **ratio = tool wall time / Klaxon wall time** in the same "
        "round (> 1: Klaxon is faster); median and min over rounds; floors are checked on "
        "the median. MB/s = 10⁶ B per wall second; wall and CPU s (user+sys of the process) "
        "are medians. Klaxon matches case-insensitively: the issue states its floors against "
        "the case-sensitive `rg -c -F -f` / `grep -c -F -f` rows (\"(issue)\"); the `-i` "
        "rows are the like-for-like comparison, shown with the same floor in parentheses.",
        "",
        "| case | tool | MB/s | wall s | CPU s | ratio median | ratio min | floor | met? |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in bench.cases:
        for t in c.tools:
            tool = f"`{t.name}`" if t.cmd else t.name
            if not t.available or not t.walls:
                out.append(f"| {c.title} | {tool} | | | | | | "
                           f"{fmt_floor(t)} | {t.note or 'not available'} |")
                continue
            w, cpu = statistics.median(t.walls), statistics.median(t.cpus)
            mbs = c.nbytes / w / 1e6
            rm = f"{statistics.median(t.ratios):.2f}" if t.ratios else ""
            rmin = f"{min(t.ratios):.2f}" if t.ratios else ""
            floor, met = fmt_floor(t), ""
            if t.floor is not None and t.ratios:
                ok = statistics.median(t.ratios) >= t.floor
                gap = t.floor / statistics.median(t.ratios)
                if "like for like" in t.floor_note:
                    met = "(yes)" if ok else f"(no, gap {gap:.2f}×)"
                else:
                    met = "yes" if ok else f"**no** (gap {gap:.2f}×)"
            if t.name == "klaxon" and c.mbs_floor:
                floor = f"≥ {c.mbs_floor:.0f} MB/s"
                met = "yes" if mbs >= c.mbs_floor else f"**no** (gap {c.mbs_floor / mbs:.2f}×)"
            name = f"**{tool}**" if t.name == "klaxon" else tool
            mbs_text = "—" if t.in_process else f"{mbs:,.0f}"
            out.append(f"| {c.title} | {name} | {mbs_text} | {w:.3f} | {cpu:.3f} | {rm} | "
                       f"{rmin} | {floor} | {met} |")
    if bench.others:
        out += ["", "| case | measured | detail | floor | met? |", "|---|---|---|---|---|"]
        for o in bench.others:
            met = "" if o.met is None else ("yes" if o.met else "**no**")
            out.append(f"| {o.case} | {o.measured} | {o.detail} | {o.floor} | {met} |")
    out += ["", "Checks (match counts against what the generator wrote):", ""]
    for what, ok, detail in bench.checks:
        out.append(f"- {'ok' if ok else '**FAILED**'} — {what}: {detail}")
    for n in bench.notes:
        out += ["", n]
    return "\n".join(out) + "\n"


def fmt_floor(t: Tool) -> str:
    if t.floor is None:
        return ""
    return f"≥ {t.floor:.1f}× ({t.floor_note})" if t.floor_note else f"≥ {t.floor:.1f}×"



def update_docs(report: str) -> None:
    with open(DOC) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        log(f"{DOC} has no {BEGIN} … {END} markers; not updated")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(DOC, "w") as f:
        f.write(head + BEGIN + "\n" + report + END + tail)
    log(f"updated {os.path.relpath(DOC, ROOT)} between the bench markers")

