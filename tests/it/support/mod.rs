//! Helpers shared by every integration test: files, waiting, the `klaxon` process, its
//! SQLite state, in-process sources, and real HTTP and SMTP servers.

pub mod binary;
pub mod endpoint;
pub mod files;
pub mod http;
pub mod nats;
pub mod noida;
pub mod rabbitmq;
pub mod smtp;
pub mod source;
pub mod state;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use klaxon::alert::Alert;
use klaxon::clock::ManualClock;
use klaxon::event::Origin;
use klaxon::notify::DeliveryError;
use serde_json::{json, Value};

/// 2026-06-08T03:00:00Z, the time every test alert is first seen and test logs start.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
}

/// The documented example alert (first seen at [`t0`]).
pub fn sample_alert() -> Alert {
    Alert::example()
}

/// A clock standing at [`t0`] until advanced: signatures and Date headers are fixed.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

/// Fails if `err`, displayed or debugged, shows any of `secrets`.
pub fn assert_no_secrets(err: &DeliveryError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

/// Parses a channel config from YAML the way klaxon.yaml would hold it.
pub fn channel_config(yaml: &str) -> klaxon::notify::ChannelConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
}

/// A JSON log line (with its newline) `secs` after [`t0`], its time in `ts`, plus `fields`.
pub fn json_line(secs: i64, fields: Value) -> String {
    let t = t0() + chrono::Duration::seconds(secs);
    let mut obj = json!({ "ts": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) });
    for (k, v) in fields.as_object().expect("fields are an object") {
        obj[k] = v.clone();
    }
    format!("{obj}\n")
}

/// Where a test event was read from (nothing the tests look at).
pub fn origin() -> Origin {
    Origin {
        source: Arc::from("test"),
        path: Arc::from("app.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    }
}

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Polls `done` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`wait_for`], failing the test, saying what it waited for, on timeout.
pub fn wait_until(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    assert!(
        wait_for(timeout, done),
        "timed out after {timeout:?} waiting for {what}"
    );
}
