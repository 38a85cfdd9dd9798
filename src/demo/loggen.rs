//! A consignment-order service's log, as JSON lines: normal order traffic plus the
//! anomalies from the ops article — ghost orders (lost payment callbacks), inventory
//! rollbacks, error bursts, split-brain states and zombie orders.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

/// A small deterministic PRNG (xorshift64*), so every demo run tells the same story.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SKUS: &[&str] = &["SKU-1001", "SKU-2048", "SKU-3300", "SKU-778", "SKU-5120"];
const GATEWAYS: &[&str] = &["alipay", "wechat_pay", "unionpay"];
const SHOPS: &[&str] = &["shop-hz-01", "shop-sh-07", "shop-sz-03"];

/// One scripted anomaly, injected at a fraction of the demo's duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    /// The payment gateway's callback never came.
    GhostOrder,
    /// The payment succeeded but stock was never deducted (nothing follows it).
    UnsyncedInventory,
    /// Inventory locks rolled back on one SKU, `n` times.
    InventoryRollbacks { n: u32 },
    /// `n` order timeouts on one SKU in a burst.
    ErrorBurst { n: u32 },
    /// The app and the logistics feed disagree about an order.
    SplitBrain,
    /// The lifecycle check finds an order unpicked after 72 hours.
    Zombie,
}

/// When each anomaly happens, as a fraction of the run.
pub const SCRIPT: &[(f64, Anomaly)] = &[
    (0.10, Anomaly::GhostOrder),
    (0.30, Anomaly::UnsyncedInventory),
    (0.22, Anomaly::InventoryRollbacks { n: 4 }),
    (0.38, Anomaly::ErrorBurst { n: 30 }),
    (0.55, Anomaly::SplitBrain),
    (0.62, Anomaly::GhostOrder),
    (0.72, Anomaly::Zombie),
    (0.85, Anomaly::ErrorBurst { n: 12 }),
];

/// Writes log lines; keeps the order counter so ids look like a real sequence.
pub struct LogGen {
    rng: Rng,
    next_order: u64,
}

impl LogGen {
    pub fn new(seed: u64) -> Self {
        LogGen {
            rng: Rng::new(seed),
            next_order: 202_611_240_001,
        }
    }

    /// Order numbers start past `n` (a generator telling the story again makes new orders).
    pub fn orders_after(mut self, n: u64) -> Self {
        self.next_order = n;
        self
    }

    fn order_id(&mut self) -> String {
        self.next_order += 1 + self.rng.below(3);
        format!("O{}", self.next_order)
    }

    fn line(
        at: DateTime<Utc>,
        level: &str,
        logger: &str,
        order: &str,
        sku: &str,
        message: String,
        extra: serde_json::Value,
    ) -> String {
        let mut obj = json!({
            "@timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "level": level,
            "service": "order-service",
            "logger": logger,
            "order_id": order,
            "sku": sku,
            "message": message,
        });
        if let (Some(o), serde_json::Value::Object(e)) = (obj.as_object_mut(), extra) {
            o.extend(e);
        }
        obj.to_string()
    }

    /// A few lines of one healthy order's life.
    pub fn normal(&mut self, at: DateTime<Utc>) -> Vec<String> {
        let order = self.order_id();
        let sku = *self.rng.pick(SKUS);
        let shop = *self.rng.pick(SHOPS);
        let gw = *self.rng.pick(GATEWAYS);
        let amount = 19 + self.rng.below(480);
        vec![
            Self::line(
                at,
                "INFO",
                "order.api",
                &order,
                sku,
                format!(
                    "INFO order_created order={order} sku={sku} shop={shop} amount={amount}.00"
                ),
                json!({"shop": shop, "state": "created"}),
            ),
            Self::line(
                at,
                "INFO",
                "payment.callback",
                &order,
                sku,
                format!(
                    "INFO payment_succeeded gateway={gw} order={order} (payment_callback received)"
                ),
                json!({"gateway": gw}),
            ),
            Self::line(
                at,
                "INFO",
                "inventory.lock",
                &order,
                sku,
                format!("INFO inventory_deducted sku={sku} order={order} qty=1"),
                json!({}),
            ),
            Self::line(
                at,
                "INFO",
                "order.state",
                &order,
                sku,
                format!("INFO order_state_changed order={order} from=created to=paid"),
                json!({"state": "paid"}),
            ),
            // Picked by the warehouse: a healthy order is no zombie (rules/zombie-order-unpicked).
            Self::line(
                at,
                "INFO",
                "warehouse.pick",
                &order,
                sku,
                format!("INFO order_picked order={order} sku={sku}"),
                json!({}),
            ),
        ]
    }

