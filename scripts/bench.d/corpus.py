"""Fixed-seed generators of order-service logs for scripts/bench.

Two line formats (plain and JSON) and a frequency-rule event stream. Lines are built from
pre-rendered parts and written in big chunks, so 1 GiB takes about a minute. Everything a
benchmark needs to check its answers (how many lines carry an error code, in which case,
with which level/service/status/method) is counted while writing and saved beside the
corpus as JSON, so a rerun with the same kind, size and seed reuses both.

Python 3.11 standard library only.
"""

from __future__ import annotations

import json
import os
import random
import time

GENERATOR_VERSION = 2

# The one hundred error codes and phrases that rules look for. None is a substring of
# another (case-insensitively), none holds a digit (Klaxon never uses numbers as prefilter
# literals) or a character that splits differently for `rg -F` and for Klaxon's tokens
# (`-`, `/`, `.`), and each occurs in a log line as whole words (spaces around it), so
# `rg -c -F -i` counts exactly the lines Klaxon's phrase query matches. Many contain the
# letters i and k, which Klaxon's prefilter must cut out of its literals (the Kelvin sign
# and the dotted capital I lowercase to them).
CODES = [
    # snake_case tokens
    "order_timeout", "inventory_rollback", "payment_declined", "ledger_mismatch",
    "settle_retry_exhausted", "stock_reservation_expired", "coupon_double_spend",
    "refund_stuck", "shipment_lost", "callback_signature_invalid", "idempotency_key_conflict",
    "cart_lock_contention", "price_drift", "sku_not_found", "warehouse_unreachable",
    "kafka_consumer_stalled", "redis_pool_exhausted", "db_deadlock_detected",
    "pool_starvation", "circuit_open", "token_expired", "fraud_check_blocked",
    "webhook_backoff", "batch_settle_partial", "currency_mismatch", "tax_calc_failed",
    "address_unverifiable", "quota_exceeded", "order_state_conflict", "split_brain_detected",
    "ghost_order", "zombie_order", "duplicate_callback", "payment_callback_missing",
    "inventory_oversold", "stock_negative", "ledger_unbalanced", "reconcile_drift",
    "fx_rate_stale", "invoice_render_failed", "pick_list_empty", "carrier_api_timeout",
    "label_print_failed", "bin_location_unknown", "wallet_frozen", "kyc_pending_block",
    "otp_rate_exceeded", "session_hijack_suspect", "refund_amount_exceeds",
    "chargeback_received", "settlement_file_corrupt", "clearing_window_missed",
    "schema_version_skew", "replica_lag_high", "cache_stampede", "hot_partition",
    "outbox_backlog", "saga_compensation_failed", "dlq_overflow", "kiosk_heartbeat_missed",
    # multi-word phrases
    "rate limited", "stock check failed", "kafka lag", "ledger orphaned",
    "connection reset by peer", "upstream timed out", "deadline exceeded",
    "too many open files", "broken pipe", "lock wait timeout", "certificate expired",
    "invalid signature", "checksum mismatch", "queue full", "heap exhausted",
    "thread pool saturated", "no healthy upstream", "slow query detected",
    "message dropped", "retry budget spent", "leader election lost", "split brain suspected",
    "stale read", "clock skew detected", "partition rebalancing", "offset out of range",
    "consumer group lagging", "replay detected", "nonce reused", "refund rejected",
    "settlement delayed", "price mismatch", "sku blocked", "warehouse offline",
    "picker unavailable", "parcel returned", "card expired", "insufficient funds",
    "bank unreachable", "bulk import aborted",
]
assert len(CODES) == 100 and len(set(CODES)) == 100
for _a in CODES:
    assert not any(ch.isdigit() for ch in _a), _a
    for _b in CODES:
        assert _a == _b or _a.lower() not in _b.lower(), (_a, _b)

# A literal that never occurs in any corpus (the never-matching rule).
NEVER = "checkout_deadlock"
assert all(NEVER not in c for c in CODES)

