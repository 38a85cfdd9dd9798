"""A generated day of an order service's JSON logs for `scripts/bench-replay`.

`lines` lines spread evenly over 24 hours of event time (2026-11-22 UTC), fixed seed:
mostly healthy traffic, with incidents the bench rules fire on at known hours — bursts
of order timeouts on a few SKUs, payment callbacks timing out, payments whose stock is
never deducted, cards paying from many IPs. Lines come from pre-rendered parts and are
written in big chunks. Python 3.11 standard library only.
"""

from __future__ import annotations

import json
import os
import random
import time

GENERATOR_VERSION = 2
DAY_START = 1_795_305_600  # 2026-11-22T00:00:00Z
CHUNK = 50_000

SKUS = [f"SKU-{n}" for n in range(1000, 1400)]
SHOPS = [f"shop-{n}" for n in range(1, 60)]
HEALTHY = [
    ("INFO", "order_created"), ("INFO", "payment_succeeded"),
    ("INFO", "order_picked"), ("INFO", "order_shipped"), ("INFO", "http request served"),
    ("DEBUG", "cache hit"), ("INFO", "payment_callback received"), ("WARN", "slow query"),
]


def _stamp(sec: float) -> str:
    whole = int(sec)
    ms = int((sec - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(DAY_START + whole)) + f".{ms:03d}Z"


def _incidents(rng: random.Random) -> list[tuple[float, str]]:
    """The incidents, as (second of the day, JSON fields after the timestamp): each a burst
    at a known time, whatever the day's line count."""
    out = []
    # Order timeouts: 12 within a minute on one SKU, at 03:10 and at 15:40.
    for start in (3 * 3600 + 600, 15 * 3600 + 2400):
        for k in range(12):
            out.append((start + k * 5, '"level":"ERROR","service":"order","message":"order_timeout waiting for stock lock","sku":"SKU-1000"'))
    # Payment callbacks timing out, through 09:00-09:30.
    for k in range(10):
        out.append((9 * 3600 + k * 180, f'"level":"ERROR","service":"payment","message":"payment_callback timeout after 30s","order_id":"ORD-9{k:04d}"'))
    # One card paying from 12 addresses in five minutes, at 20:00.
    for k in range(12):
        out.append((20 * 3600 + k * 25, f'"level":"INFO","service":"payment","message":"payment_attempt","card":"card-7","ip":"203.0.113.{k + 1}"'))
    # Five payments whose stock is never deducted, at 12:00.
    for k in range(5):
        out.append((12 * 3600 + k * 7, f'"level":"INFO","service":"order","message":"payment_succeeded","order_id":"ORD-GHOST-{k}"'))
    out.sort()
    return out


def generate(path: str, lines: int, seed: int) -> dict:
    rng = random.Random(f"replay-day-{seed}")
    incidents = _incidents(rng)
    background = lines - len(incidents)
    step = 86_400 / background
    counts = {"lines": lines, "bytes": 0, "seed": seed, "generator": GENERATOR_VERSION,
              "incidents": len(incidents)}
    tmp = path + ".tmp"
    order = 50_000_000
    pending = 0  # a paid order whose stock deduction is the next line
    nxt = 0
    with open(tmp, "w", buffering=1 << 20) as f:
        i = 0
        while i < background:
            n = min(CHUNK, background - i)
            out = []
            for j in range(n):
                sec = (i + j) * step
                while nxt < len(incidents) and incidents[nxt][0] <= sec:
                    at, fields = incidents[nxt]
                    out.append(f'{{"@timestamp":"{_stamp(at)}",{fields}}}\n')
                    nxt += 1
                if pending:
                    level, msg, oid = "INFO", "inventory_deducted", pending
                    pending = 0
                else:
                    level, msg = rng.choice(HEALTHY)
                    order += 1
                    oid = order
                    if msg == "payment_succeeded":
                        pending = oid
                out.append(
                    f'{{"@timestamp":"{_stamp(sec)}","level":"{level}","service":"order",'
                    f'"message":"{msg}","order_id":"ORD-{oid}","sku":"{rng.choice(SKUS)}",'
                    f'"shop":"{rng.choice(SHOPS)}"}}\n'
                )
            text = "".join(out)
            f.write(text)
            counts["bytes"] += len(text.encode())
            i += n
        for at, fields in incidents[nxt:]:
            text = f'{{"@timestamp":"{_stamp(at)}",{fields}}}\n'
            f.write(text)
            counts["bytes"] += len(text.encode())
    os.replace(tmp, path)
    return counts


def cached(cache_dir: str, lines: int, seed: int, log=print) -> tuple[str, dict]:
    os.makedirs(cache_dir, exist_ok=True)
    stem = f"replay-day-{lines}-seed{seed}-v{GENERATOR_VERSION}"
    path = os.path.join(cache_dir, stem + ".jsonl")
    meta = os.path.join(cache_dir, stem + ".json")
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            counts = json.load(f)
        if os.path.getsize(path) == counts.get("bytes"):
            return path, counts
    t = time.perf_counter()
    counts = generate(path, lines, seed)
    with open(meta, "w") as f:
        json.dump(counts, f)
    log(f"generated {path} ({counts['bytes'] / 1e6:.0f} MB, {lines} lines) in {time.perf_counter() - t:.1f} s")
    return path, counts
