//! Helpers shared by the notify integration tests.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

pub mod http;
pub mod smtp;

use chrono::{DateTime, TimeZone, Utc};
use klaxon::alert::Alert;

/// 2026-06-08T03:00:00Z, the time every test alert is first seen.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
}

/// The documented example alert (first seen at [`t0`]).
pub fn sample_alert() -> Alert {
    Alert::example()
}

/// Parses a channel config from YAML the way klaxon.yaml would hold it.
pub fn channel_config(yaml: &str) -> klaxon::notify::ChannelConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
}