SERVICES = [
    "order-svc", "settle-svc", "payment-svc", "inventory-svc", "cart-svc", "user-svc",
    "shipping-svc", "pricing-svc", "ledger-svc", "notify-svc", "search-svc", "catalog-svc",
    "refund-svc", "coupon-svc", "gateway-svc", "auth-svc",
]
METHODS = ["GET"] * 6 + ["POST"] * 3 + ["PUT", "DELETE"]
PATHS = [
    "/api/orders", "/api/orders/{n}", "/api/orders/{n}/items", "/api/cart", "/api/cart/{n}",
    "/api/payments", "/api/payments/{n}/capture", "/api/inventory/{n}", "/api/users/{n}",
    "/api/shipments/{n}", "/api/settlements", "/api/refunds/{n}", "/api/coupons/apply",
    "/api/catalog/search", "/api/prices/{n}", "/healthz",
]
# Background messages: none holds a code (checked by generate()).
MESSAGES = [
    "order created", "order accepted by merchant", "payment authorized", "payment captured",
    "cart updated", "cart item added", "inventory reserved for order", "stock deducted",
    "shipment label generated", "parcel handed to carrier", "user session refreshed",
    "price quote computed", "coupon applied to order", "settlement batch queued",
    "ledger entry written", "refund requested by user", "search results served",
    "catalog page rendered", "notification queued for delivery", "request completed",
    "cache hit for product page", "cache miss, loading from db", "retrying upstream call",
    "slow response from pricing backend", "order status polled by client",
    "checkout started", "checkout completed", "address validated", "invoice generated",
    "picking task assigned to worker", "delivery window confirmed", "webhook delivered",
    "health probe ok", "feature flag evaluated", "db transaction committed",
    "message published to topic", "consumer batch processed", "token refreshed",
    "audit record stored", "report export finished",
]
ERROR_TEMPLATES = [
    "order processing failed: {c} after {n} attempts",
    "request aborted with {c} for sku SKU-{n}",
    "{c} while handling order",
    "upstream reported {c} (retry {n} scheduled)",
    "settlement step failed with {c} on batch {n}",
    "giving up: {c} , order will be compensated",
]
LEVELS_BG = ["INFO"] * 90 + ["DEBUG"] * 6 + ["WARN"] * 3 + ["ERROR"]
LEVELS_ERR = ["ERROR"] * 6 + ["WARN"] * 3 + ["INFO"]
STATUS_BG = [200] * 40 + [201] * 4 + [204] * 2 + [304, 400, 404, 409, 429]
STATUS_ERR = [500, 502, 503, 504, 500, 503, 409, 429, 200, 400]

CODE_SHARE = 1 / 200  # lines carrying a code
BASE_EPOCH = 1793491200  # 2026-11-01T00:00:00Z: old enough that no alert about it pages anyone
CHUNK_LINES = 16384


def _hex_ids(rng: random.Random, n: int, nbytes: int) -> list[str]:
    h = rng.randbytes(n * nbytes).hex()
    w = 2 * nbytes
    return [h[i * w:(i + 1) * w] for i in range(n)]


def _variant(rng: random.Random, code: str) -> tuple[str, bool]:
    """The code as written on a line, and whether it is written as the rule writes it."""
    r = rng.random()
    if r < 0.08:
        return code.upper(), False
    if r < 0.12:
        return code.title(), False
    return code, True


