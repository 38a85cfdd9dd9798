//! A generated corpus of realistic order-service logs and 100 alerting rules over it, shared by
//! the query benchmark and `scripts/bench-query`.

/// Deterministic pseudo-random numbers (no dependency, same corpus every run).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const NOUNS: [&str; 10] = [
    "order",
    "payment",
    "inventory",
    "refund",
    "shipment",
    "coupon",
    "invoice",
    "cart",
    "settlement",
    "ledger",
];
const FAILURES: [&str; 10] = [
    "timeout",
    "rollback",
    "declined",
    "mismatch",
    "overflow",
    "deadlock",
    "duplicate",
    "rejected",
    "stale",
    "orphaned",
];
const PATHS: [&str; 6] = [
    "/api/orders",
    "/api/cart/items",
    "/api/payments/callback",
    "/api/inventory/reserve",
    "/api/users/me",
    "/healthz",
];
const INFO: [&str; 8] = [
    "request completed",
    "cache hit for sku",
    "user session refreshed",
    "order created",
    "payment authorized",
    "inventory reserved",
    "listing page rendered",
    "healthcheck ok",
];

/// The 100 error codes the rules look for: `order_timeout`, `payment_rollback`, ...
pub fn error_codes() -> Vec<String> {
    let mut out = Vec::new();
    for noun in NOUNS {
        for failure in FAILURES {
            out.push(format!("{noun}_{failure}"));
        }
    }
    out
}

/// 100 rules in the shapes ops write: plain codes, ANDed with the level, phrases, exclusions,
/// field clauses, ranges and wildcards beside a required word.
pub fn rules(json: bool) -> Vec<String> {
    error_codes()
        .iter()
        .enumerate()
        .map(|(i, code)| match (i % 6, json) {
            (0, _) => format!("\"ERROR\" AND {code}"),
            (1, _) => format!("{code} AND NOT healthcheck"),
            (2, _) => format!("(\"{code} retried\" OR {code}_final) AND -debug"),
            (3, true) => format!("level:error AND {code} AND http.status:>=500"),
            (3, false) => format!("error AND {code}"),
            (4, true) => format!("{code}* AND _exists_:trace_id"),
            (4, false) => format!("{code}*"),
            _ => format!("+{code} -canary"),
        })
        .collect()
}

/// About `bytes` of log lines; one line in `error_every` carries an error code.
pub fn corpus(bytes: usize, json: bool, error_every: usize) -> String {
    let codes = error_codes();
    let mut rng = Lcg::new(7);
    let mut out = String::with_capacity(bytes + 512);
    let mut n = 0u64;
    while out.len() < bytes {
        n += 1;
        let ms = 1_714_557_600_000u64 + n * 7;
        let (secs, milli) = (ms / 1000 % 86_400, ms % 1000);
        let ts = format!(
            "2024-05-01T{:02}:{:02}:{:02}.{milli:03}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        let error = rng.below(error_every) == 0;
        let path = PATHS[rng.below(PATHS.len())];
        let latency = 3 + rng.below(400);
        let user = 10_000 + rng.below(90_000);
        let (level, status, message) = if error {
            let code = &codes[rng.below(codes.len())];
            (
                "ERROR",
                500 + rng.below(4),
                format!("{code} while handling request: upstream returned failure"),
            )
        } else {
            let level = if rng.below(10) == 0 { "WARN" } else { "INFO" };
            (level, 200, INFO[rng.below(INFO.len())].to_string())
        };
        let trace = format!("{:016x}", (n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        if json {
            out.push_str(&format!(
                "{{\"@timestamp\":\"{ts}\",\"level\":\"{}\",\"service\":\"order-svc\",\
                 \"message\":\"{message}\",\"http\":{{\"method\":\"GET\",\"path\":\"{path}\",\
                 \"status\":{status},\"latency_ms\":{latency}}},\"user_id\":{user},\
                 \"trace_id\":\"{trace}\"}}\n",
                level.to_lowercase()
            ));
        } else {
            out.push_str(&format!(
                "{ts} {level} [order-svc] trace={trace} user={user} GET {path} {status} \
                 {latency}ms {message}\n"
            ));
        }
    }
    out
}
