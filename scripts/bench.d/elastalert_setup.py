"""ElastAlert 2 for scripts/bench's frequency case: found in (or installed into) a venv under
target/bench/, or a `pip install --target` directory when the venv module is missing.
(Not named elastalert.py: bench.d is first on elastalert_frequency.py's sys.path.)

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from tools import BENCH, first_line, log

VENV = os.path.join(BENCH, "venv")
PIP_TARGET = os.path.join(BENCH, "elastalert-site")   # when `python3 -m venv` is missing


def elastalert_ready(bench) -> bool:
    """Finds (or installs) ElastAlert 2 for the frequency case: sets `bench.elastalert_python`
    and `bench.elastalert_env`, or `bench.elastalert_note` saying why it is not available."""
    want = os.environ.get("KLAXON_BENCH_ELASTALERT")
    if want == "0":
        bench.elastalert_note = "not run (KLAXON_BENCH_ELASTALERT=0)"
        return False
    probe = "import elastalert.ruletypes, importlib.metadata as m; print(m.version('elastalert2'))"

    def found() -> bool:
        for py, env in elastalert_candidates():
            v = first_line([*py, "-c", probe]) if env is None else _probe_env(py, env, probe)
            if v:
                bench.elastalert_python, bench.elastalert_env = py, env
                bench.versions["elastalert2"] = v
                return True
        return False

    if found():
        return True
    if bench.short and want != "1":
        bench.elastalert_note = ("not available (--short installs it only with "
                                 "KLAXON_BENCH_ELASTALERT=1; a full run installs it)")
        return False
    log("installing ElastAlert 2 into target/bench/venv (pip install elastalert2) ...")
    t = time.perf_counter()
    ok = install_elastalert()
    took = time.perf_counter() - t
    bench.notes.append(f"`pip install elastalert2` took {took:.0f} s in this run.")
    log(f"ElastAlert install {'done' if ok else 'FAILED'} in {took:.0f} s")
    if found():
        return True
    bench.elastalert_note = "not available (pip install elastalert2 failed)"
    return False


def elastalert_candidates():
    py = os.path.join(VENV, "bin", "python")
    if os.path.exists(py):
        yield [py], None
    if os.path.isdir(PIP_TARGET):
        env = dict(os.environ)
        env["PYTHONPATH"] = PIP_TARGET
        yield [sys.executable], env


def _probe_env(py, env, probe) -> str | None:
    try:
        out = subprocess.run([*py, "-c", probe], capture_output=True, text=True, env=env,
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def install_elastalert() -> bool:
    """`pip install elastalert2` into target/bench/venv (or, without the venv module, into a
    --target directory). elastalert2 2.19 imports pytz without declaring it."""
    pkgs = ["elastalert2", "pytz"]
    quiet = ["--quiet", "--disable-pip-version-check"]
    shutil.rmtree(VENV, ignore_errors=True)
    if subprocess.run([sys.executable, "-m", "venv", VENV]).returncode == 0:
        r = subprocess.run([os.path.join(VENV, "bin", "pip"), "install", *quiet, *pkgs])
        if r.returncode == 0:
            return True
    shutil.rmtree(VENV, ignore_errors=True)
    log("venv unavailable or pip failed in it; trying pip install --target")
    r = subprocess.run([sys.executable, "-m", "pip", "install", *quiet, "--target",
                        PIP_TARGET, *pkgs])
    return r.returncode == 0
