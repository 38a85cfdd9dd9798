"""The cases of scripts/bench that run Klaxon live or measure it beside the throughput table:
latency (`klaxon run` following a file written at --latency-mbs, alerts to a local
webhook), startup with 1,000 rules, and idle CPU.

Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

import corpus
from configs import any_rule, file_source, klaxon_env, literal_query, scene, startup_rule
from listener import Listener
from session import Other
from tools import BENCH, proc_cpu, proc_rss_kb, stop


def startup_case(bench) -> None:
    path = os.path.join(BENCH, "tmp", "empty.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    rules = [(f"r{j:04d}.yaml", startup_rule(j)) for j in range(1000)]
    big = scene("startup-1000", file_source(path, "json"), rules)
    one = scene("startup-1", file_source(path, "json"), rules[:1])
    if not (bench.config_ok(big) and bench.config_ok(one)):
        return
    n = 3 if bench.short else 11
    times = {big: [], one: []}
    for r in range(n):
        for config in ((big, one) if r % 2 == 0 else (one, big)):
            p = bench.run_once("startup: klaxon run --once", config)
            if p is None:
                return
            times[config].append(p.wall)
    mb, m1 = statistics.median(times[big]), statistics.median(times[one])
    bench.others.append(Other(
        "startup, 1,000 rules (`klaxon run --once`, empty file)",
        f"{mb * 1000:.0f} ms",
        f"median of {n} (min {min(times[big]) * 1000:.0f} ms); with 1 rule: "
        f"{m1 * 1000:.0f} ms", "< 200 ms", mb < 0.2))


def idle_case(bench) -> None:
    path, _ = bench.corpus("json", bench.size)
    idle = os.path.join(BENCH, "tmp", "idle.jsonl")
    with open(path, "rb") as src, open(idle, "wb") as dst:
        dst.write(b"".join(src.readline() for _ in range(1000)))
    rules = [(f"r{i:03d}.yaml", any_rule(f"idle-{i:03d}", literal_query(c)))
             for i, c in enumerate(corpus.CODES)]
    config = scene("idle", file_source(idle, "json"), rules)
    if not bench.config_ok(config):
        return
    secs = bench.args.idle_seconds or (3 if bench.short else 20)
    err = open(os.path.join(os.path.dirname(config), "klaxon.stderr"), "wb")
    p = subprocess.Popen([bench.binary, "run", "-c", config], stdout=subprocess.DEVNULL,
                         stderr=err, env=klaxon_env())
    try:
        time.sleep(1.5)
        if p.poll() is not None:
            bench.check("idle: klaxon run", False, f"exited {p.returncode}")
            return
        c0, t0 = proc_cpu(p.pid), time.perf_counter()
        time.sleep(secs)
        c1, t1 = proc_cpu(p.pid), time.perf_counter()
        rss = proc_rss_kb(p.pid)
    finally:
        rc = stop(p)
        err.close()
    bench.check("idle: klaxon run stops cleanly on SIGTERM", rc == 0, f"exit {rc}")
    share = (c1 - c0) / (t1 - t0)
    bench.others.append(Other(
        "idle CPU (`klaxon run` following an idle file, 100 rules)",
        f"{share * 100:.2f} % of a core",
        f"{c1 - c0:.3f} CPU s over {t1 - t0:.1f} s wall (/proc/PID/stat utime+stime); "
        f"RSS {rss * 1024 / 1e6:.1f} MB", "—", None))


def latency_case(bench) -> None:
    markers = bench.args.markers or (50 if bench.short else 250)
    latency_run(bench, markers, 20, floor=True)
    if not bench.short:
        # The same with a marker every 250 ms: what one alert costs when no backlog of
        # new alerts builds up (information, no floor).
        latency_run(bench, 40, 250, floor=False)


def latency_run(bench, markers: int, spacing_ms: int, floor: bool) -> None:
    """`klaxon run` follows a file that a thread appends background JSON lines to at
    --latency-mbs MB/s, with a marker line every `spacing_ms`; each marker is an alert
    of its own (`type: any`, `group_by: [seq]`, grouping by rule and seq with
    `group_interval: 0s`) sent to a webhook on a local listener, which notes when it
    arrived. Latency = arrival - write."""
    path, _ = bench.corpus("json", bench.size)
    warmup = 5
    listener = Listener()
    live = os.path.join(BENCH, "tmp", "latency")
    shutil.rmtree(live, ignore_errors=True)
    os.makedirs(live)
    log_path = os.path.join(live, "app.log")
    open(log_path, "w").close()
    rule = any_rule("latency", '"latency_marker"', notify="hook", group_by="group_by: [seq]\n")
    source = (f"    type: file\n    include: [\"{log_path}\"]\n    read_from: beginning\n"
              "    format: json\n")
    channels = f"  hook:\n    type: webhook\n    url: {listener.url}\n"
    # Each marker is its own group, sent at once.
    config = scene("latency", source, [("latency.yaml", rule)], channels=channels)
    with open(config) as f:
        text = f.read().replace(
            "grouping: {group_by: [rule], group_wait: 0s, group_interval: 1h}",
            "grouping: {group_by: [rule, seq], group_wait: 0s, group_interval: 0s}")
    with open(config, "w") as f:
        f.write(text)
    if not bench.config_ok(config):
        listener.stop()
        return
    background = load_background(path, 64 << 20)
    err = open(os.path.join(os.path.dirname(config), "klaxon.stderr"), "wb")
    p = subprocess.Popen([bench.binary, "run", "-c", config], stdout=subprocess.DEVNULL,
                         stderr=err, env=klaxon_env())
    written: dict[int, float] = {}
    rate = bench.args.latency_mbs * 1e6
    stats = {}
    try:
        with open(log_path, "ab", buffering=0) as f:
            # Warm-up: markers until Klaxon answers (it is started and following).
            deadline = time.perf_counter() + 20
            seq = -warmup
            while not listener.arrivals and time.perf_counter() < deadline:
                write_marker(f, seq, written)
                seq += 1
                time.sleep(0.2)
            if not listener.arrivals:
                bench.check("latency: first alert arrives", False,
                            "no webhook within 20 s of start")
                return
            time.sleep(0.5)
            stats = stream(f, background, rate, markers, spacing_ms, written)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            if all(s in listener.arrivals for s in range(markers)):
                break
            time.sleep(0.05)
    finally:
        rc = stop(p)
        err.close()
        listener.stop()
        shutil.rmtree(live, ignore_errors=True)
    what = f"latency ({spacing_ms} ms)"
    bench.check(f"{what}: klaxon run stops cleanly on SIGTERM", rc == 0, f"exit {rc}")
    got = [s for s in range(markers) if s in listener.arrivals]
    bench.check(f"{what}: every marker's alert arrives", len(got) == markers,
                f"{len(got)} of {markers} arrived")
    if not got:
        return
    by_seq = [(listener.arrivals[s] - written[s]) * 1000 for s in got]
    lat = sorted(by_seq)
    p50, p99 = pct(lat, 50), pct(lat, 99)
    # Alerts delivered per second over the run, and how latency moved through it.
    span = max(listener.arrivals[s] for s in got) - written[got[0]]
    tenth = max(1, len(by_seq) // 10)
    first = statistics.median(by_seq[:tenth])
    last = statistics.median(by_seq[-tenth:])
    detail = (f"p50 {p50:.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} markers, one every "
              f"{spacing_ms} ms, each its own alert; background {stats.get('mbs', 0):.0f} MB/s "
              f"of JSON lines ({stats.get('bytes', 0) / 1e6:,.0f} MB); median of the first "
              f"tenth {first:.1f} ms, of the last tenth {last:.1f} ms; "
              f"{len(got) / span:.0f} alerts/s delivered; "
              f"{listener.duplicates} duplicate deliveries")
    if floor:
        bench.others.append(Other(
            "latency, line written → webhook received (`klaxon run`, following)",
            f"p99 {p99:.1f} ms", detail, "p99 < 50 ms", p99 < 50))
    else:
        bench.others.append(Other(
            f"latency, a marker every {spacing_ms} ms (information)",
            f"p99 {p99:.1f} ms", detail, "—", None))


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]



def load_background(path: str, limit: int) -> list[bytes]:
    """Chunks of ~500 KB of whole lines from the JSON corpus, to write at 50 MB/s."""
    with open(path, "rb") as f:
        data = f.read(limit)
    data = data[:data.rfind(b"\n") + 1]
    chunks, i = [], 0
    while i < len(data):
        j = data.find(b"\n", min(i + 500_000, len(data) - 1)) + 1 or len(data)
        chunks.append(data[i:j])
        i = j
    return chunks


def write_marker(f, seq: int, written: dict) -> None:
    f.write(b'{"level":"ERROR","message":"latency_marker seq=%d","seq":"%d"}\n' % (seq, seq))
    written[seq] = time.perf_counter()


def stream(f, background: list[bytes], rate: float, markers: int, spacing_ms: int,
           written: dict) -> dict:
    """Appends background lines at `rate` B/s in 10 ms ticks and a marker every
    `spacing_ms` (a multiple of 10)."""
    t0 = time.perf_counter()
    sent, tick, seq, ci = 0, 0, 0, 0
    every = max(1, spacing_ms // 10)
    while seq < markers:
        target = rate * (tick + 1) * 0.01
        while sent < target:
            chunk = background[ci % len(background)]
            ci += 1
            f.write(chunk)
            sent += len(chunk)
        if tick % every == every - 1:
            write_marker(f, seq, written)
            seq += 1
        tick += 1
        delay = t0 + tick * 0.01 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.perf_counter() - t0
    return {"bytes": sent, "mbs": sent / elapsed / 1e6}

