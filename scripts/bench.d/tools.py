"""Where scripts/bench works, and how it runs child processes: one run timed to its end
(wall time, and CPU and peak RSS of the child from wait4), a process's CPU and RSS read
from /proc while it runs, and the paired rounds in which every tool of a case runs once.

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "target", "bench")
CORPORA = os.path.join(BENCH, "corpus")
RUNS = os.path.join(BENCH, "runs")

SKIP = object()  # a tool that turned out not to be available


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Proc:
    rc: int
    wall: float
    cpu: float
    maxrss_kb: int
    stdout: str
    stderr: str


def run(cmd: list[str], cwd: str | None = None, capture: bool = True,
        env: dict | None = None) -> Proc:
    """Runs `cmd` to its end: wall time, and user+sys CPU and peak RSS of the child (wait4).
    Output goes to files (no pipe can fill up); `capture=False` sends stdout to /dev/null."""
    os.makedirs(os.path.join(BENCH, "tmp"), exist_ok=True)
    out_path = os.path.join(BENCH, "tmp", "stdout")
    err_path = os.path.join(BENCH, "tmp", "stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env,
                             stdout=out if capture else subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, errors="replace") as f:
        stdout = f.read() if capture else ""
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    return Proc(p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, stdout, stderr)


def stop(p: subprocess.Popen, grace: float = 30) -> int:
    """SIGTERM, then its exit code; SIGKILL if it has not exited within `grace` seconds."""
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def warm(path: str) -> None:
    """Reads the file once so every tool finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    # fields 14 and 15 (utime, stime) are at 11 and 12 after the command name
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- paired rounds -----------------------------------------------------------------------

def paired_rounds(case, rounds: int, klaxon_run, on_tool=None) -> None:
    """Runs every available tool of `case` once per round, in an order rotated each
    round. `klaxon_run(tool)` runs a tool without a command line (Klaxon, an in-process
    driver) and returns (wall, cpu); None when Klaxon failed (the case stops), SKIP
    when that tool is not available after all. `on_tool(tool, proc)` checks a
    command-line tool's output."""
    tools = [t for t in case.tools if t.available]
    for r in range(rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        walls = {}
        for t in order:
            if not t.available:
                continue
            if t.cmd is None:
                res = klaxon_run(t)
                if res is None:
                    return
                if res is SKIP:
                    continue
                wall, cpu = res
            else:
                p = run(t.cmd, capture=t.name not in ("cat",))
                if p.rc not in (0, 1):   # grep/rg exit 1 when nothing matched
                    t.available = False
                    t.note = f"exited {p.rc}: {p.stderr.strip()[:200]}"
                    continue
                wall, cpu = p.wall, p.cpu
                if on_tool:
                    on_tool(t, p)
            t.walls.append(wall)
            t.cpus.append(cpu)
            walls[t.name] = wall
        k = walls.get("klaxon")
        for t in order:
            if t.name != "klaxon" and t.name in walls and k:
                t.ratios.append(walls[t.name] / k)
        log(f"{case.name} round {r + 1}/{rounds}: "
            + ", ".join(f"{n} {w:.3f}s" for n, w in walls.items()))