class _Clock:
    """Timestamps a few ms apart, rendered from per-second prefixes."""

    def __init__(self, rng: random.Random, json_format: bool):
        self.rng = rng
        self.ms = 0
        self.json = json_format
        self._sec = -1
        self._prefix = ""

    def take(self, n: int) -> list[str]:
        out = []
        steps = self.rng.choices((0, 1, 1, 1, 2, 3), k=n)
        ms = self.ms
        sec, prefix = self._sec, self._prefix
        z = "Z" if self.json else ""
        for s in steps:
            ms += s
            q, r = divmod(ms, 1000)
            if q != sec:
                sec = q
                t = time.gmtime(BASE_EPOCH + q)
                if self.json:
                    prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", t)
                else:
                    prefix = time.strftime("%Y-%m-%d %H:%M:%S.", t)
            out.append(f"{prefix}{r:03d}{z}")
        self.ms, self._sec, self._prefix = ms, sec, prefix
        return out


def _pool(rng: random.Random, n: int, render) -> list[str]:
    return [render(rng) for _ in range(n)]


def generate(kind: str, path: str, size_bytes: int, seed: int) -> dict:
    """Writes about `size_bytes` of `kind` ('plain' or 'json') lines to `path` (whole lines,
    the last one ends in a newline) and returns the counts a benchmark checks against."""
    rng = random.Random(f"{kind}-{seed}")
    is_json = kind == "json"
    clock = _Clock(rng, is_json)

    def path_of(r):
        return r.choice(PATHS).replace("{n}", str(r.randrange(1, 999999)))

    # Pre-rendered middles: level, service, host, request, message (no code).
    if is_json:
        def render_mid(r):
            lvl = r.choice(LEVELS_BG)
            return (
                f'"level":"{lvl}","service":"{r.choice(SERVICES)}",'
                f'"host":"ip-10-0-{r.randrange(0, 16)}-{r.randrange(1, 255)}",'
                f'"message":"{r.choice(MESSAGES)}"'
            )

        def render_http(r):
            return (
                f'"http":{{"method":"{r.choice(METHODS)}","path":"{path_of(r)}",'
                f'"status":{r.choice(STATUS_BG)},"latency_ms":{int(r.expovariate(1 / 30))}}}'
            )
        https = _pool(rng, 4096, render_http)
    else:
        def render_mid(r):
            lvl = r.choice(LEVELS_BG)
            return (
                f"{lvl:<5} [{r.choice(SERVICES)}]", f"{r.choice(METHODS)} {path_of(r)} "
                f"{r.choice(STATUS_BG)} {int(r.expovariate(1 / 30))}ms {r.choice(MESSAGES)}"
            )
    mids = _pool(rng, 8192, render_mid)
    users = [f"u-{rng.randrange(100000, 999999)}" for _ in range(4096)]

    lowered = [c.lower() for c in CODES]
    for m in MESSAGES + SERVICES + PATHS + ERROR_TEMPLATES:
        assert not any(c in m.lower() for c in lowered + [NEVER]), m

    counts = {
        "kind": kind, "seed": seed, "generator": GENERATOR_VERSION,
        "lines": 0, "bytes": 0,
        "code_lines": 0,            # lines with a code, any case (rg -i, Klaxon)
        "code_lines_exact": 0,      # lines with a code written as in the rules (rg, grep)
        "per_code": [0] * len(CODES),
        # JSON only: per code, the level / service / method / 5xx of its lines.
        "by_level": [{} for _ in CODES],
        "by_service": [{} for _ in CODES],
        "by_method": [{} for _ in CODES],
        "status_5xx": [0] * len(CODES),
    }
    order_base = rng.randrange(10_000_000, 20_000_000)
    tmp = path + ".tmp"
    written = 0
    line_no = 0
    last = False
    with open(tmp, "wb", buffering=0) as f:
        while written < size_bytes:
            n = CHUNK_LINES
            ts = clock.take(n)
            traces = _hex_ids(rng, n, 8)
            spans = _hex_ids(rng, n, 4)
            mid_pick = rng.choices(mids, k=n)
            user_pick = rng.choices(users, k=n)
            no_order = set(rng.sample(range(n), n // 8))   # most lines carry an order id
            if is_json:
                http_pick = rng.choices(https, k=n)
                lines = [
                    f'{{"@timestamp":"{ts[i]}",{mid_pick[i]},"trace_id":"{traces[i]}",'
                    f'"span_id":"{spans[i]}",'
                    + ('' if i in no_order else f'"order_id":"ORD-{order_base + line_no + i}",')
                    + f'"user_id":"{user_pick[i]}",{http_pick[i]},"env":"prod","region":"cn-east-1"}}\n'
                    for i in range(n)
                ]
            else:
                lines = [
                    f"{ts[i]} {mid_pick[i][0]} trace_id={traces[i]} "
                    + ('' if i in no_order else f"order_id=ORD-{order_base + line_no + i} ")
                    + f"user_id={user_pick[i]} {mid_pick[i][1]}\n"
                    for i in range(n)
                ]
            k = sum(1 for _ in range(n) if rng.random() < CODE_SHARE)
            for i in rng.sample(range(n), k):
                ci = rng.randrange(len(CODES))
                text, exact = _variant(rng, CODES[ci])
                msg = rng.choice(ERROR_TEMPLATES).format(c=text, n=rng.randrange(1, 9))
                lvl = rng.choice(LEVELS_ERR)
                svc = rng.choice(SERVICES)
                method = rng.choice(METHODS)
                status = rng.choice(STATUS_ERR)
                oid = f"ORD-{order_base + line_no + i}"
                if is_json:
                    lines[i] = (
                        f'{{"@timestamp":"{ts[i]}","level":"{lvl}","service":"{svc}",'
                        f'"host":"ip-10-0-{rng.randrange(0, 16)}-{rng.randrange(1, 255)}",'
                        f'"message":"{msg}","trace_id":"{traces[i]}","span_id":"{spans[i]}",'
                        f'"order_id":"{oid}","user_id":"{user_pick[i]}",'
                        f'"http":{{"method":"{method}","path":"{path_of(rng)}","status":{status},'
                        f'"latency_ms":{rng.randrange(5, 30000)}}},"error":{{"kind":"business"}},'
                        f'"env":"prod","region":"cn-east-1"}}\n'
                    )
                else:
                    lines[i] = (
                        f"{ts[i]} {lvl:<5} [{svc}] trace_id={traces[i]} order_id={oid} "
                        f"user_id={user_pick[i]} {method} {path_of(rng)} {status} "
                        f"{rng.randrange(5, 30000)}ms {msg}\n"
                    )
                counts["code_lines"] += 1
                counts["code_lines_exact"] += exact
                counts["per_code"][ci] += 1
                if is_json:
                    for key, val in (("by_level", lvl), ("by_service", svc), ("by_method", method)):
                        d = counts[key][ci]
                        d[val] = d.get(val, 0) + 1
                    counts["status_5xx"][ci] += status >= 500
            data = "".join(lines).encode()
            if written + len(data) > size_bytes:
                # Cut at a line end so the file holds whole lines only; recount the tail.
                cut = data.rfind(b"\n", 0, size_bytes - written) + 1
                if cut <= 0 and written == 0:
                    cut = data.find(b"\n") + 1     # at least one line
                dropped = data[cut:].decode().splitlines()
                data = data[:cut]
                _uncount(counts, dropped, is_json)
                n -= len(dropped)
                last = True
            f.write(data)
            written += len(data)
            line_no += n
            if last:
                break
    counts["lines"] = line_no
    counts["bytes"] = written
    os.replace(tmp, path)
    return counts


def _uncount(counts: dict, dropped: list[str], is_json: bool) -> None:
    """Removes lines cut off the end of the last chunk from the counts."""
    for line in dropped:
        low = line.lower()
        for ci, code in enumerate(CODES):
            if code not in low:
                continue
            counts["code_lines"] -= 1
            counts["code_lines_exact"] -= CODES[ci] in line
            counts["per_code"][ci] -= 1
            if is_json:
                ev = json.loads(line)
                for key, val in (("by_level", ev["level"]), ("by_service", ev["service"]),
                                 ("by_method", ev["http"]["method"])):
                    counts[key][ci][val] -= 1
                counts["status_5xx"][ci] -= ev["http"]["status"] >= 500


# ---- the frequency-rule stream -----------------------------------------------------

FREQ_KEYS = 5000
FREQ_HOT = 20            # a few hot SKUs get a tenth of the traffic and fire; the rest never do
FREQ_STEP_MS = 7         # 7 ms apart: never exactly a whole window (60,000 ms) apart, so
                         # inclusive (Klaxon) and exclusive (ElastAlert) windows agree
FREQ_THRESHOLD = 30
FREQ_WINDOW_S = 60
FREQ_QUERY = "level:ERROR AND order_timeout"


def generate_frequency(path: str, events: int, seed: int) -> dict:
    """`events` JSON lines, each an order_timeout error for one of FREQ_KEYS SKUs; returns
    the counts and the number of alerts a frequency rule (FREQ_THRESHOLD within
    FREQ_WINDOW_S, per sku, window emptied after firing) raises."""
    rng = random.Random(f"frequency-{seed}")
    skus = [f"SKU-{100000 + i}" for i in range(FREQ_KEYS)]
    hot = skus[:FREQ_HOT]
    window_ms = FREQ_WINDOW_S * 1000
    windows: dict[str, list[int]] = {}
    alerts = 0
    tmp = path + ".tmp"
    written = 0
    with open(tmp, "wb", buffering=0) as f:
        done = 0
        while done < events:
            n = min(CHUNK_LINES, events - done)
            traces = _hex_ids(rng, n, 8)
            lines = []
            for i in range(n):
                j = done + i
                ms = j * FREQ_STEP_MS
                sku = rng.choice(hot) if rng.random() < 0.1 else rng.choice(skus)
                sec, r = divmod(ms, 1000)
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_EPOCH + sec))
                lines.append(
                    f'{{"@timestamp":"{ts}.{r:03d}Z","level":"ERROR","service":"order-svc",'
                    f'"message":"order_timeout for {sku}","sku":"{sku}","trace_id":"{traces[i]}",'
                    f'"order_id":"ORD-{20000000 + j}"}}\n'
                )
                w = windows.setdefault(sku, [])
                w.append(ms)
                while w[0] < ms - window_ms:
                    w.pop(0)
                if len(w) >= FREQ_THRESHOLD:
                    alerts += 1
                    w.clear()
            data = "".join(lines).encode()
            f.write(data)
            written += len(data)
            done += n
    os.replace(tmp, path)
    return {"kind": "frequency", "seed": seed, "generator": GENERATOR_VERSION,
            "lines": events, "bytes": written, "alerts": alerts, "keys": FREQ_KEYS}


def cached(cache_dir: str, kind: str, size: int, seed: int, log=print) -> tuple[str, dict]:
    """The corpus file and its counts, generated once per kind+size+seed+generator version.
    `size` is MiB for plain/json and a number of events for frequency."""
    os.makedirs(cache_dir, exist_ok=True)
    unit = "ev" if kind == "frequency" else "MiB"
    ext = "jsonl" if kind != "plain" else "log"
    stem = f"{kind}-{size}{unit}-seed{seed}-v{GENERATOR_VERSION}"
    path = os.path.join(cache_dir, f"{stem}.{ext}")
    meta = os.path.join(cache_dir, f"{stem}.json")
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            counts = json.load(f)
        if os.path.getsize(path) == counts.get("bytes"):
            return path, counts
    t = time.perf_counter()
    if kind == "frequency":
        counts = generate_frequency(path, size, seed)
    else:
        counts = generate(kind, path, size * 1024 * 1024, seed)
    with open(meta, "w") as f:
        json.dump(counts, f)
    log(f"generated {path} ({counts['bytes'] / 1e6:.0f} MB, {counts['lines']} lines) "
        f"in {time.perf_counter() - t:.1f} s")
    return path, counts
