//! Helpers shared by the notify integration tests.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

pub mod http;
pub mod smtp;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use klaxon::alert::{Alert, Severity};

/// 2026-06-08T03:00:00Z, the time every test alert is first seen.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
}

/// The same alert as `klaxon::alert::sample_alert` (crate-private, so rebuilt here).
pub fn sample_alert() -> Alert {
    let t = t0();
    Alert {
        rule: "order-errors".into(),
        description: Some("Order errors".into()),
        severity: Severity::Critical,
        source: "order-logs".into(),
        query: r#""ERROR" AND (order_timeout OR inventory_rollback)"#.into(),
        key: BTreeMap::from([("sku".to_string(), "A-1".to_string())]),
        count: 5,
        first_seen: t,
        last_seen: t + chrono::Duration::seconds(30),
        sample: "2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1".into(),
        held_back: 0,
        fired_at: t + chrono::Duration::seconds(31),
        kibana_url: None,
    }
}

/// Parses a channel config from YAML the way klaxon.yaml would hold it.
pub fn channel_config(yaml: &str) -> klaxon::notify::ChannelConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
}
