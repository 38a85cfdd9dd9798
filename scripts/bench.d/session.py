"""One scripts/bench run: its settings (from the command line), the tools it found, and
what it records — the cases' table rows (Tool within Case), the other measurements
(Other), the checks of match counts, and notes — with the checks every case makes.

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import corpus
from configs import fresh, klaxon_env
from tools import CORPORA, ROOT, Proc, log, run


@dataclass
class Tool:
    name: str
    cmd: list[str] | None = None          # None: Klaxon or an in-process driver
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    floor: float | None = None            # ratio floor (tool wall / Klaxon wall)
    floor_note: str = ""
    available: bool = True
    note: str = ""
    in_process: bool = False              # timed inside its own process: no MB/s


@dataclass
class Case:
    name: str
    title: str
    nbytes: int = 0
    tools: list[Tool] = field(default_factory=list)
    mbs_floor: float | None = None        # Klaxon's own MB/s floor


@dataclass
class Other:
    case: str
    measured: str
    detail: str
    floor: str
    met: bool | None


class Bench:
    """The run's settings and everything it records; every case takes it as `bench`."""

    def __init__(self, args):
        self.args = args
        self.short = args.short
        self.rounds = args.rounds or (1 if self.short else 5)
        self.size = args.size or (16 if self.short else 1024)
        self.events = args.events or (100_000 if self.short else 1_000_000)
        self.seed = args.seed
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
        self.binary = args.binary or os.path.join(ROOT, target, "release", "klaxon")
        self.cases: list[Case] = []
        self.others: list[Other] = []
        self.checks: list[tuple[str, bool, str]] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.versions: dict[str, str] = {}
        self.rg = shutil.which("rg")
        self.grep = shutil.which("grep")
        self.elastalert_python: list[str] | None = None
        self.elastalert_env: dict | None = None
        self.elastalert_note = ""                 # why ElastAlert is not available

    # -- checks --
    def check(self, what: str, ok: bool, detail: str) -> bool:
        self.checks.append((what, ok, detail))
        if not ok:
            self.failures.append(f"{what}: {detail}")
            log(f"CHECK FAILED {what}: {detail}")
        return ok

    def klaxon_ok(self, what: str, p: Proc) -> bool:
        if p.rc != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-5:])
            self.check(what, False, f"klaxon exited {p.rc}: {tail}")
            return False
        return True

    def run_once(self, what: str, config: str) -> Proc | None:
        """`klaxon run --once -c config` from a fresh state dir; `None` (checked as failed)
        when it does not exit 0."""
        fresh(config)
        p = run([self.binary, "run", "--once", "-c", config], capture=False, env=klaxon_env())
        return p if self.klaxon_ok(what, p) else None

    def config_ok(self, config: str) -> bool:
        p = run([self.binary, "check", "-c", config])
        if p.rc != 0:
            self.check(f"klaxon check {os.path.relpath(config, ROOT)}", False,
                       (p.stdout + p.stderr).strip()[-800:])
            return False
        return True

    def corpus(self, kind: str, size: int) -> tuple[str, dict]:
        return corpus.cached(CORPORA, kind, size, self.seed, log=log)
