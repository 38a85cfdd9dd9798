#!/usr/bin/env python3
"""Writes the sample logs of the shipped rules (rules/samples/*.log).

    python3 rules/samples/generate.py

Deterministic: running it again rewrites the same bytes (the .log files are checked in,
and tests/it/shipped_rules.rs replays them). Every log is JSON lines in the style of the
demo's order service (src/demo/loggen.rs): `@timestamp` (UTC, milliseconds), `level`,
`service`, `logger`, `order_id`, `sku`, a `message` whose first words are the level and
an event name (`INFO order_created ...`), and fields of its own.

- `NAME.log` makes rules/NAME.yaml fire, with healthy lines around the anomaly.
- `normal.log` is five days of healthy traffic (2025-06-10 to 06-14) on which no rule
  fires: whole order lives (created, paid, picked, shipped, delivered, settled), and the
  near misses each rule must not take for an incident — a lone order timeout, one lock
  timeout, a flash-sale queue backlog that drains within a minute, a breaker closing,
  a customer switching between Wi-Fi and mobile data.

Sample times are in June 2025 (the 618 sale): a year-old log, read in event time.
"""

import json
import os
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))

SKUS = ["SKU-1001", "SKU-2048", "SKU-3300", "SKU-778", "SKU-5120"]
GATEWAYS = ["alipay", "wechat_pay", "unionpay"]
SHOPS = ["shop-hz-01", "shop-sh-07", "shop-sz-03"]
CARRIERS = ["SF", "ZTO", "YTO"]


