//! The shipped rules (rules/*.yaml) against their sample logs (rules/samples/), through the
//! real binary as an ops engineer would run them: `klaxon check -c rules/samples/klaxon.yaml`
//! is clean; `klaxon test rules/NAME.yaml --input rules/samples/NAME.log` raises exactly the
//! alert the rule's comment promises (key, count, detail, when, and the line it quotes); on
//! normal.log, five days of healthy traffic holding each rule's near misses, none fires;
//! and README.md's table names every shipped rule with its type.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::binary::klaxon;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn samples() -> PathBuf {
    repo().join("rules/samples")
}

fn config() -> PathBuf {
    samples().join("klaxon.yaml")
}

/// The names (file stems) of rules/*.yaml, sorted.
fn rule_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 7, "rules/ holds too few rules: {names:?}");
    names
}

/// A rule file's `type` (default `any`).
fn rule_type(name: &str) -> String {
    let path = repo().join(format!("rules/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let rule: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    rule["type"].as_str().unwrap_or("any").to_string()
}

/// What one `klaxon test` replay printed: its alerts and its summary (stderr).
struct Replay {
    alerts: Vec<Value>,
    report: String,
}

impl Replay {
    /// How many events matched the rule's query, from the summary.
    fn matched(&self) -> u64 {
        let (before, _) = self
            .report
            .split_once(" matched the query of")
            .unwrap_or_else(|| panic!("no `matched` count in:\n{}", self.report));
        let number = before.rsplit([' ', ',']).next().unwrap();
        number
            .parse()
            .unwrap_or_else(|_| panic!("`{number}` in:\n{}", self.report))
    }
}

/// `klaxon test rules/RULE.yaml --input rules/samples/LOG -c rules/samples/klaxon.yaml --json`.
fn replay(rule: &str, log: &Path) -> Replay {
    let out = klaxon()
        .arg("test")
        .arg(repo().join(format!("rules/{rule}.yaml")))
        .arg("--input")
        .arg(log)
        .arg("-c")
        .arg(config())
        .arg("--json")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "klaxon test {rule}:\n{report}");
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{rule}: {e}: {l}")))
        .collect();
    Replay { alerts, report }
}

/// One alert a sample must raise.
struct Expected {
    key: Value,
    /// The events it counts (the absence type: the starts that expired).
    count: u64,
    /// `None` for the types that give none (`any`, `frequency`).
    detail: Option<&'static str>,
    /// When it would have been raised, in the sample's event time.
    fired_at: &'static str,
    /// Text of the line the alert quotes.
    sample: &'static str,
}

fn alert(
    key: Value,
    count: u64,
    detail: Option<&'static str>,
    fired_at: &'static str,
    sample: &'static str,
) -> Expected {
    Expected {
        key,
        count,
        detail,
        fired_at,
        sample,
    }
}

/// What rules/samples/NAME.log makes rules/NAME.yaml raise, in order (`None`: no
/// expectation written for that rule yet).
fn expected(rule: &str) -> Option<Vec<Expected>> {
    let order = |id: &str| json!({ "order_id": id });
    Some(match rule {
        // Three failing calls to the ERP within the hour: one alert.
        "certificate-expired" => vec![alert(
            json!({"service": "erp-connector"}),
            1,
            None,
            "2025-06-18T02:00:03.000Z",
            "x509: certificate has expired",
        )],
        // HALF_OPEN→CLOSED and OPEN→HALF_OPEN stay quiet.
        "circuit-breaker-open" => vec![alert(
            json!({"breaker": "supplier-api"}),
            1,
            None,
            "2025-06-18T10:00:31.000Z",
            "from=CLOSED to=OPEN",
        )],
        // The 20th of 24 timeouts, 15.2 s after the first.
        "error-burst" => vec![alert(
            json!({}),
            20,
            None,
            "2025-06-18T10:01:15.200Z",
            "\"2025-06-18T10:01:00.000Z\"",
        )],
        // 15 errors in (10:25:25, 10:35:25] (the one at 10:28 and the first 14 of the
        // burst) against 10:17 and 10:25 before; raised once the clock, less the default
        // 30 s of allowed lateness, passes that instant. The quoted line is the window's
        // earliest kept, 10:28.
        "error-rate-spike" => vec![alert(
            json!({"service": "order-service"}),
            15,
            Some("spike up: 15 in the last 10m vs 2 in the 10m before"),
            "2025-06-18T10:35:55.000Z",
            "\"2025-06-18T10:28:00.000Z\"",
        )],
        "ghost-order-payment-callback" => vec![
            alert(
                order("O202506180107"),
                1,
                None,
                "2025-06-18T10:01:10.000Z",
                "payment_callback timeout",
            ),
            alert(
                order("O202506180111"),
                1,
                None,
                "2025-06-18T10:02:05.000Z",
                "payment_callback failed",
            ),
        ],
        // Paid at 10:00:35; the deadline 10:05:35 is decided 30 s later.
        "ghost-order-unsynced-inventory" => vec![alert(
            order("O202506180233"),
            1,
            Some("nothing followed within 5m"),
            "2025-06-18T10:06:05.000Z",
            "payment_succeeded",
        )],
        // The third timeout on SKU-3300 is MySQL's; SKU-1001's one stays quiet.
        "inventory-lock-timeout" => vec![alert(
            json!({"sku": "SKU-3300"}),
            3,
            None,
            "2025-06-18T10:01:40.000Z",
            "holder=O202506180517",
        )],
        "inventory-rollback" => vec![alert(
            json!({"sku": "SKU-2048"}),
            3,
            None,
            "2025-06-18T10:01:20.000Z",
            "sku=SKU-2048",
        )],
        // Reports every 30 s; the consumer's lag passes 1,000 at 10:06 (1240) and the
        // window [10:06, 10:11] is the first without a report of 1,000 or less.
        // logistics-sync's 1500 at 10:09:30 drained by the next report: quiet.
        "mq-consumer-lag" => vec![alert(
            json!({"consumer_group": "settlement-consumer"}),
            11,
            Some("min(lag) over 5m = 1240 (above 1000)"),
            "2025-06-18T10:11:00.000Z",
            "lag=7440",
        )],
        "mq-dead-letters" => vec![alert(
            json!({"queue": "order.settlement.dlq"}),
            5,
            None,
            "2025-06-18T10:05:20.000Z",
            "reason=max_retries_exceeded",
        )],
        // SKU-1001's two timeouts stay quiet.
        "order-errors" => vec![alert(
            json!({"sku": "SKU-778"}),
            5,
            None,
            "2025-06-18T10:01:00.000Z",
            "order_timeout",
        )],
        // Five refused writes: one alert (realert 10m).
        "redis-oom" => vec![alert(
            json!({"service": "order-service"}),
            1,
            None,
            "2025-06-18T00:02:00.000Z",
            "OOM command not allowed when used memory",
        )],
        // The other card's two addresses stay quiet.
        "risk-card-ip-switching" => vec![alert(
            json!({"card": "622588******8841"}),
            4,
            Some("4 distinct client_ip in 10m (more than 3)"),
            "2025-06-18T10:06:00.000Z",
            "ip=192.0.2.66",
        )],
        // The order service's "data conflict" (a cache) stays quiet.
        "settlement-data-conflict" => vec![alert(
            order("O202506160288"),
            1,
            None,
            "2025-06-18T02:00:12.000Z",
            "数据冲突",
        )],
        // The app said delivered at 14:10, 2 h after the last scan: not compared; the scan
        // at 14:25 is 15 minutes after it. The other order's sides agree.
        "split-brain-delivery" => vec![alert(
            order("O202506160520"),
            2,
            Some(
                "delivery_status=delivered (order-logs) but tracking_status=in_transit \
                 (order-logs), 30m apart at most",
            ),
            "2025-06-17T14:25:00.000Z",
            "at=delivery-station",
        )],
        "split-brain-order-state" => vec![alert(
            order("O202506170415"),
            1,
            None,
            "2025-06-18T10:00:00.000Z",
            "state_conflict",
        )],
        // The portal says settled at 05:00:00 (3 h after the ledger's pending: not
        // compared); the ledger's failure 2 s later is.
        "split-brain-settlement" => vec![alert(
            order("O202506150733"),
            2,
            Some(
                "settlement_status=settled (order-logs) but ledger_status=failed \
                 (order-logs), 10m apart at most",
            ),
            "2025-06-18T05:00:02.000Z",
            "transfer_rolled_back",
        )],
        // supplier-api's one failure stays quiet.
        "third-party-failures" => vec![alert(
            json!({"upstream": "bank-gateway"}),
            5,
            None,
            "2025-06-18T10:01:00.000Z",
            "status=502",
        )],
        // Processing since 06-16 10:02; the other order was picked at 18:00.
        "zombie-order-processing" => vec![alert(
            order("O202506160310"),
            1,
            Some("nothing followed within 1d"),
            "2025-06-17T10:02:30.000Z",
            "from=paid to=processing",
        )],
        // Created 06-14 09:01; the others were picked within a day.
        "zombie-order-unpicked" => vec![alert(
            order("O202506140902"),
            1,
            Some("nothing followed within 3d"),
            "2025-06-17T09:01:30.000Z",
            "order_created",
        )],
        // The INFO check before it found nothing: quiet.
        "zombie-orders" => vec![alert(
            order("O202506150127"),
            1,
            None,
            "2025-06-18T15:00:00.000Z",
            "still processing 72h after creation",
        )],
        _ => return None,
    })
}

#[test]
fn the_samples_config_checks_clean_with_every_shipped_rule() {
    let out = klaxon()
        .arg("check")
        .arg("-c")
        .arg(config())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Every rule loaded, and not even a warning (a query mixing AND and OR, a source
    // reading no file).
    let rules = rule_names().len();
    assert!(
        stdout.contains(&format!("ok ({rules} rules, 1 sources, 2 channels)")),
        "{stdout}"
    );
    assert!(stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn every_shipped_rule_fires_on_its_sample() {
    let mut failures = Vec::new();
    let mut sampled = BTreeSet::new();
    for rule in rule_names() {
        let log = samples().join(format!("{rule}.log"));
        if !log.is_file() {
            failures.push(format!("rules/{rule}.yaml has no sample {}", log.display()));
            continue;
        }
        sampled.insert(format!("{rule}.log"));
        let Some(want) = expected(&rule) else {
            failures.push(format!(
                "rules/{rule}.yaml: no expected alert written in tests/it/shipped_rules.rs"
            ));
            continue;
        };
        let got = replay(&rule, &log);
        let shown = format!("rules/{rule}.yaml on {rule}.log:\n{}", got.report);
        if got.alerts.len() != want.len() {
            failures.push(format!(
                "{shown}{} alert(s), expected {}: {:#?}",
                got.alerts.len(),
                want.len(),
                got.alerts
            ));
            continue;
        }
        for (a, w) in got.alerts.iter().zip(&want) {
            let detail = a["detail"].as_str();
            let sample = a["sample"].as_str().unwrap_or_default();
            let ok = a["rule"] == rule.as_str()
                && a["key"] == w.key
                && a["count"] == w.count
                && detail == w.detail
                && a["fired_at"] == w.fired_at
                && sample.contains(w.sample);
            if !ok {
                failures.push(format!(
                    "{shown}got key {} count {} detail {detail:?} fired_at {} sample {sample}\n\
                     expected key {} count {} detail {:?} fired_at {} sample containing {:?}",
                    a["key"],
                    a["count"],
                    a["fired_at"],
                    w.key,
                    w.count,
                    w.detail,
                    w.fired_at,
                    w.sample
                ));
            }
        }
    }
    // A sample whose rule was renamed or removed tests nothing.
    for entry in std::fs::read_dir(samples()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") && name != "normal.log" && !sampled.contains(&name) {
            failures.push(format!("rules/samples/{name} belongs to no rule in rules/"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn no_shipped_rule_fires_on_normal_traffic() {
    let normal = samples().join("normal.log");
    let mut failures = Vec::new();
    for rule in rule_names() {
        let got = replay(&rule, &normal);
        if !got.alerts.is_empty() {
            failures.push(format!(
                "rules/{rule}.yaml fired on normal.log:\n{:#?}",
                got.alerts
            ));
        }
        // Quiet on traffic it never sees proves nothing: every rule that counts (all but
        // `any`, where one matching line is an alert) sees its kind of line there.
        if rule_type(&rule) != "any" && got.matched() == 0 {
            failures.push(format!(
                "rules/{rule}.yaml: normal.log holds no line its query matches:\n{}",
                got.report
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn readme_lists_every_shipped_rule_with_its_type() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    // Table rows: | [`NAME.yaml`](rules/NAME.yaml) | what it catches | `TYPE` |
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|l| l.starts_with("| [`") && l.contains("](rules/"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let mut listed = BTreeSet::new();
    for row in &rows {
        let file = row[0]
            .strip_prefix("[`")
            .and_then(|r| r.split_once("`]"))
            .map(|(f, _)| f)
            .unwrap_or_else(|| panic!("odd row: {row:?}"));
        let name = file.strip_suffix(".yaml").unwrap_or(file);
        assert!(
            row[0].ends_with(&format!("(rules/{file})")),
            "README links {file} elsewhere: {row:?}"
        );
        assert!(
            repo().join("rules").join(file).is_file(),
            "README lists {file}, which rules/ does not hold"
        );
        let kind = row.last().unwrap().trim_matches('`');
        assert_eq!(kind, rule_type(name), "README's type for {file}");
        listed.insert(name.to_string());
    }
    let shipped: BTreeSet<String> = rule_names().into_iter().collect();
    assert_eq!(listed, shipped, "README.md's table of shipped rules");
}