    /// The lines of one anomaly.
    pub fn anomaly(&mut self, at: DateTime<Utc>, anomaly: Anomaly) -> Vec<String> {
        match anomaly {
            Anomaly::GhostOrder => {
                let order = self.order_id();
                let sku = *self.rng.pick(SKUS);
                let gw = *self.rng.pick(GATEWAYS);
                vec![Self::line(at, "WARN", "payment.callback", &order, sku,
                    format!("WARN payment_callback timeout: {gw} did not call back within 30s; order={order} stays PENDING_PAYMENT, stock locked"),
                    json!({"gateway": gw, "state": "pending_payment"}))]
            }
            Anomaly::UnsyncedInventory => {
                let order = self.order_id();
                let sku = *self.rng.pick(SKUS);
                let gw = *self.rng.pick(GATEWAYS);
                vec![Self::line(at, "INFO", "payment.callback", &order, sku,
                    format!("INFO payment_succeeded gateway={gw} order={order} (payment_callback received)"),
                    json!({"gateway": gw}))]
            }
            Anomaly::InventoryRollbacks { n } => (0..n)
                .map(|i| {
                    let order = self.order_id();
                    Self::line(at, "ERROR", "inventory.lock", &order, "SKU-2048",
                        format!("ERROR inventory_rollback sku=SKU-2048 order={order} reason=lock_conflict attempt={}", i + 1),
                        json!({"reason": "lock_conflict"}))
                })
                .collect(),
            Anomaly::ErrorBurst { n } => (0..n)
                .map(|_| {
                    let order = self.order_id();
                    Self::line(at, "ERROR", "order.fulfil", &order, "SKU-778",
                        format!("ERROR order_timeout order={order} sku=SKU-778: supplier API did not answer within 5000ms"),
                        json!({"upstream": "supplier-api", "latency_ms": 5000}))
                })
                .collect(),
            Anomaly::SplitBrain => {
                let order = self.order_id();
                let sku = *self.rng.pick(SKUS);
                vec![Self::line(at, "WARN", "order.reconcile", &order, sku,
                    format!("WARN state_conflict order={order} app=delivered logistics=in_transit"),
                    json!({"app_state": "delivered", "logistics_state": "in_transit"}))]
            }
            Anomaly::Zombie => {
                let order = self.order_id();
                let sku = *self.rng.pick(SKUS);
                vec![Self::line(at, "WARN", "order.lifecycle", &order, sku,
                    format!("WARN zombie_check order={order} still processing 72h after creation; no picking task"),
                    json!({"state": "processing", "age_hours": 72}))]
            }
        }
    }

    /// A whole log at once: one healthy order every `step` from `start` for `length`, the
    /// [`SCRIPT`]'s anomalies during its first three quarters, and a quiet last quarter
    /// (so every deadline of the anomalies has passed by the end).
    pub fn story(
        &mut self,
        start: DateTime<Utc>,
        length: chrono::Duration,
        step: chrono::Duration,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let mut script = SCRIPT.to_vec();
        script.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut script = script.into_iter().peekable();
        let mut at = start;
        while at < start + length {
            let progress = (at - start).as_seconds_f64() / length.as_seconds_f64() / 0.75;
            lines.extend(self.normal(at));
            while let Some((_, anomaly)) = script.next_if(|(p, _)| *p <= progress) {
                lines.extend(self.anomaly(at, anomaly));
            }
            at += step;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_story() {
        let at = Utc::now();
        let a = LogGen::new(7).normal(at);
        let b = LogGen::new(7).normal(at);
        assert_eq!(a, b);
        assert_eq!(a.len(), 5);
        for line in &a {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["level"], "INFO");
        }
    }

    #[test]
    fn a_story_tells_every_anomaly_then_goes_quiet() {
        let start = Utc::now();
        let lines = LogGen::new(3).story(
            start,
            chrono::Duration::minutes(40),
            chrono::Duration::seconds(6),
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("zombie_check")).count(),
            1
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("order_timeout")).count(),
            42
        );
        let last_anomaly = lines.iter().rposition(|l| !l.contains("\"INFO\"")).unwrap();
        // 400 steps of 4 healthy lines; the anomalies end before the last quarter.
        assert!(lines.len() - last_anomaly > 100 * 4, "quiet tail");
    }

    #[test]
    fn bursts_have_the_requested_size_and_level() {
        let lines = LogGen::new(1).anomaly(Utc::now(), Anomaly::ErrorBurst { n: 30 });
        assert_eq!(lines.len(), 30);
        assert!(lines
            .iter()
            .all(|l| l.contains("\"level\":\"ERROR\"") && l.contains("order_timeout")));
    }
}