class Rng:
    """xorshift64*, as the demo's generator: the same numbers on every Python."""

    def __init__(self, seed):
        self.state = seed or 1

    def next(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return self.next() % n

    def pick(self, items):
        return items[self.below(len(items))]


def at(day, hh, mm, ss=0.0):
    """2025-06-DAY HH:MM UTC plus `ss` seconds (milliseconds kept; may pass 60)."""
    start = datetime(2025, 6, day, hh, mm, tzinfo=timezone.utc)
    return start + timedelta(milliseconds=round(ss * 1000))


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


class Log:
    """Lines of one file, written sorted by time (lines at one instant keep their order)."""

    def __init__(self):
        self.lines = []

    def emit(self, t, level, service, logger, event, text, order=None, sku=None, **extra):
        obj = {"@timestamp": stamp(t), "level": level, "service": service, "logger": logger}
        if order is not None:
            obj["order_id"] = order
        if sku is not None:
            obj["sku"] = sku
        obj["message"] = f"{level} {event} {text}".rstrip()
        obj.update(extra)
        self.lines.append((t, json.dumps(obj, ensure_ascii=False, separators=(",", ":"))))

    def write(self, name):
        self.lines.sort(key=lambda line: line[0])
        path = os.path.join(HERE, name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for _, line in self.lines:
                f.write(line + "\n")
        return path


# ---- the order service and its neighbours, one helper per kind of line ----------------

def order_created(log, t, order, sku, shop, amount):
    log.emit(t, "INFO", "order-service", "order.api", "order_created",
             f"order={order} sku={sku} shop={shop} amount={amount}.00",
             order, sku, shop=shop, state="created", amount=amount)


def risk_check(log, t, order, user, card, ip, score=8, decision="pass"):
    log.emit(t, "INFO", "risk-service", "risk.engine", "risk_check",
             f"order={order} user={user} card={card} ip={ip} score={score} decision={decision}",
             order, user_id=user, card=card, client_ip=ip, score=score, decision=decision)


def payment_succeeded(log, t, order, sku, gw):
    log.emit(t, "INFO", "order-service", "payment.callback", "payment_succeeded",
             f"gateway={gw} order={order} (payment_callback received)", order, sku, gateway=gw)


def inventory_deducted(log, t, order, sku):
    log.emit(t, "INFO", "order-service", "inventory.lock", "inventory_deducted",
             f"sku={sku} order={order} qty=1", order, sku)


def state_changed(log, t, order, sku, before, after):
    log.emit(t, "INFO", "order-service", "order.state", "order_state_changed",
             f"order={order} from={before} to={after}", order, sku, state=after)


def order_picked(log, t, order, sku, picker):
    log.emit(t, "INFO", "warehouse-service", "wms.picking", "order_picked",
             f"order={order} sku={sku} picker={picker}", order, sku, picker=picker)


def tracking_update(log, t, order, status, carrier, waybill, where):
    log.emit(t, "INFO", "logistics-service", "logistics.tracking", "tracking_update",
             f"order={order} carrier={carrier} waybill={waybill} status={status} at={where}",
             order, carrier=carrier, waybill=waybill, tracking_status=status)


def delivery_status_changed(log, t, order, sku, status, via="logistics.mq"):
    log.emit(t, "INFO", "order-service", "order.delivery", "delivery_status_changed",
             f"order={order} delivery_status={status} via={via}",
             order, sku, delivery_status=status)


def ledger_update(log, t, order, status, amount, level="INFO", why=""):
    log.emit(t, level, "settlement-service", "settlement.ledger", "ledger_update",
             f"order={order} ledger_status={status} amount={amount}.00{why}",
             order, ledger_status=status, amount=amount)


def settlement_status_changed(log, t, order, sku, status):
    log.emit(t, "INFO", "order-service", "supplier.portal", "settlement_status_changed",
             f"order={order} settlement_status={status}", order, sku, settlement_status=status)


def order_timeout(log, t, order, sku):
    log.emit(t, "ERROR", "order-service", "order.fulfil", "order_timeout",
             f"order={order} sku={sku}: supplier API did not answer within 5000ms",
             order, sku, upstream="supplier-api", latency_ms=5000)


def mq_lag(log, t, group, topic, lag):
    log.emit(t, "INFO", "order-service", "mq.monitor", "mq_lag",
             f"topic={topic} group={group} lag={lag}",
             consumer_group=group, topic=topic, lag=lag)


def upstream_failed(log, t, upstream, call, status, order=None, level="ERROR"):
    log.emit(t, level, "order-service", "http.client", "upstream_call_failed",
             f"upstream={upstream} call=\"{call}\" status={status} attempt=1", order,
             upstream=upstream, status=status)


def breaker_changed(log, t, breaker, before, after):
    level = "WARN" if after == "OPEN" else "INFO"
    log.emit(t, level, "order-service", "resilience.breaker", "circuit_breaker_state_changed",
             f"breaker={breaker} from={before} to={after}", breaker=breaker, breaker_state=after)


def dead_letter(log, t, queue, order, reason="max_retries_exceeded"):
    log.emit(t, "WARN", "order-service", "mq.consumer", "mq_dead_letter",
             f"queue={queue} order={order} reason={reason} retries=5", order,
             queue=queue, reason=reason)


class Orders:
    """Order ids in a sequence, as the demo's generator writes them."""

    def __init__(self, first, rng):
        self.next_id = first
        self.rng = rng

    def new(self):
        self.next_id += 1 + self.rng.below(3)
        return f"O{self.next_id}"


def whole_order(log, rng, t, order, sku, user, card, ip, ip_at_payment=None, pick_after=None):
    """One healthy order's whole life, from creation at `t` to its settlement."""
    shop = rng.pick(SHOPS)
    gw = rng.pick(GATEWAYS)
    amount = 19 + rng.below(480)
    order_created(log, t, order, sku, shop, amount)
    risk_check(log, t + timedelta(seconds=2), order, user, card, ip)
    if ip_at_payment:
        # The customer left the Wi-Fi on the way to paying: a second address.
        risk_check(log, t + timedelta(seconds=40), order, user, card, ip_at_payment)
    paid = t + timedelta(seconds=20 + rng.below(40))
    payment_succeeded(log, paid, order, sku, gw)
    inventory_deducted(log, paid + timedelta(milliseconds=180), order, sku)
    state_changed(log, paid + timedelta(milliseconds=260), order, sku, "created", "paid")
    processing = paid + timedelta(minutes=2)
    state_changed(log, processing, order, sku, "paid", "processing")
    picked = processing + (pick_after or timedelta(hours=2 + rng.below(16),
                                                   minutes=rng.below(60)))
    order_picked(log, picked, order, sku, "P%02d" % (1 + rng.below(30)))
    state_changed(log, picked + timedelta(seconds=1), order, sku, "processing", "picked")
    shipped = picked + timedelta(hours=1, minutes=rng.below(50))
    state_changed(log, shipped, order, sku, "picked", "shipped")
    carrier = rng.pick(CARRIERS)
    waybill = "%s%010d" % (carrier, rng.below(10**10))
    first_scan = shipped + timedelta(minutes=30 + rng.below(30))
    tracking_update(log, first_scan, order, "in_transit", carrier, waybill, "origin-hub")
    delivery_status_changed(log, first_scan + timedelta(seconds=5), order, sku, "in_transit")
    tracking_update(log, first_scan + timedelta(hours=6, minutes=rng.below(60)), order,
                    "in_transit", carrier, waybill, "destination-hub")
    delivered = first_scan + timedelta(hours=18 + rng.below(12))
    tracking_update(log, delivered, order, "delivered", carrier, waybill, "customer")
    delivery_status_changed(log, delivered + timedelta(seconds=8), order, sku, "delivered")
    batch = delivered + timedelta(minutes=2)
    ledger_update(log, batch, order, "pending", amount)
    settlement_status_changed(log, batch + timedelta(seconds=3), order, sku, "pending")
    paid_out = batch + timedelta(hours=3, minutes=rng.below(60))
    ledger_update(log, paid_out, order, "settled", amount)
    settlement_status_changed(log, paid_out + timedelta(seconds=3), order, sku, "settled")


def quick_order(log, rng, t, order, sku=None):
    """The first minute of a healthy order (created, paid, stock deducted), as the demo's
    generator writes one: context lines for the samples."""
    sku = sku or rng.pick(SKUS)
    shop = rng.pick(SHOPS)
    gw = rng.pick(GATEWAYS)
    order_created(log, t, order, sku, shop, 19 + rng.below(480))
    paid = t + timedelta(seconds=15)
    payment_succeeded(log, paid, order, sku, gw)
    inventory_deducted(log, paid + timedelta(milliseconds=180), order, sku)
    state_changed(log, paid + timedelta(milliseconds=260), order, sku, "created", "paid")


# ---- normal.log -------------------------------------------------------------------------

CUSTOMERS = [
    # (user, card, usual address, a second address seen at payment or None)
    ("U10021", "622588******4410", "198.51.100.21", None),
    ("U10034", "621700******7723", "198.51.100.34", "203.0.113.34"),
    ("U10047", "622202******0915", "198.51.100.47", None),
    ("U10058", "625807******3380", "198.51.100.58", None),
    ("U10063", "622848******6102", "198.51.100.63", "203.0.113.63"),
    ("U10071", "436742******2290", "198.51.100.71", None),
]


def normal():
    rng = Rng(20250610)
    log = Log()
    orders = Orders(202506100000, rng)
    # 16 orders over the first two days, a few at a time (the busiest around noon), each
    # followed through its whole life: picked within 23 hours, delivered the next day,
    # settled hours later. The file runs on to day 5, so every 72-hour wait ends in it.
    starts = []
    for day in (10, 11):
        for hh, mm in [(0, 40), (9, 30), (11, 2), (11, 3), (12, 1), (14, 18), (19, 20),
                       (23, 30)]:
            starts.append(at(day, hh, mm, rng.below(60)))
    for i, t in enumerate(starts):
        user, card, ip, second = CUSTOMERS[i % len(CUSTOMERS)]
        # One order waits almost a day for its picker (quiet: 23 hours is not 24).
        pick_after = timedelta(hours=22, minutes=58) if i == 7 else None
        whole_order(log, rng, t, orders.new(), rng.pick(SKUS), user, card, ip,
                    ip_at_payment=second if i % 4 == 1 else None, pick_after=pick_after)

    # The lifecycle checks: nothing found (INFO, which zombie-orders.yaml ignores).
    for day in range(10, 15):
        for hh in (3, 15):
            log.emit(at(day, hh, 0), "INFO", "order-service", "order.lifecycle", "zombie_check",
                     "found 0 orders still processing 72h after creation")
            log.emit(at(day, hh, 5), "INFO", "order-service", "order.reconcile",
                     "order_reconcile", "checked=412 state_conflicts=0")
            log.emit(at(day, hh, 10), "INFO", "settlement-service", "settlement.reconcile",
                     "settlement_reconcile", "orders=118 conflicts=0 (no data conflicts)")
    # Queue lag every six hours, all fine.
    for day in range(10, 15):
        for hh in (1, 7, 13, 19):
            mq_lag(log, at(day, hh, 30), "logistics-sync", "order-events", rng.below(60))
            mq_lag(log, at(day, hh, 30), "settlement-consumer", "order-settled", rng.below(40))
    # The noon sale on day 1: lag reported every 30 s; logistics-sync jumps past 1,000
    # for a minute and drains (min over 5 minutes never leaves the hundreds).
    burst = {8: 1860, 9: 2410, 10: 930, 11: 260}
    for k in range(24):
        t = at(10, 12, 0) + timedelta(seconds=30 * k)
        mq_lag(log, t, "logistics-sync", "order-events", burst.get(k, 20 + rng.below(90)))
        mq_lag(log, t, "settlement-consumer", "order-settled", 5 + rng.below(60))
    # Failures one at a time, as any busy system has them.
    order_timeout(log, at(10, 11, 3, 31.5), "O202506100412", "SKU-778")
    order_timeout(log, at(12, 16, 20, 4.25), "O202506120877", "SKU-1001")
    log.emit(at(11, 12, 1, 12), "ERROR", "order-service", "inventory.lock", "inventory_rollback",
             "sku=SKU-2048 order=O202506110520 reason=lock_conflict attempt=1",
             "O202506110520", "SKU-2048", reason="lock_conflict")
    log.emit(at(11, 12, 1, 9), "WARN", "order-service", "inventory.lock",
             "inventory_lock_timeout",
             "sku=SKU-2048 order=O202506110520 waited_ms=3000 holder=O202506110517",
             "O202506110520", "SKU-2048", waited_ms=3000, holder="O202506110517")
    upstream_failed(log, at(10, 11, 2, 40), "bank-gateway", "POST /v2/pay", 502)
    upstream_failed(log, at(10, 11, 9, 2), "bank-gateway", "POST /v2/pay", 504)
    upstream_failed(log, at(13, 9, 44, 20), "supplier-api", "GET /stock/SKU-3300", 503)
    dead_letter(log, at(12, 4, 12, 7), "order.settlement.dlq", "O202506110311")
    dead_letter(log, at(12, 4, 19, 55), "order.settlement.dlq", "O202506110316")
    # A breaker that opened overnight (before this log) recovers: quiet.
    breaker_changed(log, at(10, 0, 0, 30), "payment-gateway", "HALF_OPEN", "CLOSED")
    # Certificates and Redis, healthy.
    for day in range(10, 15):
        log.emit(at(day, 2, 0), "INFO", "erp-connector", "tls.check", "tls_cert_check",
                 f"host=erp.internal not_after=2025-07-25T23:59:59Z expires_in_days={45 - day}",
                 host="erp.internal", expires_in_days=45 - day)
        log.emit(at(day, 2, 1), "INFO", "order-service", "redis.monitor", "redis_stats",
                 "used_memory_human=3.12G maxmemory_human=8.00G maxmemory_policy=allkeys-lru",
                 used_memory_mb=3195, maxmemory_mb=8192)
    return log.write("normal.log")


# ---- one sample per rule ----------------------------------------------------------------

def sample(name, build, seed):
    rng = Rng(seed)
    log = Log()
    orders = Orders(202506180000 + 300 * seed, rng)
    build(log, rng, orders)
    return log.write(name + ".log")


def error_burst(log, rng, orders):
    for k in range(3):
        quick_order(log, rng, at(18, 10, 0, 10 * k), orders.new())
    # The supplier API stops answering: 24 order timeouts in 20 seconds.
    for k in range(24):
        order_timeout(log, at(18, 10, 1, 0.8 * k), orders.new(), SKUS[k % 4 + 1])
    quick_order(log, rng, at(18, 10, 2), orders.new())


def ghost_callback(log, rng, orders):
    quick_order(log, rng, at(18, 10, 0), orders.new())
    timed_out = "O202506180107"
    order_created(log, at(18, 10, 0, 40), timed_out, "SKU-2048", "shop-sh-07", 128)
    log.emit(at(18, 10, 1, 10), "WARN", "order-service", "payment.callback", "payment_callback",
             f"timeout: alipay did not call back within 30s; order={timed_out} "
             "stays PENDING_PAYMENT, stock locked",
             timed_out, "SKU-2048", gateway="alipay", state="pending_payment")
    failed = "O202506180111"
    order_created(log, at(18, 10, 2), failed, "SKU-5120", "shop-hz-01", 59)
    log.emit(at(18, 10, 2, 5), "ERROR", "order-service", "payment.callback", "payment_callback",
             f"failed: signature verification failed gateway=wechat_pay order={failed}; "
             "notify rejected",
             failed, "SKU-5120", gateway="wechat_pay", state="pending_payment")
    quick_order(log, rng, at(18, 10, 3), orders.new())


def ghost_inventory(log, rng, orders):
    ghost = "O202506180233"
    for k, order in enumerate(["O202506180231", ghost, "O202506180236"]):
        t = at(18, 10, 0, 20 * k)
        order_created(log, t, order, "SKU-1001", "shop-sz-03", 88)
        payment_succeeded(log, t + timedelta(seconds=15), order, "SKU-1001", "alipay")
        if order != ghost:
            # Deducted after the lock was free again: 10 s, well within 5 minutes.
            inventory_deducted(log, t + timedelta(seconds=25), order, "SKU-1001")
    for k in range(4):
        quick_order(log, rng, at(18, 10, 2 + 2 * k), orders.new())


def inventory_rollback(log, rng, orders):
    quick_order(log, rng, at(18, 10, 0), orders.new())
    for k in range(4):
        order = orders.new()
        log.emit(at(18, 10, 0, 30 + 25 * k), "ERROR", "order-service", "inventory.lock",
                 "inventory_rollback",
                 f"sku=SKU-2048 order={order} reason=lock_conflict attempt={k + 1}",
                 order, "SKU-2048", reason="lock_conflict")
    order = orders.new()
    log.emit(at(18, 10, 1, 5), "ERROR", "order-service", "inventory.lock", "inventory_rollback",
             f"sku=SKU-1001 order={order} reason=lock_conflict attempt=1",
             order, "SKU-1001", reason="lock_conflict")
    quick_order(log, rng, at(18, 10, 3), orders.new())


def order_errors(log, rng, orders):
    quick_order(log, rng, at(18, 10, 0), orders.new())
    for k in range(5):
        order_timeout(log, at(18, 10, 0, 20 + 10 * k), orders.new(), "SKU-778")
    for secs in (25, 52):
        order_timeout(log, at(18, 10, 0, secs), orders.new(), "SKU-1001")
    quick_order(log, rng, at(18, 10, 2), orders.new())


def split_brain_state(log, rng, orders):
    log.emit(at(18, 9, 0), "INFO", "order-service", "order.reconcile", "order_reconcile",
             "checked=412 state_conflicts=0")
    quick_order(log, rng, at(18, 9, 30), orders.new())
    order = "O202506170415"
    log.emit(at(18, 10, 0), "WARN", "order-service", "order.reconcile", "state_conflict",
             f"order={order} app=delivered logistics=in_transit", order, "SKU-3300",
             app_state="delivered", logistics_state="in_transit")


def zombie_check(log, rng, orders):
    log.emit(at(18, 3, 0), "INFO", "order-service", "order.lifecycle", "zombie_check",
             "found 0 orders still processing 72h after creation")
    order = "O202506150127"
    log.emit(at(18, 15, 0), "WARN", "order-service", "order.lifecycle", "zombie_check",
             f"order={order} still processing 72h after creation; no picking task",
             order, "SKU-5120", state="processing", age_hours=72)
    quick_order(log, rng, at(18, 15, 1), orders.new())


def zombie_unpicked(log, rng, orders):
    zombie = "O202506140902"
    for k, order in enumerate(["O202506140901", zombie, "O202506140905"]):
        t = at(14, 9, k)
        quick_order(log, rng, t, order, "SKU-3300")
        state_changed(log, t + timedelta(minutes=2), order, "SKU-3300", "paid", "processing")
    for order, day, hh, picker in (("O202506140901", 14, 15, "P07"),
                                   ("O202506140905", 15, 8, "P12")):
        order_picked(log, at(day, hh, 0), order, "SKU-3300", picker)
        state_changed(log, at(day, hh, 0, 1), order, "SKU-3300", "processing", "picked")
    # Three days later: a new order, and the check that found nothing (it runs on
    # another host, whose link to the ERP is fine).
    quick_order(log, rng, at(17, 9, 30), orders.new())


def zombie_processing(log, rng, orders):
    stuck, moving = "O202506160310", "O202506160314"
    for order, mm in ((stuck, 0), (moving, 3)):
        quick_order(log, rng, at(16, 10, mm), order, "SKU-778")
        state_changed(log, at(16, 10, mm + 2), order, "SKU-778", "paid", "processing")
    order_picked(log, at(16, 18, 0), moving, "SKU-778", "P03")
    state_changed(log, at(16, 18, 0, 1), moving, "SKU-778", "processing", "picked")
    state_changed(log, at(16, 19, 10), moving, "SKU-778", "picked", "shipped")
    later = orders.new()
    quick_order(log, rng, at(17, 11, 0), later, "SKU-1001")
    state_changed(log, at(17, 11, 2), later, "SKU-1001", "paid", "processing")


def split_brain_delivery(log, rng, orders):
    bad, good = "O202506160520", "O202506160524"
    for order, carrier, waybill, mm in ((bad, "SF", "SF1402257713", 0),
                                        (good, "ZTO", "ZTO7730915524", 20)):
        state_changed(log, at(17, 8, mm), order, "SKU-2048", "picked", "shipped")
        tracking_update(log, at(17, 8, 30 + mm), order, "in_transit", carrier, waybill,
                        "origin-hub")
        delivery_status_changed(log, at(17, 8, 30 + mm, 5), order, "SKU-2048", "in_transit")
        tracking_update(log, at(17, 12, mm), order, "in_transit", carrier, waybill,
                        "destination-hub")
    # The courier app's "signed" callback for the wrong waybill: the app says delivered...
    delivery_status_changed(log, at(17, 14, 10), bad, "SKU-2048", "delivered",
                            via="courier.callback")
    # ...and the next scan says it is still on the way.
    tracking_update(log, at(17, 14, 25), bad, "in_transit", "SF", "SF1402257713",
                    "delivery-station")
    # The other order is delivered, both sides agree.
    tracking_update(log, at(17, 16, 40), good, "delivered", "ZTO", "ZTO7730915524", "customer")
    delivery_status_changed(log, at(17, 16, 40, 8), good, "SKU-2048", "delivered")


def split_brain_settlement(log, rng, orders):
    bad, good = "O202506150733", "O202506150736"
    for order in (bad, good):
        ledger_update(log, at(18, 2, 0), order, "pending", 98)
        settlement_status_changed(log, at(18, 2, 0, 3), order, "SKU-1001", "pending")
    ledger_update(log, at(18, 4, 30), good, "settled", 98)
    settlement_status_changed(log, at(18, 4, 30, 3), good, "SKU-1001", "settled")
    # The portal marks the order settled, then the ledger's transfer rolls back: the
    # distributed transaction was never committed on the money side.
    settlement_status_changed(log, at(18, 5, 0), bad, "SKU-1001", "settled")
    ledger_update(log, at(18, 5, 0, 2), bad, "failed", 98, level="ERROR",
                  why=" reason=transfer_rolled_back (transaction not committed)")


def settlement_conflict(log, rng, orders):
    log.emit(at(18, 1, 0), "INFO", "settlement-service", "settlement.reconcile",
             "settlement_reconcile", "orders=118 conflicts=0 (no data conflicts)")
    # Another service's "data conflict" is not the settlement's.
    log.emit(at(18, 1, 30), "WARN", "order-service", "order.cache", "cache_refresh",
             "data conflict between cache and DB for sku=SKU-778, cache reloaded", sku="SKU-778")
    order = "O202506160288"
    log.emit(at(18, 2, 0, 12), "ERROR", "settlement-service", "settlement.split", "data_conflict",
             f"order={order} split_total=86.00 order_amount=98.00 supplier=shop-sz-03: "
             "settlement rows disagree with the order (数据冲突), not settled",
             order, "SKU-5120", split_total=86.0, order_amount=98.0, supplier="shop-sz-03")


def lock_timeout(log, rng, orders):
    holder = "O202506180517"
    log.emit(at(18, 10, 0), "INFO", "order-service", "inventory.lock", "inventory_lock_acquired",
             f"sku=SKU-3300 order={holder} ttl_ms=30000", holder, "SKU-3300")
    for secs in (50, 70):
        order = orders.new()
        log.emit(at(18, 10, 0, secs), "WARN", "order-service", "inventory.lock",
                 "inventory_lock_timeout",
                 f"sku=SKU-3300 order={order} waited_ms=30000 holder={holder}",
                 order, "SKU-3300", waited_ms=30000, holder=holder)
    order = orders.new()
    log.emit(at(18, 10, 1, 40), "ERROR", "order-service", "inventory.lock", "inventory_deduct",
             f"failed sku=SKU-3300 order={order}: (1205, 'Lock wait timeout exceeded; "
             "try restarting transaction')", order, "SKU-3300")
    # One timeout on another SKU is not a stuck lock.
    order = orders.new()
    log.emit(at(18, 10, 1, 45), "WARN", "order-service", "inventory.lock",
             "inventory_lock_timeout",
             f"sku=SKU-1001 order={order} waited_ms=30000 holder=O202506180520",
             order, "SKU-1001", waited_ms=30000, holder="O202506180520")


def mq_consumer_lag(log, rng, orders):
    settlement = [10 + rng.below(30) for _ in range(11)]  # to 10:05:00
    for k in range(24):
        t = at(18, 10, 0) + timedelta(seconds=30 * k)
        # logistics-sync: a burst past 1,000 that drains within a minute.
        mq_lag(log, t, "logistics-sync", "order-events",
               {19: 1500, 20: 400}.get(k, 10 + rng.below(70)))
        # settlement-consumer dies at 10:05: its lag grows by 620 a report.
        lag = settlement[k] if k < len(settlement) else 620 * (k - 10)
        mq_lag(log, t, "settlement-consumer", "order-settled", lag)
    log.emit(at(18, 10, 5, 10), "WARN", "order-service", "mq.monitor", "mq_consumer_left",
             "group=settlement-consumer member=settlement-consumer-2 reason=heartbeat_timeout",
             consumer_group="settlement-consumer")


def mq_dead_letters(log, rng, orders):
    for k in range(6):
        dead_letter(log, at(18, 10, 0, 80 * k), "order.settlement.dlq", orders.new())
    dead_letter(log, at(18, 10, 3), "order.logistics.dlq", orders.new(), reason="schema_mismatch")


def third_party(log, rng, orders):
    for k in range(6):
        upstream_failed(log, at(18, 10, 0, 15 * k), "bank-gateway", "POST /v2/pay",
                        502, orders.new())
    upstream_failed(log, at(18, 10, 0, 40), "supplier-api", "GET /stock/SKU-3300", 503)


def breaker_open(log, rng, orders):
    breaker_changed(log, at(18, 9, 58), "payment-gateway", "HALF_OPEN", "CLOSED")
    for k in range(3):
        upstream_failed(log, at(18, 10, 0, 10 * k), "supplier-api", "GET /stock/SKU-3300", 503)
    breaker_changed(log, at(18, 10, 0, 31), "supplier-api", "CLOSED", "OPEN")
    breaker_changed(log, at(18, 10, 1, 31), "supplier-api", "OPEN", "HALF_OPEN")


def risk_switching(log, rng, orders):
    # Card testing: one card, four addresses in six minutes.
    for k, ip in enumerate(["203.0.113.17", "203.0.113.90", "198.51.100.5", "192.0.2.66"]):
        order = orders.new()
        risk_check(log, at(18, 10, 2 * k), order, "U10077", "622588******8841", ip,
                   score=35 + 20 * k, decision="review" if k < 2 else "reject")
    # A customer leaving the Wi-Fi: two addresses, quiet.
    order = orders.new()
    risk_check(log, at(18, 10, 1), order, "U10034", "621700******3309", "198.51.100.34")
    risk_check(log, at(18, 10, 1, 40), order, "U10034", "621700******3309", "203.0.113.34")


def certificate(log, rng, orders):
    log.emit(at(17, 2, 0), "INFO", "erp-connector", "tls.check", "tls_cert_check",
             "host=erp.internal not_after=2025-06-17T23:59:59Z expires_in_days=0",
             host="erp.internal", expires_in_days=0)
    for k in range(3):
        log.emit(at(18, 2, k, 3), "ERROR", "erp-connector", "erp.sync", "erp_sync",
                 "failed: Post \"https://erp.internal/api/workorders\": x509: certificate has "
                 f"expired or is not yet valid: current time 2025-06-18T02:0{k}:03Z is after "
                 "2025-06-17T23:59:59Z", host="erp.internal")


def redis_oom(log, rng, orders):
    log.emit(at(18, 0, 1), "INFO", "order-service", "redis.monitor", "redis_stats",
             "used_memory_human=7.98G maxmemory_human=8.00G maxmemory_policy=noeviction",
             used_memory_mb=8172, maxmemory_mb=8192)
    for k in range(5):
        order = orders.new()
        sku = SKUS[k]
        log.emit(at(18, 0, 2, 4 * k), "ERROR", "order-service", "inventory.cache",
                 "redis_write_failed",
                 f"key=stock:{sku} order={order} err=\"OOM command not allowed when used "
                 "memory > 'maxmemory'.\"", order, sku)


def error_rate_spike(log, rng, orders):
    for mm in range(0, 40, 10):
        quick_order(log, rng, at(18, 10, mm, 30), orders.new())
    # The usual: two or three errors every 10 minutes...
    for mm, ss in ((3, 0), (8, 0), (14, 0), (17, 0), (25, 0), (28, 0)):
        order_timeout(log, at(18, 10, mm, ss), orders.new(), rng.pick(SKUS))
    # ...then the bank starts answering 500 (the ops article's chaos drill): 18 in 7.5 minutes.
    for k in range(18):
        order = orders.new()
        log.emit(at(18, 10, 30) + timedelta(seconds=25 * k), "ERROR", "order-service",
                 "order.pay", "order_pay_failed",
                 f"order={order}: bank-gateway answered 500 Internal Server Error", order,
                 upstream="bank-gateway", status=500)


SAMPLES = [
    ("error-burst", error_burst),
    ("ghost-order-payment-callback", ghost_callback),
    ("ghost-order-unsynced-inventory", ghost_inventory),
    ("inventory-rollback", inventory_rollback),
    ("order-errors", order_errors),
    ("split-brain-order-state", split_brain_state),
    ("zombie-orders", zombie_check),
    ("zombie-order-unpicked", zombie_unpicked),
    ("zombie-order-processing", zombie_processing),
    ("split-brain-delivery", split_brain_delivery),
    ("split-brain-settlement", split_brain_settlement),
    ("settlement-data-conflict", settlement_conflict),
    ("inventory-lock-timeout", lock_timeout),
    ("mq-consumer-lag", mq_consumer_lag),
    ("mq-dead-letters", mq_dead_letters),
    ("third-party-failures", third_party),
    ("circuit-breaker-open", breaker_open),
    ("risk-card-ip-switching", risk_switching),
    ("certificate-expired", certificate),
    ("redis-oom", redis_oom),
    ("error-rate-spike", error_rate_spike),
]


if __name__ == "__main__":
    normal()
    for seed, (name, build) in enumerate(SAMPLES, start=1):
        sample(name, build, seed)
